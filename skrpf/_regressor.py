"""The scikit-learn estimator: :class:`RandomizedPriorRegressor`.

Data path, one way: validate parameters and data -> standardise -> build
members and priors -> fold priors, target noise and bootstrap weights into
per-member targets -> train all members in one skorch loop -> predict in
batches -> undo the standardisation.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _validation as checks
from ._auto import NOISE_CHOICE_MARGIN, is_auto
from ._auto import resolve as resolve_auto
from ._base import (
    PREDICT_BATCH_ROWS,
    RandomizedPriorBase,
    check_finite_output,
    checked_sample_weight,
    round_to_float32,
    standardisation,
)
from ._gradients import predict_with_gradients
from ._losses import WeightedGaussianNLL, split_mean_variance
from ._noise import (
    NOISE_MODELS,
    OUT_OF_BAG_MAX_ROWS,
    OutOfBagScores,
    ensure_out_of_bag_rows,
    out_of_bag_statistics,
)
from ._output_layer import refit_output_layer_
from ._prediction_cache import cache_key, frozen
from ._random import private_torch_rng, resolve_seed
from ._schedule import resolve_batch_size, resolve_max_epochs
from ._threads import resolve_threads, torch_threads
from ._training import EnsembleDataset, was_interrupted
from ._warm_start import FitState, constrained_parameters, reusable_state, warm_start_epochs
from .export import RandomizedPriorNetwork, _network_of
from .resamplers import draw_weights, get_resampler

__all__ = ["RandomizedPriorRegressor"]


@dataclasses.dataclass
class TrainedMembers:
    """What one training of the members leaves (see ``RandomizedPriorRegressor._train``)."""

    #: The members and priors, float64, in eval mode.
    ensemble: torch.nn.Module
    #: The skorch net, or the list of nets (one per member or chunk of members).
    net: object
    #: Noise variance per target, in y's units.
    noise_variance: np.ndarray
    max_epochs: int
    batch_size: int
    #: The out-of-bag noise estimate and scores (see
    #: :func:`~skrpf._noise.out_of_bag_statistics`); None where not computed.
    out_of_bag: OutOfBagScores | None = None

    @property
    def out_of_bag_error(self) -> float:
        """Out-of-bag squared error in the networks' units; NaN where not computed or no row was left out."""
        return float("nan") if self.out_of_bag is None else self.out_of_bag.squared_error

    @property
    def out_of_bag_log_loss(self) -> float:
        """Out-of-bag negative log-likelihood in y's units; NaN where not computed or no row was left out."""
        return float("nan") if self.out_of_bag is None else self.out_of_bag.log_loss


class RandomizedPriorRegressor(RegressorMixin, RandomizedPriorBase):
    r"""Ensemble of neural networks with randomized prior functions.

    Member :math:`k` is :math:`Q_k(x) = f_k(x) + \beta\, p_k(x)`, where the
    prior network :math:`p_k` is drawn at random and never trained, and the
    trainable network :math:`f_k` is fit to its own bootstrap reweighting and
    noise perturbation of the data. The prediction is the mean of the members
    and the uncertainty their spread, which stays wide where there are no
    data to pull the priors together (Osband et al., 2018).

    The prediction API is that of
    :class:`~sklearn.gaussian_process.GaussianProcessRegressor`:
    ``predict(X, return_std=True)``, ``return_cov`` and ``sample_y``, with
    the same output shapes. All members are trained together in one
    vectorized loop by :mod:`skorch`.

    Parameters
    ----------
    module : callable or None, default=None
        Factory of one member network: ``module(n_features_in, n_outputs)``
        returns a fresh :class:`torch.nn.Module` mapping (batch,
        n_features_in) to (batch, n_outputs). A class, a function or a
        factory object such as :class:`~skrpf.MLP`; None means an ``MLP``
        of two hidden layers of 50 units, Glorot initialisation, whose
        activation is fitted on small data (ReLU, SiLU, tanh or sine, by the
        marginal likelihood; see Notes), chosen between ReLU and SiLU by
        out-of-bag error on up to 10,000 rows (both are trained), and is
        ReLU beyond. Pass
        ``module=MLP(...)`` explicitly to fix it or search
        ``module__<param>``.
    prior : callable or None, default=None
        Factory of one prior network, with the contract of ``module``. None
        means a fresh, independently initialised instance of the member
        architecture. Priors are never trained, never handed to the
        optimizer and never decayed. A fixed function, such as
        :class:`~skrpf.SinePrior`, is also a valid prior.
    prior_scale : float or "auto", default="auto"
        The prior scale :math:`\beta \ge 0`; 0 disables the prior.
        ``"auto"``: fitted by the marginal likelihood on small data (see
        Notes), 1 on large data.
    length_scale : float or "auto", default="auto"
        The networks (members and priors) see the standardised inputs
        divided by this length scale: smaller values give wigglier prior
        functions, as a GP kernel's length scale does. ``"auto"``: fitted by
        the marginal likelihood on small data, 1 on large data.
    n_estimators : int, default=10
        Number of members :math:`K \ge 1`.
    bootstrap : str or resampler, default="auto"
        Per-member reweighting of the data. ``"auto"``: ``"none"`` on small
        data (the paper's recipe for the Gaussian case: the members differ
        by their priors and target noise, and all of them see every
        observation, so their spread vanishes at noise-free ones),
        ``"multinomial"`` on large data. Or ``"multinomial"`` (classic
        bootstrap, as counts), ``"poisson"`` (Poisson(1) counts),
        ``"exponential"`` (Bayesian bootstrap), ``"bernoulli"`` (weights 0
        or 2 with probability 1/2), ``"none"``, or an object with a
        ``sample_weights(n_samples, n_estimators, random_state)`` method
        returning non-negative weights of shape (n_estimators, n_samples).
        See :mod:`skrpf.resamplers`. The weights multiply ``sample_weight``.
    target_noise : float or "auto", default="auto"
        Standard deviation :math:`\sigma \ge 0` of the fixed Gaussian noise
        added to each member's targets, in the standardised units of y
        (when ``normalize_y=True``). ``"auto"``: the noise level fitted by
        the marginal likelihood on small data, 0 on large data.
    noise : {"auto", "none", "homoscedastic", "heteroscedastic"}, default="auto"
        Model of the observation noise, which ``predict(X, return_std=True)``
        adds to the spread of the members (see Notes and the user guide page
        "Predictive uncertainty and observation noise"); the one used is
        ``noise_model_``.

        * ``"auto"``: ``"homoscedastic"``, except on 201 to 10,000 rows with
          a bootstrap that leaves rows out, where heteroscedastic members
          are trained as well and kept if the training rows are markedly
          more likely under their out-of-bag predictive distribution (each
          row predicted by the members that did not train on it, with each
          model's noise) than under the homoscedastic members': by more
          than 0.3 nats per row and target.

        * ``"none"``: no noise model; the std is the member spread alone,
          as in Osband et al. (2018).
        * ``"homoscedastic"``: one noise variance per target. On small data
          with ``bootstrap="auto"`` it is the level fitted by the marginal
          likelihood (near 0 on noise-free data, as a GP's). Otherwise it is
          estimated after training from out-of-sample residuals: row ``i`` is predicted
          by the members whose bootstrap weight for it is 0. Resamplers that
          leave (almost) no row out (``"none"``, ``"exponential"``: fewer than
          10% of the rows out of some member) get a cross-fitting mask
          instead: the rows are dealt into ``n_estimators`` folds and
          member ``k`` does not train on fold ``k``. Needs
          ``n_estimators >= 2``. Beyond 20,000 rows a random subset of
          20,000 rows gives the estimate.
        * ``"heteroscedastic"``: every member also outputs an
          input-dependent variance and is trained with the Gaussian negative
          log-likelihood, as in deep ensembles (Lakshminarayanan et al.,
          2017); the randomized prior acts on the mean only. The member
          factory is called with ``2 * n_outputs`` outputs (means, then
          raw variances mapped through ``softplus``), the prior factory with
          ``n_outputs``.
    alpha : float or "auto", default="auto"
        L2 penalty :math:`\alpha \ge 0` on the trainable parameters, in the
        summed objective below. ``"auto"``: on small data the fitted
        noise-to-signal ratio :math:`\sigma^2/\beta^2` (at least 1e-8), the
        penalty that makes linear members exact posterior draws; 1e-2 on
        large data. Because it is not divided by the number of
        samples, its relative weight shrinks as data grow, as a Bayesian
        prior's does. In the linear-Gaussian case it is
        :math:`\sigma^2/\lambda` for a prior variance :math:`\lambda`.
    max_epochs : int or "auto", default="auto"
        Passes over the data. ``"auto"`` targets about 2,000 optimizer steps:
        ``ceil(2000 / batches_per_epoch)`` epochs, within [10, 2000]. Under
        L-BFGS an epoch is one step of up to 20 iterations and ``"auto"``
        means 15 of them.
    batch_size : int, "auto" or None, default="auto"
        Rows per optimizer step. None means the full data set; ``"auto"``
        means ``min(n_samples, 256)``, and the full data set under L-BFGS.
    predict_batch_size : int or None, default=None
        Rows per forward pass in the predict methods, which bounds their
        memory to ``O(n_estimators * predict_batch_size * width)``. None
        means 1024. It never changes the results: predictions are bit for
        bit the same whatever the batch size (see Notes).
    lr : float or "auto", default="auto"
        Initial learning rate. ``"auto"``: 1 for L-BFGS (its line search
        sets the step), 1e-2 for Adam.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        How the learning rate evolves over the fit. ``"cosine"`` anneals it
        from ``lr`` to 0 along half a cosine, one step per optimizer step,
        so that training ends at the minimum instead of jittering around it
        (on the UCI benchmark this lowered the test NLL most on nearly
        noise-free targets). ``"constant"`` keeps ``lr``; use it when
        ``callbacks`` holds a scheduler of your own. Not applied to
        L-BFGS, whose line search sets its own steps.
    optimizer : torch optimizer class or "auto", default="auto"
        Built over the trainable parameters of all members. ``"auto"``: on
        small data, full-batch :class:`torch.optim.LBFGS` (strong Wolfe line
        search, history 10), followed by an exact float64 solve of the
        members' output layer; :class:`torch.optim.Adam` on large data, on
        mini-batches, or when ``normalize_y=False`` leaves targets beyond
        1e3. Adam's updates are per parameter, so the members stay
        independent.
    callbacks : list of skorch callbacks or None, default=None
        Extra :mod:`skorch.callbacks`; they are copied, never mutated.
    max_grad_norm : float or None, default=None
        Clip each member's gradient norm to this value at every step.
    normalize_X : bool, default=True
        Standardise each input feature with the training mean and standard
        deviation (a zero std becomes 1). The priors then see inputs of unit
        scale whatever the units of X, which is what makes the default prior
        meaningful; equivalent to ``Pipeline([StandardScaler(), ...])``.
    normalize_y : bool, default=True
        Standardise the targets as
        :class:`~sklearn.gaussian_process.GaussianProcessRegressor` does, and
        map predictions, standard deviations and covariances back.
    vectorize : bool, default=True
        Train all members at once (the default), or each member as its own
        skorch net, one after the other. The latter is slower but accepts
        modules that cannot be vectorized, e.g. with BatchNorm.
    device : str or torch.device, default="cpu"
        Where to train and predict. A device this machine or torch build
        lacks (``"cuda"`` on a CPU-only torch) is refused by ``fit`` with a
        ValueError. After fit, ``set_params(device=...)`` moves the fitted
        ensemble there at the next prediction.
    n_threads : int, "auto" or None, default="auto"
        torch and BLAS threads during ``fit``. ``"auto"``: one thread on small data,
        where more threads save nothing and, on a machine whose cores are
        busy, their spin-waiting slowed fits by 10-40x; torch's setting on
        large data. None: torch's setting. The previous setting is restored
        when ``fit`` returns. torch's thread count is global to the process.
        With ``n_jobs > 1``, an integer is the count of each parallel task.
    n_jobs : int or None, default=None
        Train the members in parallel: they are dealt, in order, into
        ``min(n_estimators, n_jobs)`` chunks, each trained as its own
        vectorized stack in a :mod:`joblib` task, and joined back into one
        ensemble. None and 1 train in this process; -1 means all cores (or
        all workers of the active joblib backend, e.g. dask or ray via
        :func:`joblib.parallel_config`). For the same ``random_state`` the
        results are bit-identical whatever ``n_jobs`` and backend. Each task
        runs on ``n_threads`` threads if that is an integer, else on
        ``max(1, cpu_count // n_chunks)``. L-BFGS (the small-data optimizer)
        couples the members, so fits that use it always train in one stack,
        in this process. See the user guide page "Scaling out".
    warm_start : bool, default=False
        When True, ``fit`` on an estimator fitted before starts from its
        members and trains a shortened schedule (``max_epochs="auto"``: a
        tenth of the cold one, at least one epoch), for the cheap refit
        after a few new rows of Bayesian optimisation or active learning.
        The refit keeps the previous cold fit's standardisation of X and
        y and its hyper-parameters (no new marginal-likelihood search), its
        priors, and the target noise of the rows it had (appended rows get
        fresh draws); bootstrap weights are drawn anew for all rows. A cold
        fit is made instead when there is no previous fit in this object
        (new, cloned or loaded), when the number of features or targets
        changes, or when a parameter other than ``warm_start``,
        ``max_epochs``, ``verbose``, ``callbacks``, ``n_threads``, ``n_jobs``,
        ``predict_batch_size`` or ``device`` has changed. Set it to False
        (or ``clone``) to refit cold, e.g. to re-select the
        hyper-parameters once the data have grown. skopt's ``Optimizer``
        clones its estimator before every fit, so it always fits cold.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, priors, bootstrap, target noise and shuffling.
        An int gives bit-identical results across fits and processes. The
        global numpy and torch random states are never changed.
    verbose : {0, 1, 2}, default=0
        What ``fit`` shows while the members train. 0: nothing. 1: one
        progress bar over every optimizer step of the fit, with the latest
        batch's training loss, the rate and the time left, written to
        ``sys.stderr`` by :mod:`tqdm`; with ``vectorize=False``, one such
        bar per member, in turn. 2: skorch's table, one line per epoch, on
        ``sys.stdout``.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X is a DataFrame with string column names.
    n_outputs_ : int
        Number of target columns.
    ensemble_ : torch.nn.Module
        All members and priors, vectorized; used by every predict method.
    net_ : skorch.NeuralNet or list of skorch.NeuralNet
        The fitted skorch net, with its ``history``; a list of one net per
        member when ``vectorize=False``, and of one net per chunk of members
        (in member order) when ``n_jobs`` trained them in parallel.
    n_epochs_ : int
        Epochs the schedule asked for.
    batch_size_ : int
        Rows per optimizer step.
    noise_model_ : {"none", "homoscedastic", "heteroscedastic"}
        The noise model of the members: ``noise``, or the one kept by
        ``noise="auto"``.
    noise_std_ : ndarray of shape (`n_outputs_`,)
        Standard deviation of the observation noise in the units of y: 0
        for ``noise="none"``, the estimate for ``"homoscedastic"``, and for
        ``"heteroscedastic"`` the root mean predicted noise variance over
        the training rows (a summary; the model's noise depends on x, see
        :meth:`predict_noise_std`).
    length_scale_ : float
        The input length scale used, in standardised input units.
    prior_scale_ : float
        The prior scale used, in standardised units of y.
    target_noise_ : float
        The target noise used, in standardised units of y.
    alpha_ : float
        The L2 penalty used.
    activation_ : str or None
        The activation chosen for the default MLP: by the marginal
        likelihood on small data, by the out-of-bag squared error of the
        trained members on larger data; None where none was chosen.
    log_marginal_likelihood_ : float or None
        The log marginal likelihood of the standardised targets under the
        chosen prior kernel, in nats; None where no hyper-parameter was
        fitted (large data, or every one of them given).

    See Also
    --------
    sklearn.gaussian_process.GaussianProcessRegressor : The exact Bayesian
        model it replaces, at cubic cost in the number of samples.

    Notes
    -----
    Member :math:`k` minimises

    .. math::

        \sum_i w_{ki} \lVert y_i + \sigma \epsilon_{ki}
        - (f_k(x_i) + \beta p_k(x_i)) \rVert^2 + \alpha \lVert \theta_k \rVert^2

    with bootstrap weights :math:`w`, fixed noise
    :math:`\epsilon_{ki} \sim N(0, 1)` and the parameters :math:`\theta_k`
    of :math:`f_k`. Each mini-batch step uses an unbiased estimate of this
    objective divided by :math:`n`, so mini-batching keeps the minimiser.

    The predictive distribution of y at x is the equally weighted mixture
    of the members' Gaussians :math:`N(Q_k(x), s_k^2(x))`, where
    :math:`s_k^2` is the noise variance (0 for ``noise="none"``, one
    constant for ``"homoscedastic"``, member ``k``'s own output for
    ``"heteroscedastic"``). Its variance, returned by ``predict`` as a
    standard deviation, is

    .. math::

        \frac{1}{K} \sum_k s_k^2(x) + \frac{1}{K} \sum_k \bigl(Q_k(x) - \bar Q(x)\bigr)^2,

    noise plus the spread of the members (``ddof=0``). Pass
    ``include_noise=False`` for the spread alone: the uncertainty about the
    function, which is what Bayesian optimisation needs. With
    ``n_estimators=1`` the spread is 0.

    With ``noise="heteroscedastic"``, member :math:`k` minimises
    :math:`\sum_i w_{ki}\, [\tfrac12 \log s_k^2(x_i) + (y_i - Q_k(x_i))^2
    / (2 s_k^2(x_i))] + \alpha \lVert \theta_k \rVert^2` instead.

    **Hyper-parameters on small data.** On up to 200 training rows (and
    unless ``noise="heteroscedastic"``), the parameters left at ``"auto"``
    are fitted as a GP fits its kernel: by the log marginal likelihood
    :math:`\log N(y \mid 0, \beta^2 K_\ell + \sigma^2 I)` of the
    standardised targets, where :math:`K_\ell(x, x') = E[p(x/\ell)\,
    p(x'/\ell)]` is the covariance of the prior networks, estimated from 256
    random draws of the prior factory. It is maximised over the length scale
    :math:`\ell` (a grid), the activation of the default MLP, the prior
    scale :math:`\beta` (in closed form) and the noise :math:`\sigma^2`
    (a grid, with a weak prior toward less noise). The members then train on
    every row against targets perturbed by noise of the fitted level, with
    :math:`\alpha = \sigma^2/\beta^2`, by full-batch L-BFGS; the fitted
    :math:`\beta` scales members and priors alike
    (:math:`Q = \beta (f + p)`), and the output layer is finally solved
    exactly. On 201 to 10,000 rows with the default module, the members
    are trained twice, with ReLU and with SiLU activations, on the same
    bootstrap weights, and the ensemble whose out-of-bag mean predicts the
    rows it left out with the smaller squared error is kept; with
    ``noise="auto"``, heteroscedastic members of that activation are then
    trained on the same weights and kept if the rows' out-of-bag predictive
    negative log-likelihood is lower by more than 0.3 nats per row. See the
    user guide, "Hyper-parameters fitted to the data".

    Interrupting ``fit`` with ``KeyboardInterrupt`` while the members train
    stops training at that point, as in skorch: the estimator is fitted with
    the members as they are, and ``net_.history`` shows how far it got
    (with ``vectorize=False``, only the member being trained stops; skorch
    cannot tell an interrupt from early stopping). An interrupt before
    training starts, and any error raised in ``fit`` -- invalid input, or a
    training loss that becomes NaN or infinite -- leaves the estimator
    exactly as it was: unfitted stays unfitted, a fitted one keeps its fit.

    With an int ``random_state``, ``fit`` is bit-for-bit reproducible, in
    the same or a new process, and never changes the global numpy, torch
    or :mod:`random` states. Predictions are computed in float64 and
    rounded to float32, the precision the members are trained in, so they
    do not depend on ``predict_batch_size``, and predicting from several
    threads at once gives the results of sequential calls. See the
    "Errors and guarantees" page of the documentation.

    References
    ----------
    .. [1] I. Osband, J. Aslanides and A. Cassirer, "Randomized Prior
       Functions for Deep Reinforcement Learning", NeurIPS 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from skrpf import RandomizedPriorRegressor
    >>> X = np.linspace(-1, 1, 20).reshape(-1, 1)
    >>> y = np.sin(3 * X).ravel()
    >>> model = RandomizedPriorRegressor(n_estimators=5, max_epochs=50, random_state=0)
    >>> model.fit(X, y).predict(X[:3], return_std=True)[1].shape
    (3,)
    """

    def __init__(
        self,
        *,
        module=None,
        prior=None,
        prior_scale="auto",
        length_scale="auto",
        n_estimators=10,
        bootstrap="auto",
        target_noise="auto",
        noise="auto",
        alpha="auto",
        max_epochs="auto",
        batch_size="auto",
        predict_batch_size=None,
        lr="auto",
        lr_schedule="cosine",
        optimizer="auto",
        callbacks=None,
        max_grad_norm=None,
        normalize_X=True,
        normalize_y=True,
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
        self.length_scale = length_scale
        self.n_estimators = n_estimators
        self.bootstrap = bootstrap
        self.target_noise = target_noise
        self.noise = noise
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
        self.normalize_y = normalize_y
        self.vectorize = vectorize
        self.device = device
        self.n_threads = n_threads
        self.n_jobs = n_jobs
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ tags
    def __getstate__(self):
        # The cached member outputs of the last predict (up to a few MB) are
        # not part of the model: a pickle holds the fitted state only.
        state = super().__getstate__()
        state.pop("_predictive_cache", None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.non_deterministic = False
        tags.input_tags.allow_nan = False
        return tags

    # ------------------------------------------------------------------- fit
    def _check_params(self):
        self._check_shared_params()
        checks.check_real("prior_scale", self.prior_scale, minimum=0.0, allow=("auto",))
        checks.check_real("length_scale", self.length_scale, minimum=0.0, strict=True, allow=("auto",))
        checks.check_real("target_noise", self.target_noise, minimum=0.0, allow=("auto",))
        if not isinstance(self.noise, str) or self.noise not in NOISE_MODELS:
            raise ValueError(f"noise must be one of {list(NOISE_MODELS)}; got {self.noise!r}.")
        checks.check_real("alpha", self.alpha, minimum=0.0, allow=("auto",))
        checks.check_real("lr", self.lr, minimum=0.0, strict=True, allow=("auto",))
        checks.check_bool("normalize_y", self.normalize_y)
        checks.check_bool("warm_start", self.warm_start)

    def _validate_training_data(self, X, y, sample_weight):
        # Clear messages for non-numeric data, non-finite y and bad weights,
        # before scikit-learn's vaguer ones.
        checks.check_numeric("X", X)
        checks.check_target(y)
        X, y = validate_data(
            self,
            X,
            y,
            multi_output=True,
            y_numeric=True,
            dtype=[np.float64, np.float32],
            ensure_all_finite=False,
        )
        checks.check_finite("X", X)
        checks.check_finite("y", y)
        if y.ndim == 2 and y.shape[1] == 0:
            raise ValueError("y has 0 target columns; at least one is required.")
        Y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        sample_weight = checked_sample_weight(sample_weight, X)
        return X, Y, sample_weight

    def _fit(self, X, y, sample_weight):
        self._check_params()
        self._predictive_cache = None  # answers of the ensemble being replaced
        X, Y, sample_weight = self._validate_training_data(X, y, sample_weight)
        n_samples, n_features = X.shape
        n_outputs = Y.shape[1]
        device = torch.device(self.device)

        seed = resolve_seed(self.random_state)
        # Independent streams; each is unchanged by the ones after it.
        streams = np.random.SeedSequence(seed).generate_state(6)
        init_seed, weight_seed, noise_seed, shuffle_seed, oob_seed, evidence_seed = streams

        params = self.get_params(deep=False)
        state = getattr(self, "_fit_state", None) if self.warm_start else None
        warm = reusable_state(state, params, n_features, n_outputs)
        threads = resolve_threads(self.n_threads, n_samples)
        with torch_threads(threads):
            # A warm refit keeps the cold fit's scaling and hyper-parameters:
            # the members' inputs and outputs keep their meaning.
            seeds = (init_seed, weight_seed, noise_seed, shuffle_seed, oob_seed)
            if warm is None:
                state = self._cold_state(params, X, Y, n_features, n_outputs, int(evidence_seed))
                state, fitted = self._train_candidates(X, Y, sample_weight, state, device, seeds)
            else:
                fitted = self._train(X, Y, sample_weight, state, device, seeds, self.ensemble_)
        ensemble, net, noise_var = fitted.ensemble, fitted.net, fitted.noise_variance
        max_epochs, batch_size = fitted.max_epochs, fitted.batch_size
        hyper = state.hyper
        x_mean, x_scale, y_mean, y_scale = state.x_mean, state.x_scale, state.y_mean, state.y_scale
        self._fit_state = state
        self.ensemble_ = ensemble
        self._cap_spread_at_prior = ensemble.cap_spread_at_prior
        self.net_ = net
        self.n_outputs_ = n_outputs
        self.n_epochs_ = max_epochs
        self.batch_size_ = batch_size
        self.length_scale_ = hyper.length_scale
        self.prior_scale_ = hyper.prior_scale
        self.target_noise_ = hyper.target_noise
        self._network_prior_scale = hyper.network_prior_scale
        self.alpha_ = hyper.alpha
        self.activation_ = hyper.activation
        self.noise_model_ = hyper.noise_model
        self.log_marginal_likelihood_ = hyper.log_marginal_likelihood
        self._x_mean, self._x_scale = x_mean, x_scale
        self._y_mean, self._y_scale = y_mean, y_scale
        self._noise_var = noise_var
        if self.noise_model_ == "heteroscedastic":
            Xs = (X - x_mean) / x_scale
            with torch_threads(threads):
                member_var = np.concatenate([V.mean(axis=0) for _, _, V in self._iter_standardised(Xs)])
            self.noise_std_ = np.sqrt(np.average(member_var, axis=0, weights=sample_weight))
        else:
            self.noise_std_ = np.sqrt(noise_var)
        return self

    def _cold_state(self, params, X, Y, n_features, n_outputs, evidence_seed):
        """The standardisation and the resolved hyper-parameters of a cold fit."""
        x_mean, x_scale = standardisation(X, self.normalize_X)
        y_mean, y_scale = standardisation(Y, self.normalize_y)
        hyper = resolve_auto(params, (X - x_mean) / x_scale, (Y - y_mean) / y_scale, evidence_seed)
        # The length scale divides the standardised inputs: folded into
        # the scale, it applies in every predict method and survives save/load.
        # Noise variances are kept in y's units (noise_scale); the output
        # scale applies to the networks only.
        return FitState(
            params=constrained_parameters(params),
            hyper=hyper,
            n_features=n_features,
            n_outputs=n_outputs,
            x_mean=x_mean,
            x_scale=x_scale * hyper.length_scale,
            y_mean=y_mean,
            y_scale=y_scale * hyper.output_scale,
            noise_scale=y_scale,
        )

    def _train_candidates(self, X, Y, sample_weight, state, device, seeds):
        """Train the members of a cold fit; where candidates are compared, keep the best.

        First the activations of ``state.hyper.activation_candidates``: each
        trains with the same seeds, hence the same bootstrap weights, target
        noise and batches, and the one whose out-of-bag squared error is
        smallest is kept (the first on a tie or where no row was left out).
        Then, where ``state.hyper.noise_candidates`` are given, the members
        of the other noise models with the activation kept, again with the
        same seeds: one is kept instead of the first if the rows' out-of-bag
        predictive negative log-likelihood under it is lower by more than
        ``NOISE_CHOICE_MARGIN`` nats per row and target (not where no row
        was left out). The squared error cannot rank noise models, and it
        ranked activations better than the likelihood did on validation
        rows (see benchmarks/RESULTS.md).

        Returns the state with the choices made and what :meth:`_train`
        returns for it. A ``KeyboardInterrupt`` while a candidate trains ends
        the choice: that candidate is kept as it is.
        """
        hyper = state.hyper
        noise_models = hyper.noise_candidates
        score = bool(hyper.activation_candidates or noise_models)
        best = None
        for activation in hyper.activation_candidates or (hyper.activation,):
            candidate = dataclasses.replace(
                state,
                # hyper.noise_model is the first noise candidate already.
                hyper=dataclasses.replace(
                    hyper, activation=activation, activation_candidates=(), noise_candidates=()
                ),
            )
            fitted = self._train(X, Y, sample_weight, candidate, device, seeds, score_out_of_bag=score)
            if was_interrupted(fitted.net):
                return candidate, fitted
            # Fitted candidates are kept only until a better one is found:
            # at most two ensembles are held at once.
            if best is None or fitted.out_of_bag_error < best[1].out_of_bag_error:
                best = (candidate, fitted)
        for noise_model in noise_models[1:]:
            kept = best[0]
            hyper = dataclasses.replace(kept.hyper, noise_model=noise_model)
            candidate = dataclasses.replace(kept, hyper=hyper)
            fitted = self._train(X, Y, sample_weight, candidate, device, seeds, score_out_of_bag=True)
            if was_interrupted(fitted.net):
                return candidate, fitted
            margin = NOISE_CHOICE_MARGIN * Y.shape[1]
            if fitted.out_of_bag_log_loss < best[1].out_of_bag_log_loss - margin:
                best = (candidate, fitted)
        return best

    def _train(self, X, Y, sample_weight, state, device, seeds, warm_ensemble=None, score_out_of_bag=False):
        """Build the members and priors, train them, and estimate the noise.

        ``state`` holds the standardisation and the resolved hyper-parameters
        (a :class:`~skrpf._warm_start.FitState`). ``warm_ensemble``, the
        fitted ensemble of a warm refit, replaces the new members and
        priors; it is copied, so a failed fit leaves it as it was.

        Returns :class:`TrainedMembers`; its out-of-bag error is computed
        only with ``score_out_of_bag``.
        """
        init_seed, weight_seed, noise_seed, shuffle_seed, oob_seed = seeds
        hyper = state.hyper
        x_mean, x_scale, y_mean, y_scale = state.x_mean, state.x_scale, state.y_mean, state.y_scale
        noise_scale = state.noise_scale
        n_samples, n_features = X.shape
        n_outputs = Y.shape[1]
        K = int(self.n_estimators)
        X_t = torch.as_tensor(((X - x_mean) / x_scale).astype(np.float32), device=device)
        Y_t = torch.as_tensor(((Y - y_mean) / y_scale).astype(np.float32), device=device)

        weight_rng = np.random.RandomState(weight_seed)
        weights = draw_weights(get_resampler(hyper.bootstrap), n_samples, K, weight_rng)
        noise_model = hyper.noise_model
        heteroscedastic = noise_model == "heteroscedastic"
        out_of_bag_noise = noise_model == "homoscedastic" and hyper.noise_variance is None
        if out_of_bag_noise or score_out_of_bag:
            weights = ensure_out_of_bag_rows(weights, weight_rng)
        # Row by row, (n, K): see EnsembleDataset.
        weights_t = torch.as_tensor(
            np.ascontiguousarray((weights * sample_weight).T, dtype=np.float32), device=device
        )

        full_batch = hyper.optimizer is torch.optim.LBFGS
        batch_size = resolve_batch_size(self.batch_size, n_samples, full_batch=full_batch)
        max_epochs = resolve_max_epochs(self.max_epochs, n_samples, batch_size, lbfgs=full_batch)
        if warm_ensemble is not None and is_auto(self.max_epochs):
            max_epochs = warm_start_epochs(max_epochs)
        schedule = self._schedule_callbacks(max_epochs, n_samples, batch_size, full_batch)

        with private_torch_rng(int(init_seed), device):
            if warm_ensemble is not None:
                ensemble = copy.deepcopy(warm_ensemble).float().to(device)
            else:
                member_outputs = 2 * n_outputs if heteroscedastic else n_outputs
                ensemble = self._new_ensemble(
                    X_t, member_outputs, n_outputs, hyper.activation, hyper.network_prior_scale, device
                )
            targets, prior_terms = self._member_targets(
                ensemble, X_t, Y_t, int(noise_seed), hyper.network_target_noise
            )
            dataset = EnsembleDataset(X_t, targets, weights_t)
            net_kwargs = self._net_kwargs(
                optimizer=hyper.optimizer,
                lr=hyper.lr,
                max_epochs=max_epochs,
                batch_size=batch_size,
                schedule=schedule,
                device=device,
                alpha=hyper.alpha,
                n_train=n_samples,
                seed=shuffle_seed,
                options=hyper.optimizer_options,
            )
            if score_out_of_bag and self.verbose == 1:
                # One bar per candidate: say which members each one trains.
                kind = f"{hyper.activation} {noise_model}" if heteroscedastic else hyper.activation
                net_kwargs["callbacks__progress__desc"] = f"fit ({kind} members)"
            # The loss hook: squared error (EnsembleNet's default) on targets
            # with the prior folded in, or the Gaussian NLL of heteroscedastic members.
            if heteroscedastic:
                net_kwargs["criterion"] = WeightedGaussianNLL
            # In place, in this process or in chunks of members as joblib tasks (n_jobs).
            net = self._train_members(ensemble, dataset, net_kwargs)

        # The noise estimate reuses the float32 training tensors, before the
        # ensemble switches to float64 for prediction.
        ensemble.eval()
        noise_var = np.zeros(n_outputs)
        scores = None
        if out_of_bag_noise or score_out_of_bag:
            # One pass over the out-of-bag rows gives the noise and the scores.
            scores = out_of_bag_statistics(
                ensemble,
                X_t,
                prior_terms,
                Y,
                weights,
                sample_weight,
                y_mean,
                y_scale,
                PREDICT_BATCH_ROWS,
                max_rows=OUT_OF_BAG_MAX_ROWS,
                random_state=int(oob_seed),
                heteroscedastic=heteroscedastic,
            )
            if out_of_bag_noise:
                noise_var = scores.noise_variance
        if noise_model == "homoscedastic" and not out_of_bag_noise:
            noise_var = np.full(n_outputs, hyper.noise_variance) * noise_scale**2
        # Prediction runs in float64 and rounds to float32 (see _iter_members).
        ensemble.double().eval()
        ensemble.cap_spread_at_prior = (
            hyper.cap_spread_at_prior and not heteroscedastic and ensemble.can_cap_spread()
        )
        if hyper.solve_output_layer and not heteroscedastic:
            # After the out-of-bag pass, which runs on the float32 tensors.
            self._solve_output_layer(
                ensemble,
                X,
                Y,
                x_mean,
                x_scale,
                y_mean,
                y_scale,
                Y_t,
                targets,
                prior_terms,
                weights_t,
                hyper.alpha,
            )
        return TrainedMembers(ensemble, net, noise_var, max_epochs, batch_size, scores)

    @staticmethod
    def _solve_output_layer(
        ensemble, X, Y, x_mean, x_scale, y_mean, y_scale, Y_t, targets, prior_terms, weights, alpha
    ):
        """Solve the members' output layer exactly, in float64 (see :mod:`skrpf._output_layer`).

        The weights stay in float64, the precision of prediction, so that a
        member reproduces its training targets to ~1e-12 rather than to the
        float32 rounding of large output weights.
        """
        device = ensemble.device
        X64 = torch.as_tensor((X - x_mean) / x_scale, dtype=torch.float64, device=device)
        Y64 = torch.as_tensor((Y - y_mean) / y_scale, dtype=torch.float64, device=device)
        # The targets' fixed noise, recovered from the float32 targets: it is
        # all that is not y or the prior term.
        prior32 = 0.0 if prior_terms is None else prior_terms.transpose(0, 1).double()
        noise = targets.double() - (Y_t.double().unsqueeze(1) - prior32)
        prior64 = ensemble.prior_term(X64)
        targets64 = Y64.unsqueeze(1) + noise - (0.0 if prior64 is None else prior64.transpose(0, 1))
        refit_output_layer_(ensemble.members, X64, targets64, weights, alpha)

    def _member_targets(self, ensemble, X_t, Y_t, noise_seed, target_noise):
        """Per-member targets ``y + sigma * eps_k - beta * p_k(x)`` and prior terms ``beta * p_k(x)``.

        The targets have shape (n, K, t), row by row as
        :class:`~skrpf._training.EnsembleDataset` stores them; the prior
        terms (K, n, t), or None without priors. They are kept for the
        out-of-bag noise estimate, which then needs no second pass of the
        priors over the training rows.
        """
        K = ensemble.n_members
        n, t = Y_t.shape
        targets = Y_t.unsqueeze(1).repeat(1, K, 1)
        if target_noise > 0:
            # Drawn row by row, so that appending rows leaves the earlier
            # rows' noise as it was: a warm refit after new rows keeps the
            # targets its members were fitted to.
            generator = torch.Generator().manual_seed(noise_seed)
            noise = torch.randn((n, K, t), generator=generator).to(targets.device)
            targets.add_(noise, alpha=float(target_noise))
        if ensemble.priors is None:
            return targets, None
        prior_terms = torch.empty((K, n, t), dtype=targets.dtype, device=targets.device)
        for start in range(0, n, PREDICT_BATCH_ROWS):
            rows = slice(start, start + PREDICT_BATCH_ROWS)
            prior_terms[:, rows] = ensemble.prior_term(X_t[rows])
        targets.sub_(prior_terms.transpose(0, 1))
        return targets, prior_terms

    # --------------------------------------------------------------- predict
    def _iter_members(self, X):
        """Yield ``(rows, Q)`` with member outputs Q of shape (K, rows, t) in y's units."""
        for rows, Q, _ in self._iter_predictive(X):
            yield rows, Q

    def _iter_predictive(self, X):
        """Yield ``(rows, Q, V)``: member means Q and noise variances V, shape (K, rows, t), in y's units.

        The batches of the last input of ``_prediction_cache.MIN_ROWS`` to
        ``MAX_ROWS`` rows are kept, read-only, and yielded again for the same
        input (see :mod:`skrpf._prediction_cache`).
        """
        X = self._standardised_input(X)
        key = cache_key(self.ensemble_, X, getattr(self, "predict_batch_size", None) or PREDICT_BATCH_ROWS)
        cached = getattr(self, "_predictive_cache", None)
        if key is not None and cached is not None and cached[0] == key:
            yield from cached[1]
            return
        if key is None:
            yield from self._iter_standardised(X)
            return
        parts = frozen(list(self._iter_standardised(X)))
        self._predictive_cache = (key, parts)
        yield from parts

    def _iter_standardised(self, X):
        """:meth:`_iter_predictive` on inputs already standardised and validated."""
        # PREDICT_BATCH_ROWS is read here, at call time, so that it can be patched.
        for rows, x in self._row_batches(X, PREDICT_BATCH_ROWS):
            if self.noise_model_ == "heteroscedastic":
                out, variance = split_mean_variance(self.ensemble_(x))
                prior = self.ensemble_.prior_term(x)
                out = out if prior is None else out + prior
                # Rounded to float32 like the means below, for the same reason.
                variance = round_to_float32(variance) * self._y_scale**2
            else:
                out = self.ensemble_.predict_members(x)
                # A real array: np.broadcast_to costs ~10 us a call, most of a one-row call's share.
                variance = np.empty((out.shape[0], out.shape[1], self.n_outputs_))
                variance[...] = self._noise_var
            # Matrix kernels sum in an order that depends on how many rows
            # they get, so a row's float32 result would change with the
            # batch it is predicted in. Computed in float64, the rows differ
            # by ~1e-16 relative; rounded to float32 (the precision the
            # members were trained in) they agree bit for bit, except in the
            # ~1e-8 chance that a value lies on a rounding boundary.
            out = round_to_float32(out)
            check_finite_output(out)
            yield rows, out * self._y_scale + self._y_mean, variance

    def _squeeze(self, array, axis):
        return np.squeeze(array, axis=axis) if self.n_outputs_ == 1 else array

    def predict_members(self, X):
        """Every member's prediction.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        members : ndarray of shape (n_estimators, n_samples) or (n_estimators, n_samples, n_targets)
            Member ``k``'s prediction ``Q_k(x)``, in the units of y. Where the
            evidence fitted the prior (small data), the members are shrunk
            toward their mean wherever their spread would exceed the priors'
            standard deviation (a posterior's never exceeds its prior's), so
            that their mean and spread are always ``predict``'s.
        """
        parts = [Q for _, Q in self._iter_members(X)]
        n_members = self.ensemble_.n_members
        members = np.concatenate(parts, axis=1) if parts else np.empty((n_members, 0, self.n_outputs_))
        return self._squeeze(members, axis=2)

    def predict(
        self,
        X,
        return_std=False,
        return_cov=False,
        return_mean_grad=False,
        return_std_grad=False,
        *,
        include_noise=True,
    ):
        """Predict with the ensemble mean, and optionally the predictive spread and gradients.

        The signature and return values are those of
        :meth:`skopt.learning.GaussianProcessRegressor.predict`, so that the
        estimator can be a ``base_estimator`` of scikit-optimize, whose
        acquisition functions then optimise with L-BFGS on these gradients.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_std : bool, default=False
            Also return the standard deviation of the predictive distribution
            of y: the mixture of the members, ``sqrt(mean of the member noise
            variances + variance of the member means)`` (``ddof=0``).
        return_cov : bool, default=False
            Also return the covariance of the predictive distribution across
            the rows of X: the covariance of the member means, plus the mean
            noise variance on the diagonal.
        return_mean_grad : bool, default=False
            Also return the gradient of the mean with respect to the row of
            X, in the units of y per unit of X. X must have one row.
        return_std_grad : bool, default=False
            Also return the gradient of the std (of the std returned, so
            with or without the noise as ``include_noise`` says) with respect
            to the row of X. Needs ``return_std=True``; X must have one row.
            It is 0 where the std is 0.
        include_noise : bool, default=True
            Include the observation noise (see ``noise``). False gives the
            model (epistemic) uncertainty alone: the spread of the members.
            No effect with ``noise="none"``. Keyword-only: skopt's signature
            puts the gradient flags in the fourth and fifth places.

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_targets)
        y_std : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Only with ``return_std=True``.
        y_cov : ndarray of shape (n_samples, n_samples) or (n_samples, n_samples, n_targets)
            Only with ``return_cov=True``.
        y_mean_grad : ndarray of shape (n_features,) or (n_features, n_targets)
            Only with ``return_mean_grad=True``.
        y_std_grad : ndarray of shape (n_features,) or (n_features, n_targets)
            Only with ``return_std_grad=True``.

        Raises
        ------
        RuntimeError
            If both ``return_std`` and ``return_cov`` are True.
        ValueError
            If a gradient is asked for X of more than one row, together with
            ``return_cov``, or ``return_std_grad`` without ``return_std``.

        Notes
        -----
        The gradients are exact derivatives of the members and priors in
        float64, the input and target standardisation included (by
        forward-mode differentiation for the usual MLPs on the CPU, by
        autograd otherwise). The values returned with them are computed in
        the same float64 pass: they differ from the call without gradients,
        which rounds the members to float32, by about 1e-7 relative, and
        agree with the gradients, as L-BFGS's line search needs. Where
        skopt's ``return_std_grad=True`` without ``return_mean_grad``
        silently drops the std gradient, here it is returned: the values
        come in the order above, each only if asked.
        """
        if return_std and return_cov:
            raise RuntimeError("At most one of return_std or return_cov can be requested.")
        checks.check_bool("include_noise", include_noise)
        if return_mean_grad or return_std_grad:
            return predict_with_gradients(
                self, X, return_std, return_cov, return_mean_grad, return_std_grad, include_noise
            )
        if return_cov:
            members, noise_var = self._predict_all(X)
            centred = members - members.mean(axis=0)
            cov = np.einsum("kit,kjt->ijt", centred, centred) / members.shape[0]
            if include_noise:
                rows = np.arange(cov.shape[0])
                cov[rows, rows] += noise_var.mean(axis=0)
            return self._squeeze(members.mean(axis=0), axis=1), self._squeeze(cov, axis=2)
        means, variances = [], []
        for _, Q, V in self._iter_predictive(X):
            # np.mean's and np.var's arithmetic (sum, then divide by K),
            # without their Python overhead: ~30 us of a one-row call.
            K = Q.shape[0]
            mean = Q.sum(axis=0) / K
            centred = Q - mean
            variance = (centred * centred).sum(axis=0) / K
            means.append(mean)
            variances.append(variance + V.sum(axis=0) / K if include_noise else variance)
        mean = np.concatenate(means) if means else np.empty((0, self.n_outputs_))
        if not return_std:
            return self._squeeze(mean, axis=1)
        std = np.sqrt(np.concatenate(variances)) if variances else np.empty((0, self.n_outputs_))
        return self._squeeze(mean, axis=1), self._squeeze(std, axis=1)

    def predict_noise_std(self, X):
        """Standard deviation of the observation noise at X, without model uncertainty.

        The root of the members' mean noise variance: 0 for ``noise="none"``,
        ``noise_std_`` on every row for ``"homoscedastic"``, input-dependent
        for ``"heteroscedastic"``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        noise_std : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        parts = [V.mean(axis=0) for _, _, V in self._iter_predictive(X)]
        noise_var = np.concatenate(parts) if parts else np.empty((0, self.n_outputs_))
        return self._squeeze(np.sqrt(noise_var), axis=1)

    def to_torch(self, include_noise=True) -> RandomizedPriorNetwork:
        """The fitted predictive distribution as a standalone :class:`torch.nn.Module`.

        The module holds a copy of the members and priors, with the input
        and target standardisation folded in: its ``forward`` maps raw
        inputs ``x`` of shape (batch, n_features) to ``(mean, std)`` in the
        units of y, each of shape (batch, n_targets), the values of
        ``predict(X, return_std=True, include_noise=include_noise)``,
        differentiable in ``x``. It can be exported with
        :func:`torch.export.export` and :func:`torch.onnx.export`, with a
        dynamic batch size, or traced with :func:`torch.jit.trace`.

        Parameters
        ----------
        include_noise : bool, default=True
            Whether the std includes the observation noise: the fitted noise
            variance for ``noise="homoscedastic"``, the members' own noise
            variances for ``"heteroscedastic"``.

        Returns
        -------
        network : skrpf.export.RandomizedPriorNetwork
            In eval mode, in float64, on the estimator's ``device``. Its
            ``members(x)`` gives every member's mean and noise variance.
            Later fits of the estimator do not change it.
        """
        check_is_fitted(self)
        checks.check_bool("include_noise", include_noise)
        checks.move_to_device("device", self.device, self.ensemble_)
        return _network_of(self, include_noise=include_noise)

    def _predict_all(self, X):
        """Member means and noise variances over all rows, each of shape (K, n, t)."""
        parts = list(self._iter_predictive(X))
        if not parts:
            empty = np.empty((self.ensemble_.n_members, 0, self.n_outputs_))
            return empty, empty
        means = np.concatenate([Q for _, Q, _ in parts], axis=1)
        return means, np.concatenate([V for _, _, V in parts], axis=1)

    def sample_y(self, X, n_samples=1, random_state=0, include_noise=True):
        """Draw from the predictive distribution, one member function per draw.

        Each draw is one member's prediction over all rows of X, so draws are
        coherent across rows, as Thompson sampling needs; with
        ``include_noise=True`` independent Gaussian observation noise (that
        member's noise variance) is added to every row, so that the draws
        follow the distribution described by ``predict``. Draws pick distinct
        members while ``n_samples <= n_estimators``; beyond that, members are
        drawn with replacement, so some functions repeat.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
        n_samples : int, default=1
            Number of functions to draw.
        random_state : int, RandomState instance or None, default=0
            Chooses the members and draws the noise, as in
            :meth:`~sklearn.gaussian_process.GaussianProcessRegressor.sample_y`.
        include_noise : bool, default=True
            Add the observation noise; False draws noise-free functions. No
            effect with ``noise="none"``.

        Returns
        -------
        y_samples : ndarray of shape (n_samples_X, n_samples) or (n_samples_X, n_targets, n_samples)
        """
        checks.check_int("n_samples", n_samples, minimum=1)
        checks.check_bool("include_noise", include_noise)
        rng = check_random_state(random_state)
        n_members = self.ensemble_.n_members
        chosen = rng.choice(n_members, size=n_samples, replace=n_samples > n_members)
        members, noise_var = self._predict_all(X)
        draws = members[chosen]  # (n_samples, n, t)
        if include_noise and self.noise_model_ != "none":
            draws = draws + np.sqrt(noise_var[chosen]) * rng.standard_normal(draws.shape)
        return self._squeeze(np.moveaxis(draws, 0, -1), axis=1)
