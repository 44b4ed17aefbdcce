"""The multi-trial search driver: ask a strategy, evaluate, store, until the trial budget is spent.

One loop (`work`) runs in every worker: it reads what changed in the store since its last read
(`Store.changes()`, folded into its `Ledger`: a trial costs the same at trial 10,000 as at
trial 100), tells the strategy every finished trial it has not seen (a resumed or parallel
search rebuilds the strategy's state from the table), re-runs architectures whose worker died
(up to `--max-retries` times), asks the strategy for a new architecture that no trial holds,
records it as running, evaluates it and records the result.
With several workers or machines on one store, a worker checks after recording a trial that
no earlier trial holds the same architecture and that the budget was not already full, and
yields the trial otherwise: the budget is finished with no duplicate and no lost trial.

`search(...)` is the Python entry point; `run(args)` the `nasdsl search` one. Workers are
forked processes (`--workers N`), each with its own connection to the store; several
machines run the same command against one `--storage postgresql://...`.

Example::

    >>> import nasdsl
    >>> from nasdsl.search.multitrial import search
    >>> space = nasdsl.load("nasbench201")
    >>> result = search(space, "random", lambda arch: {"value": float(len(set(arch.values())))},
    ...                 trials=20, seed=0)
    >>> len(result.trials), result.best.value
    (20, 5.0)
"""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import strategy as strategies
from ..arch import arch_to_json
from ..errors import NasError
from ..formats import arch_text
from ..run import write_run
from ..space import Space
from ..strategy.base import create
from . import devices
from .evaluators import Evaluator, Infeasible, objective_value
from .feasibility import Screen
from .feasibility import tell as tell_trial
from .ledger import Ledger
from .objectives import Objective, check_columns, evaluated_metric, parse_objectives, values_of
from .outdir import claim, prepare
from .store import STUDY, Heartbeat, Store, TrialRecord, default_url


@dataclass
class SearchResult:
    """What a search leaves: the counted trials in order, the best one, the store's URL."""

    trials: list[TrialRecord]
    best: TrialRecord | None
    url: str
    objective: str
    objectives: tuple = ()   # a multi-objective search's (`nasdsl.search.objectives.Objective`); best is None

    def front(self) -> list[TrialRecord]:
        """A multi-objective search's Pareto front: the complete trials no other dominates."""
        from .objectives import directions, pareto_trials
        return pareto_trials(self.trials, directions(self.objectives)) if self.objectives else []

    def best_so_far(self) -> list[float]:
        out, best = [], float("-inf")
        for t in self.trials:
            if t.state == "complete" and t.value is not None:
                best = max(best, t.value)
            out.append(best)
        return out


@dataclass
class Job:
    """Everything a worker needs (inherited by forked workers, never pickled)."""

    space: Space
    strategy: str
    evaluator: Callable[[Mapping[str, Any]], Any]
    objective: str
    trials: int
    url: str | None
    study: str
    seed: int
    options: Any
    costs: bool = True
    grace: float = 30.0
    max_retries: int = 2
    gpus_per_trial: int = 1
    checks: tuple = ()   # constraints checked before a trial is spent (feasibility.Bound)
    objectives: tuple = ()   # two or more: a multi-objective search (objectives.Objective)

    @property
    def directions(self) -> tuple[str, ...] | None:
        return tuple(o.direction for o in self.objectives) or None


# --- the worker loop -----------------------------------------------------------------------

def _catch_up(strat, ledger: Ledger, screen: Screen, told: set[int]) -> None:
    """Tell the strategy the trials counted and the proposals found infeasible since its last
    look (each counted trial once, whichever worker ran it)."""
    for r in ledger.newly_counted():
        if r.trial_id not in told:
            tell_trial(strat, r)
            told.add(r.trial_id)
    for r in ledger.newly_infeasible():
        screen.replay(strat, r)


def work(job: Job, store: Store, index: int = 0, on_trial: Callable[[TrialRecord, Ledger], None] | None = None,
         parent: int | None = None) -> None:
    """Run trials of `job` until its budget is spent or the strategy has nothing left."""
    space = job.space
    fingerprint = store.attrs.get("fingerprint")
    validity: dict[str, bool] = {}

    def usable(rec: TrialRecord) -> bool:
        if rec.fingerprint == fingerprint or not rec.arch:
            return bool(rec.arch)
        if rec.key not in validity:   # a trial from before --allow-changed-space
            validity[rec.key] = space.contains(rec.arch)
        return validity[rec.key]

    ledger = Ledger(usable)
    ledger.update(store.changes())
    # each worker, each resumption and each process joining the store draws its own stream
    # (the first process of a fresh store: the base seed itself)
    seed = (job.seed + 1_000_003 * index + 7919 * ledger.counted + 15_485_863 * store.join()) % 2**32
    strat = create(job.strategy, space, seed=seed, budget=job.trials, options=job.options, directions=job.directions)
    told: set[int] = set()
    waiting = _Waiting(store)
    screen = Screen(job.checks, store)
    screen.guide(strat)
    heart = Heartbeat(store, parent)
    current = True   # the ledger holds what was read after the last trial's start
    try:
        while True:
            # what other workers finished while this one evaluated is read here, once a trial;
            # the check after recording a trial keeps the budget exact and the architectures unique
            if not current:
                ledger.update(store.changes())
            current = False
            _catch_up(strat, ledger, screen, told)
            if ledger.counted >= job.trials:
                return
            running = ledger.running()
            if ledger.counted + len(running) >= job.trials:
                if not store.reap(running):
                    waiting.tell(running)   # other workers hold the last trials
                    time.sleep(0.2)
                continue
            retry, given_up = ledger.retry(job.max_retries)
            _give_up(given_up, job.max_retries)
            if retry is not None:
                arch, retry_of = retry.arch, retry.number
            else:
                arch, retry_of = screen.ask(strat, avoid=ledger.running_keys()), None
                if arch is None:
                    if running and store.shared:   # what is left may come back if a running trial dies
                        if not store.reap(running):
                            waiting.tell(running)
                            time.sleep(0.2)
                        continue
                    return   # the strategy has nothing left: the space is exhausted
            rec = store.start(arch, retry_of)
            if store.shared:
                batch = store.changes()
                rec.number = next(r.number for r in batch if r.trial_id == rec.trial_id)
                ledger.update(batch)
                current = True
                reason = ledger.taken(rec, batch, job.trials)
                if reason is not None:
                    store.yield_(rec, reason)
                    ledger.update([rec])
                    if retry is None:
                        strat.reject(arch)
                    continue
            heart.trial_id = rec.trial_id
            _evaluate(job, store, rec)
            heart.trial_id = None
            tell_trial(strat, rec)
            told.add(rec.trial_id)
            ledger.update([rec])
            if on_trial is not None:
                on_trial(rec, ledger)
    finally:
        heart.stop()


def _give_up(recs: list[TrialRecord], max_retries: int) -> None:
    for rec in recs:
        print(f"warning: giving up architecture {rec.key} (last trial {rec.number}): its worker died "
              f"{max_retries + 1} times (--max-retries {max_retries})", file=sys.stderr, flush=True)


class _Waiting:
    """Says, on stderr, which running trial a worker waits for and how long until it is reaped
    if its worker stays silent; once per trial, and again every `every` seconds. A trial whose
    worker beat within the last heartbeat interval (and a second) is healthy: nothing is said."""

    def __init__(self, store: Store, every: float = 30.0, stream=None):
        self.store, self.every, self.stream = store, every, stream
        self._said: dict[int, float] = {}

    def tell(self, running) -> None:
        now = time.time()
        quiet = self.store.heartbeat_interval + 1.0
        others = [r for r in running if not self.store.ours(r) and self.store.silence(r, now) > quiet]
        if not others:
            return
        rec = min(others, key=lambda r: self.store.grace_period - self.store.silence(r, now))
        if now - self._said.get(rec.trial_id, float("-inf")) < self.every:
            return
        self._said[rec.trial_id] = now
        silent = self.store.silence(rec, now)
        left = max(0.0, self.store.grace_period - silent)
        number = rec.number if rec.number >= 0 else f"id {rec.trial_id}"
        print(f"waiting for trial {number} ({rec.worker or 'unknown worker'}, last heartbeat {silent:.0f} s ago): "
              f"taken as dead and run again in {left:.0f} s unless its worker beats",
              file=self.stream or sys.stderr, flush=True)


def _evaluate(job: Job, store: Store, rec: TrialRecord) -> None:
    start = time.perf_counter()
    try:
        try:
            metrics = dict(job.evaluator(rec.arch))
            if job.costs and ("params" not in metrics or "flops" not in metrics):
                metrics = {**_costs(job.space, rec.arch), **metrics}
            value = values_of(metrics, job.objectives) if job.objectives else objective_value(metrics, job.objective)
        except Infeasible as err:
            store.fail(rec, f"infeasible: {err}", round(time.perf_counter() - start, 6))
            return
        except Exception as err:  # the evaluator's failure is the trial's, not the search's
            tb = traceback.format_exception(type(err), err, err.__traceback__)
            text = f"{type(err).__name__}: {err}\n" + "".join(tb[-3:])
            store.fail(rec, text.strip(), round(time.perf_counter() - start, 6))
            return
        store.complete(rec, value, metrics, round(time.perf_counter() - start, 6))
    except KeyboardInterrupt:
        store.interrupt(rec)
        raise


def _costs(space: Space, arch: Mapping[str, Any]) -> dict[str, float]:
    from ..analysis.shapes import costs
    try:
        return {k: float(v) for k, v in costs(space, arch).items()}
    except NasError:
        return {}


# --- the search ------------------------------------------------------------------------------

def search(space: Space, strategy: str, evaluator: Evaluator | Callable[[Mapping[str, Any]], Any],
           trials: int, storage: str | None = None, seed: int = 0, options: Any = None, workers: int = 1,
           objective: str | None = None, allow_changed_space: bool = False, study: str = STUDY,
           meta: Mapping[str, Any] | None = None, progress: Callable[[int, float | None], None] | None = None,
           costs: bool = True, grace: float = 30.0, max_retries: int = 2, gpus_per_trial: int = 1,
           checks: list | None = None, objectives: Sequence[str] | Sequence[Objective] = ()) -> SearchResult:
    """Run (or resume) a multi-trial search and return its trials.

    `evaluator(arch)` returns a number or a mapping of metrics (`objective` names the one to
    maximise; an `Evaluator` says it itself). `storage` is a URL (`sqlite:///...`,
    `postgresql://...`, `journal:PATH`) or `None` for an in-memory store. A store that holds
    trials already continues them. `progress(done, best)` is called as trials finish. A running
    trial whose worker sent no heartbeat for `grace` seconds is taken as dead and run again, up
    to `max_retries` times per architecture (then a warning names it and it is given up). With
    several `workers` on a machine with GPUs each gets `gpus_per_trial` of them of its own
    (`nasdsl.search.devices`). `checks` (default: the evaluator's `checks`) are constraints
    held before a trial is spent (`nasdsl.search.feasibility`): a proposal that breaks one is
    recorded as infeasible, told to the strategy, and costs no trial. Two or more `objectives`
    (`"NAME:max"` texts or `Objective`s, `nasdsl.search.objectives`) make it a multi-objective
    search: each trial's values are those metrics, the store's study has their directions, and
    the result's `front()` is the Pareto front (`objective` is then only a label).
    """
    _check_budget(strategy, trials, workers, storage, grace, max_retries, gpus_per_trial)
    objectives = tuple(parse_objectives([o.text if isinstance(o, Objective) else o for o in objectives]))
    directions = tuple(o.direction for o in objectives) or None
    create(strategy, space, seed=seed, budget=trials, options=options, directions=directions)   # checked first
    objective = " ".join(o.text for o in objectives) if objectives else (
        objective or getattr(evaluator, "objective", None) or "value")
    # a function that returns a number: the metric of the first objective that is not a cost
    named = evaluated_metric(objectives, "value") if objectives else objective
    evaluate = evaluator if isinstance(evaluator, Evaluator) else _as_metrics(evaluator, named)
    checks = getattr(evaluator, "checks", ()) if checks is None else checks
    job = Job(space, strategy, evaluate, objective, trials, storage, study, seed, options, costs, grace, max_retries,
              gpus_per_trial, tuple(checks), objectives)
    store = _store(job)
    several = {"objectives": [o.text for o in objectives]} if objectives else {}
    store.open(space.fingerprint(), {"space": space.root_file, "sources": space.sources,
                                     "params": _jsonable(space.params), "objective": objective, **several,
                                     "strategy": strategy, **(meta or {})}, allow_changed_space,
               domains=_domains(space), directions=directions,
               names=[o.name for o in objectives] or [objective])
    store.reap()
    if workers == 1:
        def on_trial(rec: TrialRecord, ledger: Ledger) -> None:
            if progress is not None:
                progress(ledger.counted, ledger.best)
        work(job, store, 0, on_trial)
    else:
        _run_workers(job, workers, store, progress)
    result = result_of(store, space, objective)
    result.objectives = objectives
    return result


def _check_budget(strategy: str, trials: int, workers: int, storage: str | None, grace: float, max_retries: int,
                  gpus_per_trial: int) -> None:
    """`search`'s arguments that say how much to run and where, each refused in one line."""
    if strategies.kind(strategy) != "multi-trial":
        raise NasError(f"{strategy!r} is a one-shot strategy; multi-trial: {', '.join(strategies.MULTI_TRIAL)}")
    if trials < 1:
        raise NasError(f"--trials must be at least 1, got {trials}")
    if workers < 1:
        raise NasError(f"--workers must be at least 1, got {workers}")
    if workers > 1 and storage in (None, "memory"):
        raise NasError("--workers > 1 needs a persistent --storage (sqlite:///..., postgresql://..., journal:PATH)")
    if not grace > 0:
        raise NasError(f"--grace must be a positive number of seconds, got {grace}")
    if max_retries < 0:
        raise NasError(f"--max-retries must be at least 0, got {max_retries}")
    if gpus_per_trial < 1:
        raise NasError(f"--gpus-per-trial must be at least 1, got {gpus_per_trial}")


def _store(job: Job) -> Store:
    """The job's store, beating every third of the grace period."""
    return Store(job.url, job.study, heartbeat_interval=max(0.5, job.grace / 3), grace_period=job.grace)


def _as_metrics(func: Callable, objective: str) -> Callable[[Mapping[str, Any]], dict]:
    def evaluate(arch):
        out = func(arch)
        if isinstance(out, Mapping):
            return {str(k): float(v) for k, v in out.items()}
        return {objective: float(out)}
    return evaluate


def _domains(space: Space) -> dict[str, tuple]:
    """Each decision's values, for the store's Optuna parameters."""
    return {d.label: d.values for d in space.decisions}


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(params), default=str))


class _Report:
    """The progress of workers in other processes, from the trials that changed since the last
    report (`Store.changes()`), never the whole table."""

    def __init__(self, store: Store, space: Space, progress: Callable[[int, float | None], None] | None):
        fingerprint = store.attrs.get("fingerprint")
        self.store, self.progress = store, progress
        self.ledger = Ledger(lambda r: bool(r.arch) and (r.fingerprint == fingerprint or space.contains(r.arch)))

    def __call__(self) -> int:
        """Read what changed, report it; the number of trials done."""
        self.ledger.update(self.store.changes())
        if self.progress is not None:
            self.progress(self.ledger.counted, self.ledger.best)
        return self.ledger.counted


def _run_workers(job: Job, workers: int, store: Store, progress) -> None:
    context = multiprocessing.get_context("fork")
    parent = os.getpid()
    gpus = devices.plan(workers, job.gpus_per_trial, devices.visible_gpus())   # each worker its own GPUs
    procs = [context.Process(target=_worker_main, args=(job, i, parent, gpus[i]), daemon=False)
             for i in range(workers)]
    report = _Report(store, job.space, progress)
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            if progress is not None:
                report()
            time.sleep(0.3)
    except KeyboardInterrupt:
        _interrupt(procs)
        raise
    for p in procs:
        p.join()
    counted = report()
    failed = [p.exitcode for p in procs if p.exitcode]
    if not failed:
        return
    if counted >= job.trials:   # the others finished the budget: the run succeeded
        print(f"warning: {len(failed)} of {workers} workers failed (exit codes {failed}); the others completed "
              f"the budget of {job.trials} trials", file=sys.stderr, flush=True)
        return
    raise NasError(f"{len(failed)} of {workers} workers failed (exit codes {failed}) with {counted} of "
                   f"{job.trials} trials done; run the same command again to continue")


def _interrupt(procs, wait: float = 2.0, grace: float = 10.0) -> None:
    """Ctrl-C: each worker, interrupted as well (a terminal signals the whole process group),
    records its trial as interrupted and exits 130. One still running after `wait` seconds
    (only this process was signalled) gets SIGINT, and is terminated after `grace` more: a
    terminated worker would leave its trial running until a rerun reaps it after `--grace`."""
    def join(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))

    join(wait)
    for p in procs:
        if p.is_alive():
            os.kill(p.pid, signal.SIGINT)
    join(grace)
    for p in procs:
        if p.is_alive():
            p.terminate()


def _worker_main(job: Job, index: int, parent: int, gpus: str | None = None) -> None:
    if gpus is not None:   # before anything in this process touches CUDA
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus
    try:
        store = _store(job)
        store.open(job.space.fingerprint(), {}, allow_changed_space=True, create=False, domains=_domains(job.space),
                   directions=job.directions)
        work(job, store, index, parent=parent)
    except NasError as err:
        print(err.render(), file=sys.stderr)
        os._exit(1)
    except KeyboardInterrupt:
        os._exit(130)
    os._exit(0)


def result_of(store: Store, space: Space | None, objective: str) -> SearchResult:
    counted = [t for t in store.trials() if t.counts]
    if space is not None:
        counted = [t for t in counted if t.fingerprint == store.attrs.get("fingerprint") or space.contains(t.arch)]
    complete = [t for t in counted if t.state == "complete" and t.value is not None]
    best = max(complete, key=lambda t: (t.value, -t.number)) if complete else None
    return SearchResult(counted, best, store.url, objective)


# --- the command line ------------------------------------------------------------------------

def add_arguments(group) -> None:
    """Options of multi-trial search (`nasdsl search SPACE --strategy random|grid|evolution|tpe|rl|local`)."""
    group.add_argument("--trials", type=int, default=100, metavar="N", help="trial budget (default 100)")
    group.add_argument("--evaluator", metavar="SPEC",
                       help="train | table:PATH | python:MODULE:FUNCTION (required for multi-trial)")
    group.add_argument("--metric", metavar="NAME", help="the metric to maximise (table column; python dict key)")
    group.add_argument("--objective", action="append", metavar="NAME:max|min",
                       help="repeat for two or more objectives (table column, params, flops, python dict key): "
                            "a multi-objective search for the Pareto front (strategies random, grid, tpe, nsga2, "
                            "optuna_nsga2); instead of --metric")
    group.add_argument("--constraint", action="append", metavar="COLUMN<=X",
                       help="a bound checked before a trial is spent (table column, params, flops), e.g. "
                            "latency_pixel3<=20, or after it (a metric the evaluator returns); repeatable")
    group.add_argument("--storage", metavar="URL",
                       help="sqlite:///PATH (default: DIR/exp.db), postgresql://..., journal:PATH")
    group.add_argument("--study", default=STUDY, metavar="NAME", help=f"experiment name in the storage (default {STUDY})")
    group.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes (default 1)")
    group.add_argument("--grace", type=float, default=30.0, metavar="SECONDS",
                       help="a running trial whose worker sent no heartbeat for this long is taken as dead and "
                            "run again (default 30; workers beat every third of it; use one value for all "
                            "workers of a store)")
    group.add_argument("--gpus-per-trial", type=int, default=1, metavar="N",
                       help="with --workers: GPUs each worker gets of its own, round robin over the visible ones "
                            "(CUDA_VISIBLE_DEVICES per worker; default 1)")
    group.add_argument("--max-retries", type=int, default=2, metavar="N",
                       help="an architecture whose worker died mid-trial (killed, a lost machine) is run again "
                            "up to N times, then given up with a warning (default 2; `nasdsl trials` lists "
                            "the retries)")
    group.add_argument("--allow-changed-space", action="store_true",
                       help="resume on a changed space, keeping the stored trials that are still valid")


def run(args) -> int:
    """`nasdsl search ... --strategy <multi-trial>`: search, then `arch.json`, `run.json`
    (`nasdsl.run`: the space, its parameters and the data's preprocessing), `result.json` and
    `best_so_far.png` in `--out DIR`; with `--objective`s, `run.json`, `result.json` with the
    Pareto front and `pareto.png` (`nasdsl.search.fronts`)."""
    import nasdsl

    from .evaluators import load_train_space, make_evaluator
    if not args.evaluator:
        raise NasError("multi-trial search needs --evaluator (train | table:PATH | python:MODULE:FUNCTION)")
    objectives = objectives_of(args)
    sets = _sets(getattr(args, "set", None))
    data, fitted = None, {}
    if args.evaluator == "train":
        space, data, fitted = load_train_space(lambda p: nasdsl.load(args.file, {**sets, **p}), args.data, args.seed, sets)
    else:
        space = nasdsl.load(args.file, sets)
    out = prepare(Path(args.out or f"runs/{Path(args.file).stem}-{args.strategy}"))
    claim(out, shared=True)   # the processes of one multi-trial search share --out; a one-shot one is refused
    url = args.storage or default_url(out)
    metric = evaluated_metric(objectives) if objectives else args.metric
    evaluator = make_evaluator(args.evaluator, space, metric, args.constraint or (), data,
                               getattr(args, "epochs", None) or 1, args.seed)
    if objectives and hasattr(getattr(evaluator, "evaluator", evaluator), "columns"):   # a table: its columns
        check_columns(objectives, [*getattr(evaluator, "evaluator", evaluator).columns, "params", "flops"],
                      f"table {args.evaluator[len('table:'):]}")
    if hasattr(evaluator, "accelerator"):   # the train evaluator
        evaluator.accelerator = args.accelerator
    bar = TrialBar(args.trials, evaluator.objective)
    try:
        result = search(space, args.strategy, evaluator, args.trials, url, args.seed, args.option or [],
                        args.workers, evaluator.objective, args.allow_changed_space, args.study,
                        meta={"evaluator": evaluator.describe()}, progress=bar, grace=args.grace,
                        max_retries=args.max_retries, gpus_per_trial=args.gpus_per_trial, objectives=objectives)
    finally:
        bar.close()
    write_run(out, space, sets, fitted, data, args.seed, args.data)
    if objectives:
        return _report_front(out, space, result)
    picture = write_outputs(out, space, result)
    best = result.best
    if best is None:
        print(f"no trial completed ({len(result.trials)} failed); see `nasdsl trials {url}`")
        return 1
    print(f"best of {len(result.trials)} trials: {result.objective} = {best.value:g} (trial {best.number})")
    print(f"  {arch_text(space, best.arch)}")
    print(f"wrote {out / 'arch.json'}, {picture}, {out / 'run.json'}, {out / 'result.json'}, "
          f"{out / 'best_so_far.png'}; "
          f"store {url}")
    return 0


def objectives_of(args) -> list[Objective]:
    """`--objective` texts as objectives (none: a single-objective search); not with --metric."""
    if not getattr(args, "objective", None):
        return []
    if args.metric:
        raise NasError("--metric and --objective together: a multi-objective search names every objective with "
                       "--objective NAME:max|min (two or more); a single-objective one uses --metric")
    return parse_objectives(args.objective)


def _report_front(out: Path, space: Space, result: SearchResult) -> int:
    """A multi-objective search's outputs (`nasdsl.search.fronts`) and its summary lines."""
    from .fronts import write_front
    write_front(out, space, result)
    front = result.front()
    if not front:
        print(f"no trial completed ({len(result.trials)} failed); see `nasdsl trials {result.url}`")
        return 1
    print(f"Pareto front of {len(result.trials)} trials: {len(front)} architectures "
          f"({', '.join(o.text for o in result.objectives)}); `nasdsl trials {out} --pareto` lists them")
    print(f"wrote {out / 'result.json'}, {out / 'run.json'}, {out / 'pareto.png'}; store {result.url}")
    return 0


def _sets(items) -> dict[str, Any]:
    from ..options import parse_set
    return parse_set(items)


class TrialBar:
    """A progress bar of trials done and the best objective so far, on stderr (`tqdm.auto`: a
    widget in a notebook). `disable=None` hides it where stderr is not a terminal."""

    def __init__(self, total: int, objective: str, disable: bool | None = None):
        from tqdm.auto import tqdm
        self.objective = objective
        self.bar = tqdm(total=total, desc="trials", unit="trial", file=sys.stderr, disable=disable,
                        dynamic_ncols=True)

    def __call__(self, done: int, best: float | None) -> None:
        self.bar.n = min(done, self.bar.total)
        if best is not None:
            self.bar.set_postfix({f"best {self.objective}": f"{best:.4g}"}, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def write_outputs(out: Path, space: Space, result: SearchResult) -> Path | None:
    """`arch.json` (the best architecture, as one-shot search writes it) and its picture
    `arch.png` (`nasdsl.show`), `result.json` (best trial, budget used, best-so-far curve) and
    `best_so_far.png`; returns the picture's path (`arch.dot` where Graphviz is not installed)."""
    out.mkdir(parents=True, exist_ok=True)
    best, picture = result.best, None
    if best is not None:
        _atomic(out / "arch.json", arch_to_json(best.arch) + "\n")
        from ..show import save_arch_picture
        picture, note = save_arch_picture(space, best.arch, out)
        if note:
            print(note, file=sys.stderr)
    summary = {"objective": result.objective, "trials": len(result.trials), "store": result.url,
               "best": best.to_json() if best else None,
               "best_text": arch_text(space, best.arch) if best else None,
               "best_so_far": [v if v != float("-inf") else None for v in result.best_so_far()]}
    _atomic(out / "result.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
    plot_best_so_far(result, out / "best_so_far.png")
    return picture


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")   # processes sharing --out write side by side
    tmp.write_text(text)
    os.replace(tmp, path)


def plot_best_so_far(result: SearchResult, path: Path) -> None:
    """A PNG of the best objective found against the number of trials."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    curve = [v if v != float("-inf") else None for v in result.best_so_far()]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    xs = [i + 1 for i, v in enumerate(curve) if v is not None]
    ax.step(xs, [v for v in curve if v is not None], where="post")
    ax.set_xlabel("trials")
    ax.set_ylabel(f"best {result.objective}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
