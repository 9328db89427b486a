"""skrpf.botorch.RandomizedPriorModel: the members as a BoTorch ensemble posterior."""

import importlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import fast_regressor

from skrpf import MLP


def test_package_does_not_import_botorch():
    code = "import sys, skrpf; print('skrpf.botorch' in sys.modules, 'botorch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_missing_botorch_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "botorch", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "botorch.models", None)
    monkeypatch.setitem(sys.modules, "botorch.models.ensemble", None)
    monkeypatch.delitem(sys.modules, "skrpf.botorch", raising=False)
    with pytest.raises(ImportError, match=r"skrpf.botorch needs BoTorch.*pip install 'skrpf\[botorch\]'"):
        importlib.import_module("skrpf.botorch")
    monkeypatch.delitem(sys.modules, "skrpf.botorch", raising=False)


botorch = pytest.importorskip("botorch")
from botorch.acquisition import (  # noqa: E402
    PosteriorMean,
    UpperConfidenceBound,
    qLogExpectedImprovement,
    qUpperConfidenceBound,
)
from botorch.exceptions.errors import UnsupportedError  # noqa: E402
from botorch.generation.sampling import MaxPosteriorSampling  # noqa: E402
from botorch.optim import optimize_acqf  # noqa: E402

from skrpf.botorch import RandomizedPriorModel, RandomizedPriorPosterior  # noqa: E402

SCALES = np.array([1.0, 10.0])


def _fitted(n_targets=1, **params):
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(30, 2)) * SCALES
    Y = np.column_stack([-((X / SCALES - 0.3) ** 2).sum(axis=1), np.sin(3 * X[:, 0])])
    y = Y[:, 0] if n_targets == 1 else Y
    # tanh members: the posterior is smooth, so finite differences converge.
    module = MLP(hidden_layer_sizes=(16, 16), activation="tanh")
    return fast_regressor(module=module, **params).fit(X, y), X, y


def _points(*shape):
    generator = torch.Generator().manual_seed(1)
    return torch.rand(*shape, 2, generator=generator, dtype=torch.float64) * torch.as_tensor(SCALES)


@pytest.mark.parametrize("noise", ["none", "homoscedastic", "heteroscedastic"])
@pytest.mark.parametrize("n_targets", [1, 2])
def test_posterior_is_the_members(noise, n_targets):
    estimator, _, _ = _fitted(n_targets, noise=noise)
    model = RandomizedPriorModel(estimator)
    assert model.num_outputs == n_targets and model.batch_shape == torch.Size([])
    X = _points(5, 3)  # 5 batches of q = 3 points
    posterior = model.posterior(X)
    assert isinstance(posterior, RandomizedPriorPosterior)
    assert posterior.values.shape == (5, 4, 3, n_targets)
    members = estimator.predict_members(X.reshape(-1, 2).numpy())
    members = members.reshape(4, 5, 3, n_targets)  # (K, batch, q, m)
    # predict_members rounds to float32 (in standardised units); the posterior keeps float64.
    size = np.abs(members).max()
    values = posterior.values.detach().numpy()
    np.testing.assert_allclose(values, members.transpose(1, 0, 2, 3), rtol=1e-6, atol=1e-6 * size)
    np.testing.assert_allclose(posterior.mean.detach().numpy(), members.mean(axis=0), atol=1e-6 * size)
    variance = posterior.variance.detach().numpy()
    np.testing.assert_allclose(variance, members.var(axis=0), rtol=1e-5, atol=1e-6 * size**2)
    # The square of the model std that predict returns: the function's, without observation noise.
    _, spread = estimator.predict(X.reshape(-1, 2).numpy(), return_std=True, include_noise=False)
    np.testing.assert_allclose(variance.reshape(spread.shape), spread**2, rtol=1e-5, atol=1e-6 * size**2)


def test_batch_shapes_and_output_indices():
    estimator, _, _ = _fitted(n_targets=2)
    model = RandomizedPriorModel(estimator)
    full = model.posterior(_points(2, 3, 4))
    assert full.values.shape == (2, 3, 4, 4, 2) and full.mean.shape == (2, 3, 4, 2)
    assert model.posterior(_points(4)).values.shape == (4, 4, 2)  # q x d: no batch
    second = model.posterior(_points(2, 3, 4), output_indices=[1])
    np.testing.assert_array_equal(second.values.detach(), full.values[..., 1:].detach())
    single = model.posterior(_points(3, 4).to(torch.float32))
    assert single.dtype == torch.float32


def test_posterior_gradient_matches_finite_differences():
    estimator, _, _ = _fitted(noise="heteroscedastic")
    model = RandomizedPriorModel(estimator)
    X = _points(2, 3).requires_grad_(True)

    def objective(points):
        posterior = model.posterior(points)
        # Members, mean and variance: all of what acquisition functions read.
        return (posterior.values**3).sum() + posterior.mean.sum() + posterior.variance.sqrt().sum()

    (gradient,) = torch.autograd.grad(objective(X), X)
    expected = torch.zeros_like(X)
    with torch.no_grad():
        for index in np.ndindex(*X.shape):
            step = torch.zeros_like(X)
            step[index] = 1e-6 * SCALES[index[-1]]
            expected[index] = (objective(X + step) - objective(X - step)) / (2 * step[index])
    scale = torch.as_tensor(SCALES)  # compared per unit of the standardised input
    np.testing.assert_allclose((gradient * scale).numpy(), (expected * scale).numpy(), rtol=1e-5, atol=1e-6)


def test_analytic_ucb_uses_the_model_std_of_predict():
    estimator, _, _ = _fitted()
    model = RandomizedPriorModel(estimator)
    X = _points(6, 1)
    value = UpperConfidenceBound(model, beta=4.0)(X).detach().numpy()
    mean, spread = estimator.predict(X.reshape(-1, 2).numpy(), return_std=True, include_noise=False)
    np.testing.assert_allclose(value, mean + 2.0 * spread, rtol=1e-5)


@pytest.mark.parametrize("acquisition", ["qLogExpectedImprovement", "qUpperConfidenceBound"])
def test_mc_acquisitions_are_differentiable_and_optimize_acqf_runs(acquisition):
    estimator, _, y = _fitted()
    model = RandomizedPriorModel(estimator)
    if acquisition == "qLogExpectedImprovement":
        function = qLogExpectedImprovement(model, best_f=float(np.median(y)))
    else:
        function = qUpperConfidenceBound(model, beta=2.0)
    X = _points(4, 2).requires_grad_(True)  # 4 batches of q = 2
    values = function(X)
    assert values.shape == (4,) and torch.isfinite(values).all()
    (gradient,) = torch.autograd.grad(values.sum(), X)
    assert torch.isfinite(gradient).all() and (gradient != 0).any()
    bounds = torch.tensor([[0.0, 0.0], SCALES.tolist()], dtype=torch.float64)
    torch.manual_seed(0)
    candidate, value = optimize_acqf(function, bounds=bounds, q=2, num_restarts=4, raw_samples=64)
    assert candidate.shape == (2, 2) and torch.isfinite(value)
    assert torch.all((candidate >= bounds[0]) & (candidate <= bounds[1]))


def test_optimize_acqf_finds_the_maximum_of_the_posterior_mean():
    # A deterministic acquisition, checked against a dense grid of predict:
    # optimize_acqf follows the model's gradients to the ensemble mean's maximum.
    estimator, _, _ = _fitted()
    model = RandomizedPriorModel(estimator)
    bounds = torch.tensor([[0.0, 0.0], SCALES.tolist()], dtype=torch.float64)
    torch.manual_seed(0)
    candidate, value = optimize_acqf(PosteriorMean(model), bounds=bounds, q=1, num_restarts=4, raw_samples=32)
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 101), np.linspace(0, 1, 101)), axis=-1).reshape(-1, 2)
    best = estimator.predict(grid * SCALES).max()
    assert value.item() >= best - 1e-6 * abs(best)
    np.testing.assert_allclose(value.item(), estimator.predict(candidate.numpy())[0], rtol=1e-6)


def test_thompson_samples_are_whole_members():
    estimator, _, _ = _fitted()
    model = RandomizedPriorModel(estimator)
    candidates = _points(50)
    members = torch.as_tensor(estimator.predict_members(candidates.numpy()))  # (K, 50)
    torch.manual_seed(0)
    samples = model.posterior(candidates).rsample(torch.Size([8]))
    assert samples.shape == (8, 50, 1)
    for sample in samples[..., 0]:
        # Each draw is one member over all candidates: coherent, as Thompson sampling needs.
        distance = (members - sample).abs().max(dim=1).values
        assert distance.min() < 1e-6 * members.abs().max()
    # MaxPosteriorSampling picks, for each draw, the argmax of one member.
    torch.manual_seed(0)
    chosen = MaxPosteriorSampling(model, replacement=True)(candidates, num_samples=5)
    argmaxes = {int(i) for i in members.argmax(dim=1)}
    for point in chosen:
        index = int(torch.nonzero((candidates == point).all(dim=1))[0])
        assert index in argmaxes


def test_errors():
    estimator, _, _ = _fitted()
    model = RandomizedPriorModel(estimator)
    with pytest.raises(ValueError, match=r"d=2 features.*got shape \(3, 5\)"):
        model.posterior(torch.rand(3, 5, dtype=torch.float64))
    with pytest.raises(UnsupportedError, match="observation noise"):
        model.posterior(_points(3), observation_noise=torch.ones(3, 1))
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        RandomizedPriorModel(fast_regressor())


def test_model_is_a_snapshot_of_the_fit():
    estimator, X, y = _fitted()
    model = RandomizedPriorModel(estimator)
    before = model.posterior(_points(4)).mean.detach().clone()
    estimator.fit(X, -y)
    np.testing.assert_array_equal(model.posterior(_points(4)).mean.detach(), before)
