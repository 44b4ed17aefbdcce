"""What `nasdsl search` says about its own outcome: the control beside a retrained result, the
warning when a distribution never moved, and the architecture learning rate scaled to the data.

On digits (fast, and every connected cell there scores alike, so these tests check behaviour,
not search quality; `tests/test_oneshot_mnist.py` checks quality on mnist5k).
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pytorch_lightning")

import nasdsl  # noqa: E402
from nasdsl.cli import main  # noqa: E402
from nasdsl.data import load_data  # noqa: E402
from nasdsl.search.control import control_archs, ignores_input  # noqa: E402
from nasdsl.strategy.oneshot import DARTS_ARCH_LR, DARTS_STEPS_PER_EPOCH, near_uniform  # noqa: E402

SMALL = ["--set", "C=4", "--set", "N=1"]
WARNING = "warning: the architecture distribution stayed near uniform"


def search(out: Path, name: str, *extra: str) -> int:
    return main(["search", "nasbench201", *SMALL, "--strategy", name, "--data", "digits", "--batch-size", "256",
                 "--epochs", "1", "--out", str(out), *extra])


def digits_space():
    return nasdsl.load("nasbench201", {"C": 4, "N": 1, "in_channels": 1, "resolution": 8})


def test_a_search_that_cannot_move_says_so_in_one_line(tmp_path, capsys):
    assert search(tmp_path / "still", "darts", "--option", "arch_lr=1e-9") == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith(WARNING), lines
    assert "mean entropy 100.00% of its maximum" in lines[0]
    assert "raise the architecture learning rate (--option arch_lr=, this search 1e-09)" in lines[0]


def test_a_search_that_moves_prints_no_warning(tmp_path, capsys):
    out = tmp_path / "moves"
    assert search(out, "darts", "--option", "arch_lr=0.3") == 0
    assert "warning:" not in capsys.readouterr().out
    probs = json.loads((out / "probs.json").read_text())
    assert near_uniform(probs) is None


@pytest.mark.parametrize("name", ["spos", "random_oneshot"])
def test_uniform_sampling_strategies_print_no_warning(tmp_path, capsys, name):
    extra = ["--option", "population=4", "--option", "generations=1", "--option", "bn_batches=2"] \
        if name == "spos" else []
    assert search(tmp_path / name, name, *extra) == 0
    assert "warning:" not in capsys.readouterr().out


def test_enas_with_no_controller_update_says_so(tmp_path, capsys):
    # 2 steps, 20 aggregated: the controller never updates and its distribution stays where it began
    assert search(tmp_path / "enas", "enas") == 0
    out = capsys.readouterr().out
    assert "lower --option ctrl_steps_aggregate (now 20: 0 controller updates in this search)" in out, out


def test_default_arch_lr_gives_an_epoch_the_reach_of_a_darts_epoch_on_cifar(tmp_path, capsys):
    out = tmp_path / "lr"
    assert search(out, "darts", "--batch-size", "64", "--epochs", "3") == 0
    ckpt = torch.load(out / "last.ckpt", weights_only=True)
    # digits: 628 images a half, batch 64, last partial batch dropped: 9 steps an epoch
    assert ckpt["optimizer_states"][1]["param_groups"][0]["lr"] == DARTS_ARCH_LR * DARTS_STEPS_PER_EPOCH / 9
    assert search(tmp_path / "short", "darts") == 0   # batch 256: 2 steps an epoch
    ckpt = torch.load(tmp_path / "short" / "last.ckpt", weights_only=True)
    assert ckpt["optimizer_states"][1]["param_groups"][0]["lr"] == DARTS_ARCH_LR * DARTS_STEPS_PER_EPOCH / 2
    assert search(tmp_path / "set", "darts", "--option", "arch_lr=0.01") == 0   # an explicit rate is kept
    ckpt = torch.load(tmp_path / "set" / "last.ckpt", weights_only=True)
    assert ckpt["optimizer_states"][1]["param_groups"][0]["lr"] == 0.01


def test_retrain_prints_and_writes_the_control(tmp_path, capsys):
    out = tmp_path / "c"
    assert search(out, "darts", "--retrain", "1", "--control", "2") == 0
    text = capsys.readouterr().out
    control = json.loads((out / "control.json").read_text())
    found = json.loads((out / "retrain.json").read_text())
    space = digits_space()
    data = load_data("digits", 0)
    archs, rejected = control_archs(space, 2, data, seed=0)
    assert [r["arch"] for r in control["controls"]] == archs and control["rejected_draws"] == rejected
    assert control["median_test_acc"] == statistics.median(r["test_acc"] for r in control["controls"])
    assert control["found_test_acc"] == found["test_acc"] and control["epochs"] == 1
    # the same recipe as the found architecture: retraining a control directly gives its number
    from nasdsl.data import fit_space
    from nasdsl.train import train_architecture
    fitted = fit_space(lambda p: nasdsl.load("nasbench201", {"C": 4, "N": 1, **p}), data)
    again = train_architecture(fitted, archs[0], data, 1, 0, batch_size=256)
    assert again["test_acc"] == control["controls"][0]["test_acc"]
    line = next(line for line in text.splitlines() if line.startswith("control: 2 random architectures"))
    assert f"median {100 * control['median_test_acc']:.2f}%" in line


def test_control_redraws_architectures_that_ignore_their_input():
    space = digits_space()
    data = load_data("digits", 0)
    archs, rejected = control_archs(space, 12, data, seed=3)
    assert len(archs) == 12 and not any(ignores_input(space, a, data) for a in archs)
    # NB201: a cell ignores its input exactly when every path from n0 to n3 has a `none` edge
    def connected(a):
        n1 = a["Cell.e1_0"] != "none"
        n2 = a["Cell.e2_0"] != "none" or (n1 and a["Cell.e2_1"] != "none")
        return a["Cell.e3_0"] != "none" or (n1 and a["Cell.e3_1"] != "none") or (n2 and a["Cell.e3_2"] != "none")
    assert all(connected(a) for a in archs)
    import random
    rng = random.Random("nasdsl-control-3")
    draws = []
    while len([a for a in draws if connected(a)]) < 12:
        draws.append(space.sample(rng))
    assert rejected == len(draws) - 12 and [a for a in draws if connected(a)] == archs


def test_control_needs_retrain(tmp_path, capsys):
    assert search(tmp_path / "x", "darts", "--control", "2") == 1
    err = capsys.readouterr().err
    assert "--control 2: the control needs --retrain EPOCHS" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
