"""What the ``"auto"`` hyper-parameters of the estimator resolve to.

Two regimes, by the number of training rows:

* **Small data** (at most ``SMALL_DATA_MAX_ROWS`` rows: the budgets of
  Bayesian optimisation and active learning, where a Gaussian process is
  the usual tool): the paper's recipe for the Gaussian case.
  The input length scale, the prior scale and the noise level are fitted
  by the marginal likelihood of the prior networks' kernel
  (:mod:`skrpf._evidence`); with the default module, so is the activation
  (the smoothness of the prior functions). Every member trains on all rows
  (no bootstrap) against targets perturbed by noise of the fitted level,
  with an L2 penalty matched to it, by full-batch L-BFGS. The spread then
  vanishes at noise-free observations and opens in the gaps, as a
  posterior's does, and the fitted noise is near zero on noise-free data.
* **Large data**: fixed values that suit mini-batch training (bootstrap,
  Adam with a cosine schedule, ``prior_scale=1``, ``alpha=1e-2``); the noise
  comes from out-of-bag residuals. On up to ``CHOICE_MAX_ROWS`` rows the
  members themselves cross-validate two choices: with the default module,
  ReLU and SiLU members are both trained and the one whose out-of-bag mean
  predicts the left-out rows better is kept (see
  ``OUT_OF_BAG_ACTIVATIONS``); with ``noise="auto"``, heteroscedastic
  members of that activation are trained too, and kept if their out-of-bag
  predictive likelihood is markedly higher (see ``OUT_OF_BAG_NOISE_MODELS``
  and ``NOISE_CHOICE_MARGIN``).

Any value given explicitly is used as it is and is not tuned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._evidence import LENGTH_SCALES, choose_by_evidence
from .networks import MLP

#: Training rows up to which the small-data regime applies: the budgets of
#: Bayesian optimisation and active learning. Beyond, on a few hundred rows
#: of real data, the single length scale of the prior kernel loses to the
#: bootstrap ensemble: on validation rows carved from the training splits of
#: UCI yacht (221 rows) and energy (552), the test NLL was 1.9 against 0.6-1.1
#: and 1.4 against 0.7 (see benchmarks/RESULTS.md).
SMALL_DATA_MAX_ROWS = 200

#: Fewest rows on which the evidence is computed.
MIN_EVIDENCE_ROWS = 3

#: Activations the evidence chooses among when ``module`` and ``prior`` are
#: left at None: piecewise-linear, smooth and unbounded, smooth and bounded,
#: and near-stationary (random Fourier features) prior functions.
AUTO_ACTIVATIONS = ("relu", "silu", "tanh", "sin")

#: Activations compared on large data, when ``module`` and ``prior`` are
#: left at None: each is trained with the same bootstrap weights and target
#: noise, and the one with the smaller out-of-bag squared error is kept. The
#: first is the one used where no choice is made. Piecewise-linear members
#: suit rough targets, smooth ones smooth targets: on validation rows carved
#: from UCI training splits, SiLU was 0.18 nats better than ReLU on yacht,
#: within 0.01 on kin8nm and 0.07-0.67 worse on the seven others, and 0.09
#: better on draws of the smooth problem of benchmarks/vs_gp.py. The
#: out-of-bag error sided with the better one everywhere but on energy
#: (0.07 nats lost); the marginal likelihood of the prior kernel, which
#: chooses on small data, with the worse one on four data sets of nine
#: (see benchmarks/RESULTS.md).
OUT_OF_BAG_ACTIVATIONS = ("relu", "silu")

#: Noise models compared on large data with ``noise="auto"``, after the
#: activation: heteroscedastic members (a mean and a variance each, trained
#: by the Gaussian likelihood) are kept if the rows' out-of-bag predictive
#: negative log-likelihood is lower than under the homoscedastic members by
#: more than ``NOISE_CHOICE_MARGIN``. The first is the one used where no
#: choice is made. The squared error cannot make this choice: it does not
#: see the variance.
OUT_OF_BAG_NOISE_MODELS = ("homoscedastic", "heteroscedastic")

#: Nats per row and target by which heteroscedastic members must beat
#: homoscedastic ones out of bag to be kept. Without it, the choice lost on
#: UCI energy: its 768 rows are 192 buildings in 4 orientations of nearly
#: the same target, so a left-out row's twins trained the members that
#: score it, and the score flatters members whose variance is small. On
#: validation rows carved from UCI training splits (20% of each, 10-20
#: splits a data set, never the test splits), heteroscedastic members scored
#: 0.02-0.20 nats better out of bag on 8 energy splits of 20 and lost there
#: 0.09 nats on average (three splits by 0.7-1.2 nats: a few rows 5-20
#: standard deviations off); on yacht they scored 0.54-3.1 better on every
#: split and won 0.83 nats. Gains of 0.01-0.07 on power and kin8nm are given
#: up. The margin lies between the two groups.
NOISE_CHOICE_MARGIN = 0.3

#: Training rows up to which large-data fits compare activations and noise
#: models. Each candidate is one more fit (the "auto" schedule's 2,000
#: steps, a few seconds at any n); beyond this size a Gaussian process is no
#: longer the alternative and ReLU, the cheaper kernel on CPU, is used
#: without a choice, with homoscedastic noise.
CHOICE_MAX_ROWS = 10_000

#: The L2 penalty is this multiple of the fitted noise-to-signal variance
#: ratio ``sigma^2 / beta^2``: in the linear-Gaussian case the penalty that
#: makes the trained members posterior draws is ``sigma^2 / lambda`` for a
#: prior weight variance ``lambda``, which grows with ``beta^2``.
ALPHA_PER_NOISE_RATIO = 1.0
#: Smallest L2 penalty chosen automatically: keeps the full-batch problem of
#: an exactly interpolated data set well posed. At 1e-8, nearly coincident
#: noise-free rows (0.03 apart on [0, 10] in 1-D) were fitted to only 1e-3
#: of std(y) by the float64 output-layer solve, whose ridge it also is; at
#: 1e-10, to 4e-4, with test NLL and R² on problems of our own (1-D to 6-D,
#: 10-40 rows, 4 designs each) the same or better.
MIN_ALPHA = 1e-10
#: Smallest noise variance chosen automatically, in standardised units: a
#: noise standard deviation of 1e-6 of std(y).
MIN_FITTED_NOISE_VARIANCE = 1e-12

#: L-BFGS settings of the small-data regime. A short history keeps the cost
#: of each iteration close to that of one forward and backward pass.
LBFGS_OPTIONS = {"history_size": 10, "line_search_fn": "strong_wolfe", "max_iter": 20}

#: Largest training target (in the units the networks see) for which the
#: small-data regime trains with L-BFGS.
LBFGS_MAX_TARGET = 1e3

#: The large-data values of the ``"auto"`` parameters.
LARGE_DATA_VALUES = {
    "length_scale": 1.0,
    "prior_scale": 1.0,
    "target_noise": 0.0,
    "alpha": 1e-2,
    "bootstrap": "multinomial",
    "optimizer": torch.optim.Adam,
    "lr": 1e-2,
}


@dataclass
class Resolved:
    """The concrete hyper-parameters of one fit.

    ``prior_scale`` and ``target_noise`` are in standardised units of y, as
    the estimator reports them; the networks train on targets divided by
    ``output_scale``, so they use :attr:`network_prior_scale` and
    :attr:`network_target_noise`.
    """

    length_scale: float
    prior_scale: float
    target_noise: float
    alpha: float
    bootstrap: object
    optimizer: type
    lr: float
    optimizer_options: dict
    #: The activation chosen for the default MLP, or None when not chosen.
    #: Where ``activation_candidates`` is not empty, the first of them until
    #: training has compared them.
    activation: str | None = None
    #: Activations to train and compare by out-of-bag error; empty where
    #: no such choice is made.
    activation_candidates: tuple = ()
    #: The noise model the members are trained for: ``"none"``,
    #: ``"homoscedastic"`` or ``"heteroscedastic"``. Where
    #: ``noise_candidates`` is not empty, the first of them until training
    #: has compared them.
    noise_model: str = "homoscedastic"
    #: Noise models to train and compare by out-of-bag likelihood; empty
    #: where no such choice is made.
    noise_candidates: tuple = ()
    #: Factor by which the networks' outputs are scaled, in standardised
    #: units of y. A fitted prior scale ``beta`` is applied here, to the
    #: members and priors alike (``Q = beta (f + p)``), rather than to the
    #: priors alone: the trainable networks then learn targets of unit
    #: scale, which L-BFGS fits to float32 precision in a few hundred
    #: iterations instead of thousands. The networks' own prior scale is 1.
    output_scale: float = 1.0
    #: Whether the output layer is solved in closed form after training
    #: (:mod:`skrpf._output_layer`): in the small-data regime, with L-BFGS.
    solve_output_layer: bool = False
    #: Whether the members' spread is capped at the priors' std (see
    #: ``RandomizedPriorEnsemble.predict_members``): wherever the evidence
    #: fitted the prior, as a GP's kernel, whose variance a posterior's never exceeds.
    cap_spread_at_prior: bool = False
    #: Noise variance per target in standardised units from the evidence,
    #: or None where it comes from out-of-bag residuals.
    noise_variance: float | None = None
    log_marginal_likelihood: float | None = None

    @property
    def network_prior_scale(self) -> float:
        """The prior scale in the networks' units: 1 where ``beta`` is the output scale."""
        return self.prior_scale / self.output_scale

    @property
    def network_target_noise(self) -> float:
        """The target noise in the networks' units."""
        return self.target_noise / self.output_scale


def is_auto(value) -> bool:
    """Whether a parameter is left at ``"auto"``."""
    return isinstance(value, str) and value == "auto"


def resolve(params: dict, X: np.ndarray, Y: np.ndarray, seed: int) -> Resolved:
    """Turn the ``"auto"`` values in ``params`` into numbers for this data set.

    Parameters
    ----------
    params : dict
        The estimator's parameters (``get_params(deep=False)``).
    X, Y : ndarray
        Standardised training inputs (n, d) and targets (n, t).
    seed : int
        Seeds the prior draws of the evidence.

    Returns
    -------
    Resolved
    """
    names = ("length_scale", "prior_scale", "target_noise", "alpha", "bootstrap", "optimizer", "lr")
    noise_model = "homoscedastic" if is_auto(params["noise"]) else params["noise"]
    small = X.shape[0] <= SMALL_DATA_MAX_ROWS and noise_model != "heteroscedastic"
    tuned = ("length_scale", "prior_scale", "target_noise", "alpha")
    evidence = None
    activation = None
    # Fewer than MIN_EVIDENCE_ROWS rows, or constant targets, say nothing
    # about a kernel: the tuned values then fall back to the fixed ones.
    informative = X.shape[0] >= MIN_EVIDENCE_ROWS and bool(np.any(Y != 0))
    if small and informative and any(is_auto(params[name]) for name in tuned):
        factories, activations = _candidate_factories(params)
        # A fixed prior_scale of 0 (no prior) leaves the amplitude free: the
        # evidence still sets the noise.
        fixed_scale = None if is_auto(params["prior_scale"]) else float(params["prior_scale"]) or None
        length_scales = LENGTH_SCALES if is_auto(params["length_scale"]) else (float(params["length_scale"]),)
        evidence = choose_by_evidence(
            factories, X, Y, length_scales=length_scales, prior_scale=fixed_scale, seed=seed
        )
        activation = activations[evidence.candidate]

    fitted: dict = {}
    noise_variance = None
    if evidence is not None:
        noise_variance = max(evidence.noise_variance, MIN_FITTED_NOISE_VARIANCE)
        fitted = {
            "length_scale": evidence.length_scale,
            "prior_scale": evidence.prior_scale,
            "target_noise": float(np.sqrt(noise_variance)),
            "alpha": max(ALPHA_PER_NOISE_RATIO * noise_variance / evidence.prior_scale**2, MIN_ALPHA),
            "bootstrap": "none",
        }
        # L-BFGS needs the same function at every step: full batches only.
        # Its float32 line search overflows on raw targets of large magnitude
        # (normalize_y=False), where Adam's normalised steps do not.
        batch_size = params["batch_size"]
        full_batch = batch_size in ("auto", None) or int(batch_size) >= X.shape[0]
        if full_batch and float(np.abs(Y).max(initial=0.0)) <= LBFGS_MAX_TARGET:
            fitted.update(optimizer=torch.optim.LBFGS, lr=1.0)
    values = {
        name: params[name] if not is_auto(params[name]) else fitted.get(name, LARGE_DATA_VALUES[name])
        for name in names
    }
    uses_lbfgs = is_auto(params["optimizer"]) and values["optimizer"] is torch.optim.LBFGS
    output_scale = 1.0
    if evidence is not None and is_auto(params["prior_scale"]) and evidence.prior_scale > 0:
        # Q = beta (f + p): in the networks' units the targets are y / beta,
        # the prior scale 1 and the target noise sigma / beta.
        output_scale = evidence.prior_scale
    candidates: tuple = ()
    if evidence is None and _compares_activations_out_of_bag(params, X.shape[0]):
        candidates = OUT_OF_BAG_ACTIVATIONS
        activation = candidates[0]
    noise_candidates: tuple = ()
    if evidence is None and _compares_noise_models_out_of_bag(params, X.shape[0]):
        noise_candidates = OUT_OF_BAG_NOISE_MODELS
        noise_model = noise_candidates[0]
    return Resolved(
        length_scale=float(values["length_scale"]),
        prior_scale=float(values["prior_scale"]),
        target_noise=float(values["target_noise"]),
        alpha=float(values["alpha"]),
        bootstrap=values["bootstrap"],
        optimizer=values["optimizer"],
        lr=float(values["lr"]),
        optimizer_options=dict(LBFGS_OPTIONS) if uses_lbfgs else {},
        activation=activation,
        activation_candidates=candidates,
        noise_model=noise_model,
        noise_candidates=noise_candidates,
        output_scale=output_scale,
        solve_output_layer=uses_lbfgs,
        cap_spread_at_prior=evidence is not None,
        # With a resampler given, the noise comes from out-of-bag residuals instead.
        noise_variance=noise_variance if is_auto(params["bootstrap"]) else None,
        log_marginal_likelihood=None if evidence is None else evidence.log_marginal_likelihood,
    )


def _compares_activations_out_of_bag(params: dict, n_samples: int) -> bool:
    """Whether a large-data fit trains every activation of ``OUT_OF_BAG_ACTIVATIONS`` and keeps the best.

    Only for the default module, with members that predict a mean alone
    (noise not ``"heteroscedastic"``), where the members can cross-validate
    (see :func:`_members_cross_validate`).
    """
    default_module = params["module"] is None and params["prior"] is None
    mean_only = params["noise"] != "heteroscedastic"
    return default_module and mean_only and _members_cross_validate(params, n_samples)


def _compares_noise_models_out_of_bag(params: dict, n_samples: int) -> bool:
    """Whether a large-data fit trains every noise model of ``OUT_OF_BAG_NOISE_MODELS`` and keeps the best.

    With ``noise="auto"``, where the members can cross-validate (see
    :func:`_members_cross_validate`), whatever the module.
    """
    return is_auto(params["noise"]) and _members_cross_validate(params, n_samples)


def _members_cross_validate(params: dict, n_samples: int) -> bool:
    """Whether rows left out of members can score candidates: large data, and rows sure to be left out.

    On more than ``SMALL_DATA_MAX_ROWS`` and at most ``CHOICE_MAX_ROWS``
    rows, under the default bootstrap, or with the homoscedastic noise
    model, which leaves rows out itself (see ``ensure_out_of_bag_rows``).
    """
    leaves_rows_out = is_auto(params["bootstrap"]) or params["noise"] in ("homoscedastic", "auto")
    return SMALL_DATA_MAX_ROWS < n_samples <= CHOICE_MAX_ROWS and leaves_rows_out


def _candidate_factories(params: dict) -> tuple[list, list]:
    """The prior factories the evidence compares, and the activation each stands for (or None)."""
    module, prior = params["module"], params["prior"]
    if prior is not None:
        return [prior], [None]
    if module is not None:
        return [module], [None]
    return [MLP(activation=name) for name in AUTO_ACTIVATIONS], list(AUTO_ACTIVATIONS)
