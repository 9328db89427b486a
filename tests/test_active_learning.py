"""A max-std active-learning loop never re-picks a labelled point (examples/plot_active_learning.py)."""

import numpy as np

from skrpf import RandomizedPriorRegressor


def test_max_std_queries_never_repick_labelled_points():
    # Noise-free labels: every member is pulled through each one, so the
    # members' spread at a labelled point is below the largest spread over
    # the candidates, and argmax(std) lands on a new point.
    candidates = np.linspace(-2, 2, 81)[:, None]
    labelled = [8, 40, 72]
    estimator = RandomizedPriorRegressor(n_estimators=5, max_epochs=200, warm_start=True, random_state=0)
    for _ in range(4):
        X = candidates[labelled]
        estimator.fit(X, np.sin(3 * X[:, 0]))
        std = estimator.predict(candidates, return_std=True, include_noise=False)[1]
        assert std[labelled].max() < std.max()
        query = int(np.argmax(std))
        assert query not in labelled
        labelled.append(query)
    assert len(set(labelled)) == len(labelled)
