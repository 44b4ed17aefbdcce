"""DARTS's relaxation of a cell: one architecture vector per edge, a softmax over its ops.

A `cell(...)` (DARTS / NNI cell: `nodes`, `ops_per_node`, `predecessors`) decides, for each op
slot `k` of node `i`, an input `j < i` and an op. In the mixture mode that choice is relaxed as
the DARTS paper does (Liu, Simonyan & Yang 2019, eq. 1-2), not slot by slot: every edge
`(i, j)` carries one vector `alpha_ij` over the edge's candidate ops plus one zero op (the edge
unused, as DARTS's `none` and NNI 3.0's `DifferentiableMixedCell`), the edge computes
`sum_o softmax(alpha_ij)_o op_o(x_j)`, and node `i` is the sum of its incoming edges. The
cell's own decisions (`op_i_k`, `input_i_k`) get no parameters; the DARTS space gets 14 edges x
8 = 112 per cell type, as NNI's DARTS strategy has.

`genotype()` is DARTS's `genotype()`: node `i` keeps its `ops_per_node` strongest edges, an
edge's strength being the weight of its best op other than the zero op and the space's own
`Zero()` candidates, each edge with that op; the strongest edge fills slot 0, the next slot
1, ... Distinct edges come first; a node with fewer incoming edges than slots reuses the
strongest (edge, op) pairs left. `slot_probs()` gives each slot's marginal under the edges
(its op: the node's edge weights summed and renormalised; its input: each edge's weight off
the zero op, renormalised), differentiable, for penalties and `log_probs`.

A cell is relaxed by edges when every slot of a node offers the same ops on each input (the
DARTS mixed op), its slots all choose an op or all run a fixed one, each input choice reads
one of all the earlier tensors, and its labels are its own (no other cell or choice shares
them); any other cell keeps the per-slot relaxation, also available for every cell by name
(`build_supernet(space, "mixture", cells="slot")`).

Example::

    >>> import nasdsl
    >>> space = nasdsl.load("examples/small_cell.nas")
    >>> cells = relaxed_cells(space)
    >>> sorted(cells), cells["normal"].names
    (['normal', 'reduce'], ('conv3', 'conv5', 'maxpool', 'avgpool', 'skip', 'none'))
    >>> [node.edges for node in cells["normal"].nodes][:2]
    [('normal.edge_2_0', 'normal.edge_2_1'), ('normal.edge_3_0', 'normal.edge_3_1', 'normal.edge_3_2')]
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import ir

RELAXATIONS = ("edge", "slot")


@dataclass(frozen=True, slots=True)
class EdgeNode:
    """Node `index` of a relaxed cell: its op slots and its incoming edges' parameter labels."""
    index: int
    slots: tuple[tuple[str | None, str], ...]   # (op label or None for a fixed op, input label) per slot
    edges: tuple[str, ...]                      # edges[j]: the label of alpha_{index, j}


@dataclass(frozen=True, slots=True)
class CellEdges:
    """A cell relaxed by edges: the ops of each edge (then the zero op) and its nodes."""
    label: str
    names: tuple[str, ...]     # every edge's candidate ops, in the space's order, then the zero op
    counted: tuple[bool, ...]  # per op of `names`: may carry the edge in the genotype (not a zero op)
    nodes: tuple[EdgeNode, ...]

    def decision_labels(self) -> list[str]:
        """The cell's own decisions: every slot's op and input labels."""
        return [lab for node in self.nodes for op, inp in node.slots for lab in (op, inp) if lab is not None]

    def edge_labels(self) -> list[str]:
        return [e for node in self.nodes for e in node.edges]


def relaxed_cells(space) -> dict[str, CellEdges]:
    """The cells of `space` that the edge relaxation applies to (see the module docstring),
    by cell label; cells sharing a label share their edges."""
    cells: dict[str, ir.Cell] = {}
    owners: dict[str, set[str]] = {}   # decision label -> the cell labels (or "") that use it
    nodes = list(ir.walk(space.template))
    slot_choices = {id(c) for n in nodes if isinstance(n, ir.Cell) for ops in n.nodes for op in ops
                    for c in op.candidates}   # a slot's op choice is the cell's own
    for node in nodes:
        if id(node) in slot_choices:
            continue
        if isinstance(node, ir.Cell):
            cells.setdefault(node.label, node)
            for slots in node.nodes:
                for op in slots:
                    for lab in (op.op_label, op.input_label):
                        if lab is not None:
                            owners.setdefault(lab, set()).add(node.label)
        elif isinstance(node, (ir.LayerChoice, ir.Pick)):
            owners.setdefault(node.label, set()).add("")
    out = {}
    for label, cell in cells.items():
        relaxed = _relax(space, cell)
        if relaxed is not None and all(owners[lab] == {label} for lab in relaxed.decision_labels()):
            out[label] = relaxed
    return out


def _relax(space, cell: ir.Cell) -> CellEdges | None:
    """`cell` relaxed by edges, or None where the edge relaxation does not apply to it (its
    nodes' slots are not one mixed op per edge, or its edges do not all offer the same ops)."""
    names: tuple[str, ...] | None = None
    zero: tuple[bool, ...] = ()
    nodes = []
    for i, slots in enumerate(cell.nodes, start=cell.num_predecessors):
        if not _one_mixed_op_per_edge(space, slots, i):
            return None
        offered = [cell_ops(candidate) for candidate in slots[0].candidates]   # per input
        if names is None and offered:
            names, zero = _op_names(offered[0]), tuple(_is_zero(m) for _, m in offered[0])
        if any(_op_names(ops) != names for ops in offered):
            return None
        nodes.append(EdgeNode(i, tuple((op.op_label, op.input_label) for op in slots),
                              tuple(f"{cell.label}.edge_{i}_{j}" for j in range(i))))
    if names is None:
        return None
    counted = tuple(not z for z in zero) if not all(zero) else tuple(True for _ in zero)
    none = "none" if "none" not in names else "none_edge"
    return CellEdges(cell.label, names + (none,), counted + (False,), tuple(nodes))


def _one_mixed_op_per_edge(space, slots: tuple[ir.CellOp, ...], i: int) -> bool:
    """Whether the op slots of node `i` are one mixed op on each of its `i` incoming edges:
    every slot offers the same ops on each earlier tensor, all slots choose their op or none
    does, and each slot's input choice ranges over exactly the `i` earlier tensors."""
    first = slots[0]
    if any(offers(op) != offers(first) for op in slots) or len(first.candidates) != i:
        return False
    if len({op.op_label is None for op in slots}) != 1:
        return False
    return all(tuple(space.decision(op.input_label).values) == tuple(range(i)) for op in slots)


def _op_names(ops: tuple) -> tuple[str, ...]:
    return tuple(name for name, _ in ops)


def genotype(cell: CellEdges, weights: Callable[[str], Sequence[float]]) -> dict[str, Any]:
    """DARTS's genotype of `cell` under `weights(edge label)` (an edge's op weights, the zero
    op last), as values of the cell's decisions (see the module docstring).

    Example::

        >>> node = EdgeNode(2, (("op_2_0", "input_2_0"), ("op_2_1", "input_2_1")), ("e0", "e1"))
        >>> cell = CellEdges("c", ("conv", "skip", "none"), (True, True, False), (node,))
        >>> w = {"e0": [0.2, 0.1, 0.7], "e1": [0.3, 0.6, 0.1]}   # e0 is mostly unused, but
        >>> genotype(cell, w.__getitem__)                         # its best op still ranks
        {'input_2_0': 1, 'op_2_0': 'skip', 'input_2_1': 0, 'op_2_1': 'conv'}
    """
    out: dict[str, Any] = {}
    for node in cell.nodes:
        ranked = []   # (weight, edge, op), strongest first; ties: earlier edge, then earlier op
        for j, edge in enumerate(node.edges):
            w = [float(x) for x in weights(edge)]
            ranked += [(-w[o], j, o) for o in range(len(cell.names)) if cell.counted[o]]
        ranked.sort()
        firsts, seen = [], set()
        for entry in ranked:
            if entry[1] not in seen:
                seen.add(entry[1])
                firsts.append(entry)
        order = firsts + [entry for entry in ranked if entry not in firsts]
        for k, (op_label, input_label) in enumerate(node.slots):
            _, j, o = order[k % len(order)]
            out[input_label] = j
            if op_label is not None:
                out[op_label] = cell.names[o]
    return out


def slot_probs(cell: CellEdges, weights: Callable[[str], Any]) -> dict[str, Any]:
    """Each slot decision's marginal under the edges' weights (tensors in, tensors out):
    an op label's distribution is its node's edge weights summed over the edges and
    renormalised without the zero op; an input label's is each edge's weight off the zero op,
    renormalised."""
    import torch
    out: dict[str, Any] = {}
    for node in cell.nodes:
        ws = [weights(edge) for edge in node.edges]
        ops = sum(w[:-1] for w in ws)
        ops = ops / ops.sum()
        used = torch.stack([1 - w[-1] for w in ws])
        used = used / used.sum()
        for op_label, input_label in node.slots:
            out[input_label] = used
            if op_label is not None:
                out[op_label] = ops
    return out


def fixed_alphas(cell: CellEdges, arch: Mapping[str, Any], large: float = 1e4) -> dict[str, list[float]]:
    """Edge parameters that encode `arch` as well as one vector per edge can: the op of the
    first slot reading an edge at +large, an edge no slot reads on its zero op, the rest -large."""
    out = {}
    for node in cell.nodes:
        for j, edge in enumerate(node.edges):
            row = [-large] * len(cell.names)
            for op_label, input_label in node.slots:
                if arch.get(input_label) == j:
                    row[cell.names.index(arch[op_label]) if op_label is not None else 0] = large
                    break
            else:
                row[-1] = large
            out[edge] = row
    return out


def offers(op: ir.CellOp) -> tuple:
    """What an op slot offers on each input: its candidates' (name, module) pairs per input
    index. Slots of one node that offer the same share one set of weights per edge (the DARTS
    mixed op, `SuperCell`); their choice labels differ and do not matter here."""
    return tuple(cell_ops(c) for c in op.candidates)


def cell_ops(module: ir.Module) -> tuple:
    """(name, module) pairs of a cell op: a layer choice's candidates, or one fixed op."""
    if isinstance(module, ir.LayerChoice):
        return module.candidates
    return (("op", module),)


def _is_zero(module: ir.Module) -> bool:
    return isinstance(module, ir.Op) and module.name == "Zero"
