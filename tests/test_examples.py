"""Every gallery example, and the demo, runs against the current API, so none can rot unnoticed.

The documentation build renders the examples with their full training
schedules; here only their code is under test, so every fit is cut to at
most 100 epochs to keep the whole module fast. The figures' content is
checked by eye when the docs are built, not here.
"""

import runpy
from pathlib import Path

import matplotlib
import pytest
import torch

import skrpf._regressor

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("plot_*.py"))


def test_the_gallery_is_not_empty():
    # A moved examples/ directory would otherwise leave the test below with
    # no cases, and pass.
    assert len(EXAMPLES) >= 5


@pytest.fixture
def one_torch_thread():
    # Tiny networks: a second intra-op thread only adds synchronisation, and
    # on a busy machine its spinning made the examples ten times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_and_draws(path, monkeypatch, one_torch_thread):
    # The examples fit for up to 2,000 epochs of Adam, "auto" or explicit
    # (under L-BFGS, "auto" is 8 steps): 100 are enough to exercise every line.
    resolve_max_epochs = skrpf._regressor.resolve_max_epochs
    monkeypatch.setattr(
        skrpf._regressor,
        "resolve_max_epochs",
        lambda *args, **kwargs: min(resolve_max_epochs(*args, **kwargs), 100),
    )
    shown = []

    def show(*args, **kwargs):
        shown.extend(plt.figure(number) for number in plt.get_fignums())
        plt.close("all")

    monkeypatch.setattr(plt, "show", show)
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        plt.close("all")
    assert shown, f"{path.name} showed no figure"
    for figure in shown:
        assert any(ax.has_data() for ax in figure.axes), f"{path.name} showed an empty figure"


def test_the_demo_runs_and_writes_its_figure(tmp_path, capsys, one_torch_thread):
    from skrpf.__main__ import main

    output = tmp_path / "demo.png"
    assert main(["--output", str(output), "--n-estimators", "3"]) == 0
    assert output.stat().st_size > 0
    printed = capsys.readouterr().out
    # On twenty rows the defaults are fitted, and the summary says so.
    assert "fitted by the marginal likelihood" in printed
    assert "mean std in the gap" in printed
