"""Syntax tree to IR: evaluate a `.nas` program statically into a `Space`.

The elaborator is a small interpreter over `nasdsl.syntax.ast`. Numbers, strings, lists and loops
are evaluated at compile time; choices become decisions; blocks are instantiated at their
call sites into module templates (`nasdsl.ir`). Nothing here runs user code: the only
callables are blocks, lambdas, catalog ops and the builtins of `nasdsl.builtins`. The values it
computes and where it stands are `nasdsl.scope`'s; the record of decisions it declares is
`nasdsl.decisions.DecisionBook`, which the `Elaborator` extends.

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

import math
from collections.abc import Callable
from typing import Any

from . import ir
from .builtins import BUILTINS, MAX_RANGE, SITE_BUILTINS, call_builtin
from .decisions import MAX_DOMAIN, DecisionBook
from .errors import UNKNOWN, ArityError, DuplicateError, ImportCycleError, Loc, NasError, NasTypeError, UndefinedNameError
from .limits import ValueTooLarge, check_number
from .ops import catalog
from .scope import (
    BlockVal,
    BuiltinVal,
    Ctx,
    GraphBuilder,
    LambdaVal,
    LayerVal,
    Namer,
    Namespace,
    OpVal,
    TensorVal,
    Unit,
    closest,
    given,
    is_value,
    kind_of,
)
from .syntax import ast
from .values import Ref, binary, if_else, is_expr, literal, unary

__all__ = ["BUILTINS", "BlockVal", "Elaborator", "Namespace"]   # what the rest of nasdsl takes from here

MAX_CALL_DEPTH = 64       # deepest nesting of block calls (recursion guard)
MAX_WORK = 45_000         # most statements, calls and choices one program may expand to


class Elaborator(DecisionBook):
    """Evaluates one root file (and its imports) into decisions, constraints and a template."""

    def __init__(self, loader: Callable[[str, Loc], tuple[str, str]], overrides: dict[str, Any]):
        super().__init__()
        self.loader = loader
        self.overrides = dict(overrides)
        self.bound_names: dict[str, str] = {}          # a name bound to a decision inside a block -> its label
        self.units: dict[str, Unit] = {}
        self.loading: list[str] = []
        self.params: dict[str, Any] = {}
        self.work = 0                                  # expansion steps, bounded by MAX_WORK
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
            close = next((p for p in self.params if p.lower() == name.lower()), None) or closest(name, self.params)
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

    def add_constraint(self, node: ast.Constraint, env: dict, ctx: Ctx) -> None:
        value = self.eval(node.expr, env, ctx)
        if not is_value(value):
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
                        raise NasTypeError(f"a shape dimension must be a positive integer, got {given(dim)}", e.loc)
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
        if ctx.choice_label is not None and node.__class__ not in _KEEP_CHOICE_LABEL:
            ctx = ctx.plain()
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
        hint = closest(name, known)
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
        if not is_value(test):
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
            if not is_value(v):
                raise NasTypeError(f"a condition over choices can only pick between values, got {kind_of(v)}; "
                                   "use choice { ... } to choose between layers", e.loc)
        return if_else(test, then, other)

    def eval_UnaryOp(self, node: ast.UnaryOp, env, ctx):
        v = self.eval(node.operand, env, ctx)
        if node.op == "-" and (isinstance(v, (int, float)) and not isinstance(v, bool) or is_expr(v)):
            return unary("-", v)
        if node.op == "not" and is_value(v):
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
            if not is_value(v):
                raise NasTypeError(f"cannot use {kind_of(v)} with {node.op!r}", e.loc)
        if node.op in ("and", "or", "==", "!="):
            return
        if (isinstance(a, str) or isinstance(b, str)) and not (node.op == "+" and isinstance(a, str) and isinstance(b, str)):
            raise NasTypeError(f"cannot use a string with {node.op!r}", node.loc)
        if a is None or b is None:
            raise NasTypeError(f"cannot use none with {node.op!r}", node.loc)

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
                got = "a value that depends on a decision" if is_expr(b) else given(b)
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
        label = ctx.choice_label or self.label_for(ctx, site, node.label, node.loc)
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
        plain = ctx.plain()   # the choice label is for a block's or lambda's body, not for arguments
        callee = self.eval(node.func, env, plain)
        if isinstance(callee, BlockVal):
            return self.call_block(callee, node, env, ctx)
        if isinstance(callee, OpVal):
            return self.call_op(callee.name, node, env, ctx)
        if isinstance(callee, BuiltinVal):
            return call_builtin(self, callee.name, node, env, plain)
        if isinstance(callee, LambdaVal):
            args = [self.eval(a, env, plain) for a in node.args]
            return self.call_lambda(callee, args, {k.name: self.eval(k.value, env, plain) for k in node.kwargs}, ctx, node.loc)
        if isinstance(callee, LayerVal):
            if node.kwargs:
                raise ArityError("a layer is applied to tensors only, without keywords", node.loc)
            tensors = tuple(self.eval(a, env, plain) for a in node.args)
            flat = []
            for t, _a in zip(tensors, node.args):
                flat += list(t) if isinstance(t, tuple) else [t]
            for t in flat:
                self.expect_tensor(t, node.loc)
            return self.apply(callee, tuple(flat), plain, node.loc)
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
                hint = closest(kw.name, names)
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
                if not (is_value(value) or isinstance(value, tuple) and all(is_value(v) for v in value)):
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
        label = self.eval(extra["label"], env, ctx.plain()) if "label" in extra else None
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
            body_ctx = Ctx(scope, None, namer, block.unit, ctx.depth + 1, choice_label=ctx.choice_label)
            value = self.eval(defn.body.expr, local, body_ctx)
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
                  ctx.unit, ctx.depth + 1, choice_label=ctx.choice_label)
        return self.eval(fn.node.body, local, sub)

_EVAL = {cls: getattr(Elaborator, "eval_" + cls.__name__) for cls in (
    ast.Number, ast.String, ast.Bool, ast.Name, ast.Attr, ast.ListLit, ast.TupleLit, ast.Lambda, ast.Cond,
    ast.UnaryOp, ast.BinOp, ast.Index, ast.Slice, ast.Pipe, ast.ValueChoice, ast.LayerChoice, ast.Call)}


# Expressions that open no choice site and name nothing: a literal, or a name (its value is
# looked up, never called here).
_NO_SITES = frozenset({ast.Number, ast.String, ast.Bool, ast.Name})

# Expressions whose value can be the layer choice a `Ctx.choice_label` names: the choice itself,
# a call (of a block or lambda returning it), a constant `if` (one branch returning it).
_KEEP_CHOICE_LABEL = frozenset({ast.LayerChoice, ast.Call, ast.Cond})


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


