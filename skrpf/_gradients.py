"""Gradients of the predictive mean and std with respect to X, for scikit-optimize.

``predict(X, return_std=True, return_mean_grad=True, return_std_grad=True)``
follows the contract of :meth:`skopt.learning.GaussianProcessRegressor.predict`,
which skopt's acquisition functions call when they optimise with L-BFGS: one
row of X, gradients of shape (n_features,), values first. The gradients are
computed by autograd through the members and priors, standardisation
included: for the default stacks of MLPs, from every member's gradient in
one backward pass and a closed form (:func:`_gradients_from_members`);
otherwise through the module that
:meth:`~skrpf.RandomizedPriorRegressor.to_torch` exports.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import torch

from ._ensemble import BatchedSequential, LoopStack
from ._stack_gradients import forward_stack
from .export import _network_of


def predict_with_gradients(
    estimator,
    X,
    return_std: bool,
    return_cov: bool,
    return_mean_grad: bool,
    return_std_grad: bool,
    include_noise: bool,
) -> tuple:
    """:meth:`~skrpf.RandomizedPriorRegressor.predict` with gradients; see its docstring.

    Parameters
    ----------
    estimator : RandomizedPriorRegressor
        Fitted.
    X : array-like of shape (1, n_features)
        One row.
    return_std, return_cov, return_mean_grad, return_std_grad, include_noise : bool
        As in ``predict``; at least one of the gradient flags is True.

    Returns
    -------
    values : tuple of ndarray
        The mean, then the std, the mean's and the std's gradients, each if
        asked for, with the shapes ``predict`` documents.

    Raises
    ------
    ValueError
        With ``return_cov=True``, with ``return_std_grad=True`` but not
        ``return_std``, and for X of more than one row; skopt's messages
        start these errors.
    """
    if return_cov:
        raise ValueError(
            "return_mean_grad and return_std_grad cannot be combined with return_cov=True; "
            "pass return_std=True for the std and its gradient."
        )
    if return_std_grad and not return_std:
        raise ValueError(
            "Not returning std_gradient without returning the std: pass return_std=True "
            "together with return_std_grad=True."
        )
    # The values are exactly predict's (validation of X included); only the
    # gradients come from the float64 module, which predict's float32 rounding
    # would turn into a staircase.
    mean, std = estimator.predict(X, return_std=True, include_noise=include_noise)
    if mean.shape[0] != 1:
        raise ValueError(
            f"Not implemented for n_samples > 1: gradients are computed for one row of X, got "
            f"{mean.shape[0]} rows. Call predict once per row, e.g. with X[i : i + 1]."
        )
    # Already validated by predict: a conversion only (check_array again
    # would cost a third of the call; skopt's L-BFGS makes thousands).
    row = np.asarray(X, dtype=np.float64)
    if _has_member_gradients(estimator):
        # The noise variance is constant in x: it enters the std's gradient through the std alone.
        mean_grad, std_grad = _gradients_from_members(estimator, row, std[0])
        gradients = [
            g for g, wanted in ((mean_grad, return_mean_grad), (std_grad, return_std_grad)) if wanted
        ]
        gradients = [estimator._squeeze(g, axis=1) for g in gradients]
        values = (mean, std) if return_std else (mean,)
        return (*values, *gradients)
    network = _network_of(estimator, include_noise=include_noise, copy_ensemble=False)
    # A copy: a DataFrame's array can be read-only, which torch warns about when sharing it.
    x = torch.tensor(row, dtype=network.x_mean.dtype, device=network.x_mean.device, requires_grad=True)
    wanted = []
    with torch.enable_grad():
        mean_t, std_t = network(x)
        if return_mean_grad:
            wanted.append(_jacobian(mean_t[0], x))
        if return_std_grad:
            # sqrt has no derivative at 0 (a single member without noise):
            # there the std is flat at its minimum, and skopt takes 0 too.
            jacobian = _jacobian(std_t[0], x)
            wanted.append(torch.where(std_t[0] > 0, jacobian, torch.zeros_like(jacobian)))
    gradients = [estimator._squeeze(g.detach().cpu().numpy(), axis=1) for g in wanted]
    values = (mean, std) if return_std else (mean,)
    return (*values, *gradients)


def _has_member_gradients(estimator) -> bool:
    """Whether :func:`_gradients_from_members` applies: batched MLP stacks with homoscedastic noise."""
    ensemble = estimator.ensemble_
    priors = ensemble.priors
    return (
        estimator.noise != "heteroscedastic"
        and isinstance(ensemble.members, BatchedSequential)
        and (priors is None or ensemble.can_cap_spread())
    )


def _gradients_from_members(estimator, row: np.ndarray, std: np.ndarray) -> tuple:
    """The mean's and the std's gradients, (n_features, n_outputs) each, from one backward pass.

    The general path (the exported module, one backward pass per output and
    per value) costs three times as much as a prediction; skopt's L-BFGS
    calls it thousands of times per query. Here every member gets copies of
    the row of its own, one per output and one more for the priors' hidden
    features (the stacks take a batch per member), so that a single backward
    pass of a sum returns each member's gradient ``dQ_k / dx`` and the
    gradient of each prior's ``||h_k(x)||^2``, from which the mean's and the
    (capped) std's gradients follow in closed form:

    * ``d mean = mean_k dQ_k``;
    * ``d var = 2 mean_k (Q_k - mean) (dQ_k - d mean)`` for the spread, or,
      where the spread is capped at the priors' variance
      ``mean_k v_w ||h_k||^2 + v_b``, that variance's gradient;
    * ``d std = d var / (2 std)``, and 0 where the std is 0.

    ``std`` is ``predict``'s std at the row, in the units of y.
    """
    ensemble = estimator.ensemble_
    members = cast(BatchedSequential, ensemble.members)
    priors = ensemble.priors
    capped = ensemble.cap_spread_at_prior
    device = ensemble.device
    K, n_outputs = ensemble.n_members, estimator.n_outputs_
    x_mean = torch.as_tensor(estimator._x_mean, dtype=torch.float64, device=device)
    x_scale = torch.as_tensor(estimator._x_scale, dtype=torch.float64, device=device)
    # A copy: a DataFrame's array can be read-only, which torch warns about when sharing it.
    standardised = (torch.tensor(row, dtype=torch.float64, device=device) - x_mean) / x_scale
    copies = n_outputs + int(capped)
    x = standardised.expand(K, copies, -1).clone().requires_grad_(True)
    outputs = torch.arange(n_outputs, device=device)
    with torch.enable_grad():
        out = forward_stack(x, members.layers, tuple(members._tensors().values()))
        if priors is not None:
            prior_stack = cast(BatchedSequential | LoopStack, priors)
            hidden = cast(torch.Tensor, prior_stack.output_layer_inputs(x))
            weight, bias = prior_stack.output_layer()
            prior = hidden @ weight if bias is None else torch.baddbmm(bias, hidden, weight)
            out = out + ensemble.prior_scale * prior
        # Member k's output j, at copy j: (K, n_outputs).
        Q = out[:, outputs, outputs]
        total = Q.sum()
        if capped:
            squared_norms = hidden[:, n_outputs].square().sum(dim=-1)  # (K,)
            total = total + squared_norms.sum()
        (gradient,) = torch.autograd.grad(total, x)
    y_scale = torch.as_tensor(estimator._y_scale, dtype=torch.float64, device=device)
    # In the units of y and of X.
    Q = Q.detach() * y_scale
    dQ = gradient[:, :n_outputs] * y_scale.view(1, -1, 1) / x_scale  # (K, n_outputs, n_features)
    deviations = Q - Q.mean(dim=0)
    mean_grad = dQ.mean(dim=0)
    variance = deviations.square().mean(dim=0)
    variance_grad = 2 * (deviations.unsqueeze(-1) * (dQ - mean_grad)).mean(dim=0)
    if capped:
        weight_variance, bias_variance = ensemble.prior_output_variances()
        squared_norm = squared_norms.detach().mean()
        cap = (squared_norm * weight_variance + bias_variance) * y_scale**2
        cap_grad = torch.outer(weight_variance * y_scale**2, gradient[:, n_outputs].mean(dim=0) / x_scale)
        variance_grad = torch.where((variance > cap).unsqueeze(-1), cap_grad, variance_grad)
    std_t = torch.as_tensor(np.asarray(std, dtype=np.float64), device=device)
    std_grad = torch.where(
        (std_t > 0).unsqueeze(-1), variance_grad / (2 * std_t.clamp_min(1e-300)).unsqueeze(-1), 0.0
    )
    return mean_grad.t().cpu().numpy(), std_grad.t().cpu().numpy()


def _jacobian(outputs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """d outputs[j] / d x[0, i] as an (n_features, n_outputs) tensor, by one backward pass per output."""
    columns = [torch.autograd.grad(value, x, retain_graph=True)[0][0] for value in outputs]
    return torch.stack(columns, dim=1)
