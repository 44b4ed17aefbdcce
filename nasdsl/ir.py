"""The IR: a search space as data, with no torch in sight.

Two parts, both frozen dataclasses:

* the **decisions** — every point where an architecture is chosen (`Decision`: label, kind,
  domain, the condition under which it is active) and the `Constraint`s over them;
* the **module template** — the network with decisions referenced by label: `Op` leaves
  (torch modules by name), `Sequential`, `Graph` (named dataflow), `LayerChoice`, `Repeat`,
  `Cell`. Op arguments are values (`nasdsl.values`): constants or expressions over decisions.

Lowerings walk the template; strategies and the command line use the decisions alone.

One traversal serves every pass: each template node lists its sub-modules with `children()`
and rebuilds itself around new ones with `with_children(...)`. `walk` visits every distinct
node once and `transform` rebuilds a template bottom-up; both go by identity, so a module
used in two places (shared weights) is visited once and stays shared.

Example::

    >>> from nasdsl import loads
    >>> space = loads('network(x: [4]) = x -> Linear(4, choice[8, 16])')
    >>> space.decisions[0]
    Decision(label='out.out_features', kind='value', values=(8, 16), ...)
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import Loc
from .values import Ref, Value, binary, if_else

# --- decisions ----------------------------------------------------------------------------

LAYER, VALUE, INPUT, DEPTH = "layer", "value", "input", "depth"


@dataclass(frozen=True, slots=True)
class Decision:
    """One independent choice of the space.

    `values` is the domain in declaration order: candidate names for a layer choice, the
    options of a value choice, depths of a repeat, and for an input choice the chosen
    candidate index (n = 1) or sorted tuples of indices (n > 1, or any non-empty subset).
    `condition` is `True` when always active, else a boolean value over other decisions.
    """

    label: str
    kind: str
    values: tuple
    condition: Value = True
    locs: tuple[Loc, ...] = field(default=(), repr=False, compare=False)
    n_candidates: int = 0          # input choices: how many tensors to choose from
    n_chosen: int | None = 1       # input choices: how many are chosen (None: any subset)

    @property
    def loc(self) -> Loc:
        return self.locs[0]


@dataclass(frozen=True, slots=True)
class Constraint:
    """`require EXPR` / `forbid EXPR` over decisions (and, for budgets, `params`/`flops`).

    A constraint that mentions a decision inactive under the architecture does not apply.
    """

    kind: str  # "require" | "forbid"
    expr: Value
    message: str | None
    loc: Loc = field(repr=False, compare=False)

    @property
    def is_budget(self) -> bool:
        from .values import free_labels
        return any(label.startswith("@") for label in free_labels(self.expr))


# --- module template ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Op:
    """A leaf module: a catalog op (`Conv2d`, `Zero`, ...) or a registered custom op.

    `args` holds every argument by keyword, in the op's signature order.
    """

    name: str
    args: tuple[tuple[str, Value], ...]
    loc: Loc = field(repr=False, compare=False)

    def children(self) -> tuple[Module, ...]:
        return ()

    def with_children(self, children: tuple[Module, ...]) -> Op:
        return Op(self.name, self.args, self.loc)  # (the constructor: `replace` costs 3x, per copied op)


@dataclass(frozen=True, slots=True)
class Sequential:
    items: tuple[Module, ...]
    loc: Loc = field(repr=False, compare=False)

    def children(self) -> tuple[Module, ...]:
        return self.items

    def with_children(self, children: tuple[Module, ...]) -> Sequential:
        return Sequential(tuple(children), self.loc)


@dataclass(frozen=True, slots=True)
class TensorIn:
    name: str
    shape: tuple[Value, ...] | None
    loc: Loc = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Apply:
    """`outs = module(inputs)`; `module` names an entry of the graph's `modules`."""
    outs: tuple[str, ...]
    module: str
    inputs: tuple[str, ...]
    loc: Loc = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Combine:
    """`out = a + b`, `a * b`, `cat(..., dim)` or `mean(...)` of tensors."""
    out: str
    fn: str  # "sum" | "mul" | "cat" | "mean"
    inputs: tuple[str, ...]
    dim: int
    loc: Loc = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Pick:
    """An input choice: `n` of the candidate tensors, merged by `reduce`."""
    out: str
    label: str
    inputs: tuple[str, ...]
    n: int | None
    reduce: str  # "sum" | "mean" | "concat" | "none"
    loc: Loc = field(repr=False, compare=False)


Node = Apply | Combine | Pick


@dataclass(frozen=True, slots=True)
class Graph:
    """Named dataflow: a block with tensor inputs, or the network itself."""
    inputs: tuple[TensorIn, ...]
    modules: tuple[tuple[str, Module], ...]
    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]
    loc: Loc = field(repr=False, compare=False)
    block: str | None = field(default=None, repr=False, compare=False)  # the block it is the body of

    def children(self) -> tuple[Module, ...]:
        return tuple(m for _, m in self.modules)

    def with_children(self, children: tuple[Module, ...]) -> Graph:
        return Graph(self.inputs, tuple((name, m) for (name, _), m in zip(self.modules, children)), self.nodes,
                     self.outputs, self.loc, self.block)


@dataclass(frozen=True, slots=True)
class LayerChoice:
    label: str
    candidates: tuple[tuple[str, Module], ...]
    loc: Loc = field(repr=False, compare=False)

    def children(self) -> tuple[Module, ...]:
        return tuple(m for _, m in self.candidates)

    def with_children(self, children: tuple[Module, ...]) -> LayerChoice:
        return LayerChoice(self.label, tuple((name, m) for (name, _), m in zip(self.candidates, children)), self.loc)


@dataclass(frozen=True, slots=True)
class Repeat:
    """`blocks` applied in sequence; only the first `depth` run. `depth` is an int or a value."""
    depth: Value
    blocks: tuple[Module, ...]
    loc: Loc = field(repr=False, compare=False)

    def children(self) -> tuple[Module, ...]:
        return self.blocks

    def with_children(self, children: tuple[Module, ...]) -> Repeat:
        return Repeat(self.depth, tuple(children), self.loc)


@dataclass(frozen=True, slots=True)
class CellOp:
    """Op `k` of one cell node: a choice of op (`op_label`) applied to a chosen input."""
    op_label: str | None            # None when the op is fixed
    input_label: str
    candidates: tuple[Module, ...]  # one module per input index the op may read


@dataclass(frozen=True, slots=True)
class Cell:
    """A DARTS / NNI cell: each node sums `ops_per_node` ops, each reading one earlier tensor."""
    nodes: tuple[tuple[CellOp, ...], ...]
    num_predecessors: int
    merge: str  # "all" | "loose_end"
    concat_dim: int
    preprocess: tuple[Module | None, ...]
    postprocess: Module | None
    label: str
    loc: Loc = field(repr=False, compare=False)

    def children(self) -> tuple[Module, ...]:
        """Preprocessors, every candidate of every op (node by node), the postprocessor."""
        out = [p for p in self.preprocess if p is not None]
        out += [c for node in self.nodes for op in node for c in op.candidates]
        if self.postprocess is not None:
            out.append(self.postprocess)
        return tuple(out)

    def with_children(self, children: tuple[Module, ...]) -> Cell:
        it = iter(children)
        preprocess = tuple(None if p is None else next(it) for p in self.preprocess)
        nodes = tuple(tuple(replace(op, candidates=tuple(next(it) for _ in op.candidates)) for op in node)
                      for node in self.nodes)
        postprocess = None if self.postprocess is None else next(it)
        return replace(self, preprocess=preprocess, nodes=nodes, postprocess=postprocess)


Module = Op | Sequential | Graph | LayerChoice | Repeat | Cell


def walk(root: Module) -> Iterator[Module]:
    """Every distinct node of a template once (by identity), parents before their children,
    children in order.

    Example::

        >>> from nasdsl import loads
        >>> space = loads('network(x: [4]) = x -> Linear(4, 8) -> choice { a: ReLU(), b: Tanh() }')
        >>> [type(m).__name__ for m in walk(space.template)]
        ['Graph', 'Op', 'LayerChoice', 'Op', 'Op']
    """
    seen: set[int] = set()
    stack = [root]
    while stack:
        m = stack.pop()
        if id(m) in seen:
            continue
        seen.add(id(m))
        yield m
        stack.extend(reversed(m.children()))


def transform(root: Module, fn: Callable[[Module, tuple[Module, ...]], Module],
              memo: dict[int, Any] | None = None) -> Module:
    """Rebuild a template bottom-up: `fn(node, new_children)` returns the node's replacement,
    given its children already transformed. Memoised by identity, so a shared module is
    transformed once and stays shared. `transform(m, lambda m, kids: m.with_children(kids))`
    is a deep copy made of new objects (a lowering gives each IR object its own weights).
    `memo`, if given, is the memo itself (id of a node -> its replacement), filled in place: a
    node already in it is not visited, nor anything below it. So a caller can decide some
    replacements beforehand (the cache's writer leaves out the candidates a cell op copied
    from its first, `nasdsl.cache_codec`) and share the work of several calls."""
    memo = {} if memo is None else memo

    def go(m: Module) -> Module:
        key = id(m)
        hit = memo.get(key)
        if hit is None:
            children = m.children()
            hit = memo[key] = fn(m, tuple([go(c) for c in children]) if children else ())
        return hit

    try:
        return go(root)
    finally:  # `go` calls itself, a reference cycle: cut, or the memo and `fn` live until a collection
        go = None


def fresh(m: Module) -> Module:
    """Module `m` rebuilt from new IR objects (`transform`'s deep copy). Lowering builds one
    torch module per IR object, so a fresh copy gets weights of its own (shared within the
    copy as within `m`): how the elaborator gives each op of a cell its own candidates."""
    return transform(m, lambda node, children: node.with_children(children))


def merged_nodes(cell: Cell, read: Callable[[str], int]) -> list[int]:
    """The states a cell concatenates, given what each op's input decision took (`read(label)`):
    every node (`merge="all"`), or the loose ends, the nodes no op reads. The one statement of
    the merge rule that the discrete model, the exporter, costs and the genotype format share;
    `is_loose_end` / `merged_count` state it as values over the decisions."""
    first, total = cell.num_predecessors, cell.num_predecessors + len(cell.nodes)
    if cell.merge == "all":
        return list(range(first, total))
    used = {read(op.input_label) for node in cell.nodes for op in node}
    return [i for i in range(first, total) if i not in used]


def is_loose_end(cell: Cell, node: int) -> Value:
    """Whether no later op of `cell` reads `node` (an index counting the predecessors): a
    boolean value over the cell's input decisions. A `loose_end` cell concatenates exactly
    these nodes, so its output width is `sum(width if is_loose_end else 0)`."""
    loose: Value = True
    for later in cell.nodes[node - cell.num_predecessors + 1:]:
        for op in later:
            loose = binary("and", loose, binary("!=", Ref(op.input_label), node))
    return loose


def merged_count(cell: Cell) -> Value:
    """How many nodes `cell` concatenates: all of them, or (loose_end) a value over its inputs."""
    total = len(cell.nodes)
    if cell.merge == "all":
        return total
    nodes = range(cell.num_predecessors, cell.num_predecessors + total)
    terms = [if_else(is_loose_end(cell, i), 1, 0) for i in nodes]
    count = terms[0]
    for term in terms[1:]:
        count = binary("+", count, term)
    return count


def arity(module: Module) -> tuple[int, int]:
    """(number of tensor inputs, number of tensor outputs) of a module."""
    if isinstance(module, Op):
        return 1, 1
    if isinstance(module, Graph):
        return len(module.inputs), len(module.outputs)
    if isinstance(module, Sequential):
        return arity(module.items[0])[0], arity(module.items[-1])[1]
    if isinstance(module, LayerChoice):
        return arity(module.candidates[0][1])
    if isinstance(module, Repeat):
        return arity(module.blocks[0]) if module.blocks else (1, 1)
    if isinstance(module, Cell):
        return module.num_predecessors, 1
    return 1, 1
