"""The skorch side of training: data set, batch iterator, loss and net.

The whole ensemble is trained by one :class:`EnsembleNet`, a
:class:`skorch.NeuralNet` around a :class:`~skrpf._ensemble.RandomizedPriorEnsemble`.
Each mini-batch carries, for the rows it holds, the inputs ``x`` (shared by
all members) and, per member, the regression target and the bootstrap weight:

* ``targets[i, k] = y_i + sigma * eps_ki - beta * p_k(x_i)`` -- the prior is
  frozen, so its contribution is folded into the target once, before training;
* ``weights[i, k] = bootstrap_ki * sample_weight_i``.

The loss of a batch B is, summed over members,

    (1 / |B|) * sum_{i in B} w_ki * ||targets_ki - f_k(x_i)||^2 + (alpha / n) * ||theta_k||^2,

an unbiased estimate of ``(1/n)`` times the objective documented on
:class:`~skrpf.RandomizedPriorRegressor`, so mini-batching keeps its minimiser.
"""

from __future__ import annotations

import inspect
import math

import torch
from skorch import NeuralNet
from skorch.callbacks import EpochTimer, PassthroughScoring, PrintLog
from torch import nn
from torch.torch_version import TorchVersion

from ._progress import TrainingProgress


class EnsembleDataset(torch.utils.data.Dataset):
    """Inputs shared by all members, with per-member targets and weights.

    Targets and weights are stored row by row, the K members' values of a
    row side by side: a shuffled mini-batch then gathers one short
    contiguous run per row instead of K scattered values, which on large
    training sets (more rows than the caches hold) saves half the gather's
    time. Batches come out member-first, as the ensemble's outputs.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
    targets : torch.Tensor of shape (n_samples, n_members, n_outputs)
    weights : torch.Tensor of shape (n_samples, n_members)
    """

    def __init__(self, X: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor):
        self.X = X
        self.targets = targets
        self.weights = weights

    def __len__(self) -> int:
        return self.X.shape[0]

    def __getitem__(self, index):
        return self.__getitems__([index])

    def __getitems__(self, indices):
        """Gather a whole batch with three tensor indexing operations.

        Returns ``X[idx]`` and the member-first ``(targets (K, B, t), weights (K, B))``.
        """
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.X.device)
        return self.X[idx], _member_first(self.targets[idx], self.weights[idx])

    def all_rows(self):
        """The whole data set as one batch, like :meth:`__getitems__` of every row in order."""
        return self.X, _member_first(self.targets, self.weights)


def _member_first(targets: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-by-row targets (B, K, t) and weights (B, K) as contiguous (K, B, t) and (K, B).

    Contiguous, not transposed views: the loss gradient then comes out
    member-first, and each member's bias gradient sums its own contiguous
    run of rows. Summed across a strided member axis, the reduction's order
    depended on the number of members, so a chunk of members (``n_jobs``)
    got other float32 bits than the same members in the whole stack.
    """
    return targets.transpose(0, 1).contiguous(), weights.t().contiguous()


class BatchIterator:
    """Shuffled mini-batches of an :class:`EnsembleDataset`, without DataLoader overhead.

    Each batch is built by :meth:`EnsembleDataset.__getitems__` from a slice
    of one random permutation per epoch; no per-sample Python runs. The
    permutation comes from a private, seeded generator, so shuffling is
    reproducible and never touches torch's global random state.

    Parameters
    ----------
    dataset : EnsembleDataset
    batch_size : int
    shuffle : bool, default=True
    seed : int, default=0
    """

    def __init__(self, dataset: EnsembleDataset, batch_size: int, shuffle: bool = True, seed: int = 0):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        if self.batch_size >= n:
            # One full batch: its order does not change the loss, and the
            # data can be used as is, without a gather copy.
            yield self.dataset.all_rows()
            return
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.dataset.X.device)
        for start in range(0, n, self.batch_size):
            yield self.dataset.__getitems__(order[start : start + self.batch_size])


class WeightedSquaredError(nn.Module):
    """Bootstrap-weighted squared error, summed over members and outputs, averaged over the batch."""

    def forward(self, prediction: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Loss of predictions and targets of shape (K, B, t) with weights (K, B)."""
        squared = (targets - prediction).square().sum(dim=-1)
        return (weights * squared).sum() / prediction.shape[1]


class EnsembleNet(NeuralNet):
    """skorch net that trains every member of the ensemble in one pass.

    Parameters
    ----------
    module : torch.nn.Module
        Maps a batch (B, d) to member outputs (K, B, t).
    alpha : float, default=0.0
        L2 penalty on the trainable parameters, in the units of the summed
        objective; it is divided by ``n_train`` to match the batch loss scale.
    n_train : int, default=1
        Number of training samples.
    max_grad_norm : float or None, default=None
        Clip each member's gradient to this norm at every step (per member,
        so that one member's large gradient never slows down the others).
    **kwargs
        Passed on to :class:`skorch.NeuralNet`.
    """

    def __init__(self, module, *args, alpha=0.0, n_train=1, max_grad_norm=None, **kwargs):
        kwargs.setdefault("criterion", WeightedSquaredError)
        kwargs.setdefault("train_split", None)  # never hold out data silently
        kwargs.setdefault("iterator_train", BatchIterator)
        if "optimizer__foreach" not in kwargs and "optimizer__fused" not in kwargs:
            if _has_fused_update(kwargs.get("optimizer"), kwargs.get("device", "cpu")):
                # One kernel per parameter for the whole update: on the CPU,
                # Adam's step then costs about a third of the multi-tensor one's.
                kwargs["optimizer__fused"] = True
            elif _accepts_foreach(kwargs.get("optimizer")):
                # torch picks the multi-tensor update only on GPUs; on CPUs it
                # still saves a Python loop over the parameters at every step.
                kwargs["optimizer__foreach"] = True
        super().__init__(module, *args, **kwargs)
        self.alpha = alpha
        self.n_train = n_train
        self.max_grad_norm = max_grad_norm

    @property
    def _default_callbacks(self):
        # skorch's defaults add validation scoring and a per-epoch table; we
        # train without a hold-out, and show progress only when asked:
        # verbose=1 one bar over the whole fit, verbose=2 skorch's table.
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
        ]
        if self.verbose == 1:
            callbacks.append(("progress", TrainingProgress()))
        elif self.verbose:
            callbacks.append(("print_log", PrintLog()))
        return callbacks

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train, closing any progress bar even when a step raises.

        skorch calls ``on_train_end`` after an interrupt but not after an
        error, which would leave the bar open and a half-drawn line behind.
        """
        try:
            return super().partial_fit(X, y, classes, **fit_params)
        finally:
            for _, callback in getattr(self, "callbacks_", []):
                if isinstance(callback, TrainingProgress):
                    callback.close()

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's training loop; records in ``interrupted_`` whether a ``KeyboardInterrupt`` ended it.

        skorch's ``partial_fit`` swallows the interrupt; the flag lets the
        estimator stop what else it would train (a second candidate).
        """
        self.interrupted_ = False
        try:
            return super().fit_loop(X, y, epochs, **fit_params)
        except KeyboardInterrupt:
            self.interrupted_ = True
            raise

    def _penalized_parameters(self) -> list[torch.Tensor]:
        return [p for p in self.module_.parameters() if p.requires_grad]

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Criterion of the batch plus the scaled L2 penalty.

        The penalty enters the value only: its gradient, ``2 (alpha / n) theta``,
        is added by :meth:`train_step_single` after ``backward``, with one
        multi-tensor operation instead of a dozen autograd nodes per step.
        """
        targets, weights = y_true
        loss = self.criterion_(y_pred, targets, weights)
        if self.alpha > 0:
            with torch.no_grad():
                norms = torch._foreach_norm(self._penalized_parameters())
                penalty = torch.stack(norms).square().sum()
            loss = loss + (self.alpha / self.n_train) * penalty
        return loss

    def train_step_single(self, batch, **fit_params):
        """Loss and gradients of one batch, the L2 penalty's gradient included."""
        step = super().train_step_single(batch, **fit_params)
        if self.alpha > 0:
            add_l2_gradient_(self._penalized_parameters(), 2 * self.alpha / self.n_train)
        return step

    def train_step(self, batch, **fit_params):
        """One optimizer step, stopping fit at once if the loss is not finite."""
        step = super().train_step(batch, **fit_params)
        loss = step["loss"].item()  # one call; torch.isfinite and bool() cost twenty times more
        if not math.isfinite(loss):
            epoch = len(self.history)
            raise FloatingPointError(
                f"The training loss became {loss} in epoch {epoch}. "
                "Try a smaller lr, normalize_y=True, scaled inputs (normalize_X=True), "
                "or gradient clipping with max_grad_norm."
            )
        return step

    def _step_optimizer(self, step_fn):
        if self.max_grad_norm is None:
            return super()._step_optimizer(step_fn)

        def clipped_step():
            loss = step_fn()
            if isinstance(self.module_, _AddMemberAxis):
                # One member of vectorize=False: its parameters have no member axis.
                torch.nn.utils.clip_grad_norm_(self.module_.parameters(), self.max_grad_norm)
            else:
                clip_member_grad_norm_(self.module_.parameters(), self.max_grad_norm)
            return loss

        return super()._step_optimizer(clipped_step)


class _AddMemberAxis(nn.Module):
    """Wrap one network so that its output has the ensemble's (1, batch, out) shape."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x):
        return self.network(x).unsqueeze(0)


def was_interrupted(net) -> bool:
    """Whether a ``KeyboardInterrupt`` ended the training of the skorch net, or of one of a list of nets."""
    nets = net if isinstance(net, list) else [net]
    return any(getattr(one, "interrupted_", False) for one in nets)


def fit_one_by_one(members, dataset, net_kwargs, verbose, first_member=0, n_members=None) -> list:
    """The literal path: each member is its own skorch net, fit in turn, in place.

    Parameters
    ----------
    members : sequence of torch.nn.Module
        The members to train (those of a :class:`~skrpf._ensemble.LoopStack`).
    dataset : EnsembleDataset
        Targets and weights of these members, in their order.
    net_kwargs : dict
        Passed to every :class:`EnsembleNet`.
    verbose : int
        With 1, each member's progress bar is labelled with its number.
    first_member, n_members : int
        The number of the first member and the size of the whole ensemble,
        for the labels when ``members`` is a chunk of it.
    """
    nets = []
    total = len(members) if n_members is None else n_members
    for k, member in enumerate(members):
        member_data = EnsembleDataset(dataset.X, dataset.targets[:, k : k + 1], dataset.weights[:, k : k + 1])
        kwargs = dict(net_kwargs)
        if verbose == 1:
            # One bar per member, labelled, since each member is its own fit.
            kwargs["callbacks__progress__desc"] = f"member {first_member + k + 1}/{total}"
        nets.append(EnsembleNet(_AddMemberAxis(member), **kwargs).fit(member_data, None))
    return nets


def clip_member_grad_norm_(parameters, max_norm: float) -> None:
    """Rescale each member's gradient to a norm of at most ``max_norm``, in place.

    Every trainable tensor of the ensemble has the member axis first, so the
    norm of member ``k`` sums the squares of ``grad[k]`` over all tensors.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    squared = sum(g.flatten(1).square().sum(dim=1) for g in grads)
    scale = (max_norm / (squared.sqrt() + 1e-12)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))


def add_l2_gradient_(parameters: list[torch.Tensor], scale: float) -> None:
    """Add ``scale * p`` to the gradient of every parameter ``p``, in place."""
    with torch.no_grad():
        with_grad = [p for p in parameters if p.grad is not None]
        if with_grad:
            grads: list[torch.Tensor] = [p.grad for p in with_grad]  # type: ignore[misc]
            torch._foreach_add_(grads, with_grad, alpha=scale)
        for p in parameters:
            if p.grad is None:  # not reached by the data term: the penalty alone
                p.grad = scale * p.detach()


#: Optimizers whose ``fused=True`` update runs on CPUs (torch >= 2.4) and CUDA GPUs.
_FUSED_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW)


def _has_fused_update(optimizer, device) -> bool:
    """Whether ``optimizer(fused=True)`` is available for parameters on ``device``."""
    if optimizer not in _FUSED_OPTIMIZERS:
        return False
    device_type = torch.device(device).type
    if device_type == "cuda":
        return True
    return device_type == "cpu" and TorchVersion(torch.__version__) >= "2.4"


def _accepts_foreach(optimizer) -> bool:
    """Whether the optimizer class takes a ``foreach`` argument (Adam, AdamW, SGD, ...)."""
    try:
        return "foreach" in inspect.signature(optimizer).parameters
    except (TypeError, ValueError):
        return False
