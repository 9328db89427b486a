"""Compute-bound training throughput, as a fraction of the machine's float32 matmul rate.

Setting: K=10 members of two hidden layers of 256 ReLU units (the default activation), d=10 features,
n=50,000 rows, batch 1,024, 2 epochs. The work counted is the usual
``6 x parameters x samples`` per member (2 for the forward pass, 4 for the
backward pass); the prior, folded into the targets once, is not counted.
The reference rate is that of a large square float32 ``torch.mm``, measured
in the same run, with the same threads: matmul and fit alternate three
times, and each side's best counts.

Target (issue 5): achieved rate >= 35% of the matmul rate.

Run: ``python benchmarks/throughput.py``
"""

from __future__ import annotations

import time

import _common  # noqa: F401  (puts the source checkout on sys.path)
import numpy as np
import torch
from _common import best_time, print_header, print_table, verdict, warm_up

from skrpf import MLP, RandomizedPriorRegressor

K, D, N, BATCH, EPOCHS, HIDDEN = 10, 10, 50_000, 1024, 2, (256, 256)
MATMUL_SIZE, REPEATS = 2048, 3


def matmul_rate(size: int = MATMUL_SIZE, seconds: float = 2.0) -> float:
    """Best FLOP/s of ``size x size`` float32 matrix products over a few runs."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        elapsed = best_time(lambda: torch.mm(a, b), repeats=1)
        best = max(best, 2 * size**3 / elapsed)
    return best


def main() -> None:
    print_header(f"training throughput: K={K}, MLP{HIDDEN}, d={D}, n={N:,}, batch {BATCH}, {EPOCHS} epochs")
    warm_up()
    rng = np.random.RandomState(0)
    X = rng.normal(size=(N, D)).astype(np.float32)
    y = (np.sin(X[:, 0]) + X[:, 1] * X[:, 2]).astype(np.float32)

    loop_times = []  # seconds in skorch's training loop, from its EpochTimer

    def fit(activation="relu"):
        model = RandomizedPriorRegressor(
            module=MLP(hidden_layer_sizes=HIDDEN, activation=activation),
            n_estimators=K,
            max_epochs=EPOCHS,
            batch_size=BATCH,
            random_state=0,
        ).fit(X, y)
        if activation == "relu":
            loop_times.append(sum(model.net_.history[:, "dur"]))
        return model

    net = MLP(hidden_layer_sizes=HIDDEN)(D, 1)
    n_params = sum(p.numel() for p in net.parameters())
    flops = 6 * n_params * N * EPOCHS * K
    # Matmul and fit alternate, best of each: a quiet spell of the shared
    # machine then serves both sides of the ratio.
    references, fit_times = [], []
    for _ in range(REPEATS):
        references.append(matmul_rate(seconds=1.0))
        fit_times.append(best_time(fit, repeats=1))
    # For the profile: the same fit with SELU (the default before session 3),
    # whose CPU kernel is several times more expensive (see benchmarks/RESULTS.md).
    selu_time = best_time(lambda: fit("selu"), repeats=1)
    references.append(matmul_rate(seconds=1.0))
    reference, fit_time = max(references), min(fit_times)
    achieved = flops / fit_time
    print_table(
        [
            {
                "what": f"torch.mm {MATMUL_SIZE}x{MATMUL_SIZE} float32",
                "GFLOP/s": reference / 1e9,
                "time [s]": 2 * MATMUL_SIZE**3 / reference,
            },
            {
                "what": f"fit ({n_params:,} params/member, {flops / 1e9:.0f} GFLOP)",
                "GFLOP/s": achieved / 1e9,
                "time [s]": fit_time,
            },
            {
                "what": "training loop alone (epoch durations)",
                "GFLOP/s": flops / min(loop_times) / 1e9,
                "time [s]": min(loop_times),
            },
            {
                "what": "rest of the fastest fit (prior fold, out-of-bag pass, set-up)",
                "GFLOP/s": float("nan"),
                "time [s]": fit_time - loop_times[fit_times.index(fit_time)],
            },
            {
                "what": "same fit, activation='selu' (for comparison)",
                "GFLOP/s": flops / selu_time / 1e9,
                "time [s]": selu_time,
            },
        ]
    )
    print(f"training loop alone: {flops / min(loop_times) / reference:.3f} of the matmul rate (no target)")
    print(f"selu variant: {flops / selu_time / reference:.3f} of the matmul rate (no target)")
    verdict("training FLOP rate / matmul FLOP rate", achieved / reference, 0.35, higher_is_better=True)


if __name__ == "__main__":
    main()
