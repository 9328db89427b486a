"""What training does: priors stay frozen, weights count, and the vectorized
path is the per-member computation, only batched."""

import copy

import numpy as np
import pytest
import torch
from conftest import fast_regressor
from skorch.callbacks import Callback
from torch import nn

from skrpf import MLP, RandomizedPriorRegressor, SinePrior
from skrpf.datasets import make_paper_toy


class RecordingFactory:
    """Builds networks with an inner factory and keeps a copy of each as built."""

    def __init__(self, inner):
        self.inner = inner
        self.built = []

    def __call__(self, n_features_in, n_outputs):
        network = self.inner(n_features_in, n_outputs)
        self.built.append(copy.deepcopy(network))
        return network


class FixedWeights:
    """Resampler returning weights chosen by the test."""

    def __init__(self, weights):
        self.weights = np.asarray(weights, dtype=float)

    def sample_weights(self, n_samples, n_estimators, random_state):
        return self.weights[:n_estimators, :n_samples]


class ResidualNet(nn.Module):
    """Not a plain Sequential: exercises the torch.func.vmap path."""

    def __init__(self, n_features_in, n_outputs):
        super().__init__()
        self.inner = nn.Linear(n_features_in, 8)
        self.skip = nn.Linear(n_features_in, n_outputs)
        self.out = nn.Linear(8, n_outputs)

    def forward(self, x):
        return self.skip(x) + self.out(torch.tanh(self.inner(x)))


def test_std_is_larger_far_from_the_data():
    X, y = make_paper_toy()
    model = RandomizedPriorRegressor(n_estimators=10, max_epochs=300, random_state=0).fit(X, y)
    _, std_inside = model.predict(X, return_std=True, include_noise=False)
    _, std_far = model.predict(np.array([[-1.5], [3.0]]), return_std=True, include_noise=False)
    assert std_far.min() > 3 * std_inside.mean()


def test_predictions_change_with_prior_scale(data_1d):
    X, y = data_1d
    far = np.array([[-3.0], [3.0]])
    spreads = {}
    for scale in (0.0, 1.0, 5.0):
        model = fast_regressor(prior_scale=scale, max_epochs=30).fit(X, y)
        spreads[scale] = model.predict(far, return_std=True, include_noise=False)[1].mean()
    assert spreads[0.0] < spreads[1.0] < spreads[5.0]


def test_prior_parameters_are_unchanged_by_fit(data_1d):
    X, y = data_1d
    priors = RecordingFactory(MLP(hidden_layer_sizes=(16, 16)))
    model = fast_regressor(prior=priors, max_epochs=30).fit(X, y)
    assert len(priors.built) == model.n_estimators
    for k, initial in enumerate(priors.built):
        trained = model.ensemble_.priors.unstack(k, initial)
        for before, after in zip(initial.parameters(), trained.parameters()):
            torch.testing.assert_close(before, after, rtol=0, atol=0)
    # Priors are buffers: the optimizer never saw them.
    optimized = {id(p) for group in model.net_.optimizer_.param_groups for p in group["params"]}
    assert not optimized & {id(b) for b in model.ensemble_.priors.buffers()}
    assert not list(model.ensemble_.priors.parameters())


def test_zero_weight_points_do_not_count(data_1d):
    X, y = data_1d
    n = len(y)
    weights = np.ones((4, n))
    weights[:, ::2] = 0.0
    y_changed = y.copy()
    y_changed[::2] += 100.0
    # normalize_y off: the target scaling would otherwise see the changed points.
    params = dict(bootstrap=FixedWeights(weights), normalize_y=False, batch_size=8)
    original = fast_regressor(**params).fit(X, y).predict_members(X)
    changed = fast_regressor(**params).fit(X, y_changed).predict_members(X)
    np.testing.assert_array_equal(original, changed)
    moved = fast_regressor(**params).fit(X, y + 1.0).predict_members(X)
    assert not np.allclose(original, moved)


@pytest.mark.parametrize("lr_schedule", ["cosine", "constant"])
@pytest.mark.parametrize("inner", [MLP(hidden_layer_sizes=(8, 8)), ResidualNet], ids=["batched", "vmap"])
def test_vectorized_training_matches_a_per_member_loop(inner, lr_schedule):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(24, 2))
    y = X[:, 0] - np.sin(X[:, 1])
    K, alpha, beta, lr, epochs = 3, 0.05, 0.7, 0.01, 15
    weights = rng.poisson(1.0, size=(K, len(y))).astype(float)
    members, priors = RecordingFactory(inner), RecordingFactory(inner)
    model = RandomizedPriorRegressor(
        module=members,
        prior=priors,
        prior_scale=beta,
        n_estimators=K,
        bootstrap=FixedWeights(weights),
        alpha=alpha,
        length_scale=1.0,
        target_noise=0.0,
        optimizer=torch.optim.Adam,
        lr=lr,
        lr_schedule=lr_schedule,
        max_epochs=epochs,
        batch_size=None,
        normalize_X=False,
        normalize_y=False,
        random_state=0,
    ).fit(X, y)

    # The reference: each member alone, with the documented objective.
    x_t = torch.tensor(X, dtype=torch.float32)
    y_t = torch.tensor(y, dtype=torch.float32).unsqueeze(1)
    expected = []
    for k in range(K):
        f, p = copy.deepcopy(members.built[k]), priors.built[k]
        w = torch.tensor(weights[k], dtype=torch.float32)
        optimizer = torch.optim.Adam(f.parameters(), lr=lr)
        # Full batches: one optimizer step per epoch, so the cosine spans `epochs` steps.
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
        with torch.no_grad():
            target = y_t - beta * p(x_t)
        for _ in range(epochs):
            optimizer.zero_grad()
            data_term = (w * (target - f(x_t)).square().sum(dim=1)).sum() / len(y)
            penalty = sum(q.square().sum() for q in f.parameters())
            (data_term + alpha / len(y) * penalty).backward()
            optimizer.step()
            if lr_schedule == "cosine":
                schedule.step()
        with torch.no_grad():
            expected.append((f(x_t) + beta * p(x_t)).squeeze(1).numpy())
    np.testing.assert_allclose(model.predict_members(X), np.array(expected), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("max_grad_norm", [None, 0.05], ids=["free", "clipped"])
def test_per_member_path_matches_vectorized_path(data_1d, max_grad_norm):
    X, y = data_1d
    common = dict(target_noise=0.1, max_grad_norm=max_grad_norm)
    vectorized = fast_regressor(**common).fit(X, y)
    looped = fast_regressor(vectorize=False, **common).fit(X, y)
    assert isinstance(looped.net_, list) and len(looped.net_) == 4
    np.testing.assert_allclose(looped.predict_members(X), vectorized.predict_members(X), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "factory, vectorize",
    [(MLP(hidden_layer_sizes=(8, 8)), True), (ResidualNet, True), (ResidualNet, False), (SinePrior, True)],
    ids=["batched", "vmap", "loop", "parameter-free"],
)
def test_stacks_take_one_batch_of_inputs_per_member(factory, vectorize):
    # The out-of-bag noise pass feeds each member its own rows: x of shape
    # (K, rows, d) must give member k's output on x[k], on every stacking path.
    from skrpf._ensemble import stack_modules

    torch.manual_seed(0)
    modules = [factory(3, 2) for _ in range(4)]
    stack = stack_modules(modules, trainable=True, vectorize=vectorize)
    x = torch.randn(4, 5, 3)
    expected = torch.stack([module(x_k) for module, x_k in zip(modules, x)])
    torch.testing.assert_close(stack(x), expected)
    # A (rows, d) batch is still shared by all members.
    torch.testing.assert_close(stack(x[0]), torch.stack([module(x[0]) for module in modules]))


@pytest.fixture(params=["stack-function", "autograd"])
def stack_backward(request, monkeypatch):
    """Train stacks of any size through StackFunction, or through autograd's own backward."""
    from skrpf import _ensemble

    threshold = 0 if request.param == "stack-function" else 1 << 62
    monkeypatch.setattr(_ensemble, "_STACK_FUNCTION_MIN_ELEMENTS", threshold)
    return request.param


def _tanh_then_relu(n_features_in, n_outputs):
    return nn.Sequential(nn.Linear(n_features_in, 6), nn.Tanh(), nn.ReLU(), nn.Linear(6, n_outputs))


def _relu_last(n_features_in, n_outputs):
    return nn.Sequential(nn.Linear(n_features_in, 6), nn.ReLU(), nn.Linear(6, n_outputs), nn.ReLU())


def _in_place_chain(n_features_in, n_outputs):
    return nn.Sequential(
        nn.Linear(n_features_in, 6), nn.ReLU(inplace=True), nn.Tanh(), nn.Linear(6, n_outputs), nn.Sigmoid()
    )


def _no_bias_identity(n_features_in, n_outputs):
    return nn.Sequential(
        nn.Linear(n_features_in, 6, bias=False), nn.Identity(), nn.Linear(6, n_outputs, bias=False)
    )


def _every_kernel_activation(n_features_in, n_outputs):
    return nn.Sequential(
        nn.Linear(n_features_in, 5),
        nn.GELU(approximate="tanh"),
        nn.Linear(5, 5),
        nn.ELU(alpha=0.7, inplace=True),
        nn.Linear(5, 5),
        nn.SELU(),
        nn.Linear(5, 5),
        nn.LeakyReLU(0.2),
        nn.Linear(5, 5),
        nn.Softplus(beta=2.0, threshold=1.0),
        nn.Linear(5, 5),
        nn.Sigmoid(),
        nn.Linear(5, n_outputs),
    )


@pytest.mark.parametrize(
    "factory",
    [
        MLP(hidden_layer_sizes=(8, 8)),
        MLP(hidden_layer_sizes=(5,), activation="tanh"),
        MLP(hidden_layer_sizes=(5, 4), activation="silu"),
        _tanh_then_relu,
        _relu_last,
        _in_place_chain,
        _no_bias_identity,
        _every_kernel_activation,
    ],
    ids=["relu", "tanh", "silu", "tanh-relu", "relu-last", "in-place-chain", "no-bias", "gelu-to-sigmoid"],
)
@pytest.mark.parametrize("per_member_inputs", [False, True], ids=["shared-x", "x-per-member"])
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_batched_stack_gradients_match_each_member(factory, per_member_inputs, n_outputs, stack_backward):
    # The stack's backward is written out (one autograd node): it must give
    # autograd's gradients member by member, for every kind of activation
    # block, to the weights, biases and inputs, and leave the caller's
    # gradient of the output as it was (a final activation's backward must
    # not work in place on it). One output takes other products than two.
    # Small stacks train through autograd, over the same in-place forward.
    from skrpf._ensemble import BatchedSequential, stack_modules

    torch.manual_seed(0)
    modules = [factory(3, n_outputs) for _ in range(4)]
    stack = stack_modules(modules, trainable=True)
    assert isinstance(stack, BatchedSequential) and stack.training
    shape = (4, 5, 3) if per_member_inputs else (5, 3)
    x = torch.randn(*shape, requires_grad=True)
    out = stack(x)
    assert ("StackFunction" in type(out.grad_fn).__name__) == (stack_backward == "stack-function")
    outer = torch.randn_like(out)  # nonzero where a final ReLU is zero, too
    kept = outer.clone()
    out.backward(outer)
    torch.testing.assert_close(outer, kept, rtol=0, atol=0)

    x_each = x.detach().clone().requires_grad_(True)
    inputs = x_each if per_member_inputs else [x_each] * len(modules)
    expected_out = torch.stack([module(x_k) for module, x_k in zip(modules, inputs)])
    torch.testing.assert_close(out, expected_out)
    expected_out.backward(outer)
    torch.testing.assert_close(x.grad, x_each.grad)
    for position, layer in enumerate(modules[0]):
        if isinstance(layer, nn.Linear):
            expected = torch.stack([m[position].weight.grad.t() for m in modules])
            torch.testing.assert_close(getattr(stack, f"weight_{position}").grad, expected)
            if layer.bias is not None:
                expected_bias = torch.stack([m[position].bias.grad for m in modules]).unsqueeze(1)
                torch.testing.assert_close(getattr(stack, f"bias_{position}").grad, expected_bias)


def test_only_large_stacks_train_through_the_written_out_backward():
    # Its fixed cost is not won back on small stacks (see _STACK_FUNCTION_MIN_ELEMENTS).
    from skrpf._ensemble import _STACK_FUNCTION_MIN_ELEMENTS, stack_modules

    stack = stack_modules([MLP(hidden_layer_sizes=(32,))(2, 1) for _ in range(4)], trainable=True)
    rows = _STACK_FUNCTION_MIN_ELEMENTS // (4 * 32)
    large, small = stack(torch.randn(rows, 2)), stack(torch.randn(rows - 1, 2))
    assert "StackFunction" in type(large.grad_fn).__name__
    assert "StackFunction" not in type(small.grad_fn).__name__
    with torch.no_grad():
        assert stack(torch.randn(rows, 2)).grad_fn is None


def test_batched_stack_gives_autograd_only_what_it_asks_for(stack_backward):
    # Frozen weights get no gradient; an input that does not require one
    # gets none either, and the backward still reaches the other tensors.
    from skrpf._ensemble import stack_modules

    torch.manual_seed(0)
    stack = stack_modules([MLP(hidden_layer_sizes=(4,))(2, 1) for _ in range(3)], trainable=True)
    stack.weight_0.requires_grad_(False)
    x = torch.randn(6, 2)
    stack(x).sum().backward()
    assert stack.weight_0.grad is None and x.grad is None
    assert stack.bias_0.grad is not None and torch.count_nonzero(stack.weight_2.grad) > 0


class BatchNormNet(nn.Module):
    def __init__(self, n_features_in, n_outputs):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(n_features_in, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, n_outputs)
        )

    def forward(self, x):
        return self.body(x)


class DataDependentNet(nn.Module):
    """Branches on a value computed from its weights: torch.func.vmap cannot trace that."""

    def __init__(self, n_features_in, n_outputs):
        super().__init__()
        self.linear = nn.Linear(n_features_in, n_outputs)

    def forward(self, x):
        out = self.linear(x)
        return out if float(out.sum()) > 0 else -out


def test_unvectorizable_module_gets_a_remedy_and_trains_member_by_member(data_1d):
    X, y = data_1d
    with pytest.raises(ValueError, match="vectorize=False"):
        fast_regressor(module=DataDependentNet).fit(X, y)
    model = fast_regressor(module=DataDependentNet, vectorize=False, batch_size=None).fit(X, y)
    assert np.isfinite(model.predict(X)).all()


def test_batchnorm_running_statistics_match_the_per_member_path(data_1d):
    X, y = data_1d
    X = 5 * X + 3  # so that running statistics move away from (0, 1)
    params = dict(module=BatchNormNet, normalize_X=False)
    vectorized = fast_regressor(**params).fit(X, y)
    looped = fast_regressor(vectorize=False, **params).fit(X, y)
    # BatchNorm divides by batch statistics, which amplifies float32 rounding
    # differences between the batched and the single-member kernels.
    np.testing.assert_allclose(vectorized.predict_members(X), looped.predict_members(X), rtol=1e-2, atol=1e-2)
    running_mean = next(b for n, b in vectorized.ensemble_.members.named_buffers() if n == "buffer_0")
    assert running_mean.abs().max() > 0.1


def test_fixed_sine_prior_shapes_extrapolation(data_1d):
    X, y = data_1d
    model = fast_regressor(prior=SinePrior, prior_scale=1.0, normalize_X=False, max_epochs=5).fit(X, y)
    far = np.linspace(4, 6, 5).reshape(-1, 1)
    trainable_only = model.ensemble_.members(torch.tensor(far)).detach().numpy()
    prior_part = model.predict_members(far) - (trainable_only[..., 0] * model._y_scale + model._y_mean)
    expected = np.sin(3 * far[:, 0]) * model._y_scale[0]
    np.testing.assert_allclose(prior_part, np.broadcast_to(expected, prior_part.shape), rtol=1e-4, atol=1e-4)


def test_default_schedule_fits_twenty_points():
    X, y = make_paper_toy()
    model = RandomizedPriorRegressor(random_state=0).fit(X, y)
    assert model.score(X, y) > 0.9


def test_default_schedule_fits_fifty_thousand_points():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(50_000, 2))
    y = np.sin(2 * X[:, 0]) * X[:, 1] + 0.1 * rng.standard_normal(len(X))
    model = RandomizedPriorRegressor(n_estimators=4, random_state=0).fit(X, y)
    X_test = rng.uniform(-2, 2, size=(2000, 2))
    y_test = np.sin(2 * X_test[:, 0]) * X_test[:, 1]
    assert model.score(X_test, y_test) > 0.95


def test_sample_weight_multiplies_the_bootstrap_weights(data_1d):
    X, y = data_1d
    rng = np.random.RandomState(3)
    bootstrap = rng.poisson(1.0, size=(4, len(y))).astype(float)
    sample_weight = rng.uniform(0.0, 2.0, size=len(y))
    params = dict(noise="none", batch_size=8)
    weighted = fast_regressor(bootstrap=FixedWeights(bootstrap), **params).fit(
        X, y, sample_weight=sample_weight
    )
    combined = fast_regressor(bootstrap=FixedWeights(bootstrap * sample_weight), **params).fit(X, y)
    np.testing.assert_array_equal(weighted.predict_members(X), combined.predict_members(X))
    unweighted = fast_regressor(bootstrap=FixedWeights(bootstrap), **params).fit(X, y)
    assert not np.allclose(weighted.predict_members(X), unweighted.predict_members(X))


@pytest.mark.parametrize("batch_size", [None, 7])
def test_cosine_schedule_anneals_the_learning_rate_over_every_step(data_1d, batch_size):
    X, y = data_1d
    lrs = []

    class RecordLR(Callback):
        def on_batch_begin(self, net, batch=None, training=None, **kwargs):
            if training:
                lrs.append(net.optimizer_.param_groups[0]["lr"])

    fast_regressor(lr=0.02, max_epochs=4, batch_size=batch_size, callbacks=[RecordLR()]).fit(X, y)
    steps = 4 * -(-len(X) // (batch_size or len(X)))
    expected = 0.01 * (1 + np.cos(np.pi * np.arange(steps) / steps))
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)

    lrs.clear()
    fast_regressor(lr=0.02, max_epochs=4, lr_schedule="constant", callbacks=[RecordLR()]).fit(X, y)
    np.testing.assert_allclose(lrs, 0.02)


@pytest.mark.parametrize(
    "optimizer, fused, foreach",
    [(torch.optim.Adam, True, None), (torch.optim.AdamW, True, None), (torch.optim.SGD, None, True)],
)
def test_optimizer_uses_the_fused_or_multi_tensor_update(data_1d, optimizer, fused, foreach):
    # Fused Adam/AdamW: one kernel per parameter for the whole update (about a
    # third of the multi-tensor step's cost on the CPU); others: multi-tensor.
    X, y = data_1d
    defaults = fast_regressor(optimizer=optimizer, max_epochs=2).fit(X, y).net_.optimizer_.defaults
    assert (defaults.get("fused"), defaults.get("foreach")) == (fused, foreach)


def test_fused_update_needs_adam_and_a_torch_that_has_it_on_the_device(monkeypatch):
    from skrpf._training import _has_fused_update

    assert _has_fused_update(torch.optim.Adam, "cpu")
    assert _has_fused_update(torch.optim.AdamW, "cuda")
    assert not _has_fused_update(torch.optim.SGD, "cpu")
    assert not _has_fused_update(torch.optim.Adam, "meta")
    monkeypatch.setattr(torch, "__version__", "2.3.1")  # CPU fused Adam arrived in 2.4
    assert not _has_fused_update(torch.optim.Adam, "cpu")
    assert _has_fused_update(torch.optim.Adam, "cuda")


def test_batched_stack_runs_under_torch_func_transforms(stack_backward):
    # torch.func cannot trace the stack's written-out backward: under its
    # transforms the stack must use ordinary operations, with the same result.
    from skrpf._ensemble import stack_modules

    torch.manual_seed(0)
    stack = stack_modules([MLP(hidden_layer_sizes=(5, 4))(3, 1) for _ in range(3)], trainable=True)
    x = torch.randn(4, 3, requires_grad=True)
    stack(x).sum().backward()
    by_func = torch.func.grad(lambda inputs: stack(inputs).sum())(x.detach())
    torch.testing.assert_close(by_func, x.grad)
    jacobian = torch.func.jacrev(lambda row: stack(row.unsqueeze(0)).squeeze(-1).squeeze(-1))(x[0].detach())
    assert jacobian.shape == (3, 3)
    torch.testing.assert_close(jacobian.sum(dim=0), x.grad[0])


def test_batched_stack_supports_gradients_of_gradients(stack_backward):
    # A gradient penalty differentiates the input gradient again: the
    # stack's written-out backward must then return a differentiable one.
    from skrpf._ensemble import stack_modules

    torch.manual_seed(0)
    modules = [MLP(hidden_layer_sizes=(8, 8))(3, 1) for _ in range(3)]
    stack = stack_modules(modules, trainable=True)

    def penalty(output, x):
        (grad,) = torch.autograd.grad(output.sum(), x, create_graph=True)
        return grad.square().sum()

    x = torch.randn(6, 3, requires_grad=True)
    penalty(stack(x), x).backward()
    # The members share x, so its gradient is the sum of theirs.
    x_again = x.detach().clone().requires_grad_(True)
    penalty(sum(module(x_again) for module in modules), x_again).backward()
    expected = torch.stack([m[2].weight.grad.t() for m in modules])
    torch.testing.assert_close(stack.weight_2.grad, expected)
    assert torch.count_nonzero(expected) > 0


def _members_then_priors(ensemble, x):
    """Q_k(x) the long way: the members' stack, then the priors' stack, each on its own."""
    out = ensemble.members(x)
    prior = ensemble.prior_term(x)
    return out if prior is None else out + prior


@pytest.mark.parametrize(
    "params",
    [{}, {"prior_scale": 0.5}, {"prior": MLP(activation="tanh")}, {"prior": MLP((8,))}, {"prior": SinePrior}],
    ids=["default", "scaled", "other-activation", "other-widths", "fixed-prior"],
)
def test_prediction_runs_members_and_priors_as_one_stack_when_they_match(data_1d, params):
    # Without gradients, members and priors of the same layers run as one
    # stack of 2K networks; the result must be that of the two stacks.
    X, y = data_1d
    model = fast_regressor(max_epochs=3, **params).fit(X, y)
    ensemble = model.ensemble_
    x = torch.as_tensor(X[:7], dtype=torch.float64)
    with torch.inference_mode():
        joint = ensemble.predict_members(x)
        expected = _members_then_priors(ensemble, x)
    torch.testing.assert_close(joint, expected, rtol=0, atol=1e-12)
    joins = "prior" not in params or params["prior"] == MLP(activation="relu")
    assert (ensemble._joint_stack() is not None) == joins


def test_large_networks_predict_without_a_joint_copy(data_1d, monkeypatch):
    from skrpf import _ensemble

    X, y = data_1d
    model = fast_regressor(max_epochs=3).fit(X, y)
    joint = model.predict(X, return_std=True)
    assert model.ensemble_._joint_stack() is not None
    monkeypatch.setattr(_ensemble, "_JOINT_STACK_MAX_ELEMENTS", 10)
    model.ensemble_._joint = None
    separate = model.predict(X, return_std=True)
    assert model.ensemble_._joint_stack() is None
    np.testing.assert_array_equal(joint, separate)


def test_joint_prediction_stack_follows_changes_to_the_members(data_1d):
    import pickle

    X, y = data_1d
    model = fast_regressor(max_epochs=3).fit(X, y)
    ensemble = model.ensemble_
    before = model.predict(X)
    assert ensemble._joint is not None
    # The output layer's bias: adding 1 to it adds 1 to every member's output.
    output_bias = getattr(ensemble.members, f"bias_{len(ensemble.members.activations) - 1}")
    # An in-place change (as an optimizer step makes) rebuilds the cache.
    with torch.no_grad():
        output_bias.add_(1.0)
    np.testing.assert_allclose(model.predict(X), before + model._y_scale[0], rtol=1e-6)
    # So does loading other weights, and a move to another dtype.
    state = copy.deepcopy(ensemble.state_dict())
    with torch.no_grad():
        output_bias.sub_(1.0)
    np.testing.assert_allclose(model.predict(X), before, rtol=1e-6)
    ensemble.load_state_dict(state)
    np.testing.assert_allclose(model.predict(X), before + model._y_scale[0], rtol=1e-6)
    ensemble.float()
    with torch.inference_mode():
        x = torch.as_tensor(X, dtype=torch.float32)
        torch.testing.assert_close(ensemble.predict_members(x), _members_then_priors(ensemble, x))
    ensemble.double()
    # The cache is never pickled; the copy builds its own.
    copied = pickle.loads(pickle.dumps(model))
    assert copied.ensemble_._joint is None
    np.testing.assert_array_equal(copied.predict(X), model.predict(X))


def test_predict_members_keeps_gradients_for_the_members(data_1d):
    # With gradients enabled the joint stack (frozen copies) must not be used.
    X, y = data_1d
    ensemble = fast_regressor(max_epochs=3).fit(X, y).ensemble_
    x = torch.as_tensor(X[:5], dtype=torch.float64)
    ensemble.predict_members(x).sum().backward()
    assert ensemble.members.weight_0.grad is not None
    assert torch.count_nonzero(ensemble.members.weight_0.grad) > 0
