"""Gradients of predict with respect to X, in the contract of skopt's GaussianProcessRegressor."""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import fast_regressor

from skrpf import MLP, RandomizedPriorRegressor

#: Feature scales far from 1, so that a gradient in the wrong units (of the
#: standardised inputs) is off by these factors.
SCALES = np.array([1.0, 10.0, 0.1])


def _data(n_targets=1):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 3)) * SCALES
    Z = X / SCALES
    Y = np.column_stack([np.sin(Z[:, 0]) + Z[:, 1], 5 * Z[:, 2] - Z[:, 0] * Z[:, 1]])
    return X, (Y[:, 0] if n_targets == 1 else Y)


def _smooth_regressor(**params):
    # tanh members and priors: central differences across a ReLU kink would not converge.
    return fast_regressor(module=MLP(hidden_layer_sizes=(16, 16), activation="tanh"), **params)


def _central_differences(model, x, include_noise):
    """d mean / dx and d std / dx of the public predict at one row, each of shape (n_features, ...)."""
    mean_grad, std_grad = [], []
    for j, scale in enumerate(SCALES):
        # predict rounds member outputs to float32 (~6e-8 relative): a step of
        # 1e-3 in standardised units keeps that error near 1e-4 of the gradient.
        step = np.zeros_like(x)
        step[0, j] = 1e-3 * scale
        up = model.predict(x + step, return_std=True, include_noise=include_noise)
        down = model.predict(x - step, return_std=True, include_noise=include_noise)
        mean_grad.append((up[0][0] - down[0][0]) / (2 * step[0, j]))
        std_grad.append((up[1][0] - down[1][0]) / (2 * step[0, j]))
    return np.array(mean_grad), np.array(std_grad)


def _assert_gradient_close(got, expected):
    # Compared per unit of the standardised input, where every feature's
    # gradient has the same order of magnitude.
    scale = SCALES.reshape((-1,) + (1,) * (got.ndim - 1))
    np.testing.assert_allclose(got * scale, expected * scale, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize(
    ("noise", "normalize", "n_targets"),
    list(itertools.product(["none", "homoscedastic", "heteroscedastic"], [True, False], [1, 2])),
)
def test_gradients_match_finite_differences_of_predict(noise, normalize, n_targets):
    X, y = _data(n_targets)
    model = _smooth_regressor(noise=noise, normalize_X=normalize, normalize_y=normalize).fit(X, y)
    # Rows inside the data and one far outside it, where the priors dominate.
    rows = np.vstack([X[:3], 3 * SCALES])
    for include_noise in (True, False) if noise != "none" else (True,):
        for x in rows:
            x = x.reshape(1, -1)
            mean, std, mean_grad, std_grad = model.predict(
                x, return_std=True, return_mean_grad=True, return_std_grad=True, include_noise=include_noise
            )
            expected_mean, expected_std = model.predict(x, return_std=True, include_noise=include_noise)
            # The values are those of the call without gradients, bit for bit.
            np.testing.assert_array_equal(mean, expected_mean)
            np.testing.assert_array_equal(std, expected_std)
            shape = (3,) if n_targets == 1 else (3, n_targets)
            assert mean_grad.shape == std_grad.shape == shape
            fd_mean, fd_std = _central_differences(model, x, include_noise)
            _assert_gradient_close(mean_grad, fd_mean)
            _assert_gradient_close(std_grad, fd_std)


def _capped_small_data_regressor(n_targets):
    # "auto" hyper-parameters on 30 rows: the evidence fits the prior, and
    # the spread is capped at the priors' std (far from the data it binds).
    X, y = _data(n_targets)
    # Sine priors: far out the uncapped spread is about sqrt(2) times their std.
    module = MLP(hidden_layer_sizes=(16, 16), activation="sin")
    model = RandomizedPriorRegressor(module=module, n_estimators=6, random_state=0).fit(X, y)
    assert model.ensemble_.cap_spread_at_prior
    return X, model


def _rows_near_and_far(X):
    return np.vstack([X[:2], 0.5 * SCALES, [-3, 3, -3] * SCALES, 6 * SCALES, [6, -6, 6] * SCALES])


def _cap_binds(model, rows):
    """Per row and output, whether the uncapped spread exceeds the priors' variance."""
    ensemble = model.ensemble_
    x = torch.as_tensor((rows - model._x_mean) / model._x_scale)
    with torch.no_grad():
        uncapped = (ensemble.members(x) + ensemble.prior_term(x)).var(dim=0, correction=0)
        return (uncapped > ensemble.prior_variance(x)).numpy()


@pytest.mark.parametrize("n_targets", [1, 2])
def test_capped_spread_gradients_match_finite_differences_of_predict(n_targets):
    X, model = _capped_small_data_regressor(n_targets)
    rows = _rows_near_and_far(X)
    # Both branches of the cap are differentiated: rows where it binds and rows where it does not.
    binds = _cap_binds(model, rows)
    assert binds.any(axis=0).all() and not binds.all(axis=0).any()
    for x in rows:
        x = x.reshape(1, -1)
        _, _, mean_grad, std_grad = model.predict(x, True, False, True, True)
        fd_mean, fd_std = _central_differences(model, x, include_noise=True)
        _assert_gradient_close(mean_grad, fd_mean)
        _assert_gradient_close(std_grad, fd_std)


@pytest.mark.parametrize("n_targets", [1, 2])
@pytest.mark.parametrize("capped", [True, False])
def test_one_pass_gradients_match_autograd_through_the_exported_module(n_targets, capped):
    # predict's gradients come from one backward pass over copies of the row
    # and a closed form; the reference differentiates to_torch's module,
    # one output at a time.
    if capped:
        X, model = _capped_small_data_regressor(n_targets)
    else:
        X, y = _data(n_targets)
        model = _smooth_regressor(n_estimators=6).fit(X, y)
    network = model.to_torch()
    for row in _rows_near_and_far(X):
        x = row.reshape(1, -1)
        _, std, mean_grad, std_grad = model.predict(x, True, False, True, True)
        inputs = torch.tensor(x, requires_grad=True)
        mean_t, std_t = network(inputs)
        expected_mean = [
            torch.autograd.grad(mean_t[0, j], inputs, retain_graph=True)[0][0] for j in range(n_targets)
        ]
        expected_std = [
            torch.autograd.grad(std_t[0, j], inputs, retain_graph=True)[0][0] for j in range(n_targets)
        ]
        shape = mean_grad.shape
        np.testing.assert_allclose(mean_grad, torch.stack(expected_mean, 1).numpy().reshape(shape), rtol=1e-6)
        # The closed form divides by predict's float32-rounded std, the module by its float64 std.
        np.testing.assert_allclose(std_grad, torch.stack(expected_std, 1).numpy().reshape(shape), rtol=1e-5)


def test_noise_changes_the_std_gradient_as_it_changes_the_std():
    # d std/dx = d var_spread/dx / (2 std): the noise in the std must scale the gradient down.
    X, y = _data()
    y = y + 0.3 * np.random.RandomState(1).standard_normal(len(y))
    model = _smooth_regressor(noise="homoscedastic").fit(X, y)
    x = X[:1]
    _, std, _, with_noise = model.predict(x, return_std=True, return_mean_grad=True, return_std_grad=True)
    _, spread, _, without = model.predict(
        x, return_std=True, return_mean_grad=True, return_std_grad=True, include_noise=False
    )
    assert std[0] > spread[0] * 1.1  # the noise is not negligible here
    # std and spread are predict's float32-rounded values; the gradients are float64.
    np.testing.assert_allclose(with_noise, without * spread[0] / std[0], rtol=1e-5)


def test_return_values_follow_skopt_order_and_shapes():
    skopt_gpr = pytest.importorskip("skopt.learning").GaussianProcessRegressor
    X, y = _data()
    ours = _smooth_regressor().fit(X, y)
    reference = skopt_gpr().fit(X, y)
    x = X[:1]
    for kwargs in (
        {"return_mean_grad": True},
        {"return_std": True, "return_mean_grad": True},
        {"return_std": True, "return_mean_grad": True, "return_std_grad": True},
    ):
        got, expected = ours.predict(x, **kwargs), reference.predict(x, **kwargs)
        assert [a.shape for a in got] == [np.shape(a) for a in expected], kwargs
    mean, mean_grad = ours.predict(x, return_mean_grad=True)
    np.testing.assert_array_equal(mean, ours.predict(x))
    np.testing.assert_array_equal(mean_grad, ours.predict(x, True, False, True, True)[2])


def test_std_gradient_without_the_mean_gradient():
    X, y = _data()
    model = _smooth_regressor().fit(X, y)
    x = X[:1]
    mean, std, std_grad = model.predict(x, return_std=True, return_std_grad=True)
    full = model.predict(x, return_std=True, return_mean_grad=True, return_std_grad=True)
    np.testing.assert_array_equal(std_grad, full[3])
    np.testing.assert_array_equal(mean, full[0])


def test_std_gradient_is_zero_where_the_std_is_zero():
    X, y = _data()
    model = _smooth_regressor(n_estimators=1, noise="none").fit(X, y)
    _, std, mean_grad, std_grad = model.predict(
        X[:1], return_std=True, return_mean_grad=True, return_std_grad=True
    )
    assert std[0] == 0.0
    np.testing.assert_array_equal(std_grad, 0.0)
    assert np.all(np.isfinite(mean_grad)) and np.any(mean_grad != 0)


def test_gradients_accept_a_dataframe_row_without_warnings():
    X, y = _data()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = _smooth_regressor().fit(frame, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = model.predict(frame.iloc[:1], return_std=True, return_mean_grad=True, return_std_grad=True)
    expected = model.fit(X, y).predict(X[:1], return_std=True, return_mean_grad=True, return_std_grad=True)
    for a, b in zip(got, expected):
        # A DataFrame's values reach the products in another memory order: last-bit differences.
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"return_mean_grad": True}, ValueError, r"Not implemented for n_samples > 1.*got 4 rows"),
        ({"return_std": True, "return_std_grad": True}, ValueError, r"Not implemented for n_samples > 1"),
        ({"return_std_grad": True}, ValueError, r"Not returning std_gradient without returning the std"),
        ({"return_cov": True, "return_mean_grad": True}, ValueError, r"cannot be combined with return_cov"),
        ({"return_std": True, "return_cov": True, "return_mean_grad": True}, RuntimeError, r"At most one of"),
    ],
)
def test_gradient_errors(kwargs, error, message):
    X, y = _data()
    model = fast_regressor(max_epochs=1).fit(X, y)
    with pytest.raises(error, match=message):
        model.predict(X[:4], **kwargs)


def test_skopt_acquisition_gradients_match_finite_differences():
    # skopt's own acquisition functions, fed by our predict: their gradients
    # hold only if values, shapes and order follow skopt's contract.
    acquisition = pytest.importorskip("skopt.acquisition")
    X, y = _data()
    model = _smooth_regressor().fit(X, y)
    x = X[1] + 0.3 * SCALES
    # The incumbent at the predicted mean: EI and PI are then of the order of the std, not vanishing.
    y_opt = float(model.predict(x.reshape(1, -1))[0])
    for acq_func in ("EI", "PI", "LCB"):
        value, grad = acquisition.gaussian_acquisition_1D(x, model, y_opt=y_opt, acq_func=acq_func)
        assert value.shape == (1,) and grad.shape == (3,)
        expected = []
        for j, scale in enumerate(SCALES):
            step = np.zeros(3)
            step[j] = 1e-3 * scale
            up, down = (
                acquisition.gaussian_acquisition_1D(z, model, y_opt, acq_func, return_grad=False)
                for z in (x + step, x - step)
            )
            expected.append((up[0] - down[0]) / (2 * step[j]))
        scale_of_grads = np.abs(np.array(expected) * SCALES).max()
        np.testing.assert_allclose(grad * SCALES, np.array(expected) * SCALES, atol=2e-3 * scale_of_grads)


def _objective(x):
    return (x[0] - 0.3) ** 2 + (x[1] + 0.5) ** 2


def test_default_skopt_optimizer_uses_lbfgs_on_our_gradients():
    skopt = pytest.importorskip("skopt")
    dimensions = [(-2.0, 2.0), (-2.0, 2.0)]
    optimizer = skopt.Optimizer(
        dimensions, base_estimator=fast_regressor(), n_initial_points=3, random_state=0
    )
    # has_gradients(estimator) chose L-BFGS over the acquisition, as for skopt's own GP.
    assert optimizer.acq_optimizer == "lbfgs"
    for _ in range(5):
        x = optimizer.ask()
        assert all(low <= v <= high for v, (low, high) in zip(x, dimensions))
        optimizer.tell(x, _objective(x))
    assert len(optimizer.models) == 3
    assert all(hasattr(model, "ensemble_") for model in optimizer.models)


@pytest.mark.parametrize("minimize", ["gp_minimize", "forest_minimize", "base_minimize"])
def test_skopt_minimizers_accept_the_estimator(minimize):
    optimizer = pytest.importorskip("skopt.optimizer")
    function = getattr(optimizer, minimize)
    estimator = fast_regressor()
    kwargs = {"n_calls": 5, "n_initial_points": 3, "random_state": 0}
    result = function(_objective, [(-2.0, 2.0), (-2.0, 2.0)], base_estimator=estimator, **kwargs)
    assert len(result.func_vals) == 5
    assert all(type(model) is type(estimator) and hasattr(model, "ensemble_") for model in result.models)
    np.testing.assert_allclose(result.fun, min(result.func_vals))
