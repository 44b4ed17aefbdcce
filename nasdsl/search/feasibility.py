"""Constraints checked before a trial is spent: an infeasible proposal costs no query.

A `--constraint NAME<=X` whose value is known without the expensive evaluation is *cheap*:
a column of the benchmark table other than the objective (`latency_pixel3` on NAS-Bench-201:
the hardware's measurement, not the accuracy being searched for), the architecture's `params`
or `flops` (the space's shape analysis, no torch), or a latency lookup table (`lut.json<=10`,
an additive model `nasdsl fit-latency` writes). The search driver (`multitrial.work`) asks the
strategy through a `Screen`: each proposal is held to the cheap constraints first; one that
breaks them is recorded in the store as `infeasible` (no trial of the budget, never
evaluated) and told back to the strategy (`Strategy.infeasible`), which learns from it: TPE as
an infeasible Optuna trial (its constraint value), evolution and local search by never taking
it as parent or neighbour, random and grid by never proposing it again, RL by a negative
reward. Under an upper bound (`<=`, `<`) the driver also hands the strategy
`Screen.usage` (how much of the bound an architecture uses, known at no cost): local search
walks best-first through the one- and two-change neighbours closest to the bound
(`nasdsl.strategy.local`), evolution and rl propose the dearest of three candidates that keep
it. Any other constraint (a metric the evaluator returns) is *expensive*: it is checked
after the evaluation, the trial counts and fails as infeasible, and the strategy is told so
the same way.

When (almost) nothing satisfies the cheap constraints, `MAX_REJECTED` proposals in a row that
break them end the search with a message naming how often each constraint rejected one.

Example::

    >>> import nasdsl
    >>> space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    >>> check = cost_bound(space, "params<=10000")
    >>> arch = space.sample(choose=lambda d: "nor_conv_3x3")
    >>> check.value(arch), check.violation(arch), check.text
    (23374.0, 1.3374, 'params<=10000')
"""
from __future__ import annotations

import operator
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..arch import arch_key
from ..errors import NasError

MAX_REJECTED = 2000   # proposals in a row that break the cheap constraints before the search gives up

_CONSTRAINT = re.compile(r"^\s*([^<>=!\s]+)\s*(<=|>=|<|>|==|!=)\s*([-+0-9.eE]+)\s*$")
COMPARE = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq, "!=": operator.ne}
COSTS = ("params", "flops")


def parse_constraint(text: str) -> tuple[str, str, float]:
    """`latency_pixel3<=20` as (name, operator, bound); the name may be a `.json` path.

    Example::

        >>> parse_constraint("latency_pixel3<=20"), parse_constraint("runs/lut.json <= 7.5")
        (('latency_pixel3', '<=', 20.0), ('runs/lut.json', '<=', 7.5))
    """
    m = _CONSTRAINT.match(text)
    if not m:
        raise NasError(f"--constraint expects NAME<=NUMBER (or >=, <, >, ==, !=), got {text!r}")
    try:
        return m.group(1), m.group(2), float(m.group(3))
    except ValueError:
        raise NasError(f"--constraint bound is not a number in {text!r}") from None


@dataclass
class Bound:
    """One constraint `name op bound` over a measure of the architecture (`measure(arch)`)."""

    name: str
    op: str
    bound: float
    measure: Callable[[Mapping[str, Any]], float]

    @property
    def text(self) -> str:
        return f"{self.name}{self.op}{self.bound:g}"

    def value(self, arch: Mapping[str, Any]) -> float:
        return float(self.measure(arch))

    def holds(self, value: float) -> bool:
        """Whether `value` keeps the bound; NaN (not known before evaluation, as an
        architecture missing from a table) holds: the evaluation decides."""
        return value != value or bool(COMPARE[self.op](value, self.bound))

    def violation(self, arch: Mapping[str, Any], value: float | None = None) -> float:
        """0 when `arch` keeps the bound, else by how much it breaks it, relative to the bound
        (what TPE ranks infeasible trials by)."""
        value = self.value(arch) if value is None else value
        if self.holds(value):
            return 0.0
        return round(max(abs(value - self.bound) / max(abs(self.bound), 1e-12), 1e-6), 6)


def cost_bound(space, text: str) -> Bound:
    """A bound on `params` or `flops` (`nasdsl.analysis.shapes.costs`)."""
    from ..analysis.shapes import costs
    name, op, bound = parse_constraint(text)
    if name not in COSTS:
        raise NasError(f"--constraint {text!r}: not a cost ({', '.join(COSTS)})")
    return Bound(name, op, bound, lambda arch: costs(space, arch)[name])


def lut_bound(space, text: str) -> Bound:
    """A bound on the latency a lookup table predicts (`nasdsl fit-latency`'s JSON,
    `nasdsl.search.latency`), e.g. `lut.json<=10`."""
    from .latency import LatencyModel
    name, op, bound = parse_constraint(text)
    return Bound(name, op, bound, LatencyModel.read(space, name).predict)


class Screen:
    """Holds each proposal of a strategy to the cheap `checks` and records the rejected ones."""

    def __init__(self, checks: Sequence[Bound], store=None, limit: int = MAX_REJECTED):
        self.checks, self.store, self.limit = list(checks), store, limit
        self.rejected: Counter[str] = Counter()   # constraint -> distinct architectures it rejected here
        self._recorded: set[str] = set()

    def replay(self, strategy, rec) -> None:
        """Tell `strategy` an infeasible proposal from the store (a resumed search's, another
        worker's) once, with its violation under the constraints of this search."""
        if rec.key in strategy.rejected:
            return
        self._recorded.add(rec.key)
        found = self.broken(rec.arch) if self.checks else None
        strategy.infeasible(rec.arch, found[2] if found else 1.0)

    def usage(self, arch: Mapping[str, Any]) -> float:
        """How much of its upper bounds (`<=`, `<`) `arch` uses: the largest value / bound
        (above 1: it breaks one); 0 without such a bound."""
        used = [check.value(arch) / check.bound for check in self.checks
                if check.op in ("<=", "<") and check.bound > 0]
        return max((u for u in used if u == u), default=0.0)

    def guide(self, strategy) -> None:
        """Give `strategy` the `usage` of the upper bounds (local search, evolution and rl
        prefer the architectures closest to a bound), where there is such a bound."""
        if any(check.op in ("<=", "<") and check.bound > 0 for check in self.checks):
            strategy.usage = self.usage

    def broken(self, arch: Mapping[str, Any]) -> tuple[Bound, float, float] | None:
        """The first cheap constraint `arch` breaks, its value and violation; None if it keeps all."""
        for check in self.checks:
            value = check.value(arch)
            if not check.holds(value):
                return check, value, check.violation(arch, value)
        return None

    def ask(self, strategy, avoid=frozenset()) -> dict[str, Any] | None:
        """The strategy's next proposal that keeps the cheap constraints (None when it has
        nothing left); each one that breaks them is recorded and told back on the way."""
        if not self.checks:
            return strategy.ask(avoid=avoid)
        for _ in range(self.limit):
            arch = strategy.ask(avoid=avoid)
            if arch is None:
                return None
            found = self.broken(arch)
            if found is None:
                return arch
            check, value, violation = found
            key = arch_key(arch)
            if key not in self._recorded:
                self._recorded.add(key)
                self.rejected[check.text] += 1
                if self.store is not None:
                    self.store.infeasible(arch, check.text, {check.name: value}, violation)
            strategy.infeasible(arch, violation)
        counts = ", ".join(f"{name} rejected {n}" for name, n in self.rejected.most_common())
        raise NasError(f"{self.limit} proposals in a row broke the constraints ({counts}): they leave (almost) "
                       "nothing of the space; loosen them")


def tell(strategy, rec) -> None:
    """Tell `strategy` a finished trial; one that failed an expensive constraint is also told
    as infeasible, so the strategy learns to avoid it."""
    value = (tuple(rec.values) if rec.values is not None else rec.value) if rec.state == "complete" else None
    strategy.tell(rec.arch, value)   # a multi-objective trial: the tuple of its objectives' values
    if rec.state == "failed" and (rec.error or "").startswith("infeasible:"):
        strategy.infeasible(rec.arch, 1.0)


def counts(records) -> dict[str, int]:
    """Constraint text -> how many distinct proposals it rejected, from the store's records
    (an architecture two workers both rejected counts once)."""
    seen = {(r.error, r.key) for r in records if r.state == "infeasible"}
    out: Counter[str] = Counter(error for error, _ in seen)
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))
