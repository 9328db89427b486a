"""Warm-started refits: what a fit keeps for the next one, and when it may use it.

With ``warm_start=True``, ``fit`` starts from the members of the previous
fit instead of new ones, and trains a shortened schedule. The point is the
refit after a few new rows, as in Bayesian optimisation and active learning:
the members are already close to their new optimum.

What a warm refit keeps from the previous cold fit, so that the members'
inputs and outputs keep their meaning:

* the standardisation of X and y (means, scales and the length scale folded
  into the input scale), computed on the data of the cold fit;
* the resolved hyper-parameters (length scale, prior scale, target noise,
  alpha, bootstrap, optimizer, activation, noise model): the
  marginal-likelihood search and the out-of-bag choices are not run again;
* the priors, and the members' weights as the starting point.

A cold fit is made instead whenever that state would not fit the new call:
no previous fit in this object (a new, cloned or loaded estimator), another
number of features or targets, or any constructor parameter changed since
the previous fit other than those in :data:`FREE_PARAMETERS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator

#: Parameters that may change between a fit and a warm refit: they steer
#: the training loop or the display, not what the members mean.
FREE_PARAMETERS = frozenset(
    {
        "warm_start",
        "max_epochs",
        "verbose",
        "callbacks",
        "n_threads",
        "n_jobs",
        "predict_batch_size",
        "device",
    }
)

#: Share of the cold schedule that ``max_epochs="auto"`` trains in a warm
#: refit: 1 of the 4 L-BFGS epochs on small data, 200 of the 2,000 Adam
#: steps on large data (see benchmarks/warm_start.py for what it costs and
#: loses).
WARM_START_SHARE = 0.1


_SCALARS = (bool, int, float, str, np.generic)


@dataclass(frozen=True)
class FitState:
    """What a cold fit leaves for the warm refits after it.

    ``hyper`` is what else the members' meaning depends on, per task: the
    regressor's resolved hyper-parameters, the classifier's ``classes_``
    (whose ``y_mean``, ``y_scale`` and ``noise_scale`` are the identity).
    """

    params: dict
    hyper: object
    n_features: int
    n_outputs: int
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: np.ndarray
    y_scale: np.ndarray
    noise_scale: np.ndarray


def constrained_parameters(params: dict) -> dict:
    """The parameters a warm refit must share with the fit it starts from."""
    return {name: value for name, value in params.items() if name not in FREE_PARAMETERS}


def same_value(a, b) -> bool:
    """Whether two parameter values configure the same model.

    Estimator-like factories (such as :class:`~skrpf.MLP`) compare by their
    parameters; other objects (classes, custom factories) by identity.
    """
    if a is b:
        return True
    if isinstance(a, BaseEstimator) and type(a) is type(b):
        return same_parameters(a.get_params(deep=False), b.get_params(deep=False))
    if isinstance(a, _SCALARS) and isinstance(b, _SCALARS):
        return type(a) is type(b) and bool(a == b)
    if isinstance(a, list | tuple) and type(a) is type(b):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return False


def same_parameters(a: dict, b: dict) -> bool:
    """Whether two parameter dicts have the same names and the same values."""
    return a.keys() == b.keys() and all(same_value(a[name], b[name]) for name in a)


def reusable_state(state: FitState | None, params: dict, n_features: int, n_outputs: int) -> FitState | None:
    """The state a warm refit may start from, or None where a cold fit is needed."""
    if state is None or (state.n_features, state.n_outputs) != (n_features, n_outputs):
        return None
    return state if same_parameters(state.params, constrained_parameters(params)) else None


def warm_start_epochs(cold_epochs: int) -> int:
    """Epochs of ``max_epochs="auto"`` in a warm refit: a share of the cold schedule, at least 1."""
    return max(1, math.ceil(WARM_START_SHARE * cold_epochs))
