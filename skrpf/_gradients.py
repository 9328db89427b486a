"""Gradients of the predictive mean and std with respect to X, for scikit-optimize.

``predict(X, return_std=True, return_mean_grad=True, return_std_grad=True)``
follows the contract of :meth:`skopt.learning.GaussianProcessRegressor.predict`,
which skopt's acquisition functions call when they optimise with L-BFGS: one
row of X, gradients of shape (n_features,), values first. The gradients are
computed by autograd through the members and priors, standardisation
included, by the same module that :meth:`~skrpf.RandomizedPriorRegressor.to_torch`
exports.
"""

from __future__ import annotations

import numpy as np
import torch

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
    network = _network_of(estimator, include_noise=include_noise, copy_ensemble=False)
    # Already validated by predict: a conversion only (check_array again
    # would cost a third of the call; skopt's L-BFGS makes thousands).
    row = np.asarray(X, dtype=np.float64)
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


def _jacobian(outputs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """d outputs[j] / d x[0, i] as an (n_features, n_outputs) tensor, by one backward pass per output."""
    columns = [torch.autograd.grad(value, x, retain_graph=True)[0][0] for value in outputs]
    return torch.stack(columns, dim=1)
