"""Probabilistic regression metrics and scikit-learn compatible scorers.

The metrics score predictive distributions rather than point predictions:
Gaussian predictions given as ``(y_mean, y_std)`` pairs, or empirical
distributions given as ensemble members. All metrics are averaged over
samples and, for 2-D targets of shape ``(n_samples, n_targets)``, over
targets as well.

The scorers follow the scikit-learn convention that greater is better, so
losses are negated. They are plain callables ``scorer(estimator, X, y)``
that call ``estimator.predict(X, return_std=True)``, which makes them
usable as ``scoring=`` in :class:`~sklearn.model_selection.GridSearchCV`,
alone or inside a dict of scorers.

This module deliberately depends only on NumPy and SciPy so that it can be
used without torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

__all__ = [
    "SCORERS",
    "calibration_error",
    "coverage_error_scorer",
    "crps_ensemble",
    "crps_gaussian",
    "crps_scorer",
    "gaussian_nlpd",
    "get_scorer",
    "interval_coverage",
    "interval_width",
    "nlpd_scorer",
]

_LOG_2PI = float(np.log(2.0 * np.pi))
_INV_SQRT_PI = float(1.0 / np.sqrt(np.pi))
_DEFAULT_CALIBRATION_LEVELS = np.linspace(0.05, 0.95, 19)


# ---------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------


def _as_float_array(x: ArrayLike, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric array-like; got {x!r}.") from exc
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    # NaN would otherwise propagate silently into the averaged score, and a
    # NaN score makes GridSearchCV pick an arbitrary candidate.
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity.")


def _check_std(y_std: np.ndarray) -> None:
    _check_finite(y_std, "y_std")
    if np.any(y_std <= 0):
        raise ValueError(f"y_std must be strictly positive; got minimum value {float(np.min(y_std))!r}.")


def _check_same_shape(**arrays: np.ndarray) -> None:
    # Exact shape equality rather than broadcasting: silently broadcasting an
    # (n,) target against (n, 1) predictions yields an (n, n) array and a
    # meaningless score.
    shapes = {name: arr.shape for name, arr in arrays.items()}
    if len(set(shapes.values())) > 1:
        desc = ", ".join(f"{name}{shape}" for name, shape in shapes.items())
        raise ValueError(f"Inconsistent shapes: {desc}; all must be identical.")


def _check_nonempty(arr: np.ndarray, name: str) -> None:
    if arr.size == 0:
        raise ValueError(f"{name} is empty; cannot average over zero points.")


def _validate_gaussian(
    y_true: ArrayLike, y_mean: ArrayLike, y_std: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = _as_float_array(y_true, "y_true")
    m = _as_float_array(y_mean, "y_mean")
    s = _as_float_array(y_std, "y_std")
    _check_same_shape(y_true=y, y_mean=m, y_std=s)
    _check_nonempty(y, "y_true")
    _check_finite(y, "y_true")
    _check_finite(m, "y_mean")
    _check_std(s)
    return y, m, s


def _check_level(level: Any, name: str = "level") -> float:
    try:
        value = float(level)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a float in the open interval (0, 1); got {level!r}.") from exc
    # The comparison is False for NaN, so NaN is rejected here too.
    if not 0.0 < value < 1.0:
        # Report the converted float so NumPy scalars read as plain numbers.
        raise ValueError(f"{name} must be a float in the open interval (0, 1); got {value!r}.")
    return value


def _z_for_level(level: float | np.ndarray) -> np.ndarray:
    # Half-width of the central interval in standard-deviation units.
    return norm.ppf(0.5 + 0.5 * np.asarray(level))


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------


def gaussian_nlpd(y_true: ArrayLike, y_mean: ArrayLike, y_std: ArrayLike) -> float:
    """Mean Gaussian negative log predictive density.

    Computes ``mean(0.5 * log(2 * pi * s**2) + (y - m)**2 / (2 * s**2))``
    over all samples (and targets, for 2-D input). Lower is better.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_targets)
        Observed targets.
    y_mean : array-like of the same shape as ``y_true``
        Predictive means.
    y_std : array-like of the same shape as ``y_true``
        Predictive standard deviations; must be finite and strictly positive.

    Returns
    -------
    nlpd : float
        Average negative log density of ``y_true`` under
        ``N(y_mean, y_std**2)``.

    Raises
    ------
    ValueError
        If the shapes differ, any input is non-finite or empty, or ``y_std``
        has a non-positive entry.

    Examples
    --------
    >>> from skrpf.metrics import gaussian_nlpd
    >>> round(gaussian_nlpd([0.0, 1.0], [0.0, 0.0], [1.0, 1.0]), 4)
    1.1689
    """
    y, m, s = _validate_gaussian(y_true, y_mean, y_std)
    z = (y - m) / s
    # log(s) instead of 0.5 * log(s**2): squaring overflows for huge s and
    # underflows to log(0) for tiny s.
    return float(np.mean(0.5 * _LOG_2PI + np.log(s) + 0.5 * z**2))


def crps_gaussian(y_true: ArrayLike, y_mean: ArrayLike, y_std: ArrayLike) -> float:
    """Mean continuous ranked probability score of Gaussian predictions.

    Uses the closed form for ``N(m, s**2)``::

        CRPS = s * (z * (2 * Phi(z) - 1) + 2 * phi(z) - 1 / sqrt(pi))

    with ``z = (y - m) / s``, averaged over samples (and targets). The CRPS
    is in the units of ``y``, reduces to the absolute error as ``s -> 0``,
    and lower is better.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_targets)
        Observed targets.
    y_mean : array-like of the same shape as ``y_true``
        Predictive means.
    y_std : array-like of the same shape as ``y_true``
        Predictive standard deviations; must be finite and strictly positive.

    Returns
    -------
    crps : float
        Average CRPS.

    Raises
    ------
    ValueError
        If the shapes differ, any input is non-finite or empty, or ``y_std``
        has a non-positive entry.

    Examples
    --------
    >>> from skrpf.metrics import crps_gaussian
    >>> round(crps_gaussian([0.0], [0.0], [1.0]), 4)
    0.2337
    """
    y, m, s = _validate_gaussian(y_true, y_mean, y_std)
    z = (y - m) / s
    crps = s * (z * (2.0 * norm.cdf(z) - 1.0) + 2.0 * norm.pdf(z) - _INV_SQRT_PI)
    return float(np.mean(crps))


def crps_ensemble(y_true: ArrayLike, y_members: ArrayLike) -> float:
    """Mean CRPS of the empirical distribution of ensemble members.

    For members ``x_1, ..., x_K`` of a single point this is::

        CRPS = mean_k |x_k - y| - 0.5 * mean_{k,l} |x_k - x_l|

    averaged over samples (and targets). The pairwise term is computed in
    ``O(K log K)`` per point by sorting the members, using
    ``sum_{k,l} |x_k - x_l| = 2 * sum_i (2 i - K - 1) x_(i)`` with
    ``x_(1) <= ... <= x_(K)``, so large ensembles stay cheap.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_targets)
        Observed targets.
    y_members : array-like of shape (n_members, n_samples[, n_targets])
        Ensemble member predictions, members along axis 0; the remaining
        axes must match ``y_true.shape``.

    Returns
    -------
    crps : float
        Average CRPS of the empirical member distribution. Lower is better.

    Raises
    ------
    ValueError
        If ``y_members.shape[1:]`` differs from ``y_true.shape``, there are
        no members, or any input is non-finite or empty.

    Examples
    --------
    >>> from skrpf.metrics import crps_ensemble
    >>> members = [[0.0], [1.0], [2.0]]  # 3 members, 1 sample
    >>> round(crps_ensemble([1.0], members), 4)
    0.2222
    """
    y = _as_float_array(y_true, "y_true")
    x = _as_float_array(y_members, "y_members")
    if x.ndim != y.ndim + 1 or x.shape[1:] != y.shape:
        raise ValueError(
            f"y_members must have shape (n_members, *y_true.shape) = "
            f"(n_members, {', '.join(map(str, y.shape))}); got y_members"
            f"{x.shape} and y_true{y.shape}."
        )
    n_members = x.shape[0]
    if n_members == 0:
        raise ValueError("y_members has no members (axis 0 has length 0).")
    _check_nonempty(y, "y_true")
    _check_finite(y, "y_true")
    _check_finite(x, "y_members")

    abs_err = np.mean(np.abs(x - y), axis=0)
    x_sorted = np.sort(x, axis=0)
    weights = 2.0 * np.arange(1, n_members + 1) - n_members - 1
    weights = weights.reshape((n_members,) + (1,) * y.ndim)
    # 0.5 * mean_{k,l}|x_k - x_l| = 0.5 * 2 * sum_i w_i x_(i) / K**2.
    spread = np.sum(weights * x_sorted, axis=0) / n_members**2
    return float(np.mean(abs_err - spread))


def interval_coverage(y_true: ArrayLike, y_mean: ArrayLike, y_std: ArrayLike, level: float = 0.9) -> float:
    """Fraction of targets inside the central Gaussian prediction interval.

    The interval is ``y_mean +/- z * y_std`` with
    ``z = Phi^{-1}((1 + level) / 2)``; endpoints count as inside. A
    calibrated model has coverage close to ``level``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_targets)
        Observed targets.
    y_mean : array-like of the same shape as ``y_true``
        Predictive means.
    y_std : array-like of the same shape as ``y_true``
        Predictive standard deviations; must be finite and strictly positive.
    level : float, default=0.9
        Nominal coverage of the central interval, in the open interval
        (0, 1).

    Returns
    -------
    coverage : float
        Observed fraction of entries of ``y_true`` inside their interval.

    Raises
    ------
    ValueError
        If ``level`` is not in (0, 1), or the inputs are invalid as for
        :func:`gaussian_nlpd`.

    Examples
    --------
    >>> from skrpf.metrics import interval_coverage
    >>> interval_coverage([0.0, 1.0, 3.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    0.6666666666666666
    """
    level = _check_level(level)
    y, m, s = _validate_gaussian(y_true, y_mean, y_std)
    inside = np.abs(y - m) <= _z_for_level(level) * s
    return float(np.mean(inside))


def interval_width(y_std: ArrayLike, level: float = 0.9) -> float:
    """Mean width of the central Gaussian prediction interval.

    The width is ``2 * z * y_std`` with ``z = Phi^{-1}((1 + level) / 2)``.
    Report it alongside :func:`interval_coverage`: coverage alone rewards
    arbitrarily wide intervals.

    Parameters
    ----------
    y_std : array-like of shape (n_samples,) or (n_samples, n_targets)
        Predictive standard deviations; must be finite and strictly positive.
    level : float, default=0.9
        Nominal coverage of the central interval, in the open interval
        (0, 1).

    Returns
    -------
    width : float
        Average interval width, in the units of the target.

    Raises
    ------
    ValueError
        If ``level`` is not in (0, 1), ``y_std`` is empty, non-finite or has
        a non-positive entry.

    Examples
    --------
    >>> from skrpf.metrics import interval_width
    >>> round(interval_width([1.0, 2.0], level=0.95), 4)
    5.8799
    """
    level = _check_level(level)
    s = _as_float_array(y_std, "y_std")
    _check_nonempty(s, "y_std")
    _check_std(s)
    return float(np.mean(2.0 * _z_for_level(level) * s))


def calibration_error(
    y_true: ArrayLike,
    y_mean: ArrayLike,
    y_std: ArrayLike,
    levels: ArrayLike | None = None,
) -> float:
    """Mean absolute gap between nominal and observed interval coverage.

    For each nominal level ``p`` the observed coverage ``c(p)`` of the
    central Gaussian interval (see :func:`interval_coverage`) is computed,
    and the result is ``mean_p |c(p) - p|``. It is 0 for perfectly
    calibrated predictions and at most ``max(levels)``. Overconfident
    predictions (``y_std`` too small) have ``c(p) < p``; underconfident ones
    have ``c(p) > p``; both increase the error. With ``n`` points, each
    ``c(p)`` has sampling noise of about ``sqrt(p (1 - p) / n)`` even for a
    calibrated model, so small values are not significant for small ``n``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_targets)
        Observed targets.
    y_mean : array-like of the same shape as ``y_true``
        Predictive means.
    y_std : array-like of the same shape as ``y_true``
        Predictive standard deviations; must be finite and strictly positive.
    levels : array-like of float, default=None
        Nominal levels, each in the open interval (0, 1). ``None`` uses
        ``np.linspace(0.05, 0.95, 19)``.

    Returns
    -------
    error : float
        Mean absolute calibration gap, in [0, 1).

    Raises
    ------
    ValueError
        If ``levels`` is empty or has an entry outside (0, 1), or the inputs
        are invalid as for :func:`gaussian_nlpd`.

    Examples
    --------
    >>> from skrpf.metrics import calibration_error
    >>> y_true = [0.0, 0.5, 1.0, 3.0]
    >>> y_mean = [0.0, 0.0, 0.0, 0.0]
    >>> y_std = [1.0, 1.0, 1.0, 1.0]
    >>> # observed coverage: 0.5 at level 0.5, 0.75 at level 0.9
    >>> round(calibration_error(y_true, y_mean, y_std, levels=[0.5, 0.9]), 4)
    0.075
    """
    if levels is None:
        levels_arr = _DEFAULT_CALIBRATION_LEVELS
    else:
        levels_arr = np.atleast_1d(_as_float_array(levels, "levels"))
        if levels_arr.ndim != 1 or levels_arr.size == 0:
            raise ValueError(f"levels must be a non-empty 1-D array-like; got shape {levels_arr.shape}.")
        for i, lvl in enumerate(levels_arr):
            _check_level(lvl, name=f"levels[{i}]")
    y, m, s = _validate_gaussian(y_true, y_mean, y_std)

    # Standardise once so every level is a single threshold comparison.
    abs_z = np.abs(y - m).ravel() / s.ravel()
    z_levels = _z_for_level(levels_arr)
    observed = np.mean(abs_z[None, :] <= z_levels[:, None], axis=1)
    return float(np.mean(np.abs(observed - levels_arr)))


# ---------------------------------------------------------------------------
# Scorers
# ---------------------------------------------------------------------------


def _predict_mean_std(estimator: Any, X: ArrayLike) -> tuple[Any, Any]:
    return estimator.predict(X, return_std=True)


def nlpd_scorer(estimator: Any, X: ArrayLike, y: ArrayLike) -> float:
    """Negative :func:`gaussian_nlpd` scorer (greater is better).

    Parameters
    ----------
    estimator : object
        Fitted regressor whose ``predict(X, return_std=True)`` returns
        ``(y_mean, y_std)``.
    X : array-like of shape (n_samples, n_features)
        Input samples.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        True targets.

    Returns
    -------
    score : float
        ``-gaussian_nlpd(y, y_mean, y_std)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.gaussian_process import GaussianProcessRegressor
    >>> from sklearn.gaussian_process.kernels import RBF
    >>> from skrpf.metrics import nlpd_scorer
    >>> X = np.linspace(0, 1, 20).reshape(-1, 1)
    >>> y = np.sin(6 * X).ravel()
    >>> gp = GaussianProcessRegressor(RBF(0.2), alpha=1e-2, optimizer=None)
    >>> gp = gp.fit(X, y)
    >>> isinstance(nlpd_scorer(gp, X, y), float)
    True
    """
    y_mean, y_std = _predict_mean_std(estimator, X)
    return -gaussian_nlpd(y, y_mean, y_std)


def crps_scorer(estimator: Any, X: ArrayLike, y: ArrayLike) -> float:
    """Negative :func:`crps_gaussian` scorer (greater is better).

    Parameters
    ----------
    estimator : object
        Fitted regressor whose ``predict(X, return_std=True)`` returns
        ``(y_mean, y_std)``.
    X : array-like of shape (n_samples, n_features)
        Input samples.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        True targets.

    Returns
    -------
    score : float
        ``-crps_gaussian(y, y_mean, y_std)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.gaussian_process import GaussianProcessRegressor
    >>> from sklearn.gaussian_process.kernels import RBF
    >>> from skrpf.metrics import crps_scorer
    >>> X = np.linspace(0, 1, 20).reshape(-1, 1)
    >>> y = np.sin(6 * X).ravel()
    >>> gp = GaussianProcessRegressor(RBF(0.2), alpha=1e-2, optimizer=None)
    >>> gp = gp.fit(X, y)
    >>> crps_scorer(gp, X, y) <= 0
    True
    """
    y_mean, y_std = _predict_mean_std(estimator, X)
    return -crps_gaussian(y, y_mean, y_std)


def coverage_error_scorer(estimator: Any, X: ArrayLike, y: ArrayLike) -> float:
    """Negative absolute 90% coverage gap scorer (greater is better).

    Returns ``-|interval_coverage(y, y_mean, y_std, level=0.9) - 0.9|``, so
    0 is best. It ignores sharpness, so prefer it as a secondary metric next
    to :func:`nlpd_scorer` or :func:`crps_scorer`.

    Parameters
    ----------
    estimator : object
        Fitted regressor whose ``predict(X, return_std=True)`` returns
        ``(y_mean, y_std)``.
    X : array-like of shape (n_samples, n_features)
        Input samples.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        True targets.

    Returns
    -------
    score : float
        Negative absolute deviation of observed from nominal 90% coverage.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.gaussian_process import GaussianProcessRegressor
    >>> from sklearn.gaussian_process.kernels import RBF
    >>> from skrpf.metrics import coverage_error_scorer
    >>> X = np.linspace(0, 1, 20).reshape(-1, 1)
    >>> y = np.sin(6 * X).ravel()
    >>> gp = GaussianProcessRegressor(RBF(0.2), alpha=1e-2, optimizer=None)
    >>> gp = gp.fit(X, y)
    >>> -1.0 <= coverage_error_scorer(gp, X, y) <= 0.0
    True
    """
    y_mean, y_std = _predict_mean_std(estimator, X)
    return -abs(interval_coverage(y, y_mean, y_std, level=0.9) - 0.9)


SCORERS: dict[str, Callable[[Any, ArrayLike, ArrayLike], float]] = {
    "nlpd": nlpd_scorer,
    "crps": crps_scorer,
    "coverage_error": coverage_error_scorer,
}
"""Scorers by name, all greater-is-better, for ``GridSearchCV(scoring=...)``."""


def get_scorer(name: str) -> Callable[[Any, ArrayLike, ArrayLike], float]:
    """Look up a probabilistic scorer by name.

    Parameters
    ----------
    name : str
        One of the keys of :data:`SCORERS`: ``"nlpd"``, ``"crps"`` or
        ``"coverage_error"``.

    Returns
    -------
    scorer : callable
        Callable ``scorer(estimator, X, y) -> float``, greater is better.

    Raises
    ------
    ValueError
        If ``name`` is not a known scorer; the message lists valid names.

    Examples
    --------
    >>> from skrpf.metrics import get_scorer, nlpd_scorer
    >>> get_scorer("nlpd") is nlpd_scorer
    True
    """
    try:
        return SCORERS[name]
    except (KeyError, TypeError):
        valid = ", ".join(repr(k) for k in sorted(SCORERS))
        raise ValueError(f"Unknown scorer name {name!r}; valid names are: {valid}.") from None
