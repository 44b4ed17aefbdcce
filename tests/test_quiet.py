"""What a search prints: nasdsl's progress and results, not its dependencies' chatter
(`nasdsl.quiet`); `--verbose` shows that chatter again. Three short searches on a tiny space,
run side by side: SPOS (its evolution reports each generation), ENAS (no torch UserWarning from
the controller's reward) and ENAS with --verbose."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("pytorch_lightning")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parent.parent
TINY = """\
block Op(c) = choice { conv: Conv2d(c, c, 3, padding=1), skip: Identity(), pool: AvgPool2d(3, 1, 1) }
network(x: [1, 8, 8]) {
  h = x -> Conv2d(1, 4, 1) -> Op(4) -> Op(4)
  return h -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(4, 10)
}
"""
NOISE = ("litlogger", "Tip:", "LeafSpec", "GPU available", "TPU available", "Trainer.fit", "Warning", "warn(")


def test_a_search_prints_its_progress_and_nothing_of_its_dependencies(tmp_path):
    space = tmp_path / "tiny.nas"
    space.write_text(TINY)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "NASDSL_NO_CACHE": "1", "PYTHONWARNINGS": ""}
    env.pop("NASDSL_PROGRESS", None)
    runs = {
        "spos": ["--strategy", "spos", "--option", "population=4", "--option", "generations=2"],
        "enas": ["--strategy", "enas"],
        "verbose": ["--strategy", "enas", "--verbose"],
    }
    procs = {name: subprocess.Popen(
        [sys.executable, "-m", "nasdsl", "search", str(space), "--data", "digits", "--epochs", "1",
         "--out", str(tmp_path / name), *extra], env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name, extra in runs.items()}
    done = {name: p.communicate(timeout=600) for name, p in procs.items()}
    for name, p in procs.items():
        assert p.returncode == 0, done[name][1]
        assert done[name][0].startswith(f"architecture ({'spos' if name == 'spos' else 'enas'}): ")

    spos = done["spos"][1].splitlines()
    assert spos[0] == "spos evolution: scoring 4 random architectures with the supernet's weights"
    assert [line.split(": best")[0] for line in spos[1:]] == [
        "spos evolution: generation 0/2", "spos evolution: generation 1/2", "spos evolution: generation 2/2"]
    assert all("best validation accuracy 0." in line and "architectures evaluated)" in line for line in spos[1:])
    assert done["enas"][1] == ""   # the controller's reward no longer trips torch's UserWarning

    shown = done["verbose"][1]
    assert "💡 Tip: For seamless cloud logging" in shown and "GPU available: False" in shown
    assert "LeafSpec" in shown
    assert "UserWarning" not in shown   # fixed at its cause, not hidden
    for line in spos:
        assert not any(word in line for word in NOISE), line
