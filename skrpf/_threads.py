"""How many torch threads the estimator uses.

On small work a second thread saves nothing, and on a machine whose cores
are busy with other work, OpenMP threads that spin-wait for a core can make
a fit ten to forty times slower (the test suite took 600 s instead of 40 s
on two busy cores, with identical results). ``n_threads="auto"`` therefore
runs fits on data of up to ``SMALL_WORK_MAX_ROWS`` rows on
one thread, and leaves torch's setting alone beyond.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from threadpoolctl import threadpool_limits

#: Training rows up to which ``n_threads="auto"`` fits on one thread: ten
#: 2x50 MLPs on 2,000 rows are small work for a second core.
SMALL_WORK_MAX_ROWS = 2000


def resolve_threads(n_threads, n_samples: int) -> int | None:
    """The thread count for ``n_threads`` ("auto", None or an int); None leaves torch's setting."""
    if n_threads is None:
        return None
    if n_threads == "auto":
        return 1 if n_samples <= SMALL_WORK_MAX_ROWS else None
    return int(n_threads)


@contextmanager
def torch_threads(n_threads: int | None):
    """Run a block with ``n_threads`` torch and BLAS threads, then restore the previous counts.

    torch's thread count is global to the process: two estimators used from
    two Python threads at once may see each other's setting, which changes
    speed, never results.
    """
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    # numpy's BLAS (the evidence's linear algebra) spins up threads of its own.
    with threadpool_limits(limits=n_threads, user_api="blas"):
        if n_threads == previous:
            yield
            return
        torch.set_num_threads(n_threads)
        try:
            yield
        finally:
            torch.set_num_threads(previous)
