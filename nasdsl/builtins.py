"""The builtins of `.nas`: value functions (`range`, `max`, `decision`, ...), tensor combiners
(`cat`, `sum`, `mean`), `merged_nodes`, and the site builtins that declare decisions: `pick`
(an input choice), `repeat` (a depth choice) and `cell` (a DARTS-style cell of input and op
choices). Each is a plain function of the running `Elaborator` (`el`), the call's syntax
node, the environment and the `Ctx`; `call_builtin` dispatches by name."""
from __future__ import annotations

import itertools
import math
from typing import Any

from . import ir
from .decisions import MAX_DOMAIN
from .errors import ArityError, NasTypeError
from .limits import ValueTooLarge
from .scope import BlockVal, Ctx, LambdaVal, LayerVal, Namer, OpVal, TensorVal, given, is_value, kind_of
from .syntax import ast
from .values import Ref, binary, evaluate, free_labels, func, is_expr, literal, to_text

# The running `nasdsl.elaborate.Elaborator` (imported there, not here: imports go down).
Elaborator = Any

MAX_RANGE = 100_000       # longest list a `range` may build
REDUCTIONS = ("sum", "mean", "concat", "none")
MERGES = ("all", "loose_end")

SITE_BUILTINS = {"repeat", "cell", "pick"}
VALUE_BUILTINS = {"range", "max", "min", "abs", "int", "float", "round", "len", "decision"}
LAYER_BUILTINS = {"merged_nodes"}  # values computed from a layer
TENSOR_BUILTINS = {"cat", "sum", "mean"}
BUILTINS = SITE_BUILTINS | VALUE_BUILTINS | TENSOR_BUILTINS | LAYER_BUILTINS



def call_builtin(el: Elaborator, name: str, node: ast.Call, env, ctx: Ctx) -> Any:
    if name in VALUE_BUILTINS:
        if node.kwargs:
            raise ArityError(f"{name} takes no keywords", node.kwargs[0].loc)
        args = [el.eval(a, env, ctx) for a in node.args]
        return value_builtin(el, name, args, node)
    if name in TENSOR_BUILTINS:
        return tensor_builtin(el, name, node, env, ctx)
    if name in LAYER_BUILTINS:
        return layer_builtin(el, name, node, env, ctx)
    return SITES[name](el, node, env, ctx)


def layer_builtin(el: Elaborator, name: str, node: ast.Call, env, ctx: Ctx) -> Any:
    """`merged_nodes(c)`: how many nodes cell `c` concatenates. For `merge="loose_end"` this is a
    value over the cell's input decisions, so the layer after the cell can size itself to it
    (NASNet-style cells: `Conv2d(c * merged_nodes(nodes), ...)`)."""
    if len(node.args) != 1 or node.kwargs:
        raise ArityError(f"{name} takes one cell", node.loc)
    layer = el.eval(node.args[0], env, ctx)
    if not isinstance(layer, LayerVal) or not isinstance(layer.module, ir.Cell):
        raise NasTypeError(f"{name} takes a cell (the layer `cell(...)` returns), got {kind_of(layer)}",
                           node.args[0].loc)
    return ir.merged_count(layer.module)


def value_builtin(el: Elaborator, name: str, args: list, node: ast.Call) -> Any:
    """A builtin over values (`args` evaluated): `range`, `decision`, `len`, or a numeric one."""
    if name == "range":
        return builtin_range(args, node)
    if name == "decision":
        return builtin_decision(el, args, node)
    if name == "len":
        return builtin_len(args, node)
    return numeric_builtin(name, args, node)


def builtin_range(args: list, node: ast.Call) -> list:
    if not 1 <= len(args) <= 3 or not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        raise NasTypeError("range takes 1 to 3 constant integers", node.loc)
    if len(args) == 3 and args[2] == 0:
        raise NasTypeError("range step must not be zero", node.loc)
    r = range(*args)
    if _range_too_long(r):
        raise NasTypeError(f"range is longer than {MAX_RANGE:,} items", node.loc)
    return list(r)


def builtin_decision(el: Elaborator, args: list, node: ast.Call) -> Ref:
    """`decision("label")`: the value of a decision named by its label (checked when all are known)."""
    if len(args) != 1 or not isinstance(args[0], str):
        raise NasTypeError('decision takes one label, e.g. decision("stage1.depth")', node.loc)
    el.references.append((args[0], node.loc))
    return Ref(args[0])


def builtin_len(args: list, node: ast.Call) -> Any:
    if len(args) != 1:
        raise ArityError("len takes one argument", node.loc)
    if isinstance(args[0], (list, tuple, str)):
        return len(args[0])
    if is_expr(args[0]):
        return func("len", (args[0],))
    raise NasTypeError(f"len of {kind_of(args[0])}", node.loc)


def numeric_builtin(name: str, args: list, node: ast.Call) -> Any:
    """`max`, `min` (of numbers or of one list), `abs`, `int`, `float`, `round`: over constants, a
    number; over choices, an expression."""
    if name in ("max", "min") and len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = list(args[0])
    for a, e in zip(args, node.args):
        if not is_value(a) or isinstance(a, str):
            raise NasTypeError(f"{name} takes numbers, got {kind_of(a)}", e.loc)
    if not args or (name in ("abs", "int", "float") and len(args) != 1) or (name == "round" and len(args) > 2):
        raise ArityError(f"wrong number of arguments to {name}", node.loc)
    try:
        return func(name, tuple(args))
    except ValueTooLarge:
        raise
    except (TypeError, ValueError, OverflowError):
        raise NasTypeError(f"cannot compute {name}({', '.join(literal(a) for a in args)})", node.loc) from None


def tensor_builtin(el: Elaborator, name: str, node: ast.Call, env, ctx: Ctx):
    allowed = ("dim",) if name == "cat" else ()
    for k in node.kwargs:
        if k.name not in allowed:
            raise ArityError(f"{name} has no parameter {k.name!r}", k.loc)
    items = [el.eval(a, env, ctx) for a in node.args]
    if len(items) == 1 and isinstance(items[0], (list, tuple)):
        items = list(items[0])
    if name == "sum" and items and all(is_value(v) for v in items):
        total = 0
        for v in items:
            total = binary("+", total, v)
        return total
    if not items:
        raise ArityError(f"{name} needs at least one tensor", node.loc)
    tensors = [el.expect_tensor(t, node.loc) for t in items]
    dim = 1
    for k in node.kwargs:
        dim = el.eval(k.value, env, ctx)
        if not isinstance(dim, int) or isinstance(dim, bool):
            raise NasTypeError("dim must be a constant integer", k.loc)
    graph = el.same_graph(ctx, tensors, node.loc)
    if len(tensors) == 1:
        return tensors[0]
    out = graph.fresh(name)
    graph.nodes.append(ir.Combine(out, name, tuple(t.name for t in tensors), dim, node.loc))
    return TensorVal(out, graph)


def builtin_pick(el: Elaborator, node: ast.Call, env, ctx: Ctx):
    site = ctx.namer.next()
    allowed = ("n", "min", "reduce", "label")
    opts = {}
    for k in node.kwargs:
        if k.name not in allowed:
            raise ArityError(f"pick has no parameter {k.name!r}", k.loc, hint="pick(a, b, c, n=1, reduce=\"sum\")")
        opts[k.name] = (el.eval(k.value, env, ctx), k.loc)
    items = []  # candidates: tensors, and lists of tensors spliced in (`pick(outs[0:i], x)`)
    for a in node.args:
        value = el.eval(a, env, ctx)
        items += [(t, a.loc) for t in value] if isinstance(value, (list, tuple)) else [(value, a.loc)]
    tensors = [el.expect_tensor(t, loc) for t, loc in items]
    k = len(tensors)
    if k == 0:
        raise ArityError("pick needs at least one candidate tensor", node.loc)
    n, reduce, least = pick_options(opts, k, node)
    label = el.label_for(ctx, site, opts["label"][0] if "label" in opts else None,
                         opts["label"][1] if "label" in opts else node.loc)
    values = input_domain(k, n, least)
    if len(values) > MAX_DOMAIN:
        raise NasTypeError(f"pick over {k} tensors has too many subsets", node.loc)
    el.declare(label, ir.INPUT, values, node.loc, k, n)
    graph = el.same_graph(ctx, tensors, node.loc)
    out = graph.fresh("pick")
    graph.nodes.append(ir.Pick(out, label, tuple(t.name for t in tensors), n, reduce, node.loc))
    return TensorVal(out, graph)


def pick_options(opts: dict[str, tuple[Any, Any]], k: int, node: ast.Call) -> tuple[int | None, str, int]:
    """`n` (None for "any"), `reduce` and `min` of a pick over `k` tensors, checked; `opts` maps a
    given keyword to its value and place."""
    n, nloc = opts.get("n", (1, node.loc))
    if n == "any":
        n = None
    elif not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= k:
        raise NasTypeError(f"n must be an integer from 1 to {k} or \"any\", got {given(n)}", nloc)
    reduce, rloc = opts.get("reduce", ("sum", node.loc))
    if reduce not in REDUCTIONS:
        raise NasTypeError(f"reduce must be one of {', '.join(REDUCTIONS)}, got {given(reduce)}", rloc)
    if reduce == "none" and n != 1:
        raise NasTypeError("reduce=\"none\" returns one tensor, so it needs n=1", rloc)
    least, mloc = opts.get("min", (1, node.loc))
    if "min" in opts and n is not None:
        raise NasTypeError("min applies to n=\"any\" (the fewest inputs a subset may have)", mloc,
                           hint="pick(a, b, c, n=\"any\", min=0) also allows choosing none")
    if not isinstance(least, int) or isinstance(least, bool) or not 0 <= least <= k:
        raise NasTypeError(f"min must be an integer from 0 to {k}, got {given(least)}", mloc)
    if least == 0 and reduce == "concat":
        raise NasTypeError("an empty subset has nothing to concatenate: min=0 needs reduce=\"sum\" or \"mean\" "
                           "(both give zeros when nothing is chosen)", mloc)
    return n, reduce, least


def builtin_repeat(el: Elaborator, node: ast.Call, env, ctx: Ctx):
    site = ctx.namer.next()
    bound, extra = el.bind_args("repeat", [("depth", None), ("block", None)], node, reserved=("label",))
    for p in ("depth", "block"):
        if p not in bound:
            raise ArityError(f"repeat is missing its argument {p!r}", node.loc,
                             hint="repeat(choice[1, 2, 3], lambda i: Block(i))")
    if "label" in extra:
        namer_base = tuple(el.label_for(ctx, site, el.eval(extra["label"], env, ctx), extra["label"].loc).split("."))
        namer = Namer(namer_base, el.count_sites(bound["depth"], env, ctx))
        depth = el.eval(bound["depth"], env, Ctx((), ctx.graph, namer, ctx.unit, ctx.depth))
    else:
        depth = el.eval_arg(bound["depth"], site, "depth", env, ctx)
    depths = repeat_depths(el, depth, bound["depth"].loc)
    body = el.eval(bound["block"], env, ctx.with_namer(Namer(site + ("block",), 0)))
    blocks = tuple(repeat_block(el, body, depth, i, i >= min(depths), ctx.with_namer(Namer(site + (str(i),), 1)),
                                node.loc, bound["block"].loc) for i in range(max(depths)))
    return LayerVal(ir.Repeat(depth, blocks, node.loc), site)


def repeat_depths(el: Elaborator, depth: Any, loc) -> list:
    """The depths a repeat may take (`depth` a constant or a value over choices), checked; a
    depth that is one value choice marks that decision a depth."""
    if is_expr(depth):
        labels = free_labels(depth)
        for label in labels:
            if el.decisions[label].kind == ir.VALUE and depth == Ref(label):
                el.decisions[label].kind = ir.DEPTH
        combos = math.prod(len(el.decisions[lab].values) for lab in labels)
        if combos > MAX_DOMAIN:
            raise NasTypeError(f"repeat depth depends on {combos:,} joint values of {', '.join(sorted(labels))}: "
                               f"at most {MAX_DOMAIN:,}", loc)
        try:
            depths = sorted({evaluate(depth, dict(zip(labels, combo)))
                             for combo in itertools.product(*(el.decisions[lab].values for lab in labels))})
        except (ArithmeticError, TypeError, ValueError) as err:
            raise NasTypeError(f"repeat depth {to_text(depth)} cannot be computed for every choice: {err}",
                               loc) from None
    else:
        depths = [depth]
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in depths):
        raise NasTypeError(f"repeat depth must be a non-negative integer, got {', '.join(literal(d) for d in depths)}",
                           loc)
    if max(depths) > 1000:
        raise NasTypeError("repeat depth above 1000", loc)
    return depths


def repeat_block(el: Elaborator, body: Any, depth: Any, i: int, active: bool, ctx: Ctx, loc, block_loc) -> ir.Module:
    """Block `i` of a repeat: the `body` lambda called with `i`, under the condition that the
    depth exceeds `i` where the depth may stop before it (`active`)."""
    if active:
        el.conditions.append(binary(">", depth, i))
    try:
        if isinstance(body, LambdaVal):
            value = el.call_lambda(body, [i], {}, ctx, loc)
        elif isinstance(body, (BlockVal, OpVal)):
            raise NasTypeError("repeat takes a lambda making each block, e.g. `lambda i: Block(c)`", block_loc)
        else:
            raise NasTypeError(f"repeat takes a lambda making each block, got {kind_of(body)}", block_loc,
                               hint="repeat(choice[1, 2], lambda i: Block(c, stride=2 if i == 0 else 1))")
        layer = el.expect_layer(value, block_loc)
    finally:
        if active:
            el.conditions.pop()
    n_in, n_out = ir.arity(layer.module)
    if n_in != n_out:
        raise ArityError(f"a repeated block must return as many tensors as it takes, got {n_in} in, {n_out} out",
                         block_loc)
    return layer.module


CELL_PARAMS = [("op", None), ("nodes", None), ("ops_per_node", 1), ("predecessors", 1), ("merge", "all"),
               ("preprocess", None), ("postprocess", None), ("concat_dim", 1)]


def builtin_cell(el: Elaborator, node: ast.Call, env, ctx: Ctx):
    """`cell(op, nodes, ...)`: a DARTS-style cell. Node `i` (counting the predecessors first) sums
    `ops_per_node` ops; op `k` of node `i` reads one earlier tensor (decision `prefix.input_i_k`)
    and applies the layer choice the `op` lambda returns for it (decision `prefix.op_i_k`)."""
    site = ctx.namer.next()
    bound, extra = el.bind_args("cell", CELL_PARAMS, node, reserved=("label",))
    if "op" not in bound or "nodes" not in bound:
        raise ArityError("cell needs `op` (a lambda making the candidates of one edge) and `nodes`", node.loc,
                         hint="cell(lambda input: choice { ... }, nodes=4, ops_per_node=2, predecessors=2)")
    prefix = el.label_for(ctx, site, el.eval(extra["label"], env, ctx) if "label" in extra else None,
                          extra["label"].loc if "label" in extra else node.loc)
    opts = cell_options(el, node, bound, env, ctx)
    npred = opts["predecessors"]
    pre = opts["preprocess"]
    if pre is None:
        preprocess: tuple = (None,) * npred
    else:
        if not isinstance(pre, list) or len(pre) != npred:
            raise NasTypeError(f"cell preprocess must be a list of {npred} layers (one per predecessor)",
                               bound["preprocess"].loc)
        preprocess = tuple(None if p is None else el.expect_layer(p, bound["preprocess"].loc).module for p in pre)
    post = opts["postprocess"]
    postprocess = None if post is None else el.expect_layer(post, bound["postprocess"].loc).module
    factory = el.eval(bound["op"], env, ctx)
    if not isinstance(factory, LambdaVal):
        raise NasTypeError(f"cell op must be a lambda so each edge gets its own weights, got {kind_of(factory)}",
                           bound["op"].loc,
                           hint="op=lambda input: choice { conv: Conv2d(c, c, 3, padding=1), skip: Identity() }")
    for p in factory.node.params:
        if p not in ("node", "op", "input"):
            raise ArityError(f"a cell op lambda may take node, op and input, not {p!r}", factory.node.loc)
    cell_nodes = tuple(tuple(cell_op(el, node, ctx, factory, prefix, ni, k) for k in range(opts["ops_per_node"]))
                       for ni in range(npred, npred + opts["nodes"]))
    return LayerVal(ir.Cell(cell_nodes, npred, opts["merge"], opts["concat_dim"], preprocess, postprocess,
                            prefix, node.loc), site)


def cell_options(el: Elaborator, node: ast.Call, bound: dict, env, ctx: Ctx) -> dict[str, Any]:
    """The values of `cell`'s arguments other than `op` (defaults filled in), the numbers checked."""
    opts = {}
    for pname, default in CELL_PARAMS[1:]:
        opts[pname] = el.eval(bound[pname], env, ctx) if pname in bound else default
    for pname in ("nodes", "ops_per_node", "predecessors"):
        v = opts[pname]
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 64:
            raise NasTypeError(f"cell {pname} must be an integer from 1 to 64, got {given(v)}",
                               bound[pname].loc if pname in bound else node.loc)
    if opts["merge"] not in MERGES:
        raise NasTypeError(f"cell merge must be \"all\" or \"loose_end\", got {given(opts['merge'])}",
                           bound["merge"].loc)
    if not isinstance(opts["concat_dim"], int) or isinstance(opts["concat_dim"], bool):
        raise NasTypeError("cell concat_dim must be an integer", bound["concat_dim"].loc)
    return opts


def cell_op(el: Elaborator, node: ast.Call, ctx: Ctx, factory: LambdaVal, prefix: str, ni: int, k: int) -> ir.CellOp:
    """Op `k` of cell node `ni`: its input decision and the op lambda's layer for each input it may read."""
    op_label, input_label = f"{prefix}.op_{ni}_{k}", f"{prefix}.input_{ni}_{k}"
    el.declare(input_label, ir.INPUT, tuple(range(ni)), node.loc, ni, 1)
    candidates, names, reuse = [], None, False
    known = len(el.decisions) + (op_label not in el.decisions)
    for j in range(ni):
        if j and reuse:
            candidates.append(ir.fresh(candidates[0]))
            continue
        module = cell_edge(el, node, ctx, factory, prefix, (ni, k, j))
        these = tuple(n for n, _ in module.candidates) if isinstance(module, ir.LayerChoice) else None
        if j and these != names:
            raise NasTypeError(f"cell op candidates must be the same for every input, got {these} for input {j} "
                               f"and {names} for input 0", factory.node.body.loc)
        names = these
        candidates.append(module)
        # An op lambda without `input` builds the same candidates for every input: build
        # them once, unless they declare decisions of their own (labelled per input).
        reuse = "input" not in factory.node.params and len(el.decisions) <= known
    if names is not None:  # declared once per input index; together they always apply
        el.decisions[op_label].conditions = [el.condition()]
    op = ir.CellOp(op_label if names is not None else None, input_label, tuple(candidates))
    if reuse and len(candidates) > 1:
        el.fresh_copies[id(op)] = op
    return op


def cell_edge(el: Elaborator, node: ast.Call, ctx: Ctx, factory: LambdaVal, prefix: str,
              where: tuple[int, int, int]) -> ir.Module:
    """The op lambda's layer for op `k` of node `ni` reading input `j` (`where`), built under the
    condition that the op reads that input; the layer choice it returns is labelled `prefix.op_ni_k`."""
    ni, k, j = where
    el.conditions.append(binary("==", Ref(f"{prefix}.input_{ni}_{k}"), j))
    try:
        args = {"node": ni, "op": k, "input": j}
        namer = Namer((f"op_{ni}_{k}", str(j)), 1)
        sub = Ctx(tuple(prefix.split(".")), ctx.graph, namer, ctx.unit, ctx.depth, choice_label=f"{prefix}.op_{ni}_{k}")
        value = el.call_lambda(factory, [], {p: args[p] for p in factory.node.params}, sub, node.loc)
        layer = el.expect_layer(value, factory.node.body.loc)
    finally:
        el.conditions.pop()
    if ir.arity(layer.module) != (1, 1):
        raise ArityError("a cell op must take and return one tensor", factory.node.body.loc)
    return layer.module

SITES = {"pick": builtin_pick, "repeat": builtin_repeat, "cell": builtin_cell}


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


def _range_too_long(r: range) -> bool:
    try:
        return len(r) > MAX_RANGE
    except OverflowError:  # longer than a C ssize_t
        return True
