"""Evaluators: what a multi-trial search does with an architecture to get its metrics.

An evaluator is a callable `arch -> {metric: number}` with an `objective` (the metric the
search maximises). Three kinds, named on the command line by `--evaluator`:

* `table:PATH` looks the architecture up in a benchmark table (CSV, optionally gzipped) keyed
  by NAS-Bench-201 string in its `arch` column, as `../shared/data/nb201_table.csv.gz`;
  `--metric COLUMN` is the objective and every numeric column is a metric. `--constraint
  latency_pixel3<=20` on another column is checked before the query
  (`nasdsl.search.feasibility`): an architecture outside the bound is infeasible, recorded
  and told to the strategy, and costs no trial.
* `python:pkg.module:function` calls `function(arch)`, which returns a number (the metric
  `value`) or a mapping of metrics (`--metric` names the objective; a single metric needs no
  name).
* `train` builds the discrete model and trains it on `--data` for `--epochs` epochs
  (`nasdsl.train.train_architecture`): objective `val_acc`, also `test_acc`, `params`,
  `flops`, `train_loss`.

`--constraint params<=N` / `flops<=N` / `LUT.json<=X` (a latency lookup table's prediction,
`nasdsl.search.latency`; any evaluator) are checked before evaluation too; a
constraint on another metric of a python or train evaluator is checked after it (the trial
counts, and fails as infeasible).

Every evaluator's metrics also carry the architecture's `params` and `flops` (from the
space's shape analysis, no torch) unless it reports them itself.

Example::

    >>> import nasdsl
    >>> space = nasdsl.load("nasbench201")
    >>> ev = make_evaluator("python:nasdsl.search.evaluators:count_decisions", space)
    >>> ev.objective, ev(space.sample(0))
    ('value', {'value': 6.0})
"""
from __future__ import annotations

import importlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import NasError
from ..space import Space
from .feasibility import COMPARE, COSTS, Bound, cost_bound, lut_bound, parse_constraint
from .tables import read_table


class Infeasible(Exception):
    """An architecture outside an evaluator's constraint (recorded as a failed trial)."""


class Evaluator(ABC):
    """Base: `__call__(arch) -> metrics`, `objective` names the metric to maximise; `checks`
    the constraints to hold each architecture to before evaluating it
    (`nasdsl.search.feasibility.Bound`)."""

    objective = "value"
    name = "evaluator"
    checks: list = []

    @abstractmethod
    def __call__(self, arch: Mapping[str, Any]) -> dict[str, float]:
        """The metrics of `arch` (raise to fail the trial; `Infeasible` for a broken bound)."""

    def describe(self) -> str:
        return self.name


class TableEvaluator(Evaluator):
    """Look architectures up in a NAS-Bench-201 table (rows keyed by NB201 string).

    Example::

        >>> import nasdsl, pathlib, tempfile
        >>> space = nasdsl.load("nasbench201")
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> s = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
        >>> _ = path.write_text("arch,acc,lat\\n" + s + ",10.0,1.5\\n")
        >>> ev = TableEvaluator(space, path, metric="acc", constraints=["lat<=2"])
        >>> from nasdsl.formats import nb201_to_arch
        >>> ev(nb201_to_arch(space, s))
        {'acc': 10.0, 'lat': 1.5}
    """

    name = "table"

    def __init__(self, space: Space, path: str | Path, metric: str | None = None,
                 constraints: list[str] | tuple[str, ...] = ()):
        from ..formats import arch_to_nb201
        self.space, self.path = space, Path(path)
        self._to_key = lambda arch: arch_to_nb201(space, arch)
        self.rows, columns = read_table(self.path)
        self.columns = columns
        if metric is None:
            raise NasError(f"--evaluator table:{path} needs --metric (one of: {', '.join(columns)})")
        if metric not in columns:
            raise NasError(f"table {path} has no column {metric!r} (its columns: {', '.join(columns)})")
        self.objective = metric
        self.constraints = [parse_constraint(c) for c in constraints]
        for column, _, _ in self.constraints:
            if column not in columns:
                raise NasError(f"--constraint: table {path} has no column {column!r} (its columns: {', '.join(columns)})")
        try:
            self._to_key(space.sample(0))
        except NasError as err:
            raise NasError(f"--evaluator table: the space {space.root_file} cannot be keyed by NAS-Bench-201 "
                           f"string ({err.message})") from None

    def bounds(self) -> list[Bound]:
        """The constraints as bounds checked before a query (the table's other columns are
        the hardware's measurements, not the query)."""
        def column(name):
            def measure(arch):
                row = self.rows.get(self._to_key(arch))   # the key once: it validates the architecture
                return math.nan if row is None else row[name]
            return measure
        return [Bound(name, op, bound, column(name)) for name, op, bound in self.constraints]

    def __call__(self, arch: Mapping[str, Any]) -> dict[str, float]:
        key = self._to_key(arch)
        row = self.rows.get(key)
        if row is None:
            raise KeyError(f"{key} is not in table {self.path}")
        for column, op, bound in self.constraints:
            if not COMPARE[op](row[column], bound):
                raise Infeasible(f"{column} = {row[column]:g} violates {column}{op}{bound:g}")
        return dict(row)

    def describe(self) -> str:
        return f"table:{self.path}"


class PythonEvaluator(Evaluator):
    """Call `function(arch)` of an importable module; a number or a mapping of metrics.

    Example::

        >>> ev = PythonEvaluator("nasdsl.search.evaluators:count_decisions")
        >>> ev({"a": 1, "b": 2})
        {'value': 2.0}
    """

    name = "python"

    def __init__(self, spec: str, metric: str | None = None):
        from ..usercode import import_attribute
        module_name, _, func_name = spec.rpartition(":")
        func = import_attribute(spec, "--evaluator", "python:")
        if not callable(func):
            raise NasError(f"--evaluator python:{spec}: {module_name} has no function {func_name!r}")
        self.spec, self.func, self.metric = spec, func, metric
        self.objective = metric or "value"

    def __call__(self, arch: Mapping[str, Any]) -> dict[str, float]:
        result = self.func(dict(arch))
        if isinstance(result, Mapping):
            metrics = {str(k): float(v) for k, v in result.items() if isinstance(v, (int, float))}
            if self.metric is None:
                if len(metrics) != 1 and "value" not in metrics:
                    raise NasError(f"python:{self.spec} returned metrics {sorted(metrics)}: "
                                   "name the objective with --metric")
                self.objective = "value" if "value" in metrics else next(iter(metrics))
            elif self.metric not in metrics:
                raise KeyError(f"python:{self.spec} returned no metric {self.metric!r} (it returned {sorted(metrics)})")
            return metrics
        if isinstance(result, (int, float)) and not isinstance(result, bool):
            return {self.objective: float(result)}
        raise TypeError(f"python:{self.spec} returned {type(result).__name__}, expected a number or a mapping")

    def describe(self) -> str:
        return f"python:{self.spec}"


def count_decisions(arch: Mapping[str, Any]) -> float:
    """A trivial objective (the number of active decisions), for examples and tests."""
    return float(len(arch))


class TrainEvaluator(Evaluator):
    """Train the discrete model of each architecture (`nasdsl.train.train_architecture`).

    Example::

        >>> TrainEvaluator.objective                          # what the search maximises
        'val_acc'
        >>> ev = TrainEvaluator(space, "digits", epochs=1)   # doctest: +SKIP
        >>> ev(space.sample(0))["val_acc"]                    # doctest: +SKIP
        0.52
    """

    name = "train"
    objective = "val_acc"
    accelerator = "auto"   # --accelerator: CUDA where visible (nasdsl.search.devices.torch_device)

    def __init__(self, space: Space, data: Any, epochs: int = 1, seed: int = 0, metric: str | None = None):
        train = _train_module()
        self.space, self.data, self.epochs, self.seed = space, data, epochs, seed
        self._train = train.train_architecture
        if metric is not None:
            self.objective = metric

    def __call__(self, arch: Mapping[str, Any]) -> dict[str, float]:
        import torch

        from .devices import torch_device
        torch.set_num_threads(1)
        result = self._train(self.space, arch, self.data, self.epochs, self.seed,
                             device=torch_device(self.accelerator))
        metrics = {k: float(v) for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if self.objective not in metrics:
            raise KeyError(f"training reported no metric {self.objective!r} (it reported {sorted(metrics)})")
        return metrics

    def describe(self) -> str:
        return f"train ({self.epochs} epochs)"


def _train_module():
    try:
        return importlib.import_module("nasdsl.train")
    except ImportError as err:
        raise NasError(f"--evaluator train needs nasdsl.train and torch ({err})") from None


def load_train_space(load: Callable[[Mapping[str, Any]], Space], data_spec: str | None, seed: int = 0,
                     sets: Mapping[str, Any] | None = None) -> tuple[Space, Any, dict[str, Any]]:
    """The space fitted to `--data` (channels, resolution, classes), the data itself and the
    parameters set to fit it (`nasdsl.data.fit_space_params`)."""
    if not data_spec:
        raise NasError("--evaluator train needs --data (digits | mnist5k | cifar10:DIR | pkg.module:factory)")
    _train_module()
    from ..data import fit_space_params, load_data
    data = load_data(data_spec, seed)
    space, fitted = fit_space_params(load, data, sets)
    return space, data, fitted


class ExpensiveBounds(Evaluator):
    """An evaluator whose metrics are held to bounds known only after the evaluation: an
    architecture that breaks one fails its trial as infeasible (`Infeasible`)."""

    def __init__(self, evaluator, bounds: Sequence[tuple[str, str, float]]):
        self.evaluator, self.bounds = evaluator, list(bounds)
        self.objective = evaluator.objective
        self.name = evaluator.name

    def __call__(self, arch: Mapping[str, Any]) -> dict[str, float]:
        metrics = self.evaluator(arch)
        self.objective = self.evaluator.objective
        for name, op, bound in self.bounds:
            if name not in metrics:
                raise KeyError(f"--constraint {name}{op}{bound:g}: the evaluator returned no metric {name!r} "
                               f"(it returned {sorted(metrics)})")
            if not COMPARE[op](metrics[name], bound):
                raise Infeasible(f"{name} = {metrics[name]:g} violates {name}{op}{bound:g}")
        return metrics

    def describe(self) -> str:
        return self.evaluator.describe()


def make_evaluator(spec: str, space: Space, metric: str | None = None, constraints=(), data: Any = None,
                   epochs: int = 1, seed: int = 0) -> Evaluator:
    """The evaluator `--evaluator SPEC` names (see the module docstring)."""
    parsed = [(text, parse_constraint(text)) for text in constraints]
    costs = [cost_bound(space, text) if name in COSTS else lut_bound(space, text)
             for text, (name, _, _) in parsed if name in COSTS or name.endswith(".json")]
    rest = [text for text, (name, _, _) in parsed if name not in COSTS and not name.endswith(".json")]
    evaluator: Any
    if spec.startswith("table:"):
        evaluator = TableEvaluator(space, spec[len("table:"):], metric, rest)
        rest = []
    elif spec.startswith("python:"):
        evaluator = PythonEvaluator(spec[len("python:"):], metric)
    elif spec == "train":
        evaluator = TrainEvaluator(space, data, epochs, seed, metric)
    else:
        raise NasError(f"unknown --evaluator {spec!r}: train | table:PATH | python:MODULE:FUNCTION")
    if rest:
        evaluator = ExpensiveBounds(evaluator, [parse_constraint(text) for text in rest])
    evaluator.checks = costs + (evaluator.bounds() if isinstance(evaluator, TableEvaluator) else [])
    return evaluator


def objective_value(metrics: Mapping[str, float], objective: str) -> float:
    """The objective from a trial's metrics; a missing or non-finite one is an error."""
    value = metrics.get(objective)
    if value is None or not math.isfinite(value):
        raise ValueError(f"objective {objective!r} is {value!r}")
    return float(value)
