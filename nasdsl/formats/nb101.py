"""NAS-Bench-101 cells: the nasbench API's specs, its graph hash, and `spaces/nasbench101.nas`.

A *spec* is what `nasbench.api.ModelSpec` takes: an upper-triangular adjacency matrix (a list
of lists, `matrix[u][v] = 1` for an edge u -> v) and one op per vertex, `"input"` first and
`"output"` last, the others from `OPS`. An *architecture* of `spaces/nasbench101.nas` sets one
decision per possible edge of the 7-vertex cell, `cell.e{u}_{v}` in `{"off", "on"}`, and one
op per interior vertex, `cell.op{v}` in `{"conv3x3", "conv1x1", "maxpool3x3", "none"}`, where
`none` marks a vertex that is not used (it has no edges at all).

As in the nasbench API, a spec is *pruned* first: vertices that are not on a path from input
to output are dropped (`prune`), and the spec is valid when the input still reaches the output
and at most 9 edges remain. `spec_to_arch` keeps each remaining vertex at its position and
marks the dropped ones `none`; `arch_to_spec` gives back the pruned spec. `spec_hash` is the
nasbench API's `ModelSpec.hash_spec` (graph_util.hash_module: iterated MD5 of in/out degrees
and op labels), the key of the NAS-Bench-101 dataset; `canonical` maps every architecture of an
isomorphism class to one representative. Torch-free; `params` counts trainable parameters as
the original TensorFlow model does.

Example::

    >>> matrix = [[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
    ...           [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
    ...           [0, 0, 0, 0, 0, 0, 0]]
    >>> ops = ["input", "conv1x1-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu",
    ...        "conv3x3-bn-relu", "maxpool3x3", "output"]
    >>> arch = spec_to_arch(matrix, ops)
    >>> arch["cell.op1"], arch["cell.e0_1"], arch["cell.e0_6"]
    ('conv1x1', 'on', 'off')
    >>> params(matrix, ops)
    2694282
"""
from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

INPUT, OUTPUT = "input", "output"
OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")  # nasbench's config['available_ops'] order
NAMES = {"conv3x3-bn-relu": "conv3x3", "conv1x1-bn-relu": "conv1x1", "maxpool3x3": "maxpool3x3"}
SPEC_OPS = {v: k for k, v in NAMES.items()}
VERTICES = 7       # input, 5 interior vertices, output
MAX_EDGES = 9
NONE = "none"      # the op of an unused vertex in the .nas space

Matrix = list[list[int]]


def edge_label(u: int, v: int) -> str:
    return f"cell.e{u}_{v}"


def op_label(v: int) -> str:
    return f"cell.op{v}"


def labels() -> list[str]:
    """Every decision label of the space, in its order: row by row of the adjacency matrix,
    each vertex's op before the edges leaving it."""
    out = []
    for u in range(VERTICES - 1):
        out += ([op_label(u)] if u > 0 else []) + [edge_label(u, v) for v in range(u + 1, VERTICES)]
    return out


def _check(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> Matrix:
    n = len(matrix)
    if any(len(row) != n for row in matrix) or len(ops) != n:
        raise ValueError(f"a spec needs a square matrix and one op per vertex, got {n} rows and {len(ops)} ops")
    m = [[int(bool(x)) for x in row] for row in matrix]
    if any(m[u][v] for u in range(n) for v in range(u + 1)):
        raise ValueError("matrix must be upper triangular (edges go from lower to higher vertices)")
    if n < 2 or ops[0] != INPUT or ops[-1] != OUTPUT:
        raise ValueError(f"ops must start with {INPUT!r} and end with {OUTPUT!r}, got {list(ops)}")
    for op in ops[1:-1]:
        if op not in OPS:
            raise ValueError(f"unknown op {op!r} (one of {', '.join(OPS)})")
    return m


def live_vertices(matrix: Sequence[Sequence[int]]) -> list[int]:
    """Vertices on some path from the input (0) to the output (last), in order."""
    n = len(matrix)
    fwd, bwd = {0}, {n - 1}
    for v in range(1, n):
        if any(matrix[u][v] for u in fwd):
            fwd.add(v)
    for u in range(n - 2, -1, -1):
        if any(matrix[u][v] for v in bwd):
            bwd.add(u)
    return sorted(fwd & bwd)


def prune(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> tuple[Matrix, list[str]] | None:
    """The spec without vertices off every input -> output path (`ModelSpec._prune`), or None
    when the input does not reach the output.

    Example::

        >>> prune([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ["input", "maxpool3x3", "output"]) is None
        True
    """
    m = _check(matrix, ops)
    keep = live_vertices(m)
    if len(keep) < 2:
        return None
    return [[m[u][v] for v in keep] for u in keep], [ops[v] for v in keep]


def is_valid(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> bool:
    """In the NAS-Bench-101 dataset (`nasbench.api.NASBench.is_valid`): input reaches output,
    at most 7 vertices and 9 edges after pruning."""
    pruned = prune(matrix, ops)
    return pruned is not None and len(pruned[0]) <= VERTICES and sum(map(sum, pruned[0])) <= MAX_EDGES


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def hash_module(matrix: Sequence[Sequence[int]], labeling: Sequence[int]) -> str:
    """The isomorphism-invariant hash of nasbench's `graph_util.hash_module`: each vertex starts
    from the MD5 of (out-degree, in-degree, label), then, as many times as there are vertices,
    hashes its sorted in-neighbour hashes, sorted out-neighbour hashes and its own; the graph's
    hash is the MD5 of the sorted vertex hashes."""
    n = len(matrix)
    preds = [[u for u in range(n) if matrix[u][v]] for v in range(n)]
    succs = [[w for w in range(n) if matrix[v][w]] for v in range(n)]
    hashes = [_md5(str((len(succs[v]), len(preds[v]), labeling[v]))) for v in range(n)]
    for _ in range(n):
        hashes = [_md5("".join(sorted([hashes[u] for u in preds[v]])) + "|"
                       + "".join(sorted([hashes[w] for w in succs[v]])) + "|" + hashes[v])
                  for v in range(n)]
    return _md5(str(sorted(hashes)))


def spec_hash(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> str:
    """The dataset key of a spec: `ModelSpec(matrix, ops).hash_spec(available_ops)`."""
    pruned = prune(matrix, ops)
    if pruned is None:
        raise ValueError("invalid spec: the input does not reach the output")
    m, kept = pruned
    return hash_module(m, [-1] + [OPS.index(op) for op in kept[1:-1]] + [-2])


def spec_to_arch(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> dict[str, str]:
    """The architecture of a spec, pruned first; a spec of fewer than 7 vertices fills
    vertices 1, 2, ... and leaves the rest unused. Raises ValueError outside NAS-Bench-101."""
    if not is_valid(matrix, ops):
        raise ValueError("not a NAS-Bench-101 cell: the input must reach the output through at most "
                         f"{VERTICES} vertices and {MAX_EDGES} edges")
    m = _check(matrix, ops)
    if len(m) == VERTICES:
        keep = live_vertices(m)
        slot = {v: v for v in keep}
    else:
        m, ops = prune(m, ops)  # type: ignore[misc]
        keep = list(range(len(m)))
        slot = {v: (v if v < len(m) - 1 else VERTICES - 1) for v in keep}
    arch = {label: "off" for label in labels()}
    for v in range(1, VERTICES - 1):
        arch[op_label(v)] = NONE
    for v in keep[1:-1]:
        arch[op_label(slot[v])] = NAMES[ops[v]]
    for u in keep:
        for v in keep:
            if m[u][v]:
                arch[edge_label(slot[u], slot[v])] = "on"
    return {label: arch[label] for label in labels()}


def arch_to_spec(arch: Mapping[str, Any], pruned: bool = True) -> tuple[Matrix, list[str]]:
    """The 7-vertex spec of an architecture (unused vertices get op conv3x3-bn-relu and no
    edges), pruned to the vertices in use unless `pruned=False`."""
    n = VERTICES
    matrix = [[int(v > u and arch[edge_label(u, v)] == "on") for v in range(n)] for u in range(n)]
    ops = [INPUT] + [SPEC_OPS.get(arch[op_label(v)], OPS[0]) for v in range(1, n - 1)] + [OUTPUT]
    if not pruned:
        return matrix, ops
    out = prune(matrix, ops)
    if out is None:
        raise ValueError("the architecture's input does not reach its output")
    return out


def arch_hash(arch: Mapping[str, Any]) -> str:
    """The NAS-Bench-101 dataset key of an architecture (`spec_hash` of its spec)."""
    return spec_hash(*arch_to_spec(arch, pruned=False))


def canonical(arch: Mapping[str, Any]) -> dict[str, str]:
    """One architecture per isomorphism class: the pruned cell with its vertices renumbered by
    the topological order that gives the smallest (ops, adjacency) key, placed in vertices
    1, 2, ...; isomorphic cells (same graph up to a relabelling of the interior vertices, ops
    included) give the same result.

    Example::

        >>> a = spec_to_arch([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
        ...                  ["input", "maxpool3x3", "conv3x3-bn-relu", "output"])
        >>> b = spec_to_arch([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
        ...                  ["input", "conv3x3-bn-relu", "maxpool3x3", "output"])
        >>> canonical(a) == canonical(b)
        True
    """
    matrix, ops = arch_to_spec(arch)
    n = len(matrix)
    best = None
    for perm in itertools.permutations(range(1, n - 1)):
        order = (0, *perm, n - 1)  # order[i]: the old vertex that becomes vertex i
        pos = {old: new for new, old in enumerate(order)}
        if any(matrix[u][v] and pos[u] > pos[v] for u in range(n) for v in range(n)):
            continue
        key = (tuple(OPS.index(ops[old]) for old in perm),
               tuple(-matrix[order[i]][order[j]] for i in range(n) for j in range(i + 1, n)))
        if best is None or key < best[0]:
            best = (key, order)
    order = best[1]  # type: ignore[index]
    new_matrix = [[matrix[order[i]][order[j]] for j in range(n)] for i in range(n)]
    return spec_to_arch(new_matrix, [ops[old] for old in order])


def vertex_channels(in_channels: int, out_channels: int, matrix: Sequence[Sequence[int]]) -> list[int]:
    """Channels of every vertex of a pruned cell (nasbench's `compute_vertex_channels`): the
    vertices feeding the output split `out_channels` (the first ones take one more when it does
    not divide), every other interior vertex takes the most of its interior successors."""
    n = len(matrix)
    ch = [0] * n
    ch[0], ch[-1] = in_channels, out_channels
    if n == 2:
        return ch
    feeding = [v for v in range(1, n - 1) if matrix[v][n - 1]]
    share, extra = divmod(out_channels, len(feeding))
    for i, v in enumerate(feeding):
        ch[v] = share + (1 if i < extra else 0)
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            ch[v] = max([ch[v]] + [ch[w] for w in range(v + 1, n - 1) if matrix[v][w]])
    return ch


def params(matrix: Sequence[Sequence[int]], ops: Sequence[str], stem: int = 128, stacks: int = 3,
           cells: int = 3, num_classes: int = 10) -> int:
    """Trainable parameters of the NAS-Bench-101 network of a spec, as the original counts them
    (convolutions without bias, batch norm scale and shift, a dense classifier with bias)."""
    pruned = prune(matrix, ops)
    if pruned is None:
        raise ValueError("invalid spec: the input does not reach the output")
    m, kept = pruned
    n = len(m)

    def conv_bn(c_in: int, c_out: int, k: int) -> int:
        return c_in * c_out * k * k + 2 * c_out

    total = conv_bn(3, stem, 3)
    c_in = c_out = stem
    for s in range(stacks):
        if s > 0:
            c_out *= 2
        for _ in range(cells):
            ch = vertex_channels(c_in, c_out, m)
            for v in range(1, n):
                if m[0][v]:
                    total += conv_bn(c_in, ch[v], 1)  # projection of the input
            for v in range(1, n - 1):
                if kept[v] != "maxpool3x3":
                    total += conv_bn(ch[v], ch[v], 3 if kept[v] == "conv3x3-bn-relu" else 1)
            c_in = c_out
    return total + c_out * num_classes + num_classes
