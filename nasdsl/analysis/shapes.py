"""Shapes and costs without torch: every tensor's shape for every candidate, and the
parameters and FLOPs of one architecture.

Why here, and not by running torch? Because a shape mistake in a search space usually sits
in a corner (one kernel size of one candidate of one block) that a few sampled models never
reach, and because `nasdsl info` must stay torch-free and fast. So shapes are inferred once
for the *whole* space, at compile time:

* a dimension is a nasdsl value — an int, or an expression over decisions built with
  `nasdsl.values.binary` / `func` / `if_else` (which fold constants), so `Conv2d(c, c, k,
  padding=1)` with `k = choice[3, 5]` gives a spatial size `(32 + 2 - (k - 1) - 1) // 1 + 1`
  tied to `k`;
* two dimensions *agree* when they are the same constant or the same expression, or else
  when they evaluate equal under every joint assignment of the decisions they mention
  (the product of their domains, under the conditions of the enclosing candidates and the
  space's constraints over those decisions). Beyond `ENUMERATION_CAP` assignments the check
  samples `SAMPLES` of them (seeded) and says so in `check_shapes(...)["notes"]`: a sampled
  disagreement is still a real error, a sampled agreement is only likely. A dimension that
  takes one value whatever its decisions (`k` odd with `padding=k // 2`) folds back to that
  constant; one whose expression outgrows `EXPR_LIMIT` becomes unknown, and all symbolic
  checks together stop after `WORK_LIMIT` evaluated nodes (noted too), so inference stays
  within a fraction of a second on adversarial programs;
* each op's rule (`OpSpec.rule`: shape, parameter and MAC rules) states what its input
  must look like; a misfit is one `ShapeError` at the op's `file:line:col`, naming the op,
  its arguments and, for symbolic shapes, an assignment that breaks it.

What the whole-space inference decides, node by node (`nasdsl.lower.discrete` defines the
semantics it mirrors):

* `LayerChoice`: every candidate must give the same shapes (a candidate whose enclosing
  conditions the constraints rule out is skipped);
* `Pick`: `sum` / `mean` / `none` need equal shapes; `concat` (torch.cat along dim 1) needs
  equal other dimensions, and its channel count becomes an expression over the pick;
* `+`, `*`, `mean(...)` (`Combine`) need equal shapes up to torch broadcasting of size-1
  dimensions (same rank); `cat(..., dim=d)` needs a valid non-batch `d` and equal others;
* `Cell`: for each node, each op must give one shape whatever input it reads, and the ops
  of a node one shape between them (they are summed); the merge (`all`, or `loose_end`,
  whose width is an expression over the input choices) concatenates along `concat_dim`;
* `Repeat`: block `i + 1` takes what block `i` gives; when the shape after the chosen depth
  differs between depths, each differing dimension becomes an `if_else` over the depth
  decision, so a later op that cannot take one of them reports an error naming that depth
  (a rank that changes with the depth is an error at the repeat itself);
* an op after a custom op (registered without a rule here) sees an unknown shape: nothing
  downstream of it is checked, and nothing is reported.

Costs (`costs`) follow the discrete model of one architecture exactly: parameters as
`sum(p.numel() for p in model.parameters())` (a template node used twice is one module,
counted once), FLOPs as multiply-accumulates of one sample.

Example::

    >>> import nasdsl
    >>> from nasdsl.analysis.shapes import check_shapes, costs
    >>> space = nasdsl.load("nasbench201")
    >>> check_shapes(space)["outputs"]
    ((10,),)
    >>> costs(space, {f"Cell.e{i}_{j}": "none" for i, j in
    ...               [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]})
    {'params': 73306, 'flops': 7783040}
"""
from __future__ import annotations

import itertools
import math
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from .. import ir, resolve
from ..arch import arch_values
from ..conditions import holds
from ..errors import UNKNOWN as UNKNOWN_LOC
from ..errors import ArchitectureError, Loc, NasError, ShapeError
from ..ops import catalog
from ..ops.domains import ANY
from ..ops.rules import Dim, Rule, dim_sum, dims_text
from ..values import Ref, binary, children, evaluate, free_labels, func, if_else, is_expr, literal, possible_values, to_text

__all__ = ["check_shapes", "costs", "check_budgets", "shape_text", "register_rule", "Rule",
           "ENUMERATION_CAP", "SAMPLES", "EXPR_LIMIT", "WORK_LIMIT"]

Shape = tuple[Dim, ...] | None  # without the batch dimension; None: unknown (after a custom op)

ENUMERATION_CAP = 10_000  # joint assignments enumerated exactly by one check; beyond: sampled
SAMPLES = 1_000           # assignments drawn (seeded) when a check is over the cap
EXPR_LIMIT = 300          # nodes in one shape's expressions; bigger makes the shape unknown
WORK_LIMIT = 250_000      # expression nodes evaluated by all symbolic checks of one inference
CHAIN_LIMIT = 64          # alternatives spelled out in one `if_else` chain (picks, depths)


def register_rule(name: str, rule: Rule) -> None:
    """Give a custom op (registered first with `nasdsl.register_op`) shapes and costs, so that
    spaces using it are shape-checked past it and its architectures can be held to budgets.
    (`register_op(name, module, rule=rule)` does both at once.)"""
    found = catalog.spec(name)
    if found is None:
        raise ValueError(f"no op {name!r}: register it with nasdsl.register_op first")
    catalog.register(replace(found, rule=rule))


def rule_of(name: str) -> Rule | None:
    """The op's rule, from its record (a custom op under a catalog name has its own record)."""
    found = catalog.spec(name)
    return None if found is None else found.rule


# --- rendering ------------------------------------------------------------------------------

def shape_text(shape: Shape) -> str:
    """`[16, 32, 32]`; symbolic dimensions as `.nas` expressions over labels."""
    return "[?]" if shape is None else dims_text(shape)




def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return dims_text(value)
    return to_text(value) if is_expr(value) else literal(value)


def _when(view: Mapping[str, Any]) -> str:
    if not view:
        return ""
    return " (when " + ", ".join(f"{k}={literal(v)}" for k, v in sorted(view.items())) + ")"


def _op_text(op: ir.Op, args: Mapping[str, Any]) -> str:
    """`Conv2d(in_channels=16, out_channels=32, kernel_size=3)`: required and non-default args."""
    sig = dict(catalog.signature(op.name) or ())
    shown = [f"{k}={_show(v)}" for k, v in args.items()
             if k not in sig or sig[k] is catalog.REQUIRED or not _same_value(v, sig[k])]
    return f"{op.name}({', '.join(shown)})"


def _same_value(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _expr_size(value: Any, limit: int) -> int:
    """Distinct nodes in a value's expressions (shared ones count once: evaluation memoises
    them), counting at most up to `limit`."""
    n, stack, seen = 0, [value], set()
    while stack and n <= limit:
        v = stack.pop()
        expr = is_expr(v)
        if expr:
            if id(v) in seen:
                continue
            seen.add(id(v))
        n += 1
        if expr:
            stack += children(v)
        elif isinstance(v, tuple):
            stack += v
    return n


# --- deciding agreement of symbolic values --------------------------------------------------

_MISSING = object()
FOLD_CAP = 4_096  # assignments tried when folding a dimension to a constant


def bounded(shape: Shape) -> Shape:
    """A shape whose expressions grew past `EXPR_LIMIT` becomes unknown: checking it would cost
    more than it could find (and evaluating it would recurse too deep)."""
    if shape is None or not any(is_expr(d) for d in shape):
        return shape
    return shape if _expr_size(shape, EXPR_LIMIT) <= EXPR_LIMIT else None


def _has_expr(value: Any) -> bool:
    return is_expr(value) or isinstance(value, tuple) and any(is_expr(v) for v in value)


class Dead(Exception):
    """A check failed under conditions the constraints rule out: the subtree is never built."""


class _Solver:
    """Finds an assignment of decisions under which values break a predicate."""

    def __init__(self, space):
        self.domains = {d.label: d.values for d in space.decisions}
        self.possible: dict[int, tuple] = {}  # `possible_values` of subexpressions, kept for the whole check
        self.constraints = [(c, free_labels(c.expr)) for c in space.constraints]
        self.notes: list[str] = []
        self.work_left = WORK_LIMIT

    def assignments(self, labels: list[str], ctx: tuple, loc: Loc, cost: int = 1):
        """Joint assignments of `labels` under which every condition of `ctx` and every
        constraint over those labels alone hold: all of them, or a seeded sample. Each costs
        `cost` (expression nodes to evaluate) from the budget of the whole inference."""
        domains = [self.domains.get(label, ()) for label in labels]
        total = math.prod(len(d) for d in domains)
        if total <= ENUMERATION_CAP:
            combos = itertools.product(*domains)
        else:
            rng = random.Random(0)
            combos = (tuple(rng.choice(d) for d in domains) for _ in range(SAMPLES))
            note = f"{loc}: checked {SAMPLES} sampled assignments of {len(labels)} decisions ({total:,} in all)"
            if note not in self.notes:
                self.notes.append(note)
        known = set(labels)
        constraints = [c for c, ls in self.constraints if ls <= known]
        cost += _expr_size(ctx, EXPR_LIMIT) + sum(_expr_size(c.expr, EXPR_LIMIT) for c in constraints)
        for combo in combos:
            self.work_left -= cost
            if self.work_left < 0:
                if self.work_left + cost >= 0:  # the first check to run out says so
                    self.notes.append(f"symbolic shape checks stopped after {WORK_LIMIT:,} evaluations, "
                                      f"at {loc}: later ones were skipped")
                return
            view = dict(zip(labels, combo))
            try:
                if not all(evaluate(c, view) for c in ctx):
                    continue
                if not all(bool(evaluate(c.expr, view)) == (c.kind == "require") for c in constraints):
                    continue
            except Exception:  # noqa: BLE001 - an assignment the expressions cannot evaluate
                continue
            yield view

    def counterexample(self, values: tuple, ok: Callable[..., bool], ctx: tuple, loc: Loc):
        """(view, evaluated values) breaking `ok`, or None if every assignment satisfies it."""
        labels = sorted(free_labels(values) | free_labels(ctx))
        for view in self.assignments(labels, ctx, loc, _expr_size(values, EXPR_LIMIT)):
            try:
                vals = evaluate(values, view)
                if ok(*vals):
                    continue
            except Exception:  # noqa: BLE001 - e.g. a division by a zero option: torch fails there too
                continue
            shown = free_labels(values)
            return {k: v for k, v in view.items() if k in shown}, vals
        return None

    def satisfiable(self, ctx: tuple, loc: Loc) -> bool:
        """Can the conditions `ctx` hold together (with the constraints over their decisions)?
        Only an exhaustive search answers no: an error is hidden only when provably unreachable."""
        labels = sorted(free_labels(ctx))
        if not ctx or math.prod(len(self.domains.get(label, ())) for label in labels) > ENUMERATION_CAP:
            return True
        work = self.work_left
        found = next(self.assignments(labels, ctx, loc), None) is not None
        return found or self.work_left < 0 <= work

    def values_of(self, value: Any, loc: Loc) -> list:
        """The values an expression takes over its decisions' domains (sorted, distinct)."""
        if not is_expr(value):
            return [value]
        out = set()
        for view in self.assignments(sorted(free_labels(value)), (), loc, _expr_size(value, EXPR_LIMIT)):
            try:
                out.add(evaluate(value, view))
            except Exception:  # noqa: BLE001
                continue
        return sorted(out)


# --- walking the template -------------------------------------------------------------------

def _check_domains(call: OpCall) -> None:
    """Every argument within its domain (the op record's `domains`): for an expression over
    choices, every value its choices give it (a tuple such as a kernel size, item by item)."""
    record = catalog.spec(call.op.name)
    domains = {} if record is None else record.domains
    for name, value in call.args.items():
        dom = domains.get(name)
        if dom is None or dom is ANY:
            continue
        if isinstance(value, (tuple, list)) and dom.items and value:
            items, ok = tuple(value), dom.ok_one
        else:
            items, ok = (value,), dom.ok
        for item in items:
            if not is_expr(item) and ok(item):
                continue
            if is_expr(item) and _all_within(item, ok, call) is not False:
                continue  # all within (the usual case), or too many values to tell cheaply
            call.require(ok, (item,), lambda v, name=name, dom=dom: f"{name} must be {dom.what}, got {literal(v)}")


def _all_within(value: Any, ok: Callable[[Any], bool], call: OpCall) -> bool | None:
    """Whether every value in a cheap superset of `value`'s values (`possible_values`) is ok:
    True, False (then the solver looks for a real counterexample), or None when the superset
    is too large to list and the joint assignments too many to enumerate (the argument is then
    left to the build, which reports it too)."""
    solver = getattr(call.walker, "solver", None)
    domains = getattr(solver, "domains", None)
    if not domains or any(label not in domains for label in free_labels(value)):
        return False
    values = possible_values(value, domains, memo=solver.possible)
    if values is not None:
        return all(ok(v) for v in values)
    # many values, but from few joint assignments: the solver enumerates them cheaply
    return False if math.prod(len(domains[label]) for label in free_labels(value)) <= 1024 else None


class OpCall:
    """One op applied to one input shape: what its rule checks through (the `Call` of
    `nasdsl.ops.rules`)."""
    __slots__ = ("walker", "op", "args", "x", "ctx")

    def __init__(self, walker: _Walker, op: ir.Op, args: dict, x: tuple, ctx: tuple):
        self.walker, self.op, self.args, self.x, self.ctx = walker, op, args, x, ctx

    def fail(self, why: str, view: Mapping[str, Any] | None = None):
        if view is None and not self.walker.solver_satisfiable(self.ctx, self.op.loc):
            raise Dead()
        args = {k: _at(v, view) for k, v in self.args.items()}
        raise ShapeError(f"{_op_text(self.op, args)} on input {dims_text(_at(self.x, view))}: {why}{_when(view or {})}",
                         self.op.loc)

    def require(self, ok: Callable[..., bool], values: tuple, why: Callable[..., str]) -> None:
        self.walker.require(ok, values, lambda vals, view: self.fail(why(*vals), view), self.ctx, self.op.loc)

    def rank(self, n: int, layout: str, at_least: bool = False) -> None:
        if len(self.x) < n if at_least else len(self.x) != n:
            self.fail(f"expects input {layout}, got rank {len(self.x)} (plus the batch dimension)")

    def maybe_str(self, value: Any) -> bool:
        if isinstance(value, str):
            return True
        return is_expr(value) and self.walker.may_be_str(value)


class _Walker:
    """Shape inference over the template; subclasses decide what choices mean."""

    def __init__(self):
        self.memo: dict[tuple, tuple] = {}

    # hooks
    def value(self, v: Any, where: Any) -> Any:
        return v

    def require(self, ok, values: tuple, fail, ctx: tuple, loc: Loc) -> None:
        if not ok(*values):
            fail(values, None)

    def solver_satisfiable(self, ctx: tuple, loc: Loc) -> bool:
        return True

    def may_be_str(self, value: Any) -> bool:
        return False

    # dispatch
    def module(self, m: ir.Module, xs: tuple, ctx: tuple) -> tuple:
        """A module applied twice to the same shapes under the same conditions is inferred once
        (conditions by identity: hashing them would cost more than it saves)."""
        if isinstance(m, ir.Op):
            return (self.op(m, xs[0], ctx),)
        key = (id(m), xs, id(ctx))
        hit = self.memo.get(key)
        if hit is None:
            hit = self.memo[key] = (ctx, self._module(m, xs, ctx))  # keeps ctx alive: its id stays unique
        return hit[1]

    def _module(self, m: ir.Module, xs: tuple, ctx: tuple) -> tuple:
        return getattr(self, _INFER[type(m)])(m, xs, ctx)

    def op_outputs(self, m: ir.Op, xs: tuple, ctx: tuple) -> tuple:
        return (self.op(m, xs[0], ctx),)

    def sequential(self, m: ir.Sequential, xs: tuple, ctx: tuple) -> tuple:
        for item in m.items:
            xs = self.module(item, xs, ctx)
        return xs

    def repeat_outputs(self, m: ir.Repeat, xs: tuple, ctx: tuple) -> tuple:
        return tuple(bounded(y) for y in self.repeat(m, xs, ctx))

    def cell_outputs(self, m: ir.Cell, xs: tuple, ctx: tuple) -> tuple:
        return (bounded(self.cell(m, xs, ctx)),)

    def op(self, m: ir.Op, x: Shape, ctx: tuple) -> Shape:
        return self.apply(m, {k: self.value(v, m) for k, v in m.args}, x, ctx)

    def apply(self, m: ir.Op, args: dict, x: Shape, ctx: tuple) -> Shape:
        """The op's output shape for input shape `x`, its arguments resolved to `args`."""
        rule = rule_of(m.name)
        if rule is None or x is None:
            return self.unknown_op(m, args, x)
        call = OpCall(self, m, args, x, ctx)
        _check_domains(call)
        try:
            y = rule.shape(call, x)
        except (TypeError, ValueError, ArithmeticError, KeyError, IndexError) as err:
            call.fail(f"cannot compute its output shape ({type(err).__name__}: {err})")
        self.count(m, rule, args, x, y)
        return bounded(y)

    def unknown_op(self, m: ir.Op, args: dict, x: Shape) -> Shape:
        return None

    def count(self, m: ir.Op, rule: Rule, args: dict, x: tuple, y: tuple) -> None:
        pass

    def graph_inputs(self, g: ir.Graph, xs: tuple, ctx: tuple) -> dict[str, Shape]:
        """The shapes a graph receives, held to the shapes its inputs declare."""
        env: dict[str, Shape] = {}
        for t, x in zip(g.inputs, xs):
            if t.shape is not None and x is not None:
                self.equal_shapes([(t.name, x, t.loc), (f"{t.name} as declared", tuple(t.shape), t.loc)], ctx, t.loc,
                                  lambda items, t=t: f"input {t.name!r} is declared {dims_text(items[1][1])} "
                                                f"but receives {dims_text(items[0][1])}")
            env[t.name] = x
        return env

    def graph(self, g: ir.Graph, xs: tuple, ctx: tuple) -> tuple:
        env = self.graph_inputs(g, xs, ctx)
        modules = dict(g.modules)
        for n in g.nodes:
            if isinstance(n, ir.Apply):
                outs = self.module(modules[n.module], tuple(env[i] for i in n.inputs), ctx)
                env.update(zip(n.outs, outs))
            elif isinstance(n, ir.Combine):
                env[n.out] = bounded(self.combine(n, [env[i] for i in n.inputs], ctx))
            else:
                env[n.out] = bounded(self.pick(n, [env[i] for i in n.inputs], ctx))
        return tuple(env[o] for o in g.outputs)

    # -- tensor arithmetic shared by both walkers

    def combine(self, n: ir.Combine, shapes: list, ctx: tuple) -> Shape:
        if any(s is None for s in shapes):
            return None
        if n.fn == "cat":
            return self.concat(shapes, n.dim, ctx, n.loc, f"cat(dim={n.dim})")
        what = {"sum": "`+`", "mul": "`*`", "mean": "mean(...)"}[n.fn]
        return self.broadcast(shapes, ctx, n.loc, what)

    def broadcast(self, shapes: list, ctx: tuple, loc: Loc, what: str) -> tuple:
        """Element-wise ops broadcast size-1 dimensions, as torch does (at equal rank)."""
        out = shapes[0]
        for s in shapes[1:]:
            if len(s) != len(out):
                self.shape_error(f"{what} of tensors with different ranks: {dims_text(out)} and {dims_text(s)}", loc, ctx)
            dims, pairs = [], []
            for a, b in zip(out, s):
                if a == 1 and not is_expr(a):
                    dims.append(b)
                elif b == 1 and not is_expr(b):
                    dims.append(a)
                else:
                    dims.append(a)
                    pairs.append((a, b))
            self.require(lambda *v: v[:len(v) // 2] == v[len(v) // 2:],
                         tuple(a for a, _ in pairs) + tuple(b for _, b in pairs),
                         lambda vals, view, o=out, s=s: self.shape_error(
                             f"{what} of tensors with different shapes: {_shown(o, view)} and {_shown(s, view)}"
                             f"{_when(view or {})}", loc, ctx if view is None else None),
                         ctx, loc)
            out = tuple(dims)
        return out

    def concat(self, shapes: list, dim: int, ctx: tuple, loc: Loc, what: str) -> tuple:
        """torch.cat along `dim` of the batched tensors: that dimension adds up."""
        rank = len(shapes[0])
        for s in shapes[1:]:
            if len(s) != rank:
                self.shape_error(f"{what} of tensors with different ranks: {dims_text(shapes[0])} and {dims_text(s)}", loc, ctx)
        d = dim + rank + 1 if dim < 0 else dim
        if d == 0:
            self.shape_error(f"{what} concatenates along the batch dimension", loc, ctx)
        if not 1 <= d <= rank:
            self.shape_error(f"{what}: dimension {dim} is out of range for {dims_text(shapes[0])} "
                             f"(rank {rank + 1} with the batch dimension)", loc, ctx)
        u = d - 1
        first = shapes[0]
        for s in shapes[1:]:
            a = tuple(v for i, v in enumerate(first) if i != u)
            b = tuple(v for i, v in enumerate(s) if i != u)
            self.require(lambda *v: v[:len(v) // 2] == v[len(v) // 2:], a + b,
                         lambda vals, view, f=first, s=s: self.shape_error(
                             f"{what} of tensors that differ outside dimension {d}: {_shown(f, view)} and "
                             f"{_shown(s, view)}{_when(view or {})}", loc, ctx if view is None else None),
                         ctx, loc)
        return (*first[:u], dim_sum(s[u] for s in shapes), *first[u + 1:])

    def shape_error(self, message: str, loc: Loc, ctx: tuple | None, related=()):
        """Raise a ShapeError, unless it was found under conditions no architecture meets."""
        if ctx is not None and not self.solver_satisfiable(ctx, loc):
            raise Dead()
        raise ShapeError(message, loc, related=related)

    def equal_shapes(self, items: list, ctx: tuple, loc: Loc, describe) -> Shape:
        """All `(name, shape, loc)` items must agree; returns the agreed shape (None if all
        unknown). `describe(items evaluated)` words the error."""
        known = [it for it in items if it[1] is not None]
        if not known:
            return None
        if all(it[1] == known[0][1] for it in known):
            return known[0][1]
        ref = min(known, key=lambda it: len(free_labels(it[1])))  # prefer the plainest expression
        for it in known:
            if it[1] == ref[1]:
                continue
            if len(it[1]) != len(ref[1]):
                self.shape_error(describe(items), loc, ctx)
            self.require(lambda *v: v[:len(v) // 2] == v[len(v) // 2:], tuple(ref[1]) + tuple(it[1]),
                         lambda vals, view: self.disagree(describe, _evaluated(items, view), view, loc, ctx),
                         ctx, loc)
        return ref[1]

    def disagree(self, describe, items: list, view, loc: Loc, ctx: tuple):
        """The error of items that disagree; a note points at each one shown with its own place."""
        related = tuple((f"{name} gives {shape_text(shape)}", where) for name, shape, where in _offending(items)
                        if where != loc)
        self.shape_error(describe(items) + _when(view or {}), loc, ctx if view is None else None, related)


def _at(value: Any, view: Mapping[str, Any] | None) -> Any:
    """A value under an assignment, for messages: each part that the assignment decides is
    shown as a number, the rest stays symbolic."""
    if not view:
        return value
    if isinstance(value, tuple):
        return tuple(_at(v, view) for v in value)
    try:
        return evaluate(value, view)
    except Exception:  # noqa: BLE001 - mentions decisions outside the view
        return value


def _shown(shape: tuple, view: Mapping[str, Any] | None) -> str:
    if view:
        try:
            return dims_text(evaluate(shape, view))
        except Exception:  # noqa: BLE001
            pass
    return dims_text(shape)


def _evaluated(items: list, view: Mapping[str, Any] | None) -> list:
    """Items with their shapes evaluated under `view` where they can be."""
    out = []
    for name, shape, loc in items:
        if shape is not None and view:
            try:
                shape = evaluate(shape, view)
            except Exception:  # noqa: BLE001 - mentions decisions outside the view: show it symbolic
                pass
        out.append((name, shape, loc))
    return out


# the walker's method for each kind of template node
_INFER = {ir.Op: "op_outputs", ir.Sequential: "sequential", ir.Graph: "graph", ir.LayerChoice: "layer_choice",
          ir.Repeat: "repeat_outputs", ir.Cell: "cell_outputs"}


def _start(m: ir.Module) -> Loc:
    """Where a module's source begins: a chain `A() -> B()` is placed at its `->`."""
    while isinstance(m, ir.Sequential) and m.items:
        m = m.items[0]
    return m.loc


def _offending(items: list) -> list:
    """In source order: the first item of the most common shape (the one the others are
    measured against), and every item whose shape differs from it."""
    known = [it for it in items if it[1] is not None]
    counts: dict = {}
    for it in known:
        counts[it[1]] = counts.get(it[1], 0) + 1
    common = max(counts, key=lambda shape: counts[shape]) if counts else None
    first = next((it for it in known if it[1] == common), None)
    return [it for it in known if it is first or it[1] != common]


def _listing(items: list, loc: Loc | None = None) -> str:
    """`'a' gives [16, 32, 32] at f:1:2, 'b' gives [16, 30, 30] at f:3:4`: the first item and
    every item that differs from it, each with its place when that is not `loc`."""
    return ", ".join(f"{name} gives {shape_text(shape)}" + (f" at {where}" if where != loc else "")
                     for name, shape, where in _offending(items))


class SpaceWalker(_Walker):
    """Every candidate of every decision, with symbolic dimensions."""

    def __init__(self, space):
        super().__init__()
        self.solver = _Solver(space)
        self.kinds = {d.label: d for d in space.decisions}
        self.op_memo: dict[tuple, Shape] = {}       # constant ops: by name, args and input
        self.symbolic_memo: dict[tuple, Shape] = {}  # the others also by conditions
        self.folded: dict[Any, Dim] = {}
        self.conditions: dict[tuple, Any] = {}
        self.unchecked: set[str] = set()  # ops without a rule, said once each in the notes

    def unknown_op(self, m: ir.Op, args: dict, x: Shape) -> Shape:
        if rule_of(m.name) is None and m.name not in self.unchecked:
            self.unchecked.add(m.name)
            self.solver.notes.append(f"{m.name} ({m.loc}) has no shape rule: shapes after it are not checked "
                                     "(give it one: nasdsl.register_op(..., rule=...))")
        return None

    def require(self, ok, values: tuple, fail, ctx: tuple, loc: Loc) -> None:
        if not any(is_expr(v) for v in values):
            if not ok(*values):
                fail(values, None)
            return
        try:  # identical expressions: predicates over them compare structurally, or raise
            if ok(*values) is True:
                return
        except TypeError:
            pass
        found = self.solver.counterexample(values, ok, ctx, loc)
        if found is not None:
            view, vals = found
            fail(vals, view)

    def solver_satisfiable(self, ctx: tuple, loc: Loc) -> bool:
        return self.solver.satisfiable(ctx, loc)

    def may_be_str(self, value: Any) -> bool:
        return any(isinstance(v, str) for label in free_labels(value)
                   for v in self.solver.domains.get(label, ()))

    def op(self, m: ir.Op, x: Shape, ctx: tuple) -> Shape:
        """Ops memoised by what they are, not where: DARTS repeats one op thousands of times.
        The conditions `ctx` only matter to symbolic checks, so constant ops share entries."""
        key = (m.name, m.args, x)
        hit = self.op_memo.get(key, _MISSING)
        if hit is not _MISSING:
            return hit
        symbolic = x is not None and any(is_expr(d) for d in x) or any(_has_expr(v) for _, v in m.args)
        if not symbolic:
            hit = self.op_memo[key] = super().op(m, x, ctx)
            return hit
        key = (m.name, m.args, x, ctx)
        hit = self.symbolic_memo.get(key, _MISSING)
        if hit is _MISSING:
            y = super().op(m, x, ctx)
            hit = self.symbolic_memo[key] = y if y is None else tuple(self.fold(d) for d in y)
        return hit

    def fold(self, dim: Dim) -> Dim:
        """A dimension that is one constant whatever its decisions are (`(h + 2 * (k // 2) - k) + 1`
        for odd `k`) becomes that constant, so expressions do not pile up downstream."""
        if not is_expr(dim):
            return dim
        hit = self.folded.get(dim)
        if hit is None:
            labels = sorted(free_labels(dim))
            hit = dim
            if math.prod(len(self.solver.domains.get(label, ())) for label in labels) <= FOLD_CAP:
                seen = set()
                for view in self.solver.assignments(labels, (), UNKNOWN_LOC, _expr_size(dim, EXPR_LIMIT)):
                    try:
                        seen.add(evaluate(dim, view))
                    except Exception:  # noqa: BLE001 - an option the op cannot take; checked elsewhere
                        continue
                    if len(seen) > 1:
                        break
                if len(seen) == 1 and isinstance(next(iter(seen)), int):
                    hit = next(iter(seen))
            self.folded[dim] = hit
        return hit

    def is_(self, label: str, value: Any) -> Any:
        """The condition `label == value`, built once."""
        key = (label, value)
        cond = self.conditions.get(key)
        if cond is None:
            cond = self.conditions[key] = binary("==", Ref(label), value)
        return cond

    def guarded(self, m: ir.Module, xs: tuple, ctx: tuple) -> tuple | None:
        """Shapes of a candidate, or None when a misfit in it shows it is never built."""
        try:
            return self.module(m, xs, ctx)
        except Dead:
            return None

    def layer_choice(self, m: ir.LayerChoice, xs: tuple, ctx: tuple) -> tuple:
        results = []
        for name, cand in m.candidates:
            ys = self.guarded(cand, xs, ctx + (self.is_(m.label, name),))
            results.append((name, ys, _start(cand)))
        live = [r for r in results if r[1] is not None]
        if not live:
            raise Dead()
        if all(r[1] == live[0][1] for r in live):
            return live[0][1]
        # they disagree: candidates the constraints rule out do not count
        live = [r for r in live if self.solver.satisfiable(ctx + (self.is_(m.label, r[0]),), m.loc)] or live
        n_out = len(live[0][1])
        outs = []
        for k in range(n_out):
            items = [(f"{name!r}", ys[k], loc) for name, ys, loc in live]
            where = "" if n_out == 1 else f" (output {k})"
            outs.append(self.equal_shapes(
                items, ctx, m.loc,
                lambda its, where=where: f"candidates of choice {m.label!r} give different shapes{where}: "
                                         f"{_listing(its, m.loc)}"))
        return tuple(outs)

    def pick(self, n: ir.Pick, shapes: list, ctx: tuple) -> Shape:
        items = [(f"input {i}", s, n.loc) for i, s in enumerate(shapes)]
        how = f"pick {n.label!r} (reduce=\"{n.reduce}\")"
        if n.reduce != "concat":
            return self.equal_shapes(items, ctx, n.loc,
                                     lambda its: f"{how} needs inputs of one shape: {_listing(its, n.loc)}")
        if any(s is None for s in shapes):
            return None
        rank = len(shapes[0])
        if rank == 0 or any(len(s) != rank for s in shapes):
            self.shape_error(f"{how} needs inputs of one rank, at least 1: {_listing(items, n.loc)}", n.loc, ctx)
        rest = [(name, s[1:], loc) for name, s, loc in items]
        self.equal_shapes(rest, ctx, n.loc,
                          lambda its: f"{how} joins along dim 1 and needs the other dimensions equal: "
                                      f"{_listing([(nm, shapes[i], lc) for i, (nm, _, lc) in enumerate(its)], n.loc)}")
        width = self.pick_width(n, [s[0] for s in shapes])
        return None if width is None else (width, *shapes[0][1:])

    def pick_width(self, n: ir.Pick, sizes: list) -> Dim | None:
        """Channels after a concatenating pick: an expression over which inputs it chose
        (None, unknown, past `CHAIN_LIMIT` different choices)."""
        ref = Ref(n.label)
        domain = self.kinds[n.label].values
        if all(s == sizes[0] for s in sizes):
            count = n.n if n.n is not None else func("len", (ref,))
            return binary("*", count, sizes[0])
        if len(domain) > CHAIN_LIMIT:
            return None
        def width(v):
            return dim_sum(sizes[i] for i in ((v,) if isinstance(v, int) else v))
        out = width(domain[-1])
        for v in reversed(domain[:-1]):
            out = if_else(binary("==", ref, v), width(v), out)
        return out

    def repeat(self, m: ir.Repeat, xs: tuple, ctx: tuple) -> tuple:
        depths = self.solver.values_of(m.depth, m.loc)
        if not depths:
            raise Dead()
        after = {0: xs}
        cur = xs
        for i, block in enumerate(m.blocks):
            sub = ctx if i < depths[0] else ctx + (binary(">", m.depth, i),)
            cur = self.guarded(block, cur, sub)
            if cur is None:
                break
            after[i + 1] = cur
        live = [d for d in depths if d in after]
        if len(live) > 1 and any(after[d] != after[live[0]] for d in live):  # depths ruled out do not count
            live = [d for d in live if self.solver.satisfiable(ctx + (binary("==", m.depth, d),), m.loc)] or live
        if not live:
            raise Dead()
        outs = []
        for k in range(len(xs)):
            shapes = [after[d][k] for d in live]
            outs.append(self.by_depth(m, live, shapes, ctx))
        return tuple(outs)

    def by_depth(self, m: ir.Repeat, depths: list, shapes: list, ctx: tuple) -> Shape:
        if any(s is None for s in shapes):
            return None
        first = shapes[0]
        if all(s == first for s in shapes):
            return first
        if any(len(s) != len(first) for s in shapes):
            listing = ", ".join(f"depth {d} gives {dims_text(s)}" for d, s in zip(depths, shapes))
            self.shape_error(f"repeat gives outputs of different rank for different depths: {listing}", m.loc, ctx)
        if len(depths) > CHAIN_LIMIT:
            return None
        dims = []
        for i in range(len(first)):
            column = [s[i] for s in shapes]
            if all(c == column[0] for c in column):
                dims.append(column[0])
                continue
            v = column[-1]
            for d, c in zip(reversed(depths[:-1]), reversed(column[:-1])):
                v = if_else(binary("==", m.depth, d), c, v)
            dims.append(v)
        return tuple(dims)

    def cell(self, c: ir.Cell, xs: tuple, ctx: tuple) -> Shape:
        states = [x if p is None else self.module(p, (x,), ctx)[0] for p, x in zip(c.preprocess, xs)]
        for ni, node in enumerate(c.nodes, start=c.num_predecessors):
            per_op = [(f"op {k}", self.cell_op(c, ni, k, op, states, ctx), c.loc) for k, op in enumerate(node)]
            states.append(self.equal_shapes(
                per_op, ctx, c.loc,
                lambda its, ni=ni: f"cell {c.label!r}, node {ni}: its ops give different shapes, "
                                   f"so they cannot be summed: {_listing(its, c.loc)}"))
        merged = self.cell_merge(c, states, ctx)
        if c.postprocess is not None:
            merged = self.module(c.postprocess, (merged,), ctx)[0]
        return merged

    def cell_op(self, c: ir.Cell, ni: int, k: int, op: ir.CellOp, states: list, ctx: tuple) -> Shape:
        """One op of a node: whichever earlier tensor it reads, it must give one shape."""
        found = []
        for j in range(ni):
            cond = self.is_(op.input_label, j)
            ys = self.guarded(op.candidates[j], (states[j],), ctx + (cond,))
            if ys is not None:  # None: never built (the constraints rule this input out)
                found.append((cond, (f"reading input {j}", ys[0], _start(op.candidates[j]))))
        if not found:
            raise Dead()
        if any(item[1] != found[0][1][1] for _, item in found):  # inputs ruled out do not count
            found = [f for f in found if self.solver.satisfiable(ctx + (f[0],), c.loc)] or found
        return self.equal_shapes([item for _, item in found], ctx, c.loc,
                                 lambda its: f"cell {c.label!r}, node {ni}, op {k} gives different shapes "
                                             f"for different inputs: {_listing(its, c.loc)}")

    def cell_merge(self, c: ir.Cell, states: list, ctx: tuple) -> Shape:
        npred = c.num_predecessors
        nodes = states[npred:]
        if any(s is None for s in nodes):
            return None
        if len(nodes) == 1:
            return nodes[0]
        what = f"cell {c.label!r} merge (cat along dim {c.concat_dim})"
        merged = self.concat(nodes, c.concat_dim, ctx, c.loc, what)
        if c.merge == "all":
            return merged
        u = (c.concat_dim + len(nodes[0]) + 1 if c.concat_dim < 0 else c.concat_dim) - 1
        if all(shape[u] is nodes[0][u] or shape[u] == nodes[0][u] and not is_expr(shape[u]) for shape in nodes):
            # equal widths: `w * merged_nodes(cell)` is the very (interned) value a space sizes
            # the next layer with, so checking that layer needs no enumeration
            return (*merged[:u], binary("*", nodes[0][u], ir.merged_count(c)), *merged[u + 1:])
        widths = []
        for i, shape in enumerate(nodes, start=npred):
            widths.append(if_else(ir.is_loose_end(c, i), shape[u], 0))
        return (*merged[:u], dim_sum(widths), *merged[u + 1:])


class _ArchWalker(_Walker):
    """One architecture, resolved (`nasdsl.resolve`): constant shapes, costs accumulated."""

    def __init__(self):
        super().__init__()
        self.params = 0
        self.macs = 0
        self.activations = 0                      # elements of every op's output, one sample
        self.seen: set[int] = set()               # ops whose parameters are counted
        self.ops: dict[tuple, tuple] = {}         # (name, args, input) -> (output, params, MACs)

    def node(self, r: resolve.Node, xs: tuple) -> tuple:
        if isinstance(r, resolve.Op):
            return (self.resolved_op(r, xs[0]),)
        key = (id(r), xs)
        hit = self.memo.get(key)
        if hit is None:  # a module applied again costs its MACs again, its parameters once
            before, acts = self.macs, self.activations
            outs = self._node(r, xs)
            hit = self.memo[key] = (outs, self.macs - before, self.activations - acts)
        else:
            self.macs += hit[1]
            self.activations += hit[2]
        return hit[0]

    def _node(self, r: resolve.Node, xs: tuple) -> tuple:
        if isinstance(r, resolve.Chain):
            for item in r.items:
                xs = self.node(item, xs)
            return xs
        if isinstance(r, resolve.Graph):
            return self.resolved_graph(r, xs)
        return (self.resolved_cell(r, xs),)

    def resolved_op(self, r: resolve.Op, x: Shape) -> Shape:
        """Memoised by what the op is (its arguments are fixed by the architecture), so repeated
        cells cost one dictionary lookup per op; parameters still count once per module."""
        key = (r.name, r.source.args if r.source is not None else (), x)
        hit = self.ops.get(key)
        if hit is None:
            params, macs = self.params, self.macs
            self.seen.add(id(r))
            y = self.apply(r.source or ir.Op(r.name, (), UNKNOWN_LOC), r.args, x, ())
            self.activations += _elements(y)
            hit = self.ops[key] = (y, self.params - params, self.macs - macs)
            return y
        if id(r) not in self.seen:
            self.seen.add(id(r))
            self.params += hit[1]
        self.macs += hit[2]
        self.activations += _elements(hit[0])
        return hit[0]

    def resolved_graph(self, g: resolve.Graph, xs: tuple) -> tuple:
        env = self.graph_inputs(g.source, xs, ())
        for step in g.steps:
            shapes = [env[i] for i in step.inputs]
            if step.kind == "apply":
                env.update(zip(step.outputs, self.node(g.modules[step.target], tuple(shapes))))
            elif step.kind == "pick":
                n = step.source
                if n.reduce == "concat":
                    env[n.out] = self.concat(shapes, 1, (), n.loc, f"pick {n.label!r}")
                else:
                    env[n.out] = self.broadcast(shapes, (), n.loc, f"pick {n.label!r}")
            elif step.kind == "zeros":
                env[step.outputs[0]] = shapes[0]
            else:
                env[step.outputs[0]] = bounded(self.combine(step.source, shapes, ()))
        return tuple(env[o] for o in g.outputs)

    def resolved_cell(self, c: resolve.Cell, xs: tuple) -> Shape:
        cell = c.source
        states = [self.node(p, (x,))[0] for p, x in zip(c.preprocess, xs)]
        for node in c.wiring:
            outs = [self.node(c.ops[name], (states[j],))[0] for name, j in node]
            states.append(self.broadcast(outs, (), cell.loc, f"cell {cell.label!r} sum"))
        merge = [states[i] for i in c.merge]
        out = merge[0] if len(merge) == 1 else self.concat(merge, cell.concat_dim, (), cell.loc,
                                                            f"cell {cell.label!r} merge")
        return self.node(c.postprocess, (out,))[0]

    def count(self, m: ir.Op, rule: Rule, args: dict, x: tuple, y: tuple) -> None:
        try:
            self.params += rule.params(args)
            self.macs += rule.macs(args, x, y)
        except (TypeError, ValueError, ArithmeticError, KeyError, IndexError) as err:
            raise NasError(f"{_op_text(m, args)}: cannot count its cost ({type(err).__name__}: {err})",
                           m.loc) from None

    def unknown_op(self, m: ir.Op, args: dict, x: Shape) -> Shape:
        raise NasError(f"{m.name} has no shape and cost rule: give it one (nasdsl.register_op(..., rule=...) or "
                       "nasdsl.analysis.shapes.register_rule) to count its parameters and FLOPs", m.loc)


# --- the API ----------------------------------------------------------------------------------

def check_shapes(space) -> dict[str, Any]:
    """Infer every tensor's shape for every architecture of `space`; raise `ShapeError` at the
    first misfit. Returns `{"inputs": {name: shape}, "outputs": (shape, ...), "notes": [...]}`,
    shapes without the batch dimension, dimensions ints or expressions over decisions;
    `notes` lists checks that sampled assignments instead of enumerating them all; `work` is
    the expression nodes the symbolic checks evaluated (bounded by `WORK_LIMIT`)."""
    walker = SpaceWalker(space)
    template = space.template
    xs = tuple(tuple(t.shape) if t.shape is not None else None for t in template.inputs)
    try:
        outputs = walker.module(template, xs, ())
    except Dead:  # only if the network itself is unsatisfiable, which check_not_empty excludes
        outputs = (None,) * len(template.outputs)
    except RecursionError:
        outputs = (None,) * len(template.outputs)
        walker.solver.notes.append("the template nests too deeply: shapes were not checked")
    return {"inputs": {t.name: x for t, x in zip(template.inputs, xs)}, "outputs": outputs,
            "notes": walker.solver.notes, "work": WORK_LIMIT - walker.solver.work_left}


_LOCAL = threading.local()


def costs(space, arch: Mapping[str, Any], validate: bool = True) -> dict[str, int]:
    """`{"params": ..., "flops": ...}` of one architecture, without torch.

    `params` is exactly `sum(p.numel() for p in build(space, arch).parameters())` of the
    discrete model (`nasdsl.lower.discrete`): weights and biases, affine BatchNorm / LayerNorm
    / GroupNorm parameters, a module used twice counted once. `flops` counts
    multiply-accumulates (MACs) for ONE input sample, the convention of most NAS papers:
    convolutions (`out.numel() * in_channels / groups * kernel area`), linear layers
    (`out.numel() * in_features`) and attention (projections and the two matmuls); norms,
    pools, activations and additions count nothing. `validate=False` skips validation (the
    architecture must then be canonical, as `Space.validate` returns it).
    """
    if validate:
        _LOCAL.skip_budgets = getattr(_LOCAL, "skip_budgets", 0) + 1
        try:
            arch = space.validate(arch)
        finally:
            _LOCAL.skip_budgets -= 1
    root = resolve.resolve(space, arch, validate=False)
    walker = _ArchWalker()
    walker.node(root, tuple(tuple(t.shape) for t in space.template.inputs))
    return {"params": walker.params, "flops": walker.macs}


def _elements(shape: Any) -> int:
    return math.prod(d for d in shape if isinstance(d, int)) if isinstance(shape, tuple) else 0


def activation_elements(space, arch: Mapping[str, Any]) -> int:
    """Elements of every op's output for ONE input sample of a (canonical) architecture: what
    a training step keeps for the backward pass, from the shape analysis, without torch (an
    estimate: PyTorch may free or add buffers; `compile` bounds memory with it)."""
    root = resolve.resolve(space, arch, validate=False)
    walker = _ArchWalker()
    walker.node(root, tuple(tuple(t.shape) for t in space.template.inputs))
    return walker.activations


def check_budgets(space, arch: Mapping[str, Any]) -> None:
    """Hold a (canonical) architecture to the space's budgets (`require params <= 5e6`);
    raise `ArchitectureError` naming the constraint and the architecture's cost."""
    if not space.budgets or getattr(_LOCAL, "skip_budgets", 0):
        return
    found = costs(space, arch, validate=False)
    view = arch_values(arch)
    view.update({"@params": found["params"], "@flops": found["flops"]})
    for c in space.budgets:
        if holds(c, view):
            continue
        labels = free_labels(c.expr)
        has = " and ".join(f"{found[name]:,} {'FLOPs (MACs)' if name == 'flops' else 'params'}"
                           for name in ("params", "flops") if "@" + name in labels)
        what = f" ({c.message})" if c.message else ""
        raise ArchitectureError(f"architecture has {has}, violates `{c.kind} {to_text(c.expr)}`{what}", c.loc)
