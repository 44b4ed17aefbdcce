"""NAS-Bench-201 strings, `|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|...|`, to and from
architectures: node `i` lists `op~j` for each edge `j -> i`. They map to the layer choices of a
space whose labels end in `e{i}_{j}` (as `spaces/nasbench201.nas` writes them).

Example::

    >>> space = nasdsl.load("nasbench201")
    >>> arch = nb201_to_arch(space, "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    >>> arch["Cell.e1_0"], arch_to_nb201(space, arch)
    ('skip_connect', '|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|')
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import ArchitectureError
from ..space import Space
from ..text import printable

__all__ = ["is_nb201_string", "nb201_to_arch", "arch_to_nb201"]

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


def _shown(text: str) -> str:
    """A piece of a user's string on one line, at most 80 characters."""
    text = printable(text, one_line=True)
    return text if len(text) <= 80 else text[:77] + "..."


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
            if not sep or not (j.isascii() and j.isdigit()):   # "²".isdigit() holds, int("²") fails
                raise ArchitectureError(f"malformed NAS-Bench-201 edge {item!r}: expected op~j")
            label = edges.get((i, int(j)))
            if label is None:
                raise ArchitectureError(f"the space has no edge {j} -> {i} for NAS-Bench-201 item {item!r}")
            if label in arch:
                raise ArchitectureError(f"NAS-Bench-201 string names edge {j} -> {i} twice "
                                        f"({_shown(arch[label] + '~' + j)} and {_shown(item)})")
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
