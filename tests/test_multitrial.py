"""The multi-trial search end to end: the store, resume after kill -9, changed spaces, failing
trials, workers, evaluators and the `nasdsl search` / `nasdsl trials` commands."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nasdsl
from nasdsl.cli import main
from nasdsl.search.multitrial import search
from nasdsl.search.store import Store

ROOT = Path(__file__).resolve().parents[1]

EVALUATOR = '''
import os, time
def evaluate(arch):
    log = os.environ["EVAL_LOG"]
    with open(log, "a") as f:
        f.write("start " + repr(sorted(arch.items())) + "\\n")
    calls = sum(1 for line in open(log) if line.startswith("start"))
    if calls == int(os.environ.get("HANG_AT", "0")):
        time.sleep(60)          # the test kills the search here, mid-trial
    if arch.get("Cell.e1_0") == os.environ.get("FAIL_ON", "-"):
        raise RuntimeError("this architecture cannot be evaluated")
    with open(log, "a") as f:
        f.write("end " + repr(sorted(arch.items())) + "\\n")
    return {"score": float(sum(v == "nor_conv_3x3" for v in arch.values())), "other": 1.0}
'''


def nasdsl_cmd(*args, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "nasdsl", *map(str, args)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


@pytest.fixture
def evalmod(tmp_path):
    (tmp_path / "evalmod.py").write_text(EVALUATOR)
    log = tmp_path / "eval.log"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}", "EVAL_LOG": str(log)}
    return env, log


def lines(log: Path, kind: str) -> list[str]:
    return [line.split(" ", 1)[1] for line in log.read_text().splitlines() if line.startswith(kind)] if log.exists() else []


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def stored(out: Path) -> list:
    store = Store(f"sqlite:///{out / 'exp.db'}")
    store.open(None, {}, create=False)
    return store.trials()


@pytest.mark.parametrize("strategy", ["evolution", "tpe"])
def test_kill_9_mid_trial_then_the_same_command_continues(tmp_path, evalmod, strategy):
    env, log = evalmod
    out = tmp_path / "run"
    args = ["search", "nasbench201", "--strategy", strategy, "--trials", 30, "--evaluator", "python:evalmod:evaluate",
            "--metric", "score", "--out", out, "--seed", 1]
    first = nasdsl_cmd(*args, env={**env, "HANG_AT": "12"})
    wait_for(lambda: len(lines(log, "start")) >= 12)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    before = stored(out)
    done_before = {t.key for t in before if t.state == "complete"}
    assert len(done_before) == 11 and [t.state for t in before].count("running") == 1
    hung = next(t for t in before if t.state == "running")
    ends_before = len(lines(log, "end"))

    second = nasdsl_cmd(*args, env=env)
    assert second.wait(timeout=120) == 0, second.stderr.read()
    after = stored(out)
    complete = [t for t in after if t.state == "complete"]
    assert len(complete) == 30 and len({t.key for t in complete}) == 30          # nothing lost, nothing twice
    assert [t.state for t in after].count("interrupted") == 1
    retry = next(t for t in after if t.retry_of is not None)
    assert retry.retry_of == hung.number and retry.key == hung.key and retry.state == "complete"
    evaluated_again = [json.dumps(x) for x in lines(log, "end")[ends_before:]]
    assert len(evaluated_again) == 19                                        # 30 - 11: no completed one re-run
    assert {t.key for t in complete} >= done_before


def test_a_changed_space_is_refused_naming_both_fingerprints(tmp_path, evalmod, capsys):
    env, _ = evalmod
    sys.path.insert(0, str(Path(env["PYTHONPATH"].split(os.pathsep)[1])))
    os.environ["EVAL_LOG"] = env["EVAL_LOG"]
    try:
        space_file = tmp_path / "s.nas"
        space_file.write_text("network(x: [4]) = x -> Linear(4, choice[8, 16, 32]) -> choice{a: ReLU(), b: Tanh()}\n")
        out = tmp_path / "run"
        args = ["search", str(space_file), "--strategy", "grid", "--trials", 4, "--evaluator",
                "python:evalmod:evaluate", "--metric", "score", "--out", str(out)]
        assert main(list(map(str, args))) == 0
        old = nasdsl.load(space_file).fingerprint()
        space_file.write_text("network(x: [4]) = x -> Linear(4, choice[8, 16]) -> choice{a: ReLU(), b: Tanh()}\n")
        new = nasdsl.load(space_file).fingerprint()
        capsys.readouterr()
        assert main(list(map(str, args))) == 1
        err = capsys.readouterr().err
        assert f"fingerprint {old}" in err and f"fingerprint {new}" in err and "--allow-changed-space" in err
        assert "Traceback" not in err
        assert main(list(map(str, args + ["--allow-changed-space"]))) == 0
        space = nasdsl.load(space_file)
        trials = stored(out)
        kept = [t for t in trials if t.state == "complete" and space.contains(t.arch)]
        # grid over the new space's 4 architectures: the ones stored and still valid are kept, the rest run now
        assert sorted(t.key for t in kept) == sorted(json.dumps(a, separators=(",", ":")) for a in space.enumerate())
        assert len([t for t in trials if t.state == "complete"]) - len(kept) == sum(
            1 for t in trials if t.state == "complete" and t.arch["out.0.out_features"] == 32)
        # the width's domain changed, so new trials record only the unchanged decision as an Optuna parameter
        import optuna
        params = [t.params for t in optuna.load_study(study_name="nasdsl", storage=f"sqlite:///{out / 'exp.db'}").trials]
        assert all(set(p) == {"out.0.out_features", "out.1"} for p in params[:4])
        assert all(set(p) == {"out.1"} for p in params[4:]) and len(params) > 4
    finally:
        sys.path.pop(0)


def test_a_trial_that_raises_is_recorded_and_the_search_goes_on(tmp_path, evalmod):
    env, log = evalmod
    out = tmp_path / "run"
    proc = nasdsl_cmd("search", "nasbench201", "--strategy", "evolution", "--trials", 40, "--evaluator",
                      "python:evalmod:evaluate", "--metric", "score", "--out", out, "--option", "on_failure=worst",
                      "--option", "population_size=10", env={**env, "FAIL_ON": "none"})
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    trials = stored(out)
    failed = [t for t in trials if t.state == "failed"]
    assert failed and all(t.arch["Cell.e1_0"] == "none" for t in failed)
    assert all("RuntimeError: this architecture cannot be evaluated" in t.error for t in failed)
    assert len([t for t in trials if t.counts]) == 40
    assert all(t.arch["Cell.e1_0"] != "none" for t in trials if t.state == "complete")
    listing = subprocess.run([sys.executable, "-m", "nasdsl", "trials", out, "--json"], env=env, cwd=ROOT,
                             capture_output=True, text=True, check=True)
    data = json.loads(listing.stdout)
    assert data["counts"] == {"complete": 40 - len(failed), "failed": len(failed)}


def test_search_command_writes_arch_result_and_plot_and_trials_lists_nb201(tmp_path, nb201_table, capsys):
    out = tmp_path / "run"
    args = ["search", "nasbench201", "--strategy", "local", "--trials", "50", "--evaluator", f"table:{nb201_table}",
            "--metric", "cifar10_test", "--constraint", "latency_pixel3<=12", "--out", str(out), "--seed", "3"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    space = nasdsl.load("nasbench201")
    arch = json.loads((out / "arch.json").read_text())
    assert space.validate(arch) == arch
    result = json.loads((out / "result.json").read_text())
    assert result["trials"] == 50 and result["best"]["arch"] == arch
    assert result["best"]["metrics"]["latency_pixel3"] <= 12
    assert result["best_so_far"][-1] == result["best"]["value"] and len(result["best_so_far"]) == 50
    assert (out / "best_so_far.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result["best_text"] in printed and result["best_text"].startswith("|")
    trials = stored(out)
    # local search reads the bound's usage (known before the query) and proposes nothing that breaks it
    assert not [t for t in trials if t.state == "infeasible"]
    assert [t.state for t in trials if t.counts] == ["complete"] * 50
    assert main(["trials", str(out), "--top", "3"]) == 0
    listing = capsys.readouterr().out
    assert result["best_text"] in listing and listing.count("|+|") == 2 * 3
    assert "cifar10_test" in listing and "params" in listing
    # the same command again: the budget is spent, nothing runs, the same answer
    assert main(args) == 0
    assert json.loads((out / "arch.json").read_text()) == arch and len(stored(out)) == len(trials)


def test_two_workers_share_one_store_without_duplicates(tmp_path, nb201_table):
    out = tmp_path / "run"
    proc = nasdsl_cmd("search", "nasbench201", "--strategy", "evolution", "--trials", 80, "--workers", 2, "--evaluator",
                      f"table:{nb201_table}", "--metric", "cifar10_test", "--out", out)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    trials = stored(out)
    complete = [t for t in trials if t.state == "complete"]
    assert len(complete) == 80 and len({t.key for t in complete}) == 80
    assert len({t.worker for t in complete}) == 2
    assert all(t.state in ("complete", "yielded") for t in trials)


def test_the_default_store_is_sqlite_in_wal_mode(tmp_path):
    space = nasdsl.load("nasbench201")
    url = f"sqlite:///{tmp_path / 'exp.db'}"
    result = search(space, "random", lambda a: 1.0, 5, storage=url)
    assert len(result.trials) == 5
    with sqlite3.connect(tmp_path / "exp.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_decisions_are_optuna_parameters_the_dashboard_plots(tmp_path):
    """What optuna-dashboard reads: each trial's active decisions as categorical parameters over
    their domains (an input subset as its JSON list), and parameter importances from them."""
    import optuna
    space = nasdsl.load("examples/macro.nas")
    url = f"sqlite:///{tmp_path / 'exp.db'}"
    result = search(space, "random", lambda a: float(len(json.dumps(a))), 12, storage=url, seed=1)
    study = optuna.load_study(study_name="nasdsl", storage=url)
    assert len(study.trials) == 12
    for rec, trial in zip(result.trials, study.trials):
        assert trial.params == {k: json.dumps(list(v)) if isinstance(v, list) else v for k, v in rec.arch.items()}
        for label, dist in trial.distributions.items():
            values = space.decision(label).values
            assert dist.choices == tuple(json.dumps(list(v)) if isinstance(v, tuple) else v for v in values)
    importances = optuna.importance.get_param_importances(study)
    assert set(importances) <= set(space.labels()) and importances and abs(sum(importances.values()) - 1) < 1e-9


def test_a_worker_on_another_machine_is_reaped_only_once_its_heartbeat_stops(tmp_path):
    """Another host's process cannot be probed by pid: its trial stays running while it beats
    and is marked interrupted (to be re-run) once no beat came for `grace_period` seconds."""
    url = f"sqlite:///{tmp_path / 'exp.db'}"
    elsewhere = Store(url, heartbeat_interval=1, grace_period=2)
    elsewhere.worker = "another-host:4242"
    elsewhere.open("f", {})
    rec = elsewhere.start({"a": 1})
    elsewhere.heartbeat(rec.trial_id)
    here = Store(url, heartbeat_interval=1, grace_period=2)
    here.open("f", {})
    for _ in range(3):   # beating for longer than the grace period: never reaped
        assert here.reap() == [] and [t.state for t in here.trials()] == ["running"]
        time.sleep(1.0)
        elsewhere.heartbeat(rec.trial_id)
    time.sleep(3.5)      # silent for longer than the grace period (SQLite's clock has whole seconds)
    assert here.reap() == [0]   # its trial number (the writer on a shared store does not read it back)
    assert [(t.state, t.worker) for t in here.trials()] == [("interrupted", "another-host:4242")]


def test_journal_store_resumes(tmp_path):
    space = nasdsl.load("nasbench201")
    url = f"journal:{tmp_path / 'exp.log'}"
    first = search(space, "evolution", lambda a: float(len(set(a.values()))), 10, storage=url)
    second = search(space, "evolution", lambda a: float(len(set(a.values()))), 25, storage=url)
    assert [t.key for t in second.trials[:10]] == [t.key for t in first.trials]
    assert len({t.key for t in second.trials}) == 25


@pytest.mark.parametrize("argv, message", [
    (["--evaluator", "table:/nonexistent.csv", "--metric", "x"], "cannot read table /nonexistent.csv"),
    (["--evaluator", "table:{table}", "--metric", "cifar11_test"], "has no column 'cifar11_test'"),
    (["--evaluator", "table:{table}"], "needs --metric"),
    (["--evaluator", "python:nosuchmodule:f"], "cannot import 'nosuchmodule'"),
    (["--evaluator", "magic"], "unknown --evaluator 'magic'"),
    ([], "multi-trial search needs --evaluator"),
    (["--evaluator", "table:{table}", "--metric", "cifar10_test", "--constraint", "latency<<3"], "--constraint expects"),
    (["--evaluator", "table:{table}", "--metric", "cifar10_test", "--option", "sample_size=500"],
     "`sample_size` must be between 1 and population_size (10), got 500"),
    (["--evaluator", "table:{table}", "--metric", "cifar10_test", "--storage", "nosuchdb://x"], "--storage nosuchdb://x"),
])
def test_bad_input_is_one_message_and_exit_1(tmp_path, nb201_table, capsys, argv, message):
    argv = [a.format(table=nb201_table) for a in argv]   # the table is a fixture, not known when collecting
    code = main(["search", "nasbench201", "--strategy", "evolution", "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err


def test_train_evaluator_trains_each_architecture(tmp_path):
    pytest.importorskip("nasdsl.train", reason="the train evaluator calls nasdsl.train (helper B's module)")
    out = tmp_path / "run"
    assert main(["search", "nasbench201", "--set", "C=4", "--set", "N=1", "--strategy", "random", "--trials", "3",
                 "--evaluator", "train", "--data", "digits", "--epochs", "1", "--out", str(out)]) == 0
    trials = stored(out)
    assert [t.state for t in trials] == ["complete"] * 3
    for t in trials:
        assert 0.0 <= t.value <= 1.0 and t.value == t.metrics["val_acc"]
        assert {"test_acc", "params", "flops", "train_loss"} <= set(t.metrics)
