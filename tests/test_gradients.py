"""Gradients of predict with respect to X, in the contract of skopt's GaussianProcessRegressor."""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import fast_regressor

from skrpf import MLP, RandomizedPriorRegressor
from skrpf import _gradients as gradients_module
from skrpf._activations import Sine
from skrpf._ensemble import BatchedSequential
from skrpf._forward_mode import forward_with_tangents, supports

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


def _assert_values_match_predict(mean, std, expected_mean, expected_std):
    """The gradient path's float64 values against predict's, whose members are rounded to float32."""
    # Rounding moves each member by ~6e-8 of its size, and the std by at most that much.
    tolerance = 1e-6 * (np.abs(expected_mean) + 3 * expected_std)
    assert np.all(np.abs(mean - expected_mean) <= tolerance), (mean, expected_mean)
    assert np.all(np.abs(std - expected_std) <= tolerance), (std, expected_std)


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
            _assert_values_match_predict(mean, std, expected_mean, expected_std)
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
    # predict's gradients come from one forward pass of the row and its
    # tangents, in numpy, and a closed form; the reference differentiates
    # to_torch's module by autograd, one output at a time.
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
        np.testing.assert_allclose(std_grad, torch.stack(expected_std, 1).numpy().reshape(shape), rtol=1e-6)


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
    np.testing.assert_allclose(with_noise, without * spread[0] / std[0], rtol=1e-10)


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
    np.testing.assert_allclose(mean, ours.predict(x), rtol=1e-6)
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


def _stack(activation, hidden, bias, n_members=3, n_features=4, n_outputs=2):
    """A random BatchedSequential of MLPs with the given activation between products."""
    torch.manual_seed(0)
    widths = (n_features, *hidden, n_outputs)
    members = []
    for _ in range(n_members):
        layers = []
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(torch.nn.Linear(fan_in, fan_out, bias=bias))
            if i < len(widths) - 2:
                layers.append(activation())
        members.append(torch.nn.Sequential(*layers))
    return BatchedSequential(members, trainable=False).double()


@pytest.mark.parametrize("activation", [torch.nn.ReLU, torch.nn.Tanh, torch.nn.Sigmoid, torch.nn.SiLU, Sine])
@pytest.mark.parametrize(("hidden", "bias"), [((7, 5), True), ((7,), False), ((), True)])
def test_forward_mode_matches_autograd_of_the_stack(activation, hidden, bias):
    stack = _stack(activation, hidden, bias)
    assert supports(stack.layers)
    row = np.random.RandomState(1).normal(size=4)
    arrays = [t.detach().numpy() for t in stack._tensors().values()]
    outputs, last_inputs = forward_with_tangents(row, stack.layers, arrays)
    x = torch.tensor(row[None], requires_grad=True)
    expected = stack(x)[:, 0]  # (K, out)
    np.testing.assert_allclose(outputs[:, 0], expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    for k in range(3):
        for j in range(2):
            (grad,) = torch.autograd.grad(expected[k, j], x, retain_graph=True)
            np.testing.assert_allclose(outputs[k, 1:, j], grad[0].numpy(), rtol=1e-10, atol=1e-14)
    # The last product's inputs and their tangents: the hidden features and their Jacobian.
    expected_last = stack.output_layer_inputs(torch.tensor(row[None]))[:, 0]
    np.testing.assert_allclose(last_inputs[:, 0], expected_last.numpy(), rtol=1e-12, atol=1e-14)
    jacobian = torch.autograd.functional.jacobian(
        lambda z: stack.output_layer_inputs(z[None])[:, 0], torch.tensor(row)
    )  # (K, width, n_features)
    np.testing.assert_allclose(last_inputs[:, 1:], jacobian.transpose(1, 2).numpy(), rtol=1e-10, atol=1e-14)


def test_other_activations_take_the_exported_module_path():
    stack = _stack(torch.nn.GELU, (5,), True)
    assert not supports(stack.layers)
    X, y = _data()
    model = fast_regressor(module=MLP(hidden_layer_sizes=(16, 16), activation="gelu")).fit(X, y)
    x = X[:1] + 0.1
    _, _, mean_grad, std_grad = model.predict(x, True, False, True, True)
    fd_mean, fd_std = _central_differences(model, x, include_noise=True)
    _assert_gradient_close(mean_grad, fd_mean)
    _assert_gradient_close(std_grad, fd_std)


def test_default_networks_take_the_forward_mode_path(monkeypatch):
    X, model = _capped_small_data_regressor(1)

    def refuse(*args, **kwargs):
        raise AssertionError("the exported module was built")

    monkeypatch.setattr(gradients_module, "_network_of", refuse)
    _, _, mean_grad, _ = model.predict(X[:1], True, False, True, True)
    assert np.all(np.isfinite(mean_grad))


@pytest.mark.parametrize("prior_scale", [0.0, 1.0])
def test_gradients_follow_a_warm_refit(prior_scale):
    # The forward-mode path keeps numpy views of the ensemble's tensors;
    # a warm refit trains them in place, and the gradients must follow.
    X, y = _data()
    model = _smooth_regressor(warm_start=True, prior_scale=prior_scale).fit(X[:20], y[:20])
    x = X[25:26]
    before = model.predict(x, True, False, True, True)
    model.fit(X, y)
    after = model.predict(x, True, False, True, True)
    assert not np.allclose(before[2], after[2])
    inputs = torch.tensor(x, requires_grad=True)
    mean_t, std_t = model.to_torch()(inputs)
    (expected_mean,) = torch.autograd.grad(mean_t[0, 0], inputs, retain_graph=True)
    (expected_std,) = torch.autograd.grad(std_t[0, 0], inputs)
    np.testing.assert_allclose(after[2], expected_mean[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(after[3], expected_std[0].numpy(), rtol=1e-6)
