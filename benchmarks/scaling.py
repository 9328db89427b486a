"""Fit time grows linearly with the number of samples.

Epochs and batch size are fixed (2 epochs of batches of 256, K=10, default
MLP, d=5), so the number of optimizer steps grows with n and the time per
step should not: no per-fit cost may grow faster than n.

Target: fit time at n=200,000 / fit time at n=20,000 <= 11.

Run: ``python benchmarks/scaling.py``
"""

from __future__ import annotations

import functools

import _common  # noqa: F401  (puts the source checkout on sys.path)
import numpy as np
from _common import interleaved_best_times, print_header, print_table, verdict, warm_up

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
    sizes = (20_000, 200_000)
    datasets = {n: data(n) for n in sizes}

    def fit(n: int) -> None:
        X, y = datasets[n]
        RandomizedPriorRegressor(max_epochs=EPOCHS, batch_size=BATCH, random_state=0).fit(X, y)

    # The two sizes alternate, best of each: a slow spell of the shared
    # machine then hits both sides of the ratio, not the large fits alone.
    times = interleaved_best_times({n: functools.partial(fit, n) for n in sizes}, repeats=3)
    rows: list[dict[str, object]] = []
    for n in sizes:
        steps = EPOCHS * -(-n // BATCH)
        rows.append({"n": n, "fit [s]": times[n], "steps": steps, "ms per step": 1e3 * times[n] / steps})
    print_table(rows)
    verdict("fit time n=200,000 / n=20,000", times[200_000] / times[20_000], 11, higher_is_better=False)


if __name__ == "__main__":
    main()
