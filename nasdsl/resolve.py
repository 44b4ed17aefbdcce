"""Resolve once: a space specialised to one architecture, with no choice left in it.

`resolve(space, arch)` walks the module template a single time for one architecture and
returns a small choice-free structure: each layer choice replaced by its chosen candidate, each
repeat cut to its depth, each input choice reduced to the tensors it reads, each cell wired,
its merged nodes decided, and every op argument evaluated to a constant. The three consumers
of one architecture read this and nothing else:

* `nasdsl.lower.discrete.build` turns it into `nn.Module`s (one per record),
* `nasdsl.lower.export.export_source` writes it as PyTorch source,
* `nasdsl.analysis.shapes.costs` counts its parameters and FLOPs.

A template node used in two places (shared weights) resolves to one record used in two
places, so the model holds one module there and the costs count its parameters once.
No torch here.

Example::

    >>> space = nasdsl.load("nasbench201", {"C": 8, "N": 1})
    >>> root = resolve(space, space.sample(seed=0))
    >>> type(root).__name__, root.inputs, list(root.modules)[:3]
    ('Graph', ('x',), ['stem.0', 'stem.1', 'cells.0'])
    >>> stem = root.modules["stem.0"]
    >>> stem.name, stem.args["out_channels"], stem.source.loc.line
    ('Conv2d', 8, 44)
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from . import ir
from .errors import ArchitectureError, NasError
from .values import evaluate

__all__ = ["Op", "Chain", "Graph", "Cell", "Step", "Node", "resolve", "resolve_template", "picked"]


@dataclass(eq=False, slots=True)
class Op:
    """One op with constant arguments. `source` is the template's op (None for the identity a
    cell puts where it has no preprocessor or postprocessor)."""
    name: str
    args: dict[str, Any]
    source: ir.Op | None = None


@dataclass(eq=False, slots=True)
class Chain:
    """Modules applied one after another (a sequence, or a repeat cut to its depth). `multi`:
    some step takes or returns several tensors."""
    items: list[Node]
    multi: bool


class Step(NamedTuple):
    """One step of a graph: `kind` is "apply" (run module `target`), "pick" (an input choice,
    `target` its label, `extra` its `(reduce, number of candidates)`), or a combination
    ("sum", "mul", "cat", "mean"; `extra` the dimension). `inputs` are the tensors it reads
    (for a pick, the chosen ones only)."""
    kind: str
    target: str | None
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    extra: Any
    source: ir.Node


@dataclass(eq=False, slots=True)
class Graph:
    """Named dataflow. `modules`: only those some step applies, in template order."""
    source: ir.Graph
    modules: dict[str, Node]
    steps: list[Step]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(eq=False, slots=True)
class Cell:
    """A wired cell: `wiring[n]` lists `(op name, state index it reads)` for node n, `merge`
    the states concatenated along `source.concat_dim`."""
    source: ir.Cell
    preprocess: list[Node]
    ops: dict[str, Node]
    wiring: list[list[tuple[str, int]]]
    merge: list[int]
    postprocess: Node


Node = Op | Chain | Graph | Cell


def picked(node: ir.Pick, value: Any) -> tuple[str, ...]:
    """The tensors an input choice reads when it takes `value` (an index or indices)."""
    indices = (value,) if isinstance(value, int) else tuple(value)
    return tuple(node.inputs[i] for i in indices)


def resolve(space, arch: Mapping[str, Any], validate: bool = True) -> Graph:
    """The network of `space` for one architecture (validated first unless `validate=False`,
    in which case it must be canonical, as `Space.validate` returns it)."""
    if validate:
        arch = space.validate(arch)
    return resolve_template(space.template, arch)


def resolve_template(template: ir.Module, arch: Mapping[str, Any]) -> Node:
    """`resolve` on any template node, for an architecture that sets every decision it reads."""
    return _Resolver(arch).module(template)


def _identity() -> Op:
    return Op("Identity", {})


class _Resolver:
    def __init__(self, arch: Mapping[str, Any]):
        # input choices of several tensors are lists in JSON, tuples in the decision domains
        self.arch = {k: tuple(v) if isinstance(v, list) else v for k, v in arch.items()}
        self.memo: dict[int, Node] = {}

    def value(self, v: Any, where: Any) -> Any:
        try:
            return evaluate(v, self.arch)
        except KeyError as err:
            raise NasError(f"value depends on decision {err.args[0]!r}, which this architecture does not set",
                           where.loc) from None

    def chosen(self, label: str) -> Any:
        try:
            return self.arch[label]
        except KeyError:
            raise ArchitectureError(f"decision {label!r} is missing") from None

    def module(self, m: ir.Module) -> Node:
        hit = self.memo.get(id(m))
        if hit is None:
            hit = self.memo[id(m)] = _RESOLVE[type(m)](self, m)
        return hit

    def op(self, m: ir.Op) -> Op:
        return Op(m.name, {k: self.value(v, m) for k, v in m.args}, m)

    def sequential(self, m: ir.Sequential) -> Chain:
        return Chain([self.module(item) for item in m.items], any(ir.arity(item) != (1, 1) for item in m.items))

    def layer_choice(self, m: ir.LayerChoice) -> Node:
        return self.module(dict(m.candidates)[self.chosen(m.label)])

    def repeat(self, m: ir.Repeat) -> Chain:
        blocks = m.blocks[:self.value(m.depth, m)]
        multi = ir.arity(m) != (1, 1) or any(ir.arity(b) != (1, 1) for b in blocks)
        return Chain([self.module(b) for b in blocks], multi)

    def graph(self, g: ir.Graph) -> Graph:
        used = {n.module for n in g.nodes if isinstance(n, ir.Apply)}
        modules = {name: self.module(m) for name, m in g.modules if name in used}
        steps = []
        for n in g.nodes:
            if isinstance(n, ir.Apply):
                steps.append(Step("apply", n.module, n.inputs, n.outs, None, n))
            elif isinstance(n, ir.Combine):
                steps.append(Step(n.fn, None, n.inputs, (n.out,), n.dim, n))
            else:
                steps.append(Step("pick", n.label, picked(n, self.chosen(n.label)), (n.out,),
                                  (n.reduce, len(n.inputs)), n))
        return Graph(g, modules, steps, tuple(t.name for t in g.inputs), g.outputs)

    def cell(self, c: ir.Cell) -> Cell:
        preprocess = [_identity() if p is None else self.module(p) for p in c.preprocess]
        ops: dict[str, Node] = {}
        wiring = []
        for ni, node in enumerate(c.nodes, start=c.num_predecessors):
            entries = []
            for k, op in enumerate(node):
                j = self.chosen(op.input_label)
                ops[f"op_{ni}_{k}"] = self.module(op.candidates[j])
                entries.append((f"op_{ni}_{k}", j))
            wiring.append(entries)
        post = _identity() if c.postprocess is None else self.module(c.postprocess)
        return Cell(c, preprocess, ops, wiring, ir.merged_nodes(c, self.chosen), post)


_RESOLVE = {ir.Op: _Resolver.op, ir.Sequential: _Resolver.sequential, ir.LayerChoice: _Resolver.layer_choice,
            ir.Repeat: _Resolver.repeat, ir.Graph: _Resolver.graph, ir.Cell: _Resolver.cell}
