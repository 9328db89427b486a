"""
Classification: where the ensemble knows that it does not know
===============================================================

:class:`~skrpf.RandomizedPriorClassifier` fits the two moons, beside
scikit-learn's :class:`~sklearn.neural_network.MLPClassifier` (one 2x50 ReLU
network) and
:class:`~sklearn.gaussian_process.GaussianProcessClassifier`. The maps span
a domain far wider than the data.

The top row shows the predicted probability of the second moon. The single
MLP extrapolates its decision boundary with full confidence everywhere;
the ensemble's probability is an average of ten members that agree near
the data and, far from it, follow their own random prior logits.

The bottom row splits the ensemble's predictive entropy (see
:ref:`classification`): the expected entropy (aleatoric: each member is
unsure, on the boundary between the moons) and the mutual information
(epistemic: the members disagree). The mutual information is near 0 on the
data and high all around it, the signal that out-of-distribution detection
and active learning need.

This ensemble is not the default one: its members have sine units, whose
trained logits stay bounded, and its priors are ReLU networks whose first
layer has weights of norm about 1 (``first_layer_init="lecun"``), at
``prior_scale=3``. Far out the priors' logits, growing linearly in random
directions, outgrow the members', so each member follows its own prior.
With the default ReLU members the mutual information is high only in
wedges: they are linear far out, and where all of them continue the same
moon outward they agree. The recipe costs log-loss and calibration on
digits and breast cancer (see the user guide), which is why it is not the
default. The GP's probability returns to 1/2 far from the data; its
entropy alone cannot tell "between two classes" from "never seen".
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.gaussian_process import GaussianProcessClassifier
from sklearn.gaussian_process.kernels import RBF, ConstantKernel
from sklearn.neural_network import MLPClassifier

from skrpf import MLP, RandomizedPriorClassifier

X, y = make_moons(200, noise=0.2, random_state=0)
xx, yy = np.meshgrid(np.linspace(-5, 6, 120), np.linspace(-5, 5.5, 120))
grid = np.column_stack([xx.ravel(), yy.ravel()])

# 500 full-batch epochs of Adam (the default schedule runs 2,000) keep the
# example fast; the maps barely change beyond.
ensemble = RandomizedPriorClassifier(
    module=MLP(activation="sin"),
    prior=MLP(first_layer_init="lecun"),
    prior_scale=3.0,
    max_epochs=500,
    random_state=0,
).fit(X, y)
mlp = MLPClassifier(hidden_layer_sizes=(50, 50), max_iter=2000, random_state=0).fit(X, y)
gpc = GaussianProcessClassifier(ConstantKernel() * RBF(), random_state=0).fit(X, y)
uncertainty = ensemble.predict_uncertainty(grid)
LOG2 = np.log(2)  # the largest entropy of two classes, in nats

panels = [
    ("RandomizedPriorClassifier: P(y=1)", ensemble.predict_proba(grid)[:, 1], "RdBu_r", (0, 1)),
    ("MLPClassifier: P(y=1)", mlp.predict_proba(grid)[:, 1], "RdBu_r", (0, 1)),
    ("GaussianProcessClassifier: P(y=1)", gpc.predict_proba(grid)[:, 1], "RdBu_r", (0, 1)),
    ("ensemble: expected entropy (aleatoric)", uncertainty["expected_entropy"], "viridis", (0, LOG2)),
    ("ensemble: mutual information (epistemic)", uncertainty["mutual_information"], "viridis", (0, LOG2)),
    ("ensemble: total entropy", uncertainty["total_entropy"], "viridis", (0, LOG2)),
]
fig, axes = plt.subplots(2, 3, figsize=(13, 8), sharex=True, sharey=True)
for ax, (title, values, cmap, (low, high)) in zip(axes.ravel(), panels):
    image = ax.contourf(xx, yy, values.reshape(xx.shape), levels=np.linspace(low, high, 11), cmap=cmap)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=6, edgecolors="k", linewidths=0.2)
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8)
fig.tight_layout()
plt.show()
