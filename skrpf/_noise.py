"""The homoscedastic noise model: one noise variance per target, from out-of-bag residuals.

The members' spread measures model uncertainty only. ``noise="homoscedastic"``
adds one observation-noise variance per target, estimated after training from
rows that some members did not train on (bootstrap weight 0): those members'
mean predicts the row out of sample, at no extra training cost.
"""

from __future__ import annotations

import numpy as np
import torch

from ._losses import MIN_NOISE_VARIANCE

#: Accepted values of the ``noise`` parameter.
NOISE_MODELS = ("none", "homoscedastic", "heteroscedastic")


def out_of_bag_noise_variance(
    ensemble, X_t, prior_terms, Y, weights, sample_weight, y_mean, y_scale, batch_rows
) -> np.ndarray:
    """Homoscedastic noise variance per target from out-of-bag residuals, in y's units.

    Row ``i`` is predicted by the mean of the members that did not train on
    it (bootstrap weight 0). The noise variance is the weighted mean squared
    out-of-bag residual minus the mean squared member spread at the training
    rows, so that the predictive variance (noise plus spread) matches the
    out-of-sample squared error on average. It is floored at a tiny positive
    value. The pass streams over the rows in batches, in float32, and reuses
    the prior terms computed for the targets, so it costs one forward pass of
    the trainable members and no copy of the data.
    """
    out_of_bag = weights == 0  # (K, n)
    row_weight = np.where(out_of_bag.any(axis=0), sample_weight, 0.0)
    squared_error = np.zeros(Y.shape[1])
    spread = np.zeros(Y.shape[1])
    with torch.inference_mode():
        for start in range(0, X_t.shape[0], batch_rows):
            rows = slice(start, start + batch_rows)
            Q = ensemble(X_t[rows])
            if prior_terms is not None:
                Q = Q + prior_terms[:, rows]
            Q = Q.cpu().numpy().astype(np.float64) * y_scale + y_mean
            mask = out_of_bag[:, rows]
            oob_mean = np.einsum("kn,knt->nt", mask, Q) / np.maximum(mask.sum(axis=0), 1)[:, None]
            squared_error += row_weight[rows] @ (Y[rows] - oob_mean) ** 2
            spread += row_weight[rows] @ Q.var(axis=0)
    total = row_weight.sum()
    floor = MIN_NOISE_VARIANCE * y_scale**2
    if total == 0:
        return floor
    return np.maximum((squared_error - spread) / total, floor)


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
            'noise="homoscedastic" estimates the noise from rows a member did not train on; '
            "with a bootstrap that leaves no row out this needs n_estimators >= 2. Use a "
            'resampling bootstrap such as "multinomial", more members, or another noise model.'
        )
    folds = rng.permutation(n_samples) % n_members
    weights = weights.copy()
    weights[folds, np.arange(n_samples)] = 0.0
    return weights
