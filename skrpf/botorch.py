"""A fitted :class:`~skrpf.RandomizedPriorRegressor` as a BoTorch model.

BoTorch's Monte Carlo acquisition functions (``qLogExpectedImprovement``,
``qUpperConfidenceBound``, ...) need a :class:`~botorch.models.model.Model`
whose posterior can be sampled, with samples differentiable in the inputs.
A randomized-prior ensemble is such a posterior already: each member is one
function draw. :class:`RandomizedPriorModel` exposes the members as an
:class:`~botorch.posteriors.ensemble.EnsemblePosterior`, through the same
differentiable module that :meth:`~skrpf.RandomizedPriorRegressor.to_torch`
returns, so ``optimize_acqf`` can follow the acquisition's gradients through
the members and priors.

This module needs ``botorch`` (``pip install "skrpf[botorch]"``) and is not
imported by ``import skrpf``.

Examples
--------
>>> import numpy as np, torch
>>> from botorch.acquisition import qUpperConfidenceBound
>>> from skrpf import MLP, RandomizedPriorRegressor
>>> from skrpf.botorch import RandomizedPriorModel
>>> X = np.random.RandomState(0).uniform(size=(20, 2))
>>> estimator = RandomizedPriorRegressor(module=MLP((16, 16)), n_estimators=4, max_epochs=20, random_state=0)
>>> model = RandomizedPriorModel(estimator.fit(X, X.sum(axis=1)))
>>> posterior = model.posterior(torch.rand(5, 3, 2, dtype=torch.float64))  # 5 batches of q=3 points
>>> posterior.values.shape  # (batch, member, q, output)
torch.Size([5, 4, 3, 1])
>>> qUpperConfidenceBound(model, beta=2.0)(torch.rand(5, 3, 2, dtype=torch.float64)).shape
torch.Size([5])
"""

from __future__ import annotations

from typing import Any

import torch
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

try:
    from botorch.models.ensemble import EnsembleModel
    from botorch.posteriors.ensemble import EnsemblePosterior
except ImportError as exc:  # an optional dependency: say how to get it
    raise ImportError(
        f"skrpf.botorch needs BoTorch, which could not be imported ({exc}); install it with "
        "pip install 'skrpf[botorch]'."
    ) from exc

__all__ = ["RandomizedPriorModel", "RandomizedPriorPosterior"]


class RandomizedPriorPosterior(EnsemblePosterior):
    """An ensemble posterior whose variance is that of the members, as the estimator's.

    :class:`~botorch.posteriors.ensemble.EnsemblePosterior` reports the
    unbiased sample variance (``ddof=1`` for equal weights), an estimate of
    the variance of a distribution the members were drawn from. This
    posterior *is* the members, equally weighted (its samples are members),
    so its variance is theirs (``ddof=0``): the square of
    ``predict(X, return_std=True, include_noise=False)``, which analytic
    acquisition functions then see.

    Parameters
    ----------
    values : torch.Tensor of shape (batch_shape, n_members, q, n_outputs)
        Every member's prediction at every point.
    """

    def __init__(self, values: Tensor):
        super().__init__(values=values, weights=None)

    @property
    def variance(self) -> Tensor:
        """The variance of the members as a ``batch_shape x q x m`` tensor (``ddof=0``)."""
        return (self.values - self.mean.unsqueeze(-3)).square().mean(dim=-3)

    @property
    def mixture_variance(self) -> Tensor:
        """The variance over members and batch dimensions together, as a ``q x m`` tensor (``ddof=0``)."""
        deviations = self.values - self.mixture_mean
        return deviations.square().mean(dim=self.mixture_dims)


class RandomizedPriorModel(EnsembleModel):
    """A BoTorch model over a fitted :class:`~skrpf.RandomizedPriorRegressor`.

    The posterior at ``X`` holds every member's prediction ``Q_k(x)`` (the
    noise-free function, prior included), one member per function draw, in
    the units of X and y; the estimator's standardisation is folded in. It is
    differentiable in ``X``. The model holds a copy of the fitted ensemble:
    refitting the estimator does not change it.

    Parameters
    ----------
    estimator : RandomizedPriorRegressor
        A fitted estimator.

    Attributes
    ----------
    network : skrpf.export.RandomizedPriorNetwork
        The members with the standardisation folded in, from
        ``estimator.to_torch()``.

    Notes
    -----
    BoTorch maximises: fit the estimator on the objective to maximise (or on
    its negative to minimise). The posterior is that of the function, without
    observation noise, as BoTorch's acquisition functions expect;
    ``observation_noise`` given as a tensor is refused, as by
    :class:`~botorch.models.ensemble.EnsembleModel`. The posterior's dtype is
    that of ``X``; the members compute in float64.
    """

    def __init__(self, estimator):
        super().__init__()
        check_is_fitted(estimator)
        self.network = estimator.to_torch(include_noise=False)
        self._num_outputs = int(estimator.n_outputs_)
        self._n_features = int(estimator.n_features_in_)

    @property
    def num_outputs(self) -> int:
        """The number of outputs ``m``: the estimator's number of targets."""
        return self._num_outputs

    @property
    def batch_shape(self) -> torch.Size:
        """The model's batch shape: empty, one ensemble for every input batch."""
        return torch.Size([])

    def forward(self, X: Tensor) -> Tensor:
        """Every member's prediction at ``X``.

        Parameters
        ----------
        X : torch.Tensor of shape (batch_shape, q, d)
            Inputs in the units of the estimator's X.

        Returns
        -------
        values : torch.Tensor of shape (batch_shape, n_members, q, m)
            In the units of y, in the dtype of ``X``.

        Raises
        ------
        ValueError
            If ``X`` has fewer than 2 dimensions or ``d`` is not the number
            of features the estimator was fitted on.
        """
        if X.dim() < 2 or X.shape[-1] != self._n_features:
            raise ValueError(
                f"X must have shape (batch_shape, q, d) with d={self._n_features} features, as the "
                f"estimator was fitted on; got shape {tuple(X.shape)}."
            )
        leading = X.shape[:-1]
        means, _ = self.network.members(X.reshape(-1, X.shape[-1]))  # (K, batch * q, m)
        values = means.reshape(means.shape[0], *leading, means.shape[-1])
        # The member axis goes just before q: (batch_shape, K, q, m).
        return values.movedim(0, -3).to(X.dtype)

    # EnsembleModel's signature, which botorch's Model declares otherwise
    # (observation_noise third): no override can match both parents.
    def posterior(  # type: ignore[override]
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        posterior_transform: Any = None,
        **kwargs: Any,
    ) -> Any:
        """The posterior at ``X``: the members, as a :class:`RandomizedPriorPosterior`.

        Parameters
        ----------
        X : torch.Tensor of shape (batch_shape, q, d)
            Inputs in the units of the estimator's X.
        output_indices : list of int or None, default=None
            The outputs to keep; None keeps all.
        posterior_transform : botorch PosteriorTransform or None, default=None
            Applied to the posterior, e.g. a ``ScalarizedPosteriorTransform``.
        **kwargs
            Passed to :meth:`EnsembleModel.posterior
            <botorch.models.ensemble.EnsembleModel.posterior>`, whose
            signature this keeps. ``observation_noise`` is refused there as
            a tensor and ignored as True: the posterior is that of the
            noise-free function.

        Returns
        -------
        posterior : RandomizedPriorPosterior
            Or what ``posterior_transform`` makes of it.
        """
        ensemble = super().posterior(X, output_indices=output_indices, **kwargs)
        posterior = RandomizedPriorPosterior(ensemble.values)
        if posterior_transform is not None:
            return posterior_transform(posterior=posterior, X=X)
        return posterior
