"""Members trained in parallel: chunks of the ensemble as joblib tasks.

With ``n_jobs > 1`` the K members are dealt, in order, into
``min(K, effective n_jobs)`` contiguous chunks; each chunk trains as a
vectorized stack of its own in one :class:`joblib.Parallel` task, and the
trained chunks are copied back into the ensemble, which then predicts as
after a fit in one stack. joblib's active backend carries the tasks: loky
processes by default, or dask, ray or any other backend selected with
:func:`joblib.parallel_config`.

Why the results do not depend on the chunking: every random draw of a fit
is made in the parent, for the whole ensemble, before the chunks are cut --
the members' and priors' initialisation, the bootstrap weights, the target
noise and the prior terms folded into the targets. A chunk receives its
members' slice of each, and every chunk shuffles the rows with the same seed,
as the whole stack would. The training step of a member then depends on its
own slice only: the loss is a sum over members, Adam's update and the L2
penalty are per parameter and gradient clipping is per member. The float32
bits are the same too where each stack trains on one thread (see
:data:`ALIGNED_MEMBERS` and :func:`~skrpf._training._member_first` for what
that took); torch's multi-threaded kernels split their sums by the thread
count and the stack's size, so with more threads per stack the results
agree to float32 rounding instead. Two cases keep the whole ensemble in one
stack, trained in the calling process as with ``n_jobs=1``: L-BFGS (the
small-data optimizer), whose line search and curvature history span all
members' parameters at once, and ensembles too small to split.

Threads: each task runs with the thread count ``n_threads`` gives in the
calling process where that is a number (an integer; ``"auto"`` on small
data: 1), else with ``max(1, joblib.cpu_count() // n_chunks)``: several
torch processes with two threads each on two cores ran about 20 times
slower.
"""

from __future__ import annotations

import copy
from numbers import Integral
from typing import Any, cast

import joblib
import numpy as np
import torch
from torch import nn

from ._ensemble import LoopStack
from ._random import private_torch_rng
from ._threads import resolve_threads, torch_threads
from ._training import EnsembleDataset, EnsembleNet, fit_one_by_one

__all__ = ["check_n_jobs", "member_chunks", "train_members"]


def check_n_jobs(n_jobs) -> None:
    """Raise ValueError unless ``n_jobs`` is None or a non-zero integer (scikit-learn's convention)."""
    valid = n_jobs is None or (isinstance(n_jobs, Integral) and not isinstance(n_jobs, bool) and n_jobs != 0)
    if not valid:
        raise ValueError(
            "n_jobs must be None, a positive integer (the number of parallel jobs) or a negative one "
            f"(-1: all cores, -2: all but one, ...); got {n_jobs!r}. Use None or 1 to train in this process."
        )


#: Members per block of a chunk of a vectorized stack: chunks start at
#: multiples of it. torch's CPU allocator aligns tensors to 64 bytes, and
#: matrix kernels sum in an order that depends on an operand's alignment
#: (a batched product on 3 input features gave other float32 bits for every
#: odd member of a slice than for the same member in the whole stack). With
#: the member axis first, member k of a chunk starting at a multiple of 16
#: sits at the alignment (mod 64 bytes) it has in the whole stack, in every
#: float32 or float64 tensor of the step, so it computes the same bits.
ALIGNED_MEMBERS = 16


def member_chunks(n_members: int, n_jobs, block: int = ALIGNED_MEMBERS) -> list[np.ndarray]:
    """The members' indices in at most ``effective n_jobs`` contiguous chunks, in order.

    Chunks are made of whole blocks of ``block`` members (the last block may
    be shorter), dealt so that the largest chunk is as small as possible.
    """
    n_blocks = -(-n_members // block)
    n_chunks = max(1, min(n_blocks, joblib.effective_n_jobs(n_jobs)))
    # Block boundaries where the running member count best meets equal shares.
    ends = np.minimum(np.arange(1, n_blocks + 1) * block, n_members)
    cuts = {0, n_members}
    for share in range(1, n_chunks):
        target = share * n_members / n_chunks
        cuts.add(int(ends[np.argmin(np.abs(ends - target))]))
    bounds = sorted(cuts)
    return [np.arange(start, stop) for start, stop in zip(bounds[:-1], bounds[1:])]


def _couples_members(optimizer) -> bool:
    """Whether the optimizer's step for one member depends on the others (L-BFGS's line search)."""
    return isinstance(optimizer, type) and issubclass(optimizer, torch.optim.LBFGS)


def worker_threads(n_threads, n_samples: int, n_workers: int) -> int:
    """Torch threads per task: as in this process where that is a number, else the cores shared out."""
    threads = resolve_threads(n_threads, n_samples)
    if threads is not None:
        return threads
    return max(1, joblib.cpu_count() // max(1, n_workers))


def train_members(ensemble, dataset, net_kwargs, *, vectorize, verbose, n_jobs, n_threads):
    """Train the ensemble's members in place; return the skorch net, or the list of nets.

    With ``n_jobs`` None or 1, or when the members cannot be trained apart
    (see the module docstring), one :class:`EnsembleNet` trains the whole
    ensemble in this process (``vectorize=False``: one net per member, in
    turn). Otherwise the chunks train in joblib tasks and the returned list
    holds each chunk's net (``vectorize=False``: each member's), in member
    order.
    """
    K = ensemble.n_members
    if _couples_members(net_kwargs.get("optimizer")):
        chunks = [np.arange(K)]
    else:
        # Members trained one by one share no tensor: any chunk boundary keeps their bits.
        chunks = member_chunks(K, n_jobs, block=ALIGNED_MEMBERS if vectorize else 1)
    if len(chunks) == 1:
        if vectorize:
            return EnsembleNet(ensemble, **net_kwargs).fit(dataset, None)
        return fit_one_by_one(ensemble.members.members, dataset, net_kwargs, verbose)
    threads = worker_threads(n_threads, len(dataset), len(chunks))
    # One seed from the fit's private torch stream for the randomness drawn
    # while training (dropout): each chunk's comes from it and its first member.
    base_seed = int(torch.randint(2**31 - 1, (1,)).item())
    tasks = (
        joblib.delayed(_train_chunk)(
            take_members(ensemble.members, chunk),
            EnsembleDataset(dataset.X, dataset.targets[:, chunk], dataset.weights[:, chunk]),
            # Each chunk its own callbacks (learning-rate schedules hold state),
            # also under a thread backend that shares this process's objects.
            {**net_kwargs, "callbacks": copy.deepcopy(net_kwargs.get("callbacks"))},
            vectorize=vectorize,
            verbose=verbose,
            threads=threads,
            seed=int(np.random.SeedSequence([base_seed, int(chunk[0])]).generate_state(1)[0]),
            first_member=int(chunk[0]),
            n_members=K,
        )
        for chunk in chunks
    )
    results = joblib.Parallel(n_jobs=len(chunks))(tasks)
    nets: list = []
    for chunk, (trained, net) in zip(chunks, results):
        put_members_(ensemble.members, chunk, trained)
        nets.extend(net if isinstance(net, list) else [net])
    return nets


def _train_chunk(members, dataset, net_kwargs, *, vectorize, verbose, threads, seed, first_member, n_members):
    """One joblib task: train a chunk of members; return them with their net(s)."""
    device = net_kwargs.get("device", "cpu")
    with torch_threads(threads), private_torch_rng(seed, device):
        if vectorize:
            net = EnsembleNet(members, **net_kwargs).fit(dataset, None)
        else:
            net = fit_one_by_one(members.members, dataset, net_kwargs, verbose, first_member, n_members)
    return members, net


def take_members(stack: nn.Module, indices: np.ndarray) -> nn.Module:
    """A copy of a member stack that holds only the members ``indices``.

    Every tensor of a vectorized stack carries the member axis first, so the
    copy holds the slices ``tensor[indices]``; it keeps the whole stack's
    member count for choosing its training path (see
    :class:`~skrpf._ensemble.BatchedSequential`), so that a chunk computes
    exactly what its members would compute in the whole stack.
    """
    if isinstance(stack, LoopStack):
        return LoopStack([stack.members[int(k)] for k in indices])  # copies them
    index = torch.as_tensor(indices, dtype=torch.long)
    memo: dict = {}
    for module in stack.modules():
        for name, tensor in [*module._parameters.items(), *module._buffers.items()]:
            if tensor is None:
                continue
            part = tensor.detach()[index.to(tensor.device)].clone()
            is_parameter = name in module._parameters
            memo[id(tensor)] = nn.Parameter(part, tensor.requires_grad) if is_parameter else part
    chunk: Any = copy.deepcopy(stack, memo)
    chunk.n_members = len(indices)
    chunk.dispatch_members = getattr(stack, "dispatch_members", stack.n_members)
    return chunk


def put_members_(stack: nn.Module, indices: np.ndarray, chunk: nn.Module) -> None:
    """Copy the trained members of ``chunk`` (from :func:`take_members`) back into ``stack``, in place."""
    if isinstance(stack, LoopStack):
        # The trained modules themselves, which the chunk's skorch nets hold too.
        trained = cast(nn.ModuleList, chunk.members)
        for position, k in enumerate(indices):
            stack.members[int(k)] = trained[position]
        return
    index = torch.as_tensor(indices, dtype=torch.long)
    targets = dict(stack.named_parameters()) | dict(stack.named_buffers())
    sources = dict(chunk.named_parameters()) | dict(chunk.named_buffers())
    with torch.no_grad():
        for name, tensor in targets.items():
            tensor[index.to(tensor.device)] = sources[name].to(tensor.device)
