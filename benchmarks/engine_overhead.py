"""Overhead of the training engine over a minimal hand-written vectorized torch loop.

Both sides do the same math on the same shapes: standardise the data, draw K
multinomial bootstrap weight vectors, build K trainable 2x50 ReLU MLPs and K
frozen priors as ``(K, in, out)`` weight tensors, fold the priors into the
targets once, then run epochs of shuffled mini-batches of ``bmm``
forward passes, the bootstrap-weighted squared error plus the L2 penalty,
``backward`` and the same optimizer (``torch.optim.Adam`` with the settings
the estimator's optimizer ends up with) under the same cosine learning-rate
schedule.

Target: at n=10,000, batch 128, 10 epochs, K=10, the estimator's
``fit`` takes at most 1.3x as long as the hand-written loop.

Run: ``python benchmarks/engine_overhead.py``
"""

from __future__ import annotations

import _common  # noqa: F401  (puts the source checkout on sys.path)
import numpy as np
import torch
from _common import FIXED, interleaved_best_times, print_header, print_table, toy_1d, verdict, warm_up

from skrpf import RandomizedPriorRegressor

K, N, BATCH, EPOCHS, LR, ALPHA, HIDDEN = 10, 10_000, 128, 10, 1e-2, 1e-2, (50, 50)


def stacked_mlp(n_in: int, n_out: int) -> list[torch.Tensor]:
    """Weights ``(K, in, out)`` and biases ``(K, 1, out)`` of K MLPs, Glorot-initialised."""
    sizes = [n_in, *HIDDEN, n_out]
    tensors = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = (6 / (fan_in + fan_out)) ** 0.5
        tensors.append(torch.empty(K, fan_in, fan_out).uniform_(-bound, bound))
        tensors.append(torch.empty(K, 1, fan_out).uniform_(-(fan_in**-0.5), fan_in**-0.5))
    return tensors


def mlp_forward(tensors: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    z = x.unsqueeze(0).expand(K, -1, -1)
    n_layers = len(tensors) // 2
    for layer in range(n_layers):
        # The same kernels as the estimator's stack: bmm, in-place bias and ReLU.
        z = torch.bmm(z, tensors[2 * layer]).add_(tensors[2 * layer + 1])
        if layer < n_layers - 1:
            z = torch.relu_(z)
    return z


def optimizer_settings(fitted) -> dict:
    """The ``foreach``/``fused`` settings a fitted estimator's optimizer ended up with."""
    defaults = fitted.net_.optimizer_.defaults
    return {k: defaults[k] for k in ("foreach", "fused") if defaults.get(k) is not None}


def hand_written_fit(
    X: np.ndarray,
    y: np.ndarray,
    optimizer_kwargs: dict,
    seed: int = 0,
    epochs: int = EPOCHS,
    batch_size: int = BATCH,
) -> list:
    """The estimator's training math as a bare torch loop: no skorch, no validation, no noise estimate."""
    torch.manual_seed(seed)
    rng = np.random.RandomState(seed)
    x = torch.as_tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
    t = torch.as_tensor(((y - y.mean()) / y.std()).reshape(-1, 1), dtype=torch.float32)
    n = len(x)
    weights = torch.as_tensor(rng.multinomial(n, np.full(n, 1 / n), size=K), dtype=torch.float32)
    params = [torch.nn.Parameter(p) for p in stacked_mlp(x.shape[1], 1)]
    prior = stacked_mlp(x.shape[1], 1)
    with torch.no_grad():
        targets = t.unsqueeze(0) - mlp_forward(prior, x)
    optimizer = torch.optim.Adam(params, lr=LR, **optimizer_kwargs)
    # The estimator's default cosine learning-rate schedule, stepped after every batch.
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * -(-n // batch_size))
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            out = mlp_forward(params, x[idx])
            data = (weights[:, idx] * (targets[:, idx] - out).square().sum(-1)).sum() / len(idx)
            loss = data + ALPHA / n * sum(p.square().sum() for p in params)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return params


def estimator_fit(X: np.ndarray, y: np.ndarray, seed: int = 0) -> RandomizedPriorRegressor:
    return RandomizedPriorRegressor(
        n_estimators=K,
        max_epochs=EPOCHS,
        batch_size=BATCH,
        random_state=seed,
        **{**FIXED, "lr": LR, "alpha": ALPHA},
    ).fit(X, y)


def main() -> None:
    print_header(
        f"estimator fit vs hand-written vectorized loop (K={K}, n={N}, batch {BATCH}, {EPOCHS} epochs)"
    )
    warm_up()
    X, y = toy_1d(N)
    # The hand-written loop uses exactly the optimizer settings the estimator ends up with.
    optimizer_kwargs = optimizer_settings(estimator_fit(X[:256], y[:256]))
    times = interleaved_best_times(
        {
            "hand-written loop": lambda: hand_written_fit(X, y, optimizer_kwargs),
            "RandomizedPriorRegressor.fit": lambda: estimator_fit(X, y),
        },
        repeats=3,
    )
    ratio = times["RandomizedPriorRegressor.fit"] / times["hand-written loop"]
    steps = EPOCHS * -(-N // BATCH)
    print_table(
        [
            {"fit": name, "time [s]": seconds, "ms per step": 1e3 * seconds / steps}
            for name, seconds in times.items()
        ]
    )
    print(f"optimizer settings on both sides: Adam(lr={LR}, {optimizer_kwargs})")
    verdict("estimator fit time / hand-written loop time", ratio, 1.3, higher_is_better=False)


if __name__ == "__main__":
    main()
