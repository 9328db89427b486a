"""The large-data choice of the default MLP's activation by out-of-bag error.

With ``module`` and ``prior`` left at None, a fit on more than
``SMALL_DATA_MAX_ROWS`` and at most ``CHOICE_MAX_ROWS`` rows trains
ReLU and SiLU members with the same seeds and keeps the ones whose
out-of-bag mean predicts the left-out rows better. These tests check the
score against an explicit loop, that the choice moves the right way on a
smooth and on a kinked target, that the kept members are exactly those of
a fit with that activation given, and where no choice is made. The noise
model chosen after the activation (``noise="auto"``) is tested in
``test_noise_choice.py``.
"""

import numpy as np
import pytest
import torch
from conftest import InterruptAfter, lookup_ensemble, record_trainings

from skrpf import MLP, RandomizedPriorRegressor, _auto
from skrpf._noise import out_of_bag_statistics

N_ROWS = _auto.SMALL_DATA_MAX_ROWS + 100
#: Trainings of a cold default fit on N_ROWS rows: one per activation, then
#: the other noise models with the activation kept.
COLD_TRAININGS = len(_auto.OUT_OF_BAG_ACTIVATIONS) + len(_auto.OUT_OF_BAG_NOISE_MODELS) - 1


def _inputs(n=N_ROWS, seed=0):
    return np.random.RandomState(seed).uniform(-2, 2, size=(n, 2))


def _smooth(X):
    return np.sin(X[:, 0]) + np.cos(X[:, 1])


def _kinked(X):
    return np.abs(np.abs(X[:, 0]) - 1) + np.abs(X[:, 1])


def test_the_out_of_bag_squared_error_matches_an_explicit_per_row_loop():
    rng = np.random.RandomState(0)
    n, n_members, n_targets = 120, 5, 2
    members = rng.standard_normal((n_members, n, n_targets))
    Y = rng.standard_normal((n, n_targets))
    weights = rng.multinomial(n, np.full(n, 1 / n), size=n_members).astype(float)
    sample_weight = rng.uniform(0.5, 2.0, size=n)
    ensemble = lookup_ensemble(members)
    rows = torch.arange(n, dtype=torch.float32)[:, None]
    got = out_of_bag_statistics(ensemble, rows, None, Y, weights, sample_weight, 0.0, 1.0, 17).squared_error

    total, weight = 0.0, 0.0
    for i in range(n):
        left_out = weights[:, i] == 0
        if not left_out.any():
            continue
        residual = Y[i] - members[left_out, i].astype(np.float32).mean(axis=0)
        total += sample_weight[i] * np.sum(residual**2)
        weight += sample_weight[i]
    np.testing.assert_allclose(got, total / weight, rtol=1e-5)
    # No row left out: no score.
    no_rows_out = np.ones_like(weights)
    scores = out_of_bag_statistics(ensemble, rows, None, Y, no_rows_out, sample_weight, 0.0, 1.0, 17)
    assert np.isnan(scores.squared_error)


@pytest.mark.parametrize(("target", "expected"), [(_smooth, "silu"), (_kinked, "relu")])
def test_the_choice_follows_the_smoothness_of_the_target(target, expected):
    # Noise-free targets on 300 rows, the default "auto" schedule: smooth
    # members fit sin + cos better, piecewise-linear ones a sum of kinks.
    # (Seeds 0-2 chose the same; with a short schedule of 600 steps SiLU
    # members are not yet trained and ReLU wins both.)
    X = _inputs()
    model = RandomizedPriorRegressor(n_estimators=4, random_state=0).fit(X, target(X))
    assert model.activation_ == expected


def test_a_saved_model_reloads_the_chosen_activation(tmp_path):
    # The file names no module: load() must rebuild SiLU members, not ReLU ones.
    from skrpf import persistence

    X = _inputs()
    model = RandomizedPriorRegressor(n_estimators=4, random_state=0).fit(X, _smooth(X))
    assert model.activation_ == "silu"
    persistence.save(model, tmp_path / "model.skrpf")
    loaded = persistence.load(tmp_path / "model.skrpf")
    assert loaded.activation_ == "silu"
    grid = _inputs(20, seed=3)
    np.testing.assert_array_equal(loaded.predict_members(grid), model.predict_members(grid))


def test_the_kept_members_are_those_of_a_fit_with_the_activation_given():
    X = _inputs()
    y = _smooth(X) + 0.1 * np.random.RandomState(1).standard_normal(len(X))
    params = dict(n_estimators=3, max_epochs=20, random_state=0)
    chosen = RandomizedPriorRegressor(**params).fit(X, y)
    assert chosen.activation_ in _auto.OUT_OF_BAG_ACTIVATIONS
    given = RandomizedPriorRegressor(module=MLP(activation=chosen.activation_), **params).fit(X, y)
    grid = _inputs(50, seed=2)
    np.testing.assert_array_equal(chosen.predict_members(grid), given.predict_members(grid))
    np.testing.assert_array_equal(chosen.noise_std_, given.noise_std_)
    # And the choice is reproducible.
    again = RandomizedPriorRegressor(**params).fit(X, y)
    assert again.activation_ == chosen.activation_
    np.testing.assert_array_equal(again.predict_members(grid), chosen.predict_members(grid))


def test_the_lower_out_of_bag_error_wins(monkeypatch):
    # Record each candidate's score as training returns it; the kept
    # activation must be the one with the smaller score.
    from skrpf import _regressor

    scores = {}
    original = _regressor.RandomizedPriorRegressor._train

    def recording_train(self, X, Y, sample_weight, state, *args, **kwargs):
        fitted = original(self, X, Y, sample_weight, state, *args, **kwargs)
        scores[state.hyper.activation] = fitted.out_of_bag_error
        return fitted

    monkeypatch.setattr(_regressor.RandomizedPriorRegressor, "_train", recording_train)
    X = _inputs()
    model = RandomizedPriorRegressor(n_estimators=3, max_epochs=20, random_state=0).fit(X, _kinked(X))
    assert set(scores) == set(_auto.OUT_OF_BAG_ACTIVATIONS)
    assert all(np.isfinite(value) for value in scores.values())
    assert model.activation_ == min(scores, key=scores.get)


@pytest.mark.parametrize(
    "params",
    [
        # A module given fixes the architecture (the noise model, fixed too, is not compared).
        {"module": MLP(hidden_layer_sizes=(8,)), "noise": "homoscedastic"},
        {"prior": MLP(hidden_layer_sizes=(8,)), "noise": "homoscedastic"},  # so does a prior given
        {"noise": "heteroscedastic"},  # members predict a variance too
        {"noise": "none", "bootstrap": "none"},  # no row is left out of any member
    ],
)
def test_no_choice_is_made(monkeypatch, params):
    trained = record_trainings(monkeypatch)
    X = _inputs()
    model = RandomizedPriorRegressor(n_estimators=3, max_epochs=2, random_state=0, **params).fit(
        X, _smooth(X)
    )
    assert model.activation_ is None
    assert len(trained) == 1


def test_no_choice_beyond_the_row_limit(monkeypatch):
    monkeypatch.setattr(_auto, "CHOICE_MAX_ROWS", N_ROWS - 1)
    trained = record_trainings(monkeypatch)
    X = _inputs()
    model = RandomizedPriorRegressor(n_estimators=3, max_epochs=2, random_state=0).fit(X, _smooth(X))
    assert model.activation_ is None
    assert model.noise_model_ == "homoscedastic"
    assert len(trained) == 1


def test_a_warm_refit_keeps_the_chosen_activation_and_trains_once(monkeypatch):
    trained = record_trainings(monkeypatch)
    X = _inputs()
    y = _smooth(X)
    model = RandomizedPriorRegressor(n_estimators=3, max_epochs=20, warm_start=True, random_state=0)
    model.fit(X[:-1], y[:-1])
    assert len(trained) == COLD_TRAININGS
    chosen = model.activation_, model.noise_model_
    model.fit(X, y)
    assert (model.activation_, model.noise_model_) == chosen
    assert len(trained) == COLD_TRAININGS + 1


def test_an_interrupt_ends_the_choice(monkeypatch):
    # Ctrl-C while the first candidate trains stops the fit there, as it does
    # a fit without a choice: the second candidate is not trained.
    trained = record_trainings(monkeypatch)
    X = _inputs()
    model = RandomizedPriorRegressor(
        n_estimators=3, max_epochs=10, callbacks=[InterruptAfter(3)], random_state=0
    ).fit(X, _smooth(X))
    assert len(trained) == 1
    assert len(model.net_.history) == 3
    assert model.activation_ == _auto.OUT_OF_BAG_ACTIVATIONS[0]
    # Without the interrupt, every candidate is trained.
    RandomizedPriorRegressor(n_estimators=3, max_epochs=3, random_state=0).fit(X, _smooth(X))
    assert len(trained) == 1 + COLD_TRAININGS
