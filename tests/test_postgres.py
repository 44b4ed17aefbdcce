"""Several workers and machines on one PostgreSQL store: a real server (tests/pg.sh), two workers
finish the budget with no duplicate and no lost trial, and a killed machine's trial is re-run."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from nasdsl.errors import NasError
from nasdsl.search.store import Store

ROOT = Path(__file__).resolve().parents[1]
PG = ROOT / "tests" / "pg.sh"


@pytest.fixture(scope="module")
def postgres():
    pytest.importorskip("psycopg2", reason="the postgres extra (psycopg2-binary) is not installed")
    if not any(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")) and shutil.which("pg_ctl") is None:
        pytest.skip("no PostgreSQL server binaries: apt-get install -y postgresql (.ci/run does)")
    if os.geteuid() == 0 and subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
        pytest.skip("running as root without a `postgres` user to run the server as")
    base = tempfile.mkdtemp(prefix="nasdsl-pg-", dir="/tmp")
    os.chmod(base, 0o755)
    started = subprocess.run(["bash", str(PG), "start", f"{base}/pg"], capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run(["bash", str(PG), "stop", f"{base}/pg"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def search(nb201_table):
    """Start `nasdsl search` on the synthetic NB201 table with a store at `url`: the process."""
    def start(url, study, *extra, out):
        return subprocess.Popen([sys.executable, "-m", "nasdsl", "search", "nasbench201", "--evaluator", f"table:{nb201_table}",
                                 "--metric", "cifar10_test", "--storage", url, "--study", study, "--out", str(out), *extra],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
    return start


def trials(url, study, missing_ok=False):
    store = Store(url, study)
    try:
        store.open(None, {}, create=False)
    except NasError:
        if missing_ok:   # the searches have not created it yet
            return []
        raise
    return store.trials()


def test_two_workers_on_postgres_finish_the_budget_exactly(postgres, search, tmp_path):
    proc = search(postgres, "workers", "--strategy", "evolution", "--trials", "60", "--workers", "2", out=tmp_path)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    got = trials(postgres, "workers")
    complete = [t for t in got if t.state == "complete"]
    assert len(complete) == 60 and len({t.key for t in complete}) == 60
    assert len({t.worker for t in complete}) == 2
    assert all(t.state in ("complete", "yielded") for t in got)


def test_two_machines_share_one_experiment_and_survive_a_kill(postgres, search, tmp_path):
    args = ("--strategy", "tpe", "--trials", "50")
    a = search(postgres, "machines", *args, "--seed", "1", out=tmp_path / "a")
    b = search(postgres, "machines", *args, "--seed", "2", out=tmp_path / "b")
    deadline = time.monotonic() + 120
    while True:   # kill once both machines have completed trials (a loaded machine starts one late)
        done = [t for t in trials(postgres, "machines", missing_ok=True) if t.state == "complete"]
        if len(done) >= 15 and len({t.worker for t in done}) == 2:
            break
        assert time.monotonic() < deadline and a.poll() is None
        time.sleep(0.05)
    os.killpg(a.pid, signal.SIGKILL)   # one machine dies mid-search
    a.wait()
    assert b.wait(timeout=300) == 0, b.stderr.read()
    got = trials(postgres, "machines")
    complete = [t for t in got if t.state == "complete"]
    assert len(complete) == 50 and len({t.key for t in complete}) == 50
    assert len({t.worker for t in complete}) == 2
    assert not [t for t in got if t.state == "running"]
    for t in got:   # a trial the dead machine held was re-run (or its architecture completed elsewhere)
        if t.state == "interrupted":
            assert t.key in {c.key for c in complete}


def fresh_database(url: str, name: str) -> str:
    """A new, empty database on the test server: its URL."""
    import sqlalchemy
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.mark.parametrize("starts", [pytest.param(3, id="3"), pytest.param(20, id="20", marks=pytest.mark.slow)])
def test_four_processes_started_at_once_on_a_fresh_database_all_run(postgres, starts):
    """A job array's four processes reach a fresh server at one instant: the tables, the
    experiment and its attributes are created once, every process runs, the budget is exact."""
    from test_cluster import assert_budget_exact, start_together
    for i in range(starts):
        url = fresh_database(postgres, f"fresh{starts}_{i}")
        assert start_together(url, 4, 16) == [0, 0, 0, 0], f"start {i}"
        assert_budget_exact(url, 16, 4)
