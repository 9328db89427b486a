"""A BoTorch loop with skrpf's RandomizedPriorModel beside BoTorch's SingleTaskGP.

Both surrogates run the same loop on the same test function (BoTorch's
Branin, negated, since BoTorch maximises), from the same initial points (a
scrambled Sobol design per seed): fit the surrogate, maximise
``qLogExpectedImprovement`` (q=1) with ``optimize_acqf`` over the unit box
(inputs are scaled to [0, 1]^d, as BoTorch recommends), evaluate, repeat.

skrpf's estimator runs with its defaults (``warm_start=True`` with
``--warm-start``); the GP is ``SingleTaskGP`` with its default priors,
fitted by ``fit_gpytorch_mll``.

Printed per method: the mean +- sd over seeds of the final simple regret
(the known maximum minus the best value found) and of the CPU seconds per
iteration (process time: fit plus acquisition optimisation).

There is no pass/fail target: the issue asks for the figures side by side.

Run: ``python benchmarks/botorch_loop.py`` (5 seeds, 5 initial points, 20
iterations; about 2 minutes on one thread).
"""

from __future__ import annotations

import argparse
import time
import warnings

import _common  # noqa: F401  (puts the source checkout on sys.path)
import numpy as np
import torch
from _common import print_header, print_table
from botorch.acquisition import qLogExpectedImprovement
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.optim import optimize_acqf
from botorch.test_functions import Branin, Hartmann
from botorch.utils.sampling import draw_sobol_samples
from gpytorch.mlls import ExactMarginalLogLikelihood

from skrpf import RandomizedPriorRegressor
from skrpf.botorch import RandomizedPriorModel

PROBLEMS = {"branin": lambda: Branin(negate=True), "hart6": lambda: Hartmann(dim=6, negate=True)}


def surrogate(method: str, X: torch.Tensor, y: torch.Tensor, estimator):
    """The fitted model of ``method`` on (X, y), X in the unit box."""
    if method == "SingleTaskGP":
        model = SingleTaskGP(X, y)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        return model
    estimator.fit(X.numpy(), y.numpy().ravel())
    return RandomizedPriorModel(estimator)


def run_once(problem: str, method: str, seed: int, n_init: int, iterations: int, warm: bool):
    """One loop; returns the final regret and the CPU seconds per iteration."""
    function = PROBLEMS[problem]()
    d = function.dim
    lower, upper = function.bounds.to(torch.float64)
    unit = torch.stack([torch.zeros(d), torch.ones(d)]).to(torch.float64)
    torch.manual_seed(seed)
    X = draw_sobol_samples(unit, n=n_init, q=1, seed=seed).squeeze(1)
    y = function(lower + (upper - lower) * X).unsqueeze(-1)
    estimator = RandomizedPriorRegressor(random_state=seed, warm_start=warm)
    start = time.process_time()
    for _ in range(iterations):
        model = surrogate(method, X, y, estimator)
        acquisition = qLogExpectedImprovement(model, best_f=y.max())
        candidate, _ = optimize_acqf(acquisition, bounds=unit, q=1, num_restarts=5, raw_samples=256)
        X = torch.cat([X, candidate.detach()])
        y = torch.cat([y, function(lower + (upper - lower) * candidate.detach()).unsqueeze(-1)])
    cpu = (time.process_time() - start) / iterations
    return float(function.optimal_value - y.max()), cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--init", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--problem", default="branin", choices=sorted(PROBLEMS))
    parser.add_argument("--warm-start", action="store_true")
    args = parser.parse_args()
    print_header(
        f"BoTorch loop on {args.problem}: {args.init} initial points, {args.iterations} iterations "
        f"of qLogEI, {args.seeds} seeds, skrpf warm_start={args.warm_start}"
    )
    warnings.filterwarnings("ignore")  # BoTorch's input-scaling and optimisation warnings
    rows = []
    for method in ("SingleTaskGP", "skrpf"):
        runs = np.array(
            [
                run_once(args.problem, method, seed, args.init, args.iterations, args.warm_start)
                for seed in range(args.seeds)
            ]
        )
        rows.append(
            {
                "method": method,
                "final regret": f"{runs[:, 0].mean():.3f} ± {runs[:, 0].std():.3f}",
                "CPU s/iteration": f"{runs[:, 1].mean():.3f} ± {runs[:, 1].std():.3f}",
            }
        )
    print_table(rows)


if __name__ == "__main__":
    main()
