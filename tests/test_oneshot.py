"""One-shot search through the command line on real data (scikit-learn's digits).

Every strategy of the registry searches a small NAS-Bench-201 network end to end, writes every
output file, and `--resume` continues the search (epoch, optimizer and search state) instead
of restarting it: a search interrupted after one epoch and resumed ends bit-identical to one
that ran two epochs straight. Bad input gets one message and exit 1, with nothing written.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pytorch_lightning")

import pytorch_lightning as pl  # noqa: E402

import nasdsl  # noqa: E402
from nasdsl import strategy  # noqa: E402
from nasdsl.cli import main  # noqa: E402
from nasdsl.formats import nb201_to_arch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--set", "C=4", "--set", "N=1"]
FAST = {"enas": ["--option", "ctrl_steps_aggregate=2"],
        "spos": ["--option", "population=4", "--option", "generations=1", "--option", "bn_batches=2"]}


def search(out: Path, name: str, *extra: str, space: str = "nasbench201") -> int:
    return main(["search", space, *SMALL, "--strategy", name, "--data", "digits", "--batch-size", "256",
                 "--out", str(out), *FAST.get(name, []), *extra])


def metrics(out: Path) -> list[dict[str, str]]:
    import csv
    with open(out / "logs" / "metrics.csv") as f:
        return list(csv.DictReader(f))


def epochs_done(path: Path) -> int:
    """Epochs a checkpoint has completed (saved at the end of each epoch: Lightning's `epoch`
    field still counts the epoch it was saved in)."""
    ckpt = torch.load(path, weights_only=True)
    return ckpt["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"]


def digits_space():
    return nasdsl.load("nasbench201", {"C": 4, "N": 1, "in_channels": 1, "resolution": 8})


@pytest.mark.parametrize("name", strategy.ONE_SHOT)
def test_each_strategy_searches_digits_and_resumes(tmp_path, capsys, name):
    out = tmp_path / name
    assert search(out, name, "--epochs", "1") == 0
    space = digits_space()
    arch = json.loads((out / "arch.json").read_text())
    assert space.contains(arch)
    assert nb201_to_arch(space, (out / "arch.nb201").read_text().strip()) == arch
    probs = json.loads((out / "probs.json").read_text())
    if strategy.declared(name).mode != "path":  # darts, gumbel, proxyless: one softmax per decision
        assert sorted(probs) == sorted(space.labels())
        assert all(abs(sum(row.values()) - 1) < 1e-5 for row in probs.values())
    elif name == "enas":  # the controller's distributions along its greedy path
        assert sorted(probs) == sorted(arch)
    elif name == "random_oneshot":  # its sampling distribution
        assert probs["Cell.e1_0"] == {v: 0.2 for v in space.decision("Cell.e1_0").values}
    else:  # spos: value frequencies in the final population of its evolution
        assert all(abs(sum(row.values()) - 1) < 1e-9 for row in probs.values()) and probs
    assert (out / "arch_weights.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "search.json").read_text())["fingerprint"] == space.fingerprint()
    ckpt = torch.load(out / "last.ckpt", weights_only=True)
    assert epochs_done(out / "last.ckpt") == 1 and ckpt["nasdsl"]["strategy"] == name
    steps = ckpt["global_step"]
    rows = metrics(out)
    assert {r["epoch"] for r in rows if r["train_loss"]} == {"0"} and any(r["val_acc"] for r in rows)
    assert f"architecture ({name})" in capsys.readouterr().out

    assert search(out, name, "--epochs", "2", "--resume") == 0
    ckpt = torch.load(out / "last.ckpt", weights_only=True)
    assert epochs_done(out / "last.ckpt") == 2 and ckpt["global_step"] == 2 * steps  # continued, not restarted
    rows = metrics(out)
    assert {r["epoch"] for r in rows if r["train_loss"]} == {"0", "1"}
    assert len(json.loads(ckpt["nasdsl"]["history"])) == 3   # the start and two epochs
    if name == "gumbel":  # tau anneals from tau_max to tau_min over the epochs
        taus = [float(r["tau"]) for r in rows if r.get("tau")]
        assert taus == [1.0, pytest.approx(0.33)]
    if name == "spos":
        log = json.loads((out / "evolution.json").read_text())
        assert log[-1]["best_arch"] == json.loads((out / "arch.json").read_text())
        assert log[-1]["evaluated"] >= 4


class Interrupt(pl.Callback):
    """Ctrl-C at the start of the second epoch."""

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise KeyboardInterrupt


def test_resume_after_ctrl_c_ends_where_an_uninterrupted_search_ends(tmp_path, monkeypatch):
    """Gumbel noise, data order, optimizer moments and the LR schedule all continue exactly."""
    import signal

    from nasdsl.search import oneshot
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert search(straight, "gumbel", "--epochs", "2") == 0
    make_trainer = oneshot._trainer

    def interrupted(args, out):
        trainer = make_trainer(args, out)
        trainer.callbacks.insert(0, Interrupt())
        return trainer

    monkeypatch.setattr(oneshot, "_trainer", interrupted)
    handler = signal.getsignal(signal.SIGINT)
    try:
        assert search(resumed, "gumbel", "--epochs", "2") == 130   # Ctrl-C: 130, as everywhere
    finally:
        signal.signal(signal.SIGINT, handler)
    assert not (resumed / "arch.json").exists()   # nothing final written by the interrupted run
    assert epochs_done(resumed / "last.ckpt") == 1
    monkeypatch.setattr(oneshot, "_trainer", make_trainer)
    assert search(resumed, "gumbel", "--epochs", "2", "--resume") == 0
    a = torch.load(straight / "last.ckpt", weights_only=True)
    b = torch.load(resumed / "last.ckpt", weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    assert (straight / "arch.json").read_text() == (resumed / "arch.json").read_text()


def test_darts_second_order_and_a_flops_penalty_through_the_cli(tmp_path):
    out = tmp_path / "d2"
    assert search(out, "darts", "--epochs", "1", "--order", "2", "--penalty", "flops", "--penalty-form", "add") == 0
    assert json.loads((out / "search.json").read_text())["options"] == {"order": 2}
    assert any(r.get("expected_flops") for r in metrics(out))


def test_supernet_passes_and_recompute_through_the_cli(tmp_path, capsys):
    """`--passes` picks the rewrite passes and `--recompute` checkpoints each mixture: the same
    search (same seed) then exports the same architecture as the default one, and search.json
    records what ran; an unknown pass is one message naming the known ones."""
    runs = {"default": [], "plain": ["--passes", "none", "--recompute"],
            "contiguous": ["--passes", "drop_zero,shared_prefix,fold_bn,fused_mix,fast_avgpool,input_mix"]}
    for name, extra in runs.items():
        assert search(tmp_path / name, "gumbel", "--epochs", "1", *extra) == 0
    recorded = {name: json.loads((tmp_path / name / "search.json").read_text()) for name in runs}
    assert recorded["plain"]["passes"] == [] and recorded["plain"]["recompute"] is True
    assert "channels_last" in recorded["default"]["passes"] and "channels_last" not in recorded["contiguous"]["passes"]
    assert "recompute_pure" not in recorded["default"]["passes"]
    assert recorded["default"]["recompute"] is False and "fold_bn" in recorded["default"]["passes"]
    arch = {name: json.loads((tmp_path / name / "arch.json").read_text()) for name in runs}
    assert arch["plain"] == arch["default"] == arch["contiguous"]
    capsys.readouterr()
    assert search(tmp_path / "bad", "darts", "--passes", "drop_zero,fold") == 1
    err = capsys.readouterr().err
    assert "unknown supernet pass 'fold'; passes: drop_zero," in err and "Traceback" not in err


def test_retrain_and_train_command_with_inherited_weights(tmp_path, capsys):
    out = tmp_path / "s"
    assert search(out, "spos", "--epochs", "1", "--retrain", "1") == 0
    text = capsys.readouterr().out
    assert "retrained 1 epochs from scratch: test accuracy" in text
    result = json.loads((out / "retrain.json").read_text())
    assert 0.0 <= result["test_acc"] <= 1.0 and result["params"] > 0
    assert main(["train", "nasbench201", *SMALL, "--arch", str(out / "arch.json"), "--data", "digits",
                 "--epochs", "0", "--inherit", str(out / "last.ckpt"), "--out", str(tmp_path / "t"), "--json"]) == 0
    inherited = json.loads(capsys.readouterr().out)
    space = digits_space()
    from nasdsl.analysis.shapes import costs
    assert inherited["params"] == costs(space, inherited["arch"])["params"]
    # zero epochs from the supernet's weights: the model holds exactly the supernet's slice of them
    from nasdsl.checkpoint import load_checkpoint
    from nasdsl.strategy import build_supernet
    model = load_checkpoint(tmp_path / "t" / "model.pt").model()
    net = build_supernet(space, "spos")
    state = torch.load(out / "last.ckpt", weights_only=True)["state_dict"]
    net.load_state_dict({k[len("supernet."):]: v for k, v in state.items() if k.startswith("supernet.")})
    expected = net.sub_state_dict(inherited["arch"])
    assert model.state_dict().keys() == expected.keys()
    assert all(torch.equal(model.state_dict()[k], expected[k]) for k in expected)
    assert json.loads((tmp_path / "t" / "result.json").read_text())["test_acc"] == inherited["test_acc"]


# --- bad input: one message, exit 1, nothing written ---------------------------------------------

def test_unknown_strategy_and_strategy_unfit_for_the_space(tmp_path, capsys):
    out = tmp_path / "x"
    assert main(["search", "nasbench201", "--strategy", "dartz", "--data", "digits", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("unknown strategy 'dartz'; one-shot: darts, gumbel, enas, spos, proxyless, random_oneshot")
    assert "Traceback" not in err and not out.exists()
    path = tmp_path / "strided.nas"
    path.write_text("""param in_channels = 1
param resolution = 8
network(x: [in_channels, resolution, resolution]) {
  y = x -> Conv2d(in_channels, 4, 3, choice[1, 2], 1)
  return y -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(4, 10)
}""")
    assert main(["search", str(path), "--strategy", "darts", "--data", "digits", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:4:12: Conv2d stride depends on y.stride: darts and gumbel average")
    assert "Traceback" not in err and not out.exists()
    assert main(["search", str(path), "--strategy", "spos", "--data", "digits", "--out", str(out),
                 "--option", "population=2", "--option", "generations=0"]) == 0


def test_data_that_does_not_fit(tmp_path, capsys):
    out = tmp_path / "x"
    assert main(["search", "examples/cell.nas", "--strategy", "spos", "--data", "digits", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "takes input [3, 16, 16], digits gives [1, 8, 8]" in err
    assert "declare `param in_channels = 3`" in err and not out.exists()
    assert main(["search", "nasbench201", *SMALL, "--set", "num_classes=7", "--strategy", "spos", "--data", "digits",
                 "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "gives 7 outputs per sample, digits has 10 classes; --set num_classes=10" in err and not out.exists()


def test_resume_refuses_another_space_and_a_corrupt_checkpoint(tmp_path, capsys):
    out = tmp_path / "r"
    assert search(out, "random_oneshot", "--epochs", "1") == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(["search", "nasbench201", "--set", "C=8", "--set", "N=1", "--strategy", "random_oneshot",
                 "--data", "digits", "--epochs", "2", "--out", str(out), "--resume"]) == 1
    err = capsys.readouterr().err
    assert "was searched on another space (fingerprint" in err and "Traceback" not in err
    assert search(out, "random_oneshot", "--epochs", "2") == 1  # no --resume: refuses to overwrite
    assert "already holds a search" in capsys.readouterr().err
    (out / "last.ckpt").write_bytes(b"PK\x03\x04 not really a zip")
    assert search(out, "random_oneshot", "--epochs", "2", "--resume") == 1
    err = capsys.readouterr().err
    assert "last.ckpt is a corrupt checkpoint" in err and len(err.strip().splitlines()) == 1
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after.keys() == before.keys()
    assert all(after[k] == before[k] for k in after if k != "last.ckpt")


def test_unknown_option_names_the_options(tmp_path, capsys):
    assert search(tmp_path / "o", "darts", "--option", "tau_max=2") == 1
    err = capsys.readouterr().err
    assert "darts has no option 'tau_max'; its options: arch_betas, arch_lr" in err
    assert "args" not in err.split("its options:")[1].split(", ")


# --- a user's own task and data ------------------------------------------------------------------

TASK = '''
import torch, pytorch_lightning as pl
import torch.nn.functional as F

class Task(pl.LightningModule):
    gradient_clip_val = 1.0
    def __init__(self):
        super().__init__()
        self.model = None
    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self.model(x), y)
        self.log("my_loss", loss, on_step=False, on_epoch=True)
        return loss
    def configure_optimizers(self):
        opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        return [opt], [torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5)]

def make():
    return Task()

def data():
    g = torch.Generator().manual_seed(0)
    def part(n):
        return torch.utils.data.TensorDataset(torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 3, (n,), generator=g))
    return part(64), part(32), part(32)
'''


def test_user_task_and_data_factory(tmp_path, monkeypatch, capsys):
    (tmp_path / "mytask.py").write_text(TASK)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "u"
    assert main(["search", "nasbench201", *SMALL, "--strategy", "darts", "--data", "mytask:data", "--epochs", "2",
                 "--batch-size", "16", "--task", "mytask:make", "--out", str(out)]) == 0
    rows = metrics(out)
    assert sum(1 for r in rows if r.get("my_loss")) == 2       # the task's own self.log, once per epoch
    ckpt = torch.load(out / "last.ckpt", weights_only=True)
    assert ckpt["lr_schedulers"][0]["_last_lr"] == [pytest.approx(2.5e-4)]  # its StepLR, stepped per epoch
    assert "exp_avg" in ckpt["optimizer_states"][0]["state"][0]             # its Adam for the weights
    assert nasdsl.load("nasbench201", {"C": 4, "N": 1, "in_channels": 1, "resolution": 8,
                                       "num_classes": 3}).contains(json.loads((out / "arch.json").read_text()))


# --- several processes ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n == "darts" else [pytest.mark.slow])
                                  for n in strategy.ONE_SHOT])
def test_two_processes_keep_one_search(tmp_path, name):
    """Lightning DDP on CPU (gloo): both ranks end with the same weights, architecture
    parameters (or controller) and exported architecture. darts runs by default (about 30 s),
    the other strategies with the slow tests."""
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "nasdsl.cli", "search", "nasbench201", *SMALL, "--strategy", name, "--data",
           "digits", "--epochs", "1", "--batch-size", "128", "--devices", "2", "--out", str(out), *FAST.get(name, [])]
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads((out / "ranks.json").read_text())["rows"]
    assert len(rows) == 2 and rows[0] == rows[1]
    assert digits_space().contains(json.loads((out / "arch.json").read_text()))


KILLED_AT_EPOCH_1 = '''
import os, signal, sys
import pytorch_lightning as pl
from nasdsl.cli import main
from nasdsl.search import oneshot

class Kill(pl.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.current_epoch == 1:   # kill -9 of every rank mid-epoch, last.ckpt holding epoch 0
            os.kill(os.getpid(), signal.SIGKILL)

make = oneshot._trainer

def trainer(args, out):
    t = make(args, out)
    t.callbacks.insert(0, Kill())
    return t

oneshot._trainer = trainer
sys.exit(main(sys.argv[1:]))
'''


@pytest.mark.parametrize("devices", [1, 2])
def test_resumed_after_kill_9_mid_epoch_ends_where_an_uninterrupted_search_ends(tmp_path, devices):
    """Killed (-9, every rank) after epoch 1's first step and resumed: the weights, BatchNorm
    statistics, architecture, the ranks' state and every logged metric (each epoch once)
    equal, bit for bit, an uninterrupted search's. With `--devices 2`, before the ranks shared
    rank 0's buffers, rank 1 resumed from rank 0's BatchNorm statistics instead of its own,
    and epoch 1's val_loss differed in the 6th digit."""
    import os
    script = tmp_path / "killed.py"
    script.write_text(KILLED_AT_EPOCH_1)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}

    def run(out: Path, *extra: str, program: list[str] | None = None) -> subprocess.CompletedProcess:
        cmd = [*(program or [sys.executable, "-m", "nasdsl.cli"]), "search", "nasbench201", *SMALL, "--strategy",
               "gumbel", "--data", "digits", "--epochs", "2", "--batch-size", "128", "--devices", str(devices),
               "--out", str(out), *extra]
        return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    done = run(straight)
    assert done.returncode == 0, done.stderr[-2000:]
    killed = run(resumed, program=[sys.executable, str(script)])
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert epochs_done(resumed / "last.ckpt") == 1 and not (resumed / "arch.json").exists()
    done = run(resumed, "--resume")
    assert done.returncode == 0, done.stderr[-2000:]
    a = torch.load(straight / "last.ckpt", weights_only=True)
    b = torch.load(resumed / "last.ckpt", weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:   # parameters and buffers (running statistics) alike
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    assert (straight / "arch.json").read_text() == (resumed / "arch.json").read_text()
    assert metrics(straight) == metrics(resumed)   # every epoch once, each value exact
    assert len([r for r in metrics(resumed) if r["val_loss"]]) == 2
    if devices > 1:
        ranks = [json.loads((out / "ranks.json").read_text())["rows"] for out in (straight, resumed)]
        assert ranks[0] == ranks[1] and ranks[0][0] == ranks[0][1]   # ranks agree, buffers included
