"""Small synthetic data sets used by the examples, the demo and the tests."""

from __future__ import annotations

import numpy as np

__all__ = ["make_paper_toy"]


def make_paper_toy(noise: float = 0.1, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The 1-D regression problem of Perone's blog post on randomized priors.

    From Christian S. Perone, `Randomized prior functions in PyTorch
    <https://blog.christianperone.com/2019/01/randomized-prior-functions-in-pytorch/>`__
    (2019), whose figures the gallery reproduces. Twenty inputs in two
    clusters, ``linspace(0, 0.5, 10)`` and ``linspace(1, 1.5, 10)``, with
    targets ``y = x + sin(3x) + sin(12x) + noise * N(0, 1)``. The gap
    between the clusters and the regions outside ``[0, 1.5]`` are where a
    good model should be uncertain.

    Parameters
    ----------
    noise : float, default=0.1
        Standard deviation of the Gaussian noise on y.
    random_state : int, default=0
        Seed of the noise.

    Returns
    -------
    X : ndarray of shape (20, 1)
    y : ndarray of shape (20,)

    Examples
    --------
    >>> X, y = make_paper_toy()
    >>> X.shape, y.shape
    ((20, 1), (20,))
    """
    x = np.concatenate([np.linspace(0.0, 0.5, 10), np.linspace(1.0, 1.5, 10)])
    rng = np.random.RandomState(random_state)
    y = x + np.sin(3 * x) + np.sin(12 * x) + noise * rng.standard_normal(x.shape[0])
    return x.reshape(-1, 1), y
