"""Demo: ``python -m skrpf [--output PATH]``.

Fits a :class:`~skrpf.RandomizedPriorRegressor` with its defaults to the
paper-style 1-D toy problem, writes a PNG of the mean +/- 2 std band with the
data, and prints a short summary. On twenty rows the defaults fit the prior's
length scale, activation and scale and the noise level by the marginal
likelihood, train every member on all rows by full-batch L-BFGS, and solve
the output layer exactly; the summary reports the fitted values.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ._regressor import RandomizedPriorRegressor
from .datasets import make_paper_toy


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m skrpf", description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="skrpf_demo.png", help="where to write the PNG")
    parser.add_argument("--n-estimators", type=int, default=20)
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = make_paper_toy()
    model = RandomizedPriorRegressor(n_estimators=args.n_estimators, random_state=0)
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start

    grid = np.linspace(-0.5, 2.0, 400).reshape(-1, 1)
    mean, std = model.predict(grid, return_std=True)
    x = grid[:, 0]
    regions = {
        "on the data [0, 0.5] and [1, 1.5]": ((x >= 0) & (x <= 0.5)) | ((x >= 1) & (x <= 1.5)),
        "in the gap (0.6, 0.9)": (x > 0.6) & (x < 0.9),
        "far from the data (x < -0.25 or x > 1.75)": (x < -0.25) | (x > 1.75),
    }

    fig, ax = plt.subplots(figsize=(7, 4.3), layout="constrained")
    ax.fill_between(grid[:, 0], mean - 2 * std, mean + 2 * std, alpha=0.3, label="mean ± 2 std")
    ax.plot(grid[:, 0], mean, label="ensemble mean")
    ax.scatter(X[:, 0], y, color="black", s=15, zorder=3, label="data")
    title = f"RandomizedPriorRegressor, K={args.n_estimators}"
    if model.activation_ is not None:
        title += f" ({model.activation_} MLP, fitted)"
    ax.set(xlabel="x", ylabel="y", title=title)
    # Below the axes: inside, any corner would hide data or band.
    fig.legend(loc="outside lower center", ncol=3)
    fig.savefig(args.output, dpi=120)
    plt.close(fig)

    optimizer = type(model.net_.optimizer_).__name__
    steps = "steps of up to 20 iterations" if optimizer == "LBFGS" else "epochs"
    print(
        f"fitted {model.n_estimators} members on {len(X)} points in {seconds:.1f} s "
        f"({optimizer}, {model.n_epochs_} {steps}, batch {model.batch_size_})"
    )
    if model.log_marginal_likelihood_ is not None:
        print(
            f"fitted by the marginal likelihood: {model.activation_} activation, "
            f"length scale {model.length_scale_:.3g}, prior scale {model.prior_scale_:.3g}, "
            f"noise std {model.noise_std_[0]:.3g} (log marginal likelihood "
            f"{model.log_marginal_likelihood_:.1f})"
        )
    print(f"training R^2: {model.score(X, y):.3f}")
    for name, mask in regions.items():
        print(f"mean std {name}: {std[mask].mean():.3f}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
