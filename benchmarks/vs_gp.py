"""RandomizedPriorRegressor against the GaussianProcessRegressor it replaces.

Data: 8 uniform features on [0, 1], a smooth nonlinear function (Friedman's
first function on the first five features, plus a gentle term in the other
three), Gaussian noise of standard deviation 0.5; 1,000 test points.
GPR: ``ConstantKernel * RBF`` with one length scale per feature (ARD) plus a
``WhiteKernel``, ``normalize_y=True``, scikit-learn's default optimizer.
skrpf: the estimator's defaults. On up to 10,000 rows they train ReLU and
SiLU members and keep those with the smaller out-of-bag error, then
heteroscedastic members of that activation, kept if markedly more likely out
of bag (the ``activation_`` and ``noise_model_`` printed), so the timed fit
includes every training. For comparison, at the largest n, ReLU members given
explicitly (``module=MLP()``: no activation choice, the noise model still
chosen). Both sides run with the same number of
BLAS/torch threads. Timed: fit followed by ``predict(X_test, return_std=True)``.

Targets, at n_train=4,000: skrpf >= 10x faster, and its test
negative log-likelihood (mean per point, predictive std including the
noise) within 0.1 nats of GPR's or better. It also times n=1,000, 2,000 and
4,000 and plots the growth to ``docs/_static/gp_scaling.png``.

Run: ``python benchmarks/vs_gp.py``
"""

from __future__ import annotations

import os
import time

import _common  # noqa: F401  (puts the source checkout on sys.path)
import numpy as np
import torch
from _common import print_header, print_table, verdict, warm_up
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from threadpoolctl import threadpool_limits

from skrpf import MLP, RandomizedPriorRegressor

D, NOISE, N_TEST, SIZES = 8, 0.5, 1000, (1000, 2000, 4000)
PLOT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "_static", "gp_scaling.png"
)


def target(X: np.ndarray) -> np.ndarray:
    friedman = 10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2 + 10 * X[:, 3] + 5 * X[:, 4]
    return friedman + np.cos(2 * X[:, 5]) + X[:, 6] * X[:, 7]


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    X = rng.uniform(size=(n, D))
    return X, target(X) + NOISE * rng.standard_normal(n)


def gaussian_nll(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    """Mean negative log-likelihood of y under independent normals, in nats."""
    return float(np.mean(0.5 * np.log(2 * np.pi * std**2) + 0.5 * ((y - mean) / std) ** 2))


def run(model, X, y, X_test, y_test) -> dict:
    start = time.perf_counter()
    model.fit(X, y)
    mean, std = model.predict(X_test, return_std=True)
    seconds = time.perf_counter() - start
    rmse = float(np.sqrt(np.mean((mean - y_test) ** 2)))
    return {"time": seconds, "nll": gaussian_nll(y_test, mean, std), "rmse": rmse}


def make_skrpf(**params) -> RandomizedPriorRegressor:
    """skrpf as compared: its defaults."""
    return RandomizedPriorRegressor(**{"random_state": 0, **params})


def make_gpr() -> GaussianProcessRegressor:
    kernel = ConstantKernel() * RBF(length_scale=np.ones(D)) + WhiteKernel()
    return GaussianProcessRegressor(kernel=kernel, normalize_y=True, random_state=0)


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, marker in (("GPR", "o"), ("skrpf", "s")):
        ax.loglog(SIZES, [results[name][n]["time"] for n in SIZES], marker=marker, label=name)
    ax.set_xticks(SIZES, [f"{n:,}" for n in SIZES])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # no stray "3x10^3" label
    ax.set_xlabel("training points")
    ax.set_ylabel("fit + predict time [s]")
    ax.set_title(f"{D} features, {torch.get_num_threads()} thread(s)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(PLOT, dpi=120)


def main() -> None:
    print_header(f"skrpf vs GaussianProcessRegressor (ARD RBF + white noise), d={D}, noise std {NOISE}")
    warm_up()
    X_test, y_test = data(N_TEST, seed=1)
    results: dict[str, dict[int, dict]] = {"GPR": {}, "skrpf": {}}
    chosen = {}
    rows = []
    with threadpool_limits(limits=torch.get_num_threads()):
        for n in SIZES:
            X, y = data(n, seed=0)
            model = make_skrpf()
            results["skrpf"][n] = run(model, X, y, X_test, y_test)
            chosen[n] = f"{model.activation_}, {model.noise_model_}"
            results["GPR"][n] = run(make_gpr(), X, y, X_test, y_test)
            # Progress, as GPR at n=4,000 takes minutes.
            print(f"n={n}: " + ", ".join(f"{m} {results[m][n]['time']:.1f} s" for m in results), flush=True)
            for name in results:
                r = results[name][n]
                rows.append(
                    {
                        "n": n,
                        "model": name if name == "GPR" else f"skrpf defaults ({chosen[n]} chosen)",
                        "fit+predict [s]": r["time"],
                        "test NLL": r["nll"],
                        "test RMSE": r["rmse"],
                    }
                )
    # For comparison only: ReLU members given, no choice, at the largest size.
    X, y = data(SIZES[-1], seed=0)
    default = run(make_skrpf(module=MLP()), X, y, X_test, y_test)
    rows.append(
        {
            "n": SIZES[-1],
            "model": "skrpf, ReLU members given",
            "fit+predict [s]": default["time"],
            "test NLL": default["nll"],
            "test RMSE": default["rmse"],
        }
    )
    print_table(rows)
    growth = [
        {
            "model": name,
            **{
                f"x{b // a} n: {a}->{b}": results[name][b]["time"] / results[name][a]["time"]
                for a, b in zip(SIZES[:-1], SIZES[1:])
            },
        }
        for name in results
    ]
    print_table(growth)
    plot(results)
    print(f"plot: {os.path.relpath(PLOT)}")
    print(f"skrpf: {make_skrpf()!r}")
    gp, rpf = results["GPR"][SIZES[-1]], results["skrpf"][SIZES[-1]]
    verdict(f"n={SIZES[-1]:,}: GPR time / skrpf time", gp["time"] / rpf["time"], 10, higher_is_better=True)
    verdict(
        f"n={SIZES[-1]:,}: skrpf defaults' test NLL - GPR test NLL [nats]",
        rpf["nll"] - gp["nll"],
        0.1,
        higher_is_better=False,
    )


if __name__ == "__main__":
    main()
