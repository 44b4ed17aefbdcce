"""A hardware-aware penalty on the expected cost of the architecture a supernet prefers.

The expected cost is differentiable in the architecture weights: `E[cost] = base + sum over
decisions d and values v of p_d(v) * delta_d(v)`, where `p_d = softmax(alpha_d)`. With a
latency table (`{label: {value: cost}}`, optionally `"base"`: a constant) the deltas are the
table's entries, as ProxylessNAS's per-block lookup table; with `params` or `flops` they are
measured once with `nasdsl.analysis.shapes.costs`: the cost of a reference architecture with
decision d set to v, minus the reference's cost (a first-order model: decisions are assumed
to add their costs independently, exact for the edges of a cell, approximate where one width
scales another).

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
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..errors import ArchitectureError, NasError
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
        self._index = {d.label: {_show(v): i for i, v in enumerate(d.values)} for d in space.decisions}
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
    deltas = {}
    for d in space.order:
        if d.label not in ref:
            continue
        row = []
        for v in d.values:
            try:
                arch = space.sample(choose=lambda x, v=v, d=d: v if x.label == d.label else
                                    ref.get(x.label, x.values[0]), attempts=1)
                row.append(float(costs(space, arch)[metric] - base))
            except ArchitectureError:  # this value breaks a constraint with the reference: no estimate
                row.append(0.0)
        deltas[d.label] = torch.tensor(row)
    return float(base), deltas


def _reference(space) -> dict[str, Any]:
    try:
        return space.sample(choose=lambda d: d.values[0], attempts=1)
    except ArchitectureError:
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
        if label == "base":
            continue
        try:
            d = space.decision(label)
        except Exception:
            raise NasError(f"latency table: no decision {label!r} in the space") from None
        if not isinstance(row, Mapping):
            raise NasError(f"latency table: {label!r} must map each value to a cost, got {type(row).__name__}")
        names = {_show(v): v for v in d.values}
        unknown = sorted(set(map(str, row)) - set(names))
        if unknown:
            raise NasError(f"latency table: {label!r} has no value {unknown[0]!r}; values: {', '.join(names)}")
        deltas[label] = torch.tensor([float(row.get(_show(v), 0.0)) for v in d.values])
    return base, deltas


def _show(v: Any) -> str:
    return ",".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)
