"""NAS-Bench-101: spaces/nasbench101.nas and NNI's `NasBench101()`: the same cells, decided
differently, so the architectures map as a whole (`to_nni`) and only parameters are compared.

Ours has one decision per possible edge (`cell.eU_V`: off / on, 21 of them) and one op per
vertex with `none` for an unused vertex (`cell.opV`, vertices keep their positions). NNI has
`cell/num_nodes` (2 ... 7), `cell/op1` ... `cell/op5` (the 3 ops) and `cell/input1` ...
`cell/input6`, the predecessors of each vertex (any subset of the earlier ones); vertex
num_nodes - 1 is the output and later labels are ignored; its edge limit is a `Constraint`
(`cell/final`). Our architecture, pruned (`nasdsl.formats.nb101.arch_to_spec`), is NNI's sample.

Parameters differ by a known amount: NNI's fixed cell builds a 1x1 conv-BN projection of the
cell input for every vertex, the original (and ours, 2,694,282 for the README cell, as the
dataset reports) only for the vertices the input feeds; `nni_extra_params` counts NNI's others.
"""
from nasdsl.formats import nb101

SPACE = "nasbench101"
PARAMS: dict = {}
NNI = "NasBench101()"

ONLY_OURS = {**{nb101.edge_label(u, v): "an edge; NNI decides each vertex's predecessors (cell/inputV)"
                for v in range(1, 7) for u in range(v)},
             **{nb101.op_label(v): "ours adds `none` (unused vertex); NNI has cell/num_nodes" for v in range(1, 6)}}
ONLY_NNI = {"cell/num_nodes": "used vertices + 2; ours marks unused vertices `none`",
            **{f"cell/op{v}": "the op of the v-th used vertex; ours: cell.opV at the vertex's own position"
               for v in range(1, 6)},
            **{f"cell/input{v}": "predecessors of the v-th used vertex; ours: one decision per edge"
               for v in range(1, 7)},
            "cell/final": "NNI's constraint object (at most 9 edges, pruning)"}


def nni_label(label: str) -> str:
    return label.replace(".", "/")


def to_nni(space, arch: dict) -> dict:
    matrix, ops = nb101.arch_to_spec(arch)
    n = len(matrix)
    sample = {"cell/num_nodes": n}
    for v in range(1, n):
        sample[f"cell/input{v}"] = [u for u in range(v) if matrix[u][v]]
        if v < n - 1:
            sample[f"cell/op{v}"] = ops[v]
    return sample


def nni_extra_params(space, arch: dict) -> int:
    """The projections NNI builds and the original does not (never used in NNI's forward)."""
    m, _ = nb101.arch_to_spec(arch)
    stem, stacks, cells = space.params["C"], space.params["stacks"], space.params["cells"]
    extra, c_in, c_out = 0, stem, stem
    for s in range(stacks):
        c_out = c_out * 2 if s else c_out
        for _ in range(cells):
            ch = nb101.vertex_channels(c_in, c_out, m)
            extra += sum(c_in * ch[v] + 2 * ch[v] for v in range(1, len(m)) if not m[0][v])
            c_in = c_out
    return extra
