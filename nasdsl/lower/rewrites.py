"""The supernet's rewrite passes: functions from a template's IR to the IR the builder builds.

`build_supernet` runs `rewrite(space.template, passes, context)` before building; the builder
(`supernet._Builder`) then builds what the rewritten IR says and tests no pass by name. Each
pass is one function `(template, context) -> template` in `REWRITES`, run in that order; each
keeps what is computed and changes how (`passes.py` holds the torch code the records name):

* `mixtures`       — (runs first whenever any pass is chosen) a layer choice, or a cell op, whose
                     candidates each map one tensor to one tensor becomes a `MixedChoice` /
                     `MixedCellOp` carrying a `Mix` record: the plain weighted sum, one `Term`
                     per candidate. The mixture passes below rewrite these records.
* `drop_zero`      — drops the terms of `Zero` candidates (unless every candidate is one).
* `shared_prefix`  — a term's leading pure ops (`OpSpec.pure`, fixed arguments) are its `prefix`.
* `fold_bn`        — a term whose last op is a batch norm with fixed arguments folds its weight in.
* `fused_mix`      — the terms accumulate with fused multiply-adds.
* `fast_avgpool`   — an `AvgPool2d(count_include_pad=False)` with fixed arguments becomes a
                     `FusedOp` built as `passes.OnesAvgPool2d`.
* `recompute_pure` — a term whose prefix is elementwise and whose next op saves only its inputs
                     (a convolution or linear layer) recomputes its prefix in backward.
* `input_mix`      — an input choice reducing by sum or mean becomes a `LinearPick`, computed
                     as one linear combination of its inputs.

The execution mode picks which passes run (`Mode.passes`): a path runs none of these. (One
more named pass, `channels_last`, is no rewrite: it sets the layout of the supernet's inputs.)

Example::

    >>> from nasdsl.ir import LayerChoice, Op
    >>> loc = None
    >>> choice = LayerChoice("op", (("none", Op("Zero", (), loc)), ("relu", Op("ReLU", (), loc))), loc)
    >>> rewrite(choice, ("drop_zero", "shared_prefix"), Context()).mix
    Mix(terms=(Term(index=1, prefix=1, fold_bn=False, recompute=False),), fused=False)
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from .. import ir
from ..errors import NasError
from ..ops import catalog
from ..values import free_labels

# --- the records the passes write -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Term:
    """Candidate `index` of a mixture as it is computed: its first `prefix` items computed once
    and shared, its last batch norm scaled by its weight (`fold_bn`), its prefix recomputed in
    backward instead of kept (`recompute`)."""
    index: int
    prefix: int = 0
    fold_bn: bool = False
    recompute: bool = False


@dataclass(frozen=True, slots=True)
class Mix:
    """How one weighted sum `sum_i w_i c_i(x)` is computed: its terms (a candidate without a
    term is not run) and whether they accumulate with fused multiply-adds."""
    terms: tuple[Term, ...]
    fused: bool = False

    @classmethod
    def plain(cls, n: int) -> Mix:
        """The plain sum over `n` candidates."""
        return cls(tuple(Term(i) for i in range(n)))


@dataclass(frozen=True, slots=True)
class MixedChoice(ir.LayerChoice):
    """A layer choice whose mixture is computed as `mix` says."""
    mix: Mix = field(default=Mix(()))

    def with_children(self, children: tuple[ir.Module, ...]) -> MixedChoice:
        return MixedChoice(self.label, tuple((name, m) for (name, _), m in zip(self.candidates, children)),
                           self.loc, self.mix)


@dataclass(frozen=True, slots=True)
class MixedCellOp(ir.CellOp):
    """A cell op whose mixture over each candidate's ops (one per input it may read) is
    computed as `by_input` says (None: plainly)."""
    by_input: tuple[Mix | None, ...] = ()


@dataclass(frozen=True, slots=True)
class FusedOp(ir.Op):
    """An op built as the module `passes.FUSED[fused]` makes of it (same values and state)."""
    fused: str = ""

    def with_children(self, children: tuple[ir.Module, ...]) -> FusedOp:
        return FusedOp(self.name, self.args, self.loc, self.fused)


@dataclass(frozen=True, slots=True)
class LinearPick(ir.Pick):
    """An input choice reducing by sum or mean computed as `sum_i c_i x_i`: `subsets` are the
    input subsets its values pick (None: it has one gate per input, weights per input already)."""
    subsets: tuple[tuple[int, ...], ...] | None = None


@dataclass(frozen=True)
class Context:
    """What a pass reads beyond the IR: the any-subset input choices with one gate per
    candidate (`gates`) and each decision's values (`values`, by label)."""
    gates: frozenset[str] = frozenset()
    values: Mapping[str, tuple] = field(default_factory=dict)

    @classmethod
    def of(cls, policy) -> Context:
        """The context of a supernet's architecture state (`policy.ArchState`)."""
        return cls(frozenset(policy.gates), {d.label: d.values for d in policy.space.decisions})


# --- traversal ------------------------------------------------------------------------------------

def rewrite_nodes(template: ir.Module, rule: Callable[[ir.Module], ir.Module]) -> ir.Module:
    """`template` with `rule(node)` in place of each node, bottom-up (`ir.transform`); a node
    whose children and rule leave it unchanged is kept as it is, so sharing is kept."""
    def fn(node, children):
        same = all(a is b for a, b in zip(node.children(), children))
        return rule(node if same else node.with_children(children))
    return ir.transform(template, fn)


def _items(module: ir.Module) -> tuple[ir.Module, ...]:
    return module.items if isinstance(module, ir.Sequential) else (module,)


def _fixed_op(item: ir.Module, names: Iterable[str]) -> bool:
    """An op named in `names`, of nasdsl's own, with fixed arguments and not fused."""
    return (type(item) is ir.Op and item.name in names and not any(free_labels(v) for _, v in item.args)
            and not getattr(catalog.spec(item.name), "custom", True))


def _pure(item: ir.Module) -> bool:
    """An op the record calls pure (`OpSpec.pure`), not in place, with fixed arguments."""
    record = catalog.spec(item.name) if isinstance(item, ir.Op) else None
    return (record is not None and record.pure and dict(item.args).get("inplace") is not True
            and not any(free_labels(v) for _, v in item.args))


def single(module: ir.Module) -> bool:
    """Whether a candidate maps one tensor to one tensor (what a `Mix` mixes)."""
    return not any(isinstance(n, ir.Graph) and (len(n.inputs) != 1 or len(n.outputs) != 1) for n in ir.walk(module))


def _cell_ops(module: ir.Module) -> tuple[ir.Module, ...]:
    """The ops a cell op's candidate mixes: a layer choice's candidates, or one fixed op."""
    return tuple(m for _, m in module.candidates) if isinstance(module, ir.LayerChoice) else (module,)


def _map_mixes(template: ir.Module, fn: Callable[[Mix, tuple[ir.Module, ...]], Mix]) -> ir.Module:
    """Every `Mix` record of `template` rewritten by `fn(mix, candidates)`."""
    def cell_op(op):
        if not isinstance(op, MixedCellOp):
            return op
        return replace(op, by_input=tuple(None if mix is None else fn(mix, _cell_ops(c))
                                          for mix, c in zip(op.by_input, op.candidates)))

    def rule(node):
        if isinstance(node, MixedChoice):
            return replace(node, mix=fn(node.mix, node.children()))
        if isinstance(node, ir.Cell):
            return replace(node, nodes=tuple(tuple(cell_op(op) for op in n) for n in node.nodes))
        return node
    return rewrite_nodes(template, rule)


def _map_terms(template: ir.Module, fn: Callable[[Term, tuple[ir.Module, ...]], Term]) -> ir.Module:
    """Every term of every `Mix` rewritten by `fn(term, the items of its candidate)`."""
    return _map_mixes(template, lambda mix, cands: replace(
        mix, terms=tuple(fn(t, _items(cands[t.index])) for t in mix.terms)))


# --- the passes -----------------------------------------------------------------------------------

def mixtures(template: ir.Module, context: Context) -> ir.Module:
    """Each layer choice and cell op over one-tensor candidates, marked with its plain `Mix`."""
    def cell_op(op):
        candidates = tuple(ir.LayerChoice(c.label, c.candidates, c.loc) if isinstance(c, MixedChoice) else c
                           for c in op.candidates)   # a cell mixes its ops itself
        by_input = tuple(Mix.plain(len(_cell_ops(c))) if all(single(m) for m in _cell_ops(c)) else None
                         for c in candidates)
        return MixedCellOp(op.op_label, op.input_label, candidates, by_input)

    def rule(node):
        if type(node) is ir.LayerChoice and all(single(c) for c in node.children()):
            return MixedChoice(node.label, node.candidates, node.loc, Mix.plain(len(node.candidates)))
        if isinstance(node, ir.Cell):
            return replace(node, nodes=tuple(tuple(cell_op(op) for op in n) for n in node.nodes))
        return node
    return rewrite_nodes(template, rule)


def drop_zero(template: ir.Module, context: Context) -> ir.Module:
    """A `Zero` candidate's term dropped (its weight still enters the softmax)."""
    def fn(mix, candidates):
        kept = tuple(t for t in mix.terms if not (isinstance(candidates[t.index], ir.Op)
                                                  and candidates[t.index].name == "Zero"))
        return replace(mix, terms=kept) if kept else mix   # all zero: the plain sum gives the shape
    return _map_mixes(template, fn)


def shared_prefix(template: ir.Module, context: Context) -> ir.Module:
    """A term's leading pure ops as its shared prefix."""
    def fn(term, items):
        n = 0
        while n < len(items) and _pure(items[n]):
            n += 1
        return replace(term, prefix=n)
    return _map_terms(template, fn)


FOLDABLE = ("BatchNorm1d", "BatchNorm2d")


def fold_bn(template: ir.Module, context: Context) -> ir.Module:
    """A term ending in a batch norm (after its prefix) folds its weight into the norm."""
    def fn(term, items):
        body = items[term.prefix:]
        return replace(term, fold_bn=bool(body) and _fixed_op(body[-1], FOLDABLE))
    return _map_terms(template, fn)


def fused_mix(template: ir.Module, context: Context) -> ir.Module:
    """Every mixture accumulated with fused multiply-adds."""
    return _map_mixes(template, lambda mix, candidates: replace(mix, fused=True))


def fast_avgpool(template: ir.Module, context: Context) -> ir.Module:
    """`AvgPool2d(count_include_pad=False)` (no ceil mode, no divisor) as `OnesAvgPool2d`."""
    def rule(node):
        if _fixed_op(node, ("AvgPool2d",)):
            args = dict(node.args)
            if (args.get("count_include_pad") is False and args.get("ceil_mode", False) is False
                    and args.get("divisor_override") is None):
                return FusedOp(node.name, node.args, node.loc, "OnesAvgPool2d")
        return node
    return rewrite_nodes(template, rule)


SAVE_INPUTS_ONLY = ("Conv1d", "Conv2d", "Conv3d", "Linear")   # their backward never reads their output


def recompute_pure(template: ir.Module, context: Context) -> ir.Module:
    """An elementwise prefix read by an op that saves only its inputs, recomputed in backward."""
    def fn(term, items):
        body = items[term.prefix:len(items) - term.fold_bn]
        ok = (term.prefix > 0 and all(catalog.spec(i.name).elementwise for i in items[:term.prefix])
              and bool(body) and _fixed_op(body[0], SAVE_INPUTS_ONLY))
        return replace(term, recompute=ok)
    return _map_terms(template, fn)


def input_mix(template: ir.Module, context: Context) -> ir.Module:
    """Each input choice reducing by sum or mean as a `LinearPick`."""
    def pick(n):
        if type(n) is not ir.Pick or n.reduce not in ("sum", "mean"):
            return n
        subsets = None if n.label in context.gates else tuple(
            (v,) if isinstance(v, int) else tuple(v) for v in context.values[n.label])
        return LinearPick(n.out, n.label, n.inputs, n.n, n.reduce, n.loc, subsets)

    def rule(node):
        if isinstance(node, ir.Graph) and any(type(n) is ir.Pick for n in node.nodes):
            return replace(node, nodes=tuple(pick(n) for n in node.nodes))
        return node
    return rewrite_nodes(template, rule)


# the named passes, in the order they run (`mixtures` first, whenever any runs)
REWRITES: dict[str, Callable[[ir.Module, Context], ir.Module]] = {
    "drop_zero": drop_zero, "shared_prefix": shared_prefix, "fold_bn": fold_bn, "fused_mix": fused_mix,
    "fast_avgpool": fast_avgpool, "recompute_pure": recompute_pure, "input_mix": input_mix,
}
PASSES = (*REWRITES, "channels_last")
# run unless told otherwise. Only when named: recompute_pure, a trade of time for memory (NB201
# darts, batch 64: ~8% more CPU time per step for ~5% less step memory), like `checkpoint=True`
DEFAULT_PASSES = tuple(p for p in PASSES if p != "recompute_pure")


def check_passes(passes: Iterable[str]) -> frozenset[str]:
    """The set of passes to run; an unknown name is an error naming the known ones."""
    chosen = frozenset(passes)
    unknown = sorted(chosen - set(PASSES))
    if unknown:
        raise NasError(f"unknown supernet pass {unknown[0]!r}; passes: {', '.join(PASSES)}")
    return chosen


def rewrite(template: ir.Module, passes: Iterable[str], context: Context) -> ir.Module:
    """`template` through `mixtures` (when any pass is named) and then each named pass of
    `REWRITES`, in its order."""
    chosen = frozenset(passes)
    if chosen:
        template = mixtures(template, context)
    for name, fn in REWRITES.items():
        if name in chosen:
            template = fn(template, context)
    return template
