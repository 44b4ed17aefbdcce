"""A space's conditions and constraints evaluated over a partial architecture (a *view*: label
-> value, `INACTIVE` for a decision whose condition fails), decision by decision in the
space's order: the values a decision may take given the earlier ones, a value held to a
domain, the enumeration and the rejection draws that `Space` builds on, and the canonical
(JSON-ready) form of a view.
"""
from __future__ import annotations

import random as _random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from . import ir
from .arch import json_value
from .conditions import INACTIVE, Memo, partial_eval, truthy
from .errors import ArchitectureError
from .text import printable
from .values import literal

__all__ = ["OutOfBudget", "same", "options", "search", "export", "draw", "member", "domain_text",
           "did_you_mean"]


class OutOfBudget(Exception):
    """A bounded search ran out of steps before it found an architecture."""


def same(a: Any, b: Any) -> bool:
    """Domain membership that keeps True apart from 1 and 3 apart from 3.0."""
    return type(a) is type(b) and a == b


def domain_text(d: ir.Decision) -> str:
    """`d`'s values for a message: the first eight, and how many there are beyond."""
    shown = [literal(json_value(v)) for v in d.values[:8]]
    return ", ".join(shown) + (f", ... ({len(d.values)} values)" if len(d.values) > 8 else "")


def did_you_mean(label: str, known) -> str | None:
    """A hint naming the known label closest to a misspelt one, or None."""
    import difflib  # only for this message: not on the import path of every command
    match = difflib.get_close_matches(label, list(known), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None


def options(d: ir.Decision, view: Mapping[str, Any]) -> list:
    """The values of `d` given the earlier decisions of `view`: `[INACTIVE]` where its condition fails."""
    if not truthy(partial_eval(d.condition, view)):
        return [INACTIVE]
    return list(d.values)


def export(order: tuple[ir.Decision, ...], view: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical architecture of a complete view: its active decisions, in `order`, as JSON."""
    return {d.label: json_value(view[d.label]) for d in order if view.get(d.label, INACTIVE) is not INACTIVE}


def member(d: ir.Decision, value: Any) -> Any:
    """`value` as the value of `d`'s domain it is (an input choice of several tensors a sorted
    tuple), or an `ArchitectureError` naming the domain."""
    if d.kind == ir.INPUT and d.n_chosen != 1 and isinstance(value, (list, tuple)):
        if not all(type(v) is int for v in value):
            raise ArchitectureError(f"{d.label!r} takes a list of input indices (one of {domain_text(d)}), "
                                    f"got {value!r}", d.loc)
        value = tuple(sorted(value))
    for v in d.values:
        if same(v, value) or (isinstance(v, float) and type(value) is int and v == value):
            return v
    given = literal(value) if not isinstance(value, (dict, set)) else repr(value)
    shown = printable(given, one_line=True)   # a value read from a file may hold a newline
    shown = shown if len(shown) <= 160 else shown[:157] + "..."
    raise ArchitectureError(f"{shown} is not a value of {d.label!r} (one of {domain_text(d)})", d.loc)


def search(order: tuple[ir.Decision, ...], closing: tuple[tuple[ir.Constraint, ...], ...], memo: Memo,
           budget: int | None) -> Iterator[dict[str, Any]]:
    """Every architecture once, depth first in `order`, each constraint checked at the step
    `closing` lists it at; giving up (`OutOfBudget`) after `budget` values tried, if given."""
    n = len(order)
    if n == 0:
        yield {}
        return
    view: dict[str, Any] = {}
    offered: list[list] = [[] for _ in range(n)]
    index = [0] * n
    offered[0] = options(order[0], view)
    t = 0
    while t >= 0:
        if index[t] >= len(offered[t]):
            view.pop(order[t].label, None)
            t -= 1
            continue
        value = offered[t][index[t]]
        index[t] += 1
        if budget is not None:
            budget -= 1
            if budget < 0:
                raise OutOfBudget()
        view[order[t].label] = value
        if not all(memo.holds(c, view) for c in closing[t]):
            continue
        if t + 1 == n:
            yield export(order, view)
            continue
        t += 1
        offered[t] = options(order[t], view)
        index[t] = 0


def draw(order: tuple[ir.Decision, ...], closing: tuple[tuple[ir.Constraint, ...], ...], memo: Memo,
         rng: _random.Random | None, attempts: int,
         choose: Callable[[ir.Decision], Any] | None = None) -> dict[str, Any] | None:
    """Each active decision drawn uniformly (or by `choose`), redrawn from scratch while a
    constraint fails; None when all `attempts` break one."""
    for _ in range(attempts):
        view: dict[str, Any] = {}
        ok = True
        for t, d in enumerate(order):
            opts = options(d, view)
            if choose is not None:
                view[d.label] = INACTIVE if opts[0] is INACTIVE else member(d, choose(d))
            else:
                view[d.label] = opts[rng.randrange(len(opts))]
            if not all(memo.holds(c, view) for c in closing[t]):
                ok = False
                break
        if ok:
            return export(order, view)
    return None
