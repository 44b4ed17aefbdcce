"""NAS-Bench-101 (`spaces/nasbench101.nas`, `nasdsl.formats.nb101`) against google-research/nasbench.

Facts checked against the original: the README's Inception-like cell has 2,694,282 trainable
parameters (NASBench.ipynb prints the dataset's record of it); graph_util.hash_module's
expectations (graph_util_test.py); 423,624 unique cells (README, generate_graphs.py; slow).
"""
from __future__ import annotations

import itertools
import random

import pytest

import nasdsl
from nasdsl.analysis.shapes import costs
from nasdsl.errors import NasError
from nasdsl.formats import nb101

C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
README_MATRIX = [[0, 1, 1, 1, 0, 1, 0],
                 [0, 0, 0, 0, 0, 0, 1],
                 [0, 0, 0, 0, 0, 0, 1],
                 [0, 0, 0, 0, 1, 0, 0],
                 [0, 0, 0, 0, 0, 0, 1],
                 [0, 0, 0, 0, 0, 0, 1],
                 [0, 0, 0, 0, 0, 0, 0]]
README_OPS = ["input", C1, C3, C3, C3, MP, "output"]
# The same cell as the dataset stores it (NASBench.ipynb's query output): an isomorphic copy.
STORED_MATRIX = [[0, 1, 1, 1, 1, 0, 0],
                 [0, 0, 0, 0, 0, 0, 1],
                 [0, 0, 0, 0, 0, 0, 1],
                 [0, 0, 0, 0, 0, 0, 1],
                 [0, 0, 0, 0, 0, 1, 0],
                 [0, 0, 0, 0, 0, 0, 1],
                 [0, 0, 0, 0, 0, 0, 0]]
STORED_OPS = ["input", C3, C1, MP, C3, C3, "output"]
README_PARAMS = 2_694_282
README_HASH = "28cfc7874f6d200472e1a9dcd8650aa0"  # nasbench's graph_util.hash_module gives the same

# Valid cells: every interior vertex is either unused (op `none`, no edges) or on a path from
# the input to the output, the output has an input (so the input reaches it), at most 9 edges.
SIZE = 1_824_025
SMALL = {"C": 8, "stacks": 1, "cells": 1}  # 962 parameters at most; fast tests


@pytest.fixture(scope="module")
def space():
    return nasdsl.load("nasbench101")


@pytest.fixture(scope="module")
def small():
    return nasdsl.load("nasbench101", params=SMALL)


def permuted(matrix, ops, order):
    """The spec with vertex order[i] renamed i (input and output stay put)."""
    n = len(matrix)
    return [[matrix[order[i]][order[j]] for j in range(n)] for i in range(n)], [ops[o] for o in order]


def topological_orders(matrix):
    n = len(matrix)
    for perm in itertools.permutations(range(1, n - 1)):
        order = (0, *perm, n - 1)
        pos = {o: i for i, o in enumerate(order)}
        if all(not matrix[u][v] or pos[u] < pos[v] for u in range(n) for v in range(n)):
            yield order


# -- the README cell -------------------------------------------------------------------------

def test_readme_cell_parameters(space):
    torch = pytest.importorskip("torch")
    from nasdsl.lower.discrete import build
    arch = nb101.spec_to_arch(README_MATRIX, README_OPS)
    assert nb101.params(README_MATRIX, README_OPS) == README_PARAMS
    assert costs(space, arch)["params"] == README_PARAMS
    model = build(space, arch)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == README_PARAMS
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_readme_cell_is_the_stored_cell():
    assert nb101.spec_hash(README_MATRIX, README_OPS) == README_HASH
    assert nb101.spec_hash(STORED_MATRIX, STORED_OPS) == README_HASH
    a = nb101.spec_to_arch(README_MATRIX, README_OPS)
    b = nb101.spec_to_arch(STORED_MATRIX, STORED_OPS)
    assert a != b and nb101.canonical(a) == nb101.canonical(b)
    assert nb101.params(STORED_MATRIX, STORED_OPS) == README_PARAMS


# -- the hash: graph_util_test.py's cases ------------------------------------------------------

def test_hash_module_invariances_and_distinctions():
    h = nb101.hash_module
    diamond = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert h(diamond, [-1, 1, 2, -2]) == h(diamond, [-1, 2, 1, -2])
    m1 = [[0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    m2 = [[0, 1, 0, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    m3 = [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    l1, l2, l3 = [-1, 1, 2, 3, -2], [-1, 2, 3, 1, -2], [-1, 2, 1, 3, -2]
    assert h(m1, l1) == h(m2, l2) == h(m3, l3)
    assert h(m1, l2) != h(m1, l1) and h(m1, l3) != h(m1, l1)
    chain = [[0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    assert h(chain, [-1, 1, 0, 0, -2]) != h(chain, [-1, 0, 0, 1, -2])  # needs the vertex's own hash
    skip = [[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert h(skip, [-1, 1, 0, -2]) != h(skip, [-1, 0, 1, -2])  # needs directed edges
    fan = [[0, 1, 1, 1, 1, 0, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1, 0],
           [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]]
    assert h(fan, [-1, 1, 0, 0, 0, 0, -2]) != h(fan, [-1, 0, 0, 0, 1, 0, -2])  # needs in-neighbours


def test_isomorphic_cells_share_hash_and_canonical_form():
    rng = random.Random(0)
    seen = {}
    for _ in range(40):
        arch = nasdsl_arch(rng)
        matrix, ops = nb101.arch_to_spec(arch)
        canon = nb101.canonical(arch)
        key = nb101.spec_hash(matrix, ops)
        for order in topological_orders(matrix):
            m, o = permuted(matrix, ops, order)
            assert nb101.spec_hash(m, o) == key
            assert nb101.canonical(nb101.spec_to_arch(m, o)) == canon
        assert nb101.canonical(canon) == canon
        assert seen.setdefault(key, canon) == canon
    # distinct hashes, distinct canonical forms: non-isomorphic cells stay apart
    assert len(set(map(str, seen.values()))) == len(seen) > 30


def nasdsl_arch(rng: random.Random) -> dict:
    """A random valid cell drawn from specs the way NASBench.ipynb's random_spec does."""
    while True:
        matrix = [[int(v > u and rng.random() < 0.5) for v in range(7)] for u in range(7)]
        ops = ["input"] + [rng.choice(nb101.OPS) for _ in range(5)] + ["output"]
        if nb101.is_valid(matrix, ops):
            return nb101.spec_to_arch(matrix, ops)


# -- specs and architectures ------------------------------------------------------------------

def test_pruning_and_round_trip(space):
    # vertex 2 hangs off vertex 1 without reaching the output: pruned, as ModelSpec does
    matrix = [[0, 1, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 1], [0] * 7, [0] * 7, [0] * 7, [0] * 7, [0] * 7]
    ops = ["input", C3, MP, C1, C1, C1, "output"]
    pruned_matrix, pruned_ops = nb101.prune(matrix, ops)
    assert pruned_matrix == [[0, 1, 0], [0, 0, 1], [0, 0, 0]] and pruned_ops == ["input", C3, "output"]
    arch = nb101.spec_to_arch(matrix, ops)
    assert arch["cell.op1"] == "conv3x3" and all(arch[f"cell.op{v}"] == "none" for v in range(2, 6))
    assert space.validate(arch) == arch
    assert nb101.arch_to_spec(arch) == (pruned_matrix, pruned_ops)
    # a 3-vertex spec fills vertex 1 and the output
    assert nb101.spec_to_arch(pruned_matrix, pruned_ops) == arch
    assert nb101.prune([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ["input", MP, "output"]) is None
    with pytest.raises(ValueError, match="at most 7 vertices and 9 edges"):
        nb101.spec_to_arch([[int(v > u) for v in range(7)] for u in range(7)], ["input"] + [C3] * 5 + ["output"])
    for seed in range(20):
        arch = space.sample(seed=seed)
        assert nb101.spec_to_arch(*nb101.arch_to_spec(arch, pruned=False)) == arch
        assert nb101.canonical(nb101.spec_to_arch(*nb101.arch_to_spec(arch))) == nb101.canonical(arch)


def test_labels_and_domains(space):
    assert space.labels() == nb101.labels()
    assert len(space.decisions) == 26
    assert space.decision("cell.op3").values == ("conv3x3", "conv1x1", "maxpool3x3", "none")
    assert space.decision("cell.e2_5").values == ("off", "on")


# -- the size ------------------------------------------------------------------------------------

def test_size_is_the_number_of_valid_cells(space):
    assert space.size() == SIZE


def test_size_by_brute_force_over_all_matrices():
    """All 2^21 upper-triangular 7x7 matrices: a matrix is valid when the input reaches the
    output, every edge joins two vertices on an input -> output path, and it has at most 9
    edges; its live interior vertices take 3 ops each (the others are `none`)."""
    np = pytest.importorskip("numpy")
    pairs = [(u, v) for v in range(1, 7) for u in range(v)]
    masks = np.arange(1 << len(pairs), dtype=np.int64)
    edge = {p: ((masks >> i) & 1).astype(bool) for i, p in enumerate(pairs)}
    fwd = {0: np.ones_like(masks, dtype=bool)}
    for v in range(1, 7):
        fwd[v] = np.logical_or.reduce([fwd[u] & edge[u, v] for u in range(v)])
    bwd = {6: np.ones_like(masks, dtype=bool)}
    for u in range(5, -1, -1):
        bwd[u] = np.logical_or.reduce([edge[u, v] & bwd[v] for v in range(u + 1, 7)])
    live = {v: fwd[v] & bwd[v] for v in range(7)}
    ok = live[6] & (sum(edge[p].astype(np.int8) for p in pairs) <= nb101.MAX_EDGES)
    for u, v in pairs:
        ok &= ~edge[u, v] | (live[u] & live[v])
    n_live = sum(live[v].astype(np.int64) for v in range(1, 6))
    assert int(ok.sum()) == 13_839  # edge patterns
    assert int((3 ** n_live)[ok].sum()) == SIZE


def test_sampled_cells_are_nasbench_cells(space):
    for seed in range(30):
        arch = space.sample(seed=seed, uniform=seed % 2 == 0)
        matrix, ops = nb101.arch_to_spec(arch, pruned=False)
        assert nb101.is_valid(matrix, ops)
        assert nb101.arch_to_spec(arch)[0] == nb101.prune(matrix, ops)[0]


@pytest.mark.slow
def test_423624_unique_cells():
    """generate_graphs.py: every full DAG of 2 to 7 vertices (all vertices on an input ->
    output path) with at most 9 edges, every labelling of its interior vertices, hashed:
    423,624 distinct hashes. These are exactly the valid cells of the space whose used
    vertices are 1 ... k, so the space holds every NAS-Bench-101 cell."""
    hashes, total = set(), 0
    for n in range(2, 8):
        pairs = [(u, v) for v in range(1, n) for u in range(v)]
        for bits in range(1 << len(pairs)):
            if bin(bits).count("1") > nb101.MAX_EDGES:
                continue
            matrix = [[0] * n for _ in range(n)]
            for i, (u, v) in enumerate(pairs):
                matrix[u][v] = (bits >> i) & 1
            if len(nb101.live_vertices(matrix)) != n:
                continue
            for labels in itertools.product(range(3), repeat=n - 2):
                total += 1
                hashes.add(nb101.hash_module(matrix, [-1, *labels, -2]))
    assert total == 1_293_208  # labelled graphs before de-duplication
    assert len(hashes) == 423_624


# -- lowering ------------------------------------------------------------------------------------

def test_small_models_run_and_agree_in_params(small):
    torch = pytest.importorskip("torch")
    from nasdsl.lower.discrete import build
    for seed in range(8):
        arch = small.sample(seed=seed)
        model = build(small, arch)
        n = sum(p.numel() for p in model.parameters())
        assert n == costs(small, arch)["params"] == nb101.params(*nb101.arch_to_spec(arch), stem=8, stacks=1, cells=1)
        y = model(torch.randn(2, 3, 32, 32))
        y.sum().backward()
        assert y.shape == (2, 10)


def test_channels_match_compute_vertex_channels(small):
    # 5 vertices feeding an output of 8 channels... use a 3-way split of 8: 3, 3, 2
    matrix = [[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    assert nb101.vertex_channels(8, 8, matrix) == [8, 3, 3, 2, 8]
    chain = [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert nb101.vertex_channels(4, 8, chain) == [4, 8, 8, 8]


@pytest.mark.parametrize("strategy", ["darts", "gumbel", "proxyless"])
def test_supernets_that_weigh_every_value_refuse_in_one_line(small, strategy):
    """Vertex channels depend on 15 edge decisions jointly (2^15 values): too many to weigh."""
    pytest.importorskip("torch")
    from nasdsl.strategy import build_supernet
    with pytest.raises(NasError, match=r"depend on 32,768 joint values of 15 decisions \(cell\.e1_2.*too many for "
                                       + strategy) as err:
        build_supernet(small, strategy)
    assert "\n" not in err.value.message


def test_spos_supernet_fixed_to_a_cell_is_its_discrete_model(small):
    """Sampling needs only each width's largest value: the supernet takes the space, and
    weight inheritance is exact."""
    torch = pytest.importorskip("torch")
    from nasdsl.lower.discrete import build
    from nasdsl.strategy import build_supernet
    torch.set_num_threads(1)
    net = build_supernet(small, "spos", seed=0)
    x = torch.randn(2, 3, 32, 32)
    net(x).sum().backward()
    arch = nb101.spec_to_arch(README_MATRIX, README_OPS)
    net.fix(arch)
    model = build(small, arch)
    model.load_state_dict(net.sub_state_dict(arch), strict=True)
    net.eval(), model.eval()
    with torch.no_grad():
        assert torch.equal(net(x), model(x))


def test_counting_carries_running_sums():
    """A constraint over a sum of many decisions (here 12 bits, at most 4 set, and a condition
    inside) is counted with its running sum, not every decision it reads: exact, uniform."""
    bits = "\n".join(f"  b{i} = x -> choice {{ off: Identity(), on: ReLU() }}" for i in range(12))
    terms = " + ".join(f'(1 if decision("b{i}") == "on" else 0)' for i in range(12))
    space = nasdsl.loads(f"network(x: [4]) {{\n{bits}\n  require {terms} <= 4\n  return x\n}}")
    from math import comb
    assert space.size() == sum(comb(12, k) for k in range(5))
    assert len(space.plan.frontier[-2]) == 1  # the running sum alone
    for seed in range(5):
        arch = space.sample(seed=seed, uniform=True)
        assert sum(v == "on" for v in arch.values()) <= 4
    assert sum(1 for _ in space.enumerate()) == space.size()
