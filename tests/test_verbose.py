"""What fit shows at each verbosity: nothing, one progress bar, or skorch's epoch table."""

import re

import numpy as np
import pytest
from skorch.callbacks import Callback

from skrpf import MLP, RandomizedPriorRegressor

# 30 rows in batches of 8: 4 batches an epoch, 5 epochs, 20 optimizer steps.
X = np.linspace(-1, 1, 30).reshape(-1, 1)
y = np.sin(3 * X).ravel()
STEPS = 20


def _model(**params):
    defaults = dict(
        module=MLP(hidden_layer_sizes=(8,)), n_estimators=2, max_epochs=5, batch_size=8, random_state=0
    )
    return RandomizedPriorRegressor(**{**defaults, **params})


def _last_frame(stderr: str) -> str:
    """The bar as a terminal shows it at the end: tqdm redraws its line after each carriage return."""
    return stderr.rstrip("\n").split("\r")[-1]


def test_verbose_0_is_silent(capsys):
    _model(verbose=0).fit(X, y)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_verbose_1_draws_one_bar_over_every_step_of_the_fit(capsys):
    _model(verbose=1).fit(X, y)
    captured = capsys.readouterr()
    assert captured.out == ""  # no epoch table
    assert "epoch" not in captured.err
    assert captured.err.endswith("\n")  # the bar was closed
    last = _last_frame(captured.err)
    assert last.startswith("fit: 100%")
    assert f" {STEPS}/{STEPS} " in last
    assert "step/s" in last  # the rate
    assert re.search(r"train_loss=[0-9.e+-]+", last)
    # One bar: a single line, redrawn in place.
    assert captured.err.count("\n") == 1


def test_verbose_1_without_vectorization_draws_one_bar_per_member(capsys):
    _model(verbose=1, vectorize=False).fit(X, y)
    lines = capsys.readouterr().err.rstrip("\n").split("\n")
    assert [_last_frame(line).split(":")[0] for line in lines] == ["member 1/2", "member 2/2"]
    assert all(f" {STEPS}/{STEPS} " in _last_frame(line) for line in lines)


class RaiseAfter(Callback):
    """Raise ``error`` at the end of the given epoch; KeyboardInterrupt is what Ctrl-C raises."""

    def __init__(self, epoch, error):
        self.epoch = epoch
        self.error = error

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise self.error


def test_an_interrupted_fit_closes_its_bar_where_training_stopped(capsys):
    _model(verbose=1, callbacks=[RaiseAfter(2, KeyboardInterrupt)]).fit(X, y)
    captured = capsys.readouterr()
    assert captured.err.endswith("\n")
    assert f" 8/{STEPS} " in _last_frame(captured.err)


def test_a_failing_fit_closes_its_bar(capsys):
    # skorch does not call on_train_end after an error; the net closes the bar.
    with pytest.raises(RuntimeError, match="boom"):
        _model(verbose=1, callbacks=[RaiseAfter(3, RuntimeError("boom"))]).fit(X, y)
    captured = capsys.readouterr()
    assert captured.err.endswith("\n")
    assert f" 12/{STEPS} " in _last_frame(captured.err)


def test_verbose_2_prints_skorchs_epoch_table(capsys):
    _model(verbose=2).fit(X, y)
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0].split() == ["epoch", "train_loss", "dur"]
    assert len(lines) == 2 + 5  # header, rule, one line per epoch
    assert captured.err == ""


@pytest.mark.parametrize("verbose", [-1, 3, True, 1.0, "1", None])
def test_other_verbose_values_are_refused(verbose):
    with pytest.raises(ValueError, match=r"verbose must be an integer from 0 to 2; got"):
        _model(verbose=verbose).fit(X, y)


def test_verbose_1_names_the_members_of_each_candidate(capsys):
    # On 201 to 10,000 rows the defaults train ReLU and SiLU members, then
    # heteroscedastic members of the activation kept: one bar each,
    # labelled, so that three bars do not read as one fit thrice.
    X_large = np.linspace(-1, 1, 300).reshape(-1, 1)
    model = RandomizedPriorRegressor(n_estimators=2, max_epochs=2, verbose=1, random_state=0).fit(
        X_large, np.sin(3 * X_large).ravel()
    )
    lines = capsys.readouterr().err.rstrip("\n").split("\n")
    labels = [line.split("\r")[-1].split(":")[0] for line in lines]
    assert labels == [
        "fit (relu members)",
        "fit (silu members)",
        f"fit ({model.activation_} heteroscedastic members)",
    ]
