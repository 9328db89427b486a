"""Tests for skrpf.metrics against independent reference computations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import integrate
from scipy.stats import norm
from sklearn.base import clone
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF
from sklearn.model_selection import GridSearchCV, KFold

from skrpf.metrics import (
    SCORERS,
    calibration_error,
    coverage_error_scorer,
    crps_ensemble,
    crps_gaussian,
    crps_scorer,
    gaussian_nlpd,
    get_scorer,
    interval_coverage,
    interval_width,
    nlpd_scorer,
)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _gaussian_case(rng, shape):
    y_mean = rng.normal(size=shape)
    y_std = rng.uniform(0.2, 3.0, size=shape)
    y_true = y_mean + y_std * rng.normal(size=shape) + rng.normal(size=shape)
    return y_true, y_mean, y_std


def _naive_crps_ensemble_point(y, members):
    """O(K^2) reference for one point, straight from the definition."""
    k = len(members)
    abs_err = sum(abs(x - y) for x in members) / k
    pair = sum(abs(a - b) for a in members for b in members) / k**2
    return abs_err - 0.5 * pair


# ---------------------------------------------------------------------------
# gaussian_nlpd
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(50,), (30, 3)])
def test_nlpd_matches_scipy_logpdf(rng, shape):
    y_true, y_mean, y_std = _gaussian_case(rng, shape)
    expected = -norm.logpdf(y_true, loc=y_mean, scale=y_std).mean()
    assert gaussian_nlpd(y_true, y_mean, y_std) == pytest.approx(expected, rel=1e-12)


def test_nlpd_2d_averages_over_outputs(rng):
    y_true, y_mean, y_std = _gaussian_case(rng, (20, 4))
    per_output = [gaussian_nlpd(y_true[:, j], y_mean[:, j], y_std[:, j]) for j in range(4)]
    assert gaussian_nlpd(y_true, y_mean, y_std) == pytest.approx(np.mean(per_output))


def test_nlpd_accepts_lists_and_returns_float():
    out = gaussian_nlpd([0.0, 1.0], [0.0, 0.5], [1.0, 2.0])
    assert isinstance(out, float)


# ---------------------------------------------------------------------------
# crps_gaussian
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("y", "m", "s"), [(0.0, 0.0, 1.0), (1.3, -0.4, 0.7), (-5.0, 2.0, 3.0)])
def test_crps_gaussian_matches_monte_carlo(y, m, s):
    rng = np.random.default_rng(1)
    n = 200_000
    x = rng.normal(m, s, size=n)
    x_prime = rng.normal(m, s, size=n)
    # CRPS = E|X - y| - 0.5 E|X - X'|. Each draw d_i = |x_i - y| - 0.5|x_i - x'_i|
    # is an i.i.d. unbiased estimate, so the MC mean has standard error
    # std(d) / sqrt(n). Five standard errors makes a false failure
    # vanishingly unlikely (and the seed is fixed) while still catching
    # any formula error bigger than ~1% of s.
    d = np.abs(x - y) - 0.5 * np.abs(x - x_prime)
    mc, se = d.mean(), d.std(ddof=1) / np.sqrt(n)
    assert crps_gaussian([y], [m], [s]) == pytest.approx(mc, abs=5 * se)


@pytest.mark.parametrize(("y", "m", "s"), [(0.0, 0.0, 1.0), (2.5, 0.3, 0.5), (-1.0, 4.0, 2.0)])
def test_crps_gaussian_matches_quadrature(y, m, s):
    # CRPS = int (F(x) - 1{x >= y})^2 dx, split at y where the indicator jumps;
    # the survival function keeps the right tail accurate.
    left, _ = integrate.quad(lambda x: norm.cdf(x, m, s) ** 2, -np.inf, y)
    right, _ = integrate.quad(lambda x: norm.sf(x, m, s) ** 2, y, np.inf)
    assert crps_gaussian([y], [m], [s]) == pytest.approx(left + right, rel=1e-7)


def test_crps_gaussian_2d_and_small_std_limit(rng):
    y_true, y_mean, y_std = _gaussian_case(rng, (10, 3))
    per_output = [crps_gaussian(y_true[:, j], y_mean[:, j], y_std[:, j]) for j in range(3)]
    assert crps_gaussian(y_true, y_mean, y_std) == pytest.approx(np.mean(per_output))
    # A near-deterministic forecast scores its absolute error.
    tiny = np.full_like(y_std, 1e-9)
    assert crps_gaussian(y_true, y_mean, tiny) == pytest.approx(np.mean(np.abs(y_true - y_mean)), abs=1e-8)


# ---------------------------------------------------------------------------
# crps_ensemble
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 7, 20])
def test_crps_ensemble_matches_naive_double_loop(rng, k):
    n = 6
    members = rng.normal(size=(k, n))
    y_true = rng.normal(size=n)
    expected = np.mean([_naive_crps_ensemble_point(y_true[i], members[:, i]) for i in range(n)])
    assert crps_ensemble(y_true, members) == pytest.approx(expected, rel=1e-12)


def test_crps_ensemble_with_ties_matches_naive(rng):
    members = rng.integers(0, 3, size=(9, 5)).astype(float)
    y_true = rng.integers(0, 3, size=5).astype(float)
    expected = np.mean([_naive_crps_ensemble_point(y_true[i], members[:, i]) for i in range(5)])
    assert crps_ensemble(y_true, members) == pytest.approx(expected, rel=1e-12)


def test_crps_ensemble_2d_matches_naive(rng):
    k, n, t = 8, 5, 3
    members = rng.normal(size=(k, n, t))
    y_true = rng.normal(size=(n, t))
    expected = np.mean(
        [_naive_crps_ensemble_point(y_true[i, j], members[:, i, j]) for i in range(n) for j in range(t)]
    )
    assert crps_ensemble(y_true, members) == pytest.approx(expected, rel=1e-12)


@settings(max_examples=50, deadline=None)
@given(
    k=st.integers(1, 12),
    data=st.data(),
)
def test_crps_ensemble_property_naive(k, data):
    finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
    members = data.draw(arrays(float, (k, 3), elements=finite))
    y_true = data.draw(arrays(float, (3,), elements=finite))
    expected = np.mean([_naive_crps_ensemble_point(y_true[i], members[:, i]) for i in range(3)])
    got = crps_ensemble(y_true, members)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # CRPS is a non-negative loss.
    assert got >= -1e-9


@pytest.mark.parametrize(("y", "m", "s"), [(0.0, 0.0, 1.0), (2.0, -1.0, 0.5)])
def test_crps_ensemble_of_gaussian_sample_approaches_crps_gaussian(y, m, s):
    rng = np.random.default_rng(2)
    k = 200_000
    members = rng.normal(m, s, size=(k, 1))
    # To first order the estimator error is mean_k(|x_k - y| - h(x_k)) with
    # h(x) = E|x - X'| (Hoeffding projection). Both terms are 1-Lipschitz in
    # x, so each has std <= s and the error has standard error <= 2 s/sqrt(k).
    # The V-statistic also includes the k == l zeros, a bias of at most
    # E|X - X'| / (2 k) < s / k. Allow 5 standard errors plus the bias.
    tol = 5 * 2 * s / np.sqrt(k) + s / k
    assert crps_ensemble([y], members) == pytest.approx(crps_gaussian([y], [m], [s]), abs=tol)


def test_crps_ensemble_large_k_is_fast(rng):
    import time

    members = rng.normal(size=(1000, 2000))
    y_true = rng.normal(size=2000)
    start = time.perf_counter()
    crps_ensemble(y_true, members)
    # The naive pairwise term would be 2e9 operations here; sorting is ~0.1 s.
    assert time.perf_counter() - start < 3.0


# ---------------------------------------------------------------------------
# Intervals and calibration
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("level", [0.1, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("shape", [(200,), (50, 4)])
def test_interval_coverage_matches_norm_interval(rng, level, shape):
    y_true, y_mean, y_std = _gaussian_case(rng, shape)
    lo, hi = norm.interval(level, loc=y_mean, scale=y_std)
    expected = np.mean((y_true >= lo) & (y_true <= hi))
    assert interval_coverage(y_true, y_mean, y_std, level=level) == pytest.approx(expected)


def test_interval_coverage_default_level_is_0_9(rng):
    y_true, y_mean, y_std = _gaussian_case(rng, (300,))
    assert interval_coverage(y_true, y_mean, y_std) == interval_coverage(y_true, y_mean, y_std, level=0.9)


@pytest.mark.parametrize("level", [0.1, 0.5, 0.9, 0.99])
def test_interval_width_matches_norm_ppf(rng, level):
    y_std = rng.uniform(0.1, 5.0, size=(40, 2))
    hi = norm.ppf(0.5 + level / 2, loc=0.0, scale=y_std)
    lo = norm.ppf(0.5 - level / 2, loc=0.0, scale=y_std)
    assert interval_width(y_std, level=level) == pytest.approx(np.mean(hi - lo))


def test_calibration_error_near_zero_for_calibrated_gaussian(rng):
    n = 20_000
    y_mean = rng.normal(size=n)
    y_std = rng.uniform(0.5, 2.0, size=n)
    y_true = rng.normal(y_mean, y_std)
    # Each observed coverage is a binomial proportion with std
    # sqrt(p (1 - p) / n) <= 0.5 / sqrt(n). The mean absolute gap is at most
    # the largest gap, so 4 binomial stds bounds it with overwhelming
    # probability (about 1e-3 over 19 levels, and the seed is fixed).
    tol = 4 * 0.5 / np.sqrt(n)
    assert calibration_error(y_true, y_mean, y_std) < tol


def test_calibration_error_large_for_overconfident(rng):
    n = 20_000
    y_mean = rng.normal(size=n)
    y_std = rng.uniform(0.5, 2.0, size=n)
    y_true = rng.normal(y_mean, y_std)
    levels = np.linspace(0.05, 0.95, 19)
    # With std shrunk by 3 the interval m +/- z_p s / 3 truly covers with
    # probability 2 Phi(z_p / 3) - 1, far below the nominal p.
    z = norm.ppf(0.5 + levels / 2)
    expected = np.mean(np.abs(2 * norm.cdf(z / 3) - 1 - levels))
    got = calibration_error(y_true, y_mean, y_std / 3)
    assert got == pytest.approx(expected, abs=4 * 0.5 / np.sqrt(n))
    assert got > 0.25


def test_calibration_error_matches_direct_counting(rng):
    y_true, y_mean, y_std = _gaussian_case(rng, (100, 2))
    levels = [0.2, 0.6, 0.95]
    gaps = []
    for p in levels:
        lo, hi = norm.interval(p, loc=y_mean, scale=y_std)
        gaps.append(abs(np.mean((y_true >= lo) & (y_true <= hi)) - p))
    assert calibration_error(y_true, y_mean, y_std, levels=levels) == pytest.approx(np.mean(gaps))


# ---------------------------------------------------------------------------
# Validation errors
# ---------------------------------------------------------------------------

GAUSSIAN_METRICS = [gaussian_nlpd, crps_gaussian, interval_coverage, calibration_error]


@pytest.mark.parametrize("metric", GAUSSIAN_METRICS)
@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_nonpositive_std_raises(metric, bad):
    with pytest.raises(ValueError, match="y_std must be strictly positive"):
        metric([0.0, 1.0], [0.0, 0.0], [1.0, bad])


@pytest.mark.parametrize("metric", GAUSSIAN_METRICS)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_std_raises(metric, bad):
    with pytest.raises(ValueError, match="y_std contains NaN or infinity"):
        metric([0.0, 1.0], [0.0, 0.0], [1.0, bad])


def test_nonfinite_targets_raise():
    with pytest.raises(ValueError, match="y_true contains NaN"):
        gaussian_nlpd([np.nan], [0.0], [1.0])
    with pytest.raises(ValueError, match="y_mean contains NaN"):
        crps_gaussian([0.0], [np.inf], [1.0])
    with pytest.raises(ValueError, match="y_members contains NaN"):
        crps_ensemble([0.0], [[np.nan], [1.0]])


def test_interval_width_nonpositive_std_raises():
    with pytest.raises(ValueError, match="y_std must be strictly positive"):
        interval_width([1.0, 0.0])


@pytest.mark.parametrize("level", [0.0, 1.0, -0.5, 1.5, np.nan, "high"])
def test_bad_level_raises(level):
    pattern = r"level must be a float in the open interval \(0, 1\); got"
    with pytest.raises(ValueError, match=pattern):
        interval_coverage([0.0], [0.0], [1.0], level=level)
    with pytest.raises(ValueError, match=pattern):
        interval_width([1.0], level=level)


def test_bad_calibration_levels_raise():
    with pytest.raises(ValueError, match=r"levels\[1\] must be .* got 1\.0"):
        calibration_error([0.0], [0.0], [1.0], levels=[0.5, 1.0])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        calibration_error([0.0], [0.0], [1.0], levels=[])


@pytest.mark.parametrize("metric", GAUSSIAN_METRICS)
def test_mismatched_shapes_raise(metric):
    with pytest.raises(ValueError, match="Inconsistent shapes"):
        metric([0.0, 1.0, 2.0], [0.0, 0.0], [1.0, 1.0])
    # (n,) vs (n, 1) must not silently broadcast to (n, n).
    with pytest.raises(ValueError, match="Inconsistent shapes"):
        metric(np.zeros(3), np.zeros((3, 1)), np.ones((3, 1)))


def test_crps_ensemble_shape_mismatch_raises():
    with pytest.raises(ValueError, match="y_members must have shape"):
        crps_ensemble(np.zeros(3), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="y_members must have shape"):
        crps_ensemble(np.zeros((3, 2)), np.zeros((10, 3)))
    with pytest.raises(ValueError, match="no members"):
        crps_ensemble(np.zeros(3), np.zeros((0, 3)))


def test_empty_input_raises():
    with pytest.raises(ValueError, match="empty"):
        gaussian_nlpd([], [], [])


# ---------------------------------------------------------------------------
# Scorers
# ---------------------------------------------------------------------------


@pytest.fixture
def regression_data():
    rng = np.random.default_rng(3)
    X = rng.uniform(-3, 3, size=(60, 1))
    y = np.sin(X).ravel() + 0.3 * rng.normal(size=60)
    return X, y


def _gp(alpha=0.1):
    # A fixed kernel keeps fits fast and deterministic, so only alpha matters.
    return GaussianProcessRegressor(kernel=RBF(1.0), alpha=alpha, optimizer=None)


def test_scorers_equal_negated_metrics(regression_data):
    X, y = regression_data
    est = _gp().fit(X[:40], y[:40])
    X_te, y_te = X[40:], y[40:]
    mean, std = est.predict(X_te, return_std=True)
    assert nlpd_scorer(est, X_te, y_te) == -gaussian_nlpd(y_te, mean, std)
    assert crps_scorer(est, X_te, y_te) == -crps_gaussian(y_te, mean, std)
    assert coverage_error_scorer(est, X_te, y_te) == -abs(interval_coverage(y_te, mean, std, level=0.9) - 0.9)


def test_scorer_ranks_better_model_higher(regression_data):
    X, y = regression_data
    # alpha = 0.09 matches the true noise variance; 1e-6 is overconfident.
    good = _gp(0.09).fit(X[:40], y[:40])
    bad = _gp(1e-6).fit(X[:40], y[:40])
    assert nlpd_scorer(good, X[40:], y[40:]) > nlpd_scorer(bad, X[40:], y[40:])
    assert crps_scorer(good, X[40:], y[40:]) > crps_scorer(bad, X[40:], y[40:])


def test_scorers_in_grid_search_with_refit(regression_data):
    X, y = regression_data
    cv = KFold(n_splits=3, shuffle=True, random_state=0)
    grid = {"alpha": [1e-3, 0.09, 1.0]}
    search = GridSearchCV(
        _gp(),
        grid,
        scoring={"nlpd": nlpd_scorer, "crps": crps_scorer, "r2": "r2"},
        refit="nlpd",
        cv=cv,
        error_score="raise",
    )
    search.fit(X, y)
    res = search.cv_results_
    best = search.best_index_

    # Greater is better: refit picks the argmax of the (negated) NLPD.
    assert best == int(np.argmax(res["mean_test_nlpd"]))
    assert search.best_score_ == pytest.approx(res["mean_test_nlpd"][best])
    assert search.best_score_ == pytest.approx(np.max(res["mean_test_nlpd"]))
    # Under-regularised alpha = 1e-3 is overconfident on this noisy data.
    assert search.best_params_["alpha"] != 1e-3

    # Recompute one fold by hand: the CV score must be -gaussian_nlpd.
    train, test = next(iter(cv.split(X, y)))
    est = clone(_gp()).set_params(**search.best_params_).fit(X[train], y[train])
    mean, std = est.predict(X[test], return_std=True)
    assert res["split0_test_nlpd"][best] == pytest.approx(-gaussian_nlpd(y[test], mean, std))
    assert res["split0_test_crps"][best] == pytest.approx(-crps_gaussian(y[test], mean, std))
    assert np.all(np.isfinite(res["mean_test_nlpd"]))

    # The refitted estimator is usable with the scorer directly.
    assert nlpd_scorer(search.best_estimator_, X, y) == -gaussian_nlpd(
        y, *search.best_estimator_.predict(X, return_std=True)
    )


def test_scorers_support_2d_targets(regression_data):
    X, y = regression_data
    Y = np.column_stack([y, -2 * y])
    est = GaussianProcessRegressor(kernel=RBF(1.0), alpha=0.1, optimizer=None, normalize_y=True).fit(
        X[:40], Y[:40]
    )
    mean, std = est.predict(X[40:], return_std=True)
    assert mean.shape == std.shape == (20, 2)
    assert nlpd_scorer(est, X[40:], Y[40:]) == -gaussian_nlpd(Y[40:], mean, std)
    assert crps_scorer(est, X[40:], Y[40:]) == -crps_gaussian(Y[40:], mean, std)


def test_scorer_registry():
    assert SCORERS == {
        "nlpd": nlpd_scorer,
        "crps": crps_scorer,
        "coverage_error": coverage_error_scorer,
    }
    for name, scorer in SCORERS.items():
        assert get_scorer(name) is scorer


def test_get_scorer_unknown_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown scorer name 'mse'") as exc:
        get_scorer("mse")
    for name in SCORERS:
        assert repr(name) in str(exc.value)


def test_module_does_not_import_torch():
    import subprocess
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "skrpf" / "metrics.py"
    # Load the file directly so the check covers this module alone, not
    # whatever the package __init__ imports, in a fresh interpreter because
    # other tests may already have imported torch.
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('m', {str(path)!r})\n"
        "mod = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(mod)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
