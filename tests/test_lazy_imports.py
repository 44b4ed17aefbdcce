"""Imports a command does not need are not made (issue 22): `nasdsl info`, `check` and `compile`
and building a supernet never import Lightning (about 2.5 s of CPU with torchmetrics, scipy and
matplotlib behind it), nor matplotlib; Lightning comes with a one-shot strategy's module, when a
search trains."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("pytorch_lightning")

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pytorch_lightning", "lightning", "lightning_fabric", "torchmetrics", "matplotlib")


def loaded_after(code: str) -> list[str]:
    """Which of HEAVY a fresh interpreter has imported after running `code`."""
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "", "NASDSL_NO_CACHE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_info_check_compile_and_build_supernet_import_no_lightning(tmp_path):
    commands = [["info", "nasbench201"], ["check", "nasbench201"],
                ["compile", "nasbench201", "--set", "C=4", "--set", "N=1", "--strategy", "darts",
                 "-o", str(tmp_path / "darts.pt")],
                ["compile", "nasbench201", "--set", "C=4", "--set", "N=1", "--strategy", "gumbel",
                 "-o", str(tmp_path / "gumbel.pt")],
                ["compile", "nasbench201", "--set", "C=4", "--set", "N=1", "--strategy", "spos",
                 "-o", str(tmp_path / "spos.pt")]]
    code = ("import contextlib, io\nfrom nasdsl.cli import main\n"
            f"for argv in {commands!r}:\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        assert main(argv) == 0, argv\n"
            "import nasdsl\nfrom nasdsl.strategy import build_supernet\n"
            "net = build_supernet(nasdsl.load('nasbench201', {'C': 4, 'N': 1}), 'gumbel', seed=0, tau=0.5)\n"
            "assert net.policy.weigh.tau == 0.5\n")
    assert loaded_after(code) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["darts.pt", "gumbel.pt", "spos.pt"]


def test_a_strategy_module_brings_lightning():
    """The other side, so the test above cannot pass by Lightning never being imported."""
    assert "pytorch_lightning" in loaded_after("import nasdsl.strategy.darts")
