"""What the rows left out of members tell: the homoscedastic noise, and scores of the fit.

The members' spread measures model uncertainty only. ``noise="homoscedastic"``
adds one observation-noise variance per target, estimated after training from
rows that some members did not train on (bootstrap weight 0): those members'
mean predicts the row out of sample, at no extra training cost. The same pass
scores a fit for the choices among candidates: the out-of-bag squared error
(activations) and predictive log-likelihood (noise models).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils import check_random_state

from ._losses import MIN_NOISE_VARIANCE, split_mean_variance

#: Accepted values of the ``noise`` parameter: ``"auto"`` and the noise models.
NOISE_MODELS = ("auto", "none", "homoscedastic", "heteroscedastic")

#: Rows of the out-of-bag pass, at most. One variance per target needs no
#: more: from 20,000 residuals its relative standard error is about
#: sqrt(2 / 20,000) = 1%, far below the spread between fits. Larger training
#: sets are subsampled, so the pass costs the same at any n (it was about 7%
#: of a two-epoch fit of ten 2x256 MLPs on 50,000 rows).
OUT_OF_BAG_MAX_ROWS = 20_000


@dataclass(frozen=True)
class OutOfBagScores:
    """What one pass over the out-of-bag rows tells about a fitted ensemble.

    Row ``i`` is predicted by the mean of the ``m_i`` members that did not
    train on it (bootstrap weight 0). If the members behave like posterior
    draws, the squared out-of-bag residual has expectation
    ``noise + (1 + 1/m_i) * s_i**2``, where ``s_i**2`` is the spread of a
    member at a point it did not see: the noise draw, the error of the
    posterior mean, and the error of averaging only ``m_i`` draws. ``s_i**2``
    is estimated by the unbiased variance among those ``m_i`` members (the
    whole ensemble's variance where ``m_i = 1``).

    Subtracting the spread of the out-of-bag members, not the whole
    ensemble's, matters: the members that trained on a row agree there, so
    the whole ensemble's spread underestimates the out-of-bag error, and the
    noise of nearly noise-free targets came out far too large.
    """

    #: Noise variance per target, in y's units. Homoscedastic members: the
    #: weighted mean of ``residual**2 - (1 + 1/m_i) * s_i**2``, floored at a
    #: tiny positive value. Heteroscedastic members: the weighted mean of
    #: their own predicted variances, out of bag.
    noise_variance: np.ndarray
    #: Weighted mean squared error of the out-of-bag means, summed over
    #: targets, in the networks' units: how well the members predict rows
    #: they did not train on, a score to compare candidates trained with the
    #: same bootstrap weights, as cross-validation would.
    squared_error: float
    #: Weighted mean negative log-likelihood of the rows, summed over
    #: targets, in y's units, under their out-of-bag predictive distribution:
    #: Gaussian with the out-of-bag mean and the variance
    #: ``noise_i + (1 + 1/m_i) * s_i**2``, where ``noise_i`` is the
    #: homoscedastic estimate or the mean of the out-of-bag members' own
    #: predicted variances. It scores the noise model as well as the mean,
    #: as a GP's marginal likelihood scores a kernel.
    log_loss: float


def out_of_bag_statistics(
    ensemble,
    X_t,
    prior_terms,
    Y,
    weights,
    sample_weight,
    y_mean,
    y_scale,
    batch_rows,
    max_rows=None,
    random_state=None,
    heteroscedastic=False,
) -> OutOfBagScores:
    """The noise estimate and the scores of a fitted ensemble, from one pass over its out-of-bag rows.

    ``Y`` is in y's units; the networks' units are ``(Y - y_mean) / y_scale``.
    ``heteroscedastic`` members output a mean and a raw variance per target
    (see :func:`~skrpf._losses.split_mean_variance`). What is computed is
    described in :class:`OutOfBagScores`.

    The pass streams over the rows in batches, in float32, and reuses the
    prior terms computed for the targets. Each member is evaluated on its
    own out-of-bag rows only (about a third of them under the multinomial
    bootstrap, see :func:`_out_of_bag_members`), plus the few rows that have
    a single out-of-bag member, so the pass costs well under one forward
    pass of the trainable members. With more than ``max_rows`` rows, a
    uniform random subset of ``max_rows`` of them (drawn from
    ``random_state``) is used instead of all.

    Returns
    -------
    OutOfBagScores
        NaN scores, and the noise floor, when no row was left out.
    """
    X_t, prior_terms, Y, weights, sample_weight = _subsample(
        X_t, prior_terms, Y, weights, sample_weight, max_rows, random_state
    )
    row_weight = np.where((weights == 0).any(axis=0), sample_weight, 0.0)
    total = row_weight.sum()
    floor = MIN_NOISE_VARIANCE * y_scale**2
    if total == 0:
        return OutOfBagScores(np.broadcast_to(floor, Y.shape[1]).copy(), float("nan"), float("nan"))
    # Per row, in y's units: the out-of-bag mean, the variance of that mean
    # as a guess of a new member's value ((1 + 1/m) s^2) and, for
    # heteroscedastic members, their noise.
    mean, spread, member_noise = (np.empty_like(Y) for _ in range(3))
    passes = _out_of_bag_passes(ensemble, X_t, prior_terms, weights, batch_rows, heteroscedastic)
    for rows, oob_mean, oob_spread, oob_noise, m in passes:
        mean[rows] = oob_mean * y_scale + y_mean
        spread[rows] = (1 + 1 / np.maximum(m, 1)[:, None]) * oob_spread * y_scale**2
        if oob_noise is not None:
            member_noise[rows] = oob_noise * y_scale**2
    squared_residual = (Y - mean) ** 2
    squared_error = float(row_weight @ (squared_residual / y_scale**2).sum(axis=1)) / total
    if heteroscedastic:
        noise_variance = (row_weight @ member_noise) / total
        variance = member_noise + spread
    else:
        noise_variance = np.maximum((row_weight @ (squared_residual - spread)) / total, floor)
        variance = noise_variance + spread
    variance = np.maximum(variance, floor)
    log_loss = 0.5 * (np.log(2 * np.pi * variance) + squared_residual / variance)
    return OutOfBagScores(noise_variance, squared_error, float(row_weight @ log_loss.sum(axis=1)) / total)


def _subsample(X_t, prior_terms, Y, weights, sample_weight, max_rows, random_state):
    """The rows of the out-of-bag pass: all, or ``max_rows`` of them drawn uniformly from ``random_state``."""
    if max_rows is None or X_t.shape[0] <= max_rows:
        return X_t, prior_terms, Y, weights, sample_weight
    keep = np.sort(check_random_state(random_state).choice(X_t.shape[0], max_rows, replace=False))
    keep_t = torch.as_tensor(keep, device=X_t.device)
    prior_terms = None if prior_terms is None else prior_terms[:, keep_t]
    return X_t[keep_t], prior_terms, Y[keep], weights[:, keep], sample_weight[keep]


def _out_of_bag_passes(ensemble, X_t, prior_terms, weights, batch_rows, heteroscedastic=False):
    """Per batch of rows: the slice, and the out-of-bag members' mean, spread, noise and count there."""
    out_of_bag = weights == 0  # (K, n)
    n_out_of_bag = out_of_bag.sum(axis=0)
    with torch.inference_mode():
        for start in range(0, X_t.shape[0], batch_rows):
            rows = slice(start, start + batch_rows)
            prior = None if prior_terms is None else prior_terms[:, rows]
            m = n_out_of_bag[rows]
            oob_mean, spread, noise = _out_of_bag_members(
                ensemble, X_t[rows], prior, out_of_bag[:, rows], m, heteroscedastic
            )
            yield rows, oob_mean, spread, noise, m


def _out_of_bag_members(ensemble, X, prior, out_of_bag, n_out_of_bag, heteroscedastic=False):
    """Mean and unbiased variance, per row, of the members that did not train on it.

    Member ``k`` gets only its own out-of-bag rows, gathered into a
    (K, m_max, d) batch padded to the largest count (padding entries are
    evaluated but dropped), so the members run on about ``K * n / e`` rows
    rather than ``K * n`` under the multinomial bootstrap. Rows with a
    single out-of-bag member get the whole ensemble's variance instead,
    from one more pass over those rows only.

    Parameters
    ----------
    ensemble : callable
        Maps (K, rows, d) inputs, one batch per member, to (K, rows, t), or
        to (K, rows, 2t) for ``heteroscedastic`` members.
    X : torch.Tensor of shape (B, d)
    prior : torch.Tensor of shape (K, B, t) or None
        The prior terms to add to the members' outputs.
    out_of_bag : ndarray of bool, shape (K, B)
    n_out_of_bag : ndarray of int, shape (B,)
    heteroscedastic : bool
        Whether the members also predict a noise variance.

    Returns
    -------
    mean, spread : ndarray of shape (B, t), float64
        In the units the members were trained in; 0 where no member left
        the row out.
    noise : ndarray of shape (B, t), float64, or None
        The mean of those members' predicted noise variances; None unless
        ``heteroscedastic``.
    """
    n_members, n_rows = out_of_bag.shape
    counts = out_of_bag.sum(axis=1)
    # Each member's out-of-bag rows first, in order, then the rest (padding).
    order = np.argsort(~out_of_bag, axis=1, kind="stable")[:, : max(int(counts.max()), 1)]
    valid = np.arange(order.shape[1]) < counts[:, None]
    index = torch.as_tensor(order, device=X.device)
    values, noise = _members_with_prior(ensemble, X[index], prior, index, heteroscedastic)
    values = values[valid]  # (pairs, t)
    row_of = order[valid]
    m = np.maximum(n_out_of_bag, 1)[:, None]
    mean = _sum_by_row(row_of, values, n_rows) / m
    spread = _sum_by_row(row_of, (values - mean[row_of]) ** 2, n_rows) / np.maximum(m - 1, 1)
    single = np.flatnonzero(n_out_of_bag == 1)
    if single.size:
        single_index = torch.as_tensor(single, device=X.device)
        single_values, _ = _members_with_prior(
            ensemble, X[single_index], prior, single_index, heteroscedastic
        )
        spread[single] = single_values.var(axis=0)
    if noise is not None:
        noise = _sum_by_row(row_of, noise[valid], n_rows) / m
    return mean, spread, noise


def _members_with_prior(
    ensemble, x, prior, index, heteroscedastic=False
) -> tuple[np.ndarray, np.ndarray | None]:
    """``f_k(x) + prior term`` and the members' noise variances (None unless ``heteroscedastic``), float64.

    ``index`` picks the prior terms' rows (per member if 2-D).
    """
    Q = ensemble(x)
    noise = None
    if heteroscedastic:
        Q, variance = split_mean_variance(Q)
        noise = variance.cpu().numpy().astype(np.float64)
    if prior is not None:
        rows = index if index.dim() == 2 else index.expand(Q.shape[0], -1)
        Q = Q + torch.gather(prior, 1, rows.unsqueeze(-1).expand(-1, -1, prior.shape[-1]))
    return Q.cpu().numpy().astype(np.float64), noise


def _sum_by_row(row_of: np.ndarray, values: np.ndarray, n_rows: int) -> np.ndarray:
    """Sum the rows of ``values`` (pairs, t) into (n_rows, t) by the row numbers ``row_of``."""
    return np.column_stack([np.bincount(row_of, weights=v, minlength=n_rows) for v in values.T])


def ensure_out_of_bag_rows(weights: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """Leave every row out of at least one member when the resampler rarely does.

    Out-of-bag residuals need members that did not see a row. When fewer
    than a tenth of the rows have such a member (``bootstrap="none"`` or
    ``"exponential"``), the rows are dealt at random into K folds and member
    ``k`` gets weight 0 on fold ``k``: cross-fitting by the members
    themselves, at no extra training cost.
    """
    n_members, n_samples = weights.shape
    if (weights == 0).any(axis=0).mean() >= 0.1:
        return weights
    if n_members < 2:
        raise ValueError(
            'noise="homoscedastic" estimates the noise, and noise="auto" on 201 to 10,000 rows '
            "chooses it, from rows a member did not train on; with a bootstrap that leaves no row "
            'out this needs n_estimators >= 2. Use a resampling bootstrap such as "multinomial", '
            "more members, or another noise model."
        )
    folds = rng.permutation(n_samples) % n_members
    weights = weights.copy()
    weights[folds, np.arange(n_samples)] = 0.0
    return weights
