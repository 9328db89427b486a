"""Warm-started refits against cold fits, after new rows arrive one at a time.

The use is the refit of Bayesian optimisation and active learning: the
estimator was fitted on ``n`` rows, one new row arrives, and the model is
refitted on ``n + 1``. Side by side, on the same data and seed:

* **cold**: a new estimator fitted on the ``n + 1`` rows (defaults);
* **warm**: the estimator fitted on ``n`` rows, with ``warm_start=True``,
  fitted again on the ``n + 1`` rows.

Then ``--chain`` more rows arrive one by one, each followed by a warm
refit, and the last warm model is set beside a cold fit on all the rows:
the error a sequence of warm refits accumulates.

Printed per problem: CPU seconds (process time) of the cold and warm fits,
their ratio, and the R^2 of both against the noise-free function on 2,000
test points drawn from the same distribution, as means over seeds.

Targets: the warm refit after one new row at least 5x cheaper than the cold
fit, with an R^2 at most 0.02 below the cold fit's.

Run: ``python benchmarks/warm_start.py`` (5 seeds; ``--seeds 2`` for a quick look).
"""

from __future__ import annotations

import argparse
import time

import _common  # noqa: F401  (puts the source checkout on sys.path)
import numpy as np
from _common import print_header, print_table, verdict
from sklearn.metrics import r2_score

from skrpf import RandomizedPriorRegressor


def branin(X: np.ndarray) -> np.ndarray:
    """Branin on the unit square (rescaled to its usual box)."""
    x1, x2 = 15 * X[:, 0] - 5, 15 * X[:, 1]
    return (
        (x2 - 5.1 / (4 * np.pi**2) * x1**2 + 5 / np.pi * x1 - 6) ** 2
        + 10 * (1 - 1 / (8 * np.pi)) * np.cos(x1)
        + 10
    )


def hart6(X: np.ndarray) -> np.ndarray:
    """Hartmann's 6-D function on the unit cube."""
    alpha = np.array([1.0, 1.2, 3.0, 3.2])
    A = np.array(
        [
            [10, 3, 17, 3.5, 1.7, 8],
            [0.05, 10, 17, 0.1, 8, 14],
            [3, 3.5, 1.7, 10, 17, 8],
            [17, 8, 0.05, 10, 0.1, 14],
        ]
    )
    P = 1e-4 * np.array(
        [
            [1312, 1696, 5569, 124, 8283, 5886],
            [2329, 4135, 8307, 3736, 1004, 9991],
            [2348, 1451, 3522, 2883, 3047, 6650],
            [4047, 8828, 8732, 5743, 1091, 381],
        ]
    )
    return -np.exp(-(A[None] * (X[:, None, :] - P[None]) ** 2).sum(axis=2)) @ alpha


def wave_4d(X: np.ndarray) -> np.ndarray:
    """A smooth 4-D function of our own for the large-data regime."""
    return np.sin(3 * X[:, 0]) * np.cos(2 * X[:, 1]) + X[:, 2] ** 2 - 0.5 * X[:, 3]


PROBLEMS = {
    # name: (function, dimension, initial rows, noise std)
    "branin (n=20)": (branin, 2, 20, 0.0),
    "hart6 (n=40)": (hart6, 6, 40, 0.0),
    "wave4d (n=2000, noisy)": (wave_4d, 4, 2000, 0.1),
}


def cpu_fit(model: RandomizedPriorRegressor, X: np.ndarray, y: np.ndarray) -> float:
    start = time.process_time()
    model.fit(X, y)
    return time.process_time() - start


def run(problem: str, seed: int, chain: int) -> dict[str, float]:
    function, dim, n, noise = PROBLEMS[problem]
    rng = np.random.RandomState(seed)
    X = rng.uniform(size=(n + 1 + chain, dim))
    y = function(X) + noise * rng.standard_normal(len(X))
    X_test = rng.uniform(size=(2000, dim))
    f_test = function(X_test)

    warm = RandomizedPriorRegressor(warm_start=True, random_state=seed)
    warm.fit(X[:n], y[:n])
    warm_cpu = cpu_fit(warm, X[: n + 1], y[: n + 1])
    cold = RandomizedPriorRegressor(random_state=seed)
    cold_cpu = cpu_fit(cold, X[: n + 1], y[: n + 1])
    row = {
        "cold CPU": cold_cpu,
        "warm CPU": warm_cpu,
        "cold R2": r2_score(f_test, cold.predict(X_test)),
        "warm R2": r2_score(f_test, warm.predict(X_test)),
    }
    for extra in range(2, chain + 1):
        warm.fit(X[: n + extra], y[: n + extra])
    if chain > 1:
        last = RandomizedPriorRegressor(random_state=seed).fit(X[: n + chain], y[: n + chain])
        row["cold R2, chain"] = r2_score(f_test, last.predict(X_test))
        row["warm R2, chain"] = r2_score(f_test, warm.predict(X_test))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--chain", type=int, default=10, help="rows added one by one after the first")
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    args = parser.parse_args()
    _common.warm_up()

    print_header(f"Warm refit after one new row vs a cold fit ({args.seeds} seeds, means)")
    rows, passed = [], True
    for problem in args.problems:
        runs = [run(problem, seed, args.chain) for seed in range(args.seeds)]
        mean = {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
        speedup = mean["cold CPU"] / mean["warm CPU"]
        rows.append(
            {
                "problem": problem,
                "cold CPU s": f"{mean['cold CPU']:.3f}",
                "warm CPU s": f"{mean['warm CPU']:.3f}",
                "cold/warm": f"{speedup:.1f}x",
                "cold R2": f"{mean['cold R2']:.4f}",
                "warm R2": f"{mean['warm R2']:.4f}",
                f"cold R2 +{args.chain}": f"{mean.get('cold R2, chain', np.nan):.4f}",
                f"warm R2 +{args.chain}": f"{mean.get('warm R2, chain', np.nan):.4f}",
            }
        )
        passed &= verdict(f"{problem}: cold CPU / warm CPU", speedup, 5.0, higher_is_better=True)
        passed &= verdict(
            f"{problem}: cold R2 - warm R2", mean["cold R2"] - mean["warm R2"], 0.02, higher_is_better=False
        )
    print_table(rows)
    print("ALL PASS" if passed else "SOME TARGETS MISSED")


if __name__ == "__main__":
    main()
