"""Text forms researchers already use, converted to and from architectures.

* NAS-Bench-201 strings, `|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|...|`: node `i`
  lists `op~j` for each edge `j -> i`. They map to the layer choices of a space whose labels
  end in `e{i}_{j}` (as `spaces/nasbench201.nas` writes them).
* DARTS genotypes, `Genotype(normal=[('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5],
  reduce=[...], reduce_concat=[...])`: pairs `(op, input)` per node, two per node, mapping to
  the `normal.op_{i}_{k}` / `normal.input_{i}_{k}` decisions of a `cell(...)` labelled
  "normal" and "reduce". Genotype text is parsed as data (`ast.literal_eval` on its lists),
  never executed.

Example::

    >>> space = nasdsl.load("nasbench201")
    >>> arch = nb201_to_arch(space, "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    >>> arch_to_nb201(space, arch)
    '|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|'
"""
from __future__ import annotations

import ast as pyast
import re
from collections.abc import Mapping
from typing import Any

from .. import ir
from ..errors import ArchitectureError
from ..space import Space

_EDGE = re.compile(r"(?:^|\.)e?(\d+)_(\d+)$")


def _nb201_edges(space: Space) -> dict[tuple[int, int], str]:
    edges = {}
    for d in space.decisions:
        m = _EDGE.search(d.label)
        if m and d.kind == "layer":
            edges[(int(m.group(1)), int(m.group(2)))] = d.label
    if not edges:
        raise ArchitectureError("this space has no NAS-Bench-201 edges (layer choices labelled ...e{i}_{j})")
    return edges


def is_nb201_string(text: str) -> bool:
    return text.strip().startswith("|") and "~" in text


def nb201_to_arch(space: Space, text: str) -> dict[str, Any]:
    """A NAS-Bench-201 string as an architecture of `space` (validated)."""
    edges = _nb201_edges(space)
    nodes = text.strip().split("+")
    arch: dict[str, Any] = {}
    for i, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")):
            raise ArchitectureError(f"malformed NAS-Bench-201 string: node {i} is {node!r}, expected |op~j|...")
        for item in node[1:-1].split("|"):
            op, sep, j = item.rpartition("~")
            if not sep or not j.isdigit():
                raise ArchitectureError(f"malformed NAS-Bench-201 edge {item!r}: expected op~j")
            label = edges.get((i, int(j)))
            if label is None:
                raise ArchitectureError(f"the space has no edge {j} -> {i} for NAS-Bench-201 item {item!r}")
            arch[label] = op
    return space.validate(arch)


def arch_to_nb201(space: Space, arch: Mapping[str, Any]) -> str:
    """An architecture of a NAS-Bench-201-like space as its NAS-Bench-201 string."""
    arch = space.validate(arch)
    edges = _nb201_edges(space)
    n = max(i for i, _ in edges)
    parts = []
    for i in range(1, n + 1):
        parts.append("|" + "|".join(f"{arch[edges[(i, j)]]}~{j}" for j in range(i)) + "|")
    return "+".join(parts)


# --- DARTS genotypes ----------------------------------------------------------------------------

_FIELD = re.compile(r"(normal|reduce)(_concat)?\s*=\s*")


def parse_genotype(text: str) -> dict[str, Any]:
    """The fields of a DARTS `Genotype(...)` as Python data, without evaluating the text."""
    body = text.strip()
    if body.startswith("Genotype"):
        body = body[len("Genotype"):].strip()
    if not (body.startswith("(") and body.endswith(")")):
        raise ArchitectureError("malformed genotype: expected "
                                "Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)")
    body = body[1:-1]
    fields: dict[str, Any] = {}
    matches = list(_FIELD.finditer(body))
    for m, nxt in zip(matches, matches[1:] + [None]):
        raw = body[m.end(): nxt.start() if nxt else len(body)].strip().rstrip(",").strip()
        key = m.group(1) + (m.group(2) or "")
        range_match = re.fullmatch(r"range\(\s*(\d+)\s*,\s*(\d+)\s*\)", raw)
        try:
            fields[key] = list(range(int(range_match.group(1)), int(range_match.group(2)))) if range_match \
                else pyast.literal_eval(raw)
        except (ValueError, SyntaxError):
            raise ArchitectureError(f"malformed genotype field {key}: {raw[:60]!r}") from None
    for key in ("normal", "reduce"):
        if key not in fields:
            raise ArchitectureError(f"genotype has no {key}= field")
    return fields


def genotype_to_arch(space: Space, text: str) -> dict[str, Any]:
    """A DARTS genotype as an architecture of a space with cells labelled normal and reduce."""
    fields = parse_genotype(text)
    arch: dict[str, Any] = {}
    for kind in ("normal", "reduce"):
        pairs = fields[kind]
        ops = _cell_ops(_cell(space, kind))
        ops_per_node = len(ops[0])
        if not isinstance(pairs, list) or len(pairs) % ops_per_node:
            raise ArchitectureError(f"genotype {kind} must list {ops_per_node} (op, input) pairs per node")
        if len(pairs) > ops_per_node * len(ops):
            raise ArchitectureError(f"genotype {kind} lists {len(pairs) // ops_per_node} nodes, "
                                    f"the space's cell has {len(ops)}")
        for index, pair in enumerate(pairs):
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise ArchitectureError(f"genotype {kind}[{index}] must be an (op, input) pair, got {pair!r}")
            op = ops[index // ops_per_node][index % ops_per_node]
            arch[op.op_label] = pair[0]
            arch[op.input_label] = pair[1]
    arch = space.validate(arch)
    for kind in ("normal", "reduce"):
        concat, cell = fields.get(f"{kind}_concat"), _cell(space, kind)
        expected = _concat(cell, arch)
        if concat is not None and list(concat) != expected:
            what, why = (("all nodes", "this space merges every node") if cell.merge == "all" else
                         ("the loose ends", f"cell {kind!r} concatenates the nodes no op reads (merge=\"loose_end\")"))
            raise ArchitectureError(f"genotype {kind}_concat {list(concat)} is not {what} {expected} "
                                    f"of its {kind} inputs: {why}")
    return arch


def arch_to_genotype(space: Space, arch: Mapping[str, Any]) -> str:
    """The DARTS genotype text of an architecture of a DARTS-like space."""
    arch = space.validate(arch)
    parts = []
    for kind in ("normal", "reduce"):
        cell = _cell(space, kind)
        pairs = [(arch[op.op_label], arch[op.input_label]) for node in _cell_ops(cell) for op in node]
        parts.append(f"{kind}={pairs!r}, {kind}_concat={_concat(cell, arch)!r}")
    return "Genotype(" + ", ".join(parts) + ")"


def _cell(space: Space, label: str) -> ir.Cell:
    """The first cell of `space` labelled `label` (all of them share its decisions)."""
    for m in ir.walk(space.template):
        if isinstance(m, ir.Cell) and m.label == label:
            return m
    raise ArchitectureError(f"the space has no cell labelled {label!r}")


def _cell_ops(cell: ir.Cell) -> tuple[tuple[ir.CellOp, ...], ...]:
    """The cell's ops node by node; a genotype names an op per edge, so each must be a choice."""
    if not cell.nodes or any(op.op_label is None for node in cell.nodes for op in node):
        raise ArchitectureError(f"cell {cell.label!r} has fixed ops: a genotype needs a choice of op on every edge")
    return cell.nodes


def _concat(cell: ir.Cell, arch: Mapping[str, Any]) -> list[int]:
    """The nodes `cell` concatenates under `arch`: all, or (loose_end) those no op reads."""
    return ir.merged_nodes(cell, arch.__getitem__)


def is_genotype(text: str) -> bool:
    return text.strip().startswith("Genotype")
