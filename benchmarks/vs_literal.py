"""RandomizedPriorRegressor against the literal approach: K skorch nets fit one after the other.

The baseline is what the code of Christian S. Perone's blog post
"Randomized prior functions in PyTorch" (2019,
https://blog.christianperone.com/2019/01/randomized-prior-functions-in-pytorch/)
does: for each member, draw a bootstrap sample of the rows, build a
trainable MLP plus a frozen random prior of the same architecture, and fit a
plain ``skorch.NeuralNetRegressor`` on it (MSE loss, Adam, same lr, epochs
and batch size, no validation split).

Targets:

* K=10, default MLP, n=100 1-D points, 100 full-batch epochs: >= 25x faster,
  and at the least >= 10x;
* K=10, n=10,000, batch 128, 10 epochs: >= 8x faster.

The script also times the minimal hand-written vectorized loop of
``engine_overhead.py`` on each setting, to show how much of the speedup any
eager-PyTorch implementation can reach.

Run: ``python benchmarks/vs_literal.py``
"""

from __future__ import annotations

import _common  # noqa: F401  (puts the source checkout on sys.path)
import numpy as np
import torch
from _common import FIXED, interleaved_best_times, print_header, print_table, toy_1d, verdict, warm_up
from engine_overhead import hand_written_fit, optimizer_settings
from skorch import NeuralNetRegressor
from torch import nn

from skrpf import MLP, RandomizedPriorRegressor

K = 10
LR = 1e-2
PRIOR_SCALE = 1.0


class PriorWrapped(nn.Module):
    """A trainable MLP plus a frozen, randomly initialised MLP of the same shape."""

    def __init__(self, n_features_in: int = 1, n_outputs: int = 1, prior_scale: float = PRIOR_SCALE):
        super().__init__()
        self.trainable = MLP()(n_features_in, n_outputs)
        self.prior = MLP()(n_features_in, n_outputs)
        self.prior.requires_grad_(False)
        self.prior_scale = prior_scale

    def forward(self, x):
        with torch.no_grad():
            prior = self.prior(x)
        return self.trainable(x) + self.prior_scale * prior


def fit_literal(X: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, seed: int = 0) -> list:
    """Fit K independent skorch nets, each on its own bootstrap sample of the rows."""
    rng = np.random.RandomState(seed)
    torch.manual_seed(seed)
    nets = []
    for _ in range(K):
        rows = rng.randint(0, len(X), size=len(X))
        net = NeuralNetRegressor(
            PriorWrapped,
            module__n_features_in=X.shape[1],
            criterion=nn.MSELoss,
            optimizer=torch.optim.Adam,
            lr=LR,
            max_epochs=epochs,
            batch_size=batch_size,
            iterator_train__shuffle=True,
            train_split=None,
            verbose=0,
        )
        nets.append(net.fit(X[rows], y[rows].reshape(-1, 1)))
    return nets


def fit_skrpf(X: np.ndarray, y: np.ndarray, epochs: int, batch_size: int | None, seed: int = 0):
    return RandomizedPriorRegressor(
        n_estimators=K, max_epochs=epochs, batch_size=batch_size, random_state=seed, **{**FIXED, "lr": LR}
    ).fit(X, y)


def main() -> None:
    print_header("skrpf vs K skorch NeuralNetRegressors fit in sequence (K=10, default MLP)")
    warm_up()
    settings = [
        # (label, n, batch size, epochs, repeats)
        ("n=100, full batch, 100 epochs", 100, None, 100, 3),
        ("n=10,000, batch 128, 10 epochs", 10_000, 128, 10, 2),
    ]
    # The bare loop uses the optimizer settings the estimator ends up with (fused Adam on CPUs).
    X, y = toy_1d(256)
    optimizer_kwargs = optimizer_settings(fit_skrpf(X, y, 1, None))
    rows, speedups = [], []
    for label, n, batch_size, epochs, repeats in settings:
        X, y = toy_1d(n)
        literal_batch = n if batch_size is None else batch_size
        times = interleaved_best_times(
            {
                "literal": lambda X=X, y=y, e=epochs, b=literal_batch: fit_literal(X, y, e, b),
                "skrpf": lambda X=X, y=y, e=epochs, b=batch_size: fit_skrpf(X, y, e, b),
                "bare loop": lambda X=X, y=y, e=epochs, b=literal_batch: hand_written_fit(
                    X, y, optimizer_kwargs, epochs=e, batch_size=b
                ),
            },
            repeats=repeats,
        )
        speedup = times["literal"] / times["skrpf"]
        speedups.append(speedup)
        rows.append(
            {
                "setting": label,
                "literal K nets [s]": times["literal"],
                "skrpf [s]": times["skrpf"],
                "speedup": speedup,
                "bare loop [s]": times["bare loop"],
                "literal / bare loop": times["literal"] / times["bare loop"],
            }
        )
    print_table(rows)
    print(
        "bare loop: the same math as a minimal hand-written vectorized torch loop (engine_overhead.py), "
        "without skorch, validation or the noise estimate: the ceiling of the speedup in eager PyTorch "
        "(no target)"
    )
    verdict("n=100 full batch: speedup vs literal", speedups[0], 25, higher_is_better=True)
    verdict("n=10,000 batch 128: speedup vs literal", speedups[1], 8, higher_is_better=True)
    verdict("n=100 full batch: speedup vs literal, at the least", speedups[0], 10, higher_is_better=True)


if __name__ == "__main__":
    main()
