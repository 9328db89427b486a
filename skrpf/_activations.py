"""Activation modules of our own, beside torch's."""

from __future__ import annotations

import torch
from torch import nn


class Sine(nn.Module):
    """``sin(x)``, elementwise.

    After a first layer with random weights and biases it gives random
    Fourier features, so an MLP prior with this activation draws smooth,
    bounded functions whose covariance hardly depends on where the inputs
    are: close to a Gaussian process with a stationary kernel.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply ``torch.sin``."""
        return torch.sin(x)
