"""Multi-trial search on the NAS-Bench-201 table: quality, per-query overhead, worker speed-up.

    python bench/bench_multitrial.py quality  [--seeds 50] [--budgets 50,100,300,1000]
    python bench/bench_multitrial.py overhead [--repeats 5] [--trials 300]
    python bench/bench_multitrial.py workers  [--trials 8] [--epochs 1]

`quality`: mean +- std of the best CIFAR-10 test accuracy found, over seeds, for every
strategy at every budget (through `search()` with the in-memory store, as a user runs it), and
Optuna's own multivariate TPE run directly (`study.optimize`, one categorical per edge) as the
reference. Best possible: 94.37.

`overhead`: milliseconds a query costs outside the evaluator (proposing, storing, bookkeeping)
at `--trials` trials, for every strategy on every store (in-memory, SQLite as nasdsl opens it,
Optuna's journal file). The baseline, run alternately with ours on the same workload, is the
same random search through Optuna's own default SQLite storage (`create_study(storage=
"sqlite:///...")`, ask/tell); the ratio is ours / baseline; median and range over repeats.

`workers`: wall time of `nasdsl search --workers 2` against `--workers 1` with the train
evaluator (digits, NB201 with C=8, N=1), alternating, median and range.

Needs `../shared/data/nb201_table.csv.gz` (never shipped with the package).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nasdsl
from nasdsl.search.evaluators import TableEvaluator
from nasdsl.search.multitrial import search

TABLE = ROOT.parent / "shared" / "data" / "nb201_table.csv.gz"
STRATEGIES = ("random", "evolution", "tpe", "rl", "local")
EDGES = ("Cell.e1_0", "Cell.e2_0", "Cell.e2_1", "Cell.e3_0", "Cell.e3_1", "Cell.e3_2")


def quality(args) -> None:
    space = nasdsl.load("nasbench201")
    table = TableEvaluator(space, TABLE, metric="cifar10_test")
    budgets = [int(b) for b in args.budgets.split(",")]
    strategies = args.strategies.split(",")
    print(f"mean +- std of best cifar10_test found over {args.seeds} seeds (optimum 94.37)")
    print("strategy            " + "".join(f"{b:>18}" for b in budgets))
    for name in strategies:
        row = []
        for budget in budgets:
            found = [search(space, name, table, budget, seed=s, costs=False).best.value for s in range(args.seeds)]
            row.append(f"{statistics.fmean(found):.3f} +- {statistics.stdev(found):.3f}")
        print(f"{name:<20}" + "".join(f"{c:>18}" for c in row), flush=True)
    if "optuna" in args.reference:
        row = []
        for budget in budgets:
            found = [optuna_tpe(table, space, budget, s) for s in range(args.seeds)]
            row.append(f"{statistics.fmean(found):.3f} +- {statistics.stdev(found):.3f}")
        print(f"{'optuna TPE (direct)':<20}" + "".join(f"{c:>18}" for c in row), flush=True)


def optuna_tpe(table: TableEvaluator, space, budget: int, seed: int) -> float:
    """Optuna 5's multivariate TPE on its own: one categorical per edge, `study.optimize`."""
    import warnings

    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ops = space.decision(EDGES[0]).values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed, multivariate=True))

    def objective(trial):
        arch = {e: trial.suggest_categorical(e, ops) for e in EDGES}
        return table(arch)["cifar10_test"]
    study.optimize(objective, n_trials=budget)
    return study.best_value


class Timed:
    """Wraps an evaluator and adds up the time spent inside it."""

    def __init__(self, inner):
        self.inner, self.seconds, self.objective = inner, 0.0, inner.objective

    def __call__(self, arch):
        start = time.perf_counter()
        try:
            return self.inner(arch)
        finally:
            self.seconds += time.perf_counter() - start


def ours(space, table, name: str, store: str, trials: int, folder: Path) -> float:
    timed = Timed(table)
    url = {"memory": None, "sqlite": f"sqlite:///{folder / 'exp.db'}", "journal": f"journal:{folder / 'exp.log'}"}[store]
    start = time.perf_counter()
    search(space, name, timed, trials, storage=url, seed=0, costs=False)
    return (time.perf_counter() - start - timed.seconds) / trials * 1000


def optuna_default_sqlite(space, table, trials: int, folder: Path) -> float:
    """The baseline: random search through Optuna's default SQLite storage, ask/tell."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ops = space.decision(EDGES[0]).values
    timed = Timed(table)
    start = time.perf_counter()
    study = optuna.create_study(storage=f"sqlite:///{folder / 'optuna.db'}", direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(trials):
        trial = study.ask()
        arch = {e: trial.suggest_categorical(e, ops) for e in EDGES}
        study.tell(trial, timed(arch)["cifar10_test"])
    return (time.perf_counter() - start - timed.seconds) / trials * 1000


def overhead(args) -> None:
    space = nasdsl.load("nasbench201")
    table = TableEvaluator(space, TABLE, metric="cifar10_test")
    search(space, "random", table, 5, costs=False)   # imports and caches warm
    stores = args.stores.split(",")
    results: dict[tuple[str, str], list[float]] = {}
    baseline: list[float] = []
    for _ in range(args.repeats):
        for name in args.strategies.split(","):
            for store in stores:
                with tempfile.TemporaryDirectory() as tmp:
                    results.setdefault((name, store), []).append(ours(space, table, name, store, args.trials, Path(tmp)))
        with tempfile.TemporaryDirectory() as tmp:
            baseline.append(optuna_default_sqlite(space, table, args.trials, Path(tmp)))
    base = statistics.median(baseline)
    print(f"ms per query outside the evaluator at {args.trials} trials, median [min, max] of {args.repeats} repeats")
    print(f"baseline: Optuna's default SQLite storage, random sampler, ask/tell: {base:.2f} ms "
          f"[{min(baseline):.2f}, {max(baseline):.2f}]")
    print(f"{'strategy':<10}{'store':<9}{'ms/query':>10}{'range':>20}{'ours/baseline':>15}")
    for (name, store), values in results.items():
        med = statistics.median(values)
        print(f"{name:<10}{store:<9}{med:>10.3f}{f'[{min(values):.3f}, {max(values):.3f}]':>20}{med / base:>15.3f}")


def workers(args) -> None:
    def run(n: int) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "nasdsl", "search", "nasbench201", "--set", "C=8", "--set", "N=1",
                   "--strategy", "random", "--trials", str(args.trials), "--evaluator", "train", "--data", "digits",
                   "--epochs", str(args.epochs), "--workers", str(n), "--out", tmp]
            start = time.perf_counter()
            subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            return time.perf_counter() - start
    one, two = [], []
    for _ in range(args.repeats):
        one.append(run(1))
        two.append(run(2))
    m1, m2 = statistics.median(one), statistics.median(two)
    print(f"train evaluator, {args.trials} trials of {args.epochs} epoch(s) on digits, {args.repeats} repeats alternating")
    print(f"--workers 1: {m1:.1f} s [{min(one):.1f}, {max(one):.1f}]")
    print(f"--workers 2: {m2:.1f} s [{min(two):.1f}, {max(two):.1f}]   speed-up {m1 / m2:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--seeds", type=int, default=50)
    q.add_argument("--budgets", default="50,100,300,1000")
    q.add_argument("--strategies", default=",".join(STRATEGIES))
    q.add_argument("--reference", default="optuna", help="'optuna' to run Optuna's TPE directly, 'none' to skip")
    o = sub.add_parser("overhead")
    o.add_argument("--repeats", type=int, default=5)
    o.add_argument("--trials", type=int, default=300)
    o.add_argument("--strategies", default=",".join(("random", "grid", "evolution", "tpe", "rl", "local")))
    o.add_argument("--stores", default="memory,sqlite,journal")
    w = sub.add_parser("workers")
    w.add_argument("--trials", type=int, default=8)
    w.add_argument("--epochs", type=int, default=1)
    w.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    {"quality": quality, "overhead": overhead, "workers": workers}[args.what](args)


if __name__ == "__main__":
    main()
