"""Demo: ``python -m skrpf [--output PATH]``.

Fits a :class:`~skrpf.RandomizedPriorRegressor` to the paper-style 1-D toy
problem, writes a PNG of the mean +/- 2 std band with the data, and prints a
short summary.
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
    inside = (grid[:, 0] >= 0) & (grid[:, 0] <= 1.5)
    far = (grid[:, 0] < -0.25) | (grid[:, 0] > 1.75)

    fig, ax = plt.subplots(figsize=(7, 4.3), layout="constrained")
    ax.fill_between(grid[:, 0], mean - 2 * std, mean + 2 * std, alpha=0.3, label="mean ± 2 std")
    ax.plot(grid[:, 0], mean, label="ensemble mean")
    ax.scatter(X[:, 0], y, color="black", s=15, zorder=3, label="data")
    ax.set(xlabel="x", ylabel="y", title=f"RandomizedPriorRegressor, K={args.n_estimators}")
    # Below the axes: inside, any corner would hide data or band.
    fig.legend(loc="outside lower center", ncol=3)
    fig.savefig(args.output, dpi=120)
    plt.close(fig)

    print(
        f"fitted {model.n_estimators} members on {len(X)} points in {seconds:.1f} s "
        f"({model.n_epochs_} epochs, batch {model.batch_size_})"
    )
    print(f"training R^2: {model.score(X, y):.3f}")
    print(f"mean std inside the data range [0, 1.5]: {std[inside].mean():.3f}")
    print(f"mean std far from the data (x < -0.25 or x > 1.75): {std[far].mean():.3f}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
