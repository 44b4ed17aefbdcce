"""Syntax tree to IR: evaluate a `.nas` program statically into a `Space`.

The elaborator is a small interpreter over `nasdsl.syntax.ast`. Numbers, strings, lists and loops
are evaluated at compile time; choices become decisions; blocks are instantiated at their
call sites into module templates (`nasdsl.ir`). Nothing here runs user code: the only
callables are blocks, lambdas, catalog ops and the builtins listed in `BUILTINS`.

**Labels** come from where a decision sits. Each statement `y = ...` is a naming context
called `y`; a context holding one *site* (a block or op call, a choice, `repeat`, `cell`,
`pick`) names it `y`, a context holding several names them `y.0`, `y.1`, ... in source
order. Arguments of a call are contexts named after the parameter (`y.kernel_size`),
candidates after the candidate (`y.conv`), loop iterations add the loop value (`y.3`). A
block instance's decisions are prefixed by its site (`stage2.block1.op`); a `shared block`
prefixes them by the block's name instead (all instances share), and `label="..."` on a
call, `repeat`, `cell` or `pick`, or `choice "..." [...]`, ties decisions by an explicit name.

Example::

    >>> from nasdsl import loads
    >>> loads('''
    ... block Conv(c) = Conv2d(c, c, choice[3, 5], padding=1)
    ... network(x: [8, 16, 16]) { y = x -> Conv(8) -> Conv(8)  return y }
    ... ''').labels()
    ['y.0.kernel_size', 'y.1.kernel_size']
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import ir
from .errors import UNKNOWN, ArityError, DuplicateError, ImportCycleError, Loc, NasError, NasTypeError, UndefinedNameError
from .limits import ValueTooLarge, check_number
from .ops import catalog
from .syntax import ast
from .values import (
    Ref,
    apply_binary,
    binary,
    evaluate,
    free_labels,
    func,
    if_else,
    is_expr,
    literal,
    possible_values,
    to_text,
    unary,
)

MAX_RANGE = 100_000       # longest list a `range` may build
MAX_CALL_DEPTH = 64       # deepest nesting of block calls (recursion guard)
MAX_DOMAIN = 100_000      # most values a single decision may have
MAX_DIVISOR_CHECKS = 20_000  # joint assignments tried for one divisor over choices (check_divisor)
MAX_WORK = 45_000         # most statements, calls and choices one program may expand to
REDUCTIONS = ("sum", "mean", "concat", "none")
MERGES = ("all", "loose_end")


# --- runtime values -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, eq=False)
class LayerVal:
    """A module template and the site name it was created under."""
    module: ir.Module
    name: tuple[str, ...]


@dataclass(frozen=True, slots=True, eq=False)
class TensorVal:
    name: str
    graph: GraphBuilder


@dataclass(frozen=True, slots=True, eq=False)
class BlockVal:
    defn: ast.BlockDef
    unit: Unit


@dataclass(frozen=True, slots=True, eq=False)
class OpVal:
    name: str


@dataclass(frozen=True, slots=True, eq=False)
class BuiltinVal:
    name: str


@dataclass(frozen=True, slots=True, eq=False)
class LambdaVal:
    node: ast.Lambda
    env: dict


@dataclass(frozen=True, slots=True, eq=False)
class Namespace:
    unit: Unit


SITE_BUILTINS = {"repeat", "cell", "pick"}
VALUE_BUILTINS = {"range", "max", "min", "abs", "int", "float", "round", "len", "decision"}
LAYER_BUILTINS = {"merged_nodes"}  # values computed from a layer
TENSOR_BUILTINS = {"cat", "sum", "mean"}
BUILTINS = SITE_BUILTINS | VALUE_BUILTINS | TENSOR_BUILTINS | LAYER_BUILTINS


def kind_of(value: Any) -> str:
    if isinstance(value, LayerVal):
        return "a layer"
    if isinstance(value, TensorVal):
        return "a tensor"
    if isinstance(value, (BlockVal, OpVal, BuiltinVal)):
        return "a function"
    if isinstance(value, LambdaVal):
        return "a lambda"
    if isinstance(value, Namespace):
        return "an imported file"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, tuple):
        return "a tuple"
    if is_expr(value):
        return "a value"
    return type(value).__name__


def _is_value(v: Any) -> bool:
    return isinstance(v, (int, float, str, bool)) or v is None or is_expr(v)


def _got(v: Any) -> str:
    """What a message says was given: the value as `.nas` writes it, or else its kind."""
    return literal(v) if _is_value(v) else kind_of(v)


# --- program units (one per file) ------------------------------------------------------------

@dataclass(eq=False)
class Unit:
    """One loaded file: its parsed module and its top-level names."""
    file: str
    text: str
    module: ast.Module
    names: dict[str, Any] = field(default_factory=dict)


# --- naming ---------------------------------------------------------------------------------

class Namer:
    """Names the sites of one naming context: `base` alone if it holds one, else `base.j`."""

    def __init__(self, base: tuple[str, ...], total: int):
        self.base, self.total, self.index = base, total, 0

    def next(self) -> tuple[str, ...]:
        j = self.index
        self.index += 1
        if self.total == 1 and j == 0:
            return self.base
        return self.base + (str(j),)


class GraphBuilder:
    """Accumulates the nodes of one `ir.Graph` while its statements run."""

    def __init__(self, inputs: tuple[ir.TensorIn, ...]):
        self.inputs = inputs
        self.modules: dict[str, ir.Module] = {}
        self.module_ids: dict[int, str] = {}
        self.nodes: list[ir.Node] = []
        self.tensor_names = {t.name for t in inputs}
        self.site_names: set[tuple[str, ...]] = set()
        self.site_prefixes: set[tuple[str, ...]] = set()
        self.counter = 0

    def fresh(self, hint: str) -> str:
        self.counter += 1
        name = f"{hint}%{self.counter}"
        self.tensor_names.add(name)
        return name

    def register(self, layer: LayerVal) -> str:
        key = id(layer.module)
        if key in self.module_ids:
            return self.module_ids[key]
        name = ".".join(layer.name) or "layer"
        base, n = name, 1
        while name in self.modules:
            n += 1
            name = f"{base}_{n}"
        self.modules[name] = layer.module
        self.module_ids[key] = name
        return name

    def unique_base(self, base: tuple[str, ...]) -> tuple[str, ...]:
        """A naming context not overlapping an earlier one that labelled decisions in this
        graph: rebinding `x` after `x` (or `x.0`) labelled a decision names the new sites
        `x_2...`, so two statements never share a label by accident. Statements whose sites
        label nothing (`h = x`, a stem of plain ops) claim no name (`claim`)."""
        name, rest, n = base[0], base[1:], 1
        candidate = base
        while self._overlaps(candidate):
            n += 1
            candidate = (f"{name}_{n}",) + rest
        return candidate

    def claim(self, base: tuple[str, ...]) -> None:
        """Reserve a naming context whose statement labelled decisions."""
        self.site_names.add(base)
        for k in range(1, len(base) + 1):
            self.site_prefixes.add(base[:k])

    def _overlaps(self, candidate: tuple[str, ...]) -> bool:
        """Is `candidate` a prefix of a used name, or a used name a prefix of it?"""
        return candidate in self.site_prefixes or any(
            candidate[:k] in self.site_names for k in range(1, len(candidate)))


@dataclass
class Ctx:
    """Where evaluation stands: label prefix, current graph, naming context, unit."""
    scope: tuple[str, ...]
    graph: GraphBuilder | None
    namer: Namer
    unit: Unit
    depth: int = 0
    toplevel: bool = False

    def with_namer(self, namer: Namer) -> Ctx:
        return Ctx(self.scope, self.graph, namer, self.unit, self.depth, self.toplevel)


@dataclass
class _DecisionAcc:
    kind: str
    values: tuple
    conditions: list
    locs: list
    n_candidates: int = 0
    n_chosen: int | None = 1


# --- the elaborator ---------------------------------------------------------------------------

class Elaborator:
    """Evaluates one root file (and its imports) into decisions, constraints and a template."""

    def __init__(self, loader: Callable[[str, Loc], tuple[str, str]], overrides: dict[str, Any]):
        self.loader = loader
        self.overrides = dict(overrides)
        self.decisions: dict[str, _DecisionAcc] = {}
        self.constraints: list[ir.Constraint] = []
        self.conditions: list[Any] = []
        self.guards: list[Any] = []                    # tests of the value `if`s being evaluated
        self.bound_names: dict[str, str] = {}          # a name bound to a decision inside a block -> its label
        self.forced_label: str | None = None
        self.units: dict[str, Unit] = {}
        self.loading: list[str] = []
        self.params: dict[str, Any] = {}
        self.references: list[tuple[str, Loc]] = []  # decision("label") uses, checked in finish()
        self.work = 0                                  # expansion steps, bounded by MAX_WORK
        self.declared: list[str] = []                  # labels in declaration order (a statement's own: naming)
        # Cell ops whose candidates for inputs 1.. are `_fresh` copies of the one for input 0, by
        # id (the object kept alive): the cache stores the first and rebuilds the copies.
        self.fresh_copies: dict[int, ir.CellOp] = {}

    # -- files and top level

    def load_unit(self, file: str, text: str, loc: Loc | None) -> Unit:
        from .syntax.parser import parse
        key = file
        if key in self.loading:
            chain = " -> ".join(self.loading[self.loading.index(key):] + [key])
            raise ImportCycleError(f"import cycle: {chain}", loc or Loc(file, 1, 1, text))
        if key in self.units:
            return self.units[key]
        self.loading.append(key)
        module = parse(text, file)
        unit = Unit(file, text, module)
        is_root = len(self.loading) == 1
        for item in module.items:
            if isinstance(item, ast.Import):
                child_file, child_text = self.loader(item.path, item.loc)
                child = self.load_unit(child_file, child_text, item.loc)
                if item.alias:
                    self._define(unit, item.alias, Namespace(child), item.loc)
                else:
                    for name, value in child.names.items():
                        if isinstance(value, BlockVal):
                            self._define(unit, name, value, item.loc)
            elif isinstance(item, ast.ParamDecl):
                if is_root and item.name in self.overrides:
                    default = self.eval(item.value, {}, self._const_ctx(unit))
                    value = _checked_override(item.name, self.overrides.pop(item.name), default, item.loc)
                else:
                    value = self.eval(item.value, {}, self._const_ctx(unit))
                    self._require_constant(value, item.value.loc, f"parameter {item.name}")
                self._define(unit, item.name, value, item.loc)
                if is_root:
                    self.params[item.name] = value
            elif isinstance(item, ast.BlockDef):
                self._define(unit, item.name, BlockVal(item, unit), item.loc)
        self.loading.pop()
        self.units[key] = unit
        return unit

    def _define(self, unit: Unit, name: str, value: Any, loc: Loc) -> None:
        if name in unit.names:
            raise DuplicateError(f"{name!r} is defined twice", loc)
        if name in BUILTINS or catalog.signature(name) is not None:
            raise DuplicateError(f"{name!r} is a builtin and cannot be redefined", loc)
        unit.names[name] = value

    def _const_ctx(self, unit: Unit) -> Ctx:
        return Ctx((), None, Namer(("param",), 0), unit, toplevel=True)

    def _require_constant(self, value: Any, loc: Loc, what: str) -> None:
        if not isinstance(value, (int, float, str, bool)) and not (
                isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, str, bool)) for v in value)):
            raise NasTypeError(f"{what} must be a constant, got {kind_of(value)}", loc)

    def elaborate(self, root: Unit) -> tuple[ir.Graph, dict[str, Any]]:
        if self.overrides:
            name = sorted(self.overrides)[0]
            known = ", ".join(sorted(self.params)) or "none"
            close = next((p for p in self.params if p.lower() == name.lower()), None) or _closest(name, self.params)
            # a command-line (or `params=`) mistake: named by the option, not by a line of the file
            raise UndefinedNameError(f"--set {name}: {root.file} has no parameter {name!r} (parameters: {known})",
                                     hint=f"did you mean --set {close}=...?" if close else None)
        networks = [i for i in root.module.items if isinstance(i, ast.NetworkDef)]
        if not networks:
            raise UndefinedNameError("the file declares no `network`", Loc(root.file, 1, 1, root.text),
                                     hint="add e.g. `network(x: [3, 32, 32]) = x -> Stem() -> Head()`")
        if len(networks) > 1:
            raise DuplicateError("`network` is declared twice", networks[1].loc,
                                 related=(("first declared here", networks[0].loc),))
        net = networks[0]
        if not isinstance(net.body, ast.GraphBody):
            raise NasTypeError("the network must name its inputs with their shapes, "
                               "e.g. `network(x: [3, 32, 32]) = x -> ...`", net.loc)
        ctx = Ctx((), None, Namer((), 0), root)
        graph = self.build_graph(net.body, {}, ctx, require_shapes=True)
        for item in root.module.items:
            if isinstance(item, ast.Constraint):
                self.add_constraint(item, {}, Ctx((), None, Namer(("constraint",), 0), root, toplevel=True))
        return graph, self.params

    # -- decisions

    def condition(self) -> Any:
        cond: Any = True
        for c in self.conditions:
            cond = binary("and", cond, c)
        return cond

    def declare(self, label: str, kind: str, values: tuple, loc: Loc, n_candidates: int = 0,
                n_chosen: int | None = 1) -> None:
        if not label:
            label = "root"
        self.declared.append(label)
        acc = self.decisions.get(label)
        if acc is None:
            self.decisions[label] = _DecisionAcc(kind, values, [self.condition()], [loc], n_candidates, n_chosen)
            return
        same = (acc.kind == kind or {acc.kind, kind} <= {ir.VALUE, ir.DEPTH}) and _typed(acc.values) == _typed(values) \
            and acc.n_chosen == n_chosen
        if not same:
            raise DuplicateError(
                f"label {label!r} is reused with a different domain: "
                f"{_domain_text(kind, values)} here, {_domain_text(acc.kind, acc.values)} before",
                loc, related=(("first declared here", acc.locs[0]),),
                hint="give one of them another label, or make both domains equal to share the decision")
        acc.conditions.append(self.condition())
        if loc not in acc.locs:
            acc.locs.append(loc)

    def label_for(self, ctx: Ctx, site: tuple[str, ...], explicit: Any, loc: Loc) -> str:
        if explicit is not None:
            if not isinstance(explicit, str) or not explicit or not all(
                    part and (part.replace("_", "a").isalnum()) for part in explicit.split(".")):
                raise NasTypeError(f"a label must be a dotted name like \"stage1.op\", got {literal(explicit)}", loc)
            return explicit
        return ".".join(ctx.scope + site) or "root"

    def finish(self) -> tuple[tuple[ir.Decision, ...], tuple[ir.Constraint, ...]]:
        for label, loc in self.references:
            if label not in self.decisions:
                hint = _closest(label, self.decisions)
                raise UndefinedNameError(f"decision({label!r}): the space has no decision labelled {label!r}", loc,
                                         hint=f"did you mean {hint!r}?" if hint else "`nasdsl info FILE` lists the labels")
        decisions = []
        for label, acc in self.decisions.items():
            # An occurrence conditioned on the decision itself (a shared label nested inside the
            # repeat or choice it controls) adds nothing: it exists only when another one does.
            conditions = [c for c in acc.conditions if label not in free_labels(c)]
            if not conditions:
                raise NasTypeError(f"label {label!r} is only used inside the choice or repeat it controls itself",
                                   acc.locs[0])
            cond: Any = True if any(c is True for c in conditions) else False
            for c in conditions if cond is not True else ():
                cond = binary("or", cond, c)
            decisions.append(ir.Decision(label, acc.kind, acc.values, cond, tuple(acc.locs),
                                         acc.n_candidates, acc.n_chosen))
        return tuple(decisions), tuple(self.constraints)

    def add_constraint(self, node: ast.Constraint, env: dict, ctx: Ctx) -> None:
        value = self.eval(node.expr, env, ctx)
        if not _is_value(value):
            raise NasTypeError(f"a constraint must be a condition over choices, got {kind_of(value)}", node.expr.loc)
        if not is_expr(value):
            holds = bool(value) if node.kind == "require" else not value
            if not holds:
                raise NasError(f"`{node.kind}` condition is always {'false' if node.kind == 'require' else 'true'}: "
                               "it rules out every architecture", node.loc)
            return
        self.constraints.append(ir.Constraint(node.kind, value, node.message, node.loc))

    # -- blocks and graphs

    def build_graph(self, body: ast.GraphBody, env: dict, ctx: Ctx, require_shapes: bool = False,
                    block: str | None = None) -> ir.Graph:
        inputs = []
        for p in body.inputs:
            shape = None
            if p.shape is not None:
                shape = tuple(self.eval(e, env, ctx) for e in p.shape.items)
                for dim, e in zip(shape, p.shape.items):
                    if not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0:
                        raise NasTypeError(f"a shape dimension must be a positive integer, got {_got(dim)}", e.loc)
            elif require_shapes:
                raise NasTypeError(f"network input {p.name!r} needs a shape, e.g. `{p.name}: [3, 32, 32]`", p.loc)
            inputs.append(ir.TensorIn(p.name, shape, p.loc))
        names = [p.name for p in body.inputs]
        if len(set(names)) != len(names):
            raise DuplicateError("a tensor input is named twice", body.loc)
        graph = GraphBuilder(tuple(inputs))
        local = dict(env)
        for p in body.inputs:
            local[p.name] = TensorVal(p.name, graph)
        gctx = Ctx(ctx.scope, graph, ctx.namer, ctx.unit, ctx.depth, ctx.toplevel)
        outputs = self.run_stmts(body.stmts, local, gctx, ())
        if outputs is None:
            raise NasTypeError("this block never returns a tensor: end it with `return ...`", body.loc)
        return ir.Graph(graph.inputs, tuple(graph.modules.items()), tuple(graph.nodes), outputs, body.loc, block)

    def run_stmts(self, stmts, env: dict, ctx: Ctx, loop: tuple[str, ...]) -> tuple[str, ...] | None:
        result = None
        for stmt in stmts:
            self.spend(stmt.loc)
            if result is not None:
                raise NasTypeError("statement after `return` is never reached", stmt.loc)
            if isinstance(stmt, ast.Assign):
                self.run_assign(stmt, env, ctx, loop)
            elif isinstance(stmt, ast.Return):
                values = self.eval_in_context(stmt.values, ("out",), env, ctx, loop)
                pairs = zip(_flatten(values), _flatten_exprs(stmt.values, values))
                result = tuple(self.expect_tensor(v, e.loc).name for v, e in pairs)
            elif isinstance(stmt, ast.Constraint):
                self.add_constraint(stmt, env, ctx)
            elif isinstance(stmt, ast.For):
                items = self.eval(stmt.iterable, env, ctx)
                if not isinstance(items, (list, tuple)) or any(not isinstance(v, (int, str, float, bool)) for v in items):
                    raise NasTypeError(f"`for` loops run over a constant list such as range(3), got {kind_of(items)}",
                                       stmt.iterable.loc, hint="to choose a depth, use repeat(choice[...], lambda i: Block(i))")
                for item in items:
                    env[stmt.var] = item
                    inner = self.run_stmts(stmt.body, env, ctx, loop + (str(item),))
                    if inner is not None:
                        raise NasTypeError("`return` inside a loop is not allowed", stmt.loc)
            elif isinstance(stmt, ast.If):
                test = self.eval(stmt.test, env, ctx)
                if not isinstance(test, (bool, int, float, str)):
                    hint = ("to choose, use choice { ... } or `a if test else b`, which follow a decision"
                            if is_expr(test) else None)
                    got = "a value that depends on a decision" if is_expr(test) else kind_of(test)
                    raise NasTypeError(f"an `if` statement tests a constant (loop variables, parameters), "
                                       f"got {got}", stmt.test.loc, hint=hint)
                if test and self.run_stmts(stmt.body, env, ctx, loop) is not None:
                    raise NasTypeError("`return` inside an `if` statement is not allowed", stmt.loc,
                                       hint="bind the result to a name in the `if` and return it after")
        return result

    def eval_in_context(self, exprs: tuple, base: tuple[str, ...], env: dict, ctx: Ctx, loop: tuple[str, ...]):
        name = ctx.graph.unique_base(base + loop) if ctx.graph is not None else base + loop
        total = sum(self.count_sites(e, env, ctx) for e in exprs)
        sub = ctx.with_namer(Namer(name, total))
        mark = len(self.declared)
        values = [self.eval(e, env, sub) for e in exprs]
        if ctx.graph is not None:
            prefix = ".".join(ctx.scope + name)
            if any(label == prefix or label.startswith(prefix + ".") for label in self.declared[mark:]):
                ctx.graph.claim(name)
        return values[0] if len(values) == 1 else tuple(values)

    def run_assign(self, stmt: ast.Assign, env: dict, ctx: Ctx, loop: tuple[str, ...]) -> None:
        targets = stmt.targets
        if len(stmt.values) > 1:
            if len(stmt.values) != len(targets):
                raise ArityError(f"{len(targets)} names but {len(stmt.values)} values", stmt.loc)
            values = tuple(self.eval_in_context((e,), (t,), env, ctx, loop) for t, e in zip(targets, stmt.values))
        else:
            value = self.eval_in_context(stmt.values, ("_".join(targets),), env, ctx, loop)
            if len(targets) == 1:
                values = (value,)
            else:
                if not isinstance(value, tuple) or len(value) != len(targets):
                    n = len(value) if isinstance(value, tuple) else 1
                    raise ArityError(f"cannot unpack {n} value{'s' if n != 1 else ''} into {len(targets)} names", stmt.loc)
                values = value
        for t, v in zip(targets, values):
            if t in BUILTINS:
                raise DuplicateError(f"{t!r} is a builtin and cannot be rebound", stmt.loc)
            env[t] = v
            if isinstance(v, Ref):  # for the hint when a top-level constraint uses the name
                self.bound_names.setdefault(t, v.label)

    # -- site counting (syntactic; decides between `y` and `y.0`, `y.1`)

    def count_sites(self, node: Any, env: dict, ctx: Ctx) -> int:
        if node.__class__ in _NO_SITES:  # the commonest arguments: literals and names
            return 0
        if isinstance(node, (ast.ValueChoice, ast.LayerChoice)):
            return 1
        if isinstance(node, ast.Call):
            if self._is_site_callee(node.func, env, ctx):
                return 1
            return self.count_sites(node.func, env, ctx) + sum(self.count_sites(a, env, ctx) for a in node.args) + \
                sum(self.count_sites(k.value, env, ctx) for k in node.kwargs)
        if isinstance(node, (ast.Pipe, ast.BinOp)):
            return self.count_sites(node.left, env, ctx) + self.count_sites(node.right, env, ctx)
        if isinstance(node, ast.Cond):  # a constant test evaluates one branch only
            return self.count_sites(node.test, env, ctx) + max(self.count_sites(node.then, env, ctx),
                                                               self.count_sites(node.other, env, ctx))
        if isinstance(node, ast.UnaryOp):
            return self.count_sites(node.operand, env, ctx)
        if isinstance(node, (ast.ListLit, ast.TupleLit)):
            return sum(self.count_sites(i, env, ctx) for i in node.items)
        if isinstance(node, ast.Index):
            return self.count_sites(node.value, env, ctx) + self.count_sites(node.index, env, ctx)
        if isinstance(node, ast.Slice):
            return self.count_sites(node.value, env, ctx)
        return 0

    def _is_site_callee(self, func_node: Any, env: dict, ctx: Ctx) -> bool:
        if isinstance(func_node, ast.Name):
            value = env.get(func_node.id, ctx.unit.names.get(func_node.id))
            if value is None:
                return func_node.id in SITE_BUILTINS or catalog.signature(func_node.id) is not None
            return isinstance(value, (BlockVal, OpVal))
        if isinstance(func_node, ast.Attr):
            return True
        return False

    # -- expressions

    def eval(self, node: Any, env: dict, ctx: Ctx) -> Any:
        try:
            return _EVAL[type(node)](self, node, env, ctx)
        except ValueTooLarge as err:  # raised by the value layer, which knows no places
            if err.loc == UNKNOWN:
                raise ValueTooLarge(err.message, node.loc) from None
            raise

    def eval_Number(self, node: ast.Number, env, ctx):
        return node.value

    def eval_String(self, node: ast.String, env, ctx):
        return node.value

    def eval_Bool(self, node: ast.Bool, env, ctx):
        return node.value

    def eval_Name(self, node: ast.Name, env, ctx):
        name = node.id
        if name in env:
            return env[name]
        if name in ctx.unit.names:
            return ctx.unit.names[name]
        if name in BUILTINS:
            return BuiltinVal(name)
        if catalog.signature(name) is not None:
            return OpVal(name)
        if ctx.toplevel and name in ("params", "flops"):
            return Ref("@" + name)
        known = sorted(set(env) | set(ctx.unit.names) | set(catalog.known_ops()))
        hint = _closest(name, known)
        if ctx.namer.base == ("constraint",) and ctx.graph is None:
            # a top-level `forbid`/`require` sees parameters, not names bound inside `network`
            labels = ([self.bound_names[name]] if name in self.bound_names else
                      sorted(lab for lab in self.decisions if lab == name or lab.endswith("." + name)))
            example = labels[0] if labels else "label"
            raise UndefinedNameError(
                f"{name!r} is not defined", node.loc,
                hint=f"a top-level constraint names decisions by label, not by the names bound inside a network: "
                     f"decision(\"{example}\")" + ("" if labels else " (`nasdsl info FILE` lists the labels)"))
        raise UndefinedNameError(f"{name!r} is not defined", node.loc,
                                 hint=f"did you mean {hint!r}?" if hint else None)

    def eval_Attr(self, node: ast.Attr, env, ctx):
        base = self.eval(node.value, env, ctx)
        if not isinstance(base, Namespace):
            raise NasTypeError(f"only imported files have attributes, got {kind_of(base)}", node.loc)
        value = base.unit.names.get(node.name)
        if value is None:
            raise UndefinedNameError(f"{base.unit.file} defines no {node.name!r}", node.loc)
        return value

    def eval_ListLit(self, node: ast.ListLit, env, ctx):
        return [self.eval(i, env, ctx) for i in node.items]

    def eval_TupleLit(self, node: ast.TupleLit, env, ctx):
        return tuple(self.eval(i, env, ctx) for i in node.items)

    def eval_Lambda(self, node: ast.Lambda, env, ctx):
        if len(set(node.params)) != len(node.params):
            raise DuplicateError("a lambda parameter is named twice", node.loc)
        return LambdaVal(node, dict(env))

    def eval_Cond(self, node: ast.Cond, env, ctx):
        test = self.eval(node.test, env, ctx)
        if not _is_value(test):
            raise NasTypeError(f"the condition of `if` must be a value, got {kind_of(test)}", node.test.loc)
        if not is_expr(test):
            return self.eval(node.then if test else node.other, env, ctx)
        # The test guards each branch's arithmetic (`4 // (k - 3) if k != 3 else 1` is fine):
        # check_divisor sees it, decisions declared in a branch do not.
        self.guards.append(test)
        try:
            then = self.eval(node.then, env, ctx)
            self.guards[-1] = unary("not", test)
            other = self.eval(node.other, env, ctx)
        finally:
            self.guards.pop()
        for v, e in ((then, node.then), (other, node.other)):
            if not _is_value(v):
                raise NasTypeError(f"a condition over choices can only pick between values, got {kind_of(v)}; "
                                   "use choice { ... } to choose between layers", e.loc)
        return if_else(test, then, other)

    def eval_UnaryOp(self, node: ast.UnaryOp, env, ctx):
        v = self.eval(node.operand, env, ctx)
        if node.op == "-" and (isinstance(v, (int, float)) and not isinstance(v, bool) or is_expr(v)):
            return unary("-", v)
        if node.op == "not" and _is_value(v):
            return unary("not", v)
        raise NasTypeError(f"cannot apply {node.op!r} to {kind_of(v)}", node.loc)

    def eval_BinOp(self, node: ast.BinOp, env, ctx):
        a = self.eval(node.left, env, ctx)
        b = self.eval(node.right, env, ctx)
        if isinstance(a, TensorVal) or isinstance(b, TensorVal):
            return self.tensor_binop(node, a, b, ctx)
        if isinstance(a, list) and isinstance(b, list) and node.op == "+":
            if len(a) + len(b) > MAX_RANGE:
                raise NasTypeError("list too long", node.loc)
            return a + b
        self.check_operands(node, a, b)
        if node.op in ("/", "//", "%", "**") and (is_expr(a) or is_expr(b)):
            self.check_divisor(node.op, a, b, node.loc)
        try:
            return binary(node.op, a, b)
        except ValueTooLarge:
            raise
        except ZeroDivisionError:
            raise NasTypeError("division by zero", node.loc) from None
        except OverflowError:
            raise NasTypeError("number too large", node.loc) from None
        except TypeError:
            raise NasTypeError(f"cannot compute {literal(a)} {node.op} {literal(b)}", node.loc) from None

    @staticmethod
    def check_operands(node: ast.BinOp, a: Any, b: Any) -> None:
        """Refuse operands `node.op` cannot take: a block, tensor or other non-value; a string
        other than in `+` of two strings or a comparison; none other than in a comparison."""
        for v, e in ((a, node.left), (b, node.right)):
            if not _is_value(v):
                raise NasTypeError(f"cannot use {kind_of(v)} with {node.op!r}", e.loc)
        if node.op in ("and", "or", "==", "!="):
            return
        if (isinstance(a, str) or isinstance(b, str)) and not (node.op == "+" and isinstance(a, str) and isinstance(b, str)):
            raise NasTypeError(f"cannot use a string with {node.op!r}", node.loc)
        if a is None or b is None:
            raise NasTypeError(f"cannot use none with {node.op!r}", node.loc)

    def check_divisor(self, op: str, a: Any, b: Any, loc: Loc) -> None:
        """Refuse `a op b` (a division, modulo or power over choices) if some architecture in
        which it is computed makes it divide by zero, naming the decision values that do.
        Only assignments under which the expression exists and is used (the enclosing repeat
        or choice conditions, the tests of the value `if`s around it) count. The assignments
        are enumerated up to `MAX_DIVISOR_CHECKS`; past that the check gives up and
        `values.DivisionByZero` stops the one architecture that hits it."""
        if not self._may_be_zero(op, a, b, loc):
            return
        expr_labels = free_labels(a) | free_labels(b)
        cond = self.condition()
        for guard in self.guards:
            cond = binary("and", cond, guard)
        labels = self._enumerable(expr_labels, cond)
        if labels is None:
            return
        names = sorted(labels)
        for combo in itertools.product(*(self.decisions[lab].values for lab in names)):
            arch = dict(zip(names, combo))
            try:
                if free_labels(cond) <= labels and not evaluate(cond, arch):
                    continue
                apply_binary(op, evaluate(a, arch), evaluate(b, arch))
            except ZeroDivisionError:
                where = " and ".join(f"{lab} = {literal(arch[lab])}" for lab in sorted(expr_labels))
                what = "raises zero to a negative power" if op == "**" else "divides by zero"
                p = 8 if op == "**" else 6
                raise NasTypeError(f"division by zero: {to_text(a, p)} {op} {to_text(b, p + 1)} {what} when {where}", loc,
                                   hint="keep the divisor away from zero for every choice, e.g. max(d, 1)") from None
            except (ArithmeticError, TypeError, ValueError, KeyError):
                continue

    def _may_be_zero(self, op: str, a: Any, b: Any, loc: Loc) -> bool:
        """Whether `a op b` can divide by zero for some choice (then `check_divisor` looks for
        the values that do); a constant zero divisor is refused here at once."""
        if op == "**":
            return not (not is_expr(a) and a != 0 or not is_expr(b) and isinstance(b, (int, float)) and b >= 0)
        if not is_expr(b):
            if b != 0:
                return False
            raise NasTypeError(f"division by zero: {to_text(a)} {op} {literal(b)} divides by zero for every choice of "
                               f"{', '.join(sorted(lab.lstrip('@') for lab in free_labels(a)))}", loc,
                               hint="the divisor is the constant 0")
        domains = {lab: self.decisions[lab].values for lab in free_labels(b) if lab in self.decisions}
        if len(domains) < len(free_labels(b)):
            return False  # a derived property (@params) in a constraint: not a decision to enumerate
        seen = possible_values(b, domains, cap=MAX_DIVISOR_CHECKS)
        return seen is None or 0 in seen

    def _enumerable(self, expr_labels: set[str], cond) -> set[str] | None:
        """The decisions to enumerate: those of the expression and its conditions if there are
        at most `MAX_DIVISOR_CHECKS` assignments of them, else the expression's alone, else None."""
        for labels in (expr_labels | free_labels(cond), expr_labels):
            if not labels <= self.decisions.keys():
                return None
            if math.prod(len(self.decisions[lab].values) for lab in labels) <= MAX_DIVISOR_CHECKS:
                return labels
        return None

    def tensor_binop(self, node: ast.BinOp, a, b, ctx: Ctx):
        if node.op not in ("+", "*"):
            raise NasTypeError(f"tensors combine with '+' (sum) or '*' (product), not {node.op!r}", node.loc)
        ta, tb = self.expect_tensor(a, node.left.loc), self.expect_tensor(b, node.right.loc)
        graph = self.same_graph(ctx, (ta, tb), node.loc)
        out = graph.fresh("sum" if node.op == "+" else "mul")
        graph.nodes.append(ir.Combine(out, "sum" if node.op == "+" else "mul", (ta.name, tb.name), 1, node.loc))
        return TensorVal(out, graph)

    def eval_Index(self, node: ast.Index, env, ctx):
        v = self.eval(node.value, env, ctx)
        i = self.eval(node.index, env, ctx)
        if not isinstance(v, (list, tuple)):
            raise NasTypeError(f"cannot index {kind_of(v)}", node.loc)
        if not isinstance(i, int) or isinstance(i, bool):
            raise NasTypeError(f"an index must be an integer, got {kind_of(i)}", node.index.loc)
        if not -len(v) <= i < len(v):
            raise NasTypeError(f"index {i} is out of range for a list of {len(v)}", node.index.loc)
        return v[i]

    def eval_Slice(self, node: ast.Slice, env, ctx):
        v = self.eval(node.value, env, ctx)
        if not isinstance(v, (list, tuple)):
            raise NasTypeError(f"cannot slice {kind_of(v)}: only lists and tuples have parts", node.loc)
        bounds = []
        for e in (node.start, node.stop):
            b = None if e is None else self.eval(e, env, ctx)
            if b is not None and (not isinstance(b, int) or isinstance(b, bool)):
                got = "a value that depends on a decision" if is_expr(b) else _got(b)
                raise NasTypeError(f"a slice bound must be a constant integer, got {got}", e.loc,
                                   hint="slice with loop variables or parameters, e.g. outs[0:i]")
            bounds.append(b)
        return v[bounds[0]:bounds[1]]

    def eval_Pipe(self, node: ast.Pipe, env, ctx):
        left = self.eval(node.left, env, ctx)
        right = self.eval(node.right, env, ctx)
        layer = self.expect_layer(right, node.right.loc)
        if isinstance(left, LayerVal):
            return self.compose(left, layer, node.loc)
        if isinstance(left, TensorVal) or (isinstance(left, tuple) and left and all(isinstance(t, TensorVal) for t in left)):
            tensors = left if isinstance(left, tuple) else (left,)
            return self.apply(layer, tensors, ctx, node.loc)
        raise NasTypeError(f"'->' feeds a tensor or a layer into a layer, got {kind_of(left)} on the left", node.left.loc)

    def compose(self, a: LayerVal, b: LayerVal, loc: Loc) -> LayerVal:
        out_a, in_b = ir.arity(a.module)[1], ir.arity(b.module)[0]
        if out_a != in_b:
            raise ArityError(f"cannot chain a layer with {out_a} output(s) into one taking {in_b} input(s)", loc)
        items = (a.module.items if isinstance(a.module, ir.Sequential) and a.name == () else (a.module,)) + (b.module,)
        common = _common_prefix(a.name, b.name)
        return LayerVal(ir.Sequential(items, loc), common)

    def apply(self, layer: LayerVal, tensors: tuple, ctx: Ctx, loc: Loc):
        self.spend(loc)
        n_in, n_out = ir.arity(layer.module)
        if len(tensors) != n_in:
            raise ArityError(f"this layer takes {n_in} tensor(s), got {len(tensors)}", loc)
        graph = self.same_graph(ctx, tensors, loc)
        name = graph.register(layer)
        outs = tuple(graph.fresh(name) for _ in range(n_out))
        graph.nodes.append(ir.Apply(outs, name, tuple(t.name for t in tensors), loc))
        results = tuple(TensorVal(o, graph) for o in outs)
        return results[0] if n_out == 1 else results

    def same_graph(self, ctx: Ctx, tensors, loc: Loc) -> GraphBuilder:
        if ctx.graph is None:
            raise NasTypeError("tensors can only be used inside a block with tensor inputs, e.g. `block B(c)(x) { ... }`", loc)
        for t in tensors:
            if t.graph is not ctx.graph:
                raise NasTypeError(f"tensor {t.name!r} belongs to another block", loc)
        return ctx.graph

    def expect_layer(self, v: Any, loc: Loc) -> LayerVal:
        if isinstance(v, LayerVal):
            return v
        hint = "call it to make a layer, e.g. `Conv2d(3, 16, 3)`" if isinstance(v, (BlockVal, OpVal)) else None
        raise NasTypeError(f"expected a layer, got {kind_of(v)}", loc, hint=hint)

    def expect_tensor(self, v: Any, loc: Loc) -> TensorVal:
        if isinstance(v, TensorVal):
            return v
        raise NasTypeError(f"expected a tensor, got {kind_of(v)}", loc)

    # -- choices

    def eval_ValueChoice(self, node: ast.ValueChoice, env, ctx):
        site = ctx.namer.next()
        options = [self.eval(o, env, ctx) for o in node.options]
        if len(options) == 1 and isinstance(options[0], list):
            options = options[0]
        for o, e in zip(options, node.options if len(node.options) == len(options) else [node] * len(options)):
            if not isinstance(o, (int, float, str, bool)):
                raise NasTypeError(f"choice options must be constants, got {kind_of(o)}", e.loc,
                                   hint="to choose between layers, write choice { name: Layer(...), ... }")
            if isinstance(o, float) and not math.isfinite(o):
                raise NasTypeError(f"choice options must be finite numbers, got {o}", e.loc)
        if not options:
            raise NasTypeError("a choice needs at least one option", node.loc)
        if len(options) > MAX_DOMAIN:
            raise NasTypeError(f"a choice may have at most {MAX_DOMAIN} options", node.loc)
        seen = set()
        for o in options:
            key = (type(o) is bool, o)
            if key in seen:
                raise DuplicateError(f"option {literal(o)} is listed twice", node.loc)
            seen.add(key)
        label = self.label_for(ctx, site, node.label, node.loc)
        self.declare(label, ir.VALUE, tuple(options), node.loc)
        return Ref(label)

    def eval_LayerChoice(self, node: ast.LayerChoice, env, ctx):
        self.spend(node.loc)
        site = ctx.namer.next()
        label = self.forced_label or self.label_for(ctx, site, node.label, node.loc)
        self.forced_label = None
        names = [c.name for c in node.candidates]
        for i, c in enumerate(node.candidates):
            if c.name in names[:i]:
                raise DuplicateError(f"candidate {c.name!r} is named twice", c.loc)
        self.declare(label, ir.LAYER, tuple(names), node.loc)
        candidates = []
        for c in node.candidates:
            self.conditions.append(binary("==", Ref(label), c.name))
            try:
                sub = ctx.with_namer(Namer(site + (c.name,), self.count_sites(c.expr, env, ctx)))
                value = self.expect_layer(self.eval(c.expr, env, sub), c.expr.loc)
            finally:
                self.conditions.pop()
            candidates.append((c.name, value.module, c.loc))
        first = ir.arity(candidates[0][1])
        for name, module, loc in candidates[1:]:
            if ir.arity(module) != first:
                raise ArityError(f"candidate {name!r} takes/returns {ir.arity(module)} tensors but "
                                 f"{candidates[0][0]!r} takes/returns {first}", loc,
                                 related=((f"{candidates[0][0]!r} is here", candidates[0][2]),))
        return LayerVal(ir.LayerChoice(label, tuple((n, m) for n, m, _ in candidates), node.loc), site)

    # -- calls

    def eval_Call(self, node: ast.Call, env, ctx):
        callee = self.eval(node.func, env, ctx)
        if isinstance(callee, BlockVal):
            return self.call_block(callee, node, env, ctx)
        if isinstance(callee, OpVal):
            return self.call_op(callee.name, node, env, ctx)
        if isinstance(callee, BuiltinVal):
            return self.call_builtin(callee.name, node, env, ctx)
        if isinstance(callee, LambdaVal):
            args = [self.eval(a, env, ctx) for a in node.args]
            return self.call_lambda(callee, args, {k.name: self.eval(k.value, env, ctx) for k in node.kwargs}, ctx, node.loc)
        if isinstance(callee, LayerVal):
            if node.kwargs:
                raise ArityError("a layer is applied to tensors only, without keywords", node.loc)
            tensors = tuple(self.eval(a, env, ctx) for a in node.args)
            flat = []
            for t, _a in zip(tensors, node.args):
                flat += list(t) if isinstance(t, tuple) else [t]
            for t in flat:
                self.expect_tensor(t, node.loc)
            return self.apply(callee, tuple(flat), ctx, node.loc)
        raise NasTypeError(f"{kind_of(callee)} cannot be called", node.func.loc)

    def bind_args(self, what: str, params: list[tuple[str, Any]], node: ast.Call,
                  reserved: tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
        """Map positional and keyword argument *nodes* to parameter names."""
        names = [p for p, _ in params]
        bound: dict[str, Any] = {}
        if len(node.args) > len(names):
            raise ArityError(f"{what} takes at most {len(names)} positional argument(s), got {len(node.args)}", node.loc)
        for name, arg in zip(names, node.args):
            bound[name] = arg
        extra: dict[str, Any] = {}
        for kw in node.kwargs:
            if kw.name in reserved:
                if kw.name in extra:
                    raise DuplicateError(f"keyword {kw.name!r} given twice", kw.loc)
                extra[kw.name] = kw.value
                continue
            if kw.name not in names:
                hint = _closest(kw.name, names)
                raise ArityError(f"{what} has no parameter {kw.name!r}", kw.loc,
                                 hint=f"did you mean {hint!r}?" if hint else f"parameters: {', '.join(names) or 'none'}")
            if kw.name in bound:
                raise DuplicateError(f"argument {kw.name!r} given twice", kw.loc)
            bound[kw.name] = kw.value
        return bound, extra

    def eval_arg(self, expr: Any, site: tuple[str, ...], param: str, env: dict, ctx: Ctx) -> Any:
        if expr.__class__ in _NO_SITES:  # names nothing: no namer needed
            return self.eval(expr, env, ctx)
        namer = Namer(site + (param,), self.count_sites(expr, env, ctx))
        return self.eval(expr, env, ctx.with_namer(namer))

    def spend(self, loc: Loc) -> None:
        """Count one expansion step; a program that expands past MAX_WORK is refused."""
        self.work += 1
        if self.work > MAX_WORK:
            raise NasTypeError(f"the program expands to more than {MAX_WORK:,} calls, statements and choices",
                               loc, hint="is a loop or a block nesting much larger than intended?")

    def call_op(self, name: str, node: ast.Call, env, ctx: Ctx) -> LayerVal:
        self.spend(node.loc)
        site = ctx.namer.next()
        sig = catalog.signature(name)
        bound, _ = self.bind_args(name, list(sig), node)
        args = []
        for pname, default in sig:
            if pname in bound:
                value = self.eval_arg(bound[pname], site, pname, env, ctx)
                if isinstance(value, list):
                    value = tuple(value)
                if not (_is_value(value) or isinstance(value, tuple) and all(_is_value(v) for v in value)):
                    raise NasTypeError(f"argument {pname!r} of {name} must be a value, got {kind_of(value)}",
                                       bound[pname].loc)
            elif default is catalog.REQUIRED:
                raise ArityError(f"{name} is missing its argument {pname!r}", node.loc)
            else:
                value = default
            args.append((pname, value))
        return LayerVal(ir.Op(name, tuple(args), node.loc), site)

    def call_block(self, block: BlockVal, node: ast.Call, env, ctx: Ctx) -> LayerVal:
        self.spend(node.loc)
        defn = block.defn
        site = ctx.namer.next()
        if ctx.depth >= MAX_CALL_DEPTH:
            raise NasTypeError(f"block calls nest deeper than {MAX_CALL_DEPTH}: is {defn.name} recursive?", node.loc)
        params = [(p.name, p.default) for p in defn.params]
        bound, extra = self.bind_args(defn.name, params, node, reserved=("label",))
        label = self.eval(extra["label"], env, ctx) if "label" in extra else None
        if defn.shared:
            scope = (defn.name,)
        elif label is not None:
            scope = tuple(self.label_for(ctx, site, label, extra["label"].loc).split("."))
        else:
            scope = ctx.scope + site
        values = {name: self.eval_arg(arg, site, name, env, ctx) for name, arg in bound.items()}
        callee_ctx = Ctx(scope, None, Namer((), 0), block.unit, ctx.depth + 1)
        local: dict[str, Any] = {}
        for p in defn.params:
            if p.name in values:
                local[p.name] = values[p.name]
            elif p.default is not None:
                local[p.name] = self.eval_arg(p.default, (), p.name, local, callee_ctx)
            else:
                raise ArityError(f"{defn.name} is missing its argument {p.name!r}", node.loc,
                                 related=((f"{defn.name} is defined here", defn.loc),))
        if isinstance(defn.body, ast.LayerBody):
            namer = Namer((), self.count_sites(defn.body.expr, local, callee_ctx))
            value = self.eval(defn.body.expr, local, callee_ctx.with_namer(namer))
            layer = self.expect_layer(value, defn.body.expr.loc)
            return LayerVal(layer.module, site)
        graph = self.build_graph(defn.body, local, callee_ctx, block=defn.name)
        return LayerVal(graph, site)

    def call_lambda(self, fn: LambdaVal, args: list, kwargs: dict, ctx: Ctx, loc: Loc) -> Any:
        self.spend(loc)
        params = fn.node.params
        if len(args) > len(params):
            raise ArityError(f"this lambda takes {len(params)} argument(s), got {len(args)}", loc)
        local = dict(fn.env)
        for p, a in zip(params, args):
            local[p] = a
        for k, v in kwargs.items():
            if k not in params:
                raise ArityError(f"this lambda has no parameter {k!r}", loc)
            local[k] = v
        missing = [p for p in params if p not in local or (p not in kwargs and params.index(p) >= len(args))]
        if missing:
            raise ArityError(f"this lambda is missing its argument {missing[0]!r}", fn.node.loc)
        if ctx.depth >= MAX_CALL_DEPTH:
            raise NasTypeError("lambda calls nest too deeply", loc)
        sub = Ctx(ctx.scope, ctx.graph, Namer(ctx.namer.base, self.count_sites(fn.node.body, local, ctx)),
                  ctx.unit, ctx.depth + 1)
        return self.eval(fn.node.body, local, sub)

    # -- builtins

    def call_builtin(self, name: str, node: ast.Call, env, ctx: Ctx) -> Any:
        if name in VALUE_BUILTINS:
            if node.kwargs:
                raise ArityError(f"{name} takes no keywords", node.kwargs[0].loc)
            args = [self.eval(a, env, ctx) for a in node.args]
            return self.value_builtin(name, args, node)
        if name in TENSOR_BUILTINS:
            return self.tensor_builtin(name, node, env, ctx)
        if name in LAYER_BUILTINS:
            return self.layer_builtin(name, node, env, ctx)
        return getattr(self, "builtin_" + name)(node, env, ctx)

    def layer_builtin(self, name: str, node: ast.Call, env, ctx: Ctx) -> Any:
        """`merged_nodes(c)`: how many nodes cell `c` concatenates. For `merge="loose_end"` this is a
        value over the cell's input decisions, so the layer after the cell can size itself to it
        (NASNet-style cells: `Conv2d(c * merged_nodes(nodes), ...)`)."""
        if len(node.args) != 1 or node.kwargs:
            raise ArityError(f"{name} takes one cell", node.loc)
        layer = self.eval(node.args[0], env, ctx)
        if not isinstance(layer, LayerVal) or not isinstance(layer.module, ir.Cell):
            raise NasTypeError(f"{name} takes a cell (the layer `cell(...)` returns), got {kind_of(layer)}",
                               node.args[0].loc)
        return ir.merged_count(layer.module)

    def value_builtin(self, name: str, args: list, node: ast.Call) -> Any:
        if name == "range":
            if not 1 <= len(args) <= 3 or not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
                raise NasTypeError("range takes 1 to 3 constant integers", node.loc)
            if len(args) == 3 and args[2] == 0:
                raise NasTypeError("range step must not be zero", node.loc)
            r = range(*args)
            if _range_too_long(r):
                raise NasTypeError(f"range is longer than {MAX_RANGE:,} items", node.loc)
            return list(r)
        if name == "decision":
            if len(args) != 1 or not isinstance(args[0], str):
                raise NasTypeError('decision takes one label, e.g. decision("stage1.depth")', node.loc)
            self.references.append((args[0], node.loc))
            return Ref(args[0])
        if name in ("max", "min") and len(args) == 1 and isinstance(args[0], (list, tuple)):
            args = list(args[0])
        if name == "len":
            if len(args) != 1:
                raise ArityError("len takes one argument", node.loc)
            if isinstance(args[0], (list, tuple, str)):
                return len(args[0])
            if is_expr(args[0]):
                return func("len", (args[0],))
            raise NasTypeError(f"len of {kind_of(args[0])}", node.loc)
        for a, e in zip(args, node.args):
            if not _is_value(a) or isinstance(a, str):
                raise NasTypeError(f"{name} takes numbers, got {kind_of(a)}", e.loc)
        if not args or (name in ("abs", "int", "float") and len(args) != 1) or (name == "round" and len(args) > 2):
            raise ArityError(f"wrong number of arguments to {name}", node.loc)
        try:
            return func(name, tuple(args))
        except ValueTooLarge:
            raise
        except (TypeError, ValueError, OverflowError):
            raise NasTypeError(f"cannot compute {name}({', '.join(literal(a) for a in args)})", node.loc) from None

    def tensor_builtin(self, name: str, node: ast.Call, env, ctx: Ctx):
        allowed = ("dim",) if name == "cat" else ()
        for k in node.kwargs:
            if k.name not in allowed:
                raise ArityError(f"{name} has no parameter {k.name!r}", k.loc)
        items = [self.eval(a, env, ctx) for a in node.args]
        if len(items) == 1 and isinstance(items[0], (list, tuple)):
            items = list(items[0])
        if name == "sum" and items and all(_is_value(v) for v in items):
            total = 0
            for v in items:
                total = binary("+", total, v)
            return total
        if not items:
            raise ArityError(f"{name} needs at least one tensor", node.loc)
        tensors = [self.expect_tensor(t, node.loc) for t in items]
        dim = 1
        for k in node.kwargs:
            dim = self.eval(k.value, env, ctx)
            if not isinstance(dim, int) or isinstance(dim, bool):
                raise NasTypeError("dim must be a constant integer", k.loc)
        graph = self.same_graph(ctx, tensors, node.loc)
        if len(tensors) == 1:
            return tensors[0]
        out = graph.fresh(name)
        graph.nodes.append(ir.Combine(out, name, tuple(t.name for t in tensors), dim, node.loc))
        return TensorVal(out, graph)

    def builtin_pick(self, node: ast.Call, env, ctx: Ctx):
        site = ctx.namer.next()
        allowed = ("n", "min", "reduce", "label")
        opts = {}
        for k in node.kwargs:
            if k.name not in allowed:
                raise ArityError(f"pick has no parameter {k.name!r}", k.loc, hint="pick(a, b, c, n=1, reduce=\"sum\")")
            opts[k.name] = (self.eval(k.value, env, ctx), k.loc)
        items = []  # candidates: tensors, and lists of tensors spliced in (`pick(outs[0:i], x)`)
        for a in node.args:
            value = self.eval(a, env, ctx)
            items += [(t, a.loc) for t in value] if isinstance(value, (list, tuple)) else [(value, a.loc)]
        tensors = [self.expect_tensor(t, loc) for t, loc in items]
        k = len(tensors)
        if k == 0:
            raise ArityError("pick needs at least one candidate tensor", node.loc)
        n, nloc = opts.get("n", (1, node.loc))
        if n == "any":
            n = None
        elif not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= k:
            raise NasTypeError(f"n must be an integer from 1 to {k} or \"any\", got {_got(n)}", nloc)
        reduce, rloc = opts.get("reduce", ("sum", node.loc))
        if reduce not in REDUCTIONS:
            raise NasTypeError(f"reduce must be one of {', '.join(REDUCTIONS)}, got {_got(reduce)}", rloc)
        if reduce == "none" and n != 1:
            raise NasTypeError("reduce=\"none\" returns one tensor, so it needs n=1", rloc)
        least, mloc = opts.get("min", (1, node.loc))
        if "min" in opts and n is not None:
            raise NasTypeError("min applies to n=\"any\" (the fewest inputs a subset may have)", mloc,
                               hint="pick(a, b, c, n=\"any\", min=0) also allows choosing none")
        if not isinstance(least, int) or isinstance(least, bool) or not 0 <= least <= k:
            raise NasTypeError(f"min must be an integer from 0 to {k}, got {_got(least)}", mloc)
        if least == 0 and reduce == "concat":
            raise NasTypeError("an empty subset has nothing to concatenate: min=0 needs reduce=\"sum\" or \"mean\" "
                               "(both give zeros when nothing is chosen)", mloc)
        label = self.label_for(ctx, site, opts["label"][0] if "label" in opts else None,
                               opts["label"][1] if "label" in opts else node.loc)
        values = input_domain(k, n, least)
        if len(values) > MAX_DOMAIN:
            raise NasTypeError(f"pick over {k} tensors has too many subsets", node.loc)
        self.declare(label, ir.INPUT, values, node.loc, k, n)
        graph = self.same_graph(ctx, tensors, node.loc)
        out = graph.fresh("pick")
        graph.nodes.append(ir.Pick(out, label, tuple(t.name for t in tensors), n, reduce, node.loc))
        return TensorVal(out, graph)

    def builtin_repeat(self, node: ast.Call, env, ctx: Ctx):
        site = ctx.namer.next()
        bound, extra = self.bind_args("repeat", [("depth", None), ("block", None)], node, reserved=("label",))
        for p in ("depth", "block"):
            if p not in bound:
                raise ArityError(f"repeat is missing its argument {p!r}", node.loc,
                                 hint="repeat(choice[1, 2, 3], lambda i: Block(i))")
        if "label" in extra:
            namer_base = tuple(self.label_for(ctx, site, self.eval(extra["label"], env, ctx), extra["label"].loc).split("."))
            namer = Namer(namer_base, self.count_sites(bound["depth"], env, ctx))
            depth = self.eval(bound["depth"], env, Ctx((), ctx.graph, namer, ctx.unit, ctx.depth))
        else:
            depth = self.eval_arg(bound["depth"], site, "depth", env, ctx)
        if is_expr(depth):
            labels = free_labels(depth)
            for label in labels:
                if self.decisions[label].kind == ir.VALUE and depth == Ref(label):
                    self.decisions[label].kind = ir.DEPTH
            combos = math.prod(len(self.decisions[lab].values) for lab in labels)
            if combos > MAX_DOMAIN:
                raise NasTypeError(f"repeat depth depends on {combos:,} joint values of {', '.join(sorted(labels))}: "
                                   f"at most {MAX_DOMAIN:,}", bound["depth"].loc)
            try:
                depths = sorted({evaluate(depth, dict(zip(labels, combo)))
                                 for combo in itertools.product(*(self.decisions[lab].values for lab in labels))})
            except (ArithmeticError, TypeError, ValueError) as err:
                raise NasTypeError(f"repeat depth {to_text(depth)} cannot be computed for every choice: {err}",
                                   bound["depth"].loc) from None
        else:
            depths = [depth]
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in depths):
            raise NasTypeError(f"repeat depth must be a non-negative integer, got {', '.join(literal(d) for d in depths)}",
                               bound["depth"].loc)
        if max(depths) > 1000:
            raise NasTypeError("repeat depth above 1000", bound["depth"].loc)
        body = self.eval(bound["block"], env, ctx.with_namer(Namer(site + ("block",), 0)))
        blocks = []
        for i in range(max(depths)):
            active = i >= min(depths)
            if active:
                self.conditions.append(binary(">", depth, i))
            try:
                namer = Namer(site + (str(i),), 1)
                if isinstance(body, LambdaVal):
                    value = self.call_lambda(body, [i], {}, ctx.with_namer(namer), node.loc)
                elif isinstance(body, (BlockVal, OpVal)):
                    raise NasTypeError("repeat takes a lambda making each block, e.g. `lambda i: Block(c)`",
                                       bound["block"].loc)
                else:
                    raise NasTypeError(f"repeat takes a lambda making each block, got {kind_of(body)}",
                                       bound["block"].loc,
                                       hint="repeat(choice[1, 2], lambda i: Block(c, stride=2 if i == 0 else 1))")
                layer = self.expect_layer(value, bound["block"].loc)
            finally:
                if active:
                    self.conditions.pop()
            n_in, n_out = ir.arity(layer.module)
            if n_in != n_out:
                raise ArityError(f"a repeated block must return as many tensors as it takes, got {n_in} in, {n_out} out",
                                 bound["block"].loc)
            blocks.append(layer.module)
        return LayerVal(ir.Repeat(depth, tuple(blocks), node.loc), site)

    def builtin_cell(self, node: ast.Call, env, ctx: Ctx):
        site = ctx.namer.next()
        params = [("op", None), ("nodes", None), ("ops_per_node", 1), ("predecessors", 1), ("merge", "all"),
                  ("preprocess", None), ("postprocess", None), ("concat_dim", 1)]
        bound, extra = self.bind_args("cell", params, node, reserved=("label",))
        if "op" not in bound or "nodes" not in bound:
            raise ArityError("cell needs `op` (a lambda making the candidates of one edge) and `nodes`", node.loc,
                             hint="cell(lambda input: choice { ... }, nodes=4, ops_per_node=2, predecessors=2)")
        prefix = self.label_for(ctx, site, self.eval(extra["label"], env, ctx) if "label" in extra else None,
                                extra["label"].loc if "label" in extra else node.loc)
        opts = {}
        for pname, default in params[1:]:
            opts[pname] = self.eval(bound[pname], env, ctx) if pname in bound else default
        for pname in ("nodes", "ops_per_node", "predecessors"):
            v = opts[pname]
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 64:
                raise NasTypeError(f"cell {pname} must be an integer from 1 to 64, got {_got(v)}",
                                   bound[pname].loc if pname in bound else node.loc)
        if opts["merge"] not in MERGES:
            raise NasTypeError(f"cell merge must be \"all\" or \"loose_end\", got {_got(opts['merge'])}",
                               bound["merge"].loc)
        if not isinstance(opts["concat_dim"], int) or isinstance(opts["concat_dim"], bool):
            raise NasTypeError("cell concat_dim must be an integer", bound["concat_dim"].loc)
        npred = opts["predecessors"]
        pre = opts["preprocess"]
        if pre is None:
            preprocess: tuple = (None,) * npred
        else:
            if not isinstance(pre, list) or len(pre) != npred:
                raise NasTypeError(f"cell preprocess must be a list of {npred} layers (one per predecessor)",
                                   bound["preprocess"].loc)
            preprocess = tuple(None if p is None else self.expect_layer(p, bound["preprocess"].loc).module for p in pre)
        post = opts["postprocess"]
        postprocess = None if post is None else self.expect_layer(post, bound["postprocess"].loc).module
        factory = self.eval(bound["op"], env, ctx)
        if not isinstance(factory, LambdaVal):
            raise NasTypeError(f"cell op must be a lambda so each edge gets its own weights, got {kind_of(factory)}",
                               bound["op"].loc,
                               hint="op=lambda input: choice { conv: Conv2d(c, c, 3, padding=1), skip: Identity() }")
        allowed = {"node", "op", "input"}
        for p in factory.node.params:
            if p not in allowed:
                raise ArityError(f"a cell op lambda may take node, op and input, not {p!r}", factory.node.loc)
        cell_nodes = []
        for ni in range(npred, npred + opts["nodes"]):
            ops = []
            for k in range(opts["ops_per_node"]):
                op_label, input_label = f"{prefix}.op_{ni}_{k}", f"{prefix}.input_{ni}_{k}"
                self.declare(input_label, ir.INPUT, tuple(range(ni)), node.loc, ni, 1)
                candidates, names, reuse = [], None, False
                known = len(self.decisions) + (op_label not in self.decisions)
                for j in range(ni):
                    if j and reuse:
                        candidates.append(ir.fresh(candidates[0]))
                        continue
                    self.conditions.append(binary("==", Ref(input_label), j))
                    try:
                        self.forced_label = op_label
                        args = {"node": ni, "op": k, "input": j}
                        namer = Namer((f"op_{ni}_{k}", str(j)), 1)
                        sub = Ctx(tuple(prefix.split(".")), ctx.graph, namer, ctx.unit, ctx.depth)
                        value = self.call_lambda(factory, [], {p: args[p] for p in factory.node.params}, sub, node.loc)
                        layer = self.expect_layer(value, factory.node.body.loc)
                    finally:
                        self.forced_label = None
                        self.conditions.pop()
                    if ir.arity(layer.module) != (1, 1):
                        raise ArityError("a cell op must take and return one tensor", factory.node.body.loc)
                    these = tuple(n for n, _ in layer.module.candidates) if isinstance(layer.module, ir.LayerChoice) else None
                    if j and these != names:
                        raise NasTypeError(f"cell op candidates must be the same for every input, got {these} for input {j} "
                                           f"and {names} for input 0", factory.node.body.loc)
                    names = these
                    candidates.append(layer.module)
                    # An op lambda without `input` builds the same candidates for every input: build
                    # them once, unless they declare decisions of their own (labelled per input).
                    reuse = "input" not in factory.node.params and len(self.decisions) <= known
                if names is not None:  # declared once per input index; together they always apply
                    self.decisions[op_label].conditions = [self.condition()]
                op = ir.CellOp(op_label if names is not None else None, input_label, tuple(candidates))
                if reuse and len(candidates) > 1:
                    self.fresh_copies[id(op)] = op
                ops.append(op)
            cell_nodes.append(tuple(ops))
        return LayerVal(ir.Cell(tuple(cell_nodes), npred, opts["merge"], opts["concat_dim"], preprocess, postprocess,
                                prefix, node.loc), site)


_EVAL = {cls: getattr(Elaborator, "eval_" + cls.__name__) for cls in (
    ast.Number, ast.String, ast.Bool, ast.Name, ast.Attr, ast.ListLit, ast.TupleLit, ast.Lambda, ast.Cond,
    ast.UnaryOp, ast.BinOp, ast.Index, ast.Slice, ast.Pipe, ast.ValueChoice, ast.LayerChoice, ast.Call)}


# Expressions that open no choice site and name nothing: a literal, or a name (its value is
# looked up, never called here).
_NO_SITES = frozenset({ast.Number, ast.String, ast.Bool, ast.Name})


def input_domain(k: int, n: int | None, least: int = 1) -> tuple:
    """Values of an input choice over `k` tensors: an index (n = 1) or sorted index tuples;
    for any subset (n None) those of at least `least` tensors (0: the empty one `()` first)."""
    if n == 1:
        return tuple(range(k))
    sizes = range(least, k + 1) if n is None else (n,)
    out = []
    for r in sizes:
        out += itertools.combinations(range(k), r)
        if len(out) > MAX_DOMAIN:
            break
    return tuple(out)


def _kind_of_constant(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    return None


def _checked_override(name: str, value: Any, default: Any, loc: Loc) -> Any:
    """A `--set` / `params=` value as it enters: a constant (number, bool, string or a flat list
    of those), numbers within `limits`, of the kind of the parameter's default (an integer
    where the default is one; a float default also takes an integer)."""
    items = value if isinstance(value, (list, tuple)) else (value,)
    for item in items:
        if _kind_of_constant(item) in (None, "a list"):
            raise NasTypeError(f"--set {name}: a parameter takes a number, true/false, a string or a flat list, "
                               f"got {type(item).__name__}", loc)
        try:
            check_number(item)
        except ValueTooLarge as err:
            raise NasTypeError(f"--set {name}: {err.message}", loc) from None
    want, got = _kind_of_constant(default), _kind_of_constant(value)
    if want is not None and want != got and not (want == "a number" and got == "an integer"):
        raise NasTypeError(f"--set {name}: expected {want}, as the default {literal(default)} is, "
                           f"got {literal(value)}", loc)
    return list(value) if isinstance(value, tuple) else value


def _range_too_long(r: range) -> bool:
    try:
        return len(r) > MAX_RANGE
    except OverflowError:  # longer than a C ssize_t
        return True


def _typed(values: tuple) -> tuple:
    """Values with their types, so a domain [true, 2] is not the domain [1, 2]."""
    return tuple((type(v).__name__, v) for v in values)


def _domain_text(kind: str, values: tuple) -> str:
    shown = ", ".join(literal(v) for v in values[:6]) + (", ..." if len(values) > 6 else "")
    return f"{kind} choice [{shown}]"


def _flatten(values):
    if isinstance(values, tuple):
        out = []
        for v in values:
            out += list(v) if isinstance(v, tuple) else [v]
        return out
    return [values]


def _flatten_exprs(exprs, values):
    out = []
    vals = values if isinstance(values, tuple) and len(exprs) > 1 else (values,)
    for e, v in zip(exprs, vals):
        out += [e] * (len(v) if isinstance(v, tuple) else 1)
    return out


def _common_prefix(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for x, y in zip(a, b):
        if x != y:
            break
        out.append(x)
    return tuple(out)


def _closest(name: str, options) -> str | None:
    import difflib
    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return match[0] if match else None
