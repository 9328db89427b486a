"""Property-based tests: any valid shapes, dtypes and settings give sane, GPR-shaped output."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.gaussian_process import GaussianProcessRegressor

from skrpf import MLP, RandomizedPriorRegressor


@st.composite
def problems(draw):
    n = draw(st.integers(1, 60))
    d = draw(st.integers(1, 6))
    n_targets = draw(st.sampled_from([None, 1, 2, 3]))  # None: a flat y
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int64]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.RandomState(seed)
    X = (rng.normal(size=(n, d)) * draw(st.sampled_from([1e-3, 1.0, 1e3]))).astype(dtype)
    y = rng.normal(size=(n,) if n_targets is None else (n, n_targets)) * draw(
        st.sampled_from([1e-6, 1.0, 1e6])
    )
    X_test = rng.normal(size=(draw(st.integers(1, 8)), d)).astype(dtype)
    params = dict(
        n_estimators=draw(st.integers(1, 4)),
        prior_scale=draw(st.sampled_from([0.0, 0.5, 3.0])),
        bootstrap=draw(st.sampled_from(["multinomial", "poisson", "exponential", "bernoulli", "none"])),
        target_noise=draw(st.sampled_from([0.0, 0.1])),
        batch_size=draw(st.sampled_from(["auto", None, 1, 7])),
        normalize_X=draw(st.booleans()),
        normalize_y=draw(st.booleans()),
        random_state=seed,
    )
    return X, y, X_test, params


def _regressor(params):
    model = RandomizedPriorRegressor(module=MLP(hidden_layer_sizes=(4,)), max_epochs=2, **params)
    if "noise" in model.get_params() and params["n_estimators"] < 2:
        # The out-of-bag noise estimate needs two members; the property holds for any noise model.
        model.set_params(noise="none")
    return model


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_any_valid_problem_gives_finite_gpr_shaped_predictions(problem):
    X, y, X_test, params = problem
    model = _regressor(params).fit(X, y)
    gpr = GaussianProcessRegressor(optimizer=None).fit(X.astype(np.float64), y)

    mean, std = model.predict(X_test, return_std=True)
    mean_cov, cov = model.predict(X_test, return_cov=True)
    expected_mean, expected_std = gpr.predict(X_test, return_std=True)
    _, expected_cov = gpr.predict(X_test, return_cov=True)
    assert mean.shape == expected_mean.shape and std.shape == expected_std.shape
    assert cov.shape == expected_cov.shape
    assert model.sample_y(X_test, n_samples=3).shape == gpr.sample_y(X_test, n_samples=3).shape
    for array in (mean, std, cov):
        assert array.dtype == np.float64 and np.isfinite(array).all()
    assert (std >= 0).all()
    np.testing.assert_array_equal(mean_cov, mean)

    # std is the root of the covariance's diagonal, target by target.
    diagonal = np.diagonal(cov, axis1=0, axis2=1)  # (t, n) or (n,)
    diagonal = diagonal.T if cov.ndim == 3 else diagonal
    scale = np.abs(mean).max() + std.max() + 1e-300
    np.testing.assert_allclose(std, np.sqrt(diagonal), rtol=1e-6, atol=1e-12 * scale)


@pytest.mark.parametrize("n_samples", [1, 2])
def test_the_smallest_problems(n_samples):
    X = np.arange(n_samples, dtype=float).reshape(-1, 1)
    model = _regressor(dict(n_estimators=3, random_state=0)).fit(X, X[:, 0])
    mean, std = model.predict(X, return_std=True)
    assert mean.shape == std.shape == (n_samples,)
    assert np.isfinite(mean).all() and (std >= 0).all()
