"""The cheapest and the dearest architecture of a space (params, FLOPs), without enumerating it.

A discrete model's cost is a sum over its ops (`nasdsl.analysis.costs.costs`), and each op's
share depends on few decisions: those in its arguments, in its input's shape and in the
conditions under which it is built at all (the candidate of a choice it sits in, a repeat
deep enough, a cell input it reads). The whole-space shape inference already knows all three
symbolically, so one walk of it lists every op with what its cost depends on. Minimising
(maximising) such a sum is done by eliminating one decision at a time (min-sum variable
elimination): where the cost is additive over decisions — NAS-Bench-201's edges, DARTS's
cells — this is just the cheapest value of each decision; where decisions interact (a depth
and the blocks it keeps) the interacting ones are eliminated together.

Every bound is sound: no architecture of the space costs less than `cheapest` or more than
`dearest`. A bound is `exact` when an architecture that costs exactly that was found and is in
the space (the decisions' forbids and requires hold; budgets are not applied: these bounds
are what budgets are compared with). It can be inexact when a forbid rules the optimum out, or
when decisions interact too widely to eliminate together (then groups are eliminated apart,
which only loosens the bound). Bounds are not computed (`CostBounds.note` says why) for a space
with an op that has no cost rule, or a term over more than `TABLE_CAP` joint values.

Example::

    >>> import nasdsl
    >>> space = nasdsl.loads(
    ...     'network(x: [8]) { w = choice "width" [4, 8, 400]  return x -> Linear(8, w) -> Linear(w, 2) }')
    >>> bounds = cost_bounds(space)
    >>> cheapest, dearest = bounds.params
    >>> cheapest.cost, cheapest.arch, dearest.cost, dearest.exact
    (46, {'width': 4}, 4402, True)
    >>> bounds.text("params")
    'params 46 .. 4,402'
"""
from __future__ import annotations

import itertools
import math
import random
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import ir
from ..conditions import INACTIVE, holds, partial_eval, truthy
from ..errors import Loc, NasError
from ..ops.rules import Rule
from ..values import Binary, Ref, Unary, apply_binary, evaluate, free_labels, is_expr, possible_values
from .costs import costs
from .shapes import SpaceWalker
from .walker import Dead, OpCall, bounded, rule_of

__all__ = ["cost_bounds", "place_costs", "budget_verdict", "CostBounds", "Extreme", "TABLE_CAP", "ELIMINATION_CAP"]

TABLE_CAP = 1024           # joint values of the decisions one term of the cost depends on
ELIMINATION_CAP = 65_536   # evaluations one elimination step takes; beyond, it splits (a looser bound)
CHECKS = 3                 # architectures drawn to confirm the cost model against `costs`


@dataclass(frozen=True)
class Extreme:
    """One end of a cost range: no architecture is cheaper (dearer) than `cost`; `exact`:
    `arch`, an architecture of the space, costs exactly `cost`."""
    cost: int
    exact: bool
    arch: dict[str, Any] | None = None


@dataclass(frozen=True)
class CostBounds:
    """(cheapest, dearest) for params and for FLOPs (MACs per sample), or None with `note`
    saying why they are not known."""
    params: tuple[Extreme, Extreme] | None
    flops: tuple[Extreme, Extreme] | None
    note: str = ""

    def text(self, metric: str) -> str:
        """`params 73,306 .. 1,531,546`, an inexact end marked `>=` / `<=`."""
        pair = getattr(self, metric)
        if pair is None:
            return f"{metric} not bounded ({self.note})"
        low, high = pair
        return (f"{metric} {'' if low.exact else '>= '}{low.cost:,} .. "
                f"{'' if high.exact else '<= '}{high.cost:,}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for metric in ("params", "flops"):
            pair = getattr(self, metric)
            out[metric] = None if pair is None else {
                "min": pair[0].cost, "min_exact": pair[0].exact, "max": pair[1].cost, "max_exact": pair[1].exact}
        if self.note:
            out["note"] = self.note
        return out


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cost_bounds(space) -> CostBounds:
    """The cheapest and dearest params and FLOPs of `space` (remembered per space)."""
    hit = _CACHE.get(space)
    if hit is None:
        try:
            hit = _bounds(space)
        except (NasError, RecursionError, ArithmeticError) as err:  # a space costs() cannot price either
            text = err.render().split("\n")[0] if isinstance(err, NasError) else type(err).__name__  # located
            hit = CostBounds(None, None, f"the cost model failed: {text}")
        _CACHE[space] = hit
    return hit


_FREE_PARAMS = Rule.__dataclass_fields__["params"].default  # a rule's costs when it states none
_FREE_MACS = Rule.__dataclass_fields__["macs"].default


# --- the terms of the cost --------------------------------------------------------------------

class _CostWalker(SpaceWalker):
    """The whole-space shape inference, noting each op application with its symbolic
    arguments, input and output shapes and the conditions it is built under."""

    def __init__(self, space):
        super().__init__(space)
        self.macs: list[tuple] = []                 # (name, args, x, y, ctx), one per application
        self.mac_locs: list = []                    # where each of those ops is written
        self.params: dict[int, list] = {}           # id(op) -> [name, args, [ctx, ...]]: counted once
        self.keep: list[ir.Op] = []                 # the ops whose ids key `params`
        self.unknown: ir.Op | None = None

    def require(self, ok, values: tuple, fail, ctx: tuple, loc) -> None:
        """Nothing to check: loading the space checked every shape and argument already."""

    def apply(self, m: ir.Op, args: dict, x, ctx: tuple):
        """`_Walker.apply` less its argument checks (done when the space was loaded)."""
        rule = rule_of(m.name)
        if rule is None or x is None:
            return self.unknown_op(m, args, x)
        try:
            y = rule.shape(OpCall(self, m, args, x, ctx), x)
        except (TypeError, ValueError, ArithmeticError, KeyError, IndexError):
            raise Dead() from None  # only where the constraints rule the op out
        return bounded(y)

    def module(self, m: ir.Module, xs: tuple, ctx: tuple) -> tuple:
        """As `_Walker.module`, but a module inferred before still costs its MACs again."""
        if isinstance(m, ir.Op):
            return (self.op(m, xs[0], ctx),)
        key = (id(m), xs, id(ctx))
        hit = self.memo.get(key)
        if hit is None:
            start = len(self.macs)
            out = self._module(m, xs, ctx)
            self.memo[key] = (ctx, out, self.macs[start:])
            return out
        self.macs.extend(hit[2])
        return hit[1]

    def op(self, m: ir.Op, x, ctx: tuple):
        y = super().op(m, x, ctx)
        if rule_of(m.name) is None or x is None or y is None:
            if self.unknown is None:
                self.unknown = m
            return y
        rule = rule_of(m.name)
        if rule.macs is not _FREE_MACS:  # ops that cost nothing (activations, pools, reshapes) add no term
            self.macs.append((m.name, m.args, x, y, ctx))
            self.mac_locs.append(m.loc)
        if rule.params is not _FREE_PARAMS:
            entry = self.params.get(id(m))
            if entry is None:
                self.keep.append(m)
                entry = self.params[id(m)] = [m.name, m.args, {}]
            entry[2][id(ctx)] = ctx  # by identity: one ctx object serves all ops of a candidate
        return y


def _terms(space) -> tuple[dict[tuple, int], str]:
    """Each distinct cost term with how often it occurs; or a note on why there are none."""
    walker = _CostWalker(space)
    template = space.template
    try:
        walker.module(template, tuple(tuple(t.shape) if t.shape is not None else None for t in template.inputs), ())
    except Dead:
        return {}, "the shapes of the space could not be followed to every op"
    if walker.unknown is not None:
        m = walker.unknown
        return {}, f"the cost of {m.name} ({m.loc}) is not known for every architecture"
    counts: dict[tuple, int] = {}
    for name, args, x, y, ctx in walker.macs:
        key = ("macs", name, args, x, y, (ctx,))
        counts[key] = counts.get(key, 0) + 1
    for name, args, ctxs in walker.params.values():
        key = ("params", name, args, None, None, tuple(dict.fromkeys(ctxs.values())))
        counts[key] = counts.get(key, 0) + 1
    return counts, ""


class _Values:
    """Expressions evaluated once per distinct value of their own decisions (not of the whole
    view): a shape after a repeat reads the depth and widths, not the kernels of every block
    whose terms enumerate it, so it is computed a handful of times, not once per entry."""

    def __init__(self):
        self.labels = _LabelMemo()
        self.cache: dict[int, tuple[Any, tuple[str, ...], dict]] = {}
        self.plans: dict[int, tuple[Any, dict, list]] = {}

    def arguments(self, args: tuple, view: Mapping[str, Any]) -> dict[str, Any]:
        """An op's arguments under `view`: its constant ones copied, only expressions evaluated."""
        plan = self.plans.get(id(args))
        if plan is None:
            plan = self.plans[id(args)] = (args, {k: v for k, v in args if not is_expr(v)},
                                           [(k, v) for k, v in args if is_expr(v)])
        resolved = dict(plan[1])
        for k, v in plan[2]:
            resolved[k] = self(v, view)
        return resolved

    def __call__(self, value: Any, view: Mapping[str, Any]) -> Any:
        if isinstance(value, tuple):
            return tuple(self(v, view) for v in value)
        if not is_expr(value):
            return value
        hit = self.cache.get(id(value))
        if hit is None:
            hit = self.cache[id(value)] = (value, tuple(sorted(self.labels(value))), {})
        _, labels, known = hit
        key = tuple(view[label] for label in labels)
        try:
            return known[key]
        except KeyError:
            out = known[key] = evaluate(value, view)
            return out
        except TypeError:  # an unhashable value
            return evaluate(value, view)


def _term_cost(key: tuple, view: Mapping[str, Any], ev: _Values) -> int:
    """One term's cost under `view` (a value for every decision it reads)."""
    kind, name, args, x, y, ctxs = key
    if not any(all(ev(c, view) for c in ctx) for ctx in ctxs):
        return 0
    rule = rule_of(name)
    resolved = ev.arguments(args, view)
    if kind == "params":
        return rule.params(resolved)
    return rule.macs(resolved, ev(x, view), ev(y, view))


# --- factors and their elimination --------------------------------------------------------------

_METRICS = ("params", "flops")


def _factors(counts: dict[tuple, int], domains: dict[str, tuple]):
    """Terms grouped by the decisions they read: (scope, {value indices: (params, flops) or
    None where a term cannot be evaluated, which no architecture of the space reaches})."""
    ev = _Values()
    labels_of = ev.labels
    by_scope: dict[tuple[str, ...], list] = {}
    for key, n in counts.items():
        scope = tuple(sorted(labels_of(key[2]) | labels_of(key[3]) | labels_of(key[4]) | labels_of(key[5])))
        by_scope.setdefault(scope, []).append((key, n))
    factors = []
    loose = [[0, 0], [0, 0]]  # (params, flops) lowest and highest of the terms bounded one by one
    for scope, terms in by_scope.items():
        size = math.prod(len(domains[label]) for label in scope)
        if size > TABLE_CAP:
            for key, n in terms:
                found = _interval(key, domains)
                if found is None:
                    return None, (f"a cost term depends on {len(scope)} decisions ({size:,} joint values, over "
                                  f"{TABLE_CAP:,}) and has too many values to bound")
                slot = 0 if key[0] == "params" else 1
                loose[0][slot] += found[0] * n
                loose[1][slot] += found[1] * n
            continue
        table: dict[tuple, list | None] = {
            idx: [0, 0] for idx in itertools.product(*(range(len(domains[label])) for label in scope))}
        for key, n in terms:
            _add_term(table, scope, key, n, domains, ev)
        factors.append((scope, {idx: None if v is None else tuple(v) for idx, v in table.items()}))
    if loose != [[0, 0], [0, 0]]:
        factors.append(((), {(): tuple(loose[0])}, {(): tuple(loose[1])}))
    return factors, ""


def _interval(key: tuple, domains: dict[str, tuple]) -> tuple[int, int] | None:
    """(lowest, highest) cost of a term over a superset of what it can take: each distinct
    expression among its arguments and dimensions ranging over its own possible values
    independently (`possible_values`; one expression read twice, as a conv's `in_channels` and
    its input's channels, takes one value), and 0 where its conditions may be off. For a term
    over too many joint values to enumerate: the width of a loose-end cell's output reads every
    input choice of the cell. None: too many values even so."""
    kind, name, args, x, y, ctxs = key
    parts = [v for _, v in args] + list(x or ()) + list(y or ())
    distinct: dict[Any, int] = {}
    slots = [distinct.setdefault(part, len(distinct)) if is_expr(part) else None for part in parts]
    sets = []
    for expr in distinct:
        found = possible_values(expr, domains, 256)
        if found is None:
            return None
        sets.append(sorted(found, key=repr))
    if math.prod(len(v) for v in sets) > TABLE_CAP:
        return None
    rule = rule_of(name)
    names = [k for k, _ in args]
    nx = len(x or ())
    seen = []
    for combo in itertools.product(*sets):
        values = [part if slot is None else combo[slot] for part, slot in zip(parts, slots)]
        resolved = dict(zip(names, values[: len(names)]))
        rest = values[len(names):]
        try:
            seen.append(rule.params(resolved) if kind == "params" else
                        rule.macs(resolved, tuple(rest[:nx]), tuple(rest[nx:])))
        except Exception:  # noqa: BLE001 - a combination no architecture has
            continue
    if not seen:
        return None
    conditional = any(ctx for ctx in ctxs)
    return (0 if conditional else min(seen)), max(seen)


class _LabelMemo:
    """`free_labels` of the parts of terms, which many terms share (by identity)."""

    def __init__(self):
        self.seen: dict[int, tuple[Any, frozenset[str]]] = {}

    def __call__(self, value: Any) -> frozenset[str]:
        hit = self.seen.get(id(value))
        if hit is None:
            hit = self.seen[id(value)] = (value, free_labels(value))
        return hit[1]


def _add_term(table: dict, scope: tuple[str, ...], key: tuple, n: int, domains: dict[str, tuple],
              ev: _Values) -> None:
    """Add one term's cost (times `n`) to every entry of `table` where it is on. A term built
    under conditions comparing a decision with a constant (`op == "conv"` for a candidate,
    `input == 2` for a cell input, `depth > 1` for a repeated block) is on only where they
    hold: only those values of the decision are enumerated."""
    allowed = {label: range(len(domains[label])) for label in scope}
    ctxs = key[5]
    if len(ctxs) == 1:
        for cond in ctxs[0]:
            if isinstance(cond, Binary) and cond.op in _TESTS and isinstance(cond.left, Ref) \
                    and not is_expr(cond.right) and cond.left.label in allowed:
                values = domains[cond.left.label]
                allowed[cond.left.label] = [i for i in allowed[cond.left.label] if _passes(cond.op, values[i], cond.right)]
    slot = 0 if key[0] == "params" else 1
    for combo in itertools.product(*(allowed[label] for label in scope)):
        entry = table[combo]
        if entry is None:
            continue
        view = {label: domains[label][i] for label, i in zip(scope, combo)}
        try:
            entry[slot] += _term_cost(key, view, ev) * n
        except Exception:  # noqa: BLE001 - values no architecture combines (ruled out by its conditions)
            table[combo] = None


_TESTS = ("==", "!=", "<", "<=", ">", ">=")


def _passes(op: str, value: Any, const: Any) -> bool:
    """Whether `value op const` holds (equality as domains define it: 1 is not True); True
    when it cannot be told (the value is then enumerated and its condition evaluated)."""
    if op in ("==", "!="):
        same = type(value) is type(const) and value == const
        return same if op == "==" else not same
    try:
        return bool(apply_binary(op, value, const))
    except Exception:  # noqa: BLE001
        return True


def _joined_size(live: list, label: str, domains: dict[str, tuple]) -> int:
    """Joint values of the decisions that eliminating `label` brings together."""
    joined = set().union(*(scope for scope, _ in live if label in scope))
    return math.prod(len(domains[lab]) for lab in joined)


def _better(a, b, sense: int) -> bool:
    return b is None or (a is not None and (a < b if sense < 0 else a > b))


def _optimise(factors, domains: dict[str, tuple], metric: int, sense: int):
    """(best total, value index per decision, exact) of the sum of the factors' `metric`
    entries; `sense` -1 minimises, +1 maximises. None when no combination is evaluable.
    Variable elimination: each step sums out (maximises over) the decision whose joined table
    is smallest, in buckets of at most ELIMINATION_CAP entries (inexact when it needs two)."""
    live, exact = _metric_tables(factors, metric, sense)
    trail: list[tuple[str, tuple[str, ...], dict]] = []
    while True:
        labels = {label for scope, _ in live for label in scope}
        if not labels:
            break
        v = min(sorted(labels), key=lambda label, live=live: _joined_size(live, label, domains))
        buckets = _buckets([f for f in live if v in f[0]], domains)
        live = [f for f in live if v not in f[0]]
        exact = exact and len(buckets) == 1
        for bucket in buckets:
            new_scope, table, arg = _eliminate(v, bucket, domains, sense)
            live.append((new_scope, table))
            trail.append((v, new_scope, arg))
    return _backtrack(live, trail, exact)


def _metric_tables(factors, metric: int, sense: int) -> tuple[list, bool]:
    """Each factor as (scope, table of the metric); terms bounded one by one (3-tuples) as their
    lowest or highest sum, which makes the result inexact."""
    live, exact = [], True
    for factor in factors:
        if len(factor) == 3:
            live.append(((), {(): factor[1 if sense < 0 else 2][()][metric]}))
            exact = False
        else:
            live.append((factor[0], {k: (None if v is None else v[metric]) for k, v in factor[1].items()}))
    return live, exact


def _buckets(involved: list, domains: dict[str, tuple]) -> list[list]:
    """The factors that read the decision being eliminated, joined into as few buckets as keep
    each joined table within ELIMINATION_CAP entries (one, unless one step would be too big)."""
    buckets: list[list] = []
    for f in sorted(involved, key=lambda f: -len(f[0])):
        for bucket in buckets:
            joined = set().union(f[0], *(s for s, _ in bucket))
            if math.prod(len(domains[lab]) for lab in joined) <= ELIMINATION_CAP:
                bucket.append(f)
                break
        else:
            buckets.append([f])
    return buckets


def _eliminate(v: str, bucket: list, domains: dict[str, tuple], sense: int) -> tuple[tuple[str, ...], dict, dict]:
    """Decision `v` optimised out of the bucket's sum: the new factor's scope, its table, and the
    best index of `v` for each entry (None where no value of `v` is evaluable)."""
    new_scope = tuple(sorted(set().union(*(s for s, _ in bucket)) - {v}))
    table, arg = {}, {}
    for idx in itertools.product(*(range(len(domains[lab])) for lab in new_scope)):
        where = dict(zip(new_scope, idx))
        best, best_j = None, None
        for j in range(len(domains[v])):
            where[v] = j
            total = _bucket_total(bucket, where)
            if total is not None and _better(total, best, sense):
                best, best_j = total, j
        table[idx], arg[idx] = best, best_j
    return new_scope, table, arg


def _bucket_total(bucket: list, where: Mapping[str, int]) -> Any:
    """The bucket's factors summed at one assignment (None if one of them is not evaluable)."""
    total = 0
    for scope, t in bucket:
        value = t[tuple(where[lab] for lab in scope)]
        if value is None:
            return None
        total += value
    return total


def _backtrack(live: list, trail: list, exact: bool):
    """The optimum (the remaining constant factors' sum) and the choices that reach it, read
    back through the eliminations in reverse; None where something is not evaluable."""
    total = _bucket_total(live, {})
    if total is None:
        return None
    chosen: dict[str, int] = {}
    for v, scope, arg in reversed(trail):
        if v not in chosen:
            j = arg[tuple(chosen[lab] for lab in scope)]
            if j is None:
                return None
            chosen[v] = j
    return total, chosen, exact


# --- architectures that reach a bound ------------------------------------------------------------

def _complete(space, values: Mapping[str, Any]) -> dict[str, Any] | None:
    """The architecture taking `values` where its decisions are active (other decisions their
    first value), if the space's forbids and requires allow it; budgets are not applied."""
    view: dict[str, Any] = {}
    for d in space.plan.order:
        if not truthy(partial_eval(d.condition, view)):
            view[d.label] = INACTIVE
            continue
        view[d.label] = values.get(d.label, d.values[0])
    if not all(space._memo.holds(c, view) for c in space.constraints):
        return None
    return space._export(view)


def _full_view(space, arch: Mapping[str, Any]) -> dict[str, Any]:
    """Every decision's value for evaluating terms: inactive ones (whose terms are off) their first."""
    view = {}
    for d in space.decisions:
        value = arch.get(d.label, INACTIVE)
        view[d.label] = d.values[0] if value is INACTIVE else space._member(d, value)
    return view


def _bounds(space) -> CostBounds:
    counts, note = _terms(space)
    if note:
        return CostBounds(None, None, note)
    domains = {d.label: tuple(d.values) for d in space.decisions}
    factors, note = _factors(counts, domains)
    if factors is None:
        return CostBounds(None, None, note)

    def model_cost(arch) -> tuple[int, int]:
        view, ev = _full_view(space, arch), _Values()
        totals = [0, 0]
        for key, n in counts.items():
            totals[0 if key[0] == "params" else 1] += _term_cost(key, view, ev) * n
        return totals[0], totals[1]

    # the cost model must price architectures as `costs` does; where it cannot, say nothing
    rng = random.Random(0)
    for _ in range(CHECKS):
        arch = space._draw(rng, attempts=100)
        if arch is not None and model_cost(arch) != tuple(costs(space, arch, validate=False).values()):
            return CostBounds(None, None, "the cost model disagrees with the discrete model's costs")
    result = {}
    for m, metric in enumerate(_METRICS):
        ends = []
        for sense in (-1, 1):
            found = _optimise(factors, domains, m, sense)
            if found is None:
                return CostBounds(None, None, "no combination of values could be priced")
            total, chosen, exact = found
            arch = _complete(space, {label: domains[label][j] for label, j in chosen.items()})
            real = None if arch is None else costs(space, arch, validate=False)[metric]
            if arch is not None and exact and real != total:
                return CostBounds(None, None, "the cost model disagrees with the discrete model's costs")
            ends.append(Extreme(total, real == total, arch if real == total else None))
        result[metric] = tuple(ends)
    return CostBounds(result["params"], result["flops"])


# --- the cost of the ops written at some places ----------------------------------------------------

_PLACES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def place_costs(space, within: Callable[[Loc], bool]) -> dict[str, tuple[int, int]] | None:
    """The fewest and most params and FLOPs (MACs per sample) that the ops written at the
    places `within` accepts cost together, summed over every use of them in the network, over
    the architectures of `space` ({"params": (low, high), "flops": (low, high)}). The range
    is sound; the space's constraints and budgets are not applied, so it can be wider than
    what they keep. None where the cost model cannot price the space (`cost_bounds`' note).

    Example::

        >>> import nasdsl
        >>> space = nasdsl.loads(
        ...     'network(x: [8]) { w = choice[4, 8]  return x -> Linear(8, w) -> Linear(w, 2) }', "n.nas")
        >>> place_costs(space, lambda loc: loc.col == 49)   # the first Linear: 8 * w + w
        {'params': (36, 72), 'flops': (32, 64)}
    """
    hit = _PLACES.get(space)
    if hit is None:
        hit = _PLACES[space] = _terms_by_place(space)
    if hit is None:
        return None
    counts: dict[tuple, int] = {}
    for loc, terms in hit.items():
        if within(loc):
            for key, n in terms.items():
                counts[key] = counts.get(key, 0) + n
    domains = {d.label: tuple(d.values) for d in space.decisions}
    factors, _ = _factors(counts, domains)
    if factors is None:
        return None
    out = {}
    for m, metric in enumerate(_METRICS):
        ends = [_optimise(factors, domains, m, sense) for sense in (-1, 1)]
        if None in ends:
            return None
        out[metric] = (ends[0][0], ends[1][0])
    return out


def _terms_by_place(space) -> dict[Loc, dict[tuple, int]] | None:
    """`_terms`, each with the place its op is written (None where they cannot be listed)."""
    walker = _CostWalker(space)
    template = space.template
    try:
        walker.module(template, tuple(tuple(t.shape) if t.shape is not None else None for t in template.inputs), ())
    except (Dead, NasError, RecursionError, ArithmeticError):
        return None
    if walker.unknown is not None:
        return None
    out: dict[Loc, dict[tuple, int]] = {}
    for (name, args, x, y, ctx), loc in zip(walker.macs, walker.mac_locs):
        terms = out.setdefault(loc, {})
        key = ("macs", name, args, x, y, (ctx,))
        terms[key] = terms.get(key, 0) + 1
    for m, (name, args, ctxs) in zip(walker.keep, walker.params.values()):
        terms = out.setdefault(m.loc, {})
        key = ("params", name, args, None, None, tuple(dict.fromkeys(ctxs.values())))
        terms[key] = terms.get(key, 0) + 1
    return out


# --- what the bounds say about budgets -----------------------------------------------------------

_COMPARE = ("<", "<=", ">", ">=")


def _linear(value: Any) -> bool:
    """Whether a budget's side is linear in params and FLOPs (so over a box of costs it is
    extreme at a corner): constants, the two costs, sums, differences, constant multiples."""
    if isinstance(value, Ref):
        return value.label in ("@params", "@flops")
    if not is_expr(value):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(value, Unary):
        return value.op == "-" and _linear(value.operand)
    if isinstance(value, Binary):
        if value.op in ("+", "-"):
            return _linear(value.left) and _linear(value.right)
        if value.op == "*":
            return (_linear(value.left) and not is_expr(value.right) and _linear(value.right)) or \
                   (_linear(value.right) and not is_expr(value.left) and _linear(value.left))
        if value.op == "/":
            return _linear(value.left) and not is_expr(value.right) and _linear(value.right) and value.right != 0
    return False


def budget_verdict(space, c: ir.Constraint) -> str | None:
    """"all" when every architecture of `space` keeps budget `c`, "none" when none does (judged
    at the corners of the cost bounds, for a budget linear in params and FLOPs); else None.

    Example::

        >>> import nasdsl
        >>> space = nasdsl.loads('network(x: [8]) = x -> Linear(8, choice[4, 8])\\n'
        ...                      'require params <= 100\\nrequire params <= 10\\nrequire params <= 50')
        >>> [budget_verdict(space, c) for c in space.budgets]
        ['all', 'none', None]
    """
    labels = free_labels(c.expr)
    expr = c.expr
    if not labels or not labels <= {"@params", "@flops"}:
        return None
    if not (isinstance(expr, Binary) and expr.op in _COMPARE and _linear(expr.left) and _linear(expr.right)):
        return None
    bounds = cost_bounds(space)
    ends = {}
    for label in labels:
        pair = getattr(bounds, label[1:])
        if pair is None:
            return None
        ends[label] = (pair[0].cost, pair[1].cost)
    names = sorted(ends)
    kept = [holds(c, dict(zip(names, corner))) for corner in itertools.product(*(ends[n] for n in names))]
    return "all" if all(kept) else "none" if not any(kept) else None
