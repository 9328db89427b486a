"""to_torch(): the fitted predictive distribution as a standalone torch module."""

import numpy as np
import pytest
import torch
from conftest import fast_regressor

from skrpf import MLP
from skrpf.export import RandomizedPriorNetwork


def _data(n_targets):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3)) * [1.0, 10.0, 0.1]
    Y = np.column_stack([np.sin(X[:, 0]) + X[:, 1] / 10, 5 * X[:, 2] * X[:, 0]])
    Y = Y + 0.2 * rng.standard_normal(Y.shape)
    return X, (Y[:, 0] if n_targets == 1 else Y)


def _as_2d(array):
    return array.reshape(len(array), -1)


def _assert_matches_predict(model, network, X, include_noise=True):
    mean, std = network(torch.as_tensor(X))
    expected_mean, expected_std = model.predict(X, return_std=True, include_noise=include_noise)
    # predict rounds member outputs to float32; the module keeps float64.
    np.testing.assert_allclose(mean.detach().numpy(), _as_2d(expected_mean), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(std.detach().numpy(), _as_2d(expected_std), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("noise", ["none", "homoscedastic", "heteroscedastic"])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("n_targets", [1, 2])
def test_forward_is_predict_with_std(noise, normalize, n_targets):
    X, y = _data(n_targets)
    model = fast_regressor(noise=noise, normalize_X=normalize, normalize_y=normalize).fit(X, y)
    X_test = np.vstack([X[:10], 3 * X[10:15]])  # also far from the data
    for include_noise in (True, False):
        network = model.to_torch(include_noise=include_noise)
        assert isinstance(network, RandomizedPriorNetwork) and not network.training
        _assert_matches_predict(model, network, X_test, include_noise)
        # The members, one by one, and their noise variances.
        means, noise_variances = network.members(torch.as_tensor(X_test))
        members = model.predict_members(X_test)
        members = members if n_targets > 1 else members[..., None]
        np.testing.assert_allclose(means.detach().numpy(), members, rtol=1e-6, atol=1e-7)
        expected_noise = model.predict_noise_std(X_test) ** 2
        np.testing.assert_allclose(
            noise_variances.mean(dim=0).detach().numpy(), _as_2d(expected_noise), rtol=1e-5, atol=1e-12
        )


def test_homoscedastic_noise_is_in_the_std():
    X, y = _data(1)
    model = fast_regressor(noise="homoscedastic").fit(X, y)
    x = torch.as_tensor(X[:5])
    _, std = model.to_torch()(x)
    _, spread = model.to_torch(include_noise=False)(x)
    assert model.noise_std_[0] > 0.05
    noise_variance = (std.square() - spread.square()).detach().numpy()
    np.testing.assert_allclose(noise_variance, model.noise_std_[0] ** 2, rtol=1e-10)


def test_module_is_standalone_and_differentiable():
    X, y = _data(1)
    model = fast_regressor().fit(X, y)
    network = model.to_torch()
    before = network(torch.as_tensor(X))[0].detach().clone()
    with torch.no_grad():
        for tensor in model.ensemble_.state_dict().values():
            tensor.zero_()  # the module holds a copy of the members and priors
    np.testing.assert_array_equal(network(torch.as_tensor(X))[0].detach(), before)
    assert not np.allclose(model.predict(X), before[:, 0].numpy())
    # Gradients reach the input through members, priors and the standardisation.
    x = torch.as_tensor(X[:3]).requires_grad_(True)
    mean, std = network(x)
    (mean.sum() + std.sum()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and (x.grad != 0).any()


def test_float32_inputs_compute_in_float64():
    X, y = _data(1)
    model = fast_regressor().fit(X, y)
    network = model.to_torch()
    mean, std = network(torch.as_tensor(X, dtype=torch.float32))
    assert mean.dtype == std.dtype == torch.float64
    _assert_matches_predict(model, network, X.astype(np.float32).astype(np.float64))


def test_to_torch_needs_a_fitted_estimator():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        fast_regressor().to_torch()
    X, y = _data(1)
    with pytest.raises(ValueError, match="include_noise must be True or False"):
        fast_regressor(max_epochs=1).fit(X, y).to_torch(include_noise="yes")


@pytest.mark.parametrize("noise", ["homoscedastic", "heteroscedastic"])
# torch.jit.trace is deprecated since torch 2.13, and still in use.
@pytest.mark.filterwarnings("ignore:`torch.jit.trace:DeprecationWarning")
def test_trace_and_export(noise):
    X, y = _data(2)
    model = fast_regressor(noise=noise).fit(X, y)
    network = model.to_torch()
    example = torch.as_tensor(X[:5])
    traced = torch.jit.trace(network, example)
    batch = torch.export.Dim("batch")
    exported = torch.export.export(network, (example,), dynamic_shapes=({0: batch},)).module()
    for module in (traced, exported):
        # Other batch sizes than the example's.
        _assert_matches_predict(model, module, X)
        _assert_matches_predict(model, module, X[:1])


def test_export_with_a_batch_beyond_the_training_kernel_threshold():
    # Above ~2**18 elements per layer the members train through a written-out
    # backward; torch.export must not record that choice as a guard on the batch size.
    X, y = _data(1)
    model = fast_regressor(module=MLP(hidden_layer_sizes=(256,)), max_epochs=1).fit(X, y)
    network = model.to_torch()
    batch = torch.export.Dim("batch")
    exported = torch.export.export(network, (torch.as_tensor(X[:5]),), dynamic_shapes=({0: batch},)).module()
    X_big = np.random.RandomState(1).normal(size=(300, 3))  # 4 members x 300 rows x 256 > 2**18
    _assert_matches_predict(model, exported, X_big)


@pytest.mark.parametrize("noise", ["homoscedastic", "heteroscedastic"])
@pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)`:FutureWarning")  # inside torch.onnx
def test_onnx_export_matches_predict(noise):
    onnx_reference = pytest.importorskip("onnx.reference")
    pytest.importorskip("onnxscript")
    X, y = _data(2)
    model = fast_regressor(noise=noise).fit(X, y)
    program = torch.onnx.export(
        model.to_torch(),
        (torch.as_tensor(X[:5]),),
        input_names=["x"],
        output_names=["mean", "std"],
        dynamic_shapes=({0: torch.export.Dim("batch")},),
        dynamo=True,
        verbose=False,
    )
    session = onnx_reference.ReferenceEvaluator(program.model_proto)
    mean, std = session.run(None, {"x": X})
    expected_mean, expected_std = model.predict(X, return_std=True)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(std, expected_std, rtol=1e-5, atol=1e-7)
