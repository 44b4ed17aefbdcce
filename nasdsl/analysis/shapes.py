"""Shapes without torch: every tensor's shape for every candidate of a whole space; and, from
`nasdsl.analysis.costs` (importable here too), the parameters and FLOPs of one architecture.

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

Costs (`costs`, in `nasdsl.analysis.costs`) follow the discrete model of one architecture
exactly: parameters as `sum(p.numel() for p in model.parameters())` (a template node used
twice is one module, counted once), FLOPs as multiply-accumulates of one sample. Both walk the
template with `nasdsl.analysis.walker.Walker`, which holds the tensor arithmetic they share.

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
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .. import ir
from ..errors import UNKNOWN as UNKNOWN_LOC
from ..errors import Loc
from ..ops import catalog
from ..ops.rules import Dim, Rule, dim_sum, dims_text
from ..values import Ref, binary, evaluate, free_labels, func, if_else, is_expr
from .costs import activation_elements, check_budgets, costs
from .walker import EXPR_LIMIT, Dead, Shape, Walker, expr_size, listing, rule_of, shape_text

__all__ = ["check_shapes", "costs", "check_budgets", "activation_elements", "shape_text", "register_rule", "Rule",
           "ENUMERATION_CAP", "SAMPLES", "EXPR_LIMIT", "WORK_LIMIT"]

ENUMERATION_CAP = 10_000  # joint assignments enumerated exactly by one check; beyond: sampled
SAMPLES = 1_000           # assignments drawn (seeded) when a check is over the cap
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


_MISSING = object()
FOLD_CAP = 4_096  # assignments tried when folding a dimension to a constant


def _has_expr(value: Any) -> bool:
    return is_expr(value) or isinstance(value, tuple) and any(is_expr(v) for v in value)


# --- deciding agreement of symbolic values --------------------------------------------------


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
        cost += expr_size(ctx, EXPR_LIMIT) + sum(expr_size(c.expr, EXPR_LIMIT) for c in constraints)
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
        for view in self.assignments(labels, ctx, loc, expr_size(values, EXPR_LIMIT)):
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
        for view in self.assignments(sorted(free_labels(value)), (), loc, expr_size(value, EXPR_LIMIT)):
            try:
                out.add(evaluate(value, view))
            except Exception:  # noqa: BLE001
                continue
        return sorted(out)


# --- every candidate of every decision ------------------------------------------------------


def _start(m: ir.Module) -> Loc:
    """Where a module's source begins: a chain `A() -> B()` is placed at its `->`."""
    while isinstance(m, ir.Sequential) and m.items:
        m = m.items[0]
    return m.loc


class SpaceWalker(Walker):
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
                for view in self.solver.assignments(labels, (), UNKNOWN_LOC, expr_size(dim, EXPR_LIMIT)):
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
                                         f"{listing(its, m.loc)}"))
        return tuple(outs)

    def pick(self, n: ir.Pick, shapes: list, ctx: tuple) -> Shape:
        items = [(f"input {i}", s, n.loc) for i, s in enumerate(shapes)]
        how = f"pick {n.label!r} (reduce=\"{n.reduce}\")"
        if n.reduce != "concat":
            return self.equal_shapes(items, ctx, n.loc,
                                     lambda its: f"{how} needs inputs of one shape: {listing(its, n.loc)}")
        if any(s is None for s in shapes):
            return None
        rank = len(shapes[0])
        if rank == 0 or any(len(s) != rank for s in shapes):
            self.shape_error(f"{how} needs inputs of one rank, at least 1: {listing(items, n.loc)}", n.loc, ctx)
        rest = [(name, s[1:], loc) for name, s, loc in items]
        self.equal_shapes(rest, ctx, n.loc,
                          lambda its: f"{how} joins along dim 1 and needs the other dimensions equal: "
                                      f"{listing([(nm, shapes[i], lc) for i, (nm, _, lc) in enumerate(its)], n.loc)}")
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
                                   f"so they cannot be summed: {listing(its, c.loc)}"))
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
                                             f"for different inputs: {listing(its, c.loc)}")

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
