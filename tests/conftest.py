"""Shared fixtures: the path to the repository's spaces, the synthetic NAS-Bench-201 table
(the real one's path is defined once, in tests/nb201.py), and one torch thread for every test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

try:  # the torch-free tests run without torch installed
    import torch
except ImportError:  # pragma: no cover
    torch = None

# Run inside NNI's own venv (subprocesses of test_nni_hub and test_darts_cell): not importable here, so not
# collected for doctests.
collect_ignore = ["nni_hub/_nni_side.py", "nni_hub/_nni_cell.py"]

ROOT = Path(__file__).resolve().parent.parent
SPACES = ROOT / "spaces"


def in_ci() -> bool:
    """Whether the suite runs under CI (`.ci/run` sets CI=true)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI a skipped test is a failed one: CI installs and starts everything the suite
    needs (PostgreSQL, ONNX, NNI's venv, ../shared's table), so a skip there means something
    it should have had is missing. Only a test marked `gpu` may skip (CI has no GPU)."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and item.get_closest_marker("gpu") is None and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, which must provide what this test needs: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """The same for a module skipped whole at import (`pytest.importorskip` at its top)."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, which must provide what this module needs: {reason}"


def pytest_runtest_setup(item):
    """A test marked `needs_nb201_table` (tests/nb201.py) skips where the table is absent, as in
    a user's fresh clone, and fails under CI, which runs beside ../shared."""
    if item.get_closest_marker("needs_nb201_table") is None:
        return
    from nb201 import TABLE
    if not TABLE.exists():
        message = f"{TABLE} is absent (../shared beside the clone holds it)"
        if in_ci():
            pytest.fail(message + "; CI must run beside ../shared")
        pytest.skip(message)


@pytest.fixture(scope="session")
def nb201_table(tmp_path_factory) -> Path:
    """The synthetic NAS-Bench-201 table (tests/nb201.py), written once per session: what the
    default suite reads where it needs a table, so that it runs in a fresh clone."""
    from nb201 import write_synthetic_table
    return write_synthetic_table(tmp_path_factory.mktemp("nb201") / "nb201_synthetic.csv.gz")


@pytest.fixture
def write(tmp_path):
    """Write a `.nas` file into a temporary folder and return its path."""
    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path
    return _write


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op torch thread for every test: the models here are tiny, several test
    processes share the cores, and torch's thread pool would make each step many times
    slower (and timings noisy). The previous setting is restored after the test."""
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
