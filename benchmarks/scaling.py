"""Fit time grows linearly with the number of samples.

Epochs and batch size are fixed (5 epochs of batches of 256, K=10, default
MLP, d=5), so the number of optimizer steps grows with n and the time per
step should not: no per-fit cost may grow faster than n.

Target (issue 5): fit time at n=200,000 / fit time at n=20,000 <= 11.

Run: ``python benchmarks/scaling.py``
"""

from __future__ import annotations

import _common  # noqa: F401  (puts the source checkout on sys.path)
import numpy as np
from _common import best_time, print_header, print_table, verdict, warm_up

from skrpf import RandomizedPriorRegressor

EPOCHS, BATCH, D = 2, 256, 5


def data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(n, D)).astype(np.float32)
    y = np.sin(X[:, 0]) * X[:, 1] + 0.1 * rng.standard_normal(n).astype(np.float32)
    return X, y


def main() -> None:
    print_header(f"fit time vs n: K=10, default MLP, d={D}, {EPOCHS} epochs, batch {BATCH}")
    warm_up()
    rows, times = [], {}
    for n, repeats in [(20_000, 3), (200_000, 2)]:
        X, y = data(n)
        times[n] = best_time(
            lambda X=X, y=y: RandomizedPriorRegressor(
                max_epochs=EPOCHS, batch_size=BATCH, random_state=0
            ).fit(X, y),
            repeats=repeats,
        )
        steps = EPOCHS * -(-n // BATCH)
        rows.append({"n": n, "fit [s]": times[n], "steps": steps, "ms per step": 1e3 * times[n] / steps})
    print_table(rows)
    verdict("fit time n=200,000 / n=20,000", times[200_000] / times[20_000], 11, higher_is_better=False)


if __name__ == "__main__":
    main()
