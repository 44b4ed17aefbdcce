"""`nasdsl compile` and checkpoints: one pass, a summary, a checkpoint that loads back."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

import nasdsl
from nasdsl.checkpoint import load_checkpoint
from nasdsl.cli import main
from nasdsl.errors import NasError

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def compile_json(capsys, *argv) -> dict:
    assert main(["compile", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_discrete_compile_reports_reference_parameter_count(capsys, tmp_path):
    out = tmp_path / "nb201.pt"
    summary = compile_json(capsys, "nasbench201", "--strategy", "discrete", "--arch", ARCH, "-o", str(out), "--batch", "2")
    assert summary["weights"] == 1_073_466 and summary["arch_parameters"] == 0
    assert summary["decisions"] == 6 and summary["output_shapes"] == [[2, 10]]
    ckpt = load_checkpoint(out)
    model = ckpt.model()
    assert sum(p.numel() for p in model.parameters()) == 1_073_466
    assert ckpt.arch == nasdsl.formats.nb201_to_arch(nasdsl.load("nasbench201"), ARCH)
    raw = torch.load(out, weights_only=True)   # plain data only
    assert raw["space"]["fingerprint"] == nasdsl.load("nasbench201").fingerprint()


@pytest.mark.parametrize("strategy, arch_params", [("darts", 30), ("gumbel", 30), ("proxyless", 30), ("spos", 0),
                                                   ("enas", 0), ("random_oneshot", 0)])
def test_supernet_compile_for_every_strategy(capsys, tmp_path, strategy, arch_params):
    out = tmp_path / "s.pt"
    summary = compile_json(capsys, "nasbench201", "--strategy", strategy, "--set", "C=4", "--set", "N=1",
                           "-o", str(out), "--batch", "2")
    assert summary["arch_parameters"] == arch_params
    assert summary["weights"] > 0 and summary["time_ms"] > 0
    net = load_checkpoint(out).model()
    assert net.strategy == strategy
    assert net.space.params["C"] == 4


def test_checkpoint_refuses_a_changed_space(tmp_path, capsys):
    out = tmp_path / "m.pt"
    compile_json(capsys, "examples/mobile.nas", "--strategy", "discrete", "-o", str(out), "--batch", "1")
    ckpt = load_checkpoint(out)
    ckpt.sources[ckpt.space_file] = ckpt.sources[ckpt.space_file].replace("choice[64, 128]", "choice[64, 256]")
    with pytest.raises(NasError, match="fingerprint"):
        ckpt.model()


def test_not_a_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"hello": 1}, bad)
    with pytest.raises(NasError, match="not a nasdsl checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(NasError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_strategy_refused_with_a_reason(capsys, write):
    path = write("loose.nas", """network(x: [4, 8, 8]) {
  c = cell(lambda input: choice { conv: Conv2d(4, 4, 3, padding=1), skip: Identity() },
           nodes=2, predecessors=1, merge="loose_end")
  return x -> c
}""")
    assert main(["compile", str(path), "--strategy", "darts", "-o", str(path.with_suffix(".pt"))]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:2:7: cell 'c': merge=\"loose_end\"") and "Traceback" not in err
    assert main(["compile", str(path), "--strategy", "spos", "-o", str(path.with_suffix(".pt")), "--batch", "1"]) == 0
