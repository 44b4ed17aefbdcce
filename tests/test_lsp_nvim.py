"""A real editor on `nasdsl lsp`: headless Neovim (Debian's package, installed by .ci/run)
with the shipped configuration `editors/nvim/nasdsl.lua` opens a `.nas` file with an error
and shows the diagnostic `nasdsl check` reports, at its place, with its hint. Skipped where
`nvim` is absent, as on a user's machine; a failure under CI, which installs it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")

ROOT = Path(__file__).resolve().parent.parent


def _nvim() -> str:
    found = shutil.which("nvim")
    if found is None:
        message = "nvim is absent (apt-get install neovim)"
        pytest.skip(message)   # a failure under CI (tests/conftest.py)
    return found


def _lua_list(items: list[str]) -> str:
    return "{" + ", ".join('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items) + "}"


def test_neovim_shows_the_diagnostic(tmp_path):
    nvim = _nvim()
    path = tmp_path / "net.nas"
    path.write_text("param C = 8\nnetwork(x: [4]) {\n  h = x -> Linear(4, C)\n  return h -> Lnear(C, 2)\n}\n")
    out = tmp_path / "diagnostics.txt"
    env = {**os.environ, "NASDSL_NVIM_OUT": str(out), "NASDSL_NO_CACHE": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "data")}
    command = _lua_list([sys.executable, "-m", "nasdsl", "lsp"])
    run = subprocess.run(
        [nvim, "--headless", "--clean", "-n", "-i", "NONE",
         "--cmd", f"lua vim.g.nasdsl_lsp_cmd = {command}",
         "-c", f"luafile {ROOT / 'editors' / 'nvim' / 'nasdsl.lua'}",
         "-c", f"edit {path}",
         "-c", f"luafile {ROOT / 'tests' / 'nvim_diagnostics.lua'}"],
        env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    # line 4, column 15 (1-based) in nasdsl check's words; an error is severity 1 in Neovim
    assert out.read_text() == "3:14:1:'Lnear' is not defined\\nhint: did you mean 'Linear'?\n"
