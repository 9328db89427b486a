"""Latency of one prediction with its uncertainty, as a Bayesian-optimisation loop needs it.

Setting: K=10, default MLP, fitted on 200 points in 5 dimensions; then
``predict(x, return_std=True)`` on a single row, called many times.

Target (issue 5): median latency <= 0.5 ms.

Run: ``python benchmarks/latency.py``
"""

from __future__ import annotations

import time

import _common  # noqa: F401  (puts the source checkout on sys.path)
import numpy as np
from _common import print_header, print_table, verdict, warm_up

from skrpf import RandomizedPriorRegressor

CALLS = 2000


def latencies(fn, calls: int = CALLS) -> np.ndarray:
    for _ in range(50):  # warm caches and lazily built kernels
        fn()
    out = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - start
    return out


def main() -> None:
    print_header("predict(x, return_std=True) on one row, K=10, default MLP")
    warm_up()
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(200, 5))
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2
    model = RandomizedPriorRegressor(n_estimators=10, max_epochs=20, random_state=0).fit(X, y)
    x = rng.uniform(-1, 1, size=(1, 5))
    single = latencies(lambda: model.predict(x, return_std=True))
    mean_only = latencies(lambda: model.predict(x))
    batch = rng.uniform(-1, 1, size=(1000, 5))
    thousand = latencies(lambda: model.predict(batch, return_std=True), calls=200)
    print_table(
        [
            {
                "call": "predict(1 row, return_std=True)",
                "median [ms]": 1e3 * np.median(single),
                "p90 [ms]": 1e3 * np.quantile(single, 0.9),
            },
            {
                "call": "predict(1 row)",
                "median [ms]": 1e3 * np.median(mean_only),
                "p90 [ms]": 1e3 * np.quantile(mean_only, 0.9),
            },
            {
                "call": "predict(1,000 rows, return_std=True)",
                "median [ms]": 1e3 * np.median(thousand),
                "p90 [ms]": 1e3 * np.quantile(thousand, 0.9),
            },
        ]
    )
    verdict(
        "median latency of predict(1 row, return_std=True) [ms]",
        1e3 * np.median(single),
        0.5,
        higher_is_better=False,
    )


if __name__ == "__main__":
    main()
