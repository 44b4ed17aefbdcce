"""A supernet's export is the most probable valid architecture (`nasdsl/analysis/best.py`): among
the architectures that keep the space's constraints and budgets, those whose cell nodes repeat
the fewest inputs (none where the space allows, DARTS's genotype rule), and among them the one
with the highest log-probability. Checked on the minimal case that the greedy pass got wrong,
on the DARTS space against the optimum node by node, and as a property against brute force
over small cell spaces. Cells here are mixed slot by slot (`cells="slot"`: an input choice and
an op choice per slot, as proxyless's gates also are); under darts/gumbel's default edge
relaxation the genotype comes from the edges (tests/test_darts_cell.py)."""
import math
import random
from itertools import product

import pytest

torch = pytest.importorskip("torch")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import nasdsl  # noqa: E402
from nasdsl.analysis.best import most_probable  # noqa: E402
from nasdsl.errors import EmptySpaceError  # noqa: E402
from nasdsl.lower.policy import ArchState  # noqa: E402
from nasdsl.testing import small_programs  # noqa: E402

ONE_NODE = """network(x: [4, 6, 6]) {
  y = cell(lambda input: choice { a: Identity(), b: MaxPool2d(3, 1, 1) }, nodes=1, ops_per_node=2,
           predecessors=2, label="normal")(x, x)
  return y
}"""


def set_probs(state: ArchState, probs: dict[str, list[float]]) -> None:
    """alpha = log p: the state's softmax is then exactly p."""
    with torch.no_grad():
        for label, p in probs.items():
            state.alphas[label].copy_(torch.tensor([math.log(q) for q in p]))


@pytest.mark.parametrize("mode", ["mixture", "gated"])
def test_a_node_takes_its_most_probable_pair_of_distinct_inputs(mode):
    """input_2_0: p(0) = .51, p(1) = .49; input_2_1: p(0) = .99. Taking slot 0's best input
    first leaves slot 1 input 1: joint 0.51 * 0.01 = 0.0051; the export is (1, 0), 0.4851."""
    state = ArchState(nasdsl.loads(ONE_NODE), mode, seed=0, cells="slot")
    set_probs(state, {"normal.input_2_0": [0.51, 0.49], "normal.input_2_1": [0.99, 0.01],
                      "normal.op_2_0": [0.3, 0.7], "normal.op_2_1": [0.6, 0.4]})
    assert state.export() == {"normal.input_2_0": 1, "normal.op_2_0": "b", "normal.input_2_1": 0, "normal.op_2_1": "a"}
    assert math.isclose(math.exp(state.log_prob(state.export())), 0.49 * 0.7 * 0.99 * 0.6, rel_tol=1e-6)   # float32 alphas


def test_a_node_with_one_candidate_input_reads_it_twice_and_the_others_stay_distinct():
    """predecessors=1: node 1 can only read input 0, twice; node 2 still takes distinct inputs,
    its most probable pair (0, 1) though both slots prefer input 1 alone."""
    space = nasdsl.loads("""network(x: [4, 6, 6]) {
  y = x -> cell(lambda input: choice { a: Identity(), b: MaxPool2d(3, 1, 1) }, nodes=2, ops_per_node=2,
                postprocess=Conv2d(8, 4, 1), label="n")
  return y
}""")
    state = ArchState(space, "mixture", seed=0, cells="slot")
    set_probs(state, {"n.input_2_0": [0.45, 0.55], "n.input_2_1": [0.1, 0.9],
                      **{f"n.op_{i}_{k}": [0.8, 0.2] for i in (1, 2) for k in (0, 1)}})
    assert state.export() == {"n.input_1_0": 0, "n.op_1_0": "a", "n.input_1_1": 0, "n.op_1_1": "a",
                              "n.input_2_0": 0, "n.op_2_0": "a", "n.input_2_1": 1, "n.op_2_1": "a"}


def node_optimum(space, table, cell: str, node: int, slots: int) -> tuple:
    """The best inputs of one cell node, by brute force: distinct inputs, highest total."""
    domains = [space.decision(f"{cell}.input_{node}_{k}").values for k in range(slots)]
    return max((pair for pair in product(*domains) if len(set(pair)) == slots),
               key=lambda pair: sum(table[f"{cell}.input_{node}_{k}"][v] for k, v in enumerate(pair)))


@pytest.mark.parametrize("scale", [1e-3, 1.0])
def test_the_darts_space_exports_every_node_at_its_optimum(scale):
    """Random parameters (as initialised, and as trained): with no constraint, each node's pair of
    inputs is the node's own optimum, and each op its argmax."""
    space = nasdsl.load("darts", {"C": 4, "layers": 3})
    state = ArchState(space, "mixture", seed=0, cells="slot")
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for alpha in state.alphas.values():
            alpha.copy_(torch.randn(alpha.shape, generator=gen) * scale)
    table = state.log_probs()
    arch = state.export()
    for cell in ("normal", "reduce"):
        for node in range(2, 6):
            inputs = tuple(arch[f"{cell}.input_{node}_{k}"] for k in range(2))
            assert inputs == node_optimum(space, table, cell, node, 2)
            for k in range(2):
                d = space.decision(f"{cell}.op_{node}_{k}")
                assert table[d.label].index(max(table[d.label])) == d.values.index(arch[d.label])


# --- the property: export equals brute force over small cell spaces ---------------------------

OPS = ["conv: Conv2d(4, 4, 3, padding=1)", "pool: MaxPool2d(3, 1, 1)", "skip: Identity()"]


def cell_size(predecessors: int, nodes: int, slots: int, ops: int) -> int:
    return math.prod((i * ops) ** slots for i in range(predecessors, predecessors + nodes))


@st.composite
def cell_spaces(draw, budgets: bool = False, most: int = 3000):
    """A `.nas` text with one cell (1-2 predecessors, 1-3 nodes, 1-3 op slots per node, 2-3 ops)
    and a plain choice after it, at most `most` architectures, with up to two `forbid` /
    `require` lines over random decisions and, with `budgets`, a params budget."""
    predecessors, nodes, slots, n_ops = (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
                                         draw(st.integers(1, 3)), draw(st.integers(2, 3)))
    assume(cell_size(predecessors, nodes, slots, n_ops) * 2 <= most)
    ops = draw(st.permutations(OPS))[:n_ops]
    apply = "cell(...)(x, x)" if predecessors == 2 else "x -> cell(...)"
    cell = (f'cell(lambda input: choice {{ {", ".join(ops)} }}, nodes={nodes}, ops_per_node={slots}, '
            f'predecessors={predecessors}, postprocess=Conv2d({nodes * 4}, 4, 1), label="n")')
    lines = ["network(x: [4, 6, 6]) {", f"  y = {apply.replace('cell(...)', cell)}",
             "  z = y -> choice { r: ReLU(), t: Tanh() }", "  return z", "}"]
    domains = {"z": ["r", "t"]}
    for i in range(predecessors, predecessors + nodes):
        for k in range(slots):
            domains[f"n.input_{i}_{k}"] = list(range(i))
            domains[f"n.op_{i}_{k}"] = [op.split(":")[0] for op in ops]
    labels = sorted(domains)
    for _ in range(draw(st.integers(0, 2))):
        a, b = draw(st.sampled_from(labels)), draw(st.sampled_from(labels))
        va, vb = draw(st.sampled_from(domains[a])), draw(st.sampled_from(domains[b]))
        kind = draw(st.sampled_from(["forbid", "require"]))
        test = "==" if kind == "forbid" else "!="
        lines.append(f'{kind} decision("{a}") {test} {va!r} and decision("{b}") {test} {vb!r}'.replace("'", '"'))
    if budgets:
        lines.append(f"require params <= {draw(st.integers(36, 36 + 148 * nodes * slots))}")
    return "\n".join(lines) + "\n"


def loads(text: str):
    """The space, or a rejected example where the drawn constraints leave nothing."""
    try:
        space = nasdsl.loads(text)
    except EmptySpaceError:
        assume(False)
    assume(space.size() > 0)
    return space


def duplicates(space, arch) -> int:
    """Repeated inputs over the cell's nodes: per node, its slots less the inputs they read."""
    nodes = {}
    for label, value in arch.items():
        if ".input_" in label:
            nodes.setdefault(label.rsplit("_", 1)[0], []).append(value)
    return sum(len(v) - len(set(v)) for v in nodes.values())


def log_p(table, space, arch) -> float:
    return sum(table[label][space.decision(label).values.index(value)] for label, value in arch.items())


def brute_force(space, table) -> tuple[int, float]:
    """The best (fewest repeated inputs, then highest log-probability) over every valid
    architecture, as (duplicates, -log-probability)."""
    return min((duplicates(space, a), -log_p(table, space, a)) for a in space.enumerate())


def random_alphas(state: ArchState, seed: int, scale: float, tied: bool) -> None:
    """Gaussian parameters; `tied`: every op slot of a node gets its first slot's input
    parameters (the case where a node's slots agree on one best input)."""
    rng = random.Random(seed)
    with torch.no_grad():
        for alpha in state.alphas.values():
            alpha.copy_(torch.tensor([rng.gauss(0, scale) for _ in range(alpha.numel())]))
        for label, alpha in state.alphas.items():
            if tied and ".input_" in label:
                alpha.copy_(state.alphas[label.rsplit("_", 1)[0] + "_0"])


def check(space, table, arch) -> None:
    assert space.validate(arch) == arch
    want_duplicates, minus_log_p = brute_force(space, table)
    assert duplicates(space, arch) == want_duplicates
    assert log_p(table, space, arch) >= -minus_log_p - 1e-9


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(cell_spaces(), st.integers(0, 10 ** 6), st.sampled_from([1e-3, 0.5, 3.0]), st.booleans())
def test_export_is_the_brute_force_optimum_of_small_cell_spaces(text, seed, scale, tied):
    space = loads(text)
    state = ArchState(space, "mixture", seed=0, cells="slot")
    random_alphas(state, seed, scale, tied)
    check(space, state.log_probs(), state.export())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(cell_spaces(budgets=True, most=800), st.integers(0, 10 ** 6), st.sampled_from([0.5, 3.0]))
def test_the_search_under_a_budget_finds_the_brute_force_optimum(text, seed, scale):
    """With budgets the search checks complete architectures until one keeps them; allowed to
    check them all (the export's default gives up after 100, then takes a priced greedy pass),
    it is exact."""
    space = loads(text)
    assume(any(True for _ in space.enumerate()))
    state = ArchState(space, "mixture", seed=0, cells="slot")
    random_alphas(state, seed, scale, False)
    table = state.log_probs()
    check(space, table, most_probable(space, table, state._distinct_inputs(), max_checks=space.size()))


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(small_programs(), st.integers(0, 10 ** 6), st.sampled_from([0.5, 3.0]))
def test_export_is_the_brute_force_optimum_of_generated_spaces_whose_decisions_are_always_active(text, seed, scale):
    """Any program of the language (layer, value and input choices, repeats, cells, `forbid` /
    `require`) whose decisions are all always active. (Where some are conditional, a
    decision-wise argmax that validates is returned as is: the module docstring's caveat.)"""
    space = nasdsl.loads(text)
    assume(all(d.condition is True for d in space.decisions) and not space.budgets)
    state = ArchState(space, "mixture", seed=0, cells="slot")
    random_alphas(state, seed, scale, False)
    table, groups = state.log_probs(), set(state._distinct_inputs())

    def objective(arch) -> tuple[int, float]:
        repeats = sum(len(g) - len({repr(arch[label]) for label in g}) for g in groups)
        return repeats, -sum(table[label][state.index(label, value)] for label, value in arch.items())
    want = min(objective(a) for a in space.enumerate())
    got = objective(state.export())
    assert got[0] == want[0] and got[1] <= want[1] + 1e-9
