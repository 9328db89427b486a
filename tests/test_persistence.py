"""skrpf.save / skrpf.load: bit-identical round trips, and no code ever runs from a file."""

import functools
import json
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import fast_regressor
from safetensors.numpy import load_file, save_file
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import skrpf
from skrpf import MLP, SinePrior
from skrpf.persistence import FORMAT_VERSION, read_metadata
from skrpf.resamplers import PoissonBootstrap

rng = np.random.RandomState(0)
X = rng.uniform(-1, 1, size=(30, 2))
Y = np.column_stack([np.sin(3 * X[:, 0]), X[:, 1] ** 2])
X_TEST = rng.uniform(-2, 2, size=(25, 2))


def _outputs(model, X=X_TEST):
    mean, std = model.predict(X, return_std=True)
    return [mean, std, model.predict_members(X), model.sample_y(X, n_samples=2, random_state=0)]


def _assert_same_predictions(a, b, X=X_TEST):
    for got, expected in zip(_outputs(a, X), _outputs(b, X)):
        np.testing.assert_array_equal(got, expected)


def _assert_same_params(a, b):
    params_a, params_b = a.get_params(deep=True), b.get_params(deep=True)
    assert params_a.keys() == params_b.keys()
    for key, value in params_b.items():
        if isinstance(value, np.random.RandomState):
            state_a, state_b = params_a[key].get_state(), value.get_state()
            assert state_a[0] == state_b[0] and np.array_equal(state_a[1], state_b[1])
            assert state_a[2:] == state_b[2:]
        else:
            assert repr(params_a[key]) == repr(value), key


class Payload:
    """Unpickling this creates a marker file: proof that code from a file ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


CONFIGURATIONS = {
    "default MLP, one target": dict(y=Y[:, 0]),
    "two targets": dict(y=Y),
    "sine prior, Poisson bootstrap": dict(prior=SinePrior, bootstrap=PoissonBootstrap()),
    "partial sine prior": dict(prior=functools.partial(SinePrior, frequency=2.0)),
    "no prior": dict(prior_scale=0.0),
    "member by member": dict(vectorize=False, n_estimators=2),
    "RandomState seed, SGD": dict(random_state=np.random.RandomState(3), optimizer=torch.optim.SGD, lr=1e-3),
    "tuple MLP": dict(module=MLP(hidden_layer_sizes=(5, 3), activation="tanh")),
}


@pytest.mark.parametrize("name", list(CONFIGURATIONS))
def test_round_trip_keeps_predictions_and_parameters(name, tmp_path):
    params = dict(CONFIGURATIONS[name])
    y = params.pop("y", Y[:, 0])
    model = fast_regressor(max_epochs=3, **params).fit(X, y)
    path = tmp_path / "model.safetensors"
    skrpf.save(model, path)
    loaded = skrpf.load(path)
    _assert_same_predictions(loaded, model)
    _assert_same_params(loaded, model)
    assert type(loaded.module) is type(model.module)
    # Not saved: the skorch net (its history is), the warm-start state (a loaded model fits cold)
    # and the cached member outputs of the last predict.
    not_saved = ("net_", "_fit_state", "_predictive_cache")
    fitted_state = [k for k in vars(model) if k not in model.get_params() and k not in not_saved]
    assert sorted(k for k in vars(loaded) if k not in loaded.get_params()) == sorted(fitted_state)
    for key in fitted_state:
        if isinstance(getattr(model, key), np.ndarray):
            np.testing.assert_array_equal(getattr(loaded, key), getattr(model, key))
            assert getattr(loaded, key).dtype == getattr(model, key).dtype


def test_every_noise_model_round_trips(tmp_path):
    # The fitted noise attributes are saved like any other fitted array.
    noise_models = ["none", "homoscedastic", "heteroscedastic"]
    if "noise" not in fast_regressor().get_params():
        pytest.skip("this version has no noise parameter")
    for noise in noise_models:
        model = fast_regressor(max_epochs=3, noise=noise).fit(X, Y)
        skrpf.save(model, tmp_path / f"{noise}.safetensors")
        loaded = skrpf.load(tmp_path / f"{noise}.safetensors")
        _assert_same_predictions(loaded, model)
        np.testing.assert_array_equal(
            loaded.predict(X_TEST, return_cov=True)[1], model.predict(X_TEST, return_cov=True)[1]
        )


def test_feature_names_and_history_round_trip(tmp_path):
    frame = pd.DataFrame(X, columns=["width", "height"])
    model = fast_regressor(max_epochs=4).fit(frame, Y[:, 0])
    skrpf.save(model, tmp_path / "m.safetensors")
    loaded = skrpf.load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(loaded.feature_names_in_, model.feature_names_in_)
    assert loaded.feature_names_in_.dtype == object
    _assert_same_predictions(loaded, model, pd.DataFrame(X_TEST, columns=["width", "height"]))
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        loaded.predict(pd.DataFrame(X_TEST, columns=["height", "width"]))
    history = read_metadata(tmp_path / "m.safetensors")["history"]
    assert [epoch["train_loss"] for epoch in history] == list(model.net_.history[:, "train_loss"])
    assert not hasattr(loaded, "net_")


def test_a_loaded_model_can_be_refit_and_cloned(tmp_path):
    model = fast_regressor(max_epochs=3).fit(X, Y[:, 0])
    skrpf.save(model, tmp_path / "m.safetensors")
    loaded = skrpf.load(tmp_path / "m.safetensors")
    _assert_same_predictions(clone(loaded).fit(X, Y[:, 0]), model)


def test_pickle_and_joblib_still_work_on_a_loaded_model(tmp_path):
    import joblib

    model = fast_regressor(max_epochs=3).fit(X, Y[:, 0])
    skrpf.save(model, tmp_path / "m.safetensors")
    loaded = skrpf.load(tmp_path / "m.safetensors")
    _assert_same_predictions(pickle.loads(pickle.dumps(loaded)), model)
    joblib.dump(loaded, tmp_path / "m.joblib")
    _assert_same_predictions(joblib.load(tmp_path / "m.joblib"), model)


# ------------------------------------------------------------ custom factories
class TinyNet(torch.nn.Module):
    def __init__(self, n_features_in, n_outputs):
        super().__init__()
        self.hidden = torch.nn.Linear(n_features_in, 6)
        self.out = torch.nn.Linear(6, n_outputs)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x)))


def test_custom_factories_are_passed_back_to_load(tmp_path):
    model = fast_regressor(module=TinyNet, max_epochs=3).fit(X, Y[:, 0])
    skrpf.save(model, tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match=r"pass them to load\(\).*module \(saved as <class '.*TinyNet'>\)"):
        skrpf.load(tmp_path / "m.safetensors")
    loaded = skrpf.load(tmp_path / "m.safetensors", module=TinyNet)
    _assert_same_predictions(loaded, model)


def test_a_factory_of_another_architecture_is_refused(tmp_path):
    model = fast_regressor(max_epochs=2).fit(X, Y[:, 0])
    skrpf.save(model, tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="do not build the saved architecture"):
        skrpf.load(tmp_path / "m.safetensors", module=MLP(hidden_layer_sizes=(7,)))
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['modul'\]"):
        skrpf.load(tmp_path / "m.safetensors", modul=TinyNet)


# --------------------------------------------------------------------- safety
def test_load_never_unpickles(tmp_path, monkeypatch):
    model = fast_regressor(max_epochs=2).fit(X, Y[:, 0])
    skrpf.save(model, tmp_path / "m.safetensors")

    def refuse(*args, **kwargs):
        raise AssertionError("load() used pickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    _assert_same_predictions(skrpf.load(tmp_path / "m.safetensors"), model)


def _pickle_file(path, marker):
    path.write_bytes(pickle.dumps(Payload(marker)))


def _torch_zip_file(path, marker):
    # The layout torch.save writes: a zip archive whose data.pkl holds the pickle.
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(Payload(marker)))


@pytest.mark.parametrize("write", [_pickle_file, _torch_zip_file])
def test_a_file_with_a_pickle_payload_is_refused_and_never_runs(tmp_path, write):
    # The payload is live: unpickling it does create its marker.
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(Payload(proof))).close()
    assert proof.exists()

    marker = tmp_path / "marker"
    path = tmp_path / "model.safetensors"
    write(path, marker)
    with pytest.raises(
        ValueError, match=r"is not a skrpf model file: it is not a safetensors file.*never unpickles"
    ):
        skrpf.load(path)
    assert not marker.exists()


def _rewrite(path, change):
    """Rewrite a saved file with its metadata edited by ``change``."""
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as handle:
        metadata = json.loads(handle.metadata()["skrpf"])
    tensors = load_file(str(path))
    change(metadata)
    save_file(tensors, str(path), metadata={"skrpf": json.dumps(metadata)})


def test_a_pickle_payload_hidden_in_the_metadata_is_refused(tmp_path):
    model = fast_regressor(max_epochs=2).fit(X, Y[:, 0])
    path = tmp_path / "m.safetensors"
    skrpf.save(model, path)
    marker = tmp_path / "marker"
    payload = pickle.dumps(Payload(marker)).decode("latin-1")

    def inject(metadata):
        metadata["params"]["module"] = {"__kind__": "pickle", "data": payload}

    _rewrite(path, inject)
    with pytest.raises(ValueError, match="unknown kind 'pickle'"):
        skrpf.load(path)
    assert not marker.exists()

    def import_path(metadata):
        metadata["params"]["module"] = {"__kind__": "factory", "name": "os.system", "params": {}}

    _rewrite(path, import_path)
    with pytest.raises(
        ValueError, match=r"names 'os.system', which is not one of skrpf's built-in \['MLP'\]"
    ):
        skrpf.load(path)


def test_other_safetensors_files_are_refused(tmp_path):
    path = tmp_path / "weights.safetensors"
    save_file({"w": np.zeros(3)}, str(path))
    with pytest.raises(ValueError, match="not a skrpf model file"):
        skrpf.load(path)


def test_an_incompatible_format_version_is_refused(tmp_path):
    model = fast_regressor(max_epochs=2).fit(X, Y[:, 0])
    path = tmp_path / "m.safetensors"
    skrpf.save(model, path)
    _rewrite(path, lambda metadata: metadata.update(format_version=FORMAT_VERSION + 98))
    with pytest.raises(
        ValueError, match=rf"file format version {FORMAT_VERSION + 98} .*reads version {FORMAT_VERSION}"
    ):
        skrpf.load(path)


def test_a_model_saved_on_cuda_loads_on_the_cpu(tmp_path):
    model = fast_regressor(max_epochs=2).fit(X, Y[:, 0])
    path = tmp_path / "m.safetensors"
    skrpf.save(model, path)
    _rewrite(path, lambda metadata: metadata["params"].update(device="cuda:0"))
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the saved device is available")
    with pytest.warns(UserWarning, match=r"saved with device='cuda:0', which is not available here"):
        loaded = skrpf.load(path)
    assert loaded.device == "cpu"
    assert all(t.device.type == "cpu" for t in loaded.ensemble_.state_dict().values())
    _assert_same_predictions(loaded, model)


def test_save_refuses_unfitted_estimators_and_unknown_attributes(tmp_path):
    with pytest.raises(NotFittedError):
        skrpf.save(fast_regressor(), tmp_path / "m.safetensors")
    model = fast_regressor(max_epochs=2).fit(X, Y[:, 0])
    model.strange_ = object()
    with pytest.raises(TypeError, match="cannot write the fitted attribute 'strange_'"):
        skrpf.save(model, tmp_path / "m.safetensors")


def test_the_small_data_spread_cap_survives_a_round_trip(tmp_path):
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 1, size=(15, 3))
    model = skrpf.RandomizedPriorRegressor(random_state=0).fit(X, np.sin(3 * X).sum(axis=1))
    far = 0.5 + 3 * rng.normal(size=(50, 3))
    path = tmp_path / "model.safetensors"
    skrpf.save(model, path)
    loaded = skrpf.load(path)
    assert loaded.ensemble_.cap_spread_at_prior
    np.testing.assert_array_equal(
        loaded.predict(far, return_std=True)[1], model.predict(far, return_std=True)[1]
    )
