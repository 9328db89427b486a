"""Gradients of the predictive mean and std with respect to X, for scikit-optimize.

``predict(X, return_std=True, return_mean_grad=True, return_std_grad=True)``
follows the contract of :meth:`skopt.learning.GaussianProcessRegressor.predict`,
which skopt's acquisition functions call when they optimise with L-BFGS: one
row of X, gradients of shape (n_features,), values first. The gradients are
exact, standardisation included: for batched stacks of the MLPs' usual
activations on the CPU, from every member's gradient by forward-mode
differentiation in numpy (:mod:`skrpf._forward_mode`) and a closed form
(:func:`_gradients_by_forward_mode`), about a quarter of a millisecond a
call; otherwise by autograd through the module that
:meth:`~skrpf.RandomizedPriorRegressor.to_torch` exports.
"""

from __future__ import annotations

import numpy as np
import torch

from . import _validation as checks
from ._base import check_finite_output
from ._ensemble import BatchedSequential
from ._forward_mode import forward_with_tangents, per_stack, supports
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
    standardised = estimator._standardised_input(X)  # validates X
    _check_one_row(standardised.shape[0])
    stack = _forward_mode_stack(estimator)
    if stack is not None:
        layers, arrays, prior_variances = stack
        mean, std, mean_grad, std_grad = _gradients_by_forward_mode(
            estimator, standardised[0], layers, arrays, prior_variances, include_noise
        )
    else:
        mean, std, mean_grad, std_grad = _gradients_by_autograd(
            estimator, X, include_noise, return_mean_grad, return_std_grad
        )
    values = (mean, std) if return_std else (mean,)
    gradients = [g for g, wanted in ((mean_grad, return_mean_grad), (std_grad, return_std_grad)) if wanted]
    return tuple(estimator._squeeze(a, axis=1) for a in (*values, *gradients))


def _check_one_row(n_rows: int) -> None:
    if n_rows != 1:
        raise ValueError(
            f"Not implemented for n_samples > 1: gradients are computed for one row of X, got "
            f"{n_rows} rows. Call predict once per row, e.g. with X[i : i + 1]."
        )


def _forward_mode_stack(estimator) -> tuple | None:
    """What :func:`_gradients_by_forward_mode` runs on, or None where it does not apply.

    The stack's layers, its tensors as numpy arrays, and the priors'
    :meth:`~skrpf._ensemble.RandomizedPriorEnsemble.prior_output_variances`
    as numpy arrays (None without priors).

    It applies to batched MLP stacks on the CPU with homoscedastic or no
    noise, whose activations :mod:`skrpf._forward_mode` differentiates, and
    whose priors, if any, join the members in one stack (same layers) that
    ends in a product.
    """
    ensemble = estimator.ensemble_
    checks.move_to_device("device", estimator.device, ensemble)
    members, priors = ensemble.members, ensemble.priors
    if (
        estimator.noise_model_ == "heteroscedastic"
        or ensemble.device.type != "cpu"
        or not isinstance(members, BatchedSequential)
        or not supports(members.layers)
    ):
        return None
    if priors is None:
        # Trainable tensors change in place (warm starts): converted at each call, never cached.
        return members.layers, [t.detach().numpy() for t in members._tensors().values()], None
    joint = ensemble._joint_stack()
    if joint is None or joint.layers[-1].activations:
        return None

    def build():
        # Both are constant while the joint stack lives (it is rebuilt when any tensor changes).
        arrays = [t.detach().numpy() for t in joint._tensors().values()]
        return arrays, tuple(v.cpu().numpy() for v in ensemble.prior_output_variances())

    arrays, prior_variances = per_stack(joint, build)
    return joint.layers, arrays, prior_variances


def _gradients_by_forward_mode(
    estimator, row: np.ndarray, layers, arrays, prior_variances, include_noise: bool
) -> tuple:
    """``predict``'s mean and std at one standardised row, with their gradients in the units of X.

    One forward pass of members and priors carries the row and its tangents
    (:func:`~skrpf._forward_mode.forward_with_tangents`); the mean's and the
    (capped) std's gradients follow in closed form from the members'
    gradients ``dQ_k``:

    * ``d mean = mean_k dQ_k``;
    * ``d var = 2 mean_k (Q_k - mean) (dQ_k - d mean)`` for the spread, or,
      where the spread is capped at the priors' variance
      ``v_w mean_k ||h_k||^2 + v_b``, that variance's gradient;
    * ``d std = d var / (2 std)``, and 0 where the std is 0 (there the std
      is flat at its minimum, and skopt takes 0 too). The noise variance is
      constant in x: it enters through the std alone.

    The values are ``predict``'s before its rounding to float32.

    Returns
    -------
    mean, std : ndarray of shape (1, n_outputs)
    mean_grad, std_grad : ndarray of shape (n_features, n_outputs)
    """
    ensemble = estimator.ensemble_
    K = ensemble.n_members
    out, hidden = forward_with_tangents(row, layers, arrays)
    Q = out if ensemble.priors is None else out[:K] + ensemble.prior_scale * out[K:]
    values, tangents = Q[:, 0], Q[:, 1:]  # (K, n_outputs), (K, n_features, n_outputs)
    check_finite_output(values)
    mean = values.mean(axis=0)
    deviations = values - mean
    variance = (deviations * deviations).mean(axis=0)
    mean_tangent = tangents.mean(axis=0)
    variance_tangent = 2 * (deviations[:, np.newaxis] * (tangents - mean_tangent)).mean(axis=0)
    if ensemble.cap_spread_at_prior:
        prior_hidden = hidden[K:]
        h, h_tangents = prior_hidden[:, 0], prior_hidden[:, 1:]  # (K, width), (K, n_features, width)
        weight_variance, bias_variance = prior_variances
        cap = (h * h).sum(axis=1).mean() * weight_variance + bias_variance
        cap_tangent = np.outer(2 * np.einsum("kw,kfw->f", h, h_tangents) / K, weight_variance)
        variance_tangent = np.where(variance > cap, cap_tangent, variance_tangent)
        # Shrinking the members toward their mean keeps the mean.
        variance = np.minimum(variance, cap)
    # In float64 throughout: predict rounds the members to float32, which
    # would make the values a staircase beside these gradients, and L-BFGS's
    # line search needs the two to agree (with rounded values it made 21%
    # more calls on two hart6 runs, and its line search failed ten times as often).
    y_scale = np.asarray(estimator._y_scale, dtype=np.float64).reshape(-1)
    x_scale = np.asarray(estimator._x_scale, dtype=np.float64).reshape(-1, 1)
    mean_y = (mean * y_scale + estimator._y_mean).reshape(1, -1)
    variance_y = variance * y_scale**2 + (estimator._noise_var if include_noise else 0.0)
    std_y = np.sqrt(variance_y).reshape(1, -1)
    mean_grad = mean_tangent * y_scale / x_scale
    variance_grad = variance_tangent * y_scale**2 / x_scale
    positive = std_y[0] > 0
    std_grad = np.where(positive, variance_grad / (2 * np.where(positive, std_y[0], 1.0)), 0.0)
    return mean_y, std_y, mean_grad, std_grad


def _gradients_by_autograd(estimator, X, include_noise: bool, mean_grad_wanted: bool, std_grad_wanted: bool):
    """As :func:`_gradients_by_forward_mode`, by autograd through the module ``to_torch`` exports.

    One backward pass per output and per gradient asked for (None for the
    others): about three times the cost of a prediction, for the networks
    and devices that forward mode does not cover.
    """
    network = _network_of(estimator, include_noise=include_noise, copy_ensemble=False)
    # A copy: a DataFrame's array can be read-only, which torch warns about when sharing it.
    x = torch.tensor(np.asarray(X, dtype=np.float64), device=network.x_mean.device, requires_grad=True)
    mean_grad = std_grad = None
    with torch.enable_grad():
        mean, std = network(x)
        if mean_grad_wanted:
            mean_grad = _jacobian(mean[0], x).detach().cpu().numpy()
        if std_grad_wanted:
            # sqrt has no derivative at 0 (a single member without noise): there
            # the std is flat at its minimum, and skopt takes 0 too.
            std_grad = torch.where(std[0] > 0, _jacobian(std[0], x), 0.0).detach().cpu().numpy()
    return mean.detach().cpu().numpy(), std.detach().cpu().numpy(), mean_grad, std_grad


def _jacobian(outputs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """d outputs[j] / d x[0, i] as an (n_features, n_outputs) tensor, by one backward pass per output."""
    columns = [torch.autograd.grad(value, x, retain_graph=True)[0][0] for value in outputs]
    return torch.stack(columns, dim=1)
