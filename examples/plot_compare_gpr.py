"""
Side by side with a Gaussian process
====================================

:class:`~skrpf.RandomizedPriorRegressor` has the prediction API of
:class:`~sklearn.gaussian_process.GaussianProcessRegressor`, so the two can be
swapped in the same code: ``fit(X, y)`` and ``predict(X, return_std=True)``.
Here both are fit to the toy problem of
:ref:`sphx_glr_auto_examples_plot_paper_toy.py` (twenty rows) with their
defaults plus a noise model: a
:class:`~sklearn.gaussian_process.kernels.WhiteKernel` for the GP, and the
estimator's default ``noise="auto"`` for the ensemble (homoscedastic on
twenty rows), so that both
bands describe noisy observations of y.

Both fit their hyper-parameters to the data by the same criterion, the
marginal likelihood of the standardised targets. The GP tunes the amplitude
and length scale of its RBF kernel and the white-noise level; the ensemble,
on data this small, tunes the kernel that its random prior networks define:
the input length scale, the activation of its MLP, the prior scale and the
noise level (:doc:`/hyperparameters`). Its members then train on every row,
against targets perturbed by noise of the fitted level.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from skrpf import RandomizedPriorRegressor
from skrpf.datasets import make_paper_toy

X, y = make_paper_toy()
grid = np.linspace(-1.0, 2.5, 300).reshape(-1, 1)

gp = GaussianProcessRegressor(
    kernel=ConstantKernel() * RBF(length_scale=0.3) + WhiteKernel(noise_level=0.01),
    normalize_y=True,
    n_restarts_optimizer=3,
    random_state=0,
).fit(X, y)
ensemble = RandomizedPriorRegressor(n_estimators=20, random_state=0).fit(X, y)

# %%
# What each fitted
# ----------------
# The noise levels agree, close to the 0.1 with which the data were drawn.
# The GP's amplitude is in standard deviations of y and its length scale in
# the units of x; the ensemble's length scale is in standard deviations of x
# (0.52 here), and its prior scale multiplies prior networks whose outputs
# have a standard deviation of about 0.75 for the sine activation, so its
# prior functions are about seven standard deviations of y in size, against
# the GP's 1.4. The GP's marginal likelihood is the higher: its RBF kernel
# explains these twenty rows better than the best of the prior networks'
# kernels does.
print("GP kernel:", gp.kernel_)
print(f"GP log marginal likelihood:       {gp.log_marginal_likelihood_value_:.1f}")
print(
    f"ensemble: {ensemble.activation_} MLP, length scale {ensemble.length_scale_:.2g}, "
    f"prior scale {ensemble.prior_scale_:.2g}, noise std {ensemble.noise_std_[0]:.3f} "
    f"(GP: {np.sqrt(gp.kernel_.k2.noise_level) * y.std():.3f})"
)
print(f"ensemble log marginal likelihood: {ensemble.log_marginal_likelihood_:.1f}")

models = {
    "GaussianProcessRegressor (RBF + white noise)": gp,
    f"RandomizedPriorRegressor (K=20, {ensemble.activation_} MLP)": ensemble,
}

# %%
# The two bands
# -------------
# Both are confident over the data, where their bands shrink to the fitted
# noise, and uncertain in the gap and beyond. Far from the data the GP
# returns to its prior mean and variance within a few length scales. The
# ensemble's members, with the sine activation that the marginal likelihood
# chose, are nearly stationary random functions too, so its band also stops
# growing; but it levels off at the size of its prior functions, several
# times the GP's prior amplitude: far out the band leaves the axes. Its mean
# wanders there, as the average of 20 members that disagree that much.
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True, layout="constrained")
predictions = {}
for ax, (name, model) in zip(axes, models.items()):
    mean, std = predictions[name] = model.predict(grid, return_std=True)
    ax.fill_between(grid[:, 0], mean - 2 * std, mean + 2 * std, alpha=0.3, label="mean ± 2 std")
    ax.plot(grid[:, 0], mean, lw=2, label="mean")
    ax.scatter(X[:, 0], y, color="black", s=15, zorder=3, label="data")
    ax.set(title=name, xlabel="x")
axes[0].set_ylabel("y")
axes[0].set_ylim(-10, 10)
# One legend for both panels, below them, where it hides neither data nor band.
fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3)
plt.show()

# %%
# The two standard deviations
# ---------------------------
# On a logarithmic scale, the whole of both: at the noise level over the
# data, rising in the gap between the clusters, and flat far out, where each
# model is back to its prior.
fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
for name, (_, std) in predictions.items():
    ax.plot(grid[:, 0], std, lw=2, label=name)
ax.plot(X[:, 0], np.full(len(X), 0.05), "|", color="black", ms=12, label="training inputs")
ax.set(xlabel="x", ylabel="predictive std of y", yscale="log", title="Predictive standard deviation")
fig.legend(loc="outside lower center", ncol=2)
plt.show()
