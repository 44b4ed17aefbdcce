"""The most probable architecture that the space accepts: what a supernet's `export()` returns.

`most_probable(space, log_probs, distinct)` maximises, over the architectures that satisfy
every constraint and budget of `space`, the objective

    score(arch) = sum of log_probs[label][i] over arch's active decisions (value i of each)
                  - DUPLICATE * duplicates(arch)

where `distinct` lists groups of decisions that should take distinct values (the input
decisions of a cell node's op slots: DARTS's genotype rule, a node reads distinct inputs) and
`duplicates(arch)` counts, per group, its active members less the distinct values they take.
`DUPLICATE` (1e9) exceeds by far any difference of log-probability totals that parameters
produce (one-hot parameters of +-1e4 give about -2e4 per decision), so the result has the
fewest duplicates that any valid architecture has (none wherever the space allows it, a node
reading one input twice only where every valid architecture must) and is, among those, the
most probable. It is a best-first (A*) search over the decisions in
`Space.order`:

* a partial architecture sets the first decisions in order; its next decision offers only the
  values that still complete to an architecture satisfying the constraints over decisions
  (`Space.next_choice`, the counting DP), so no branch dead-ends on a `forbid`;
* its priority is the score so far plus an optimistic bound on the rest: every later
  always-active decision's best score (an inactive decision scores 0, at least any value),
  except that a group of always-active decisions (in no other group) counts its best
  completion *with* its duplicates (exact for the group alone, constraints aside, by a small memoised search), so
  the first complete architecture popped that keeps the budgets is an optimum, and a cell's
  search goes straight to it when no constraint interferes;
* children are generated lazily, best first (by their score plus the bound on the rest, which
  depends on the value while a group is under way) and each one's next-best sibling only when
  it is popped; priorities equal to 1e-9 pop deepest first, then in the order pushed (a value
  before later values of its domain), so which of two equally probable architectures is the
  result does not turn on rounding.

Before searching, one greedy pass takes each decision's best value in order (a grouped
decision its best value not yet taken in its group, where one is left): when every decision
got its best value of all (no constraint and no group passed one over) and the budgets hold,
that is the result, without search. Where every decision is always active this is the
optimum; where some are conditional (a nested choice, a chosen depth) it is the
decision-wise argmax, NNI's convention, though an architecture with fewer active decisions
can have a higher total (the search, when entered, maximises the total as stated).

Budgets over params/FLOPs are checked on complete architectures. Should the search give up
(`max_pops` partial or `max_checks` complete architectures), the result is the better of the
greedy pass (where it keeps the budgets) and, with budgets, a pass where budgets get a price:
greedy passes maximise `score - lam * cost` under a first-order cost model, with `lam` found by
bisection, and the best pass within the budgets is the result (not proven optimal). Only if
that fails too is the result the best-scoring of `draws` architectures drawn from the scores'
distribution within the budgets (seeded, so `export()` stays deterministic); a space whose
budgets leave (almost) nothing is the `EmptySpaceError` that names the budget.

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
    >>> free = nasdsl.loads('''network(x: [4]) {
    ...   a = x -> choice { p: ReLU(), q: Tanh() }
    ...   b = a -> choice { p: ReLU(), q: Tanh() }
    ...   return b
    ... }''')
    >>> scores = {"a": [-0.67, -0.71], "b": [-0.01, -4.61]}   # p: 0.51 then 0.99
    >>> most_probable(free, scores, distinct=[("a", "b")])   # (p, q) has p = 0.0051, (q, p) 0.4851
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
from ..arch import domain_value
from ..errors import ArchitectureError, NasError

DUPLICATE = 1e9   # score lost per duplicate in a `distinct` group (see the module docstring)

Score = Callable[[ir.Decision, Mapping[str, Any], Any], float]


def most_probable(space, log_probs: Mapping[str, Sequence[float]], distinct: Sequence[Sequence[str]] = (),
                  max_pops: int = 20_000, max_checks: int = 100, draws: int = 32) -> dict[str, Any]:
    """The valid architecture of `space` with the highest score (see the module docstring):
    `log_probs` holds a score per value of every decision (`log_probs[label][i]` for
    `decision.values[i]`), `distinct` the groups of labels whose values should differ."""
    index = {d.label: {_key(v): i for i, v in enumerate(d.values)} for d in space.decisions}
    groups = Groups(space, distinct)

    def raw(d: ir.Decision, value: Any) -> float:
        return float(log_probs[d.label][index[d.label][_key(value)]])

    def score(d: ir.Decision, partial: Mapping[str, Any], value: Any) -> float:
        return raw(d, value) - DUPLICATE * groups.repeats(d.label, partial, value)

    order = space.order
    position = {d.label: t for t, d in enumerate(order)}
    bound = groups.bound(raw)

    def frame(partial: dict[str, Any]):
        """The next decision and its values, as (score + bound on the rest, index, value,
        score) best first: the bound depends on the value where a group is under way."""
        nxt = space.next_choice(partial)
        if nxt is None:
            return None
        d, values = nxt
        t = position[d.label]
        ranked = []
        for i, v in enumerate(values):
            s = score(d, partial, v)
            ranked.append((s + bound({**partial, d.label: v}, t), i, v, s))
        return d, sorted(ranked, key=lambda r: (-_tie(r[0]), r[1]))

    try:
        first = frame({})
    except NasError:   # too entangled to count completions: draw within the constraints instead
        return _best_of_draws(space, log_probs, index, score, draws)
    if first is None:
        return space.validate({})   # no decision at all (or none active)
    greedy, passed_over = _walk(space, score, lambda d: max(raw(d, v) for v in d.values))
    kept = _valid(space, greedy)
    if kept is not None and not passed_over:
        return kept
    tie = itertools.count()
    heap: list = []

    def push(g: float, partial: dict, d: ir.Decision, ranked: list, r: int) -> None:
        f = g + ranked[r][0]
        heapq.heappush(heap, (-_tie(f), -len(partial), next(tie), g, partial, d, ranked, r))

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
            push(g + ranked[r][3], child, *nxt, 0)
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
    return _best_of_draws(space, log_probs, index, score, draws)


class Groups:
    """The `distinct` groups of one search: which decisions repeat a value, and the bound on
    the score still to come that the A* search orders by."""

    def __init__(self, space, distinct: Sequence[Sequence[str]]):
        self.space = space
        position = {d.label: t for t, d in enumerate(space.order)}
        found: dict[tuple[str, ...], None] = {}
        for group in distinct:
            members = tuple(sorted(dict.fromkeys(label for label in group if label in position), key=position.get))
            if len(members) > 1:
                found[members] = None
        self.groups = list(found)
        self.of: dict[str, list[int]] = {}
        for i, members in enumerate(self.groups):
            for label in members:
                self.of.setdefault(label, []).append(i)
        # exact groups: always active and apart from every other group (their best completion
        # is then a bound of its own); the others' members count their best value alone
        self.exact = [i for i, members in enumerate(self.groups)
                      if all(space.decision(label).condition is True and len(self.of[label]) == 1
                             for label in members)]
        self.position = position

    def repeats(self, label: str, partial: Mapping[str, Any], value: Any) -> int:
        """In how many of its groups `label`'s `value` repeats a value `partial` gives another member."""
        key = _key(value)
        return sum(any(m != label and m in partial and _key(partial[m]) == key for m in self.groups[i])
                   for i in self.of.get(label, ()))

    def bound(self, raw: Callable[[ir.Decision, Any], float]) -> Callable[[Mapping[str, Any], int], float]:
        """`bound(partial, t)`: at least the score that any completion of `partial` (which sets
        exactly the active decisions up to position t of `Space.order`) adds, constraints aside."""
        order, position = self.space.order, self.position
        grouped = {label for i in self.exact for label in self.groups[i]}
        memo: dict[tuple, float] = {}

        def best(i: int, start: int, taken: frozenset) -> float:
            """The best score of group i's members from `start` on, the values `taken` taken."""
            members = self.groups[i]
            if start == len(members):
                return 0.0
            key = (i, start, taken)
            if key not in memo:
                d = self.space.decision(members[start])
                memo[key] = max(raw(d, v) - (DUPLICATE if _key(v) in taken else 0.0)
                                + best(i, start + 1, taken | {_key(v)}) for v in d.values)
            return memo[key]

        first = {self.groups[i][0]: i for i in self.exact}
        rest = [0.0] * (len(order) + 1)   # rest[t]: the bound for decisions t, t+1, ... alone
        for t in range(len(order) - 1, -1, -1):
            d = order[t]
            alone = max(raw(d, v) for v in d.values) if d.condition is True and d.label not in grouped else 0.0
            rest[t] = rest[t + 1] + alone + (best(first[d.label], 0, frozenset()) if d.label in first else 0.0)
        # the exact groups under way after position t: set up to t, not after
        open_at = [[i for i in self.exact if position[self.groups[i][0]] <= t < position[self.groups[i][-1]]]
                   for t in range(len(order))]

        def bound(partial: Mapping[str, Any], t: int) -> float:
            total = rest[t + 1]
            for i in open_at[t]:
                done = [m for m in self.groups[i] if position[m] <= t]
                total += best(i, len(done), frozenset(_key(partial[m]) for m in done))
            return total
        return bound


def _walk(space, score: Score, top: Callable[[ir.Decision], float] | None = None) -> tuple[dict[str, Any], bool]:
    """One greedy pass: each decision in order takes its best-scoring value among those that
    still complete under the constraints. Returns the architecture (budgets unchecked) and
    whether some decision's chosen score fell short of `top(decision)` (its best score of all,
    so a constraint or a repeated value passed the best over and the pass need not be optimal)."""
    partial: dict[str, Any] = {}
    passed_over = False
    while (nxt := space.next_choice(partial)) is not None:
        d, values = nxt
        scores = [score(d, partial, v) for v in values]
        chosen = max(range(len(values)), key=lambda i: (scores[i], -i))
        passed_over = passed_over or (top is not None and scores[chosen] < top(d))
        partial[d.label] = values[chosen]
    return partial, passed_over


def _lagrangian(space, score: Score, start: Mapping[str, Any], steps: int = 16) -> dict[str, Any] | None:
    """Budgets as a price: greedy passes that maximise `score - lam * cost`, with the cost of
    each value a first-order model around `start` (the cost of `start` with that one decision
    changed, in units of `start`'s cost, summed over the metrics the budgets mention), `lam`
    found by doubling and bisection; the best-scoring pass that keeps the budgets, or None."""
    from ..values import free_labels
    from .shapes import costs
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


def _total(space, score: Score, arch: Mapping[str, Any]) -> float:
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


def _best_of_draws(space, log_probs, index, score: Score, draws: int) -> dict[str, Any]:
    """The best-scoring of `draws` architectures drawn from the scores (as distributions)
    within the constraints and budgets; `Space.sample` raises where the budgets leave nothing."""
    rng = random.Random(0)

    def choose(d: ir.Decision) -> Any:
        weights = [math.exp(float(log_probs[d.label][index[d.label][_key(v)]])) for v in d.values]
        if not any(w > 0 for w in weights):
            weights = [1.0] * len(d.values)
        return rng.choices(d.values, weights)[0]

    found = [space.sample(choose=choose, feasible=True) for _ in range(draws)]
    return space.validate(max(found, key=lambda arch: _total(space, score, arch)))


def _tie(score: float) -> float:
    """Scores equal to 1e-9 (the same log-probabilities summed in another order) compare equal,
    so the earlier value in domain order wins a tie, not rounding."""
    return round(score, 9)


def _key(value: Any) -> Any:
    value = domain_value(value)   # input subsets: lists in JSON form
    return (type(value).__name__, value)
