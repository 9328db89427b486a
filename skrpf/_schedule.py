"""The default training schedule: enough optimizer steps for any data size.

A fixed number of epochs cannot suit both 20 and 50,000 samples: 20 points in
full batches make one step per epoch, 50,000 points in batches of 256 make
196. The ``"auto"`` schedule therefore fixes the number of optimizer *steps*
instead, and derives epochs from it.

The learning rate follows a cosine from ``lr`` down to 0 over those steps
(``lr_schedule="cosine"``): at a constant rate Adam's last iterates keep
jittering around the minimum; annealing lowered the test error most on
nearly noise-free data (see ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import math

from skorch.callbacks import LRScheduler
from torch.optim.lr_scheduler import CosineAnnealingLR

#: Batch size used by ``batch_size="auto"`` once the data exceed it.
AUTO_BATCH_SIZE = 256
#: Optimizer steps targeted by ``max_epochs="auto"``.
AUTO_STEPS = 2000
#: Epochs of ``max_epochs="auto"`` under L-BFGS: 4 steps of up to 20
#: iterations each; L-BFGS stops earlier once the loss no longer changes.
#: Chosen on small problems of our own (1-D to 6-D, 10-40 rows, 4 designs
#: each): against 8 steps the median test NLL moved by at most 0.03 nats
#: (either way) and the fit cost 0-35% less; against 15 steps, 8 had cost up
#: to 40% less for at most 0.06 nats. The exact output-layer solve that
#: follows does much of the fitting.
AUTO_LBFGS_EPOCHS = 4
#: Bounds on the number of epochs chosen by ``max_epochs="auto"``.
AUTO_MIN_EPOCHS, AUTO_MAX_EPOCHS = 10, 2000
#: Accepted values of the ``lr_schedule`` parameter.
LR_SCHEDULES = ("cosine", "constant")


def resolve_batch_size(batch_size, n_samples: int, full_batch: bool = False) -> int:
    """Turn ``batch_size`` ("auto", None for full batch, or an int) into a number of rows.

    ``full_batch`` makes ``"auto"`` mean the whole data set, as L-BFGS needs.
    """
    if batch_size is None or (batch_size == "auto" and full_batch):
        return n_samples
    if batch_size == "auto":
        return min(n_samples, AUTO_BATCH_SIZE)
    return min(int(batch_size), n_samples)


def resolve_max_epochs(max_epochs, n_samples: int, batch_size: int, lbfgs: bool = False) -> int:
    """Turn ``max_epochs`` ("auto" or an int) into a number of epochs.

    ``"auto"`` gives ``ceil(AUTO_STEPS / steps_per_epoch)`` epochs, kept
    within ``[AUTO_MIN_EPOCHS, AUTO_MAX_EPOCHS]``: 2,000 epochs for 20 points
    in one batch, 11 epochs for 50,000 points in batches of 256. With
    ``lbfgs``, an epoch is one L-BFGS step of up to 20 iterations, and
    ``"auto"`` gives ``AUTO_LBFGS_EPOCHS``.
    """
    if max_epochs != "auto":
        return int(max_epochs)
    if lbfgs:
        return AUTO_LBFGS_EPOCHS
    steps_per_epoch = math.ceil(n_samples / batch_size)
    epochs = math.ceil(AUTO_STEPS / steps_per_epoch)
    return max(AUTO_MIN_EPOCHS, min(AUTO_MAX_EPOCHS, epochs))


def lr_schedule_callbacks(lr_schedule: str, max_epochs: int, n_samples: int, batch_size: int) -> list:
    """skorch callbacks that implement ``lr_schedule`` over the whole fit.

    ``"cosine"`` anneals the learning rate of every parameter group from its
    initial value to 0 along half a cosine, one step per optimizer step
    (``max_epochs * ceil(n_samples / batch_size)`` in all); ``"constant"``
    needs no callback.
    """
    if lr_schedule == "constant":
        return []
    total_steps = max_epochs * math.ceil(n_samples / batch_size)
    # event_name=None: no per-batch learning-rate entries in the history.
    schedule = LRScheduler(CosineAnnealingLR, T_max=total_steps, step_every="batch", event_name=None)
    return [("lr_schedule", schedule)]
