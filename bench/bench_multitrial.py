"""Multi-trial search on the NAS-Bench-201 table: quality, per-query overhead, worker speed-up.

    python bench/bench_multitrial.py quality  [--seeds 50] [--budgets 50,100,300,1000]
    python bench/bench_multitrial.py overhead [--repeats 5] [--trials 300]
    python bench/bench_multitrial.py scale    [--trials 10000] [--strategies random,evolution,local,tpe]
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

`scale`: the overhead of one query at trial 100, 1,000 and 10,000 (the median of the `--window`
queries before each) for random, evolution, local and tpe, in memory and on SQLite as nasdsl
opens it, beside Optuna's own `study.optimize` on the same kind of store (RandomSampler; TPE's
multivariate sampler for tpe): a trial must cost the same at trial 10,000 as at trial 100. Our
overhead is split into the loop and store (`work()`, `Store`) and the strategy's own `ask`/`tell`
(TPE's model; evolution's and local search's proposals of architectures already evaluated,
told back as free observations, which grow as the search converges).

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


class Gaps:
    """Wraps an evaluator and records, for each query, the time since the previous query ended
    minus the time inside the evaluator: the overhead of that query (proposing, storing,
    bookkeeping, reading the store), and the part of it spent inside the strategy's own
    `ask`/`tell`/`reject` (`clock`, added to by `TimedStrategies`)."""

    now = staticmethod(time.perf_counter)   # `time.process_time` for CPU time (`scale --clock cpu`)

    def __init__(self, inner, clock: list[float] | None = None):
        self.inner, self.objective = inner, getattr(inner, "objective", "cifar10_test")
        self.clock = clock if clock is not None else [0.0]
        self.gaps: list[float] = []
        self.strategy: list[float] = []
        self._end: float | None = None
        self._mark = 0.0

    def __call__(self, arch):
        start = self.now()
        try:
            return self.inner(arch)
        finally:
            end = self.now()
            if self._end is not None:
                self.gaps.append((end - self._end) - (end - start))
                self.strategy.append(self.clock[0] - self._mark)
            self._end, self._mark = end, self.clock[0]


class TimedStrategies:
    """While active, every strategy `search()` creates adds the seconds spent in its `ask`,
    `tell` and `reject` to `clock[0]`."""

    def __init__(self):
        self.clock = [0.0]

    def __enter__(self):
        import nasdsl.search.multitrial as mt
        self._create, clock, depth = mt.create, self.clock, [0]

        def create(*args, **kwargs):
            strat = self._create(*args, **kwargs)
            for name in ("ask", "tell", "reject"):
                inner = getattr(strat, name)

                def timed(*a, _inner=inner, **k):
                    if depth[0]:   # `ask` tells repeats back itself: counted once, by `ask`
                        return _inner(*a, **k)
                    depth[0] += 1
                    begin = Gaps.now()
                    try:
                        return _inner(*a, **k)
                    finally:
                        clock[0] += Gaps.now() - begin
                        depth[0] -= 1
                setattr(strat, name, timed)
            return strat
        mt.create = create
        return self

    def __exit__(self, *exc):
        import nasdsl.search.multitrial as mt
        mt.create = self._create


def at(gaps: list[float], trial: int, window: int) -> float | None:
    """Median overhead (ms) of the `window` queries before `trial`."""
    chunk = gaps[max(0, trial - 1 - window):trial - 1]
    return statistics.median(chunk) * 1000 if len(chunk) == min(window, trial - 1) and chunk else None


def optuna_optimize(space, table, name: str, storage, trials: int) -> list[float]:
    """The reference: Optuna's own `study.optimize` on the same kind of store (one categorical
    per edge; RandomSampler, or multivariate TPESampler for tpe); per-query overhead as `Gaps`."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ops = space.decision(EDGES[0]).values
    sampler = (optuna.samplers.TPESampler(seed=0, multivariate=True) if name == "tpe"
               else optuna.samplers.RandomSampler(seed=0))
    study = optuna.create_study(storage=storage, direction="maximize", sampler=sampler)
    gaps = Gaps(lambda arch: table(arch)["cifar10_test"])

    def objective(trial):   # the suggestions fall between two look-ups: counted as overhead
        return gaps({e: trial.suggest_categorical(e, ops) for e in EDGES})
    study.optimize(objective, n_trials=trials)
    return gaps.gaps


def scale(args) -> None:
    """Per-query overhead at trials 100, 1,000 and 10,000 (median of the `--window` queries
    before each), ours beside Optuna's own `study.optimize` on the same store."""
    from nasdsl.search.store import open_storage
    if args.clock == "cpu":   # this process's CPU time: what a loaded machine's waits do not inflate
        Gaps.now = staticmethod(time.process_time)
    space = nasdsl.load("nasbench201")
    table = TableEvaluator(space, TABLE, metric="cifar10_test")
    search(space, "random", table, 5, costs=False)   # imports and caches warm
    checkpoints = [c for c in (100, 1000, 10000) if c <= args.trials]
    print(f"ms ({args.clock} time) per query outside the evaluator at trial N (median of the {args.window} "
          f"queries before N), {args.trials} trials")
    print(f"{'strategy':<10}{'store':<8}{'who':<21}" + "".join(f"{'N=' + str(c):>10}" for c in checkpoints)
          + f"{'last/first':>12}")
    for name in args.strategies.split(","):
        for store in args.stores.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                url = None if store == "memory" else f"sqlite:///{Path(tmp) / 'exp.db'}"
                with TimedStrategies() as timing:
                    gaps = Gaps(table, timing.clock)
                    search(space, name, gaps, args.trials, storage=url, seed=0, costs=False)
                loop = [g - s for g, s in zip(gaps.gaps, gaps.strategy)]
                rows = [("nasdsl (loop+store)", [at(loop, c, args.window) for c in checkpoints]),
                        ("  strategy's own", [at(gaps.strategy, c, args.window) for c in checkpoints])]
                if not args.no_reference:
                    ref_url = None if store == "memory" else f"sqlite:///{Path(tmp) / 'optuna.db'}"
                    ref = optuna_optimize(space, table, name, open_storage(ref_url), args.trials)
                    rows.append(("optuna optimize", [at(ref, c, args.window) for c in checkpoints]))
            for who, row in rows:
                cells = "".join(f"{v:>10.3f}" if v is not None else f"{'-':>10}" for v in row)
                ratio = row[-1] / row[0] if row and row[0] and row[-1] else float("nan")
                print(f"{name:<10}{store:<8}{who:<21}{cells}{ratio:>12.2f}", flush=True)


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
    c = sub.add_parser("scale")
    c.add_argument("--trials", type=int, default=10000)
    c.add_argument("--window", type=int, default=50)
    c.add_argument("--strategies", default="random,evolution,local,tpe")
    c.add_argument("--stores", default="memory,sqlite")
    c.add_argument("--no-reference", action="store_true", help="skip Optuna's own study.optimize")
    c.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall-clock time, or this process's CPU time (steadier on a shared machine)")
    w = sub.add_parser("workers")
    w.add_argument("--trials", type=int, default=8)
    w.add_argument("--epochs", type=int, default=1)
    w.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    {"quality": quality, "overhead": overhead, "scale": scale, "workers": workers}[args.what](args)


if __name__ == "__main__":
    main()
