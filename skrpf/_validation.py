"""Checks of the estimator's hyper-parameters and data, run before any work.

Every error names the parameter or input, the value received and what is
allowed, so that a failing grid search or pipeline says what is wrong and
where.
"""

from __future__ import annotations

import inspect
from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn


def _describe(value) -> str:
    return f"{value!r} (type {type(value).__name__})"


def check_int(name: str, value, *, minimum: int, maximum: int | None = None, allow: tuple = ()) -> None:
    """Raise ValueError unless ``value`` is an integer in [``minimum``, ``maximum``] or one of ``allow``."""
    if any(value is a or (isinstance(a, str) and value == a) for a in allow):
        return
    valid = isinstance(value, Integral) and not isinstance(value, bool)
    if valid:
        number = int(value)
        valid = number >= minimum and (maximum is None or number <= maximum)
    if not valid:
        bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        extra = f" or one of {list(allow)}" if allow else ""
        raise ValueError(f"{name} must be an integer {bounds}{extra}; got {_describe(value)}.")


def check_real(
    name: str, value, *, minimum: float, strict: bool = False, allow_none: bool = False, allow: tuple = ()
) -> None:
    """Raise ValueError unless ``value`` is a finite real >= (or >) ``minimum``, or one of ``allow``."""
    if allow_none and value is None:
        return
    if any(isinstance(a, str) and isinstance(value, str) and value == a for a in allow):
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
        extra = "".join(f" or {a!r}" for a in allow)
        raise ValueError(
            f"{name} must be a finite number {relation} {minimum}{none}{extra}; got {_describe(value)}."
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


def _check_output(
    name: str, factory, network, n_features_in: int, n_outputs: int, probe: torch.Tensor
) -> nn.Module:
    """Return ``network`` if it is a module that maps ``probe`` to (1, n_outputs); raise otherwise."""
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


def build_networks(
    name: str, factory, count: int, n_features_in: int, n_outputs: int, probe: torch.Tensor
) -> list[nn.Module]:
    """Call a factory ``count`` times, checking the output shape of each distinct architecture.

    The first network is checked with a forward pass of ``probe``; a later
    one only when its tensors differ in name or shape from the first's. A
    forward pass costs more than building a small network, and a factory
    normally builds the same architecture at every call.

    Parameters
    ----------
    name : str
        ``"module"`` or ``"prior"``, for error messages.
    factory : callable
        ``factory(n_features_in, n_outputs) -> nn.Module``.
    count : int
        Number of networks.
    n_features_in, n_outputs : int
        Passed to the factory.
    probe : torch.Tensor of shape (1, n_features_in)
        One input row, to check the output shape.

    Returns
    -------
    networks : list of torch.nn.Module
    """
    first = _check_output(name, factory, factory(n_features_in, n_outputs), n_features_in, n_outputs, probe)
    layout = _tensor_layout(first)
    networks = [first]
    for _ in range(count - 1):
        network = factory(n_features_in, n_outputs)
        if not isinstance(network, nn.Module) or _tensor_layout(network) != layout:
            network = _check_output(name, factory, network, n_features_in, n_outputs, probe)
        networks.append(network)
    return networks


def _tensor_layout(network: nn.Module) -> tuple:
    """The class, and the name and shape of every parameter and buffer, of a network."""
    tensors = [*network.named_parameters(), *network.named_buffers()]
    return (type(network), [(key, tuple(t.shape)) for key, t in tensors])


# ----------------------------------------------------------------- the data
def check_finite(name: str, array: np.ndarray) -> None:
    """Raise ValueError naming the first NaN or infinite entry of a numeric array."""
    bad = ~np.isfinite(array)
    if bad.any():
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(array[position]) else "infinity"
        where = f"row {position[0]}" + (f", column {position[1]}" if len(position) > 1 else "")
        raise ValueError(
            f"Input {name} contains {kind} ({int(bad.sum())} non-finite value(s); the first at "
            f"{where}). Remove or impute them, e.g. with sklearn.impute.SimpleImputer."
        )


def _columns(values):
    """``(label, array)`` pairs: one per DataFrame column, or the whole array."""
    if hasattr(values, "columns") and hasattr(values, "dtypes"):
        # pandas' nullable numeric dtypes (Int64, Float64) hold pd.NA, read as NaN.
        return [(f"column {c!r}", _column_array(values[c])) for c in values.columns]
    if hasattr(values, "to_numpy") and hasattr(values, "dtype"):  # a pandas Series
        return [("", _column_array(values))]
    if sp.issparse(values):
        return []  # scikit-learn refuses sparse input with its own TypeError
    if not hasattr(values, "dtype"):
        try:
            values = np.asarray(values)
        except (ValueError, TypeError):
            return []  # ragged or odd input: scikit-learn's own conversion reports it
    return [("", np.asarray(values))]


def _column_array(series) -> np.ndarray:
    if series.dtype.kind in "fiub":
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return series.to_numpy()


def check_numeric(name: str, values) -> None:
    """Refuse complex, string or other non-numeric data with an error that says so.

    Runs before scikit-learn's conversion, whose messages ("could not convert
    string to float", a dump of a complex array) do not say which input or
    what to do. Object arrays of numbers are accepted.
    """
    for label, column in _columns(values):
        where = f" ({label})" if label else ""
        kind = column.dtype.kind
        if kind == "c":
            raise ValueError(
                f"Complex data not supported: {name}{where} has dtype {column.dtype}. Pass the real "
                "and imaginary parts as separate real columns."
            )
        if kind in "OUSV":
            try:
                np.asarray(column, dtype=np.float64)
            except (ValueError, TypeError) as exc:
                raise type(exc)(
                    f"{name}{where} must be numeric; got dtype {column.dtype} whose values cannot be "
                    f"converted to float ({exc}). Encode categorical columns first, e.g. with "
                    "sklearn.preprocessing.OneHotEncoder or OrdinalEncoder."
                ) from exc


def check_target(y) -> None:
    """:func:`check_numeric`, then :func:`check_finite` on y, before scikit-learn's vaguer check."""
    check_numeric("y", y)
    for _, column in _columns(y):
        if column.dtype.kind in "fiub":
            check_finite("y", column.astype(np.float64, copy=False))


def check_sample_weight(sample_weight, n_samples: int) -> None:
    """Check the length, finiteness and sign of ``sample_weight`` with messages that locate the problem."""
    if sample_weight is None:
        return
    weights = np.asarray(sample_weight)
    if weights.ndim == 1 and weights.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight has {weights.shape[0]} values but X has {n_samples} samples; "
            "pass one weight per row of X."
        )
    if weights.ndim != 1 or weights.dtype.kind not in "fiub":
        return  # scalars and odd shapes get scikit-learn's own message
    weights = weights.astype(np.float64)
    check_finite("sample_weight", weights)
    if np.any(weights < 0):
        first = int(np.argmax(weights < 0))
        raise ValueError(
            f"sample_weight must be non-negative; {int((weights < 0).sum())} value(s) are negative, "
            f"the first sample_weight[{first}] = {weights[first]:g}."
        )
    if not np.any(weights > 0):
        raise ValueError("sample_weight is zero for every sample; at least one weight must be positive.")


# ---------------------------------------------------------------- the device
def device_available(device: torch.device) -> bool:
    """Whether this torch build and machine can hold tensors on ``device``."""
    if device.type == "cpu":
        return True
    if device.type == "cuda":
        return torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    if device.type == "mps":
        return torch.backends.mps.is_available()
    # Other backends (xpu, ...) have the same is_available() entry point, when
    # this build has them at all; "meta" has none, and holds no data to predict with.
    backend = getattr(torch, device.type, None)
    return bool(getattr(backend, "is_available", lambda: False)())


def check_device(name: str, value) -> torch.device:
    """Return ``value`` as a torch.device; raise ValueError if it is invalid or not available here.

    Parameters
    ----------
    name : str
        The parameter's name, for the message.
    value : str or torch.device
        The requested device.

    Returns
    -------
    device : torch.device

    Raises
    ------
    ValueError
        If torch does not know the device, or this machine or torch build has
        no such device (torch itself would fail later with a bare
        ``AssertionError: Torch not compiled with CUDA enabled``).
    """
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"{name}={value!r} is not a valid torch device: {exc}") from exc
    if not device_available(device):
        if device.type == "cuda" and torch.cuda.is_available():
            found = f"this machine has {torch.cuda.device_count()} CUDA device(s)"
        else:
            found = f"this torch build ({torch.__version__}) or machine has no {device.type} device"
        raise ValueError(f"{name}={value!r} is not available: {found}. Pass {name}='cpu'.")
    return device


def move_to_device(name: str, value, module: Any) -> torch.device:
    """Move ``module`` to the device ``value`` names, if it is elsewhere, and return that device.

    ``set_params(device=...)`` after fit must take effect at prediction:
    the fitted ensemble follows the parameter instead of silently staying
    where it was trained.

    Parameters
    ----------
    name : str
        The parameter's name, for :func:`check_device`'s message.
    value : str or torch.device
        The requested device.
    module : torch.nn.Module
        A module with a ``device`` property (the fitted ensemble), moved in place.

    Returns
    -------
    device : torch.device
        Where ``module`` now is.

    Raises
    ------
    ValueError
        From :func:`check_device`, before anything is moved.
    """
    current = module.device
    # The common case in a few tens of nanoseconds: predict's one-row calls are
    # latency-bound, and building a torch.device is most of this check's cost.
    if value == current.type and current.index is None:
        return current
    wanted = check_device(name, value)
    # "cuda" without an index is wherever fit put it: any CUDA device matches;
    # and CPU tensors have no index, so "cpu:0" is where they are.
    same_index = None in (wanted.index, current.index) or wanted.index == current.index
    if wanted.type == current.type and same_index:
        return current
    module.to(wanted)
    return module.device
