"""
Randomized prior functions on a one-dimensional toy problem
===========================================================

The problem of Christian S. Perone's blog post
`Randomized prior functions in PyTorch
<https://blog.christianperone.com/2019/01/randomized-prior-functions-in-pytorch/>`_
(2019), which this gallery reproduces: twenty noisy samples of
:math:`y = x + \\sin(3x) + \\sin(12x)` in two clusters
(:func:`skrpf.datasets.make_paper_toy`). A good model is confident near the
data and uncertain in the gap between the clusters and outside them.

Each member of :class:`~skrpf.RandomizedPriorRegressor` is
:math:`Q_k(x) = f_k(x) + \\beta p_k(x)`: a random, untrained prior network
:math:`p_k` plus a trained network :math:`f_k`, fit to its own bootstrap
resample of the data. This example shows the three pieces of the picture:
the predictive band, the priors it comes from, and the members themselves.

The settings are those of the blog post and of the estimator on large data,
written out: ``prior_scale=1`` (:math:`\\beta`), the networks on the
standardised inputs (``length_scale=1``), the classic bootstrap, no target
noise, weak weight decay and Adam, with the default ReLU MLP. On twenty rows
the defaults would instead fit the prior to the data by the marginal
likelihood and train every member on all rows
(:ref:`sphx_glr_auto_examples_plot_compare_gpr.py`,
:doc:`/hyperparameters`).
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

from skrpf import RandomizedPriorRegressor
from skrpf.datasets import make_paper_toy

X, y = make_paper_toy()
grid = np.linspace(-1.0, 2.5, 300).reshape(-1, 1)

model = RandomizedPriorRegressor(
    n_estimators=20,
    # Every "auto" hyper-parameter given, so none is fitted: the blog post's
    # recipe (the estimator's large-data values, skrpf._auto.LARGE_DATA_VALUES).
    length_scale=1.0,
    prior_scale=1.0,
    target_noise=0.0,
    alpha=1e-2,
    bootstrap="multinomial",
    optimizer=torch.optim.Adam,
    lr=1e-2,
    # As in the paper, the band is the spread of the members alone, with no
    # separate model of the observation noise.
    noise="none",
    random_state=0,
).fit(X, y)

# %%
# Mean and two-standard-deviation band
# ------------------------------------
# Over the data every member is pulled through the data, so the band is
# narrow. Between and beyond the clusters nothing pulls the members together:
# they keep the disagreement they started with (different priors,
# initialisations and bootstrap resamples), and the band widens with the
# distance from the data.
mean, std = model.predict(grid, return_std=True)

fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
ax.fill_between(grid[:, 0], mean - 2 * std, mean + 2 * std, alpha=0.3, label="mean ± 2 std")
ax.plot(grid[:, 0], mean, lw=2, label="ensemble mean")
ax.scatter(X[:, 0], y, color="black", s=18, zorder=3, label="data")
ax.set(xlabel="x", ylabel="y", title="RandomizedPriorRegressor, K=20, β=1")
# Below the axes, where it hides neither the data nor the band.
fig.legend(loc="outside lower center", ncol=3)
plt.show()

# %%
# The priors alone
# ----------------
# Every member gets its own randomly initialised copy of the network as a
# prior, frozen before training. Drawn here is :math:`\beta p_k(x)` for each
# member, read from the fitted ensemble (``model.ensemble_``). The networks
# work on standardised inputs and targets (``normalize_X=True`` and
# ``normalize_y=True`` by default), so x is standardised with the training
# mean and standard deviation before the call, and the result is multiplied
# by the standard deviation of y to show it in the units of y.
grid_standardised = (grid - X.mean(axis=0)) / X.std(axis=0)
with torch.no_grad():
    priors = model.ensemble_.prior_term(torch.as_tensor(grid_standardised))
priors = priors.squeeze(-1).numpy() * y.std()

fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
ax.plot(grid[:, 0], priors.T, lw=1, alpha=0.8)
ax.plot(X[:, 0], np.full(len(X), priors.min()), "|", color="black", ms=12, label="training inputs")
ax.set(xlabel="x", ylabel=r"$\beta\, p_k(x)$", title="The 20 untrained prior functions")
fig.legend(loc="outside lower center")
plt.show()

# %%
# Every member
# ------------
# Training pulls each member through the data it was given; its prior, its
# initialisation and its bootstrap resample decide what it does elsewhere.
# The members agree over the data and fan out away from it: their spread is
# the band of the first figure.
members = model.predict_members(grid)

fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
ax.plot(grid[:, 0], members.T, lw=1, alpha=0.7)
ax.scatter(X[:, 0], y, color="black", s=18, zorder=3, label="data")
ax.set(xlabel="x", ylabel=r"$Q_k(x) = f_k(x) + \beta\, p_k(x)$", title="The 20 trained members")
fig.legend(loc="outside lower center")
plt.show()
