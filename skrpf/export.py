"""A fitted ensemble as a standalone, differentiable PyTorch module.

:meth:`RandomizedPriorRegressor.to_torch <skrpf.RandomizedPriorRegressor.to_torch>`
returns a :class:`RandomizedPriorNetwork`: the members and priors with the
input and target standardisation folded in, mapping raw inputs to the
predictive mean and standard deviation in the units of y. It needs neither
the estimator nor scikit-learn, so it can be traced, exported, moved to a
device or differentiated with respect to its inputs, as acquisition
functions in Bayesian optimisation need.

The same module, built around the estimator's own ensemble without a copy,
computes the gradients of ``predict(..., return_mean_grad=True)`` and the
members of :class:`skrpf.botorch.RandomizedPriorModel`: one definition of the
predictions as a function of raw X serves all three.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ._ensemble import RandomizedPriorEnsemble
from ._losses import split_mean_variance

__all__ = ["RandomizedPriorNetwork"]


class RandomizedPriorNetwork(nn.Module):
    """The predictive distribution of a fitted :class:`~skrpf.RandomizedPriorRegressor`, in torch.

    Built by :meth:`~skrpf.RandomizedPriorRegressor.to_torch`; see there.
    ``forward(x)`` returns the mean and standard deviation that
    ``predict(X, return_std=True)`` returns, as differentiable functions of
    ``x``, without its float32 rounding (see Notes).

    Parameters
    ----------
    ensemble : torch.nn.Module
        The fitted ``RandomizedPriorEnsemble`` (``estimator.ensemble_``):
        members and priors, mapping standardised inputs to standardised
        member outputs of shape (n_estimators, batch, n_outputs), or
        (n_estimators, batch, 2 * n_outputs) when ``heteroscedastic``.
    x_mean, x_scale : ndarray of shape (n_features,)
        The input standardisation: the members see ``(x - x_mean) / x_scale``.
    y_mean, y_scale : ndarray of shape (n_outputs,)
        The target standardisation: outputs are ``out * y_scale + y_mean``.
    noise_variance : ndarray of shape (n_outputs,)
        The homoscedastic noise variance in the units of y (zeros for
        ``noise="none"``; unused when ``heteroscedastic``).
    heteroscedastic : bool
        Whether the members also output their own noise variance
        (``noise="heteroscedastic"``).
    include_noise : bool, default=True
        Whether the standard deviation of :meth:`forward` includes the
        observation noise, as ``predict``'s ``include_noise``.

    Attributes
    ----------
    n_members : int
        The number of members.

    Notes
    -----
    The module computes in the dtype of its tensors (float64, as
    ``predict``), whatever the dtype of ``x``. ``predict`` rounds member
    outputs to float32 so that a row's prediction does not depend on the
    batch it is in; this module does not, so its outputs differ from
    ``predict``'s by about 1e-7 relative, and are smooth in ``x``.

    The module is in eval mode; :meth:`train` would put members with
    dropout or batch normalisation in training mode (the priors always stay
    in eval mode).
    """

    # Buffers, registered in __init__; declared for the type checker.
    x_mean: torch.Tensor
    x_scale: torch.Tensor
    y_mean: torch.Tensor
    y_scale: torch.Tensor
    noise_variance: torch.Tensor

    def __init__(
        self,
        ensemble: RandomizedPriorEnsemble,
        x_mean: np.ndarray,
        x_scale: np.ndarray,
        y_mean: np.ndarray,
        y_scale: np.ndarray,
        noise_variance: np.ndarray,
        heteroscedastic: bool,
        include_noise: bool = True,
    ):
        super().__init__()
        self.ensemble = ensemble
        self.n_members = ensemble.n_members
        self.heteroscedastic = bool(heteroscedastic)
        self.include_noise = bool(include_noise)
        # The ensemble's dtype and device, so that the module moves and casts as one.
        reference = next(iter(ensemble.state_dict().values()), torch.empty(0, dtype=torch.float64))
        for name, value in (
            ("x_mean", x_mean),
            ("x_scale", x_scale),
            ("y_mean", y_mean),
            ("y_scale", y_scale),
            ("noise_variance", noise_variance),
        ):
            tensor = torch.as_tensor(np.asarray(value, dtype=np.float64), device=reference.device)
            self.register_buffer(name, tensor.to(reference.dtype))
        self.eval()

    def members(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every member's mean and noise variance at ``x``, in the units of y.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, n_features)
            Raw inputs, in the units of X.

        Returns
        -------
        means : torch.Tensor of shape (n_members, batch, n_outputs)
            Member ``k``'s prediction ``Q_k(x)``, as ``predict_members``.
        noise_variances : torch.Tensor of shape (n_members, batch, n_outputs)
            Member ``k``'s observation-noise variance at ``x``: its own output
            for the heteroscedastic model, the fitted constant otherwise.
        """
        x = x.to(self.x_mean.dtype)
        standardised = (x - self.x_mean) / self.x_scale
        # Members and priors as two stacks, whatever the grad mode
        # (joint_stack=False): predict_members otherwise joins them into a
        # cached stack when grad is off, which a trace would record as
        # changing constants.
        if self.heteroscedastic:
            # (mean, raw variance) outputs; the prior acts on the mean only.
            out, variance = split_mean_variance(self.ensemble(standardised))
            variance = variance * self.y_scale**2
            prior = self.ensemble.prior_term(standardised)
            out = out if prior is None else out + prior
        else:
            out = self.ensemble.predict_members(standardised, joint_stack=False)
            variance = self.noise_variance.expand_as(out)
        return out * self.y_scale + self.y_mean, variance

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The predictive mean and standard deviation at ``x``.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, n_features)
            Inputs as the estimator's ``predict`` takes them, of any float
            dtype (see Notes of the class).

        Returns
        -------
        mean : torch.Tensor of shape (batch, n_outputs)
            The mean of the members.
        std : torch.Tensor of shape (batch, n_outputs)
            ``sqrt(variance of the member means (ddof=0) + mean noise
            variance)``, or the spread alone if ``include_noise`` is False:
            the std of ``predict(X, return_std=True)``. Both keep the target
            axis, also for a single target.
        """
        means, noise_variances = self.members(x)
        mean = means.mean(dim=0)
        variance = (means - mean).square().mean(dim=0)
        if self.include_noise:
            variance = variance + noise_variances.mean(dim=0)
        return mean, variance.sqrt()


def _network_of(estimator, include_noise: bool = True, copy_ensemble: bool = True) -> RandomizedPriorNetwork:
    """A :class:`RandomizedPriorNetwork` over a fitted estimator.

    Parameters
    ----------
    estimator : RandomizedPriorRegressor
        Fitted.
    include_noise : bool, default=True
        See :class:`RandomizedPriorNetwork`.
    copy_ensemble : bool, default=True
        Deep-copy the ensemble, so that the module is independent of the
        estimator (what :meth:`~skrpf.RandomizedPriorRegressor.to_torch`
        returns); False shares it, for the estimator's own gradient
        computations, which then cost no copy.

    Returns
    -------
    network : RandomizedPriorNetwork
    """
    ensemble = estimator.ensemble_
    return RandomizedPriorNetwork(
        copy.deepcopy(ensemble) if copy_ensemble else ensemble,
        estimator._x_mean,
        estimator._x_scale,
        estimator._y_mean,
        estimator._y_scale,
        estimator._noise_var,
        heteroscedastic=estimator.noise_model_ == "heteroscedastic",
        include_noise=include_noise,
    )
