"""The objectives of a multi-objective search: `--objective NAME:max --objective NAME:min ...`.

An objective names a metric of each trial (a table column, `params`, `flops`, or a key a
python evaluator returns) and whether it is maximised or minimised. Two or more make a
multi-objective search: the store is an Optuna study with those `directions`, each trial's
values are the objectives in order, and the search's answer is the Pareto front of its trials
(`pareto_trials`; `nasdsl.search.pareto` for the dominance itself).

Example::

    >>> objs = parse_objectives(["cifar10_test:max", "latency_pixel3:min"])
    >>> [o.text for o in objs], directions(objs)
    (['cifar10_test:max', 'latency_pixel3:min'], ('maximize', 'minimize'))
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..errors import NasError
from ..text import printable
from .pareto import front, oriented

DIRECTION = {"max": "maximize", "min": "minimize"}


@dataclass(frozen=True)
class Objective:
    """One objective: the metric `name`, `direction` `"maximize"` or `"minimize"`."""

    name: str
    direction: str

    @property
    def text(self) -> str:
        return f"{self.name}:{self.direction[:3]}"


def parse_objectives(texts: Iterable[str]) -> list[Objective]:
    """`--objective` texts as objectives: two or more, `NAME:max` or `NAME:min`, no name twice."""
    out: list[Objective] = []
    for text in texts:
        name, sep, way = str(text).strip().rpartition(":")
        shown = printable(str(text), one_line=True)[:80]
        if not sep or not name.strip():
            raise NasError(f"--objective expects NAME:max or NAME:min, got {shown!r}")
        if way.strip() not in DIRECTION:
            raise NasError(f"--objective {shown!r}: the direction must be max or min, got {way.strip()!r}")
        if any(o.name == name.strip() for o in out):
            raise NasError(f"--objective {name.strip()!r} is given twice")
        out.append(Objective(name.strip(), DIRECTION[way.strip()]))
    if len(out) == 1:
        raise NasError(f"--objective {out[0].text!r} alone: a multi-objective search needs two or more "
                       "(one objective to maximise is --metric NAME)")
    return out


def evaluated_metric(objectives: Sequence[Objective], default: str | None = None) -> str | None:
    """The first objective that is not a cost nasdsl computes itself (`params`, `flops`): the
    metric an evaluator returns (a python function's plain number is reported under it)."""
    return next((o.name for o in objectives if o.name not in ("params", "flops")), default)


def directions(objectives: Sequence[Objective]) -> tuple[str, ...]:
    return tuple(o.direction for o in objectives)


def check_columns(objectives: Sequence[Objective], columns: Iterable[str], where: str) -> None:
    """Each objective must be one of `columns` (a table's, with params and flops): a NasError
    naming the first that is not."""
    known = list(columns)
    for o in objectives:
        if o.name not in known:
            raise NasError(f"--objective {o.text!r}: {where} has no column {o.name!r} (its columns: {', '.join(known)})")


def values_of(metrics: Mapping[str, float], objectives: Sequence[Objective]) -> list[float]:
    """The objectives' values from a trial's metrics; a missing or non-finite one is an error
    (the trial fails)."""
    out = []
    for o in objectives:
        value = metrics.get(o.name)
        if value is None or not math.isfinite(value):
            raise ValueError(f"objective {o.name!r} is {value!r} (metrics: {sorted(metrics)})")
        out.append(float(value))
    return out


def pareto_trials(trials: Sequence, dirs: Sequence[str]) -> list:
    """The complete trials no other complete trial dominates (in trial order); trials with the
    same values are all kept."""
    done = [t for t in trials if t.state == "complete" and t.values is not None]
    keep = front([oriented(t.values, dirs) for t in done])
    return [done[i] for i in keep]
