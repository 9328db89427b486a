"""An exact last step for small data: the output layer solved in closed form.

Given everything but its last layer, a member's training objective

    sum_i w_i ||t_i - (h_i W + b)||^2 + alpha (||W||^2 + ||b||^2)

is a ridge regression in the output layer ``(W, b)`` on the hidden features
``h_i``. After L-BFGS has trained the whole network, solving it in float64
is one exact block-coordinate step: the objective can only go down, and the
residuals at the training rows fall from the optimiser's tolerance (about
1e-3 of the target scale after a few hundred iterations) to what the
features allow, which on tens of rows is exact interpolation. That is what
makes the members' spread vanish at noise-free observations.
"""

from __future__ import annotations

import torch

from ._ensemble import BatchedSequential

#: Smallest ridge of the solve, relative to the mean diagonal of the Gram
#: matrix: with fewer rows than features the Gram matrix is singular, and
#: directions the data hardly determine must not get huge weights.
MIN_RELATIVE_RIDGE = 1e-9


def refit_output_layer_(
    members, X: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, alpha: float
) -> bool:
    """Replace the members' output layer by the exact minimiser of their objective.

    Parameters
    ----------
    members : torch.nn.Module
        The trainable stack; only :class:`~skrpf._ensemble.BatchedSequential`
        stacks ending in a product are refitted.
    X : torch.Tensor of shape (n, d)
    targets : torch.Tensor of shape (n, K, t)
    weights : torch.Tensor of shape (n, K)
    alpha : float
        The L2 penalty of the summed objective.

    Returns
    -------
    refitted : bool
        False where the stack has no output layer to solve for.
    """
    if not isinstance(members, BatchedSequential):
        return False
    with torch.no_grad():
        hidden = members.output_layer_inputs(X)
        if hidden is None:
            return False
        has_bias = members.layers[-1].has_bias
        features = hidden.double()
        if has_bias:
            features = torch.cat([features, features.new_ones(*features.shape[:2], 1)], dim=2)
        row_weights = weights.t().to(features.dtype).unsqueeze(-1)  # (K, n, 1)
        weighted = features * row_weights
        gram = weighted.transpose(1, 2) @ features  # (K, p, p)
        size = gram.shape[-1]
        scale = gram.diagonal(dim1=1, dim2=2).mean(dim=1).clamp_min(1e-12)
        ridge = (MIN_RELATIVE_RIDGE * scale).clamp_min(alpha)
        gram = gram + ridge.view(-1, 1, 1) * torch.eye(size, dtype=gram.dtype, device=gram.device)
        rhs = weighted.transpose(1, 2) @ targets.transpose(0, 1).to(features.dtype)  # (K, p, t)
        solution = torch.linalg.solve(gram, rhs).to(hidden.dtype)
        if not torch.isfinite(solution).all():
            return False
        weight, bias = (solution[:, :-1], solution[:, -1:]) if has_bias else (solution, None)
        members.set_output_layer(weight, bias)
    return True
