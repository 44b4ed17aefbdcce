"""The supernet's rewrite passes: rewrites of a template's IR into the IR the builder builds.

`build_supernet` runs `rewrite(space.template, passes, context)` before building; the builder
(`supernet._Builder`) then builds what the rewritten IR says and tests no pass by name. Each
pass keeps what is computed and changes how (`passes.py` holds the torch code the records
name). Two tables, run in their order:

`mixtures(template, rules)` (first, whenever any pass is named) marks each layer choice, and
each cell op, whose candidates map one tensor to one tensor: a `MixedChoice` / `MixedCellOp`
carrying a `Mix` record, the plain weighted sum (one `Term` per candidate) put through the
named rules of `MIX_RULES`, each a function `(mix, candidates) -> mix`:

* `drop_zero`      — drops the terms of `Zero` candidates (unless every candidate is one).
* `shared_prefix`  — a term's leading pure ops (`OpSpec.pure`, fixed arguments) are its `prefix`.
* `fold_bn`        — a term whose last op is a batch norm with fixed arguments folds its weight in.
* `fused_mix`      — the terms accumulate with fused multiply-adds.
* `recompute_pure` — a term whose prefix is elementwise and whose next op saves only its inputs
                     (a convolution or linear layer) recomputes its prefix in backward.

Then the named passes of `IR_PASSES`, each a function `(template, context) -> template`:

* `fast_avgpool`   — an `AvgPool2d(count_include_pad=False)` with fixed arguments becomes a
                     `FusedOp` built as `passes.OnesAvgPool2d`.
* `input_mix`      — an input choice reducing by sum or mean becomes a `LinearPick`, computed
                     as one linear combination of its inputs.

(The rules read op names and arguments only, which `fast_avgpool` keeps, so all of them run in
one walk of the IR.) The execution mode picks which passes run (`Mode.passes`): a path runs
none of these. One more named pass, `channels_last`, is no rewrite: it sets the layout of the
supernet's inputs (`Supernet.forward`).

Example::

    >>> from nasdsl.ir import LayerChoice, Op
    >>> loc = None
    >>> choice = LayerChoice("op", (("none", Op("Zero", (), loc)), ("relu", Op("ReLU", (), loc))), loc)
    >>> rewrite(choice, ("drop_zero", "shared_prefix"), Context()).mix
    Mix(terms=(Term(index=1, prefix=1, fold_bn=False, recompute=False),), fused=False)
    >>> drop_zero(Mix.plain(2), (choice.candidates[0][1], choice.candidates[1][1]))
    Mix(terms=(Term(index=1, prefix=0, fold_bn=False, recompute=False),), fused=False)
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


def _terms(mix: Mix, candidates: tuple[ir.Module, ...], fn: Callable[[Term, tuple], Term]) -> Mix:
    """`mix` with each term rewritten by `fn(term, the items of its candidate)`."""
    return Mix(tuple(fn(t, _items(candidates[t.index])) for t in mix.terms), mix.fused)


# --- the passes -----------------------------------------------------------------------------------

MixRule = Callable[[Mix, tuple[ir.Module, ...]], Mix]


def mixtures(template: ir.Module, rules: Iterable[MixRule] = ()) -> ir.Module:
    """Each layer choice and cell op over one-tensor candidates marked with its `Mix`: the
    plain sum put through `rules` in order (a cell's layer choices are mixed by the cell)."""
    rules = tuple(rules)

    def mix(candidates):
        if not all(single(c) for c in candidates):
            return None
        out = Mix.plain(len(candidates))
        for rule in rules:
            out = rule(out, candidates)
        return out

    def cell_op(op):   # a cell mixes its ops itself, per input: its layer choices lose their marks
        by_input = tuple(c.mix if isinstance(c, MixedChoice) else mix(_cell_ops(c)) for c in op.candidates)
        candidates = tuple(ir.LayerChoice(c.label, c.candidates, c.loc) if isinstance(c, MixedChoice) else c
                           for c in op.candidates)
        return MixedCellOp(op.op_label, op.input_label, candidates, by_input)

    def rule(node):
        if type(node) is ir.LayerChoice:
            plan = mix(node.children())
            return node if plan is None else MixedChoice(node.label, node.candidates, node.loc, plan)
        if isinstance(node, ir.Cell):
            return replace(node, nodes=tuple(tuple(cell_op(op) for op in n) for n in node.nodes))
        return node
    return rewrite_nodes(template, rule)


def drop_zero(mix: Mix, candidates: tuple[ir.Module, ...]) -> Mix:
    """A `Zero` candidate's term dropped (its weight still enters the softmax)."""
    kept = tuple(t for t in mix.terms if not (isinstance(candidates[t.index], ir.Op)
                                              and candidates[t.index].name == "Zero"))
    return replace(mix, terms=kept) if kept else mix   # all zero: the plain sum gives the shape


def shared_prefix(mix: Mix, candidates: tuple[ir.Module, ...]) -> Mix:
    """A term's leading pure ops as its shared prefix."""
    def fn(term, items):
        n = 0
        while n < len(items) and _pure(items[n]):
            n += 1
        return Term(term.index, n, term.fold_bn, term.recompute)   # (the constructor: `replace` costs 3x)
    return _terms(mix, candidates, fn)


FOLDABLE = ("BatchNorm1d", "BatchNorm2d")


def fold_bn(mix: Mix, candidates: tuple[ir.Module, ...]) -> Mix:
    """A term ending in a batch norm (after its prefix) folds its weight into the norm."""
    def fn(term, items):
        body = items[term.prefix:]
        return Term(term.index, term.prefix, bool(body) and _fixed_op(body[-1], FOLDABLE), term.recompute)
    return _terms(mix, candidates, fn)


def fused_mix(mix: Mix, candidates: tuple[ir.Module, ...]) -> Mix:
    """The mixture accumulated with fused multiply-adds."""
    return replace(mix, fused=True)


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


def recompute_pure(mix: Mix, candidates: tuple[ir.Module, ...]) -> Mix:
    """An elementwise prefix read by an op that saves only its inputs, recomputed in backward."""
    def fn(term, items):
        body = items[term.prefix:len(items) - term.fold_bn]
        ok = (term.prefix > 0 and all(catalog.spec(i.name).elementwise for i in items[:term.prefix])
              and bool(body) and _fixed_op(body[0], SAVE_INPUTS_ONLY))
        return Term(term.index, term.prefix, term.fold_bn, ok)
    return _terms(mix, candidates, fn)


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


# the named passes, each table in the order it runs
MIX_RULES: dict[str, MixRule] = {"drop_zero": drop_zero, "shared_prefix": shared_prefix, "fold_bn": fold_bn,
                                 "fused_mix": fused_mix, "recompute_pure": recompute_pure}
IR_PASSES: dict[str, Callable[[ir.Module, Context], ir.Module]] = {"fast_avgpool": fast_avgpool,
                                                                   "input_mix": input_mix}
PASSES = ("drop_zero", "shared_prefix", "fold_bn", "fused_mix", "fast_avgpool", "recompute_pure", "input_mix",
          "channels_last")
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
    """`template` through `mixtures` with the named `MIX_RULES` (when any pass is named), then
    through each named pass of `IR_PASSES`, in the tables' order."""
    chosen = frozenset(passes)
    if chosen:
        template = mixtures(template, [rule for name, rule in MIX_RULES.items() if name in chosen])
    for name, fn in IR_PASSES.items():
        if name in chosen:
            template = fn(template, context)
    return template
