"""A wheel built from the repository carries the grammar and the space library."""
from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_finds_the_grammar(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)], check=True)
    wheel = next(dist.glob("nasdsl-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "nasdsl/grammar/nas.lark" in names
    assert "nasdsl/spaces/nasbench201.nas" in names
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    py = env / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheel)], check=True)
    # run outside the checkout so only the installed package can be found
    out = subprocess.run([str(env / "bin" / "nasdsl"), "info", "nasbench201", "--json"], cwd=tmp_path,
                         check=True, capture_output=True, text=True).stdout
    assert '"size": 15625' in out
    # a space that imports an op library finds it inside the installed package too
    out = subprocess.run([str(env / "bin" / "nasdsl"), "check", "nasnet", "mobilenetv3"], cwd=tmp_path,
                         check=True, capture_output=True, text=True).stdout
    assert "nasnet: ok (40 decisions" in out and "mobilenetv3: ok (67 decisions" in out
    where = subprocess.run([str(py), "-c", "import nasdsl.syntax.parser as p; print(p.grammar_path())"], cwd=tmp_path,
                           check=True, capture_output=True, text=True).stdout
    assert str(env) in where
