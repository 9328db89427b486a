"""Fit time against ``n_jobs``: members trained in parallel by joblib (loky and dask).

One ensemble of K = 40 default members (MLP 2x50) on n = 200,000 rows of 8
features, fitted side by side, same data and seed, with Adam (the large-data
settings):

* ``n_jobs=1``, on 1 and on 2 torch threads: one vectorized stack in this process;
* ``n_jobs=2`` on joblib's default backend (loky processes), 1 thread each,
  once the workers have started (their start-up is timed apart);
* ``n_jobs=2`` on a ``distributed.LocalCluster(n_workers=2, threads_per_worker=1)``
  on loopback, through ``joblib.parallel_config(backend="dask")``, 1 thread each
  (skipped if ``distributed`` is not installed).

Each fit runs ``--epochs`` epochs (default 1, i.e. 782 Adam steps at batch
256; ``max_epochs="auto"`` would run 3), so that one run of the script stays
under ~10 minutes on two cores. Each time is the best of ``--repeats`` fits
(default 1: they are long). Also printed: whether the parallel fits predict
bit for bit what the one-thread ``n_jobs=1`` fit predicts.

What bounds the speed-up: the cores (two here), the 16-member blocks that
chunks are made of (40 members split 16 + 24, so at best 40 / 24 = 1.67x
over the same thread count in one process), the start of the worker
processes and the shipping of data and members (once per chunk), and what
one process already gets from a second thread.

Run: ``python benchmarks/scale_out.py`` (``--rows 50000`` for a quick look).
"""

from __future__ import annotations

import argparse
import time

import _common  # noqa: F401  (puts the source checkout on sys.path)
import joblib
import numpy as np
from _common import FIXED, print_header, print_table, warm_up

from skrpf import RandomizedPriorRegressor
from skrpf._parallel import member_chunks


def data(n: int, d: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, d))
    y = np.sin(X).sum(axis=1) + 0.1 * rng.standard_normal(n)
    return X, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--members", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    print_header(f"scale_out: K = {args.members}, n = {args.rows:,}, {args.epochs} epoch(s)")
    warm_up()
    X, y = data(args.rows)
    X_test = data(1000, seed=1)[0]
    params = dict(FIXED, n_estimators=args.members, max_epochs=args.epochs, random_state=0)

    def fit(n_jobs, n_threads):
        return RandomizedPriorRegressor(**params, n_jobs=n_jobs, n_threads=n_threads).fit(X, y)

    def timed(label, run):
        best, model = float("inf"), None
        for _ in range(args.repeats):
            start = time.perf_counter()
            model = run()
            best = min(best, time.perf_counter() - start)
        print(f"  {label}: {best:.1f} s", flush=True)
        return best, model

    runs = {}
    runs["n_jobs=1, 1 thread"] = timed("n_jobs=1, 1 thread", lambda: fit(1, 1))
    runs["n_jobs=1, 2 threads"] = timed("n_jobs=1, 2 threads", lambda: fit(1, 2))
    # The first parallel call starts the loky worker processes (each imports
    # torch); joblib keeps them for later calls. Timed apart, on 1,000 rows.
    start = time.perf_counter()
    RandomizedPriorRegressor(**dict(params, max_epochs=1), n_jobs=2, n_threads=1).fit(X[:1000], y[:1000])
    print(f"  loky start-up (first n_jobs=2 fit, 1,000 rows): {time.perf_counter() - start:.1f} s")
    runs["loky n_jobs=2"] = timed("loky n_jobs=2", lambda: fit(2, 1))
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("  dask: distributed is not installed; skipped")
    else:
        with (
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1") as cluster,
            Client(cluster),
            joblib.parallel_config(backend="dask"),
        ):
            runs["dask n_jobs=2"] = timed("dask n_jobs=2", lambda: fit(2, 1))

    reference = runs["n_jobs=1, 1 thread"][1].predict(X_test)
    one, two = runs["n_jobs=1, 1 thread"][0], runs["n_jobs=1, 2 threads"][0]
    rows = []
    for label, (seconds, model) in runs.items():
        rows.append(
            {
                "fit": label,
                "seconds": seconds,
                "vs 1 thread": one / seconds,
                "vs 2 threads": two / seconds,
                "same bits as 1 thread": bool(np.array_equal(model.predict(X_test), reference)),
            }
        )
    print_table(rows)
    sizes = [len(c) for c in member_chunks(args.members, 2)]
    print(f"chunks of n_jobs=2: {sizes} members; bound from the largest: {args.members / max(sizes):.2f}x")


if __name__ == "__main__":
    main()
