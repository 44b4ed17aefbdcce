"""The walk over a module template that both shape analyses share: the whole-space inference
with symbolic dimensions (`nasdsl.analysis.shapes`) and the costs of one resolved architecture
(`nasdsl.analysis.costs`) are subclasses of `Walker`.

`Walker` visits the template's modules (ops, chains, graphs, cells), applies each op's rule
(`OpSpec.rule`) through an `OpCall` after checking its arguments against the op's domains, and
does the tensor arithmetic both need (broadcasting, concatenation, shapes that must agree);
its hooks (`value`, `require`, `solver_satisfiable`, `may_be_str`, `unknown_op`, `count`) say
what a choice means to the subclass. Errors name the op and its arguments (`op_text`) and, for
symbolic shapes, the assignment that breaks them (`when`).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from .. import ir
from ..errors import Loc, ShapeError
from ..ops import catalog
from ..ops.domains import ANY
from ..ops.rules import Dim, Rule, dim_sum, dims_text
from ..values import children, evaluate, free_labels, is_expr, literal, possible_values, to_text

Shape = tuple[Dim, ...] | None  # without the batch dimension; None: unknown (after a custom op)

EXPR_LIMIT = 300          # nodes in one shape's expressions; bigger makes the shape unknown


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


def when(view: Mapping[str, Any]) -> str:
    if not view:
        return ""
    return " (when " + ", ".join(f"{k}={literal(v)}" for k, v in sorted(view.items())) + ")"


def op_text(op: ir.Op, args: Mapping[str, Any]) -> str:
    """`Conv2d(in_channels=16, out_channels=32, kernel_size=3)`: required and non-default args."""
    sig = dict(catalog.signature(op.name) or ())
    shown = [f"{k}={_show(v)}" for k, v in args.items()
             if k not in sig or sig[k] is catalog.REQUIRED or not _same_value(v, sig[k])]
    return f"{op.name}({', '.join(shown)})"


def _same_value(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def expr_size(value: Any, limit: int) -> int:
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


# --- keeping the walk small ------------------------------------------------------------------


def bounded(shape: Shape) -> Shape:
    """A shape whose expressions grew past `EXPR_LIMIT` becomes unknown: checking it would cost
    more than it could find (and evaluating it would recurse too deep)."""
    if shape is None or not any(is_expr(d) for d in shape):
        return shape
    return shape if expr_size(shape, EXPR_LIMIT) <= EXPR_LIMIT else None


class Dead(Exception):
    """A check failed under conditions the constraints rule out: the subtree is never built."""


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

    def __init__(self, walker: Walker, op: ir.Op, args: dict, x: tuple, ctx: tuple):
        self.walker, self.op, self.args, self.x, self.ctx = walker, op, args, x, ctx

    def fail(self, why: str, view: Mapping[str, Any] | None = None):
        if view is None and not self.walker.solver_satisfiable(self.ctx, self.op.loc):
            raise Dead()
        args = {k: _at(v, view) for k, v in self.args.items()}
        raise ShapeError(f"{op_text(self.op, args)} on input {dims_text(_at(self.x, view))}: {why}{when(view or {})}",
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


class Walker:
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
                             f"{when(view or {})}", loc, ctx if view is None else None),
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
                             f"{_shown(s, view)}{when(view or {})}", loc, ctx if view is None else None),
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
        self.shape_error(describe(items) + when(view or {}), loc, ctx if view is None else None, related)


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


def listing(items: list, loc: Loc | None = None) -> str:
    """`'a' gives [16, 32, 32] at f:1:2, 'b' gives [16, 30, 30] at f:3:4`: the first item and
    every item that differs from it, each with its place when that is not `loc`."""
    return ", ".join(f"{name} gives {shape_text(shape)}" + (f" at {where}" if where != loc else "")
                     for name, shape, where in _offending(items))
