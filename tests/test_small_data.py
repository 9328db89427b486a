"""The small-data regime: hyper-parameters from the prior networks' marginal likelihood.

On small data (at most ``SMALL_DATA_MAX_ROWS`` rows) the ``"auto"`` parameters are fitted by the evidence of
the prior networks' kernel (:mod:`skrpf._evidence`), members train on all
rows by full-batch L-BFGS and the output layer is solved in closed form
(:mod:`skrpf._output_layer`). These tests check the behaviour a posterior
should have (the spread collapses at noise-free observations, the noise is
recovered), that the tuned values move the right way, that fixed values are
respected, and the evidence and the output-layer solve against independent
references (scipy's Gaussian density, numpy's ridge solve).
"""

import numpy as np
import pytest
import torch
from scipy import optimize, stats
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from skrpf import MLP, RandomizedPriorRegressor
from skrpf._auto import SMALL_DATA_MAX_ROWS
from skrpf._ensemble import stack_modules
from skrpf._evidence import (
    LENGTH_SCALES,
    _mlp_weights,
    choose_by_evidence,
    log_marginal_likelihoods,
    prior_kernel_features,
)
from skrpf._output_layer import refit_output_layer_
from skrpf._threads import SMALL_WORK_MAX_ROWS


def _smooth_2d(X):
    return np.sin(X[:, 0]) + np.cos(X[:, 1])


class CountingFactory:
    """Wraps ``MLP(...)``; counts its calls and records torch's thread count at each."""

    def __init__(self, hidden_layer_sizes=(16, 16)):
        self.inner = MLP(hidden_layer_sizes=hidden_layer_sizes)
        self.calls = 0
        self.threads_seen = set()

    def __call__(self, n_features_in, n_outputs):
        self.calls += 1
        self.threads_seen.add(torch.get_num_threads())
        return self.inner(n_features_in, n_outputs)


@pytest.fixture
def torch_two_threads():
    """Run the test with torch on 2 threads, so that a fit that does not restore the count shows."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        yield 2
    finally:
        torch.set_num_threads(previous)


# ----------------------------------------------------------- posterior-like behaviour
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("seed", [0, 1])
def test_spread_collapses_at_noise_free_observations_and_opens_in_gaps(seed):
    rng = np.random.RandomState(seed)
    X = rng.uniform(0, 10, size=(10, 1))
    y = (X * np.sin(X)).ravel()
    model = RandomizedPriorRegressor(n_estimators=8, random_state=seed).fit(X, y)
    grid = np.linspace(0, 10, 400)[:, None]
    _, std_train = model.predict(X, return_std=True, include_noise=False)
    _, std_grid = model.predict(grid, return_std=True, include_noise=False)
    median = np.median(std_grid)
    # Observed: max at the data / median over the grid is 0.03 and 0.12.
    assert std_train.max() <= 0.25 * median
    assert std_grid.max() >= 2 * median
    # Where the spread opens agrees with an exact GP's posterior std (rank
    # correlation 0.98-1.0 observed).
    gp = GaussianProcessRegressor(
        ConstantKernel() * RBF(), normalize_y=True, n_restarts_optimizer=2, random_state=0
    ).fit(X, y)
    _, gp_std = gp.predict(grid, return_std=True)
    assert stats.spearmanr(std_grid, gp_std)[0] > 0.8


def test_noise_estimate_is_near_zero_on_noise_free_data():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(20, 2))
    y = _smooth_2d(X)
    model = RandomizedPriorRegressor(n_estimators=4, random_state=0).fit(X, y)
    assert model.noise_std_.shape == (1,)
    assert model.noise_std_[0] <= 0.05 * y.std()


def test_the_noise_prior_trusts_noise_free_points_the_likelihood_cannot_tell_from_noise():
    # 20 points in 6-D: "short length scale" and "all noise" explain them
    # within a nat or two; without the prior toward less noise the evidence
    # chooses noise_std_ = 0.86 std(y) here.
    rng = np.random.RandomState(202)
    X = rng.uniform(size=(20, 6))
    y = np.sin(3 * X[:, 0]) + np.cos(2 * X.sum(axis=1)) + X[:, -1] ** 2
    model = RandomizedPriorRegressor(n_estimators=4, random_state=0).fit(X, y)
    assert model.noise_std_[0] <= 0.05 * y.std()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_noise_estimate_recovers_gaussian_noise_level_like_a_gp():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(200, 2))
    y = _smooth_2d(X) + 0.3 * rng.standard_normal(200)
    model = RandomizedPriorRegressor(n_estimators=4, random_state=0).fit(X, y)
    noise = model.noise_std_[0]
    assert abs(noise - 0.3) <= 0.2 * 0.3
    # The noise std of the rest of the predictive std: include_noise adds it.
    _, with_noise = model.predict(X[:5], return_std=True)
    _, without = model.predict(X[:5], return_std=True, include_noise=False)
    np.testing.assert_allclose(with_noise**2 - without**2, noise**2, rtol=1e-5)
    # An exact GP with an RBF + white-noise kernel fitted by its own evidence.
    gp = GaussianProcessRegressor(
        ConstantKernel() * RBF([1.0, 1.0]) + WhiteKernel(), normalize_y=True, random_state=0
    ).fit(X, y)
    gp_noise = np.sqrt(gp.kernel_.k2.noise_level) * y.std()
    assert abs(noise - gp_noise) <= 0.1 * gp_noise


# ------------------------------------------------------- tuned values move the right way
def test_length_scale_is_longer_for_slowly_varying_function():
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 3, size=(30, 1))
    smooth = RandomizedPriorRegressor(n_estimators=4, random_state=0).fit(X, np.sin(X).ravel())
    rapid = RandomizedPriorRegressor(n_estimators=4, random_state=0).fit(X, np.sin(8 * X).ravel())
    assert smooth.length_scale_ > rapid.length_scale_
    assert smooth.log_marginal_likelihood_ is not None and rapid.log_marginal_likelihood_ is not None


def test_rescaling_y_does_not_change_tuned_hyperparameters():
    rng = np.random.RandomState(1)
    X = rng.uniform(0, 3, size=(30, 1))
    y = np.sin(2 * X).ravel()
    base = RandomizedPriorRegressor(n_estimators=4, random_state=0).fit(X, y)
    scaled = RandomizedPriorRegressor(n_estimators=4, random_state=0).fit(X, 1000.0 * y + 5.0)
    assert scaled.length_scale_ == base.length_scale_
    assert scaled.activation_ == base.activation_
    # prior_scale_ and target_noise_ are in standardised units of y.
    np.testing.assert_allclose(scaled.prior_scale_, base.prior_scale_, rtol=1e-6)
    np.testing.assert_allclose(scaled.target_noise_, base.target_noise_, rtol=1e-6)
    np.testing.assert_allclose(scaled.log_marginal_likelihood_, base.log_marginal_likelihood_, rtol=1e-8)
    # noise_std_ is in y's units.
    np.testing.assert_allclose(scaled.noise_std_, 1000.0 * base.noise_std_, rtol=1e-5)


# ---------------------------------------------------------------- fixed values are kept
@pytest.fixture
def data_small():
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 3, size=(30, 1))
    return X, np.sin(2 * X).ravel()


@pytest.mark.parametrize(
    "name, value",
    [("length_scale", 0.5), ("prior_scale", 2.0), ("target_noise", 0.1), ("alpha", 0.3)],
)
def test_fixed_value_is_used_as_given(data_small, name, value):
    X, y = data_small
    model = RandomizedPriorRegressor(
        n_estimators=4, module=MLP(hidden_layer_sizes=(16, 16)), random_state=0, **{name: value}
    ).fit(X, y)
    assert getattr(model, f"{name}_") == value
    # The other parameters are still tuned: the evidence ran.
    assert model.log_marginal_likelihood_ is not None


@pytest.mark.parametrize(
    "fixed, length_scales, prior_scale",
    [
        (dict(length_scale=0.5), (0.5,), None),
        (dict(prior_scale=2.0), LENGTH_SCALES, 2.0),
    ],
    ids=["length_scale", "prior_scale"],
)
def test_fixed_value_enters_the_evidence(data_small, fixed, length_scales, prior_scale):
    # The evidence is maximised with the fixed value held, not merely
    # reported: its value matches a direct evaluation of the evidence with
    # that value, up to the Monte Carlo error of the kernel (about +-2 nats
    # across prior draws here, against 11 nats to the unconstrained optimum).
    X, y = data_small
    module = MLP(hidden_layer_sizes=(16, 16))
    model = RandomizedPriorRegressor(n_estimators=4, module=module, random_state=0, **fixed).fit(X, y)
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    Ys = ((y - y.mean()) / y.std())[:, None]
    references = [
        choose_by_evidence([module], Xs, Ys, length_scales=length_scales, prior_scale=prior_scale, seed=seed)
        for seed in range(100, 105)
    ]
    reference = np.median([choice.log_marginal_likelihood for choice in references])
    assert abs(model.log_marginal_likelihood_ - reference) <= 4.0
    free = RandomizedPriorRegressor(n_estimators=4, module=module, random_state=0).fit(X, y)
    assert free.log_marginal_likelihood_ - reference > 6.0


def test_fixed_target_noise_survives_exactly_whatever_the_fitted_prior_scale(data_small):
    X, y = data_small
    mismatches = []
    for value in (0.1, 0.3, 0.07, 0.123):
        for seed in range(5):
            model = RandomizedPriorRegressor(
                n_estimators=2,
                module=MLP(hidden_layer_sizes=(8,)),
                max_epochs=1,
                random_state=seed,
                target_noise=value,
            ).fit(X, y)
            if model.target_noise_ != value:
                mismatches.append((value, seed, model.target_noise_))
    assert mismatches == []


def test_all_tuned_values_fixed_skips_the_evidence(data_small):
    X, y = data_small
    fixed = dict(length_scale=0.5, prior_scale=2.0, target_noise=0.1, alpha=0.3)
    prior = CountingFactory()
    model = RandomizedPriorRegressor(
        n_estimators=5, module=MLP(hidden_layer_sizes=(16, 16)), prior=prior, random_state=0, **fixed
    ).fit(X, y)
    assert model.log_marginal_likelihood_ is None
    assert prior.calls == 5
    for name, value in fixed.items():
        assert getattr(model, f"{name}_") == value
    # Control: with one value left at "auto", the evidence draws many priors from the factory.
    prior = CountingFactory()
    RandomizedPriorRegressor(
        n_estimators=5,
        module=MLP(hidden_layer_sizes=(16, 16)),
        prior=prior,
        random_state=0,
        **{**fixed, "alpha": "auto"},
    ).fit(X, y)
    assert prior.calls > 5


def test_activation_is_chosen_only_for_the_default_module(data_small):
    X, y = data_small
    given = RandomizedPriorRegressor(n_estimators=4, module=MLP(activation="relu"), random_state=0).fit(X, y)
    assert given.activation_ is None
    default = RandomizedPriorRegressor(n_estimators=4, random_state=0).fit(X, y)
    assert default.activation_ in ("relu", "silu", "tanh", "sin")


# --------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_fit_and_other_seed_differs():
    rng = np.random.RandomState(3)
    X = rng.uniform(-2, 2, size=(25, 2))
    y = _smooth_2d(X) + 0.1 * rng.standard_normal(25)
    grid = rng.uniform(-3, 3, size=(50, 2))
    names = (
        "length_scale_",
        "prior_scale_",
        "target_noise_",
        "alpha_",
        "activation_",
        "log_marginal_likelihood_",
    )

    def fit(seed):
        return RandomizedPriorRegressor(n_estimators=4, random_state=seed).fit(X, y)

    first, second, other = fit(7), fit(7), fit(8)
    for name in names:
        assert getattr(first, name) == getattr(second, name), name
    np.testing.assert_array_equal(first.noise_std_, second.noise_std_)
    np.testing.assert_array_equal(first.predict_members(grid), second.predict_members(grid))
    assert not np.array_equal(first.predict_members(grid), other.predict_members(grid))


# ------------------------------------------------- the evidence against scipy's density
def _reference_log_likelihood(G, Y, ratio, beta):
    S, n = G.shape
    cov = beta**2 * G.T @ G / S + ratio * beta**2 * np.eye(n)
    density = stats.multivariate_normal(mean=np.zeros(n), cov=cov)
    return sum(density.logpdf(Y[:, j]) for j in range(Y.shape[1]))


@pytest.mark.parametrize("n_draws, n_rows", [(5, 9), (30, 8)], ids=["S<n", "S>n"])
@pytest.mark.parametrize("n_targets", [1, 2])
def test_log_marginal_likelihood_matches_gaussian_density(n_draws, n_rows, n_targets):
    rng = np.random.RandomState(n_draws + n_targets)
    G = rng.standard_normal((n_draws, n_rows))
    Y = rng.standard_normal((n_rows, n_targets))
    ratios = np.array([1e-3, 0.05, 0.7, 4.0])
    for beta in (0.4, 1.0, 2.5):
        values, betas = log_marginal_likelihoods(G, Y, ratios, prior_scale=beta)
        expected = [_reference_log_likelihood(G, Y, r, beta) for r in ratios]
        np.testing.assert_allclose(values, expected, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(betas, beta)


@pytest.mark.parametrize("n_draws, n_rows", [(5, 9), (30, 8)], ids=["S<n", "S>n"])
def test_profiled_log_marginal_likelihood_is_the_maximum_over_prior_scale(n_draws, n_rows):
    rng = np.random.RandomState(n_draws)
    G = rng.standard_normal((n_draws, n_rows))
    Y = rng.standard_normal((n_rows, 2))
    ratios = np.array([1e-2, 0.3, 3.0])
    profiled, betas = log_marginal_likelihoods(G, Y, ratios, prior_scale=None)
    for ratio, value, beta in zip(ratios, profiled, betas, strict=True):
        result = optimize.minimize_scalar(
            lambda log_beta, r=ratio: -_reference_log_likelihood(G, Y, r, np.exp(log_beta)),
            bounds=(-6.0, 6.0),
            method="bounded",
            options={"xatol": 1e-10},
        )
        np.testing.assert_allclose(value, -result.fun, rtol=1e-8)
        np.testing.assert_allclose(beta, np.exp(result.x), rtol=1e-4)
        # And no beta on a grid does better.
        grid = [_reference_log_likelihood(G, Y, ratio, b) for b in np.geomspace(beta / 3, beta * 3, 41)]
        assert max(grid) <= value + 1e-9


# ---------------------------------------------------------------- the output-layer solve
def _objective(stack, X, targets, weights, alpha):
    with torch.no_grad():
        out = stack(X)  # (K, n, t)
        residual = targets.transpose(0, 1) - out
        fit = (weights.t().unsqueeze(-1) * residual**2).sum()
        penalty = sum((p**2).sum() for p in stack.parameters())
    return float(fit + alpha * penalty)


def test_output_layer_solve_is_the_ridge_minimiser_and_lowers_the_objective():
    torch.manual_seed(0)
    stack = stack_modules([MLP((8,))(2, 1) for _ in range(3)], trainable=True).double()
    rng = np.random.RandomState(0)
    n, K, alpha = 20, 3, 0.1
    X = torch.as_tensor(rng.uniform(-1, 1, size=(n, 2)))
    targets = torch.as_tensor(rng.standard_normal((n, K, 1)))
    weights = torch.as_tensor(rng.poisson(1.0, size=(n, K)).astype(np.float64))
    before = _objective(stack, X, targets, weights, alpha)
    hidden_before = [p.detach().clone() for p in list(stack.parameters())[:-2]]
    with torch.no_grad():
        H = stack.output_layer_inputs(X).numpy()  # (K, n, 8)

    assert refit_output_layer_(stack, X, targets, weights, alpha) is True
    after = _objective(stack, X, targets, weights, alpha)
    assert after <= before

    # The hidden layers are untouched; the output layer is numpy's ridge solution.
    for old, new in zip(hidden_before, list(stack.parameters())[:-2], strict=True):
        assert torch.equal(old, new)
    weight, bias = (p.detach().numpy() for p in list(stack.parameters())[-2:])
    for k in range(K):
        features = np.column_stack([H[k], np.ones(n)])
        w = weights[:, k].numpy()
        gram = features.T @ (w[:, None] * features) + alpha * np.eye(features.shape[1])
        expected = np.linalg.solve(gram, features.T @ (w * targets[:, k, 0].numpy()))
        np.testing.assert_allclose(weight[k, :, 0], expected[:-1], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(bias[k, 0, 0], expected[-1], rtol=1e-8, atol=1e-10)
        # Equivalently, the least-squares solution of the augmented system.
        augmented = np.vstack([np.sqrt(w)[:, None] * features, np.sqrt(alpha) * np.eye(features.shape[1])])
        rhs = np.concatenate([np.sqrt(w) * targets[:, k, 0].numpy(), np.zeros(features.shape[1])])
        np.testing.assert_allclose(
            expected, np.linalg.lstsq(augmented, rhs, rcond=None)[0], rtol=1e-8, atol=1e-10
        )


def test_fitted_members_interpolate_noise_free_training_targets():
    # After the exact solve, members reproduce their own targets: with no
    # target noise, their mean at the training rows is y to high precision.
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 10, size=(10, 1))
    y = (X * np.sin(X)).ravel()
    model = RandomizedPriorRegressor(n_estimators=4, target_noise=0.0, random_state=0).fit(X, y)
    members = model.predict_members(X)
    assert np.abs(members - y).max() <= 1e-3 * y.std()


# ------------------------------------------------------------------------------ threads
@pytest.mark.parametrize("n_threads", ["auto", 1])
def test_small_fit_runs_on_one_thread_and_restores_the_count(torch_two_threads, n_threads):
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(30, 2))
    y = _smooth_2d(X)
    module = CountingFactory()
    model = RandomizedPriorRegressor(n_estimators=4, module=module, n_threads=n_threads, random_state=0)
    model.fit(X, y)
    assert module.threads_seen == {1}
    assert torch.get_num_threads() == torch_two_threads
    model.predict(X)
    assert torch.get_num_threads() == torch_two_threads


@pytest.mark.parametrize("n_threads", [0, -1, 1.5, "many"])
def test_invalid_n_threads_is_refused(n_threads):
    X = np.zeros((5, 1))
    X[:, 0] = np.arange(5)
    with pytest.raises(ValueError, match="n_threads"):
        RandomizedPriorRegressor(n_estimators=2, n_threads=n_threads).fit(X, X[:, 0])


# ------------------------------------------------------------------ the large-data regime
def test_large_data_keeps_the_fixed_values_and_adam(torch_two_threads):
    n = SMALL_DATA_MAX_ROWS + 1
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(n, 2))
    y = np.sin(3 * X[:, 0]) + 0.1 * rng.standard_normal(n)
    module = CountingFactory(hidden_layer_sizes=(8,))
    model = RandomizedPriorRegressor(n_estimators=2, module=module, max_epochs=1, random_state=0).fit(X, y)
    assert model.log_marginal_likelihood_ is None
    assert model.prior_scale_ == 1.0
    assert model.length_scale_ == 1.0
    assert model.target_noise_ == 0.0
    assert model.alpha_ == 1e-2
    assert model.activation_ is None
    assert type(model.net_.optimizer_) is torch.optim.Adam
    assert model.net_.lr == 1e-2

    # One row fewer is small data: the evidence runs and L-BFGS trains.
    small = RandomizedPriorRegressor(
        n_estimators=2, module=MLP(hidden_layer_sizes=(8,)), max_epochs=1, random_state=0
    ).fit(X[:-1], y[:-1])
    assert small.log_marginal_likelihood_ is not None
    assert type(small.net_.optimizer_) is torch.optim.LBFGS


def test_auto_threads_leave_large_work_to_torch(torch_two_threads):
    n = SMALL_WORK_MAX_ROWS + 1
    X = np.random.RandomState(0).uniform(-1, 1, size=(n, 2))
    module = CountingFactory(hidden_layer_sizes=(8,))
    RandomizedPriorRegressor(n_estimators=2, module=module, max_epochs=1, random_state=0).fit(X, X[:, 0])
    assert module.threads_seen == {torch_two_threads}
    assert torch.get_num_threads() == torch_two_threads


@pytest.mark.parametrize("first_layer_init", ["glorot", "lecun"])
def test_evidence_draws_follow_the_mlp_initialisation(first_layer_init):
    # The evidence draws MLP weights directly, without building modules; its
    # prior functions must have the distribution of the networks MLP builds.
    factory = MLP(activation="tanh", first_layer_init=first_layer_init)
    x = np.array([[2.0, -1.5], [0.3, 0.8]])
    draws = prior_kernel_features(factory, x, n_draws=4000, seed=0)
    with torch.no_grad():
        direct = draws(torch.as_tensor(x, dtype=torch.float64))[:, :, 0].numpy()
        torch.manual_seed(0)
        inputs = torch.as_tensor(x, dtype=torch.float64)
        built = np.stack([factory(2, 1).double()(inputs)[:, 0].numpy() for _ in range(4000)])
    ratio = direct.var(axis=0) / built.var(axis=0)
    assert np.all((ratio > 0.85) & (ratio < 1.18)), ratio


def test_evidence_draws_are_reused_exactly_and_left_unchanged():
    # The draws are cached across activations and fits: a cached draw must
    # give the features a fresh one gives, and no use may change it.
    x = torch.as_tensor(np.random.RandomState(0).normal(size=(7, 3)))
    _mlp_weights.cache_clear()
    relu = prior_kernel_features(MLP(activation="relu"), x.numpy(), n_draws=64, seed=5)
    cached = [t.clone() for layer in _mlp_weights((3, 50, 50, 1), "glorot", 64, 5) for t in layer]
    with torch.no_grad():
        relu(x)
        reused = prior_kernel_features(MLP(activation="sin"), x.numpy(), n_draws=64, seed=5)(x)
        assert _mlp_weights.cache_info().hits >= 2
        after = [t for layer in _mlp_weights((3, 50, 50, 1), "glorot", 64, 5) for t in layer]
        assert all(torch.equal(a, b) for a, b in zip(cached, after, strict=True))
        _mlp_weights.cache_clear()
        fresh = prior_kernel_features(MLP(activation="sin"), x.numpy(), n_draws=64, seed=5)(x)
    assert torch.equal(reused, fresh)


def test_lecun_first_layer_gives_the_evidence_steeper_priors():
    x = np.array([[2.0, -1.5]])
    spread = {}
    for init in ("glorot", "lecun"):
        draws = prior_kernel_features(MLP(first_layer_init=init), x, n_draws=2000, seed=0)
        with torch.no_grad():
            spread[init] = float(draws(torch.as_tensor(x, dtype=torch.float64)).var())
    assert spread["lecun"] > 2 * spread["glorot"]


def _far_sphere(n_features, radius, n_points=400, seed=0):
    directions = np.random.RandomState(seed).normal(size=(n_points, n_features))
    return 0.5 + radius * directions / np.linalg.norm(directions, axis=1, keepdims=True)


def _uncapped_spread(model, X):
    """The members' spread with no cap: trainable networks plus priors, added up here."""
    ensemble = model.ensemble_
    x = torch.as_tensor((X - model._x_mean) / model._x_scale)
    with torch.no_grad():
        members = ensemble.members(x) + ensemble.prior_term(x)
    return members[..., 0].std(dim=0, correction=0).numpy() * model._y_scale[0]


def test_more_members_make_the_uncapped_spread_away_from_the_data_less_noisy():
    # Sine priors are nearly stationary, so on a sphere far from the data
    # every point has about the same posterior std, and the point-to-point
    # variation of the members' spread is the Monte Carlo error of a
    # standard deviation over K draws: relative size about 1/sqrt(2K) for
    # Gaussian draws. This is the noise that a gradient-based acquisition
    # optimiser climbs (benchmarks/RESULTS.md, "Bayesian optimisation"), and
    # why the small-data recipe caps the spread at the priors' smooth std.
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 1, size=(15, 4))
    y = np.sin(3 * X).sum(axis=1)
    far = _far_sphere(4, radius=3)

    def variation(n_estimators):
        coefficients = []
        for seed in range(3):
            model = RandomizedPriorRegressor(
                module=MLP(activation="sin"), n_estimators=n_estimators, random_state=seed
            )
            spread = _uncapped_spread(model.fit(X, y), far)
            coefficients.append(spread.std() / spread.mean())
        return np.mean(coefficients)

    for n_estimators in (10, 40):
        assert variation(n_estimators) == pytest.approx(1 / np.sqrt(2 * n_estimators), rel=0.3)


def test_prior_variance_matches_output_layers_drawn_from_the_mlp_initialisation():
    # The reference draws fresh output layers from the MLP's own
    # initialisation (Glorot uniform weights, torch's default uniform
    # biases) over the fitted priors' hidden features; the ensemble uses the
    # second moments of its K priors' actual output layers.
    rng = np.random.RandomState(1)
    X = rng.uniform(0, 1, size=(20, 3))
    model = RandomizedPriorRegressor(n_estimators=40, random_state=0).fit(X, np.sin(4 * X).sum(axis=1))
    ensemble = model.ensemble_
    x = torch.as_tensor(np.vstack([X[:5], _far_sphere(3, radius=2, n_points=5)]))
    with torch.no_grad():
        hidden = ensemble.priors.output_layer_inputs(x).numpy()  # (K, n, width)
        computed = ensemble.prior_variance(x)[:, 0].numpy()
    width = hidden.shape[-1]
    draws = np.random.RandomState(2)
    weight_bound, bias_bound = np.sqrt(6 / (width + 1)), 1 / np.sqrt(width)
    outputs = []
    for _ in range(2000):
        weights = draws.uniform(-weight_bound, weight_bound, size=(hidden.shape[0], width))
        biases = draws.uniform(-bias_bound, bias_bound, size=(hidden.shape[0], 1))
        outputs.append(np.einsum("knw,kw->kn", hidden, weights) + biases)
    reference = ensemble.prior_scale**2 * np.var(np.stack(outputs), axis=0).mean(axis=0)
    np.testing.assert_allclose(computed, reference, rtol=0.08)


def test_the_spread_is_capped_at_the_priors_std_and_untouched_below_it():
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 1, size=(15, 4))
    y = np.sin(3 * X).sum(axis=1)
    model = RandomizedPriorRegressor(module=MLP(activation="sin"), random_state=0).fit(X, y)
    points = np.vstack([X, rng.uniform(0, 1, size=(200, 4)), _far_sphere(4, radius=3)])
    mean, spread = model.predict(points, return_std=True, include_noise=False)
    uncapped = _uncapped_spread(model, points)
    with torch.no_grad():
        x = torch.as_tensor((points - model._x_mean) / model._x_scale)
        prior_std = model.ensemble_.prior_variance(x)[:, 0].sqrt().numpy() * model._y_scale[0]
    assert model.ensemble_.cap_spread_at_prior
    # predict rounds member outputs to float32: at the training rows, where
    # the spread is ~1e-6, that rounding is the difference.
    np.testing.assert_allclose(spread, np.minimum(uncapped, prior_std), rtol=1e-5, atol=1e-7)
    # Both sides occur: the cap binds far out and not near the data.
    assert np.mean(uncapped > prior_std) > 0.3
    assert np.mean(uncapped < prior_std) > 0.3
    # The members are shrunk toward their mean, which does not move.
    members = model.predict_members(points)
    np.testing.assert_allclose(members.mean(axis=0), mean, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(members.std(axis=0), spread, rtol=1e-5, atol=1e-7)


def test_with_the_cap_the_spread_away_from_the_data_is_smooth():
    # The Monte Carlo peaks of the uncapped spread (previous tests) are
    # gone: whatever stays uneven lies below the plateau of the prior's std.
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 1, size=(15, 4))
    model = RandomizedPriorRegressor(module=MLP(activation="sin"), n_estimators=40, random_state=0)
    model.fit(X, np.sin(3 * X).sum(axis=1))
    far = _far_sphere(4, radius=3)
    _, spread = model.predict(far, return_std=True, include_noise=False)
    uncapped = _uncapped_spread(model, far)
    assert spread.std() / spread.mean() < 0.3 * uncapped.std() / uncapped.mean()


def test_the_cap_applies_where_the_evidence_fitted_the_prior():
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 1, size=(SMALL_DATA_MAX_ROWS + 50, 2))
    y = _smooth_2d(X)
    large = RandomizedPriorRegressor(n_estimators=3, max_epochs=2, random_state=0).fit(X, y)
    fixed = {"length_scale": 1.0, "prior_scale": 1.0, "target_noise": 0.0, "alpha": 1e-2}
    no_evidence = RandomizedPriorRegressor(**fixed, max_epochs=5, random_state=0).fit(X[:20], y[:20])
    hetero = RandomizedPriorRegressor(noise="heteroscedastic", max_epochs=5, random_state=0).fit(
        X[:20], y[:20]
    )
    for model in (large, no_evidence, hetero):
        assert not model.ensemble_.cap_spread_at_prior
    _, spread = no_evidence.predict(X[:50], return_std=True, include_noise=False)
    np.testing.assert_allclose(spread, _uncapped_spread(no_evidence, X[:50]), rtol=1e-5, atol=1e-9)
    # Adam instead of L-BFGS still fits the prior by the evidence: capped.
    adam = RandomizedPriorRegressor(optimizer=torch.optim.Adam, max_epochs=5, random_state=0)
    assert adam.fit(X[:20], y[:20]).ensemble_.cap_spread_at_prior


def test_members_trained_one_by_one_are_capped_too():
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 1, size=(15, 4))
    model = RandomizedPriorRegressor(
        module=MLP(activation="sin"), vectorize=False, n_estimators=4, random_state=0
    )
    model.fit(X, np.sin(3 * X).sum(axis=1))
    assert model.ensemble_.cap_spread_at_prior
    far = _far_sphere(4, radius=3, n_points=50)
    _, spread = model.predict(far, return_std=True, include_noise=False)
    uncapped = _uncapped_spread(model, far)
    with torch.no_grad():
        x = torch.as_tensor((far - model._x_mean) / model._x_scale)
        prior_std = model.ensemble_.prior_variance(x)[:, 0].sqrt().numpy() * model._y_scale[0]
    assert np.mean(uncapped > prior_std) > 0.3
    np.testing.assert_allclose(spread, np.minimum(uncapped, prior_std), rtol=1e-5)


def test_a_single_linear_layer_module_fits_small_data():
    # The output-layer solve and the spread cap take the inputs of the last
    # product, which for a one-layer network are the standardised inputs.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20, 2)) * [1.0, 5.0]
    y = X @ np.array([1.0, -0.4]) + 2.0 + 0.3 * rng.normal(size=20)

    def linear_module(n_features_in, n_outputs):
        return torch.nn.Sequential(torch.nn.Linear(n_features_in, n_outputs))

    model = RandomizedPriorRegressor(module=linear_module, n_estimators=6, random_state=0).fit(X, y)
    assert model.ensemble_.cap_spread_at_prior
    # Every member is the ridge fit of its own perturbed targets: their mean is
    # close to ordinary least squares on 20 rows with noise 0.3.
    coefficients = np.linalg.lstsq(np.column_stack([X, np.ones(20)]), y, rcond=None)[0]
    X_test = rng.normal(size=(10, 2))
    np.testing.assert_allclose(
        model.predict(X_test), np.column_stack([X_test, np.ones(10)]) @ coefficients, atol=0.3
    )
