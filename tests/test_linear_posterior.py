"""The linear-Gaussian sanity check of Osband et al. (2018), Lemma 3, done numerically.

For a linear model ``f(x) = x^T theta`` with prior ``theta ~ N(0, lam I)`` and
Gaussian observation noise of standard deviation ``sigma``, a member that adds
a prior draw ``theta_tilde ~ N(0, lam I)`` to the minimiser of

    sum_i (y_i + sigma eps_i - x_i^T (theta_tilde + theta))^2 + (sigma^2 / lam) ||theta||^2

is an exact draw from the posterior ``N(mu, Sigma)`` with
``Sigma = (X^T X / sigma^2 + I / lam)^-1`` and ``mu = Sigma X^T y / sigma^2``.
That is the estimator's documented objective with ``bootstrap="none"``,
``target_noise=sigma``, ``alpha=sigma^2/lam`` and ``prior_scale=1``, so an
ensemble built from the public API alone must reproduce the posterior up to
Monte Carlo error.
"""

import numpy as np
import pytest
import torch
from sklearn.linear_model import BayesianRidge
from torch import nn

from skrpf import RandomizedPriorRegressor

SIGMA = 1.0  # observation noise standard deviation
LAM = 1.0  # prior variance of each weight
N_MEMBERS = 1000
#: Tolerance in standard errors. The members are independent exact draws, so
#: each error below is (close to) normal with the standard error given; with
#: about 15 comparisons per fit, 5 standard errors leave a false-alarm chance
#: of ~1e-5, while each wrong ensemble below misses by more than 8.
N_SE = 5.0
X_TEST = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0], [-3.0, 2.0]])


def linear_member(n_features_in, n_outputs):
    return nn.Linear(n_features_in, n_outputs, bias=False)


def gaussian_linear_prior(n_features_in, n_outputs):
    # The estimator seeds torch's global generator before it calls the
    # factories, so these draws are reproducible and independent per member.
    layer = nn.Linear(n_features_in, n_outputs, bias=False)
    nn.init.normal_(layer.weight, mean=0.0, std=LAM**0.5)
    return layer


@pytest.fixture(scope="module")
def data():
    # Few, small inputs: X^T X / sigma^2 has eigenvalues 1.5 and 2.2,
    # comparable with the prior precision 1 / lam, so a wrong prior, a wrong
    # penalty or missing target noise each shift the posterior visibly.
    rng = np.random.RandomState(0)
    X = 0.5 * rng.normal(size=(5, 2))
    y = X @ np.array([1.0, -0.5]) + SIGMA * rng.normal(size=5)
    return X, y


def exact_posterior(X, y):
    """Closed-form Bayesian linear regression without intercept: (mu, Sigma)."""
    precision = X.T @ X / SIGMA**2 + np.eye(X.shape[1]) / LAM
    Sigma = np.linalg.inv(precision)
    return Sigma @ X.T @ y / SIGMA**2, Sigma


def fit_ensemble(X, y, **overrides):
    params = dict(
        module=linear_member,
        prior=gaussian_linear_prior,
        prior_scale=1.0,
        length_scale=1.0,
        n_estimators=N_MEMBERS,
        bootstrap="none",
        target_noise=SIGMA,
        # No observation-noise model: the lemma is about the members alone,
        # and the default noise model would hold rows out of some members.
        noise="none",
        alpha=SIGMA**2 / LAM,
        normalize_X=False,
        normalize_y=False,
        # The objective is a convex quadratic: full-batch L-BFGS reaches its
        # minimiser (to float32 precision) in a few epochs.
        optimizer=torch.optim.LBFGS,
        lr=1.0,
        batch_size=None,
        max_epochs=10,
        random_state=0,
    )
    params.update(overrides)
    return RandomizedPriorRegressor(**params).fit(X, y)


def standardised_errors(model, mu, Sigma):
    """Ensemble-minus-posterior errors, each divided by its Monte Carlo standard error."""
    K = model.n_estimators
    # Linear members without bias: member k's output on the unit vector e_j is
    # component j of its total weight theta_k + theta_tilde_k.
    weights = model.predict_members(np.eye(2))
    mean, std = model.predict(X_TEST, return_std=True)
    exact_mean = X_TEST @ mu
    exact_var = np.einsum("ij,jk,ik->i", X_TEST, Sigma, X_TEST)
    exact_std = np.sqrt(exact_var)
    variances = np.diag(Sigma)
    return {
        # (a) Mean of K draws: standard error sqrt(x^T Sigma x / K).
        "predictive mean": (mean - exact_mean) / np.sqrt(exact_var / K),
        # (b) Sample covariance of K Gaussian draws: Var(C_ij) is about
        #     (Sigma_ii Sigma_jj + Sigma_ij^2) / K.
        "weight covariance": (np.cov(weights.T, ddof=1) - Sigma)
        / np.sqrt((np.outer(variances, variances) + Sigma**2) / K),
        # (c) Sample standard deviation of K Gaussian draws: standard error
        #     s / sqrt(2 K). predict uses ddof=0, whose bias s / (2K) is 30
        #     times smaller than that and is corrected here all the same.
        "predictive std": (std * np.sqrt(K / (K - 1)) - exact_std) / (exact_std / np.sqrt(2 * K)),
    }


def test_closed_form_agrees_with_bayesian_ridge(data):
    X, y = data
    mu, Sigma = exact_posterior(X, y)
    # BayesianRidge re-estimates the precisions alpha_ (noise) and lambda_
    # (weights) at every iteration. Gamma hyperpriors of huge shape and rate
    # with the wanted means pin them to 1/sigma^2 and 1/lam (relative error
    # ~1e-12), which turns it into plain Bayesian linear regression.
    pin = 1e12
    ridge = BayesianRidge(
        fit_intercept=False,
        alpha_init=1 / SIGMA**2,
        lambda_init=1 / LAM,
        alpha_1=pin / SIGMA**2,
        alpha_2=pin,
        lambda_1=pin / LAM,
        lambda_2=pin,
    ).fit(X, y)
    np.testing.assert_allclose([ridge.alpha_, ridge.lambda_], [1 / SIGMA**2, 1 / LAM], rtol=1e-9)
    np.testing.assert_allclose(ridge.coef_, mu, rtol=1e-8)
    np.testing.assert_allclose(ridge.sigma_, Sigma, rtol=1e-8)


def test_ensemble_is_an_exact_posterior_sample(data):
    X, y = data
    mu, Sigma = exact_posterior(X, y)
    model = fit_ensemble(X, y)

    # Converged: the loss no longer moves, so each member sits at the
    # minimiser the lemma speaks of, not somewhere on the way to it.
    losses = model.net_.history[:, "train_loss"]
    assert abs(losses[-1] - losses[-2]) <= 1e-6 * abs(losses[-1])

    for name, errors in standardised_errors(model, mu, Sigma).items():
        worst = np.max(np.abs(errors))
        assert worst < N_SE, f"{name} is {worst:.1f} standard errors from the exact posterior"


@pytest.mark.parametrize(
    "wrong",
    [
        pytest.param(dict(target_noise=0.0), id="no target noise"),
        pytest.param(dict(prior_scale=0.0), id="no prior"),
        pytest.param(dict(alpha=SIGMA**2 / LAM / 5), id="penalty divided by n"),
    ],
)
def test_the_comparison_detects_a_wrong_ensemble(data, wrong):
    # The same check as above must fail for ensembles that are not posterior
    # samples; otherwise its tolerances would be too loose to mean anything.
    X, y = data
    mu, Sigma = exact_posterior(X, y)
    model = fit_ensemble(X, y, **wrong)
    worst = max(np.max(np.abs(errors)) for errors in standardised_errors(model, mu, Sigma).values())
    assert worst > N_SE
