"""The machinery the regressor and the classifier share.

:class:`RandomizedPriorBase` holds what does not depend on the task: the
checks of the shared parameters, the restore-on-failure ``fit``, building
members and priors from the factories, the schedule, the vectorized skorch
training loop (or one net per member), and the batching of predictions over
the rows of X. The task-specific parts -- what the members are trained to
(the targets and the criterion, the explicit hook below) and what the
predictions mean -- live in :mod:`skrpf._regressor` and
:mod:`skrpf._classifier`.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _validation as checks
from ._auto import is_auto
from ._ensemble import RandomizedPriorEnsemble, VmapStack
from ._parallel import check_n_jobs, train_members
from ._schedule import LR_SCHEDULES, lr_schedule_callbacks
from .networks import MLP
from .resamplers import get_resampler

__all__ = [
    "PREDICT_BATCH_ROWS",
    "RandomizedPriorBase",
    "check_finite_output",
    "checked_sample_weight",
    "round_to_float32",
    "standardisation",
]

#: Rows per forward pass at prediction time (and in fit's passes over the
#: training rows): bounds memory to O(n_estimators * rows * width) whatever
#: the size of X. Larger chunks are slower on CPU once their activations leave
#: the cache: one pass of 10 MLPs of 2x256 over 50,000 rows took 2.1 s in
#: float64 (prediction) at 1024 rows against 3.7 s at 2048, and 10 MLPs of
#: 2x50 0.22 s against 0.28 s; in float32 (fit) 1024 was never slower.
PREDICT_BATCH_ROWS = 1024


def _check_vectorizable(ensemble, probe) -> None:
    """Fail early, with a remedy, if the members cannot run under torch.func.vmap.

    Only :class:`VmapStack` can fail: batched matrix products and loops
    always run, so they skip the probe (and its copy of the members).
    """
    try:
        if isinstance(ensemble.members, VmapStack):
            copy.deepcopy(ensemble.members).train()(probe).sum().backward()
        if isinstance(ensemble.priors, VmapStack):
            ensemble.prior_term(probe)
    except RuntimeError as exc:
        raise ValueError(
            "The member network cannot be vectorized with torch.func.vmap (e.g. it uses "
            "data-dependent Python control flow or .item()). Pass vectorize=False to train each "
            f"member as its own skorch net. The error was: {exc}"
        ) from exc


class RandomizedPriorBase(BaseEstimator):
    """Private base of the randomized-prior estimators; not an estimator itself.

    Subclasses define ``__init__`` (scikit-learn reads the parameters from
    its signature), ``_fit`` and the predict methods. Every parameter named
    in :meth:`_check_shared_params` must exist on the subclass.
    """

    def __sklearn_is_fitted__(self) -> bool:
        """Whether fit has completed; it sets all fitted attributes at once.

        What :func:`~sklearn.utils.validation.check_is_fitted` asks first:
        without it, every predict call would scan all attributes for a
        trailing underscore, a tenth of a one-row prediction's time.
        """
        return hasattr(self, "ensemble_")

    # ------------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None):
        """Fit all members of the ensemble.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs. Sparse matrices are refused with a TypeError.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Training targets (class labels for a classifier).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; they multiply the bootstrap weights.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        # Any failure restores the previous state: unfitted stays unfitted,
        # and a fitted estimator keeps its previous fit.
        previous_state = dict(self.__dict__)
        try:
            return self._fit(X, y, sample_weight)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(previous_state)
            raise

    def _fit(self, X, y, sample_weight):  # pragma: no cover - defined by every subclass
        raise NotImplementedError

    def _check_shared_params(self):
        """Check the parameters every randomized-prior estimator has."""
        checks.check_factory("module", self.module)
        checks.check_factory("prior", self.prior)
        checks.check_int("n_estimators", self.n_estimators, minimum=1)
        checks.check_int("max_epochs", self.max_epochs, minimum=1, allow=("auto",))
        checks.check_int("batch_size", self.batch_size, minimum=1, allow=("auto", None))
        checks.check_int("predict_batch_size", self.predict_batch_size, minimum=1, allow=(None,))
        if not isinstance(self.lr_schedule, str) or self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {list(LR_SCHEDULES)}; got {self.lr_schedule!r}.")
        if not is_auto(self.optimizer):
            checks.check_optimizer(self.optimizer)
        checks.check_real("max_grad_norm", self.max_grad_norm, minimum=0.0, strict=True, allow_none=True)
        checks.check_bool("normalize_X", self.normalize_X)
        checks.check_bool("vectorize", self.vectorize)
        checks.check_int("n_threads", self.n_threads, minimum=1, allow=("auto", None))
        check_n_jobs(self.n_jobs)
        checks.check_int("verbose", self.verbose, minimum=0, maximum=2)
        if self.callbacks is not None and not isinstance(self.callbacks, list | tuple):
            raise ValueError(f"callbacks must be None or a list of skorch callbacks; got {self.callbacks!r}.")
        checks.check_device("device", self.device)
        if not is_auto(self.bootstrap):
            get_resampler(self.bootstrap)

    def _schedule_callbacks(self, max_epochs, n_samples, batch_size, full_batch):
        # L-BFGS sets its own step lengths; a learning-rate schedule would fight its line search.
        if full_batch:
            return []
        return lr_schedule_callbacks(self.lr_schedule, max_epochs, n_samples, batch_size)

    def _build_networks(self, n_features, member_outputs, n_outputs, probe, K, activation, prior_scale):
        if self.module is not None:
            module_factory = self.module
        else:
            module_factory = MLP() if activation is None else MLP(activation=activation)
        prior_factory = module_factory if self.prior is None else self.prior
        members = checks.build_networks("module", module_factory, K, n_features, member_outputs, probe)
        priors = None
        if prior_scale > 0:
            priors = checks.build_networks("prior", prior_factory, K, n_features, n_outputs, probe)
        return members, priors

    def _new_ensemble(self, X_t, member_outputs, n_outputs, activation, prior_scale, device):
        """Fresh members and priors, stacked; call under the fit's private torch generator."""
        members, priors = self._build_networks(
            X_t.shape[1],
            member_outputs,
            n_outputs,
            X_t[:1].cpu(),
            int(self.n_estimators),
            activation,
            prior_scale,
        )
        ensemble = RandomizedPriorEnsemble(members, priors, prior_scale, vectorize=self.vectorize).to(device)
        if self.vectorize:
            _check_vectorizable(ensemble, X_t[:2])
        return ensemble

    def _net_kwargs(
        self, *, optimizer, lr, max_epochs, batch_size, schedule, device, alpha, n_train, seed, options
    ):
        """The keyword arguments of :class:`~skrpf._training.EnsembleNet` for one fit."""
        return dict(
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            callbacks=schedule + (copy.deepcopy(list(self.callbacks)) if self.callbacks else []),
            device=device,
            verbose=self.verbose,
            alpha=alpha,
            n_train=n_train,
            max_grad_norm=self.max_grad_norm,
            iterator_train__seed=int(seed),
            **{f"optimizer__{name}": value for name, value in options.items()},
        )

    def _train_members(self, ensemble, dataset, net_kwargs):
        """Train every member on ``dataset``, in place; return the skorch net or nets.

        One vectorized net, or one net per member (``vectorize=False``), in
        this process or in chunks of members as joblib tasks (``n_jobs``,
        see :mod:`skrpf._parallel`).
        """
        return train_members(
            ensemble,
            dataset,
            net_kwargs,
            vectorize=self.vectorize,
            verbose=self.verbose,
            n_jobs=self.n_jobs,
            n_threads=self.n_threads,
        )

    # --------------------------------------------------------------- predict
    def _standardised_input(self, X) -> np.ndarray:
        """X validated against the fit, in float64, standardised as the members saw it in training."""
        check_is_fitted(self)
        if self._is_plain_input(X):
            # What validate_data would return, without its ~0.1 ms of checks
            # that cannot fail here: it matters for one-row calls in a loop.
            X = X.astype(np.float64, copy=False)
        else:
            checks.check_numeric("X", X)
            X = validate_data(self, X, reset=False, dtype=np.float64, ensure_all_finite=False)
        checks.check_finite("X", X)
        return (X - self._x_mean) / self._x_scale

    def _is_plain_input(self, X) -> bool:
        """Whether X is a non-empty float ndarray of the fitted width, fitted without feature names."""
        return (
            type(X) is np.ndarray
            and X.dtype in (np.float64, np.float32)
            and X.ndim == 2
            and X.shape[0] > 0
            and X.shape[1] == self.n_features_in_
            and not hasattr(self, "feature_names_in_")
        )

    def _row_batches(self, X, default_rows=PREDICT_BATCH_ROWS):
        """Yield ``(rows, x)``: slices of standardised X and their float64 tensors, without autograd.

        The batches are ``predict_batch_size`` rows long (``default_rows``
        when it is None); the ensemble is moved to ``device`` first, as
        ``set_params(device=...)`` after fit asks.
        """
        device = checks.move_to_device("device", self.device, self.ensemble_)
        step = getattr(self, "predict_batch_size", None)
        checks.check_int("predict_batch_size", step, minimum=1, allow=(None,))
        step = default_rows if step is None else int(step)
        with torch.inference_mode():
            for start in range(0, X.shape[0], step):
                rows = slice(start, start + step)
                yield rows, torch.as_tensor(X[rows], dtype=torch.float64, device=device)


def check_finite_output(out: np.ndarray) -> None:
    """Refuse member outputs that overflowed, naming the likely cause."""
    if not np.isfinite(out).all():
        raise FloatingPointError(
            "The ensemble's output is not finite (overflow) for some rows of X, whose "
            "values are probably far outside the training data; check X for extreme values."
        )


def checked_sample_weight(sample_weight, X) -> np.ndarray:
    """``sample_weight`` as float64 weights of X's rows (None: all 1), refused if none is positive."""
    checks.check_sample_weight(sample_weight, X.shape[0])
    sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    if not np.any(sample_weight > 0):
        raise ValueError("sample_weight is zero for every sample; at least one weight must be positive.")
    return sample_weight


def round_to_float32(values: torch.Tensor) -> np.ndarray:
    """``values`` rounded to float32, as a float64 array.

    numpy rounds to nearest, ties to even, as torch does; its casts cost a
    third of torch's on the few values of a one-row prediction.
    """
    return values.cpu().numpy().astype(np.float32).astype(np.float64)


def standardisation(values: np.ndarray, enabled: bool) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (a zero std becomes 1), or (0, 1)."""
    if not enabled:
        return np.zeros(values.shape[1]), np.ones(values.shape[1])
    mean = values.mean(axis=0)
    scale = values.std(axis=0)
    scale[scale == 0] = 1.0
    return mean, scale
