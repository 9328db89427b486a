"""The large-data choice of the noise model by out-of-bag likelihood (``noise="auto"``).

On more than ``SMALL_DATA_MAX_ROWS`` and at most ``CHOICE_MAX_ROWS`` rows,
after the activation is chosen, heteroscedastic members of that activation
are trained with the same seeds and kept if the rows' out-of-bag predictive
log-likelihood is higher under them. These tests check the score against
an explicit per-row loop, that the choice follows the data (noise that
depends on the input or not), that the kept members are those of a fit
with the noise model given, and where no choice is made.
"""

import numpy as np
import pytest
import torch
from conftest import lookup_ensemble, record_trainings
from scipy.special import softplus
from scipy.stats import norm

from skrpf import MLP, RandomizedPriorRegressor, _auto, persistence
from skrpf._losses import MIN_NOISE_VARIANCE
from skrpf._noise import out_of_bag_statistics

N_ROWS = _auto.SMALL_DATA_MAX_ROWS + 100


def _inputs(n=N_ROWS, seed=0):
    return np.random.RandomState(seed).uniform(-2, 2, size=(n, 2))


def _target(X, noise_std, seed=1):
    return np.sin(X[:, 0]) + 0.5 * X[:, 1] + noise_std * np.random.RandomState(seed).standard_normal(len(X))


#: Noise 0.02 where x1 < 0 and 0.5 where x1 > 0 (a ratio of 25).
def _two_noise_levels(X):
    return np.where(X[:, 1] > 0, 0.5, 0.02)


@pytest.mark.parametrize("heteroscedastic", [False, True])
def test_the_out_of_bag_log_loss_matches_an_explicit_per_row_loop(heteroscedastic):
    rng = np.random.RandomState(0)
    n, n_members, n_targets = 120, 5, 2
    outputs = 2 * n_targets if heteroscedastic else n_targets
    members = rng.standard_normal((n_members, n, outputs))
    Y = rng.standard_normal((n, n_targets))
    weights = rng.multinomial(n, np.full(n, 1 / n), size=n_members).astype(float)
    sample_weight = rng.uniform(0.5, 2.0, size=n)
    rows = torch.arange(n, dtype=torch.float32)[:, None]
    ensemble = lookup_ensemble(members)
    scores = out_of_bag_statistics(
        ensemble, rows, None, Y, weights, sample_weight, 0.0, 1.0, 17, heteroscedastic=heteroscedastic
    )
    got = scores.log_loss

    values = members.astype(np.float32).astype(np.float64)
    means, raw = values[..., :n_targets], values[..., n_targets:]
    scored = [i for i in range(n) if (weights[:, i] == 0).any()]
    mean, spread, member_noise = {}, {}, {}
    for i in scored:
        left_out = weights[:, i] == 0
        m = left_out.sum()
        mean[i] = means[left_out, i].mean(axis=0)
        # A single out-of-bag member: the whole ensemble's variance stands in for the spread.
        s2 = means[left_out, i].var(axis=0, ddof=1) if m > 1 else means[:, i].var(axis=0)
        spread[i] = (1 + 1 / m) * s2
        member_noise[i] = (softplus(raw[left_out, i]) + MIN_NOISE_VARIANCE).mean(axis=0)
    total_weight = sum(sample_weight[i] for i in scored)
    if not heteroscedastic:
        # The homoscedastic estimate of the same pass (OutOfBagScores.noise_variance).
        excess = sum(sample_weight[i] * ((Y[i] - mean[i]) ** 2 - spread[i]) for i in scored)
        noise = np.maximum(excess / total_weight, MIN_NOISE_VARIANCE)
    expected = 0.0
    for i in scored:
        variance = (member_noise[i] if heteroscedastic else noise) + spread[i]
        expected -= sample_weight[i] * norm.logpdf(Y[i], mean[i], np.sqrt(variance)).sum()
    np.testing.assert_allclose(got, expected / total_weight, rtol=1e-5)
    # No row left out: no score.
    no_rows_out = np.ones_like(weights)
    score = out_of_bag_statistics(
        lookup_ensemble(members), rows, None, Y, no_rows_out, sample_weight, 0.0, 1.0, 17
    ).log_loss
    assert np.isnan(score)


def test_heteroscedastic_members_are_kept_where_the_noise_depends_on_the_input():
    X = _inputs()
    y = _target(X, _two_noise_levels(X))
    model = RandomizedPriorRegressor(n_estimators=4, random_state=0).fit(X, y)
    assert model.noise_model_ == "heteroscedastic"
    quiet, loud = model.predict_noise_std(np.array([[0.0, -1.0], [0.0, 1.0]]))
    assert loud > 5 * quiet


def test_homoscedastic_members_are_kept_where_the_noise_is_the_same_everywhere():
    X = _inputs()
    y = _target(X, 0.3)
    model = RandomizedPriorRegressor(n_estimators=4, random_state=0).fit(X, y)
    assert model.noise_model_ == "homoscedastic"
    np.testing.assert_allclose(model.noise_std_, 0.3, rtol=0.25)


def test_the_kept_members_are_those_of_a_fit_with_the_noise_model_given():
    X = _inputs()
    y = _target(X, _two_noise_levels(X))
    params = dict(n_estimators=3, max_epochs=30, random_state=0)
    chosen = RandomizedPriorRegressor(**params).fit(X, y)
    assert chosen.noise_model_ == "heteroscedastic"
    given = RandomizedPriorRegressor(
        module=MLP(activation=chosen.activation_), noise="heteroscedastic", **params
    ).fit(X, y)
    assert given.noise_model_ == "heteroscedastic"
    grid = _inputs(50, seed=2)
    np.testing.assert_array_equal(chosen.predict_members(grid), given.predict_members(grid))
    np.testing.assert_array_equal(chosen.predict_noise_std(grid), given.predict_noise_std(grid))
    np.testing.assert_array_equal(chosen.predict(grid, return_std=True), given.predict(grid, return_std=True))
    # And the choice is reproducible.
    again = RandomizedPriorRegressor(**params).fit(X, y)
    assert (again.activation_, again.noise_model_) == (chosen.activation_, chosen.noise_model_)
    np.testing.assert_array_equal(again.predict(grid, return_std=True), chosen.predict(grid, return_std=True))


def test_heteroscedastic_members_are_kept_only_if_markedly_more_likely_out_of_bag(monkeypatch):
    # Record each noise model's score as training returns it: heteroscedastic
    # members must be kept exactly when their out-of-bag negative
    # log-likelihood is lower by more than the margin.
    from skrpf import _regressor

    scores: dict = {}
    original = _regressor.RandomizedPriorRegressor._train

    def recording_train(self, X, Y, sample_weight, state, *args, **kwargs):
        fitted = original(self, X, Y, sample_weight, state, *args, **kwargs)
        scores.setdefault(state.hyper.activation, {})[state.hyper.noise_model] = fitted.out_of_bag_log_loss
        return fitted

    monkeypatch.setattr(_regressor.RandomizedPriorRegressor, "_train", recording_train)
    X = _inputs()
    decided = set()
    for noise_std in (0.3, _two_noise_levels(X)):
        scores.clear()
        model = RandomizedPriorRegressor(n_estimators=3, random_state=0).fit(X, _target(X, noise_std))
        kept = scores[model.activation_]
        assert set(kept) == set(_auto.OUT_OF_BAG_NOISE_MODELS)
        assert all(np.isfinite(value) for value in kept.values())
        markedly_better = kept["heteroscedastic"] < kept["homoscedastic"] - _auto.NOISE_CHOICE_MARGIN
        assert model.noise_model_ == ("heteroscedastic" if markedly_better else "homoscedastic")
        decided.add(model.noise_model_)
    # Both outcomes occur: the homoscedastic and the two-level noise.
    assert decided == set(_auto.OUT_OF_BAG_NOISE_MODELS)


@pytest.mark.parametrize("noise", ["none", "homoscedastic", "heteroscedastic"])
def test_a_noise_model_given_is_used_without_a_choice(monkeypatch, noise):
    trained = record_trainings(monkeypatch)
    X = _inputs()
    model = RandomizedPriorRegressor(
        module=MLP(hidden_layer_sizes=(8,)), n_estimators=3, max_epochs=2, noise=noise, random_state=0
    ).fit(X, _target(X, 0.1))
    assert [hyper.noise_model for hyper in trained] == [noise]
    assert model.noise_model_ == noise


def test_a_module_given_still_compares_the_noise_models(monkeypatch):
    trained = record_trainings(monkeypatch)
    X = _inputs()
    RandomizedPriorRegressor(
        module=MLP(hidden_layer_sizes=(8,)), n_estimators=3, max_epochs=2, random_state=0
    ).fit(X, _target(X, 0.1))
    assert [hyper.noise_model for hyper in trained] == list(_auto.OUT_OF_BAG_NOISE_MODELS)


@pytest.mark.parametrize("n_rows", [_auto.SMALL_DATA_MAX_ROWS, N_ROWS])
def test_no_choice_on_small_data_or_beyond_the_row_limit(monkeypatch, n_rows):
    # Small data: the evidence fits the noise level; beyond the limit, homoscedastic.
    monkeypatch.setattr(_auto, "CHOICE_MAX_ROWS", N_ROWS - 1)
    trained = record_trainings(monkeypatch)
    X = _inputs(n_rows)
    model = RandomizedPriorRegressor(n_estimators=3, max_epochs=2, random_state=0).fit(X, _target(X, 0.1))
    assert [hyper.noise_model for hyper in trained] == ["homoscedastic"]
    assert model.noise_model_ == "homoscedastic"


def test_a_saved_model_reloads_the_chosen_noise_model(tmp_path):
    X = _inputs()
    y = _target(X, _two_noise_levels(X))
    model = RandomizedPriorRegressor(n_estimators=3, max_epochs=30, random_state=0).fit(X, y)
    assert model.noise_model_ == "heteroscedastic"
    persistence.save(model, tmp_path / "model.skrpf")
    loaded = persistence.load(tmp_path / "model.skrpf")
    assert loaded.noise_model_ == "heteroscedastic"
    grid = _inputs(20, seed=3)
    np.testing.assert_array_equal(loaded.predict(grid, return_std=True), model.predict(grid, return_std=True))


def test_a_file_without_the_noise_model_loads_with_the_parameter_as_the_model(tmp_path):
    # Files written before noise="auto" existed name the model in the parameter alone.
    X = _inputs(50)
    model = RandomizedPriorRegressor(n_estimators=2, max_epochs=2, noise="none", random_state=0).fit(
        X, _target(X, 0.1)
    )
    del model.noise_model_
    persistence.save(model, tmp_path / "old.skrpf")
    loaded = persistence.load(tmp_path / "old.skrpf")
    assert loaded.noise_model_ == "none"
    model.noise_model_ = "none"
    np.testing.assert_array_equal(loaded.predict(X, return_std=True), model.predict(X, return_std=True))


def test_gradients_and_the_exported_network_follow_the_kept_noise_model():
    # With noise="auto" the parameter does not say which members were kept:
    # the gradients and to_torch() must read noise_model_ (heteroscedastic
    # members output a mean and a variance, which the forward-mode gradient
    # path does not take).
    X = _inputs()
    y = _target(X, _two_noise_levels(X))
    model = RandomizedPriorRegressor(n_estimators=3, max_epochs=30, random_state=0).fit(X, y)
    assert (model.noise, model.noise_model_) == ("auto", "heteroscedastic")
    rows = np.array([[0.3, -1.0], [-0.5, 1.0]])
    network = model.to_torch()
    with torch.no_grad():
        exported_mean, exported_std = network(torch.as_tensor(rows))
    mean, std = model.predict(rows, return_std=True)
    np.testing.assert_allclose(exported_mean.numpy()[:, 0], mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(exported_std.numpy()[:, 0], std, rtol=1e-5, atol=1e-6)
    for x in rows:
        x = x.reshape(1, -1)
        _, _, mean_grad, std_grad = model.predict(
            x, return_std=True, return_mean_grad=True, return_std_grad=True
        )
        # Central differences of predict, whose members are rounded to float32:
        # a step of 1e-3 keeps that rounding near 1e-4 of the gradient.
        step = 1e-3 * np.eye(2)
        up = [model.predict(x + s, return_std=True) for s in step]
        down = [model.predict(x - s, return_std=True) for s in step]
        fd_mean = np.array([(u[0][0] - d[0][0]) / 2e-3 for u, d in zip(up, down, strict=True)])
        fd_std = np.array([(u[1][0] - d[1][0]) / 2e-3 for u, d in zip(up, down, strict=True)])
        np.testing.assert_allclose(mean_grad, fd_mean, rtol=2e-3, atol=2e-3)
        np.testing.assert_allclose(std_grad, fd_std, rtol=2e-3, atol=2e-3)
