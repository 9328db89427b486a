"""Small-data uncertainty: spread at and between observations, the noise estimate, fit cost.

Three checks of the estimator's defaults, each beside scikit-learn's
``GaussianProcessRegressor`` (Matern 5/2 times a constant, plus a
``WhiteKernel`` where the data are noisy, fitted by the marginal likelihood):

1. Spread on 10 noise-free 1-D points of ``x sin(x)`` (the function of
   scikit-learn's GPR example), drawn uniformly on [0, 10]; 5 draws. On
   [0, 1] with ``sin(6x) + x`` the data pin the function down everywhere
   (the spread in the gaps is ~1e-4 of std(y), at the level of the
   members' training precision), so the ratio says nothing there. The model's spread
   (``include_noise=False``) at the observations and its largest value over
   the domain, each divided by its median over the domain.
   Targets: at the observations at most 0.2x the median, and somewhere at
   least 2x the median.
2. The noise estimate ``noise_std_`` on noise-free data at n = 20 (2-D and
   6-D smooth functions), as a fraction of std(y); target at most 0.05.
   With Gaussian noise of std 0.3 at n = 200: target within 15% of 0.3.
3. CPU seconds of one fit at n = 10, 20 and 40 (2-D), the defaults beside a
   fit with the large-data schedule (2,000 Adam steps), and the GP.

Run: ``python benchmarks/small_data.py``
"""

from __future__ import annotations

import time
import warnings

import _common  # noqa: F401  (puts the source checkout on sys.path)
import numpy as np
from _common import FIXED, print_header, print_table, verdict
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from skrpf import RandomizedPriorRegressor

GRID = np.linspace(0, 10, 1001).reshape(-1, 1)


def one_d(x: np.ndarray) -> np.ndarray:
    return x * np.sin(x)


def smooth(X: np.ndarray) -> np.ndarray:
    """A smooth function of any number of inputs on [0, 1]^d."""
    return np.sin(3 * X[:, 0]) + np.cos(2 * X.sum(axis=1)) + X[:, -1] ** 2


def gp(noisy: bool) -> GaussianProcessRegressor:
    kernel = ConstantKernel() * Matern(nu=2.5)
    if noisy:
        kernel = kernel + WhiteKernel()
    return GaussianProcessRegressor(
        kernel, normalize_y=True, alpha=1e-10, n_restarts_optimizer=2, random_state=0
    )


def spread_ratios(model, X) -> tuple[float, float]:
    """Largest spread at the observations, and over the domain, each over the median over the domain."""
    options = {} if isinstance(model, GaussianProcessRegressor) else {"include_noise": False}
    _, at_data = model.predict(X, return_std=True, **options)
    _, over_domain = model.predict(GRID, return_std=True, **options)
    median = np.median(over_domain)
    return float(at_data.max() / median), float(over_domain.max() / median)


def main() -> None:
    print_header("Small-data uncertainty")
    warnings.filterwarnings("ignore")
    ok = True

    rows = []
    worst_at_data, worst_peak = 0.0, np.inf
    for seed in range(5):
        rng = np.random.RandomState(100 + seed)
        X = rng.uniform(0, 10, size=(10, 1))
        y = one_d(X[:, 0])
        model = RandomizedPriorRegressor(random_state=seed).fit(X, y)
        at_data, peak = spread_ratios(model, X)
        fitted_gp = gp(noisy=False).fit(X, y)
        gp_at_data, gp_peak = spread_ratios(fitted_gp, X)
        worst_at_data, worst_peak = max(worst_at_data, at_data), min(worst_peak, peak)
        rmse = float(np.sqrt(np.mean((model.predict(GRID) - one_d(GRID[:, 0])) ** 2)))
        gp_rmse = float(np.sqrt(np.mean((fitted_gp.predict(GRID) - one_d(GRID[:, 0])) ** 2)))
        rows.append(
            {
                "draw": seed,
                "skrpf at data / median": at_data,
                "skrpf max / median": peak,
                "skrpf RMSE": rmse,
                "GP RMSE": gp_rmse,
                "GP at data / median": gp_at_data,
                "GP max / median": gp_peak,
                "length_scale_": model.length_scale_,
                "activation_": model.activation_,
            }
        )
    print("## 1. Spread on 10 noise-free 1-D points")
    print_table(rows)
    ok &= verdict(
        "spread at the observations / median (worst draw)", worst_at_data, 0.2, higher_is_better=False
    )
    ok &= verdict("largest spread / median (worst draw)", worst_peak, 2.0, higher_is_better=True)

    print("\n## 2. Noise estimate")
    rows = []
    for d, n, noise in [(2, 20, 0.0), (6, 20, 0.0), (2, 200, 0.3), (6, 200, 0.3)]:
        estimates, gp_estimates = [], []
        for seed in range(3):
            rng = np.random.RandomState(200 + seed)
            X = rng.uniform(size=(n, d))
            y = smooth(X) + noise * rng.standard_normal(n)
            model = RandomizedPriorRegressor(random_state=seed).fit(X, y)
            estimates.append(float(model.noise_std_[0]) / (y.std() if noise == 0 else noise))
            if noise > 0:
                fitted = gp(noisy=True).fit(X, y)
                gp_estimates.append(np.sqrt(fitted.kernel_.k2.noise_level) * y.std() / noise)
        rows.append(
            {
                "d": d,
                "n": n,
                "true noise": noise,
                "noise_std_ / (std(y) if noise-free, else truth)": (
                    f"{np.mean(estimates):.3g} ({np.min(estimates):.3g} to {np.max(estimates):.3g})"
                ),
                "GP / truth": f"{np.mean(gp_estimates):.3f}" if gp_estimates else "-",
            }
        )
        if noise == 0:
            ok &= verdict(
                f"noise-free, d={d}, n={n}: noise_std_ / std(y) (worst)", max(estimates), 0.05, False
            )
        else:
            error = max(abs(e - 1) for e in estimates)
            ok &= verdict(
                f"noise 0.3, d={d}, n={n}: relative error of noise_std_ (worst)", error, 0.15, False
            )
    print_table(rows)

    print("\n## 3. CPU seconds per fit (2-D)")
    rows = []
    for n in (10, 20, 40):
        rng = np.random.RandomState(300)
        X = rng.uniform(size=(n, 2))
        y = smooth(X)
        fits = {
            "defaults": lambda X=X, y=y: RandomizedPriorRegressor(random_state=0).fit(X, y),
            "large-data schedule": lambda X=X, y=y: RandomizedPriorRegressor(random_state=0, **FIXED).fit(
                X, y
            ),
            "GP": lambda X=X, y=y: gp(noisy=False).fit(X, y),
        }
        row: dict[str, object] = {"n": n}
        for name, fit in fits.items():
            fit()
            start = time.process_time()
            fit()
            row[name] = time.process_time() - start
        rows.append(row)
    print_table(rows)
    print("ALL TARGETS MET" if ok else "SOME TARGETS MISSED")


if __name__ == "__main__":
    main()
