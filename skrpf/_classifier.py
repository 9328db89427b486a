"""The scikit-learn classifier: :class:`RandomizedPriorClassifier`.

Data path, one way: validate parameters and data -> encode the labels ->
standardise X -> build members and priors -> put each member's prior logits
beside the one-hot labels -> train all members in one skorch loop on their
bootstrap-weighted cross-entropy -> predict member logits in batches -> the
mean of the member softmaxes.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from scipy import special
from sklearn.base import ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from . import _validation as checks
from ._base import (
    PREDICT_BATCH_ROWS,
    RandomizedPriorBase,
    check_finite_output,
    checked_sample_weight,
    round_to_float32,
    standardisation,
)
from ._losses import WeightedCrossEntropy
from ._random import private_torch_rng, resolve_seed
from ._schedule import resolve_batch_size, resolve_max_epochs
from ._threads import resolve_threads, torch_threads
from ._training import EnsembleDataset
from ._warm_start import FitState, constrained_parameters, reusable_state, warm_start_epochs
from .resamplers import draw_weights, get_resampler

__all__ = ["RandomizedPriorClassifier"]

#: Smallest probability whose logarithm is taken: keeps log-probabilities,
#: entropies and the decision function finite where a softmax underflows.
_TINY = np.finfo(np.float64).tiny


class RandomizedPriorClassifier(ClassifierMixin, RandomizedPriorBase):
    r"""Ensemble of neural network classifiers with randomized prior functions.

    Member :math:`k` outputs the logits :math:`Q_k(x) = f_k(x) + \beta\,
    p_k(x)` over the classes, where the prior network :math:`p_k` is drawn
    at random and never trained, and :math:`f_k` is fit to its own bootstrap
    reweighting of the data (Osband et al., 2018). The predicted
    probabilities are the mean of the member softmaxes; where no data pull
    the members together, their priors keep them apart, and the
    disagreement (the mutual information of :meth:`predict_uncertainty`)
    stays high.

    It shares its machinery with :class:`RandomizedPriorRegressor`: the same
    factories, resamplers, vectorized skorch training, schedules, threads,
    ``random_state`` guarantees and :func:`skrpf.save` / :func:`skrpf.load`.
    Its hyper-parameters are fixed values (the regressor's large-data
    regime); there is no marginal-likelihood search, which is specific to
    Gaussian regression.

    Parameters
    ----------
    module : callable or None, default=None
        Factory of one member network: ``module(n_features_in, n_classes)``
        returns a fresh :class:`torch.nn.Module` mapping (batch,
        n_features_in) to (batch, n_classes) logits. None means
        ``MLP()``: two hidden layers of 50 ReLU units. Binary problems get
        two logits, as multiclass ones do.
    prior : callable or None, default=None
        Factory of one prior network, with the contract of ``module``. None
        means a fresh, independently initialised instance of the member
        architecture. Priors are never trained.
    prior_scale : float, default=1.0
        The prior scale :math:`\beta \ge 0` in front of the prior logits; 0
        disables the prior (a plain bootstrap ensemble).
    n_estimators : int, default=10
        Number of members :math:`K \ge 1`.
    bootstrap : str or resampler, default="multinomial"
        Per-member reweighting of the data, as for the regressor:
        ``"multinomial"``, ``"poisson"``, ``"exponential"``, ``"bernoulli"``,
        ``"none"`` or a resampler object (see :mod:`skrpf.resamplers`). The
        weights multiply ``sample_weight``.
    alpha : float, default=0.1
        L2 penalty :math:`\alpha \ge 0` on the trainable parameters, in the
        summed objective of the Notes (not divided by the number of samples).
        0.1 had the lowest mean validation log-loss among 0.01, 0.1, 0.3 and
        1 (see the user guide, "Classification").
    max_epochs : int or "auto", default="auto"
        Passes over the data. ``"auto"`` targets about 2,000 optimizer steps:
        ``ceil(2000 / batches_per_epoch)`` epochs, within [10, 2000].
    batch_size : int, "auto" or None, default="auto"
        Rows per optimizer step. None means the full data set; ``"auto"``
        means ``min(n_samples, 256)``.
    predict_batch_size : int or None, default=None
        Rows per forward pass in the predict methods; None means 1024. It
        never changes the results.
    lr : float, default=1e-2
        Initial learning rate.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"`` anneals the learning rate from ``lr`` to 0 along half a
        cosine, one step per optimizer step; ``"constant"`` keeps it.
    optimizer : torch optimizer class, default=torch.optim.Adam
        Built over the trainable parameters of all members.
    callbacks : list of skorch callbacks or None, default=None
        Extra :mod:`skorch.callbacks`; they are copied, never mutated.
    max_grad_norm : float or None, default=None
        Clip each member's gradient norm to this value at every step.
    normalize_X : bool, default=True
        Standardise each input feature with the training mean and standard
        deviation, so that the priors see inputs of unit scale.
    vectorize : bool, default=True
        Train all members at once, or each as its own skorch net.
    device : str or torch.device, default="cpu"
        Where to train and predict.
    n_threads : int, "auto" or None, default="auto"
        torch and BLAS threads during ``fit``: ``"auto"`` is one thread on up
        to 2,000 rows and torch's setting beyond; None is torch's setting.
    n_jobs : int or None, default=None
        Train the members in parallel, in chunks of members as :mod:`joblib`
        tasks, as :class:`RandomizedPriorRegressor` does: bit-identical
        results whatever ``n_jobs`` and backend. See the user guide page
        "Scaling out".
    warm_start : bool, default=False
        When True, ``fit`` on an estimator fitted before starts from its
        members and trains a shortened schedule (``max_epochs="auto"``: a
        tenth of the cold one), keeping the previous cold fit's
        standardisation of X and its priors; bootstrap weights are drawn
        anew. A cold fit is made instead when there is no previous fit in
        this object, when the features or the set of classes change, or
        when a parameter other than ``warm_start``, ``max_epochs``,
        ``verbose``, ``callbacks``, ``n_threads``, ``predict_batch_size``
        or ``device`` has changed, as for the regressor.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, priors, bootstrap and shuffling. An int gives
        bit-identical results across fits and processes; the global numpy
        and torch random states are never changed.
    verbose : {0, 1, 2}, default=0
        0: nothing; 1: one progress bar over the fit; 2: skorch's table.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X is a DataFrame with string column names.
    n_outputs_ : int
        Number of logits per member, ``len(classes_)``.
    ensemble_ : torch.nn.Module
        All members and priors, vectorized.
    net_ : skorch.NeuralNet or list of skorch.NeuralNet
        The fitted skorch net, with its ``history``; one per member when
        ``vectorize=False``.
    n_epochs_ : int
        Epochs the schedule asked for.
    batch_size_ : int
        Rows per optimizer step.

    See Also
    --------
    RandomizedPriorRegressor : The same ensemble for regression.
    sklearn.gaussian_process.GaussianProcessClassifier : A Bayesian
        classifier at cubic cost in the number of samples.

    Notes
    -----
    Member :math:`k` minimises

    .. math::

        -\sum_i w_{ki} \log \operatorname{softmax}\bigl(f_k(x_i) + \beta p_k(x_i)\bigr)_{y_i}
        + \alpha \lVert \theta_k \rVert^2

    with bootstrap weights :math:`w` (times ``sample_weight``) and the
    parameters :math:`\theta_k` of :math:`f_k`; each mini-batch step uses an
    unbiased estimate of this objective divided by :math:`n`. With member
    probabilities :math:`\pi_k(x) = \operatorname{softmax}(Q_k(x))`, the
    prediction is :math:`\bar\pi(x) = \frac1K \sum_k \pi_k(x)`, and
    :meth:`predict_uncertainty` splits its entropy
    :math:`H[\bar\pi] = -\sum_c \bar\pi_c \log \bar\pi_c` into the expected
    entropy :math:`\frac1K \sum_k H[\pi_k]` (aleatoric) and the mutual
    information :math:`H[\bar\pi] - \frac1K \sum_k H[\pi_k]` (epistemic),
    in nats.

    References
    ----------
    .. [1] I. Osband, J. Aslanides and A. Cassirer, "Randomized Prior
       Functions for Deep Reinforcement Learning", NeurIPS 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from skrpf import RandomizedPriorClassifier
    >>> X = np.linspace(-1, 1, 40).reshape(-1, 1)
    >>> y = np.where(X.ravel() > 0, "pos", "neg")
    >>> model = RandomizedPriorClassifier(n_estimators=3, max_epochs=30, random_state=0).fit(X, y)
    >>> model.predict([[-0.9], [0.9]]).tolist()
    ['neg', 'pos']
    >>> model.predict_uncertainty([[5.0]])["mutual_information"].shape
    (1,)
    """

    def __init__(
        self,
        *,
        module=None,
        prior=None,
        prior_scale=1.0,
        n_estimators=10,
        bootstrap="multinomial",
        alpha=0.1,
        max_epochs="auto",
        batch_size="auto",
        predict_batch_size=None,
        lr=1e-2,
        lr_schedule="cosine",
        optimizer=torch.optim.Adam,
        callbacks=None,
        max_grad_norm=None,
        normalize_X=True,
        vectorize=True,
        device="cpu",
        n_threads="auto",
        n_jobs=None,
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.module = module
        self.prior = prior
        self.prior_scale = prior_scale
        self.n_estimators = n_estimators
        self.bootstrap = bootstrap
        self.alpha = alpha
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.predict_batch_size = predict_batch_size
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.optimizer = optimizer
        self.callbacks = callbacks
        self.max_grad_norm = max_grad_norm
        self.normalize_X = normalize_X
        self.vectorize = vectorize
        self.device = device
        self.n_threads = n_threads
        self.n_jobs = n_jobs
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.allow_nan = False
        return tags

    # ------------------------------------------------------------------- fit
    def _check_params(self):
        self._check_shared_params()
        checks.check_real("prior_scale", self.prior_scale, minimum=0.0)
        checks.check_real("alpha", self.alpha, minimum=0.0)
        checks.check_real("lr", self.lr, minimum=0.0, strict=True)
        checks.check_bool("warm_start", self.warm_start)

    def _validate_training_data(self, X, y, sample_weight):
        checks.check_numeric("X", X)
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], ensure_all_finite=False)
        checks.check_finite("X", X)
        check_classification_targets(y)
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                "Classifier can't train when only one class is present: y holds the single class "
                f"{classes[0]!r}; at least two classes are required."
            )
        sample_weight = checked_sample_weight(sample_weight, X)
        return X, classes, codes, sample_weight

    def _fit(self, X, y, sample_weight):
        self._check_params()
        X, classes, codes, sample_weight = self._validate_training_data(X, y, sample_weight)
        n_samples = X.shape[0]
        n_classes = len(classes)
        device = torch.device(self.device)
        # Independent streams; each is unchanged by the ones after it.
        init_seed, weight_seed, shuffle_seed = np.random.SeedSequence(
            resolve_seed(self.random_state)
        ).generate_state(3)
        params = self.get_params(deep=False)
        state = getattr(self, "_fit_state", None) if self.warm_start else None
        warm = reusable_state(state, params, X.shape[1], n_classes)
        if warm is not None and not np.array_equal(warm.hyper, classes):
            warm = None  # the members' logits would mean other classes
        if warm is None:
            x_mean, x_scale = standardisation(X, self.normalize_X)
            # The classes stand where the regressor keeps its resolved hyper-parameters.
            no_scaling = np.ones(n_classes)
            state = FitState(
                params=constrained_parameters(params),
                hyper=classes,
                n_features=X.shape[1],
                n_outputs=n_classes,
                x_mean=x_mean,
                x_scale=x_scale,
                y_mean=np.zeros(n_classes),
                y_scale=no_scaling,
                noise_scale=no_scaling,
            )
        x_mean, x_scale = state.x_mean, state.x_scale
        with torch_threads(resolve_threads(self.n_threads, n_samples)):
            ensemble, net, max_epochs, batch_size = self._train(
                (X - x_mean) / x_scale,
                codes,
                n_classes,
                sample_weight,
                device,
                (init_seed, weight_seed, shuffle_seed),
                None if warm is None else self.ensemble_,
            )
        self._fit_state = state
        self.classes_ = classes
        self.ensemble_ = ensemble
        self.net_ = net
        self.n_outputs_ = n_classes
        self.n_epochs_ = max_epochs
        self.batch_size_ = batch_size
        self._x_mean, self._x_scale = x_mean, x_scale
        return self

    def _train(self, Xs, codes, n_classes, sample_weight, device, seeds, warm_ensemble=None):
        """Build the members and priors and train them on the standardised inputs ``Xs``.

        ``warm_ensemble``, the fitted ensemble of a warm refit, replaces the
        new members and priors; it is copied, so a failed fit leaves it as it was.

        Returns the ensemble (float64, eval mode), the skorch net(s), and
        the epochs and batch size.
        """
        init_seed, weight_seed, shuffle_seed = seeds
        n_samples = Xs.shape[0]
        K = int(self.n_estimators)
        X_t = torch.as_tensor(Xs.astype(np.float32), device=device)
        weights = draw_weights(
            get_resampler(self.bootstrap), n_samples, K, np.random.RandomState(weight_seed)
        )
        # Row by row, (n, K): see EnsembleDataset.
        weights_t = torch.as_tensor(
            np.ascontiguousarray((weights * sample_weight).T, dtype=np.float32), device=device
        )
        batch_size = resolve_batch_size(self.batch_size, n_samples)
        max_epochs = resolve_max_epochs(self.max_epochs, n_samples, batch_size)
        if warm_ensemble is not None and self.max_epochs == "auto":
            max_epochs = warm_start_epochs(max_epochs)
        schedule = self._schedule_callbacks(max_epochs, n_samples, batch_size, full_batch=False)
        with private_torch_rng(int(init_seed), device):
            if warm_ensemble is not None:
                ensemble = copy.deepcopy(warm_ensemble).float().to(device)
            else:
                ensemble = self._new_ensemble(
                    X_t, n_classes, n_classes, None, float(self.prior_scale), device
                )
            dataset = EnsembleDataset(X_t, self._member_targets(ensemble, X_t, codes, n_classes), weights_t)
            net_kwargs = self._net_kwargs(
                optimizer=self.optimizer,
                lr=float(self.lr),
                max_epochs=max_epochs,
                batch_size=batch_size,
                schedule=schedule,
                device=device,
                alpha=float(self.alpha),
                n_train=n_samples,
                seed=shuffle_seed,
                options={},
            )
            # The loss hook: the cross-entropy of the logits f_k + beta p_k.
            net_kwargs["criterion"] = WeightedCrossEntropy
            net = self._train_members(ensemble, dataset, net_kwargs)
        # Prediction runs in float64 and rounds to float32, as the regressor's.
        ensemble.double().eval()
        return ensemble, net, max_epochs, batch_size

    @staticmethod
    def _member_targets(ensemble, X_t, codes, n_classes):
        """Per-member targets ``[one-hot label | beta * p_k(x)]``, shape (n, K, 2C), for the criterion."""
        K = ensemble.n_members
        n = X_t.shape[0]
        targets = torch.zeros((n, K, 2 * n_classes), dtype=X_t.dtype, device=X_t.device)
        rows = torch.arange(n, device=X_t.device)
        targets[rows, :, torch.as_tensor(codes, device=X_t.device)] = 1.0
        if ensemble.priors is not None:
            for start in range(0, n, PREDICT_BATCH_ROWS):
                batch = slice(start, start + PREDICT_BATCH_ROWS)
                targets[batch, :, n_classes:] = ensemble.prior_term(X_t[batch]).transpose(0, 1)
        return targets

    # --------------------------------------------------------------- predict
    def _member_logits(self, X) -> np.ndarray:
        """Every member's logits ``Q_k(x)`` over all rows of X, shape (K, n, C)."""
        parts = []
        for _, x in self._row_batches(self._standardised_input(X)):
            # Rounded to the float32 of training, so that a row's result does
            # not depend on the batch it is predicted in (see the regressor).
            logits = round_to_float32(self.ensemble_.predict_members(x))
            check_finite_output(logits)
            parts.append(logits)
        if not parts:
            return np.empty((self.ensemble_.n_members, 0, self.n_outputs_))
        return np.concatenate(parts, axis=1)

    def predict_members_proba(self, X):
        """Every member's class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        members_proba : ndarray of shape (n_estimators, n_samples, n_classes)
            ``softmax(Q_k(x))`` of member ``k``, columns in the order of ``classes_``.
        """
        return special.softmax(self._member_logits(X), axis=-1)

    def predict_proba(self, X):
        """Class probabilities: the mean of the member softmaxes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        return self.predict_members_proba(X).mean(axis=0)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba` (probabilities that underflow give ``log(tiny)``, not -inf).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        return np.log(np.maximum(self.predict_proba(X), _TINY))

    def decision_function(self, X):
        """Log-odds of the predicted probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, ``log p(classes_[1]) - log p(classes_[0])``:
            positive where ``classes_[1]`` is predicted. For more, the log
            probabilities: the largest is the predicted class.
        """
        log_proba = self.predict_log_proba(X)
        if log_proba.shape[1] == 2:
            return log_proba[:, 1] - log_proba[:, 0]
        return log_proba

    def predict(self, X):
        """The most probable class under :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)  # first: it raises NotFittedError before fit
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_uncertainty(self, X):
        """Total, aleatoric and epistemic uncertainty of the prediction, in nats.

        With member probabilities :math:`\\pi_k(x)` and their mean
        :math:`\\bar\\pi(x)`:

        * ``total_entropy``: :math:`H[\\bar\\pi] = -\\sum_c \\bar\\pi_c \\log \\bar\\pi_c`;
        * ``expected_entropy``: :math:`\\frac1K \\sum_k H[\\pi_k]`, the
          aleatoric part: high where each member is unsure;
        * ``mutual_information``: their difference, the epistemic part:
          high where the members disagree, e.g. far from the data. It is
          at least 0 and at most :math:`\\log K` and :math:`\\log C`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        uncertainty : dict of str to ndarray of shape (n_samples,)
            Keys ``"total_entropy"``, ``"expected_entropy"`` and ``"mutual_information"``.
        """
        members = self.predict_members_proba(X)
        total = _entropy(members.mean(axis=0))
        expected = _entropy(members).mean(axis=0)
        # Jensen's inequality makes the difference non-negative; only rounding can cross 0.
        return {
            "total_entropy": total,
            "expected_entropy": expected,
            "mutual_information": np.maximum(total - expected, 0.0),
        }

    def sample_proba(self, X, n_samples=1, random_state=0):
        """Draw class probabilities, one member function per draw, for Thompson sampling.

        Each draw is one member's probabilities over all rows of X, so draws
        are coherent across rows. Draws pick distinct members while
        ``n_samples <= n_estimators``; beyond, members are drawn with
        replacement.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
        n_samples : int, default=1
            Number of functions to draw.
        random_state : int, RandomState instance or None, default=0
            Chooses the members.

        Returns
        -------
        proba_samples : ndarray of shape (n_samples_X, n_classes, n_samples)
            Draw ``s`` is ``proba_samples[..., s]``, as in
            :meth:`RandomizedPriorRegressor.sample_y`.
        """
        checks.check_int("n_samples", n_samples, minimum=1)
        rng = check_random_state(random_state)
        n_members = self.ensemble_.n_members
        chosen = rng.choice(n_members, size=n_samples, replace=n_samples > n_members)
        return np.moveaxis(self.predict_members_proba(X)[chosen], 0, -1)


def _entropy(proba: np.ndarray) -> np.ndarray:
    """Entropy in nats over the last axis, with ``0 log 0 = 0``."""
    return -(proba * np.log(np.maximum(proba, _TINY))).sum(axis=-1)
