"""The README's test command in a user's fresh clone: no `../shared` beside it.

The repository is cloned into a temporary folder (its parent holds nothing else), and a fast
subset of the default suite runs there as a user runs it (not under CI): the tests about the
real NB201 table's numbers (in `../shared`) skip with their reason, the tests that read a table
read the synthetic one (tests/nb201.py) and pass, everything else passes, and pytest exits 0.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# two files with tests on the synthetic table (which must pass) and on the real one (which must
# skip), and two that read no table
SUBSET = ["tests/test_formats.py", "tests/test_fit_latency.py", "tests/test_check.py", "tests/test_errors.py"]
ON_THE_SYNTHETIC_TABLE = ["tests/test_formats.py::test_all_15625_nb201_strings_round_trip",
                          "tests/test_fit_latency.py::test_fit_on_a_table_recovers_its_additive_latency_and_reports_the_error",
                          "tests/test_fit_latency.py::test_the_lookup_table_is_a_penalty_and_a_constraint"]


def test_a_fresh_clone_without_shared_passes_a_subset_of_the_default_suite(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of the repository")
    clone = tmp_path / "nasdsl"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    assert not (tmp_path / "shared").exists()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NASDSL_NNI_PYTHON")}
    env["PYTHONPATH"] = str(clone)          # the clone's nasdsl, not the installed checkout's
    env["NASDSL_CACHE_DIR"] = str(tmp_path / "cache")
    subset = [path for path in SUBSET if (clone / path).exists()]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *subset],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    summary = re.search(r"(\d+) passed, (\d+) skipped", out)
    assert summary, out[-3000:]
    assert int(summary.group(1)) > 0 and int(summary.group(2)) > 0
    assert "nb201_table.csv.gz is absent" in out
    for test in ON_THE_SYNTHETIC_TABLE:
        assert f"PASSED {test}" in out, out[-3000:]
