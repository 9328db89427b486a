"""UCI regression benchmark: skrpf beside published PBP, MC-dropout and Deep Ensembles.

Reads the nine data sets and their standard train/test splits from
``../shared/uci`` relative to the repository root (see its README.md), and
follows the published protocol: standardise X and y with the training
split's statistics, train, map predictions back, and report test NLL and
RMSE in the target's original units, as mean +- standard error over splits.

On the same splits it also runs scikit-learn's GaussianProcessRegressor
(ConstantKernel * RBF with ARD + WhiteKernel, normalize_y=True; only where
n_train <= 2000) and BayesianRidge. skrpf runs with its default
hyper-parameters, the same for every data set; ``--search`` adds a
RandomizedSearchCV on the training split only, scored by the NLPD.

Every finished (data set, split, model) is appended at once to a JSON-lines
file (``--out``), so a partial run still gives a table
(``--table-only``).

Examples
--------
python benchmarks/uci.py --quick
python benchmarks/uci.py --splits 5 --out /tmp/uci.jsonl
python benchmarks/uci.py --table-only --out /tmp/uci.jsonl
python benchmarks/uci.py --validation --splits 3 --skip gp bayes_ridge --out /tmp/val.jsonl

``--validation`` never touches a test split: each training split is cut
into 80% for training and 20% for scoring (a permutation seeded by the
split's number). It is how defaults are chosen without tuning to the
benchmark's test data.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scipy.stats import loguniform  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.gaussian_process import GaussianProcessRegressor  # noqa: E402
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel  # noqa: E402
from sklearn.linear_model import BayesianRidge  # noqa: E402
from sklearn.model_selection import KFold, RandomizedSearchCV  # noqa: E402

from skrpf import MLP, RandomizedPriorRegressor  # noqa: E402
from skrpf.metrics import gaussian_nlpd, interval_coverage, nlpd_scorer  # noqa: E402

DATA_DIR = ROOT.parent / "shared" / "uci"

DATASETS = [
    "bostonHousing",
    "concrete",
    "energy",
    "kin8nm",
    "naval-propulsion-plant",
    "power-plant",
    "protein-tertiary-structure",
    "wine-quality-red",
    "yacht",
]
QUICK_DATASETS = ["yacht", "bostonHousing", "energy"]
SHORT = {
    "bostonHousing": "boston",
    "naval-propulsion-plant": "naval",
    "power-plant": "power",
    "protein-tertiary-structure": "protein",
    "wine-quality-red": "wine",
}

#: Lakshminarayanan et al. 2017, Table 1: (RMSE, NLL) for PBP, MC-dropout, Deep Ensembles.
PUBLISHED = {
    "bostonHousing": {"PBP": (3.01, 2.57), "MCD": (2.97, 2.46), "DE": (3.28, 2.41)},
    "concrete": {"PBP": (5.67, 3.16), "MCD": (5.23, 3.04), "DE": (6.03, 3.06)},
    "energy": {"PBP": (1.80, 2.04), "MCD": (1.66, 1.99), "DE": (2.09, 1.38)},
    "kin8nm": {"PBP": (0.10, -0.90), "MCD": (0.10, -0.95), "DE": (0.09, -1.20)},
    "naval-propulsion-plant": {"PBP": (0.01, -3.73), "MCD": (0.01, -3.80), "DE": (0.00, -5.63)},
    "power-plant": {"PBP": (4.12, 2.84), "MCD": (4.02, 2.80), "DE": (4.11, 2.79)},
    "protein-tertiary-structure": {"PBP": (4.73, 2.97), "MCD": (4.36, 2.89), "DE": (4.71, 2.83)},
    "wine-quality-red": {"PBP": (0.64, 0.97), "MCD": (0.62, 0.93), "DE": (0.64, 0.94)},
    "yacht": {"PBP": (1.02, 1.63), "MCD": (1.11, 1.55), "DE": (1.58, 1.18)},
}

GP_MAX_TRAIN = 2000


def load(name: str):
    """Data set ``name``: X, y and the list of (train, test) index arrays."""
    folder = DATA_DIR / name
    data = np.loadtxt(folder / "data.txt")
    features = np.loadtxt(folder / "index_features.txt", dtype=int, ndmin=1)
    target = int(np.loadtxt(folder / "index_target.txt"))
    n_splits = int(np.loadtxt(folder / "n_splits.txt"))
    splits = [
        (
            np.loadtxt(folder / f"index_train_{k}.txt", dtype=int),
            np.loadtxt(folder / f"index_test_{k}.txt", dtype=int),
        )
        for k in range(n_splits)
    ]
    return data[:, features], data[:, target], splits


def standardiser(values: np.ndarray):
    mean, std = values.mean(axis=0), values.std(axis=0)
    return mean, np.where(std == 0, 1.0, std)


def parse_value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"None": None, "True": True, "False": False}.get(text, text)


def make_model(kind: str, n_features: int, seed: int, overrides: dict):
    if kind == "skrpf":
        model = RandomizedPriorRegressor(random_state=seed)
        if any(key.startswith("module__") for key in overrides):
            # ``module__activation=silu`` and the like need an MLP to set them on.
            model.set_params(module=MLP())
        return model.set_params(**overrides)
    if kind == "gp":
        kernel = ConstantKernel() * RBF(length_scale=np.ones(n_features)) + WhiteKernel()
        return GaussianProcessRegressor(kernel=kernel, normalize_y=True, random_state=seed)
    if kind == "bayes_ridge":
        return BayesianRidge()
    raise ValueError(kind)


def search_model(seed: int, overrides: dict, n_iter: int):
    """RandomizedSearchCV over a small space, on the training split only, scored by NLPD."""
    space = {
        "alpha": loguniform(1e-3, 1e1),
        "prior_scale": [0.3, 1.0, 3.0],
        "noise": ["homoscedastic", "heteroscedastic"],
        "lr": [3e-3, 1e-2],
    }
    return RandomizedSearchCV(
        RandomizedPriorRegressor(random_state=seed, **overrides),
        space,
        n_iter=n_iter,
        scoring=nlpd_scorer,
        cv=KFold(3, shuffle=True, random_state=seed),
        random_state=seed,
        refit=True,
    )


def run_one(kind, X_train, y_train, X_test, y_test, seed, overrides, n_iter):
    """Fit on standardised data, score in original units."""
    x_mean, x_std = standardiser(X_train)
    y_mean, y_std = standardiser(y_train)
    Xs_train, Xs_test = (X_train - x_mean) / x_std, (X_test - x_mean) / x_std
    ys_train = (y_train - y_mean) / y_std
    if kind == "skrpf_search":
        model = search_model(seed, overrides, n_iter)
    else:
        model = make_model(kind, X_train.shape[1], seed, overrides)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(Xs_train, ys_train)
    fit_time = time.perf_counter() - start
    fitted = model.best_estimator_ if kind == "skrpf_search" else model
    mean, std = fitted.predict(Xs_test, return_std=True)
    mean, std = mean * y_std + y_mean, np.maximum(std * y_std, 1e-12)
    result = {
        "nll": gaussian_nlpd(y_test, mean, std),
        "rmse": float(np.sqrt(np.mean((y_test - mean) ** 2))),
        "coverage90": interval_coverage(y_test, mean, std, level=0.9),
        "time": fit_time,
    }
    if kind == "skrpf_search":
        result["best_params"] = {k: str(v) for k, v in model.best_params_.items()}
    if getattr(fitted, "activation_", None) is not None:
        result["activation"] = fitted.activation_
    if getattr(fitted, "noise_model_", None) is not None:
        result["noise_model"] = fitted.noise_model_
    return result


def config_key(overrides: dict, validation: bool) -> str:
    """The key that tells records of different settings apart in the results file."""
    key = dict(overrides, _validation=True) if validation else overrides
    return json.dumps(key, sort_keys=True) if key else ""


def run(args, overrides: dict):
    kinds = ["skrpf"] + (["skrpf_search"] if args.search else []) + ["gp", "bayes_ridge"]
    kinds = [k for k in kinds if k not in args.skip]
    done = set()
    if Path(args.out).exists():
        for line in Path(args.out).read_text().splitlines():
            r = json.loads(line)
            done.add((r["dataset"], r["split"], r["model"], r.get("config", "")))
    config = config_key(overrides, args.validation)
    data = {name: load(name) for name in args.datasets}
    max_splits = max(len(splits) for _, _, splits in data.values())
    # Split-major order: a partial run still covers every data set.
    for k in range(min(args.splits or max_splits, max_splits)):
        for name in args.datasets:
            X, y, splits = data[name]
            if k >= len(splits) or (name == "protein-tertiary-structure" and k >= args.protein_splits):
                continue
            train, test = splits[k]
            if args.validation:
                train, test = validation_split(train, k)
            for kind in kinds:
                if kind == "gp" and len(train) > GP_MAX_TRAIN:
                    continue
                if (name, k, kind, config) in done:
                    continue
                result = run_one(kind, X[train], y[train], X[test], y[test], k, overrides, args.search_iter)
                record = {"dataset": name, "split": k, "model": kind, "config": config, **result}
                with open(args.out, "a") as handle:
                    handle.write(json.dumps(record) + "\n")
                print(
                    f"{name:28s} split {k:2d} {kind:13s} NLL {result['nll']:7.3f} "
                    f"RMSE {result['rmse']:7.3f} cov90 {result['coverage90']:.2f} {result['time']:6.1f}s "
                    f"{result.get('activation', '')} {result.get('noise_model', '')}",
                    flush=True,
                )


#: Share of a training split held out as validation rows by ``--validation``.
VALIDATION_SHARE = 0.2


def validation_split(train: np.ndarray, split: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut a training split into (training, validation) rows, seeded by the split's number."""
    order = np.random.RandomState(split).permutation(len(train))
    n_validation = int(round(VALIDATION_SHARE * len(train)))
    return train[order[n_validation:]], train[order[:n_validation]]


def summarise(values):
    values = np.asarray(values, dtype=float)
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return values.mean(), se


def members_kept(records: list) -> str:
    """How often each kind of members was kept, e.g. "silu hetero 18, silu homo 2"."""
    noise = [r.get("noise_model") for r in records]
    kinds = Counter(
        " ".join(filter(None, (r.get("activation"), NOISE_SHORT.get(n, n)))) or "—"
        for r, n in zip(records, noise)
    )
    return ", ".join(f"{kind} {count}" for kind, count in kinds.most_common())


#: Short names of the noise models in the table.
NOISE_SHORT = {"homoscedastic": "homo", "heteroscedastic": "hetero"}


def table(path: str, config: str = "") -> str:
    records = [json.loads(line) for line in Path(path).read_text().splitlines()]
    records = [r for r in records if r.get("config", "") == config]
    by = {}
    for r in records:
        by.setdefault((r["dataset"], r["model"]), []).append(r)
    has_search = any(m == "skrpf_search" for _, m in by)
    header = ["data set", "splits", "skrpf NLL", "skrpf RMSE", "cov90", "fit s", "members kept"]
    if has_search:
        header += ["search NLL", "search cov90"]
    header += ["GP NLL", "BayesRidge NLL", "PBP NLL", "MCD NLL", "DE NLL", "PBP/MCD/DE RMSE", "beats MCD/DE"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    wins = {"MCD": 0, "DE": 0, "search_DE": 0, "calibrated": 0, "n": 0, "n_search": 0}

    def fmt(rows, key, digits=2):
        if not rows:
            return "—"
        mean, se = summarise([r[key] for r in rows])
        return f"{mean:.{digits}f} ± {se:.{digits}f}" if np.isfinite(se) else f"{mean:.{digits}f}"

    for name in DATASETS:
        ours = by.get((name, "skrpf"), [])
        if not ours:
            continue
        pub = PUBLISHED[name]
        nll = np.mean([r["nll"] for r in ours])
        cov = np.mean([r["coverage90"] for r in ours])
        digits = 4 if name == "naval-propulsion-plant" else 2
        wins["n"] += 1
        wins["MCD"] += nll < pub["MCD"][1]
        wins["DE"] += nll < pub["DE"][1]
        wins["calibrated"] += 0.85 <= cov <= 0.95
        row = [
            SHORT.get(name, name),
            str(len(ours)),
            fmt(ours, "nll"),
            fmt(ours, "rmse", digits),
            f"{cov:.3f}" + ("" if 0.85 <= cov <= 0.95 else " (miss)"),
            f"{np.mean([r['time'] for r in ours]):.1f}",
            members_kept(ours),
        ]
        if has_search:
            searched = by.get((name, "skrpf_search"), [])
            if searched:
                wins["n_search"] += 1
                wins["search_DE"] += np.mean([r["nll"] for r in searched]) < pub["DE"][1]
            cov_s = f"{np.mean([r['coverage90'] for r in searched]):.3f}" if searched else "—"
            row += [fmt(searched, "nll") + (f" ({len(searched)})" if searched else ""), cov_s]
        row += [
            fmt(by.get((name, "gp"), []), "nll"),
            fmt(by.get((name, "bayes_ridge"), []), "nll"),
            f"{pub['PBP'][1]:.2f}",
            f"{pub['MCD'][1]:.2f}",
            f"{pub['DE'][1]:.2f}",
            f"{pub['PBP'][0]:.2f} / {pub['MCD'][0]:.2f} / {pub['DE'][0]:.2f}",
            ("yes" if nll < pub["MCD"][1] else "no") + " / " + ("yes" if nll < pub["DE"][1] else "no"),
        ]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append(
        f"skrpf: NLL better than MC-dropout on {wins['MCD']}/{wins['n']} data sets (target ≥ 6 of 9), "
        f"better than Deep Ensembles on {wins['DE']}/{wins['n']} (target ≥ 4 of 9); 90% interval coverage "
        f"within 85–95% on {wins['calibrated']}/{wins['n']} (target: all)."
    )
    if has_search:
        lines.append(
            f"Searched skrpf: NLL better than Deep Ensembles on {wins['search_DE']}/{wins['n_search']} "
            "data sets (target ≥ 6 of 9)."
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=None, choices=DATASETS)
    parser.add_argument("--splits", type=int, default=None, help="use the first N splits (default: all)")
    parser.add_argument("--protein-splits", type=int, default=99, help="cap on protein's splits")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 avoids oversubscription)")
    parser.add_argument("--quick", action="store_true", help="yacht, boston, energy; 2 splits")
    parser.add_argument(
        "--search", action="store_true", help="also run RandomizedSearchCV (train split only)"
    )
    parser.add_argument("--search-iter", type=int, default=6, help="candidates of the search")
    parser.add_argument("--skip", nargs="*", default=[], choices=["gp", "bayes_ridge", "skrpf"])
    parser.add_argument(
        "--set", action="append", default=[], metavar="PARAM=VALUE", help="override a skrpf parameter"
    )
    parser.add_argument(
        "--validation", action="store_true", help="score on 20%% of each training split, never the test split"
    )
    parser.add_argument("--out", default=None, help="JSON-lines results file (appended, resumable)")
    parser.add_argument("--table-only", action="store_true", help="print the table of --out and exit")
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets = args.datasets or QUICK_DATASETS
        args.splits = args.splits or 2
    args.datasets = args.datasets or DATASETS
    if args.out is None:
        args.out = os.path.join("/tmp", "skrpf_uci_results.jsonl")
    overrides = {k: parse_value(v) for k, v in (s.split("=", 1) for s in args.set)}
    config = config_key(overrides, args.validation)
    torch.set_num_threads(args.threads)
    if not args.table_only:
        run(args, overrides)
    print()
    print(table(args.out, config))


if __name__ == "__main__":
    main()
