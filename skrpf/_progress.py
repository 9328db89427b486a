"""A progress bar over the whole of a fit: what ``verbose=1`` shows.

skorch's own :class:`~skorch.callbacks.ProgressBar` draws one bar per epoch,
and its :class:`~skorch.callbacks.PrintLog` one line per epoch; the default
schedule of :class:`~skrpf.RandomizedPriorRegressor` runs about 2,000 steps,
which for small data sets means 2,000 epochs of one batch each. So
``verbose=1`` draws one bar over every optimizer step of the fit instead.
"""

from __future__ import annotations

import time

from skorch.callbacks import Callback
from tqdm import tqdm

__all__ = ["TrainingProgress"]


class TrainingProgress(Callback):
    """One tqdm bar over all optimizer steps of a fit, with the current training loss.

    The bar's total is ``max_epochs`` times the batches per epoch; it shows
    the steps done, the rate, the time left and the loss of the latest
    batch. Between two redraws a batch costs one clock read: the steps are
    counted, and the loss converted to a Python float, only when the bar is
    redrawn. The bar is closed at the end of training, also when training
    stops early (an interrupt, an early-stopping callback); after an error
    the net that owns it closes it (see :meth:`close`).

    Parameters
    ----------
    desc : str, default="fit"
        Label in front of the bar.
    mininterval : float, default=0.1
        Least number of seconds between two redraws (tqdm's default).
    file : file-like object or None, default=None
        Where the bar is written; None means ``sys.stderr``.
    """

    def __init__(self, desc: str = "fit", mininterval: float = 0.1, file=None):
        self.desc = desc
        self.mininterval = mininterval
        self.file = file

    def initialize(self):
        """Reset the state between fits; called by skorch when the net is initialised."""
        self.bar_ = None
        self._pending = 0
        self._loss = None
        self._last_draw = 0.0
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Open the bar, sized to every optimizer step the net is set to run."""
        self.close()
        # The bar counts the steps itself and is redrawn only from
        # on_batch_end (see there), so tqdm's own rate limits are turned off.
        self.bar_ = tqdm(
            total=_total_steps(net, X),
            desc=self.desc,
            unit="step",
            file=self.file,
            mininterval=0,
            miniters=1,
            dynamic_ncols=True,
        )
        self._last_draw = time.perf_counter()

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        """Count the step; redraw if ``mininterval`` seconds have passed since the last redraw."""
        if not training or self.bar_ is None:
            return
        self._pending += 1
        # A reference, not a float: the conversion waits for the next redraw.
        self._loss = loss
        now = time.perf_counter()
        if now - self._last_draw >= self.mininterval:
            self._draw()
            self._last_draw = now

    def on_train_end(self, net, X=None, y=None, **kwargs):
        """Draw the last steps and close the bar."""
        self.close()

    def close(self) -> None:
        """Draw the steps not yet shown and close the bar; a no-op without an open bar.

        skorch calls ``on_train_end`` after a complete fit and after an
        interrupt, but not when a step raises, so
        :class:`~skrpf._training.EnsembleNet` calls this in that case too.
        """
        if getattr(self, "bar_", None) is None:
            return
        if self._pending:
            self._draw()
        self.bar_.close()
        self.bar_ = None
        self._loss = None

    def _draw(self) -> None:
        if self._loss is not None:
            self.bar_.set_postfix_str(f"train_loss={self._loss.detach().item():.4g}", refresh=False)
        self.bar_.update(self._pending)
        self._pending = 0


def _total_steps(net, dataset) -> int | None:
    """``max_epochs`` times the batches of one epoch over ``dataset``, or None if unknown."""
    try:
        return int(net.max_epochs) * len(net.get_iterator(dataset, training=True))
    except TypeError:  # an iterator without a length
        return None
