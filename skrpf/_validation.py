"""Checks of the estimator's hyper-parameters, run at the start of ``fit``.

Every error names the parameter, the value received and what is allowed, so
that a failing grid search says which point of the grid is wrong.
"""

from __future__ import annotations

import inspect
from numbers import Integral, Real

import torch
from torch import nn


def _describe(value) -> str:
    return f"{value!r} (type {type(value).__name__})"


def check_int(name: str, value, *, minimum: int, allow: tuple = ()) -> None:
    """Raise ValueError unless ``value`` is an integer >= ``minimum`` or one of ``allow``."""
    if any(value is a or (isinstance(a, str) and value == a) for a in allow):
        return
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        extra = f" or one of {list(allow)}" if allow else ""
        raise ValueError(f"{name} must be an integer >= {minimum}{extra}; got {_describe(value)}.")


def check_real(name: str, value, *, minimum: float, strict: bool = False, allow_none: bool = False) -> None:
    """Raise ValueError unless ``value`` is a finite real >= (or >) ``minimum``."""
    if allow_none and value is None:
        return
    ok = (
        isinstance(value, Real)
        and not isinstance(value, bool)
        and value == value
        and abs(value) != float("inf")
    )
    if ok:
        ok = value > minimum if strict else value >= minimum
    if not ok:
        relation = ">" if strict else ">="
        none = " or None" if allow_none else ""
        raise ValueError(
            f"{name} must be a finite number {relation} {minimum}{none}; got {_describe(value)}."
        )


def check_bool(name: str, value) -> None:
    """Raise ValueError unless ``value`` is a bool."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False; got {_describe(value)}.")


def check_factory(name: str, value) -> None:
    """Raise ValueError unless ``value`` is None or callable."""
    if value is not None and not callable(value):
        raise ValueError(
            f"{name} must be None or a callable factory(n_features_in, n_outputs) -> "
            f"torch.nn.Module; got {_describe(value)}."
        )


def check_optimizer(value) -> None:
    """Raise ValueError unless ``value`` is a torch optimizer class."""
    if not (inspect.isclass(value) and issubclass(value, torch.optim.Optimizer)):
        raise ValueError(
            f"optimizer must be a torch.optim.Optimizer subclass such as torch.optim.Adam "
            f"(the class, not an instance); got {_describe(value)}."
        )


def build_network(name: str, factory, n_features_in: int, n_outputs: int, probe: torch.Tensor) -> nn.Module:
    """Call a factory, check that it gives a module of the right output width.

    Parameters
    ----------
    name : str
        ``"module"`` or ``"prior"``, for error messages.
    factory : callable
        ``factory(n_features_in, n_outputs) -> nn.Module``.
    n_features_in, n_outputs : int
        Passed to the factory.
    probe : torch.Tensor of shape (1, n_features_in)
        One input row, to check the output shape.

    Returns
    -------
    network : torch.nn.Module
    """
    network = factory(n_features_in, n_outputs)
    if not isinstance(network, nn.Module):
        raise TypeError(
            f"{name} factory {factory!r} returned {_describe(network)}; it must return a "
            f"torch.nn.Module mapping (batch, {n_features_in}) to (batch, {n_outputs})."
        )
    with torch.no_grad():
        was_training = network.training
        network.eval()
        out = network(probe.to(next(iter(network.parameters()), probe).device))
        network.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (probe.shape[0], n_outputs):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"{name} network built by {factory!r} maps (batch, {n_features_in}) inputs to "
            f"{shape}; expected (batch, n_outputs) = ({probe.shape[0]}, {n_outputs}), where "
            f"n_outputs={n_outputs} is the number of target columns of y."
        )
    return network
