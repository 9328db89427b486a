"""warm_start=True: a refit starts from the fitted members, and falls back to a cold fit when it must.

The references are cold fits of fresh estimators with the same parameters and
``random_state``: a refit that should be cold must equal one bit for bit, and
a warm one must not.
"""

import numpy as np
import pytest
import torch
from conftest import fast_regressor
from sklearn.base import clone
from skorch.callbacks import Callback

from skrpf import MLP, RandomizedPriorRegressor
from skrpf._warm_start import WARM_START_SHARE
from skrpf.persistence import load, save


def _data(n, n_features=2, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, n_features))
    y = np.sin(X[:, 0]) + 0.5 * X[:, -1] ** 2
    return X, y


def _grid(n_features=2):
    return np.random.RandomState(42).uniform(-2, 2, size=(50, n_features))


def _parameters(estimator):
    return [p.detach().clone() for p in estimator.ensemble_.parameters()]


# ------------------------------------------------------------------ warm refits
def test_warm_refit_starts_from_the_previous_members():
    X, y = _data(60)
    first = fast_regressor(max_epochs=60).fit(X, y)
    before = first.predict(_grid())
    first.set_params(warm_start=True, max_epochs=1)
    warm = first.fit(X, y).predict(_grid())
    cold = fast_regressor(max_epochs=1).fit(X, y).predict(_grid())
    # One epoch from the fitted members stays near them; one epoch from new members does not.
    warm_change = np.abs(warm - before).mean()
    cold_change = np.abs(cold - before).mean()
    assert warm_change < 0.2 * cold_change


def test_warm_refit_is_not_a_cold_fit_and_is_deterministic():
    X, y = _data(40)
    X_new, y_new = _data(41, seed=1)

    def warm_sequence():
        estimator = fast_regressor(warm_start=True).fit(X, y)
        return estimator.fit(X_new, y_new).predict(_grid())

    cold = fast_regressor().fit(X_new, y_new).predict(_grid())
    np.testing.assert_array_equal(warm_sequence(), warm_sequence())
    assert not np.allclose(warm_sequence(), cold)


def test_warm_refit_keeps_the_small_data_hyperparameters_and_shortens_the_schedule():
    X, y = _data(20)
    estimator = RandomizedPriorRegressor(n_estimators=4, warm_start=True, random_state=0).fit(X, y)
    names = ("length_scale_", "prior_scale_", "alpha_", "target_noise_")
    fitted = {name: getattr(estimator, name) for name in names}
    cold_epochs = estimator.n_epochs_
    X_more, y_more = _data(21, seed=3)
    estimator.fit(X_more, y_more)
    for name, value in fitted.items():
        assert getattr(estimator, name) == value, name
    assert estimator.n_epochs_ == max(1, int(np.ceil(WARM_START_SHARE * cold_epochs)))
    assert estimator.n_epochs_ < cold_epochs
    # The hyper-parameters of a cold fit on the new data are chosen anew.
    cold = RandomizedPriorRegressor(n_estimators=4, random_state=0).fit(X_more, y_more)
    assert cold.n_epochs_ == cold_epochs


def test_appended_rows_leave_the_earlier_rows_target_noise_unchanged():
    estimator = fast_regressor(target_noise=0.3, prior_scale=0.0)
    X, y = _data(30)
    estimator.fit(X, y)
    Y_t = torch.as_tensor(y[:, None], dtype=torch.float32)
    short, _ = estimator._member_targets(estimator.ensemble_, None, Y_t[:20], 7, 0.3)
    long, _ = estimator._member_targets(estimator.ensemble_, None, Y_t, 7, 0.3)
    torch.testing.assert_close(long[:20], short, rtol=0, atol=0)
    assert not torch.equal(long[20:], Y_t[20:].unsqueeze(1).expand_as(long[20:]))


# ------------------------------------------------------------ forced cold fits
def _assert_cold(refit, params, X, y):
    reference = fast_regressor(**params).fit(X, y)
    np.testing.assert_array_equal(refit.predict(X), reference.predict(X))


@pytest.mark.parametrize(
    "change",
    [
        {"alpha": 1e-3},
        {"n_estimators": 5},
        {"module": MLP(hidden_layer_sizes=(8,))},
        {"random_state": 1},
    ],
    ids=["alpha", "n_estimators", "module", "random_state"],
)
def test_a_changed_parameter_forces_a_cold_fit(change):
    X, y = _data(40)
    estimator = fast_regressor(warm_start=True).fit(X, y)
    estimator.set_params(**change)
    estimator.fit(X, y)
    _assert_cold(estimator, {"warm_start": True, **change}, X, y)


def test_an_equal_factory_is_not_a_change():
    X, y = _data(40)
    estimator = fast_regressor(warm_start=True).fit(X, y)
    estimator.set_params(module=MLP(hidden_layer_sizes=(16, 16)))
    estimator.fit(X, y)
    cold = fast_regressor(warm_start=True).fit(X, y)
    assert not np.array_equal(estimator.predict(X), cold.predict(X))


@pytest.mark.parametrize("shape", ["features", "targets"])
def test_other_shapes_force_a_cold_fit(shape):
    X, y = _data(40)
    estimator = fast_regressor(warm_start=True).fit(X, y)
    if shape == "features":
        X, y = _data(40, n_features=3)
    else:
        y = np.column_stack([y, -y])
    estimator.fit(X, y)
    _assert_cold(estimator, {"warm_start": True}, X, y)


def test_warm_start_false_and_clone_fit_cold():
    X, y = _data(40)
    estimator = fast_regressor(warm_start=True).fit(X, y)
    clone(estimator).fit(X, y)  # does not share the state
    estimator.set_params(warm_start=False)
    estimator.fit(X, y)
    _assert_cold(estimator, {}, X, y)
    cloned = clone(fast_regressor(warm_start=True).fit(X, y)).fit(X, y)
    _assert_cold(cloned, {"warm_start": True}, X, y)


def test_a_loaded_estimator_fits_cold(tmp_path):
    X, y = _data(40)
    save(fast_regressor(warm_start=True).fit(X, y), tmp_path / "model")
    loaded = load(tmp_path / "model")
    loaded.fit(X, y)
    _assert_cold(loaded, {"warm_start": True}, X, y)


# ------------------------------------------------------------------ failures
class _FailAtEpoch(Callback):
    def on_epoch_end(self, net, **kwargs):
        raise RuntimeError("stopped by the test")


def test_a_failed_warm_refit_leaves_the_estimator_as_it_was():
    X, y = _data(40)
    estimator = fast_regressor(warm_start=True).fit(X, y)
    parameters, prediction = _parameters(estimator), estimator.predict(_grid())
    estimator.set_params(callbacks=[_FailAtEpoch()])
    with pytest.raises(RuntimeError, match="stopped by the test"):
        estimator.fit(*_data(41, seed=1))
    for before, after in zip(parameters, _parameters(estimator)):
        torch.testing.assert_close(after, before, rtol=0, atol=0)
    np.testing.assert_array_equal(estimator.predict(_grid()), prediction)
    # ... and its state still warm-starts: the next refit equals one from the untouched fit.
    estimator.set_params(callbacks=None)
    reference = fast_regressor(warm_start=True).fit(X, y)
    np.testing.assert_array_equal(
        estimator.fit(*_data(41, seed=1)).predict(_grid()),
        reference.fit(*_data(41, seed=1)).predict(_grid()),
    )


def test_bad_warm_start_value_is_rejected():
    with pytest.raises(ValueError, match="warm_start"):
        fast_regressor(warm_start="yes").fit(*_data(10))
