"""Bad input gets a clear error before any work; a failed fit changes nothing; edge cases work."""

import functools
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from conftest import fast_regressor, fixed_regressor
from sklearn.exceptions import NotFittedError
from sklearn.metrics import r2_score
from skorch.callbacks import Callback

from skrpf import MLP, RandomizedPriorRegressor
from skrpf._training import clip_member_grad_norm_


class CountingFactory:
    """A module factory that records how often it is called: 0 means no work was done."""

    def __init__(self):
        self.calls = 0

    def __call__(self, n_features_in, n_outputs):
        self.calls += 1
        return MLP(hidden_layer_sizes=(4,))(n_features_in, n_outputs)


def _data(n=20, d=2):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n, d))
    return X, X[:, 0] - X[:, 1]


def _with(array, index, value):
    array = np.array(array, dtype=np.float64)
    array[index] = value
    return array


def _with_object(array, index, value):
    array = np.array(array, dtype=object)
    array[index] = value
    return array


X0, y0 = _data()
BAD_FIT_INPUT = {
    "nan in X": (_with(X0, (3, 1), np.nan), y0, None, ValueError, r"X contains NaN .*row 3, column 1"),
    "inf in X": (_with(X0, (5, 0), np.inf), y0, None, ValueError, r"X contains infinity .*row 5, column 0"),
    "nan in y": (X0, _with(y0, 7, np.nan), None, ValueError, r"y contains NaN .*row 7"),
    "inf in y": (X0, _with(y0, 2, -np.inf), None, ValueError, r"y contains infinity .*row 2"),
    "nan in sample_weight": (
        X0,
        y0,
        _with(np.ones(20), 4, np.nan),
        ValueError,
        r"sample_weight contains NaN .*row 4",
    ),
    "inf in sample_weight": (
        X0,
        y0,
        _with(np.ones(20), 9, np.inf),
        ValueError,
        r"sample_weight contains infinity .*row 9",
    ),
    "empty X": (np.empty((0, 2)), np.empty(0), None, ValueError, r"0 sample\(s\)"),
    "X with 0 features": (np.empty((20, 0)), y0, None, ValueError, r"0 feature\(s\)"),
    "1-D X": (X0[:, 0], y0, None, ValueError, r"(?s)Expected 2D array.*reshape\(-1, 1\)"),
    "3-D X": (X0.reshape(20, 2, 1), y0, None, ValueError, r"dim 3"),
    "X and y lengths": (X0, y0[:-1], None, ValueError, r"inconsistent numbers of samples: \[20, 19\]"),
    "sample_weight length": (
        X0,
        y0,
        np.ones(19),
        ValueError,
        r"sample_weight has 19 values but X has 20 samples",
    ),
    "string X": (np.full((20, 2), "a"), y0, None, ValueError, r"X must be numeric; got dtype <U1"),
    "object X with strings": (
        _with_object(X0, (1, 1), "x"),
        y0,
        None,
        ValueError,
        r"X must be numeric; got dtype object.*OneHotEncoder",
    ),
    "string y": (X0, np.full(20, "b"), None, ValueError, r"y must be numeric; got dtype <U1"),
    "complex X": (X0 + 1j, y0, None, ValueError, r"Complex data not supported: X has dtype complex128"),
    "complex y": (X0, y0 + 1j, None, ValueError, r"Complex data not supported: y has dtype complex128"),
    "sparse X": (sp.csr_matrix(X0), y0, None, TypeError, r"Sparse data was passed .*dense data is required"),
    "negative sample_weight": (
        X0,
        y0,
        _with(np.ones(20), 6, -2.0),
        ValueError,
        r"sample_weight must be non-negative; .*sample_weight\[6\] = -2",
    ),
    "all-zero sample_weight": (X0, y0, np.zeros(20), ValueError, r"sample_weight is zero for every sample"),
}


@pytest.mark.parametrize("case", list(BAD_FIT_INPUT))
def test_bad_training_data_is_refused_before_any_work(case):
    X, y, sample_weight, error, message = BAD_FIT_INPUT[case]
    factory = CountingFactory()
    model = RandomizedPriorRegressor(module=factory, n_estimators=2, max_epochs=1)
    with pytest.raises(error, match=message):
        model.fit(X, y, sample_weight=sample_weight)
    assert factory.calls == 0
    assert not hasattr(model, "ensemble_")


def test_dataframe_columns_with_strings_are_named():
    X = pd.DataFrame({"size": X0[:, 0], "colour": ["red"] * 20})
    with pytest.raises(ValueError, match=r"X \(column 'colour'\) must be numeric"):
        fast_regressor().fit(X, y0)


def test_pandas_nullable_missing_values_are_reported_as_nan():
    y = pd.Series(np.arange(20), dtype="Int64")
    y[5] = pd.NA
    with pytest.raises(ValueError, match=r"y contains NaN .*row 5"):
        fast_regressor().fit(X0, y)


def _bad_shape_resampler():
    class WrongShape:
        def sample_weights(self, n_samples, n_estimators, random_state):
            return np.ones((n_samples, n_estimators + 1))

    return WrongShape()


def _negative_resampler():
    class Negative:
        def sample_weights(self, n_samples, n_estimators, random_state):
            return -np.ones((n_estimators, n_samples))

    return Negative()


BAD_PARAMS = {
    "n_estimators=0": ({"n_estimators": 0}, ValueError, r"n_estimators must be an integer >= 1; got 0"),
    "n_estimators=2.5": ({"n_estimators": 2.5}, ValueError, r"n_estimators must be an integer"),
    "prior_scale<0": ({"prior_scale": -1.0}, ValueError, r"prior_scale must be a finite number >= 0"),
    "bootstrap name": ({"bootstrap": "jackknife"}, ValueError, r"bootstrap='jackknife' is not a known"),
    "bootstrap object": ({"bootstrap": object()}, ValueError, r"nor an object with a sample_weights"),
    "resampler shape": (
        {"bootstrap": _bad_shape_resampler()},
        ValueError,
        r"returned weights of shape \(20, 3\); expected \(n_estimators, n_samples\) = \(2, 20\)",
    ),
    "resampler negative": ({"bootstrap": _negative_resampler()}, ValueError, r"returned negative weights"),
    "batch_size=0": ({"batch_size": 0}, ValueError, r"batch_size must be an integer >= 1"),
    "predict_batch_size=0": (
        {"predict_batch_size": 0},
        ValueError,
        r"predict_batch_size must be an integer >= 1",
    ),
    "lr=0": ({"lr": 0.0}, ValueError, r"lr must be a finite number > 0"),
    "lr<0": ({"lr": -1e-3}, ValueError, r"lr must be a finite number > 0"),
    "lr=nan": ({"lr": float("nan")}, ValueError, r"lr must be a finite number"),
    "lr_schedule": (
        {"lr_schedule": "linear"},
        ValueError,
        r"lr_schedule must be one of \['cosine', 'constant'\]; got 'linear'",
    ),
    "target_noise<0": ({"target_noise": -0.1}, ValueError, r"target_noise must be a finite number >= 0"),
    "max_epochs=0": ({"max_epochs": 0}, ValueError, r"max_epochs must be an integer >= 1"),
    "max_grad_norm=0": ({"max_grad_norm": 0.0}, ValueError, r"max_grad_norm must be a finite number > 0"),
    "optimizer instance": ({"optimizer": "adam"}, ValueError, r"optimizer must be a torch.optim.Optimizer"),
    "module not callable": ({"module": 3}, ValueError, r"module must be None or a callable factory"),
    "module returns non-Module": (
        {"module": lambda d, t: "not a network"},
        TypeError,
        r"module factory .* returned 'not a network' \(type str\); it must return a torch.nn.Module",
    ),
    "prior returns non-Module": (
        {"prior": lambda d, t: None},
        TypeError,
        r"prior factory .* returned None .*torch.nn.Module",
    ),
    "module output width": (
        {"module": lambda d, t: torch.nn.Linear(d, 3)},
        ValueError,
        r"module network .* maps \(batch, 2\) inputs to \(1, 3\); expected .*\(1, 1\).*target columns of y",
    ),
    "device": ({"device": "not-a-device"}, ValueError, r"device='not-a-device' is not a valid torch device"),
}


@pytest.mark.parametrize("case", list(BAD_PARAMS))
def test_invalid_parameters_name_the_parameter(case):
    params, error, message = BAD_PARAMS[case]
    model = fast_regressor(n_estimators=2, max_epochs=1).set_params(**params)
    with pytest.raises(error, match=message):
        model.fit(X0, y0)
    assert not hasattr(model, "ensemble_")


class ArchitectureByCall:
    """A factory whose ``n``-th call builds ``architectures[n]`` (a callable), counting forward passes."""

    def __init__(self, *architectures):
        self.architectures = architectures
        self.calls = 0
        self.forward_passes = 0

    def __call__(self, n_features_in, n_outputs):
        build = self.architectures[min(self.calls, len(self.architectures) - 1)]
        self.calls += 1
        network = build(n_features_in, n_outputs)
        network.register_forward_hook(self._count)
        return network

    def _count(self, module, inputs, output):
        self.forward_passes += 1


def test_only_networks_of_a_new_architecture_get_the_output_check():
    """The output-width check runs a forward pass of the first network, then only of different ones."""
    same = ArchitectureByCall(MLP(hidden_layer_sizes=(4,)))
    fast_regressor(module=same, prior_scale=0.0, n_estimators=3, max_epochs=1).fit(X0, y0)
    assert same.calls == 3
    # One check, then training and prediction passes go through the stack, not these modules.
    assert same.forward_passes == 1

    wrong_third = ArchitectureByCall(
        MLP(hidden_layer_sizes=(4,)), MLP(hidden_layer_sizes=(4,)), lambda d, t: torch.nn.Linear(d, 3)
    )
    model = fast_regressor(module=wrong_third, n_estimators=3, max_epochs=1, vectorize=False)
    with pytest.raises(ValueError, match=r"module network .* maps \(batch, 2\) inputs to \(1, 3\)"):
        model.fit(X0, y0)


def test_members_of_different_architectures_train_one_by_one():
    """With vectorize=False a factory may build a different network at each call."""
    factory = ArchitectureByCall(MLP(hidden_layer_sizes=(4,)), MLP(hidden_layer_sizes=(6, 3)))
    model = fast_regressor(module=factory, n_estimators=3, max_epochs=2, vectorize=False).fit(X0, y0)
    widths = [member[0].out_features for member in model.ensemble_.members.members]
    assert widths == [4, 6, 6]
    assert factory.forward_passes >= 2  # both architectures were checked


# ---------------------------------------------------------------- at predict
@pytest.fixture(scope="module")
def fitted_on_frame():
    X = pd.DataFrame(X0, columns=["a", "b"])
    return fast_regressor(n_estimators=2, max_epochs=2).fit(X, y0), X


def test_predict_refuses_the_wrong_number_of_features(fitted_on_frame):
    model, X = fitted_on_frame
    with pytest.raises(ValueError, match=r"X has 3 features, but RandomizedPriorRegressor is expecting 2"):
        model.predict(np.zeros((4, 3)))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda X: X[["b", "a"]], r"Feature names must be in the same order as they were in fit"),
        (lambda X: X.rename(columns={"a": "c"}), r"Feature names unseen at fit time:\n- c"),
    ],
)
def test_predict_refuses_reordered_or_renamed_columns(fitted_on_frame, change, message):
    model, X = fitted_on_frame
    with pytest.raises(ValueError, match=message):
        model.predict(change(X))


def test_predict_warns_when_feature_names_are_lost(fitted_on_frame):
    model, X = fitted_on_frame
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        plain = model.predict(X.to_numpy())
    np.testing.assert_array_equal(plain, model.predict(X))


@pytest.mark.parametrize(
    "X, error, message",
    [
        (_with(np.zeros((3, 2)), (1, 0), np.nan), ValueError, r"X contains NaN .*row 1, column 0"),
        (sp.csr_matrix(np.zeros((3, 2))), TypeError, r"Sparse data was passed"),
        (np.full((3, 2), "z"), ValueError, r"X must be numeric"),
        (np.zeros(3), ValueError, r"(?s)Expected 2D array.*reshape"),
    ],
)
def test_predict_refuses_bad_input(fitted_on_frame, X, error, message):
    model, _ = fitted_on_frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # feature-name warning: not the point here
        with pytest.raises(error, match=message):
            model.predict(X)


def test_unfitted_predict_says_fit_first():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        fast_regressor().predict(X0)


# --------------------------------------------------- failed fits change nothing
def _snapshot(model):
    return dict(model.__dict__)


def test_an_error_leaves_an_unfitted_estimator_unfitted():
    model = fast_regressor()
    before = _snapshot(model)
    with pytest.raises(ValueError):
        model.fit(X0, _with(y0, 0, np.nan))
    assert model.__dict__ == before
    with pytest.raises(NotFittedError):
        model.predict(X0)


@pytest.mark.parametrize(
    "breakage",
    [
        "bad data",
        "bad parameter",
        "error in the factory",
        "NaN loss mid-training",
    ],
)
def test_an_error_leaves_a_fitted_estimator_with_its_previous_fit(breakage):
    model = fast_regressor(max_epochs=5).fit(X0, y0)
    expected = model.predict(X0, return_std=True)
    before = _snapshot(model)

    def failing_factory(d, t):
        raise RuntimeError("factory failed")

    if breakage == "bad data":
        call = functools.partial(model.fit, X0, y0[:5])
    elif breakage == "bad parameter":
        model.set_params(n_estimators=0)
        call = functools.partial(model.fit, X0, y0)
    elif breakage == "error in the factory":
        model.set_params(module=failing_factory)
        call = functools.partial(model.fit, X0, y0)
    else:
        # The default 50-unit network diverges to NaN within a few epochs at this rate.
        model.set_params(module=None, lr=1e6, max_epochs=50)
        call = functools.partial(model.fit, X0, y0)
    before = _snapshot(model)  # including the parameter just set
    with pytest.raises((ValueError, RuntimeError, FloatingPointError)):
        call()
    assert model.__dict__.keys() == before.keys()
    assert all(model.__dict__[k] is before[k] for k in before)
    got = model.predict(X0, return_std=True)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


# ------------------------------------------------------------ numerical faults
def test_a_diverging_loss_stops_fit_with_the_epoch_and_remedies():
    # Adam at lr=1e6 diverges for sure; L-BFGS's line search may rescue it.
    model = fixed_regressor(n_estimators=2, lr=1e6, max_epochs=50, random_state=0)
    with pytest.raises(FloatingPointError, match=r"training loss became (nan|inf) in epoch \d+.*smaller lr"):
        model.fit(X0, y0)
    assert not hasattr(model, "ensemble_")


class RecordStart(Callback):
    """Keep a copy of the members' parameters as training starts."""

    def on_train_begin(self, net, **kwargs):
        self.start = [p.detach().clone() for p in net.module_.members.parameters()]


def test_gradient_clipping_is_per_member():
    # Reference: clip_grad_norm_ applied to each member on its own.
    torch.manual_seed(0)
    weights = [torch.zeros(3, 4, 5, requires_grad=True), torch.zeros(3, 1, 5, requires_grad=True)]
    grads = [torch.randn(3, 4, 5), torch.randn(3, 1, 5)]
    member_scale = torch.tensor([100.0, 1e-3, 1.0]).view(3, 1, 1)  # big, tiny and middling norms
    for w, g in zip(weights, grads):
        w.grad = (g * member_scale).clone()
    expected = []
    for k in range(3):
        per_member = [torch.nn.Parameter(w[k].detach().clone()) for w in weights]
        for p, w in zip(per_member, weights):
            p.grad = w.grad[k].clone()
        torch.nn.utils.clip_grad_norm_(per_member, max_norm=1.0)
        expected.append([p.grad for p in per_member])

    clip_member_grad_norm_(weights, max_norm=1.0)
    for k in range(3):
        for w, e in zip(weights, expected[k]):
            torch.testing.assert_close(w.grad[k], e, rtol=1e-5, atol=1e-7)
    norms = torch.sqrt(sum(w.grad.flatten(1).square().sum(1) for w in weights))
    assert norms[0] == pytest.approx(1.0, rel=1e-5)
    assert norms[1] < 1e-2  # a small gradient is left alone, not scaled up


def test_max_grad_norm_bounds_every_members_steps():
    # Plain SGD moves each parameter by lr * (clipped) gradient, so after s
    # steps a member can have moved at most s * lr * max_grad_norm.
    lr, max_norm, epochs = 0.05, 1e-3, 4
    common = dict(optimizer=torch.optim.SGD, lr=lr, max_epochs=epochs, batch_size=None, prior_scale=0.0)
    clipped = fast_regressor(max_grad_norm=max_norm, callbacks=[RecordStart()], **common).fit(X0, y0)
    free = fast_regressor(callbacks=[RecordStart()], **common).fit(X0, y0)

    def member_shift(model):
        start = dict(model.net_.callbacks_)["RecordStart"].start
        end = model.ensemble_.members.parameters()
        return torch.sqrt(sum((p - q.double()).flatten(1).square().sum(1) for p, q in zip(end, start)))

    assert torch.all(member_shift(clipped) <= epochs * lr * max_norm * (1 + 1e-3))
    assert torch.all(member_shift(free) > 100 * epochs * lr * max_norm)


def test_predictions_on_extreme_inputs_are_finite_or_a_clear_error():
    model = fast_regressor(max_epochs=5).fit(X0, y0)
    far = np.full((3, 2), 1e6) * np.array([[1, -1], [-1, 1], [1, 1]])
    mean, std = model.predict(far, return_std=True)
    assert np.isfinite(mean).all() and np.isfinite(std).all()
    assert np.isfinite(model.sample_y(far, 3)).all()
    with pytest.raises(FloatingPointError, match="not finite .*extreme values"):
        model.predict(np.full((2, 2), 1e200))


# ------------------------------------------------------ edge cases that work
def test_a_single_training_sample():
    model = fast_regressor().fit([[0.5, -1.0]], [3.0])
    mean, std = model.predict([[0.5, -1.0], [2.0, 2.0]], return_std=True)
    assert mean.shape == std.shape == (2,)
    assert np.isfinite(mean).all() and (std >= 0).all()


def test_constant_targets_are_predicted():
    y = np.full(20, 7.5)
    model = fast_regressor(max_epochs=200, prior_scale=0.0, bootstrap="none").fit(X0, y)
    np.testing.assert_allclose(model.predict(X0), 7.5, atol=0.1)


def test_a_single_member():
    model = fast_regressor(n_estimators=1).fit(X0, y0)
    mean, std = model.predict(X0, return_std=True, include_noise=False)
    np.testing.assert_array_equal(std, 0.0)
    draws = model.sample_y(X0, n_samples=3, include_noise=False)
    for j in range(3):
        np.testing.assert_array_equal(draws[:, j], mean)


def test_column_and_flat_targets_give_the_same_model():
    flat = fast_regressor().fit(X0, y0)
    column = fast_regressor().fit(X0, y0[:, None])
    # As GaussianProcessRegressor does, a single target column is predicted as a flat array.
    for kwargs in ({}, {"return_std": True}):
        got, expected = column.predict(X0, **kwargs), flat.predict(X0, **kwargs)
        for a, b in zip(*(np.atleast_2d(got), np.atleast_2d(expected))):
            assert a.shape == b.shape == (20,)
            np.testing.assert_array_equal(a, b)
    assert column.predict_members(X0).shape == (4, 20)


def test_float32_and_float64_inputs_agree():
    as64 = fast_regressor().fit(X0, y0).predict(X0)
    as32 = fast_regressor().fit(X0.astype(np.float32), y0.astype(np.float32)).predict(X0.astype(np.float32))
    assert as32.dtype == np.float64
    # float32 data are float32-rounded versions of the same problem.
    np.testing.assert_allclose(as32, as64, rtol=1e-3, atol=1e-3)


def test_integer_inputs_are_used_as_floats():
    X = np.arange(40).reshape(20, 2) % 7
    y = X[:, 0] * 3 - X[:, 1]
    ints = fast_regressor().fit(X, y)
    floats = fast_regressor().fit(X.astype(float), y.astype(float))
    np.testing.assert_array_equal(ints.predict(X), floats.predict(X.astype(float)))


def test_pandas_inputs_match_numpy():
    frame = pd.DataFrame(X0, columns=["x1", "x2"])
    from_pandas = fast_regressor().fit(frame, pd.Series(y0, name="target"))
    from_numpy = fast_regressor().fit(X0, y0)
    assert list(from_pandas.feature_names_in_) == ["x1", "x2"]
    np.testing.assert_array_equal(from_pandas.predict(frame), from_numpy.predict(X0))
    Y = pd.DataFrame({"a": y0, "b": -y0})
    assert fast_regressor().fit(frame, Y).predict(frame).shape == (20, 2)


def test_huge_and_tiny_target_scales_fit_under_the_defaults():
    # Every hyper-parameter at its default (about 2,000 optimizer steps, K=10).
    X = np.linspace(-2, 2, 30).reshape(-1, 1)
    grid = np.linspace(-2, 2, 101).reshape(-1, 1)
    means = {}
    for scale in (1e9, 1e-9):
        model = RandomizedPriorRegressor(random_state=0)
        model.fit(X, scale * np.sin(X[:, 0]))
        mean, std = model.predict(grid, return_std=True)
        assert r2_score(scale * np.sin(grid[:, 0]), mean) > 0.9
        assert np.isfinite(std).all() and (std > 0).all()
        means[scale] = mean / scale
    # normalize_y makes the fit scale-free: both are the same model in y's units.
    np.testing.assert_allclose(means[1e9], means[1e-9], rtol=1e-6, atol=1e-9)
