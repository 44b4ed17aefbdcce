"""The pictures a one-shot search leaves: `curves.png` from its metrics log, and
`arch_weights.png` with its panels in the space's decision order (`nasdsl.search.plots`)."""
from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("torch")
pytest.importorskip("pytorch_lightning")

import nasdsl  # noqa: E402
from nasdsl.cli import main  # noqa: E402
from nasdsl.search import plots  # noqa: E402
from nasdsl.search.plots import epoch_metrics, panel_order, plot_curves  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def test_panel_order_follows_the_space_and_puts_unknown_labels_last():
    assert panel_order({"skip.1", "y.0", "y.1", "edge"}, ["y.0", "y.1", "skip.1", "y.2"]) == \
        ["y.0", "y.1", "skip.1", "edge"]
    assert panel_order({"b", "a"}, []) == ["a", "b"]
    assert panel_order(set(), ["y.0"]) == []


def test_epoch_metrics_merges_lightnings_train_and_val_rows(tmp_path):
    log = tmp_path / "metrics.csv"
    log.write_text("arch_entropy,epoch,step,train_acc,train_loss,val_acc,val_loss\n"
                   ",0,26,,,0.25,2.5\n1.5,0,26,0.125,2.75,,\n"
                   ",1,53,,,0.5,2.0\n1.25,1,53,0.375,2.25,,\n")
    assert epoch_metrics(log) == {
        0: {"arch_entropy": 1.5, "train_acc": 0.125, "train_loss": 2.75, "val_acc": 0.25, "val_loss": 2.5},
        1: {"arch_entropy": 1.25, "train_acc": 0.375, "train_loss": 2.25, "val_acc": 0.5, "val_loss": 2.0}}
    plot_curves(log, tmp_path / "curves.png", title="t")
    assert (tmp_path / "curves.png").read_bytes()[:8] == PNG
    assert not list(tmp_path.glob("*.tmp.png"))


def test_a_search_writes_curves_and_arch_weights_in_the_spaces_order(tmp_path, monkeypatch):
    seen = []

    def spy(labels, order):
        seen.append(panel_order(labels, order))
        return seen[-1]
    monkeypatch.setattr(plots, "panel_order", spy)
    out = tmp_path / "run"
    assert main(["search", "examples/macro.nas", "--set", "C=4", "--set", "layers=3", "--strategy", "darts",
                 "--data", "digits", "--epochs", "2", "--batch-size", "256", "--out", str(out)]) == 0
    for name in ("curves.png", "arch_weights.png"):
        assert (out / name).read_bytes()[:8] == PNG, name
    if shutil.which("dot"):   # the architecture found (tests/test_show.py: arch.dot where dot is missing)
        assert (out / "arch.png").read_bytes()[:8] == PNG
    space = nasdsl.load("examples/macro.nas", {"C": 4, "layers": 3, "in_channels": 1, "resolution": 8})
    # the macro space declares op.i before skip.i: not alphabetical, and the panels keep it
    assert seen == [space.labels()] and space.labels() != sorted(space.labels())
    assert sorted(json.loads((out / "probs.json").read_text())) == sorted(space.labels())
    assert sorted(epoch_metrics(out / "logs" / "metrics.csv")) == [0, 1]
