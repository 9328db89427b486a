"""
Conformal intervals around skrpf with MAPIE
===========================================

The ensemble's ``mean +- 1.645 std`` is a 90% interval only if its std is
calibrated. MAPIE's split conformal regression with the ``std_normalized``
conformity score (``|y - mean| / std``, which calls
``predict(X, return_std=True)``) rescales the std on held-out calibration
rows, so that the intervals cover 90% of new points whatever the model.
Here the noise grows with ``x`` and skrpf learns it
(``noise="heteroscedastic"``); the held-out coverage of the raw and the
conformal intervals is printed. Needs ``pip install mapie``.
"""

import matplotlib.pyplot as plt
import numpy as np
from mapie.regression import SplitConformalRegressor

from skrpf import RandomizedPriorRegressor
from skrpf.metrics import interval_coverage

rng = np.random.RandomState(0)
X = rng.uniform(-3, 3, size=(1300, 1))
y = np.sin(X[:, 0]) + (0.05 + 0.2 * np.abs(X[:, 0])) * rng.standard_normal(len(X))
X_train, y_train = X[:200], y[:200]
X_cal, y_cal = X[200:400], y[200:400]
X_test, y_test = X[400:], y[400:]

model = RandomizedPriorRegressor(noise="heteroscedastic", n_estimators=10, random_state=0)
model.fit(X_train, y_train)
conformal = SplitConformalRegressor(
    model, confidence_level=0.9, conformity_score="std_normalized", prefit=True
)
conformal.conformalize(X_cal, y_cal)

mean, std = model.predict(X_test, return_std=True)
_, intervals = conformal.predict_interval(X_test)
lower, upper = intervals[:, 0, 0], intervals[:, 1, 0]
raw = interval_coverage(y_test, mean, std, level=0.9)
covered = float(np.mean((lower <= y_test) & (y_test <= upper)))
print(f"held-out coverage of 90% intervals: raw {raw:.3f}, conformal (std_normalized) {covered:.3f}")

order = np.argsort(X_test[:, 0])
x = X_test[order, 0]
fig, ax = plt.subplots(figsize=(8, 4))
ax.scatter(X_test[:, 0], y_test, s=3, c="k", alpha=0.3, label="test points")
ax.plot(x, mean[order], label="mean")
ax.fill_between(
    x, (mean - 1.645 * std)[order], (mean + 1.645 * std)[order], alpha=0.3, label=f"raw 90% ({raw:.2f})"
)
ax.plot(x, lower[order], "C3--", label=f"conformal 90% ({covered:.2f})")
ax.plot(x, upper[order], "C3--")
ax.legend(loc="upper left")
ax.set_title("skrpf with MAPIE's std_normalized split conformal intervals")
plt.show()
