"""`nasdsl.search(...)`: a search from Python, through the drivers `nasdsl search` runs.

A multi-trial strategy (random, grid, evolution, tpe, rl, local, nsga2, optuna_nsga2) runs `nasdsl.search.multitrial.search`
with the evaluator given: a Python function of the architecture (a number, or a mapping of
metrics with `metric=` naming the one to maximise), or a spec as `--evaluator` takes it
(`"table:PATH"`, `"python:MODULE:FUNCTION"`, `"train"` with `data=`). Its trials go to `storage`
(a URL; `None`: kept in memory). A one-shot strategy (darts, gumbel, enas, spos, proxyless,
random_oneshot) runs `nasdsl.search.oneshot.run`, the command's own driver, on `data` (a
`--data` spec: digits, mnist5k, cifar10:DIR, pkg.module:factory) into `out` (default: a new
temporary directory). Keyword arguments beyond those below set the one-shot command's options
by their Python names (`batch_size=256`, `retrain=5`, `arch_data="val"`, ...).

Progress shows on a terminal and in a Jupyter notebook (`progress=None`; `True` or `False`
forces it): a `tqdm.auto` bar of trials and the best value so far, or Lightning's own bar.

Both return a `SearchResult`: the best architecture and its metrics, the trials (a pandas
DataFrame when pandas is installed, else a list of dicts), `plot()` and `export()`. A
multi-trial search with `objectives=["acc:max", "params:min"]` (two or more, as `--objective`)
searches for the Pareto front instead: `front` lists its trials, `arch` is None, and `plot()`
draws the front over every trial.
`import nasdsl` stays free of torch: this module imports the drivers when a search runs.

Example::

    >>> import nasdsl
    >>> space = nasdsl.load("nasbench201")
    >>> result = nasdsl.search(space, strategy="evolution", trials=12, seed=0,
    ...                        evaluator=lambda arch: sum(v == "nor_conv_3x3" for v in arch.values()))
    >>> result.metrics["value"] == max(t["value"] for t in result.trial_list)
    True
    >>> space.contains(result.arch), len(result.trial_list)
    (True, 12)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NasError
from ..space import Space


@dataclass
class SearchResult:
    """What `nasdsl.search` found: `arch` (the best architecture), `metrics` (its metrics: the
    trial's for multi-trial, the last epoch's and any retraining's for one-shot), `trial_list`
    (multi-trial: one dict per counted trial), `epoch_list` (one-shot: one dict of logged values
    per epoch), `out` (the directory written, if any) and `storage` (the trial store's URL)."""

    strategy: str
    space: Space = field(repr=False)
    arch: dict[str, Any] | None
    metrics: dict[str, float]
    trial_list: list[dict[str, Any]] = field(default_factory=list, repr=False)
    epoch_list: list[dict[str, Any]] = field(default_factory=list, repr=False)
    out: Path | None = None
    storage: str | None = None
    preprocessing: Any = field(default=None, repr=False)
    front: list[dict[str, Any]] = field(default_factory=list, repr=False)   # a multi-objective search's
    _found: Any = field(default=None, repr=False)   # multi-trial: the driver's own result (best-so-far plot)

    @property
    def trials(self):
        """The trials as a pandas DataFrame (number, state, value, seconds, each metric, arch),
        or as a list of dicts without pandas."""
        return _frame(self.trial_list)

    @property
    def epochs(self):
        """A one-shot search's logged values per epoch (a DataFrame with pandas)."""
        return _frame(self.epoch_list)

    def plot(self, path: str | Path | None = None) -> Picture:
        """Draw the search's curve into `path` (default: in `out`, else a temporary file):
        multi-trial, the best value against trials (`best_so_far.png`); one-shot, loss and
        accuracy per epoch (`curves.png`). A notebook shows the returned picture."""
        if self._found is not None and self._found.objectives:
            from .fronts import plot_front
            target = _target(path, self.out, "pareto.png")
            plot_front(self._found.trials, self._found.objectives, target)
        elif self._found is not None:
            from .multitrial import plot_best_so_far
            target = _target(path, self.out, "best_so_far.png")
            plot_best_so_far(self._found, target)
        else:
            from .plots import plot_curves
            target = _target(path, self.out, "curves.png")
            plot_curves(self.out / "logs" / "metrics.csv", target, title=f"{Path(self.space.root_file).stem}: "
                                                                          f"{self.strategy}")
        return Picture(target)

    def export(self, path: str | Path | None = None) -> str:
        """Standalone PyTorch source of the best architecture (as `nasdsl export` writes it,
        with the data's input preprocessing after a one-shot search); written to `path` too if
        given."""
        if self.arch is None:
            raise NasError("the search found no architecture to export (no trial completed)")
        from ..lower.export import export_source
        source = export_source(self.space, self.arch, preprocessing=self.preprocessing)
        if path is not None:
            try:
                Path(path).write_text(source)
            except OSError as err:
                raise NasError(f"cannot write {path}: {err.strerror}") from None
        return source


@dataclass(frozen=True)
class Picture:
    """A PNG written by `SearchResult.plot`; Jupyter displays it."""

    path: Path

    def _repr_png_(self) -> bytes:
        return self.path.read_bytes()


def search(space: Space | str | Path, strategy: str, *, evaluator: Callable[[Mapping[str, Any]], Any] | str | None
           = None, trials: int = 100, storage: str | None = None, data: str | None = None, epochs: int = 1,
           seed: int = 0, params: Mapping[str, Any] | None = None, options: Mapping[str, Any] | None = None,
           metric: str | None = None, out: str | Path | None = None, workers: int = 1, verbose: bool = False,
           progress: bool | None = None, objectives: list[str] | None = None, **oneshot: Any) -> SearchResult:
    """Search `space` (a `Space`, a `.nas` path or a built-in name; `params` override its
    parameters when it is loaded here) with `strategy`; see the module docstring."""
    from .. import strategy as registry
    from ..quiet import quiet
    kind = registry.kind(strategy)
    if progress is None:
        progress = "ipykernel" in sys.modules or sys.stderr.isatty()
    with quiet(verbose), _progress_env(progress):
        if kind == "one-shot":
            if evaluator is not None or objectives:
                raise NasError(f"{strategy} is a one-shot strategy: it trains a supernet on data=...; "
                               f"{'evaluator' if evaluator is not None else 'objectives'}= is for multi-trial strategies")
            return _oneshot(space, strategy, data, epochs, seed, params, options, out, oneshot)   # Lightning's bar
        if oneshot:
            raise NasError(f"{strategy} is a multi-trial strategy; it takes no {sorted(oneshot)[0]}=")
        if evaluator is None:
            raise NasError(f"multi-trial search ({strategy}) needs evaluator=: a function of the architecture, "
                           "'table:PATH', 'python:MODULE:FUNCTION' or 'train' (with data=)")
        return _multitrial(space, strategy, evaluator, trials, storage, data, epochs, seed, params, options,
                           metric, out, workers, progress, objectives or [])


def _multitrial(space, strategy, evaluator, trials, storage, data_spec, epochs, seed, params, options, metric,
                out, workers, progress, objectives) -> SearchResult:
    from .. import load
    from .evaluators import load_train_space, make_evaluator
    from .multitrial import TrialBar, write_outputs
    from .multitrial import search as run_search
    data, fitted = None, {}
    if evaluator == "train":
        if isinstance(space, Space):
            raise NasError("evaluator='train' fits the space's parameters to the data: give the space as a path "
                           "or a built-in name")
        space, data, fitted = load_train_space(lambda p: load(space, {**(params or {}), **p}), data_spec, seed,
                                          dict(params or {}))
    else:
        space = _space(space, params)
    from .multitrial import objectives_of
    from .objectives import evaluated_metric
    objectives = objectives_of(argparse.Namespace(objective=objectives, metric=metric))
    if objectives:
        metric = evaluated_metric(objectives)
    if isinstance(evaluator, str):
        evaluator = make_evaluator(evaluator, space, metric, (), data, epochs, seed)
    objective = metric or getattr(evaluator, "objective", None) or "value"
    bar = TrialBar(trials, objective, disable=False) if progress else None
    try:
        found = run_search(space, strategy, evaluator, trials, storage, seed, dict(options or {}), workers, metric,
                           progress=bar, objectives=objectives)
    finally:
        if bar is not None:
            bar.close()
    if out is not None:   # what `nasdsl search --out DIR` writes: arch.json, result.json, the plot, run.json
        from ..run import write_run
        out = Path(out)
        if objectives:
            from .fronts import write_front
            write_front(out, space, found)
        else:
            write_outputs(out, space, found)
        write_run(out, space, dict(params or {}), fitted, data, seed, data_spec)
    best = found.best
    rows, front = _trial_rows(found, objectives, space)
    return SearchResult(strategy, space, dict(best.arch) if best else None, dict(best.metrics) if best else {},
                        trial_list=rows, out=out, storage=found.url, front=front, _found=found)


def _trial_rows(found, objectives, space) -> tuple[list[dict], list[dict]]:
    """A multi-trial search's trials as rows (with each trial's objective values where there
    are several objectives) and its Pareto front's rows (empty for one objective)."""
    rows = [{"number": t.number, "state": t.state, "value": t.value, "seconds": t.seconds, **t.metrics,
             "arch": t.arch} for t in found.trials]
    if not objectives:
        return rows, []
    from .fronts import front_rows
    return [{**row, "values": t.values} for row, t in zip(rows, found.trials)], front_rows(found.trials, objectives, space)


def _oneshot(space, strategy, data, epochs, seed, params, options, out, extra) -> SearchResult:
    from .oneshot import run as run_driver
    if data is None:
        raise NasError(f"{strategy} is a one-shot strategy: it needs data= (digits, mnist5k, cifar10:DIR or "
                       "pkg.module:factory)")
    file, params = _space_file(space, params)
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix=f"nasdsl-{strategy}-"))
    args = _driver_args(file, strategy, data, epochs, seed, params, options, out, extra)
    if run_driver(args) != 0:
        raise NasError(f"the {strategy} search in {out} did not finish")
    return _oneshot_result(strategy, out)


def _space_file(space, params) -> tuple[str, dict[str, Any]]:
    """The file a one-shot search loads its space from, and the parameters to set on it (a
    loaded Space's own, less those the driver fits to the data, then the caller's)."""
    if not isinstance(space, Space):
        return str(space), dict(params or {})
    if space.root_file.startswith("<"):
        raise NasError("a one-shot search loads its space from a file (its parameters are fitted to the data): "
                       "give a .nas path or a built-in name, or a Space loaded from a file")
    from ..data import CHANNEL_PARAMS, CLASS_PARAMS, RESOLUTION_PARAMS
    fitted = (*CHANNEL_PARAMS, *RESOLUTION_PARAMS, *CLASS_PARAMS)   # the driver fits these to the data
    return space.root_file, {**{k: v for k, v in space.params.items() if k not in fitted}, **(params or {})}


def _driver_args(file, strategy, data, epochs, seed, params, options, out, extra) -> argparse.Namespace:
    """The arguments `nasdsl search` would parse for this call; `extra` sets the command's
    other options (`batch_size=256`), an unknown one is an error."""
    from .command import add_arguments
    parser = argparse.ArgumentParser(prog="nasdsl.search", add_help=False)
    add_arguments(parser)
    argv = [file, "--strategy", strategy, "--data", str(data), "--epochs", str(epochs), "--seed", str(seed),
            "--out", str(out)]
    for name, value in params.items():
        argv += ["--set", f"{name}={_literal(value)}"]
    for name, value in (options or {}).items():
        argv += ["--option", f"{name}={_literal(value)}"]
    args = parser.parse_args(argv)
    for name, value in extra.items():
        if not hasattr(args, name) or name in ("file", "strategy", "set", "option"):
            raise NasError(f"nasdsl.search has no option {name}=")
        setattr(args, name, value)
    return args


def _oneshot_result(strategy: str, out: Path) -> SearchResult:
    """What a finished one-shot search in `out` found: its run, architecture and logged metrics."""
    from ..arch import arch_from_json
    from ..run import RUN_FILE, read_run
    from .plots import epoch_metrics
    record = read_run(out / RUN_FILE)
    found = record.space()
    arch = found.validate(arch_from_json((out / "arch.json").read_text()))
    epochs_logged = [{"epoch": e, **m} for e, m in epoch_metrics(out / "logs" / "metrics.csv").items()]
    metrics = {k: v for k, v in (epochs_logged[-1] if epochs_logged else {}).items() if k != "epoch"}
    if (out / "retrain.json").is_file():
        retrain = json.loads((out / "retrain.json").read_text())
        metrics.update({f"retrain_{k}": float(v) for k, v in retrain.items() if isinstance(v, (int, float))})
    return SearchResult(strategy, found, arch, metrics, epoch_list=epochs_logged, out=out,
                        preprocessing=record.preprocessing)


@contextmanager
def _progress_env(on: bool) -> Iterator[None]:
    """The one-shot driver shows Lightning's bar on a terminal or with `NASDSL_PROGRESS` set."""
    before = os.environ.pop("NASDSL_PROGRESS", None)
    if on:
        os.environ["NASDSL_PROGRESS"] = "1"
    try:
        yield
    finally:
        os.environ.pop("NASDSL_PROGRESS", None)
        if before is not None:
            os.environ["NASDSL_PROGRESS"] = before


def _space(space: Space | str | Path, params: Mapping[str, Any] | None) -> Space:
    if isinstance(space, Space):
        if params:
            raise NasError("params= applies when the space is loaded here: give a path or a built-in name, or pass "
                           "them to nasdsl.load")
        return space
    from .. import load
    return load(space, params)


def _literal(value: Any) -> str:
    """`value` as a `--set` / `--option` literal (`nasdsl.cli.parse_literal` reads it back)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value)


def _target(path: str | Path | None, out: Path | None, name: str) -> Path:
    if path is not None:
        return Path(path)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        return out / name
    return Path(tempfile.mkdtemp(prefix="nasdsl-plot-")) / name


def _frame(rows: list[dict[str, Any]]):
    try:
        import pandas
    except ModuleNotFoundError:
        return list(rows)
    return pandas.DataFrame(rows)
