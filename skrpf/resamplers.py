"""Bootstrap resamplers: how each ensemble member reweights the training data.

A resampler turns ``(n_samples, n_estimators, random_state)`` into a
``(n_estimators, n_samples)`` array of non-negative weights. Member ``k``
minimises its squared error weighted by row ``k``, so a weight of 0 drops a
sample for that member and an integer weight ``c`` counts it ``c`` times.
Weights are drawn once per fit, which is what makes each member see its own
version of the data (Osband et al., 2018, Sec. 3).

Any object with a ``sample_weights(n_samples, n_estimators, random_state)``
method can be passed as ``bootstrap=`` to
:class:`~skrpf.RandomizedPriorRegressor`.
"""

from __future__ import annotations

import numpy as np
from numpy.random import RandomState
from sklearn.base import BaseEstimator

__all__ = [
    "BaseResampler",
    "MultinomialBootstrap",
    "PoissonBootstrap",
    "ExponentialBootstrap",
    "BernoulliBootstrap",
    "NoBootstrap",
    "RESAMPLERS",
    "get_resampler",
]


class BaseResampler(BaseEstimator):
    """Base class of the built-in resamplers.

    Subclasses implement :meth:`_draw`; this class only fixes the contract.
    They derive from :class:`sklearn.base.BaseEstimator` so that their
    parameters can be searched as ``bootstrap__<param>``.
    """

    def sample_weights(self, n_samples: int, n_estimators: int, random_state: RandomState) -> np.ndarray:
        """Draw one weight per member and sample.

        Parameters
        ----------
        n_samples : int
            Number of training samples.
        n_estimators : int
            Number of ensemble members.
        random_state : numpy.random.RandomState
            Source of randomness; the only one used.

        Returns
        -------
        weights : ndarray of shape (n_estimators, n_samples)
            Non-negative weights, float64.
        """
        return np.asarray(self._draw(n_samples, n_estimators, random_state), dtype=np.float64)

    def _draw(self, n_samples: int, n_estimators: int, rng: RandomState) -> np.ndarray:
        raise NotImplementedError


class MultinomialBootstrap(BaseResampler):
    """Classic bootstrap: ``n_samples`` draws with replacement, as counts.

    Each row of weights is ``Multinomial(n_samples, 1/n_samples)``, so it sums
    to ``n_samples``; on average about 36.8% of the samples get weight 0
    (they are out-of-bag for that member).

    Examples
    --------
    >>> import numpy as np
    >>> w = MultinomialBootstrap().sample_weights(5, 3, np.random.RandomState(0))
    >>> w.shape, w.sum(axis=1).tolist()
    ((3, 5), [5.0, 5.0, 5.0])
    """

    def _draw(self, n_samples, n_estimators, rng):
        return rng.multinomial(n_samples, np.full(n_samples, 1.0 / n_samples), size=n_estimators)


class PoissonBootstrap(BaseResampler):
    """Poisson(1) counts: the bootstrap's large-sample limit, independent per sample.

    Examples
    --------
    >>> import numpy as np
    >>> w = PoissonBootstrap().sample_weights(4, 2, np.random.RandomState(0))
    >>> bool((w >= 0).all() and (w == np.round(w)).all())
    True
    """

    def _draw(self, n_samples, n_estimators, rng):
        return rng.poisson(1.0, size=(n_estimators, n_samples))


class ExponentialBootstrap(BaseResampler):
    """Bayesian bootstrap (Rubin, 1981): Exponential(1) weights, never exactly zero.

    Normalised per member, these are Dirichlet(1, ..., 1) weights; they are
    kept at mean 1 here so that the loss scale matches the other resamplers.

    Examples
    --------
    >>> import numpy as np
    >>> w = ExponentialBootstrap().sample_weights(4, 2, np.random.RandomState(0))
    >>> bool((w > 0).all())
    True
    """

    def _draw(self, n_samples, n_estimators, rng):
        return rng.exponential(1.0, size=(n_estimators, n_samples))


class BernoulliBootstrap(BaseResampler):
    """Keep each sample with probability 0.5, with weight 2 (mean weight 1).

    This is the "double-or-nothing" bootstrap of Osband et al. (2016).

    Examples
    --------
    >>> import numpy as np
    >>> w = BernoulliBootstrap().sample_weights(6, 2, np.random.RandomState(0))
    >>> sorted(set(w.ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
    """

    def _draw(self, n_samples, n_estimators, rng):
        return 2.0 * rng.binomial(1, 0.5, size=(n_estimators, n_samples))


class NoBootstrap(BaseResampler):
    """Every member sees every sample with weight 1.

    The members then differ only through their priors, initialisations and
    target noise; this is the setting of the linear-Gaussian result.

    Examples
    --------
    >>> import numpy as np
    >>> NoBootstrap().sample_weights(3, 2, np.random.RandomState(0)).tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """

    def _draw(self, n_samples, n_estimators, rng):
        return np.ones((n_estimators, n_samples))


#: The names accepted by ``bootstrap=``, mapped to their resampler classes.
RESAMPLERS: dict[str, type[BaseResampler]] = {
    "multinomial": MultinomialBootstrap,
    "poisson": PoissonBootstrap,
    "exponential": ExponentialBootstrap,
    "bernoulli": BernoulliBootstrap,
    "none": NoBootstrap,
}


def get_resampler(bootstrap):
    """Turn a ``bootstrap=`` value into a resampler object.

    Parameters
    ----------
    bootstrap : str or object
        One of the names in :data:`RESAMPLERS`, or an object with a
        ``sample_weights`` method.

    Returns
    -------
    resampler : object
        An object with a ``sample_weights`` method.

    Raises
    ------
    ValueError
        If ``bootstrap`` is an unknown name or lacks ``sample_weights``.

    Examples
    --------
    >>> get_resampler("poisson")
    PoissonBootstrap()
    """
    if isinstance(bootstrap, str):
        if bootstrap not in RESAMPLERS:
            raise ValueError(
                f"bootstrap={bootstrap!r} is not a known resampler; "
                f"use one of {sorted(RESAMPLERS)} or an object with a "
                "sample_weights(n_samples, n_estimators, random_state) method."
            )
        return RESAMPLERS[bootstrap]()
    if not callable(getattr(bootstrap, "sample_weights", None)):
        raise ValueError(
            f"bootstrap={bootstrap!r} is neither a known name ({sorted(RESAMPLERS)}) "
            "nor an object with a sample_weights(n_samples, n_estimators, "
            "random_state) method."
        )
    return bootstrap


def draw_weights(resampler, n_samples: int, n_estimators: int, rng: RandomState) -> np.ndarray:
    """Call a resampler and check what it returns.

    Parameters
    ----------
    resampler : object
        Has ``sample_weights(n_samples, n_estimators, random_state)``.
    n_samples, n_estimators : int
        The expected shape is ``(n_estimators, n_samples)``.
    rng : numpy.random.RandomState
        Passed on to the resampler.

    Returns
    -------
    weights : ndarray of shape (n_estimators, n_samples), float64

    Raises
    ------
    ValueError
        If the weights have the wrong shape, are not finite or are negative.
        A member whose weights are all zero is allowed: it sees no data and
        stays at its prior.
    """
    weights = np.asarray(resampler.sample_weights(n_samples, n_estimators, rng), dtype=np.float64)
    expected = (n_estimators, n_samples)
    if weights.shape != expected:
        raise ValueError(
            f"bootstrap resampler {resampler!r} returned weights of shape {weights.shape}; "
            f"expected (n_estimators, n_samples) = {expected}."
        )
    if not np.all(np.isfinite(weights)):
        raise ValueError(f"bootstrap resampler {resampler!r} returned non-finite weights.")
    if np.any(weights < 0):
        raise ValueError(
            f"bootstrap resampler {resampler!r} returned negative weights "
            f"(min {weights.min():g}); weights must be >= 0."
        )
    return weights
