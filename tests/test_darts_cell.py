"""DARTS's relaxation of a cell (`nasdsl/lower/edges.py`), checked three ways on one cell
(tests/darts_cell_case.py: 3 nodes, 2 ops per node, 2 predecessors, 5 ops, float64, every
weight, input and alpha from one seeded rule):

* against a reference written here from the paper (Liu et al. 2019, eq. 1-2 and the
  genotype rule of section 2.4): same output, same alpha gradients, same genotype;
* against NNI 3.0's `DifferentiableMixedCell` under its DARTS strategy (its alphas normalised:
  NNI ranks edges by raw alpha, DARTS by softmax weight; `test_nni_ranks_raw_alphas` shows
  that is the only difference in its export), whose numbers for
  the same case are stored in tests/data/nni_darts_cell.json (regenerate with NNI's venv:
  `/tmp/nni-venv/bin/python tests/nni_hub/_nni_cell.py > tests/data/nni_darts_cell.json`;
  `test_nni_side_still_computes_the_stored_numbers` does so where that venv exists);
* architecture-parameter counts: the DARTS space has NNI's 224 (14 edges x 8 per cell type).
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import nni_hub  # noqa: E402
from darts_cell_case import CASE, alpha_of, inputs, loss_weights, ops, weights_of  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import nasdsl  # noqa: E402
from nasdsl.lower.edges import genotype, relaxed_cells  # noqa: E402
from nasdsl.lower.supernet import SuperCell  # noqa: E402
from nasdsl.strategy import build_supernet  # noqa: E402

HERE = Path(__file__).resolve().parent
NNI_NUMBERS = HERE / "data" / "nni_darts_cell.json"

SPACE = f"""
block Ops(c) = choice {{
  conv3:   ReLU() -> Conv2d(c, c, 3, 1, 1, bias=false) -> BatchNorm2d(c),
  conv1:   ReLU() -> Conv2d(c, c, 1, 1, 0, bias=false) -> BatchNorm2d(c),
  maxpool: MaxPool2d(3, 1, 1),
  avgpool: AvgPool2d(3, 1, 1, count_include_pad=false),
  skip:    Identity(),
}}
network(a: [{CASE["C"]}, {CASE["size"]}, {CASE["size"]}], b: [{CASE["C"]}, {CASE["size"]}, {CASE["size"]}]) {{
  nodes = cell(lambda input: Ops({CASE["C"]}), nodes={CASE["nodes"]}, ops_per_node={CASE["ops_per_node"]},
               predecessors={CASE["predecessors"]}, merge="all", label="{CASE["label"]}")
  return nodes(a, b)
}}
"""
EDGES = [(i, j) for i in range(CASE["predecessors"], CASE["predecessors"] + CASE["nodes"]) for j in range(i)]


def _space():
    return nasdsl.loads(SPACE)


def _ours(passes=None):
    """Our darts supernet of the case, weights and alphas filled by the case's rule."""
    net = build_supernet(_space(), "darts", seed=0, **({} if passes is None else {"passes": passes})).double()
    cell = next(m for m in net.modules() if isinstance(m, SuperCell))
    with torch.no_grad():
        for i, j in EDGES:
            for name in CASE["ops"]:
                for k, p in enumerate(cell.edges[f"{i}_{j}"][name].parameters()):
                    p.copy_(weights_of(i, j, name, k, p.shape))
            net.policy.alphas[f"normal.edge_{i}_{j}"].copy_(alpha_of(i, j))
    return net


def _run(net):
    out = net(*inputs())
    (out * loss_weights(out.shape)).sum().backward()
    grads = {f"{i}_{j}": net.policy.alphas[f"normal.edge_{i}_{j}"].grad for i, j in EDGES}
    return out.detach(), grads


def _paper():
    """Eq. 1-2 of the paper, by hand: node i = sum_{j<i} sum_o softmax(alpha_ij)_o o(x_j), the
    zero op (last) adding nothing; the cell's output the concatenation of its nodes."""
    modules = {(i, j): ops(torch.nn, CASE["C"]) for i, j in EDGES}
    alphas = {}
    for (i, j), named in modules.items():
        for name, module in named.items():
            module.double()
            with torch.no_grad():
                for k, p in enumerate(module.parameters()):
                    p.copy_(weights_of(i, j, name, k, p.shape))
        alphas[(i, j)] = alpha_of(i, j).requires_grad_()
    states = list(inputs())
    for i in range(CASE["predecessors"], CASE["predecessors"] + CASE["nodes"]):
        node = 0
        for j in range(i):
            w = torch.softmax(alphas[(i, j)], -1)
            node = node + sum(w[o] * m(states[j]) for o, m in enumerate(modules[(i, j)].values()))
        states.append(node)
    out = torch.cat(states[CASE["predecessors"]:], dim=1)
    (out * loss_weights(out.shape)).sum().backward()
    return out.detach(), {f"{i}_{j}": a.grad for (i, j), a in alphas.items()}, alphas


def _paper_genotype(alphas) -> dict:
    """Section 2.4: each node keeps the 2 strongest incoming edges (strength: the largest
    softmax weight of a non-zero op), each with its best non-zero op; strongest first."""
    out = {}
    for i in range(CASE["predecessors"], CASE["predecessors"] + CASE["nodes"]):
        w = {j: torch.softmax(alphas[(i, j)].detach(), -1)[:-1] for j in range(i)}
        edges = sorted(range(i), key=lambda j: -float(w[j].max()))[:CASE["ops_per_node"]]
        for k, j in enumerate(edges):
            out[f"normal.input_{i}_{k}"] = j
            out[f"normal.op_{i}_{k}"] = CASE["ops"][int(w[j].argmax())]
    return out


def test_the_cell_is_relaxed_by_edges_with_a_zero_op():
    cells = relaxed_cells(_space())
    assert list(cells) == ["normal"]
    assert cells["normal"].names == (*CASE["ops"], "none")
    net = build_supernet(_space(), "darts", seed=0)
    assert sorted(net.policy.alphas) == sorted(f"normal.edge_{i}_{j}" for i, j in EDGES)
    assert sum(p.numel() for p in net.arch_parameters()) == len(EDGES) * (len(CASE["ops"]) + 1)


@pytest.mark.parametrize("passes", [(), None], ids=["plain", "default-passes"])
def test_same_output_gradients_and_genotype_as_the_paper(passes):
    ours, our_grads = _run(net := _ours(passes))
    ref, ref_grads, alphas = _paper()
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)
    for edge in ref_grads:
        torch.testing.assert_close(our_grads[edge], ref_grads[edge], rtol=1e-9, atol=1e-9)
    assert net.export() == _paper_genotype(alphas)


@pytest.mark.parametrize("passes", [(), None], ids=["plain", "default-passes"])
def test_same_output_gradients_and_genotype_as_nni(passes):
    nni = json.loads(NNI_NUMBERS.read_text())
    assert nni["case"] == CASE
    ours, grads = _run(net := _ours(passes))
    assert list(ours.shape) == nni["shape"]
    torch.testing.assert_close(ours.flatten(), torch.tensor(nni["output"], dtype=torch.float64), rtol=1e-9, atol=1e-9)
    for edge, grad in nni["alpha_grad"].items():
        expected = torch.tensor(grad, dtype=torch.float64)
        assert float((grads[edge] - expected).abs().max()) <= 1e-6 * float(expected.abs().max())
    assert net.export() == nni["genotype"]
    assert sum(p.numel() for p in net.arch_parameters()) == nni["arch_params"]


def test_nni_ranks_raw_alphas_where_darts_ranks_softmax_weights():
    """NNI's export sorts (alpha, edge, op) over a node's edges; DARTS (and ours) compares
    softmax weights. Shifting one edge's alphas changes NNI's ranking, never DARTS's."""
    from nasdsl.lower.edges import CellEdges, EdgeNode
    node = EdgeNode(2, (("op_0", "in_0"),), ("e0", "e1"))
    cell = CellEdges("c", ("conv", "skip", "none"), (True, True, False), (node,))
    alphas = {"e0": [2.0, 1.9, 0.0], "e1": [0.0, -3.0, -3.0]}    # softmax: e1's conv .91 beats e0's .49
    soft = {e: torch.softmax(torch.tensor(a), -1).tolist() for e, a in alphas.items()}
    assert genotype(cell, soft.__getitem__) == {"in_0": 1, "op_0": "conv"}
    assert max(alphas["e0"][:2]) > max(alphas["e1"][:2])            # raw alpha: NNI would take e0


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.1, 10.0))
def test_export_is_the_papers_genotype(seed, scale):
    net = build_supernet(_space(), "darts", seed=0)
    g = torch.Generator().manual_seed(seed)
    alphas = {}
    with torch.no_grad():
        for i, j in EDGES:
            # float32 values (the supernet's), compared in float64 on both sides
            alphas[(i, j)] = (torch.randn(len(CASE["ops"]) + 1, generator=g) * scale).double()
            net.policy.alphas[f"normal.edge_{i}_{j}"].copy_(alphas[(i, j)])
    assert net.export() == _paper_genotype(alphas)


def test_genotype_reuses_edges_only_when_a_node_has_too_few():
    """A first node with 2 inputs and 3 op slots: both edges first (strongest first), then the
    best remaining (edge, op) pair."""
    space = nasdsl.loads(SPACE.replace(f"ops_per_node={CASE['ops_per_node']}", "ops_per_node=3"))
    cell = relaxed_cells(space)["normal"]
    w = {"normal.edge_2_0": [0.5, 0.3, 0.1, 0.05, 0.05, 0.0], "normal.edge_2_1": [0.0, 0.0, 0.0, 0.0, 0.4, 0.6]}
    w.update({e: [0.2] * 5 + [0.0] for node in cell.nodes[1:] for e in node.edges})
    got = genotype(cell, w.__getitem__)
    assert [(got[f"normal.input_2_{k}"], got[f"normal.op_2_{k}"]) for k in range(3)] == \
        [(0, "conv3"), (1, "skip"), (0, "conv1")]


def test_darts_space_has_nnis_architecture_parameter_count():
    space = nasdsl.load("darts", {"C": 4, "layers": 5})
    assert sum(p.numel() for p in build_supernet(space, "darts", seed=0).arch_parameters()) == 224
    assert sum(p.numel() for p in build_supernet(space, "gumbel", seed=0).arch_parameters()) == 224
    # the per-slot relaxation, by name: an input choice and an op choice per slot
    assert sum(p.numel() for p in build_supernet(space, "darts", seed=0, cells="slot").arch_parameters()) == 168


def test_fixed_architecture_runs_exactly_its_discrete_model():
    from nasdsl.lower.discrete import build
    space = _space()
    net = build_supernet(space, "darts", seed=0)
    arch = {**space.sample(3), "normal.input_3_0": 1, "normal.input_3_1": 1}   # one edge read twice
    arch = space.validate(arch)
    net.fix(arch)
    net.eval()
    model = build(space, arch)
    model.load_state_dict(net.sub_state_dict(arch))
    model.eval()
    xs = [x.float() for x in inputs()]
    torch.testing.assert_close(net(*xs), model(*xs), rtol=1e-5, atol=1e-6)
    assert net.export() == arch


@pytest.mark.slow
@pytest.mark.skipif(nni_hub.nni_python() is None, reason="no NNI venv (../shared/baselines/nni-venv.sh)")
def test_nni_side_still_computes_the_stored_numbers():
    done = subprocess.run([nni_hub.nni_python(), str(HERE / "nni_hub" / "_nni_cell.py")], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == json.loads(NNI_NUMBERS.read_text())


def test_cells_option_through_the_cli(tmp_path, capsys):
    """`nasdsl search --cells`: edge by default (search.json and the checkpoint record it, the
    exported cell is a genotype: each node reads two distinct inputs), slot by name; resuming
    with the other relaxation, or naming one for a sampling strategy, is one clear error."""
    from nasdsl.cli import main
    small = ["examples/small_cell.nas", "--set", "C=4", "--data", "digits", "--batch-size", "256", "--epochs", "1"]
    out = tmp_path / "edge"
    assert main(["search", *small, "--strategy", "darts", "--out", str(out)]) == 0
    assert json.loads((out / "search.json").read_text())["cells"] == "edge"
    arch = json.loads((out / "arch.json").read_text())
    for cell in ("normal", "reduce"):
        for i in (2, 3, 4):
            assert arch[f"{cell}.input_{i}_0"] != arch[f"{cell}.input_{i}_1"]
    assert "normal.edge_2_0" in json.loads((out / "probs.json").read_text())
    capsys.readouterr()
    assert main(["search", *small, "--strategy", "darts", "--out", str(out), "--resume", "--cells", "slot"]) == 1
    err = capsys.readouterr().err
    assert "relaxed its cells by edge, now by slot; pass --cells edge" in err and "Traceback" not in err
    assert main(["search", *small, "--strategy", "gumbel", "--cells", "slot", "--out", str(tmp_path / "slot")]) == 0
    assert "normal.input_2_0" in json.loads((tmp_path / "slot" / "probs.json").read_text())
    capsys.readouterr()
    assert main(["search", *small, "--strategy", "spos", "--cells", "slot", "--out", str(tmp_path / "s")]) == 1
    assert "--cells is how darts and gumbel relax a cell; spos" in capsys.readouterr().err


def test_supernet_checkpoint_keeps_its_cell_relaxation(tmp_path):
    from nasdsl.checkpoint import load_checkpoint
    from nasdsl.cli import main
    path = tmp_path / "net.pt"
    assert main(["compile", "examples/small_cell.nas", "--set", "C=4", "--strategy", "darts",
                 "--output", str(path)]) == 0
    net = load_checkpoint(path).model()
    assert net.cells == "edge" and sum(p.numel() for p in net.arch_parameters()) == 108


def test_export_under_a_budget_keeps_the_genotype_where_it_can():
    """A params budget that the DARTS genotype of the edges breaks: the export keeps the budget
    and changes as few of the cell's decisions as it must; a budget the genotype keeps leaves
    the genotype as it is."""
    from nasdsl.analysis.shapes import costs
    source = (nasdsl.spaces_dir() / "darts.nas").read_text()
    small = {"C": 4, "layers": 3}
    free = build_supernet(nasdsl.load("darts", small), "darts", seed=0)
    torch.manual_seed(0)
    with torch.no_grad():
        for alpha in free.arch_parameters():
            alpha.normal_(0, 1)
    top = free.export()
    limit = int(0.9 * costs(free.space, top)["params"])
    for budget, keeps in ((f"require params <= {limit}", False), ("require params <= 1e9", True)):
        space = nasdsl.loads(source + f"\n{budget}\n", params=small)
        net = build_supernet(space, "darts", seed=0)
        with torch.no_grad():
            for label, alpha in net.policy.alphas.items():
                alpha.copy_(free.policy.alphas[label])
        arch = net.export()
        assert space.validate(arch) == arch
        changed = [label for label in top if arch[label] != top[label]]
        if keeps:
            assert changed == []
        else:
            assert costs(space, arch)["params"] <= limit and 0 < len(changed) < len(top) // 2
