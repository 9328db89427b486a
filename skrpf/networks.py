"""Network factories: the default member architecture and example priors.

A *factory* is any callable ``factory(n_features_in, n_outputs) -> nn.Module``
that builds one member network. The estimator calls it once per member (and
once per prior), always with fresh random initialisation, so the modules a
user passes in are never trained in place. Factories that derive from
:class:`sklearn.base.BaseEstimator` expose their settings to
``get_params``/``set_params``, so ``module__hidden_layer_sizes`` can be
searched by :class:`~sklearn.model_selection.GridSearchCV`.
"""

from __future__ import annotations

import math
from numbers import Integral

import torch
from sklearn.base import BaseEstimator
from torch import nn

from ._activations import Sine

__all__ = ["MLP", "ACTIVATIONS", "SinePrior", "FixedFunctionPrior"]

#: Activation names accepted by :class:`MLP`. All are parameter-free and
#: elementwise, which is what the fast batched ensemble path needs.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "selu": nn.SELU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "sin": Sine,
}

_FIRST_LAYER_INITS = ("glorot", "lecun")


class MLP(BaseEstimator):
    """Factory of fully connected networks: the default member and prior.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(50, 50)
        Width of each hidden layer. Perone's blog post (2019; see
        :func:`~skrpf.datasets.make_paper_toy`) used ``(20, 20)``;
        50 units follow the UCI protocol of Hernández-Lobato & Adams (2015)
        and give the priors enough variety on multi-dimensional inputs.
    activation : {"relu", "selu", "tanh", "gelu", "silu", "elu", "sin"}, default="relu"
        Nonlinearity after each hidden layer. ReLU, as in the UCI protocols of
        deep ensembles and MC-dropout, gives piecewise-linear prior functions
        that grow linearly away from the data. On the UCI benchmark it gave a
        lower test NLL than SELU (Perone's choice) on 8 of 9 data sets,
        and its CPU kernels cost a fraction of SELU's (see
        ``benchmarks/RESULTS.md``). SELU gives smoother priors. For a
        smooth target, the ground of a Gaussian process with an RBF kernel,
        use ``"silu"``: on an 8-feature smooth function
        (``benchmarks/vs_gp.py``) SiLU members came within 0.02 nats of an
        ARD-RBF GP's test NLL where ReLU members were 0.11 behind, while on
        the UCI data sets ReLU was better on six of nine.
    first_layer_init : {"glorot", "lecun"}, default="glorot"
        Distribution of the first layer's weights. ``"glorot"`` is Glorot
        (Xavier) uniform, variance ``2 / (fan_in + fan_out)``: on few input
        features the weights are small (about 0.28 in norm per unit on two
        features against 1.06 on 64), so the network varies slowly over
        the inputs. ``"lecun"`` is ``U(-sqrt(3 / fan_in), sqrt(3 / fan_in))``,
        variance ``1 / fan_in``: each unit's weights have a norm near 1
        whatever the number of features, so on standardised inputs the
        function changes on the scale of the data in every dimension. With
        sine members, ReLU priors of this kind make a classifier's mutual
        information high far from the data in every direction (see the
        user guide, "Classification").

    Notes
    -----
    Weights use Glorot (Xavier) uniform initialisation, as in Perone's post
    (the first layer's follow ``first_layer_init``).
    Biases keep PyTorch's default ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``:
    zero biases would put every kink of a random prior at the origin, which
    makes the priors far less varied.

    Examples
    --------
    >>> net = MLP(hidden_layer_sizes=(8,))(n_features_in=3, n_outputs=2)
    >>> net
    Sequential(
      (0): Linear(in_features=3, out_features=8, bias=True)
      (1): ReLU()
      (2): Linear(in_features=8, out_features=2, bias=True)
    )
    """

    def __init__(self, hidden_layer_sizes=(50, 50), activation="relu", first_layer_init="glorot"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.first_layer_init = first_layer_init

    def __call__(self, n_features_in: int, n_outputs: int) -> nn.Sequential:
        """Build one freshly initialised network.

        Parameters
        ----------
        n_features_in : int
            Input width.
        n_outputs : int
            Output width.

        Returns
        -------
        net : torch.nn.Sequential
            ``Linear -> activation -> ... -> Linear``.
        """
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"module__activation={self.activation!r} is not supported; use one of {sorted(ACTIVATIONS)}."
            )
        if self.first_layer_init not in _FIRST_LAYER_INITS:
            raise ValueError(
                f"module__first_layer_init={self.first_layer_init!r} is not supported; "
                f"use one of {sorted(_FIRST_LAYER_INITS)}."
            )
        sizes = tuple(self.hidden_layer_sizes)
        if not all(isinstance(h, Integral) and int(h) >= 1 for h in sizes):
            raise ValueError(
                f"module__hidden_layer_sizes={self.hidden_layer_sizes!r} must be a "
                "tuple of positive integers, e.g. (50, 50)."
            )
        widths = (n_features_in, *map(int, sizes), n_outputs)
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            linear = nn.Linear(fan_in, fan_out)
            if i == 0 and self.first_layer_init == "lecun":
                bound = math.sqrt(3.0 / fan_in)
                nn.init.uniform_(linear.weight, -bound, bound)
            else:
                nn.init.xavier_uniform_(linear.weight)
            layers.append(linear)
            if i < len(widths) - 2:
                layers.append(ACTIVATIONS[self.activation]())
        return nn.Sequential(*layers)


class FixedFunctionPrior(nn.Module):
    """A prior that is a fixed, parameter-free function of the inputs.

    Subclasses implement :meth:`forward`. A fixed prior encodes a belief about
    the shape of the function, for example periodicity, rather than a random
    draw; every member then shares it, and the members differ only through
    their bootstrap, target noise and initialisation.
    """

    def __init__(self, n_features_in: int, n_outputs: int):
        super().__init__()
        self.n_features_in = n_features_in
        self.n_outputs = n_outputs


class SinePrior(FixedFunctionPrior):
    """The prior ``p(x) = sin(frequency * x)``, summed over features.

    Use it as ``prior=SinePrior`` (the class itself is a valid factory) or, to
    change the frequency, ``prior=functools.partial(SinePrior, frequency=2.0)``.
    Perone's blog post (2019; see :func:`~skrpf.datasets.make_paper_toy`)
    used ``sin(3x)``.

    Parameters
    ----------
    n_features_in : int
        Input width.
    n_outputs : int
        Output width; every output gets the same function.
    frequency : float, default=3.0
        Angular frequency, in the units the network sees (standardised
        inputs when ``normalize_X=True``).

    Examples
    --------
    >>> import torch
    >>> prior = SinePrior(1, 1)
    >>> prior(torch.tensor([[0.0], [torch.pi / 6]])).squeeze(1)
    tensor([0., 1.])
    """

    def __init__(self, n_features_in: int, n_outputs: int, frequency: float = 3.0):
        super().__init__(n_features_in, n_outputs)
        self.frequency = frequency

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate the prior on a batch ``x`` of shape (batch, n_features_in)."""
        value = torch.sin(self.frequency * x).sum(dim=1, keepdim=True)
        return value.expand(-1, self.n_outputs)
