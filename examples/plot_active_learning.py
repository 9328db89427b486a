"""
Active learning: query where the ensemble disagrees most
========================================================

An active learner labels, one at a time, the candidate point where its
model is least sure. With a randomized-prior ensemble, "least sure" is the
spread of the members, ``predict(X, return_std=True, include_noise=False)``:
near a labelled point every member is pulled through the label, so the
spread there is small, and a max-std query never re-picks a labelled point.
The loop below asserts it, on noise-free data, beside the same loop with
scikit-learn's Gaussian process.

The skrpf estimator keeps ``warm_start=True``: each refit after one new
label starts from the fitted members and trains a short schedule.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel

from skrpf import RandomizedPriorRegressor


def objective(x):
    return np.sin(3 * x) + 0.5 * np.cos(7 * x)


candidates = np.linspace(-2, 2, 201)[:, None]
first = [20, 100, 180]  # three labelled points to start from


def max_std_loop(estimator, n_queries=8):
    """Label ``n_queries`` candidates by maximum std; return the labelled indices."""
    labelled = list(first)
    for _ in range(n_queries):
        X = candidates[labelled]
        estimator.fit(X, objective(X[:, 0]))
        std = estimator.predict(candidates, return_std=True, **std_kwargs(estimator))[1]
        query = int(np.argmax(std))
        # The spread is smallest where the members were pulled through a label.
        assert query not in labelled, f"re-picked labelled point {candidates[query, 0]:.2f}"
        labelled.append(query)
    estimator.fit(candidates[labelled], objective(candidates[labelled, 0]))
    return labelled


def std_kwargs(estimator):
    # The function's uncertainty, without the estimated observation noise.
    return {"include_noise": False} if isinstance(estimator, RandomizedPriorRegressor) else {}


models = {
    "skrpf": RandomizedPriorRegressor(n_estimators=10, warm_start=True, random_state=0),
    "GaussianProcessRegressor": GaussianProcessRegressor(
        ConstantKernel() * RBF(0.5, length_scale_bounds=(0.1, 10.0)), normalize_y=True, random_state=0
    ),
}
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, (name, estimator) in zip(axes, models.items()):
    labelled = max_std_loop(estimator)
    mean, std = estimator.predict(candidates, return_std=True, **std_kwargs(estimator))
    ax.plot(candidates[:, 0], objective(candidates[:, 0]), "k--", label="objective")
    ax.plot(candidates[:, 0], mean, label="mean")
    ax.fill_between(candidates[:, 0], mean - 2 * std, mean + 2 * std, alpha=0.3, label="± 2 std")
    ax.scatter(candidates[first, 0], objective(candidates[first, 0]), c="k", label="initial")
    queried = labelled[len(first) :]
    ax.scatter(candidates[queried, 0], objective(candidates[queried, 0]), c="C3", label="queried")
    for order, index in enumerate(queried, 1):
        ax.annotate(
            str(order),
            (candidates[index, 0], objective(candidates[index, 0])),
            xytext=(3, 5),
            textcoords="offset points",
        )
    ax.set_title(f"{name}: {len(queried)} max-std queries")
    print(f"{name}: queried x = {np.round(candidates[queried, 0], 2).tolist()}")
axes[0].legend(loc="lower left")
plt.tight_layout()
plt.show()
