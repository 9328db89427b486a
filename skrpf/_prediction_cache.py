"""The member predictions of the last large ``predict`` input, kept for a repeat call.

scikit-optimize's default acquisition, ``gp_hedge``, scores the same 10,000
candidate points under three acquisition functions, and each of them calls
``predict(X, return_std=True)`` on the same array. A Gaussian process
answers that in milliseconds; the ensemble runs its 2K networks over every
row each time, most of the CPU of a Bayesian-optimisation step. The
estimator therefore keeps the member outputs of its last input of at least
``MIN_ROWS`` rows (one-row calls are cheaper to recompute than to hash) and
at most ``MAX_ROWS`` (bounded memory), keyed on the ensemble and on a digest
of the standardised input's bytes, so an array changed in place is
recomputed. Every fit replaces the ensemble, so a cached answer never
outlives it; :func:`skrpf.save` does not write the cache.
"""

from __future__ import annotations

import hashlib

import numpy as np

#: Fewest rows whose member outputs are cached.
MIN_ROWS = 1_000
#: Most rows whose member outputs are cached: 10 members' float64 means and
#: variances of one target for 50,000 rows take 8 MB.
MAX_ROWS = 50_000


def cache_key(ensemble, X: np.ndarray, batch_rows: int):
    """The key of the standardised input ``X``, or None where it is not cached."""
    if not MIN_ROWS <= X.shape[0] <= MAX_ROWS:
        return None
    digest = hashlib.blake2b(np.ascontiguousarray(X).data, digest_size=16).digest()
    return (id(ensemble), X.shape, X.dtype.str, batch_rows, digest)


def frozen(parts: list) -> list:
    """The ``(rows, Q, V)`` batches with their arrays made read-only, so that no caller changes the cache."""
    for _, Q, V in parts:
        Q.setflags(write=False)
        V.setflags(write=False)
    return parts
