"""
A fixed prior function: p(x) = sin(3x)
======================================

A prior need not be a random network. With a fixed function as the prior,
every member shares it, and the members differ only through their bootstrap
resamples and initialisations. The prior then encodes a belief about the
*shape* of the function: here that it oscillates like :math:`\\sin(3x)`.

:class:`~skrpf.SinePrior` evaluates :math:`\\sin(3x)` on the inputs the
networks see. With ``normalize_X=False`` and ``normalize_y=False`` those are
the raw x and y, so the prior is :math:`\\sin(3x)` in the units of the plot.
The other settings are those of
:ref:`sphx_glr_auto_examples_plot_paper_toy.py`, written out (``prior_scale=1``,
``length_scale=1``, the classic bootstrap, Adam): left at ``"auto"`` on twenty
rows, the length scale would rescale the x that the prior sees and the prior
scale would be fitted, so the prior would no longer be :math:`\\sin(3x)`.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

from skrpf import RandomizedPriorRegressor, SinePrior
from skrpf.datasets import make_paper_toy

X, y = make_paper_toy()
grid = np.linspace(-1.0, 2.5, 300).reshape(-1, 1)

model = RandomizedPriorRegressor(
    prior=SinePrior,
    n_estimators=20,
    # Every "auto" hyper-parameter given, so none is fitted (the large-data values).
    length_scale=1.0,
    prior_scale=1.0,
    target_noise=0.0,
    alpha=1e-2,
    bootstrap="multinomial",
    optimizer=torch.optim.Adam,
    lr=1e-2,
    noise="none",
    normalize_X=False,
    normalize_y=False,
    random_state=0,
).fit(X, y)

mean, std = model.predict(grid, return_std=True)
members = model.predict_members(grid)

# %%
# Band and members
# ----------------
# Every member is the shared prior plus its own trained part. Over the data
# the trained parts cancel the prior where it disagrees with the data. Away
# from it they extrapolate the trend they learnt (here mostly the linear
# :math:`x` term of the target), and the prior adds its oscillation on top:
# right of the data the members dip with the prior near :math:`x \approx 1.6`,
# and many turn up again towards :math:`x = 2.5`, following :math:`\sin(3x)`,
# where the members with random network priors
# (:ref:`sphx_glr_auto_examples_plot_paper_toy.py`) fan out along nearly
# straight lines. Because every member has the same
# prior, the spread comes from the bootstrap resamples and initialisations
# alone: the prior shapes the mean, not the band.
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True, layout="constrained")
left.fill_between(grid[:, 0], mean - 2 * std, mean + 2 * std, alpha=0.3, label="mean ± 2 std")
left.plot(grid[:, 0], mean, lw=2, label="ensemble mean")
left.set_title("Mean and band")
right.plot(grid[:, 0], members.T, lw=1, alpha=0.7)
right.set_title("The 20 members")
for ax in (left, right):
    ax.plot(grid[:, 0], np.sin(3 * grid[:, 0]), "k--", lw=1, label=r"prior $\sin(3x)$")
    ax.scatter(X[:, 0], y, color="black", s=18, zorder=3, label="data")
    ax.set(xlabel="x")
left.set_ylabel("y")
# One legend for both panels, below them, where it hides neither data nor band.
fig.legend(*left.get_legend_handles_labels(), loc="outside lower center", ncol=4)
plt.show()
