"""Shared helpers of the benchmark scripts: timing, tables and PASS/FAIL lines.

Every target is a ratio of two timings taken side by side in one run, so a
slow or busy machine slows both sides alike. Each timing is the best of a few
repeats: on a shared machine the minimum is the least noisy estimate of what
the code itself costs.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

# Run from a source checkout without installing the package.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from skrpf import MLP  # noqa: E402
from skrpf._auto import LARGE_DATA_VALUES  # noqa: E402

# One thread unless SKRPF_BENCH_THREADS says otherwise: on a small machine
# shared with other jobs, OpenMP threads that spin-wait for a busy core make
# timings erratic (a fit can take 10x longer from one run to the next).
# Both sides of every ratio run with the same setting, and so do the BLAS
# libraries of numpy and scipy (the baselines: scikit-learn's and skopt's GPs),
# whose idle threads would otherwise count as the baseline's CPU time.
BENCH_THREADS = int(os.environ.get("SKRPF_BENCH_THREADS", "1"))
torch.set_num_threads(BENCH_THREADS)
threadpool_limits(BENCH_THREADS)


#: The values the "auto" hyper-parameters take on large data, the default
#: MLP with ReLU and the homoscedastic noise model given explicitly. The speed
#: benchmarks pin them, so that their small problems (100 rows, say) run the
#: same training as their large ones and as the baselines they are set
#: against, and train it once (the defaults would train ReLU and SiLU members,
#: then heteroscedastic ones, on up to 10,000 rows and keep one).
FIXED = dict(LARGE_DATA_VALUES, module=MLP(), noise="homoscedastic")


def best_time(fn: Callable[[], object], repeats: int = 3) -> float:
    """Smallest wall-clock time of ``repeats`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


Key = TypeVar("Key", bound=Hashable)


def interleaved_best_times(fns: dict[Key, Callable[[], object]], repeats: int = 3) -> dict[Key, float]:
    """Best time of each function, the calls alternating so that load bursts hit all of them."""
    times: dict[Key, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def warm_up() -> None:
    """Pay the one-time costs (imports of torch._dynamo by the first Adam, kernels) before timing."""
    from skrpf import RandomizedPriorRegressor

    rng = np.random.RandomState(0)
    X = rng.normal(size=(64, 2))
    RandomizedPriorRegressor(n_estimators=2, max_epochs=2, random_state=0, **FIXED).fit(X, X[:, 0])
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])


def toy_1d(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of ``sin(3x)`` plus noise on [-2, 2], float32 as a network would see them."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 1)).astype(np.float32)
    y = (np.sin(3 * X[:, 0]) + 0.1 * rng.standard_normal(n)).astype(np.float32)
    return X, y


def print_header(title: str) -> None:
    print(f"# {title}")
    print(
        f"# torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
        f"{os.cpu_count()} CPU(s), {time.strftime('%Y-%m-%d %H:%M')}"
    )


def print_table(rows: list[dict[str, object]]) -> None:
    """Print rows of equal keys as an aligned text table."""
    columns = list(rows[0])
    cells = [[_format(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def verdict(name: str, value: float, bound: float, higher_is_better: bool) -> bool:
    """Print one ``PASS``/``FAIL`` line and return whether the target was met."""
    ok = value >= bound if higher_is_better else value <= bound
    sign = ">=" if higher_is_better else "<="
    print(f"{'PASS' if ok else 'FAIL'}: {name}: {value:.3g} (target {sign} {bound:g})")
    return ok
