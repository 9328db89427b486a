"""The device parameter: checked before any work in fit, and followed by predict after set_params."""

import numpy as np
import pytest
import torch
from conftest import fast_regressor
from test_errors import CountingFactory

from skrpf import _validation as checks


def _data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20, 2))
    return X, X[:, 0] - X[:, 1]


@pytest.mark.parametrize(
    ("device", "backend"),
    [("cuda", "cuda"), ("cuda:0", "cuda"), (torch.device("cuda", 0), "cuda"), ("mps", "mps")],
)
def test_unavailable_device_is_refused_before_any_work(monkeypatch, device, backend):
    # Whatever this machine has: torch reports the backend as missing.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    factory = CountingFactory()
    model = fast_regressor(module=factory, device=device)
    message = rf"device=.*{backend}.* is not available: .*no {backend} device.*'cpu'"
    with pytest.raises(ValueError, match=message):
        model.fit(*_data())
    assert factory.calls == 0
    assert not hasattr(model, "ensemble_")


def test_missing_cuda_index_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"device='cuda:3' is not available: this machine has 1 CUDA device"):
        fast_regressor(device="cuda:3").fit(*_data())


def test_backend_this_torch_lacks_is_refused():
    with pytest.raises(ValueError, match=r"device='meta' is not available"):
        fast_regressor(device="meta").fit(*_data())


@pytest.mark.parametrize("same", ["cpu", torch.device("cpu"), "cpu:0"])
def test_set_params_to_the_same_device_changes_nothing(same):
    X, y = _data()
    model = fast_regressor().fit(X, y)
    expected = model.predict(X, return_std=True)
    model.set_params(device=same)
    got = model.predict(X, return_std=True)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert model.ensemble_.device == torch.device("cpu")


@pytest.mark.parametrize("method", ["predict", "predict_members", "sample_y", "to_torch"])
def test_set_params_to_an_unavailable_device_fails_at_predict_and_moves_nothing(method):
    X, y = _data()
    model = fast_regressor().fit(X, y)
    expected = model.predict(X)
    model.set_params(device="cuda:99")  # no machine has it
    call = (lambda: model.to_torch()) if method == "to_torch" else (lambda: getattr(model, method)(X))
    with pytest.raises(ValueError, match=r"device='cuda:99' is not available.*Pass device='cpu'"):
        call()
    assert model.ensemble_.device == torch.device("cpu")
    model.set_params(device="not-a-device")
    with pytest.raises(ValueError, match=r"device='not-a-device' is not a valid torch device"):
        call()
    np.testing.assert_array_equal(model.set_params(device="cpu").predict(X), expected)


class _FakeModule:
    """Stands for the ensemble: a device property and a .to() that records moves."""

    def __init__(self, device):
        self.device = torch.device(device)
        self.moves = []

    def to(self, device):
        self.moves.append(device)
        self.device = device
        return self


@pytest.mark.parametrize(
    ("current", "requested", "moved_to"),
    [
        ("cpu", "cpu", None),
        ("cpu", torch.device("cpu"), None),
        ("cpu", "cpu:0", None),
        ("cuda:1", "cuda", None),  # no index: wherever fit put it
        ("cuda:1", "cuda:1", None),
        ("cuda:1", torch.device("cuda", 1), None),
        ("cuda:0", "cuda:1", torch.device("cuda", 1)),
        ("cpu", "cuda:0", torch.device("cuda", 0)),
        ("cuda:0", "cpu", torch.device("cpu")),
    ],
)
def test_move_to_device_moves_only_when_the_device_differs(monkeypatch, current, requested, moved_to):
    monkeypatch.setattr(checks, "device_available", lambda device: True)
    module = _FakeModule(current)
    device = checks.move_to_device("device", requested, module)
    assert module.moves == ([] if moved_to is None else [moved_to])
    assert device == module.device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_set_params_moves_the_fitted_ensemble_to_cuda_and_back():
    X, y = _data()
    model = fast_regressor().fit(X, y)
    expected = model.predict(X, return_std=True)
    got = model.set_params(device="cuda").predict(X, return_std=True)
    assert model.ensemble_.device.type == "cuda"
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-5, atol=1e-6)
    model.set_params(device="cpu").predict(X)
    assert model.ensemble_.device == torch.device("cpu")
