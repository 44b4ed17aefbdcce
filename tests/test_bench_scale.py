"""The scale bench's smallest configuration runs on the nasdsl side and prints its row (slow:
a darts step of the 8-cell DARTS supernet in a fresh process; `bench/bench_scale.py`)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_smallest_configuration_prints_its_row():
    cmd = [sys.executable, str(ROOT / "bench" / "bench_scale.py"), "--only", "8x16", "--rounds", "1",
           "--warmup", "0", "--steps", "1", "--batch", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600).stdout
    # the DARTS space at 8 cells, C=16: the weight and architecture-parameter counts that
    # bench_supernet.py checks equal to NNI 3.0's DARTS(width=16, num_cells=8)
    assert "cells 8, C 16: weights 1,987,194 (7.6 MB), arch params 224;" in out
    row = next(line for line in out.splitlines() if line.lstrip().startswith("nasdsl "))
    build, supernet, step = (float(v) for v in re.search(
        r"build ([\d.e+-]+) .*\(supernet ([\d.e+-]+) .*step ([\d.e+-]+) ", row).groups())
    assert 0 < supernet < build and step > 0
    assert "NNI" not in out   # no --nni-python: nasdsl alone
