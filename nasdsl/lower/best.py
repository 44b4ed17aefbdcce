"""The most probable architecture that the space accepts: what a supernet's `export()` returns.

`most_probable(space, log_probs)` finds, among the architectures that satisfy every constraint
and budget of `space`, one that maximises the sum of its active decisions' log-probabilities
(`log_probs[label][i]`: the score of the decision's i-th value). It is a best-first (A*)
search over the decisions in `Space.order`:

* a partial architecture sets the first decisions in order; its next decision offers only the
  values that still complete to an architecture satisfying the constraints over decisions
  (`Space.next_choice`, the counting DP), so no branch dead-ends on a `forbid`;
* its priority is the score so far plus, as an optimistic bound on the rest, every later
  always-active decision's best score (an inactive decision scores 0, at least any value),
  so the first complete architecture popped that keeps the budgets is an optimum;
* children are generated lazily, best value first and each value's next-best sibling only
  when it is popped.

Before searching, one greedy pass takes each decision's best value in order: when no
constraint removed a best value and the budgets hold, that is the argmax and the result (so
the argmax is the result whenever it validates, and the common case costs one pass).

`penalty(decision, partial, value)` (>= 0) lowers a value's score in context; the DARTS
genotype rule (a cell node's ops read distinct inputs) is one. Budgets over params/FLOPs are
checked on complete architectures. Should the search give up (`max_pops` partial or
`max_checks` complete architectures), the result is the better of the greedy pass (where it
keeps the budgets) and, with budgets, a pass where budgets get a price: greedy passes maximise
`score - lam * cost` under a first-order cost model, with `lam` found by bisection, and the
best pass within the budgets is the result (not proven optimal). Only if that fails too is the
result the most probable of `draws` architectures drawn from the scores' distribution within
the budgets (seeded, so `export()` stays deterministic); a space whose budgets leave (almost)
nothing is the `EmptySpaceError` that names the budget.

Example::

    >>> import nasdsl
    >>> space = nasdsl.loads('''network(x: [4]) {
    ...   a = x -> choice { p: ReLU(), q: Tanh() }
    ...   b = a -> choice { p: ReLU(), q: Tanh() }
    ...   forbid decision("a") == "p" and decision("b") == "p"
    ...   return b
    ... }''')
    >>> most_probable(space, {"a": [-0.1, -2.4], "b": [-0.01, -4.6]})   # the argmax p, p is forbidden
    {'a': 'q', 'b': 'p'}
"""
from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .. import ir
from ..errors import ArchitectureError, NasError

Penalty = Callable[[ir.Decision, Mapping[str, Any], Any], float]


def most_probable(space, log_probs: Mapping[str, Sequence[float]], penalty: Penalty | None = None,
                  max_pops: int = 20_000, max_checks: int = 100, draws: int = 32) -> dict[str, Any]:
    """The architecture of `space` with the highest total score that validates (see the module
    docstring); `log_probs` holds a score per value of every decision."""
    index = {d.label: {_key(v): i for i, v in enumerate(d.values)} for d in space.decisions}

    def score(d: ir.Decision, partial: Mapping[str, Any], value: Any) -> float:
        s = float(log_probs[d.label][index[d.label][_key(value)]])
        return s - penalty(d, partial, value) if penalty is not None else s

    order = space.order
    position = {d.label: t for t, d in enumerate(order)}
    rest = [0.0] * (len(order) + 1)   # rest[t]: bound on the scores of decisions t, t+1, ...
    for t in range(len(order) - 1, -1, -1):
        d = order[t]
        rest[t] = rest[t + 1] + (max(float(s) for s in log_probs[d.label]) if d.condition is True else 0.0)

    def frame(partial: dict[str, Any]):
        nxt = space.next_choice(partial)
        if nxt is None:
            return None
        d, values = nxt
        ranked = sorted(((score(d, partial, v), i, v) for i, v in enumerate(values)), key=lambda r: (-r[0], r[1]))
        return d, ranked

    try:
        first = frame({})
    except NasError:   # too entangled to count completions: draw within the constraints instead
        return _best_of_draws(space, log_probs, index, draws)
    if first is None:
        return space.validate({})   # no decision at all (or none active)
    greedy, demoted = _walk(space, score)
    kept = _valid(space, greedy)
    if kept is not None and not demoted:
        return kept
    tie = itertools.count()
    heap: list = []

    def push(g: float, partial: dict, d: ir.Decision, ranked: list, r: int) -> None:
        f = g + ranked[r][0] + rest[position[d.label] + 1]
        heapq.heappush(heap, (-f, -len(partial), next(tie), g, partial, d, ranked, r))

    push(0.0, {}, *first, 0)
    pops = checks = 0
    while heap and pops < max_pops and checks < max_checks:
        pops += 1
        _, _, _, g, partial, d, ranked, r = heapq.heappop(heap)
        if r + 1 < len(ranked):
            push(g, partial, d, ranked, r + 1)
        child = {**partial, d.label: ranked[r][2]}
        nxt = frame(child)
        if nxt is not None:
            push(g + ranked[r][0], child, *nxt, 0)
            continue
        checks += 1
        arch = _valid(space, child)
        if arch is not None:
            return arch
    # the search gave up: the greedy pass where it keeps the budgets, or budgets at a price
    priced = _lagrangian(space, score, greedy) if space.budgets and heap else None
    found = [a for a in (kept, priced) if a is not None]
    if found:
        return max(found, key=lambda a: _total(space, score, a))
    return _best_of_draws(space, log_probs, index, draws)


def _walk(space, score) -> tuple[dict[str, Any], bool]:
    """One greedy pass: each decision in order takes its best value among those that still
    complete under the constraints. Returns the architecture (budgets unchecked) and whether a
    constraint removed some decision's best value (then it need not be the argmax)."""
    partial: dict[str, Any] = {}
    demoted = False
    while (nxt := space.next_choice(partial)) is not None:
        d, values = nxt
        scores = [score(d, partial, v) for v in values]
        top = max(range(len(values)), key=lambda i: (scores[i], -i))
        demoted = demoted or scores[top] < max(score(d, partial, v) for v in d.values)
        partial[d.label] = values[top]
    return partial, demoted


def _lagrangian(space, score, start: Mapping[str, Any], steps: int = 16) -> dict[str, Any] | None:
    """Budgets as a price: greedy passes that maximise `score - lam * cost`, with the cost of
    each value a first-order model around `start` (the cost of `start` with that one decision
    changed, in units of `start`'s cost, summed over the metrics the budgets mention), `lam`
    found by doubling and bisection; the best-scoring pass that keeps the budgets, or None."""
    from ..analysis.shapes import costs
    from ..values import free_labels
    metrics = sorted({label[1:] for c in space.budgets for label in free_labels(c.expr) if label.startswith("@")})
    base = costs(space, start, validate=False)
    delta: dict[tuple[str, Any], float] = {}
    for d in space.order:
        if d.label not in start or d.condition is not True:
            continue   # conditional decisions: no estimate (their cost counts as their parent's)
        for v in d.values:
            try:
                found = costs(space, {**start, d.label: v}, validate=False)
            except (NasError, KeyError, ValueError):
                continue
            delta[(d.label, _key(v))] = sum((found[m] - base[m]) / max(base[m], 1) for m in metrics)

    def priced(lam: float):
        return lambda d, partial, v: score(d, partial, v) - lam * delta.get((d.label, _key(v)), 0.0)

    best: tuple[float, dict] | None = None

    def attempt(lam: float) -> bool:
        nonlocal best
        arch = _valid(space, _walk(space, priced(lam))[0])
        if arch is None:
            return False
        total = _total(space, score, arch)
        if best is None or total > best[0]:
            best = (total, arch)
        return True

    low, high = 0.0, 1.0
    while not attempt(high):
        low, high = high, high * 4
        if high > 1e8:
            return None
    for _ in range(steps):
        mid = (low + high) / 2
        if attempt(mid):
            high = mid
        else:
            low = mid
    return best[1]


def _total(space, score, arch: Mapping[str, Any]) -> float:
    """The score of a complete architecture (its values as the domains hold them, in order)."""
    total, partial = 0.0, {}
    for d in space.order:
        if d.label in arch:
            value = d.values[[_key(v) for v in d.values].index(_key(arch[d.label]))]
            total += score(d, partial, value)
            partial[d.label] = value
    return total


def _valid(space, arch: Mapping[str, Any]) -> dict[str, Any] | None:
    """`arch` in canonical form if it keeps every constraint and budget, else None."""
    try:
        return space.validate(arch)
    except ArchitectureError:
        return None


def _best_of_draws(space, log_probs, index, draws: int) -> dict[str, Any]:
    """The most probable of `draws` architectures drawn from the scores (as distributions)
    within the constraints and budgets; `Space.sample` raises where the budgets leave nothing."""
    rng = random.Random(0)

    def choose(d: ir.Decision) -> Any:
        weights = [math.exp(float(log_probs[d.label][index[d.label][_key(v)]])) for v in d.values]
        if not any(w > 0 for w in weights):
            weights = [1.0] * len(d.values)
        return rng.choices(d.values, weights)[0]

    def total(arch: Mapping[str, Any]) -> float:
        return sum(float(log_probs[label][index[label][_key(value)]]) for label, value in arch.items())

    found = [space.sample(choose=choose, feasible=True) for _ in range(draws)]
    return space.validate(max(found, key=total))


def _key(value: Any) -> Any:
    value = tuple(value) if isinstance(value, list) else value   # input subsets: lists in JSON form
    return (type(value).__name__, value)
