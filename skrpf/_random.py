"""Seeds and private random streams, shared by fitting and loading.

Nothing here changes the caller's global numpy or torch random state.
"""

from __future__ import annotations

from contextlib import contextmanager
from numbers import Integral

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = ["private_torch_rng", "resolve_seed"]


@contextmanager
def private_torch_rng(seed: int, device):
    """Run a block with torch's global generators seeded, then restore them.

    Module initialisation and dropout draw from torch's global generator;
    forking it keeps fit reproducible without changing the caller's state.
    """
    devices = []
    if torch.device(device).type == "cuda":
        devices = [torch.device(device).index or 0]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def resolve_seed(random_state) -> int:
    """An integer seed from ``random_state`` without touching numpy's global RNG."""
    if random_state is None:
        # Fresh OS entropy: nondeterministic, as asked, but the global
        # numpy generator is left alone.
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
