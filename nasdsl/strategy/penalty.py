"""A hardware-aware penalty on the expected cost of the architecture a supernet prefers.

The expected cost is differentiable in the architecture weights: `E[cost] = base + sum over
decisions d and values v of p_d(v) * delta_d(v)`, where `p_d = softmax(alpha_d)`. With a
latency table (`{label: {value: cost}}`, optionally `"base"`: a constant) the deltas are the
table's entries, as ProxylessNAS's per-block lookup table; with `params` or `flops` they are
measured once with `nasdsl.analysis.shapes.costs`: the cost of a reference architecture (one
that keeps the space's budgets) with decision d set to v, minus the reference's cost (a
first-order model: decisions are assumed to add their costs independently, exact for the
edges of a cell, approximate where one width scales another). The probes with one decision
changed are priced whether or not they keep the budgets (`_delta`).

Two forms: `mul`, ProxylessNAS's `loss * (E[cost] / target) ** beta`, and `add`,
`loss + weight * E[cost] / target`.

Example::

    >>> import nasdsl
    >>> from nasdsl.strategy import build_supernet
    >>> space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    >>> net = build_supernet(space, "darts", seed=0)
    >>> penalty = CostPenalty(space, "params")
    >>> round(float(penalty.expected(net.policy.probs).detach()) / penalty.target, 3)
    1.0
"""
from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..arch import domain_value, value_name
from ..errors import ArchitectureError, EmptySpaceError, NasError
from ..limits import show_path

FORMS = ("mul", "add")


class CostPenalty:
    """`metric` is `"params"`, `"flops"`, or a latency table (a mapping or a JSON file path)."""

    def __init__(self, space, metric: str | Mapping[str, Any], *, target: float | None = None,
                 form: str = "mul", beta: float = 0.6, weight: float = 0.1):
        if form not in FORMS:
            raise NasError(f"penalty form must be one of {', '.join(FORMS)}, got {form!r}")
        self.space, self.form, self.beta, self.weight = space, form, beta, weight
        if isinstance(metric, str) and metric in ("params", "flops"):
            self.name = metric
            self.base, self.deltas = _measured(space, metric)
        else:
            table = _read_table(metric) if isinstance(metric, str) else dict(metric)
            self.name = "latency"
            self.base, self.deltas = _tabled(space, table)
        self._index = {d.label: {value_name(v): i for i, v in enumerate(d.values)} for d in space.decisions}
        if target is None:  # the expected cost under uniform weights
            target = float(self.expected(lambda label: torch.full((len(space.decision(label).values),),
                                                                   1.0 / len(space.decision(label).values))))
        if not target > 0:
            raise NasError(f"penalty target must be positive, got {target}")
        self.target = float(target)

    def expected(self, probs: Callable[[str], torch.Tensor]) -> torch.Tensor:
        """E[cost] under `probs(label)` (a tensor over the label's values)."""
        total = torch.tensor(float(self.base))
        for label, delta in self.deltas.items():
            total = total + (probs(label) * delta).sum()
        return total

    def apply(self, loss: torch.Tensor, probs: Callable[[str], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The penalised loss and E[cost]."""
        cost = self.expected(probs)
        ratio = cost / self.target
        if self.form == "mul":
            return loss * ratio.clamp_min(1e-6) ** self.beta, cost
        return loss + self.weight * ratio, cost


def _measured(space, metric: str) -> tuple[float, dict[str, torch.Tensor]]:
    from ..analysis.shapes import costs
    ref = _reference(space)
    base = costs(space, ref)[metric]
    rng = random.Random(0)
    deltas = {}
    for d in space.order:
        if d.label not in ref:
            continue
        deltas[d.label] = torch.tensor([_delta(space, metric, d, v, ref, base, rng) for v in d.values])
    return float(base), deltas


def _delta(space, metric: str, d, v: Any, ref: Mapping[str, Any], base: int, rng: random.Random,
           contexts: int = 20) -> float:
    """The cost of setting decision `d` to `v`, minus the reference's value: measured on the
    reference itself, or, where `v` breaks a constraint over decisions there, on the first of
    `contexts` random architectures with `d = v` whose twin with the reference's value exists.
    Probes are priced whether or not they keep the budgets: a value only over-budget
    architectures take must cost what it costs, so the penalty pushes away from it."""
    from ..analysis.shapes import costs

    def probe(value, context):
        return space.sample(choose=lambda x: value if x.label == d.label else
                            _member(x, context.get(x.label), rng), attempts=1, budgets=False)
    try:
        return float(costs(space, probe(v, ref))[metric] - base)
    except ArchitectureError:
        pass
    for _ in range(contexts):
        try:
            context = space.sample(choose=lambda x: v if x.label == d.label else
                                   x.values[rng.randrange(len(x.values))], attempts=1, budgets=False)
            twin = probe(ref[d.label], context)
        except ArchitectureError:
            continue
        return float(costs(space, context)[metric] - costs(space, twin)[metric])
    return 0.0   # no architecture of the space takes `v`: nothing to price


def _member(decision, value: Any, rng: random.Random) -> Any:
    """`value` (an architecture's JSON) as one of `decision.values`; a random one when unset."""
    if value is None:
        return decision.values[rng.randrange(len(decision.values))]
    return domain_value(value)


def _reference(space) -> dict[str, Any]:
    """An architecture of the space, within its budgets: each decision's first value where
    that keeps constraints and budgets, else a seeded draw."""
    try:
        return space.sample(choose=lambda d: d.values[0], attempts=1)
    except (ArchitectureError, EmptySpaceError):
        return space.sample(0)


MAX_LATENCY_TABLE_BYTES = 16 << 20


def _read_table(path: str) -> dict[str, Any]:
    from ..limits import decode_utf8, read_bounded
    text = decode_utf8(read_bounded(path, MAX_LATENCY_TABLE_BYTES, "latency table"), f"latency table {show_path(path)}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise NasError(f"latency table {show_path(path)} is not JSON: {str(err)[:160]}") from None


def _tabled(space, table: Mapping[str, Any]) -> tuple[float, dict[str, torch.Tensor]]:
    base = float(table.get("base", 0.0))
    deltas = {}
    for label, row in table.items():
        if label in ("base", "fit"):   # "fit": how `nasdsl fit-latency` fitted it
            continue
        try:
            d = space.decision(label)
        except Exception:
            raise NasError(f"latency table: no decision {label!r} in the space") from None
        if not isinstance(row, Mapping):
            raise NasError(f"latency table: {label!r} must map each value to a cost, got {type(row).__name__}")
        names = {value_name(v): v for v in d.values}
        unknown = sorted(set(map(str, row)) - set(names))
        if unknown:
            raise NasError(f"latency table: {label!r} has no value {unknown[0]!r}; values: {', '.join(names)}")
        deltas[label] = torch.tensor([float(row.get(value_name(v), 0.0)) for v in d.values])
    return base, deltas

