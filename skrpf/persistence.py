"""Save and load fitted estimators in a format that cannot carry code.

:mod:`pickle` and :mod:`joblib` files run arbitrary code when loaded, so a
model file shared between people is a security risk. :func:`save` writes one
`safetensors <https://github.com/huggingface/safetensors>`_ file instead:

* the tensors -- the stacked ``state_dict`` of ``ensemble_`` and every fitted
  numeric array (scaling statistics, noise estimates, ...) -- as raw numbers;
* everything else -- the constructor parameters, fitted scalars, feature
  names, the training history -- as JSON in the file's header.

:func:`load` parses that header as JSON, rebuilds the networks by calling the
factories named there from a fixed list of built-in ones, and copies the
tensors in. It never unpickles, imports or evaluates anything read from the
file.

Parameters that cannot be written as data -- a custom ``module`` or
``prior`` factory, a custom resampler, optimizer or callbacks -- are recorded
by name only, and must be passed back to :func:`load` by the caller, who
trusts their own code: ``load(path, module=MyFactory)``.

The skorch net ``net_`` is not saved, only its training history (see
:func:`read_metadata`); a loaded estimator predicts exactly like the saved one,
and ``fit`` works on it as on any unfitted estimator.
"""

from __future__ import annotations

import functools
import json
import os
import warnings

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file
from sklearn.utils.validation import check_is_fitted

from ._base import RandomizedPriorBase
from ._classifier import RandomizedPriorClassifier
from ._ensemble import RandomizedPriorEnsemble
from ._random import private_torch_rng
from ._regressor import RandomizedPriorRegressor
from ._validation import device_available
from ._version import __version__
from .networks import MLP, SinePrior
from .resamplers import RESAMPLERS

__all__ = ["save", "load", "read_metadata", "FORMAT_VERSION"]

#: Version of the file layout written by :func:`save`. :func:`load` refuses
#: any other, rather than guess at a layout it does not know.
FORMAT_VERSION = 1

_FORMAT = "skrpf"
_METADATA_KEY = "skrpf"
_ENSEMBLE_PREFIX = "ensemble."
_ATTRIBUTE_PREFIX = "attribute."
# Fitted state that is not written as such: the ensemble is stored as its
# tensors and rebuilt; the skorch net is represented by its history only;
# the state for warm-started refits is dropped (a loaded estimator's next fit is cold),
# and so are the cached member outputs of the last predict.
_REBUILT = ("ensemble_", "net_", "_fit_state", "_predictive_cache")

# The only factories and classes that load() may call, by name.
_FACTORY_CLASSES = {"SinePrior": SinePrior}
_FACTORY_OBJECTS = {"MLP": MLP}
# The estimators save() writes and load() rebuilds, by the class name in the file.
_ESTIMATORS = {cls.__name__: cls for cls in (RandomizedPriorRegressor, RandomizedPriorClassifier)}


# ----------------------------------------------------------------- encoding
class _NotData(Exception):
    """A value that cannot be written as JSON data."""


def _encode(value):
    """JSON-compatible form of a parameter value, or raise :class:`_NotData`."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.generic):
        return _encode(value.item())
    if isinstance(value, int | float):
        return value
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, tuple):
        return {"__kind__": "tuple", "items": [_encode(v) for v in value]}
    if isinstance(value, torch.device):
        return str(value)
    if type(value) in _FACTORY_OBJECTS.values():
        return {
            "__kind__": "factory",
            "name": type(value).__name__,
            "params": _encode_dict(value.get_params()),
        }
    if isinstance(value, type) and value in _FACTORY_CLASSES.values():
        return {"__kind__": "class", "name": value.__name__}
    if (
        isinstance(value, functools.partial)
        and value.func in _FACTORY_CLASSES.values()
        and not value.args
        and type(value) is functools.partial
    ):
        return {"__kind__": "partial", "name": value.func.__name__, "kwargs": _encode_dict(value.keywords)}
    if type(value) in RESAMPLERS.values():
        return {
            "__kind__": "resampler",
            "name": type(value).__name__,
            "params": _encode_dict(value.get_params()),
        }
    if (
        isinstance(value, type)
        and issubclass(value, torch.optim.Optimizer)
        and getattr(torch.optim, value.__name__, None) is value
    ):
        return {"__kind__": "optimizer", "name": value.__name__}
    if type(value) is np.random.RandomState:
        name, keys, position, has_gauss, cached = value.get_state()
        return {
            "__kind__": "RandomState",
            "state": [name, keys.tolist(), int(position), int(has_gauss), float(cached)],
        }
    raise _NotData(repr(value))


def _encode_dict(values: dict) -> dict:
    return {str(k): _encode(v) for k, v in values.items()}


def _decode(value):
    """Inverse of :func:`_encode`; only ever builds the allow-listed objects."""
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("__kind__")
    if kind == "tuple":
        return tuple(_decode(v) for v in value["items"])
    if kind == "factory":
        return _lookup(_FACTORY_OBJECTS, value["name"])(**_decode_dict(value["params"]))
    if kind == "class":
        return _lookup(_FACTORY_CLASSES, value["name"])
    if kind == "partial":
        return functools.partial(_lookup(_FACTORY_CLASSES, value["name"]), **_decode_dict(value["kwargs"]))
    if kind == "resampler":
        classes = {cls.__name__: cls for cls in RESAMPLERS.values()}
        return _lookup(classes, value["name"])(**_decode_dict(value["params"]))
    if kind == "optimizer":
        optimizer = getattr(torch.optim, str(value["name"]), None)
        if not (isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer)):
            raise ValueError(f"The file names an unknown torch optimizer {value['name']!r}.")
        return optimizer
    if kind == "RandomState":
        name, keys, position, has_gauss, cached = value["state"]
        state = np.random.RandomState()
        state.set_state((name, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
        return state
    if kind is None:
        return _decode_dict(value)
    raise ValueError(f"The file holds a value of unknown kind {kind!r}; it was not written by skrpf.save.")


def _decode_dict(values: dict) -> dict:
    return {k: _decode(v) for k, v in values.items()}


def _lookup(table: dict, name):
    if name not in table:
        raise ValueError(f"The file names {name!r}, which is not one of skrpf's built-in {sorted(table)}.")
    return table[name]


def _json_history(net):
    """The skorch history as plain JSON data; values that are not data are dropped."""

    def clean(value):
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items() if _is_data(v)}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value if _is_data(v)]
        return value.item() if isinstance(value, np.generic) else value

    nets = net if isinstance(net, list) else [net]
    histories = [clean(n.history.to_list()) for n in nets if hasattr(n, "history")]
    return histories if isinstance(net, list) else (histories[0] if histories else None)


def _is_data(value) -> bool:
    if isinstance(value, dict | list | tuple):
        return True
    return value is None or isinstance(value, bool | int | float | str | np.generic)


# --------------------------------------------------------------------- save
def save(estimator: RandomizedPriorBase, path) -> None:
    """Write a fitted estimator to a safetensors file, without pickle.

    Parameters
    ----------
    estimator : RandomizedPriorRegressor or RandomizedPriorClassifier
        A fitted estimator.
    path : str or os.PathLike
        The file to write (conventionally ``*.safetensors``); overwritten if
        it exists.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    TypeError
        If a fitted attribute cannot be written as data.

    Notes
    -----
    Parameters that are not data (a custom factory, resampler, optimizer or
    callbacks) are recorded by their ``repr`` only; pass them back to
    :func:`load`. The skorch net ``net_`` is not saved, only its history.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> import skrpf
    >>> X = np.linspace(-1, 1, 20).reshape(-1, 1)
    >>> model = skrpf.RandomizedPriorRegressor(n_estimators=3, max_epochs=5, random_state=0)
    >>> model = model.fit(X, X.ravel())
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> skrpf.save(model, path)
    >>> loaded = skrpf.load(path)
    >>> bool(np.array_equal(loaded.predict(X), model.predict(X)))
    True
    """
    if type(estimator) not in _ESTIMATORS.values():
        raise TypeError(f"save() writes one of {sorted(_ESTIMATORS)}; got {type(estimator).__name__}.")
    check_is_fitted(estimator)
    params = estimator.get_params(deep=False)
    encoded_params = {}
    for name, value in params.items():
        try:
            encoded_params[name] = _encode(value)
        except _NotData:
            encoded_params[name] = {"__kind__": "custom", "repr": repr(value)[:500]}

    tensors = {
        _ENSEMBLE_PREFIX + name: np.ascontiguousarray(tensor.detach().cpu().numpy())
        for name, tensor in estimator.ensemble_.state_dict().items()
    }
    attributes = {}
    for name, value in vars(estimator).items():
        if name in params or name in _REBUILT:
            continue
        if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
            tensors[_ATTRIBUTE_PREFIX + name] = np.ascontiguousarray(value)
            attributes[name] = {"__kind__": "tensor"}
        elif isinstance(value, np.ndarray) and all(isinstance(v, str) for v in value.flat):
            attributes[name] = {"__kind__": "strings", "items": value.tolist(), "dtype": value.dtype.str}
        else:
            try:
                attributes[name] = _encode(value)
            except _NotData:
                raise TypeError(
                    f"save() cannot write the fitted attribute {name!r} = {value!r:.200} as data."
                ) from None

    probe = torch.zeros(1, int(estimator.n_features_in_), dtype=torch.float64)
    parameter = next(estimator.ensemble_.parameters(), next(estimator.ensemble_.buffers(), None))
    with torch.inference_mode():
        member_outputs = estimator.ensemble_(probe.to(parameter.device if parameter is not None else "cpu"))
    metadata = {
        "format": _FORMAT,
        "format_version": FORMAT_VERSION,
        "skrpf_version": __version__,
        "class": type(estimator).__name__,
        "params": encoded_params,
        "attributes": attributes,
        "n_members": int(estimator.ensemble_.n_members),
        "member_outputs": int(member_outputs.shape[-1]),
        "history": _json_history(getattr(estimator, "net_", None)),
    }
    save_file(tensors, os.fspath(path), metadata={_METADATA_KEY: json.dumps(metadata, allow_nan=True)})


# --------------------------------------------------------------------- load
def read_metadata(path) -> dict:
    """Read the JSON metadata of a file written by :func:`save`, without building the model.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    metadata : dict
        ``format_version``, ``skrpf_version``, the encoded ``params``,
        ``attributes`` and the skorch training ``history`` (a list of one
        dict per epoch; a list of such lists, one per net, with
        ``vectorize=False`` or members trained in parallel by ``n_jobs``).

    Raises
    ------
    ValueError
        If the file is not a skrpf model file or has another format version.
    """
    path = os.fspath(path)
    try:
        with safe_open(path, framework="np") as handle:
            header = handle.metadata() or {}
    except FileNotFoundError:
        raise
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(
            f"{path!r} is not a skrpf model file: it is not a safetensors file ({exc}). skrpf.load "
            "never unpickles; a pickle or joblib file can only be opened with pickle or joblib, "
            "which run code from the file -- do that only for files you trust."
        ) from None
    if _METADATA_KEY not in header:
        raise ValueError(f"{path!r} is a safetensors file but not a skrpf model file (no skrpf metadata).")
    try:
        metadata = json.loads(header[_METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path!r} has corrupt skrpf metadata: {exc}.") from None
    if not isinstance(metadata, dict) or metadata.get("format") != _FORMAT:
        raise ValueError(f"{path!r} is not a skrpf model file (unexpected metadata).")
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{path!r} was written in skrpf file format version {version!r} (by skrpf "
            f"{metadata.get('skrpf_version')}); this skrpf {__version__} reads version "
            f"{FORMAT_VERSION} only. Load it with the skrpf version that wrote it and refit or re-save."
        )
    return metadata


def load(path, *, map_location="cpu", **params) -> RandomizedPriorBase:
    """Read an estimator written by :func:`save`; never unpickles.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.
    map_location : str or torch.device, default="cpu"
        Where to put the ensemble's tensors. A model saved with
        ``device="cuda"`` thus loads on a machine without a GPU; its
        ``device`` parameter becomes ``"cpu"`` (with a warning) when the
        saved device is not available.
    **params
        Constructor parameters to use instead of the saved ones. Required
        for each parameter that could not be saved as data: a custom
        ``module`` or ``prior`` factory, resampler, optimizer or callbacks.
        The factories must build the architecture that was saved.

    Returns
    -------
    estimator : RandomizedPriorRegressor or RandomizedPriorClassifier
        Of the class that was saved; fitted, with predictions bit-identical to the saved estimator's. It
        has no ``net_``; the training history is in :func:`read_metadata`.

    Raises
    ------
    ValueError
        If the file is not a skrpf model file, has another format version,
        or a required parameter is missing.
    """
    metadata = read_metadata(path)
    # Files written before the classifier existed name the regressor too.
    estimator_class = _lookup(_ESTIMATORS, metadata.get("class", "RandomizedPriorRegressor"))
    valid = set(estimator_class().get_params(deep=False))
    unknown = sorted(set(params) - valid)
    if unknown:
        raise TypeError(f"load() got unknown parameter(s) {unknown}; valid ones are {sorted(valid)}.")
    decoded, missing = {}, []
    for name, value in metadata["params"].items():
        if name in params:
            decoded[name] = params[name]
        elif isinstance(value, dict) and value.get("__kind__") == "custom":
            missing.append(f"{name} (saved as {value.get('repr')})")
        elif name in valid:
            decoded[name] = _decode(value)
    if missing:
        raise ValueError(
            "These parameters were not data and could not be saved; pass them to load(), e.g. "
            f"skrpf.load(path, module=MyFactory): {', '.join(missing)}."
        )
    decoded.update((k, v) for k, v in params.items() if k not in decoded)
    device = torch.device(decoded.get("device", "cpu"))
    if device.type != "cpu" and "device" not in params and not device_available(device):
        warnings.warn(
            f"The model was saved with device={str(device)!r}, which is not available here; "
            "it is loaded with device='cpu'.",
            UserWarning,
            stacklevel=2,
        )
        decoded["device"] = "cpu"
    estimator = estimator_class(**decoded)

    with safe_open(os.fspath(path), framework="np") as handle:
        arrays = {key: handle.get_tensor(key) for key in handle.keys()}
    for name, value in metadata["attributes"].items():
        if isinstance(value, dict) and value.get("__kind__") == "tensor":
            setattr(estimator, name, arrays[_ATTRIBUTE_PREFIX + name])
        elif isinstance(value, dict) and value.get("__kind__") == "strings":
            setattr(
                estimator, name, np.array(value["items"], dtype=object if value["dtype"] == "|O" else None)
            )
        else:
            setattr(estimator, name, _decode(value))
    if "noise" in decoded and not hasattr(estimator, "noise_model_"):
        # Files written before noise="auto" existed hold no noise_model_: the parameter was the model.
        estimator.noise_model_ = decoded["noise"]
    state = {
        key[len(_ENSEMBLE_PREFIX) :]: torch.from_numpy(array)
        for key, array in arrays.items()
        if key.startswith(_ENSEMBLE_PREFIX)
    }
    estimator.ensemble_ = _rebuild_ensemble(estimator, metadata, state).to(map_location)
    return estimator


def _rebuild_ensemble(estimator, metadata, state) -> torch.nn.Module:
    """Build the saved architecture with fresh weights, then copy in the saved ones."""
    n_features = int(estimator.n_features_in_)
    probe = torch.zeros(1, n_features)
    try:
        # A private generator: the fresh weights are overwritten, and the
        # caller's global torch state must not move.
        with private_torch_rng(0, "cpu"):
            # Files written before the hyper-parameters could be fitted hold
            # no _network_prior_scale and no activation_: the parameters were the values.
            prior_scale = float(getattr(estimator, "_network_prior_scale", estimator.prior_scale))
            members, priors = estimator._build_networks(
                n_features,
                int(metadata["member_outputs"]),
                int(estimator.n_outputs_),
                probe,
                int(metadata["n_members"]),
                getattr(estimator, "activation_", None),
                prior_scale,
            )
            ensemble = RandomizedPriorEnsemble(members, priors, prior_scale, vectorize=estimator.vectorize)
        ensemble.double().load_state_dict(state, strict=True)
        # Files written before the cap existed hold no such attribute: their spread was not capped.
        ensemble.cap_spread_at_prior = bool(getattr(estimator, "_cap_spread_at_prior", False))
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ValueError(
            "The module and prior factories do not build the saved architecture; pass the "
            f"factories the model was fitted with to load(). The error was: {exc}"
        ) from exc
    return ensemble.eval()
