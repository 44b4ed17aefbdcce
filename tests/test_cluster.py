"""Multi-trial search across machines and containers: a resumed search never hangs on a trial
its dead worker left running (another hostname, the same PID, a journal shared by two
processes), processes started together on a fresh store all run, and workers draw from
different random streams.

Another host is a UTS namespace (`unshare -u`), the same PID a PID namespace (`unshare -pf`,
where the search is PID 1 both times, as in a restarted container); both need root and skip
without it (a failure under CI)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nasdsl.search.store import Store

ROOT = Path(__file__).resolve().parents[1]

EVALUATOR = '''
import os, time
CALLS = 0
def evaluate(arch):
    global CALLS
    CALLS += 1
    with open(os.environ["EVAL_LOG"], "a") as f:
        f.write(f"start {os.getpid()} {sorted(arch.items())!r}\\n")
    if CALLS == int(os.environ.get("HANG_AT", "0")):
        time.sleep(120)         # the test kills this process here, mid-trial
    return {"score": float(sum(v == "nor_conv_3x3" for v in arch.values()))}
'''


def _can_unshare(*flags: str) -> bool:
    if os.geteuid() != 0:
        return False
    try:
        return subprocess.run(["unshare", *flags, "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def needs_unshare(*flags: str):
    # a skip is a failure under CI (tests/conftest.py), which runs as root with unshare
    return pytest.mark.skipif(not _can_unshare(*flags), reason=f"needs root and `unshare {' '.join(flags)}`")


@pytest.fixture
def evalmod(tmp_path):
    (tmp_path / "evalmod.py").write_text(EVALUATOR)
    log = tmp_path / "eval.log"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}", "EVAL_LOG": str(log)}
    return env, log


def started(log: Path, pid: int | None = None) -> int:
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text().splitlines()
               if line.startswith("start") and (pid is None or line.split()[1] == str(pid)))


def search_args(out: Path, trials: int, *extra) -> list[str]:
    return ["search", "nasbench201", "--strategy", "evolution", "--trials", str(trials), "--evaluator",
            "python:evalmod:evaluate", "--metric", "score", "--out", str(out), *map(str, extra)]


def launch(args: list[str], env: dict, prefix: tuple[str, ...] = (), interruptible: bool = False) -> subprocess.Popen:
    """`nasdsl ARGS` in a session of its own; `interruptible` gives it the default SIGINT action
    whatever this process inherited (a shell starts a background job with SIGINT ignored, and
    Python keeps an ignored SIGINT ignored, so no Ctrl-C would reach it)."""
    return subprocess.Popen([*prefix, sys.executable, "-m", "nasdsl", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_default_sigint if interruptible else None)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def on_host(name: str) -> tuple[str, ...]:
    """A command prefix that runs the rest under hostname `name` (a new UTS namespace)."""
    return ("unshare", "-u", "sh", "-c", f'hostname {name} && exec "$0" "$@"')


def wait_for(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def stored(url: str) -> list:
    store = Store(url)
    store.open(None, {}, create=False)
    return store.trials()


def assert_finished(url: str, budget: int) -> list:
    trials = stored(url)
    complete = [t for t in trials if t.state == "complete"]
    assert len(complete) == budget and len({t.key for t in complete}) == budget
    assert not [t for t in trials if t.state == "running"]
    interrupted = [t for t in trials if t.state == "interrupted"]
    assert len(interrupted) == 1
    assert next(t for t in trials if t.retry_of == interrupted[0].number).key == interrupted[0].key
    return trials


@needs_unshare("-u")
def test_a_rerun_on_another_host_reaps_the_dead_trial_by_its_heartbeat(tmp_path, evalmod):
    env, log = evalmod
    out = tmp_path / "run"
    first = launch(search_args(out, 12, "--grace", 3), {**env, "HANG_AT": "6"})
    wait_for(lambda: started(log) >= 6)
    kill(first)
    url = f"sqlite:///{out / 'exp.db'}"
    hung = next(t for t in stored(url) if t.state == "running")
    assert hung.beat is not None and hung.beat <= time.time()   # beating from the trial's start
    second = launch(search_args(out, 12, "--grace", 3), env, on_host("another-node"))
    assert second.wait(timeout=180) == 0, second.stderr.read()
    trials = assert_finished(url, 12)
    assert {t.worker.split(":")[0] for t in trials if t.state == "complete"} >= {"another-node"}


def test_a_search_waiting_for_a_silent_trial_says_which_and_for_how_long(tmp_path, capsys):
    """The last trial of the budget is held by a worker on another machine that stopped
    beating: the search says what it waits for, reaps the trial after the grace period and
    runs its architecture again."""
    import nasdsl
    from nasdsl.search.multitrial import search
    url = f"sqlite:///{tmp_path / 'exp.db'}"
    space = nasdsl.load("nasbench201")
    elsewhere = Store(url)
    elsewhere.worker = "another-host:4242"
    elsewhere.open(space.fingerprint(), {"space": "nasbench201"})
    arch = next(iter(space.enumerate()))
    held = elsewhere.start(arch)
    begin = time.monotonic()
    result = search(space, "random", lambda a: 1.0, 3, storage=url, grace=4.5)
    took = time.monotonic() - begin
    err = capsys.readouterr().err.splitlines()
    said = re.fullmatch(r"waiting for trial 0 \(another-host:4242, last heartbeat (\d+) s ago\): taken as dead and "
                        r"run again in (\d+) s unless its worker beats", err[0])
    assert said and int(said[1]) + int(said[2]) in (4, 5)   # the grace period, in whole seconds either side
    assert 3.9 < took < 60
    states = [(t.number, t.state, t.retry_of) for t in stored(url)]
    assert states[0] == (0, "interrupted", None) and held.trial_id == stored(url)[0].trial_id
    assert [(t.state, t.retry_of) for t in result.trials] == [("complete", None)] * 2 + [("complete", 0)]
    assert result.trials[2].key == held.key


@needs_unshare("-pf", "--mount-proc")
def test_a_rerun_with_the_same_pid_reaps_at_once(tmp_path, evalmod):
    """A restarted container: the search is PID 1 on the same host both times. The dead trial
    carries this very process's host:pid but this process is not running it: reaped at once,
    long before the (here 600 s) grace period."""
    env, log = evalmod
    out = tmp_path / "run"
    pid_1 = ("unshare", "-pf", "--mount-proc")
    first = launch(search_args(out, 10, "--grace", 600), {**env, "HANG_AT": "5"}, pid_1)
    wait_for(lambda: started(log) >= 5)
    kill(first)
    url = f"sqlite:///{out / 'exp.db'}"
    hung = next(t for t in stored(url) if t.state == "running")
    assert hung.worker.endswith(":1")
    second = launch(search_args(out, 10, "--grace", 600), env, pid_1)
    assert second.wait(timeout=120) == 0, second.stderr.read()
    trials = assert_finished(url, 10)
    assert {t.worker for t in trials} == {hung.worker}   # the same host:pid ran both


@needs_unshare("-u")
def test_a_journal_shared_by_two_hosts_survives_one_dying(tmp_path, evalmod):
    env, log = evalmod
    url = f"journal:{tmp_path / 'shared.log'}"
    a = launch(search_args(tmp_path / "a", 16, "--storage", url, "--grace", 3, "--seed", 1),
               {**env, "HANG_AT": "3"}, on_host("node-a"))
    b = launch(search_args(tmp_path / "b", 16, "--storage", url, "--grace", 3, "--seed", 2), env, on_host("node-b"))
    wait_for(lambda: started(log, a.pid) >= 3)   # `unshare -u` execs: a.pid is the search's pid
    kill(a)
    assert b.wait(timeout=180) == 0, b.stderr.read()
    trials = assert_finished(url, 16)
    hung = next(t for t in trials if t.state == "interrupted")
    assert hung.worker.startswith("node-a:")
    assert json.loads((tmp_path / "b" / "result.json").read_text())["trials"] == 16


# --- starting together ----------------------------------------------------------------------

def start_together(url: str, processes: int, trials: int) -> list[int]:
    """`processes` forked processes released at one instant, each running `search()` on `url`
    (the same command, the same --seed, as a job array starts it); their exit codes."""
    import multiprocessing
    import traceback

    import nasdsl
    from nasdsl.search.multitrial import search
    space = nasdsl.load("nasbench201")
    context = multiprocessing.get_context("fork")
    go = context.Event()

    def one() -> None:
        go.wait()
        def evaluate(arch):
            time.sleep(0.1)   # the processes overlap, even where one starts seconds after another
            return float(sum(v == "nor_conv_3x3" for v in arch.values()))
        try:
            search(space, "random", evaluate, trials, storage=url, seed=0)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)

    procs = [context.Process(target=one) for _ in range(processes)]
    for p in procs:
        p.start()
    time.sleep(0.2)
    go.set()
    for p in procs:
        p.join(timeout=300)
    return [p.exitcode for p in procs]


def assert_budget_exact(url: str, trials: int, processes: int) -> None:
    got = stored(url)
    complete = [t for t in got if t.state == "complete"]
    assert len(complete) == trials and len({t.key for t in complete}) == trials
    assert all(t.state in ("complete", "yielded") for t in got)
    # each process drew its own stream: their first proposals differ (one stream would give all
    # of them the same), and at most a chance collision of two random draws made one yield; on a
    # loaded machine a process may start after the others spent the budget (it exits 0, idle)
    first = {}
    for t in got:
        first.setdefault(t.worker, t.key)
    assert 2 <= len(first) <= processes and len(set(first.values())) == len(first)
    assert len([t for t in got if t.state == "yielded" and "holds the same architecture" in t.error]) <= 1


def fresh_url(kind: str, where: Path) -> str:
    return f"sqlite:///{where / 'exp.db'}" if kind == "sqlite" else f"journal:{where / 'exp.log'}"


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_four_processes_started_at_once_on_a_fresh_store_all_run(tmp_path, kind):
    for i in range(3):
        url = fresh_url(kind, tmp_path / str(i))
        assert start_together(url, 4, 24) == [0, 0, 0, 0]
        assert_budget_exact(url, 24, 4)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_four_processes_started_at_once_twenty_times(tmp_path, kind):
    for i in range(20):
        url = fresh_url(kind, tmp_path / str(i))
        assert start_together(url, 4, 24) == [0, 0, 0, 0], f"start {i}"
        assert_budget_exact(url, 24, 4)


def test_four_search_commands_into_one_fresh_out_all_exit_0(tmp_path, evalmod):
    env, _ = evalmod
    out = tmp_path / "run"
    procs = [launch(search_args(out, 20), env) for _ in range(4)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    assert_budget_exact(f"sqlite:///{out / 'exp.db'}", 20, 4)
    result = json.loads((out / "result.json").read_text())
    assert result["trials"] == 20 and json.loads((out / "arch.json").read_text()) == result["best"]["arch"]
    assert not list(out.glob("*.tmp*"))


# --- constant cost per trial ----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["memory", "sqlite", "journal"])
def test_changes_returns_only_new_and_previously_running_trials(tmp_path, kind):
    url = None if kind == "memory" else fresh_url(kind, tmp_path)
    writer, reader = Store(url), None
    writer.open("f", {})
    reader = writer if url is None else Store(url)
    reader.open("f", {})
    done = [writer.start({"a": i}) for i in range(3)]
    for rec in done[:2]:
        writer.complete(rec, 1.0, {})
    assert [(r.number, r.state) for r in reader.changes()] == [(0, "complete"), (1, "complete"), (2, "running")]
    assert [(r.number, r.state) for r in reader.changes()] == [(2, "running")]   # only the open one again
    writer.complete(done[2], 2.0, {})
    new = writer.start({"a": 9})
    assert [(r.number, r.state) for r in reader.changes()] == [(2, "complete"), (3, "running")]
    writer.yield_(new, "test")
    assert [(r.number, r.state) for r in reader.changes()] == [(3, "yielded")]
    assert reader.changes() == []


def test_a_search_reads_the_whole_table_only_at_its_start_and_end(tmp_path, monkeypatch):
    """Per query a worker reads what changed, never every trial (nor does the progress bar)."""
    import nasdsl
    from nasdsl.search.multitrial import search
    calls = []
    whole = Store.trials
    monkeypatch.setattr(Store, "trials", lambda self: calls.append(1) or whole(self))
    reads = []
    changes = Store.changes
    monkeypatch.setattr(Store, "changes", lambda self: reads.append(len(out := changes(self))) or out)
    seen = []
    result = search(nasdsl.load("nasbench201"), "evolution", lambda a: float(len(set(a.values()))), 60,
                    storage=fresh_url("sqlite", tmp_path), progress=lambda done, best: seen.append(done))
    assert len(result.trials) == 60 and seen == list(range(1, 61))
    assert len(calls) == 2                      # the reap before the workers start, the result after
    # one read a trial: its own new trial and the previous one (running at the last read)
    assert len(reads) == 1 + 60 and max(reads[1:]) <= 2


# --- runs that behave -----------------------------------------------------------------------

def test_a_complete_budget_succeeds_though_a_worker_died(tmp_path, capsys):
    """One of two workers is killed mid-trial; the other reaps its trial, re-runs it and
    finishes the budget: the search returns its results (exit 0 from the command line)."""
    import signal as signals

    import nasdsl
    from nasdsl.search.multitrial import search
    flag = tmp_path / "died"

    def evaluate(arch):
        try:
            os.close(os.open(flag, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return float(sum(v == "nor_conv_3x3" for v in arch.values()))
        os.kill(os.getpid(), signals.SIGKILL)   # the first evaluation anywhere kills its worker

    url = fresh_url("sqlite", tmp_path)
    result = search(nasdsl.load("nasbench201"), "random", evaluate, 12, storage=url, workers=2)
    err = capsys.readouterr().err
    assert "warning: 1 of 2 workers failed (exit codes [-9]); the others completed the budget of 12 trials" in err
    assert len(result.trials) == 12 and all(t.state == "complete" for t in result.trials)
    assert_finished(url, 12)   # the killed worker's trial: interrupted once, re-run


@pytest.mark.parametrize("workers, group", [(1, True), (2, True), (2, False)])
def test_ctrl_c_exits_130_and_the_rerun_finishes(tmp_path, evalmod, workers, group):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it, or to the search's own
    process only) while every worker is in an evaluation: exit 130 with no traceback, each
    trial left interrupted, none running (a worker terminated at once left its trial running
    until a rerun reaped it after --grace); the same command then finishes the budget."""
    env, log = evalmod
    out = tmp_path / "run"
    args = search_args(out, 5, "--workers", workers)
    proc = launch(args, {**env, "HANG_AT": "1"}, interruptible=True)   # each process's first evaluation hangs
    wait_for(lambda: started(log) == workers)
    if group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    url = f"sqlite:///{out / 'exp.db'}"
    states = sorted(t.state for t in stored(url))
    assert states == ["interrupted"] * workers
    again = launch(args, env)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    complete = [t for t in stored(url) if t.state == "complete"]
    assert len(complete) == 5 and len({t.key for t in complete}) == 5


def test_an_architecture_interrupted_too_often_is_given_up_with_a_warning(tmp_path, capsys):
    import nasdsl
    from nasdsl.search.multitrial import search
    space = nasdsl.load("nasbench201")
    url = fresh_url("sqlite", tmp_path)
    store = Store(url)
    store.open(space.fingerprint(), {"space": "nasbench201"})
    arch = next(iter(space.enumerate()))
    retry_of = None
    for _ in range(3):   # its worker died three times
        rec = store.start(arch, retry_of)
        rec.number = next(t.number for t in store.trials() if t.trial_id == rec.trial_id)
        store.interrupt(rec)
        retry_of = rec.number
    result = search(space, "random", lambda a: 1.0, 4, storage=url, max_retries=2)
    err = capsys.readouterr().err
    assert (f"warning: giving up architecture {rec.key} (last trial 2): its worker died 3 times "
            "(--max-retries 2)") in err
    assert rec.key not in {t.key for t in result.trials}
    more = search(space, "random", lambda a: 1.0, 6, storage=url, max_retries=3)   # one more try allowed
    assert [t.retry_of for t in more.trials if t.key == rec.key] == [2]
    listing = subprocess.run([sys.executable, "-m", "nasdsl", "trials", str(tmp_path / "exp.db")], cwd=ROOT,
                             capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert listing.returncode == 0, listing.stderr
    assert "trials: 6 complete, 3 interrupted" in listing.stdout
    assert "retries: trial 1 re-ran trial 0, trial 2 re-ran trial 1, trial 7 re-ran trial 2" in listing.stdout


def test_a_busy_out_is_refused_in_one_line_and_the_lock_dies_with_its_process(tmp_path, capsys):
    from nasdsl.cli import main
    from nasdsl.search.outdir import hold, prepare
    out = prepare(tmp_path / "run")
    multi = ["search", "nasbench201", "--strategy", "random", "--trials", "2", "--evaluator",
             "python:math:fabs", "--out", str(out)]
    with hold(out, shared=False):   # a one-shot search runs there
        assert main(multi) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"another search is running in this --out ({out}): wait for it to end or give another --out"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from nasdsl.search.outdir import claim; claim(Path(sys.argv[1]), False); "
                               "print('held', flush=True); time.sleep(120)", str(out)],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert holder.stdout.readline() == "held\n"
    with pytest.raises(Exception, match="another search is running"):
        with hold(out, shared=True):
            pass
    holder.kill()
    holder.wait()
    with hold(out, shared=True):   # kill -9 released it
        pass


def test_a_one_shot_search_into_a_busy_out_is_refused_in_one_line(tmp_path, capsys):
    pytest.importorskip("pytorch_lightning")
    from nasdsl.cli import main
    from nasdsl.search.outdir import hold, prepare
    out = prepare(tmp_path / "run")
    with hold(out, shared=True):   # a multi-trial search runs there
        assert main(["search", "nasbench201", "--set", "C=4", "--set", "N=1", "--strategy", "darts", "--data",
                     "digits", "--epochs", "1", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"another search is running in this --out ({out}): wait for it to end or give another --out"
    assert sorted(p.name for p in out.iterdir()) == [".nasdsl.lock"]   # nothing written


@pytest.mark.parametrize("where, message", [
    ("file", "is a file, not a folder"),
    ("file/run", "/file/run: cannot create it (Not a directory)"),
])
def test_an_out_that_cannot_be_a_folder_is_one_line_and_exit_1(tmp_path, capsys, where, message):
    from nasdsl.cli import main
    (tmp_path / "file").write_text("x")
    code = main(["search", "nasbench201", "--strategy", "random", "--trials", "2", "--evaluator", "python:math:fabs",
                 "--out", str(tmp_path / where)])
    err = capsys.readouterr().err
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1


def test_a_damaged_trial_entry_is_one_line_and_exit_1(tmp_path, capsys):
    import sqlite3

    import nasdsl
    from nasdsl.cli import main
    from nasdsl.search.multitrial import search
    search(nasdsl.load("nasbench201"), "random", lambda a: 1.0, 3, storage=fresh_url("sqlite", tmp_path))
    with sqlite3.connect(tmp_path / "exp.db") as conn:
        conn.execute("UPDATE trial_user_attributes SET value_json = '{\"arch\": [1' WHERE trial_id = 2 AND key = 'nasdsl'")
    capsys.readouterr()
    assert main(["trials", str(tmp_path / "exp.db")]) == 1
    err = capsys.readouterr().err
    assert "a damaged trial entry in experiment 'nasdsl'" in err and len(err.strip().splitlines()) == 1
    assert main(["search", "nasbench201", "--strategy", "random", "--trials", "5", "--evaluator",
                 "python:math:fabs", "--storage", fresh_url("sqlite", tmp_path), "--out", str(tmp_path / "o")]) == 1
    assert "a damaged trial entry" in capsys.readouterr().err


@needs_unshare("-m")
def test_trials_reads_a_store_on_a_read_only_mount(tmp_path):
    import nasdsl
    from nasdsl.search.multitrial import search
    (tmp_path / "data").mkdir()
    (tmp_path / "ro").mkdir()
    search(nasdsl.load("nasbench201"), "random", lambda a: float(len(set(a.values()))), 7,
           storage=fresh_url("sqlite", tmp_path / "data"))
    script = (f'mount --bind {tmp_path / "data"} {tmp_path / "ro"} && mount -o remount,bind,ro {tmp_path / "ro"} '
              f'&& ! touch {tmp_path / "ro" / "probe"} 2>/dev/null && exec "$0" -m nasdsl trials {tmp_path / "ro"} --json')
    got = subprocess.run(["unshare", "-m", "sh", "-c", script, sys.executable], cwd=ROOT, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["counts"] == {"complete": 7}


# --- one device per worker ------------------------------------------------------------------

@pytest.mark.parametrize("visible, per_trial, workers, expected", [
    ("0,1,2", 1, 4, ["0", "0", "1", "2"]),        # round robin: four workers on three GPUs
    ("4,5,6,7", 2, 2, ["4,5", "6,7"]),            # two GPUs each, of the visible ones
])
def test_each_worker_gets_its_own_gpus(tmp_path, monkeypatch, visible, per_trial, workers, expected):
    """On CPU: the environment each worker process evaluates its trials in."""
    import nasdsl
    from nasdsl.search.multitrial import search
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    log = tmp_path / "devices.log"

    def evaluate(arch):
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {os.environ['CUDA_VISIBLE_DEVICES']}\n")
        time.sleep(0.2)   # every worker gets trials
        return 1.0

    search(nasdsl.load("nasbench201"), "random", evaluate, 4 * workers, storage=fresh_url("sqlite", tmp_path),
           workers=workers, gpus_per_trial=per_trial)
    seen = dict(line.split() for line in log.read_text().splitlines())
    assert len(seen) == workers and os.getpid() not in seen
    assert sorted(seen.values()) == expected
    assert os.environ["CUDA_VISIBLE_DEVICES"] == visible   # the search's own process is untouched


def test_no_gpu_leaves_the_environment_alone_and_too_many_per_trial_is_refused(tmp_path, monkeypatch):
    import nasdsl
    from nasdsl.errors import NasError
    from nasdsl.search.devices import plan
    from nasdsl.search.multitrial import search
    assert plan(3, 1, []) == [None, None, None]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(NasError, match=r"--gpus-per-trial 2: only 1 GPU\(s\) visible \(0\)"):
        search(nasdsl.load("nasbench201"), "random", lambda a: 1.0, 2, storage=fresh_url("sqlite", tmp_path),
               workers=2, gpus_per_trial=2)
