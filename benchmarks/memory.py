"""Peak memory of fit and predict on a million rows, each measured in a fresh process.

* fit on n=1,000,000, d=10 float32 (one epoch: memory does not grow with
  epochs): peak RSS <= 2 x data bytes + 700 MB above the baseline;
* ``predict(X, return_std=True)`` on 1,000,000 rows: peak RSS <= 700 MB above
  the baseline plus the input's bytes (prediction streams in batches).

The baseline is the resident size of the child process after importing torch
and skrpf, before the data are built (fit), or with the model fitted and
before the input is built (predict). Peaks are read from the kernel's
high-water mark (``VmHWM``), reset right before the call.

Run: ``python benchmarks/memory.py``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import _common  # noqa: F401  (puts the source checkout on sys.path)
from _common import print_header, print_table, verdict

from skrpf import RandomizedPriorRegressor

N, D, MB = 1_000_000, 10, 2**20


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM to the current RSS


def child(task: str) -> None:
    import numpy as np

    baseline = _status_kb("VmRSS")  # the interpreter with torch and skrpf imported
    rng = np.random.RandomState(0)
    X = rng.standard_normal((N, D)).astype(np.float32)
    y = (np.sin(X[:, 0]) + X[:, 1]).astype(np.float32)
    if task.startswith("fit"):
        # "fit-noise=none": the same fit without the noise model's extra pass (for the profile).
        extra = {"noise": "none"} if task == "fit-noise=none" else {}
        model = RandomizedPriorRegressor(max_epochs=1, random_state=0, **extra)
        data_bytes = X.nbytes + y.nbytes
        call = lambda: model.fit(X, y)  # noqa: E731
    else:
        model = RandomizedPriorRegressor(max_epochs=2, random_state=0).fit(X[:2000], y[:2000])
        data_bytes = X.nbytes
        call = lambda: model.predict(X, return_std=True)  # noqa: E731
        # Prediction is measured from the fitted model with its input in memory.
        baseline = _status_kb("VmRSS") - X.nbytes / 1024
    _reset_peak()
    call()
    peak = _status_kb("VmHWM")
    print(json.dumps({"baseline_mb": baseline / 1024, "peak_mb": peak / 1024, "data_mb": data_bytes / MB}))


def measure(task: str) -> dict:
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", task],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    print_header(f"peak memory, n={N:,}, d={D}, float32, K=10, default MLP")
    fit, predict = measure("fit"), measure("predict")
    has_noise = "noise" in RandomizedPriorRegressor().get_params()
    bare = measure("fit-noise=none") if has_noise else None
    fit_excess = fit["peak_mb"] - fit["baseline_mb"]
    predict_excess = predict["peak_mb"] - predict["baseline_mb"]
    print_table(
        [
            {
                "call": "fit (1 epoch)",
                "data [MB]": fit["data_mb"],
                "baseline [MB]": fit["baseline_mb"],
                "peak [MB]": fit["peak_mb"],
                "above baseline [MB]": fit_excess,
                "allowed [MB]": 2 * fit["data_mb"] + 700,
            },
            {
                "call": "predict(return_std=True)",
                "data [MB]": predict["data_mb"],
                "baseline [MB]": predict["baseline_mb"],
                "peak [MB]": predict["peak_mb"],
                "above baseline [MB]": predict_excess,
                "allowed [MB]": 700 + predict["data_mb"],
            },
        ]
    )
    if bare is not None:
        print(
            f"fit with noise='none' (no out-of-bag noise estimate): peak {bare['peak_mb']:.0f} MB, "
            f"{bare['peak_mb'] - bare['baseline_mb']:.0f} MB above baseline"
        )
    verdict("fit: peak above baseline - 2 x data [MB]", fit_excess - 2 * fit["data_mb"], 700, False)
    verdict("predict: peak above baseline - input [MB]", predict_excess - predict["data_mb"], 700, False)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
