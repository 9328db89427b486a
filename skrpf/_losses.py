"""Training criteria beyond the squared error: heteroscedastic members and classifiers.

With ``noise="heteroscedastic"`` every member network outputs ``2 * t``
columns for ``t`` targets: the first ``t`` are the trainable part of the mean
(the frozen prior is folded into the targets, as for the squared error), the
last ``t`` a raw value mapped to a variance by :func:`noise_variance`. Members
are trained with the Gaussian negative log-likelihood, as in deep ensembles
(Lakshminarayanan et al., 2017).

Members of :class:`~skrpf.RandomizedPriorClassifier` output logits and are
trained with the cross-entropy of :class:`WeightedCrossEntropy`.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.functional import softplus

#: Smallest noise variance a member can predict, in the standardised units
#: the members are trained in. It keeps the likelihood bounded when a member
#: fits a training point exactly.
MIN_NOISE_VARIANCE = 1e-6


def noise_variance(raw: torch.Tensor) -> torch.Tensor:
    """Map the raw variance outputs of a member to positive variances."""
    return softplus(raw) + MIN_NOISE_VARIANCE


def split_mean_variance(output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split member outputs (..., 2t) into the mean part (..., t) and the variance (..., t)."""
    n_targets = output.shape[-1] // 2
    return output[..., :n_targets], noise_variance(output[..., n_targets:])


class WeightedGaussianNLL(nn.Module):
    """Bootstrap-weighted Gaussian negative log-likelihood of heteroscedastic members.

    Summed over members and targets and averaged over the batch, like
    :class:`~skrpf._training.WeightedSquaredError`, so the same ``alpha`` and
    mini-batch scaling apply. The constant ``log(2 pi) / 2`` is included so
    that the loss is the per-point NLL itself.
    """

    def forward(self, prediction: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Loss of outputs (K, B, 2t) against targets (K, B, t) with weights (K, B)."""
        mean, variance = split_mean_variance(prediction)
        nll = 0.5 * (torch.log(variance) + (targets - mean).square() / variance + math.log(2 * math.pi))
        return (weights * nll.sum(dim=-1)).sum() / prediction.shape[1]


class WeightedCrossEntropy(nn.Module):
    """Bootstrap-weighted cross-entropy of classifier members, with their prior logits.

    A classifier member's logits are ``f_k(x) + beta * p_k(x)``: the frozen
    prior cannot be folded into a class label as it is into a regression
    target, so the targets carry both, ``[one-hot label | beta * p_k(x)]``,
    computed once before training. Summed over members and averaged over
    the batch, like :class:`~skrpf._training.WeightedSquaredError`, so the
    same ``alpha`` and mini-batch scaling apply.
    """

    def forward(self, prediction: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Loss of trainable logits (K, B, C) against targets (K, B, 2C) with weights (K, B)."""
        n_classes = prediction.shape[-1]
        labels, prior_logits = targets[..., :n_classes], targets[..., n_classes:]
        log_proba = torch.log_softmax(prediction + prior_logits, dim=-1)
        nll = -(labels * log_proba).sum(dim=-1)
        return (weights * nll).sum() / prediction.shape[1]
