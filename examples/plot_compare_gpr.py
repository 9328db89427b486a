"""
Side by side with a Gaussian process
====================================

:class:`~skrpf.RandomizedPriorRegressor` has the prediction API of
:class:`~sklearn.gaussian_process.GaussianProcessRegressor`, so the two can be
swapped in the same code: ``fit(X, y)`` and ``predict(X, return_std=True)``.
Here both are fit to the toy problem of
:ref:`sphx_glr_auto_examples_plot_paper_toy.py` with their defaults plus a
noise model: a :class:`~sklearn.gaussian_process.kernels.WhiteKernel` for the
GP, and the estimator's default ``noise="homoscedastic"`` for the ensemble, so
that both bands describe noisy observations of y.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from skrpf import RandomizedPriorRegressor
from skrpf.datasets import make_paper_toy

X, y = make_paper_toy()
grid = np.linspace(-1.0, 2.5, 300).reshape(-1, 1)

models = {
    "GaussianProcessRegressor (RBF + white noise)": GaussianProcessRegressor(
        kernel=ConstantKernel() * RBF(length_scale=0.3) + WhiteKernel(noise_level=0.01),
        normalize_y=True,
        n_restarts_optimizer=3,
        random_state=0,
    ),
    "RandomizedPriorRegressor (K=20)": RandomizedPriorRegressor(n_estimators=20, random_state=0),
}

# %%
# The two bands
# -------------
# Both are confident over the data and uncertain away from it. The GP's band
# returns to its prior variance a few length scales from the data and stays
# constant there; the ensemble's keeps growing, because its members are
# networks whose disagreement grows with the distance from the data.
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True, layout="constrained")
for ax, (name, model) in zip(axes, models.items()):
    mean, std = model.fit(X, y).predict(grid, return_std=True)
    ax.fill_between(grid[:, 0], mean - 2 * std, mean + 2 * std, alpha=0.3, label="mean ± 2 std")
    ax.plot(grid[:, 0], mean, lw=2, label="mean")
    ax.scatter(X[:, 0], y, color="black", s=15, zorder=3, label="data")
    ax.set(title=name, xlabel="x")
axes[0].set_ylabel("y")
axes[0].set_ylim(-10, 10)
# One legend for both panels, below them, where it hides neither data nor band.
fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3)
plt.show()

print("GP kernel after fit:", models["GaussianProcessRegressor (RBF + white noise)"].kernel_)
