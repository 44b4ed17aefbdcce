"""DARTS genotypes, `Genotype(normal=[('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5],
reduce=[...], reduce_concat=[...])`, to and from architectures: pairs `(op, input)` per node,
mapping to the op and input decisions of the `cell(...)`s labelled "normal" and "reduce" (read
from the cell itself). Genotype text is parsed as data (`ast.literal_eval` on its lists), never
executed.

Example::

    >>> space = nasdsl.load("darts", {"C": 8, "layers": 5})
    >>> text = arch_to_genotype(space, space.sample(seed=0))
    >>> arch_to_genotype(space, genotype_to_arch(space, text)) == text
    True
"""
from __future__ import annotations

import ast as pyast
import re
from collections.abc import Mapping
from typing import Any

from .. import ir
from ..errors import ArchitectureError
from ..limits import MAX_ARCH_BYTES, MAX_ARCH_DEPTH, MAX_ARCH_RANGE, nesting_depth
from ..space import Space

__all__ = ["is_genotype", "parse_genotype", "genotype_to_arch", "arch_to_genotype"]

_FIELD = re.compile(r"(normal|reduce)(_concat)?\s*=\s*")


def parse_genotype(text: str) -> dict[str, Any]:
    """The fields of a DARTS `Genotype(...)` as Python data, without evaluating the text,
    within the architecture bounds of `nasdsl.limits` (size, nesting, range length)."""
    if len(text) > MAX_ARCH_BYTES:
        raise ArchitectureError(f"malformed genotype: {len(text):,} characters, the limit is {MAX_ARCH_BYTES:,}")
    if nesting_depth(text) > MAX_ARCH_DEPTH:
        raise ArchitectureError(f"malformed genotype: brackets nested more than {MAX_ARCH_DEPTH} deep")
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
        range_match = re.fullmatch(r"range\(\s*(\d{1,18})\s*,\s*(\d{1,18})\s*\)", raw)
        try:
            if range_match:
                bounds = range(int(range_match.group(1)), int(range_match.group(2)))
                if len(bounds) > MAX_ARCH_RANGE:
                    raise ArchitectureError(f"malformed genotype field {key}: {raw[:60]} has {len(bounds):,} "
                                            f"elements, the limit is {MAX_ARCH_RANGE:,}")
                fields[key] = list(bounds)
            else:
                fields[key] = pyast.literal_eval(raw)
        except (ValueError, SyntaxError, RecursionError, MemoryError, TypeError):
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
