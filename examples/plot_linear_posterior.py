"""
Linear-Gaussian case: the ensemble samples the exact posterior
===============================================================

Osband et al. (2018, Lemma 3) show that for a linear model with Gaussian
noise, randomized priors are not an approximation: with

* a prior draw :math:`\\tilde\\theta_k \\sim N(0, \\lambda I)` as the prior
  function :math:`p_k(x) = x^\\top \\tilde\\theta_k` (``prior_scale=1``,
  on the raw inputs: ``length_scale=1``, ``normalize_X=False``),
* targets perturbed by fixed noise, :math:`y_i + \\sigma \\epsilon_{ki}`
  (``target_noise=sigma``), no bootstrap (``bootstrap="none"``),
* the penalty :math:`(\\sigma^2/\\lambda) \\lVert\\theta\\rVert^2` on the trained
  part (``alpha=sigma**2 / lam``),

every member :math:`\\tilde\\theta_k + \\hat\\theta_k` is an exact draw from
the posterior :math:`N(\\mu, \\Sigma)` with
:math:`\\Sigma = (X^\\top X/\\sigma^2 + I/\\lambda)^{-1}` and
:math:`\\mu = \\Sigma X^\\top y / \\sigma^2`.

Here the members are linear maps without bias, so each member's weights are
its predictions on the unit vectors. Every quantity of the lemma is given
explicitly: left at ``"auto"``, the length scale (and the prior scale, target
noise and penalty) would be fitted to these ten rows by the marginal
likelihood (:doc:`/hyperparameters`), and the members would sample the
posterior of that fitted model rather than of the one drawn here. The test
suite checks the same result numerically (``tests/test_linear_posterior.py``).
"""

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Ellipse
from torch import nn

from skrpf import RandomizedPriorRegressor

sigma, lam = 1.0, 1.0  # noise standard deviation, prior variance

# Ten samples of two correlated features: the data pin down theta_1 + theta_2
# better than theta_1 - theta_2, so the posterior is a tilted ellipse.
rng = np.random.RandomState(0)
X = rng.normal(size=(10, 2)) @ np.array([[1.0, 0.7], [0.0, 0.5]])
y = X @ np.array([1.0, -0.5]) + sigma * rng.normal(size=10)


def linear(n_features_in, n_outputs):
    return nn.Linear(n_features_in, n_outputs, bias=False)


def gaussian_prior(n_features_in, n_outputs):
    # fit seeds torch's generator before building the networks, so these
    # draws are reproducible and independent from member to member.
    layer = nn.Linear(n_features_in, n_outputs, bias=False)
    nn.init.normal_(layer.weight, std=lam**0.5)
    return layer


model = RandomizedPriorRegressor(
    module=linear,
    prior=gaussian_prior,
    prior_scale=1.0,
    length_scale=1.0,
    n_estimators=300,
    bootstrap="none",
    target_noise=sigma,
    noise="none",
    alpha=sigma**2 / lam,
    normalize_X=False,
    normalize_y=False,
    # The objective is quadratic: full-batch L-BFGS solves it in a few epochs.
    optimizer=torch.optim.LBFGS,
    lr=1.0,
    batch_size=None,
    max_epochs=10,
    random_state=0,
).fit(X, y)

weights = model.predict_members(np.eye(2))  # (n_estimators, 2): theta_k + prior_k

# %%
# The exact posterior, in closed form
# -----------------------------------
Sigma = np.linalg.inv(X.T @ X / sigma**2 + np.eye(2) / lam)
mu = Sigma @ X.T @ y / sigma**2
print("posterior mean      ", np.round(mu, 3))
print("ensemble mean       ", np.round(weights.mean(axis=0), 3))
print("posterior covariance", np.round(Sigma, 3).tolist())
print("ensemble covariance ", np.round(np.cov(weights.T), 3).tolist())


# %%
# Member weights against the posterior ellipses
# ---------------------------------------------
# The ellipses hold 39%, 86% and 99% of a two-dimensional Gaussian (1, 2 and
# 3 standard deviations along each principal axis); the dashed circle is the
# one-standard-deviation ellipse of the prior, which the data have shrunk and
# tilted.


def add_ellipse(ax, mean, cov, n_std, **kwargs):
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(eigenvectors[1, -1], eigenvectors[0, -1]))
    width, height = 2 * n_std * np.sqrt(eigenvalues[::-1])
    ax.add_patch(Ellipse(mean, width, height, angle=angle, fill=False, **kwargs))


fig, ax = plt.subplots(figsize=(6, 6))
ax.scatter(weights[:, 0], weights[:, 1], s=8, alpha=0.5, label="ensemble members")
for n_std in (1, 2, 3):
    add_ellipse(ax, mu, Sigma, n_std, color="C3", lw=2, label="exact posterior" if n_std == 1 else None)
add_ellipse(ax, np.zeros(2), lam * np.eye(2), 1, color="gray", ls="--", label="prior (1 std)")
ax.plot(*mu, "x", color="C3", ms=10, mew=2)
ax.set(xlabel=r"$\theta_1$", ylabel=r"$\theta_2$", aspect="equal", xlim=(-2, 2.5), ylim=(-2.5, 2))
ax.set_title("Randomized-prior ensemble of linear models, K=300")
ax.legend(loc="upper right")
plt.show()
