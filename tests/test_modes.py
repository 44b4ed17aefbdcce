"""Execution modes as objects (nasdsl.lower.modes): each mode's output on a tiny space against a
hand computation, the mode a strategy declares, and no mode flag tested outside modes.py."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import nasdsl  # noqa: E402
from nasdsl import strategy  # noqa: E402
from nasdsl.errors import NasError  # noqa: E402
from nasdsl.lower.modes import EdgeMixture, Gated, Mixture, mode_of  # noqa: E402
from nasdsl.lower.modes import Path as PathMode
from nasdsl.lower.supernet import build_supernet  # noqa: E402

PACKAGE = Path(__file__).resolve().parents[1] / "nasdsl"
CHOICE = "network(x: [2]) { return x -> choice { a: Identity(), b: ReLU(), c: Tanh() } }"
X = torch.tensor([[-1.0, 2.0]])
CANDIDATES = [X, torch.relu(X), torch.tanh(X)]   # a, b, c by hand
ALPHA = torch.tensor([0.5, -1.0, 2.0])


def _space():
    return nasdsl.loads(CHOICE)


def _with_alpha(net):
    with torch.no_grad():
        net.policy.alphas["out"].copy_(ALPHA)
    return net


def test_mode_of_names_each_mode_and_refuses_unknown_ones():
    assert [type(mode_of(m, c)) for m, c in (("mixture", "edge"), ("mixture", "slot"), ("path", "edge"),
                                             ("gated", "slot"))] == [EdgeMixture, Mixture, PathMode, Gated]
    mode = Gated()
    assert mode_of(mode) is mode
    with pytest.raises(NasError, match="unknown execution mode 'darts'; choose one of mixture, path, gated"):
        mode_of("darts")
    with pytest.raises(NasError, match="unknown cell relaxation 'node'; choose one of edge, slot"):
        mode_of("path", "node")


def test_a_mixture_sums_every_candidate_weighted_by_softmax_of_alpha():
    net = _with_alpha(build_supernet(_space(), "mixture", seed=0))
    w = torch.softmax(ALPHA, dim=0)
    expected = w[0] * CANDIDATES[0] + w[1] * CANDIDATES[1] + w[2] * CANDIDATES[2]
    assert torch.allclose(net(X), expected, atol=1e-6)
    net.fix({"out": "b"})                  # one-hot alpha: exactly the fixed candidate
    assert torch.equal(net(X), CANDIDATES[1])
    assert net.export() == {"out": "b"}


def test_a_mixture_takes_the_weights_its_strategy_gives_it():
    seen = []

    class Halves:
        hard = False

        def __call__(self, alpha):
            return torch.full_like(alpha, 0.5)

        def gates(self, alpha):
            return alpha

    def weights(generator):
        seen.append(generator)
        return Halves()

    net = build_supernet(_space(), mode_of("mixture", weights=weights), seed=0)
    assert seen == [net.policy.generator]     # drawn from the supernet's own seeded generator
    assert torch.allclose(net(X), 0.5 * (CANDIDATES[0] + CANDIDATES[1] + CANDIDATES[2]), atol=1e-6)
    net.eval()
    with torch.no_grad():                     # without gradient: softmax(alpha), as for darts
        assert torch.allclose(net(X), sum(w * c for w, c in zip(torch.softmax(net.policy.alphas["out"], 0),
                                                                   CANDIDATES)), atol=1e-6)


def test_a_path_runs_exactly_the_candidate_on_it_and_has_no_parameters():
    net = build_supernet(_space(), "path", seed=0)
    assert net.arch_parameters() == []
    assert net.export()["out"] in ("a", "b", "c")   # a new path supernet starts on a drawn path
    for i, value in enumerate("abc"):
        net.fix({"out": value})
        assert torch.equal(net(X), CANDIDATES[i])
        assert net.export() == {"out": value}
    assert net.resample(choose=lambda d: d.values[2]) == {"out": "c"}
    assert torch.equal(net(X), CANDIDATES[2])


def test_a_gated_choice_runs_one_candidate_and_learns_alpha_through_its_binary_gate():
    net = _with_alpha(build_supernet(_space(), "gated", seed=0))
    net.fix({"out": "b"})
    out = net(X)
    assert torch.equal(out, CANDIDATES[1])
    out.sum().backward()
    # ProxylessNAS: dL/dalpha_i = p_i (g_i - sum_j g_j p_j), g_j = <dL/dout, path j's output>
    p = torch.softmax(ALPHA, dim=0)
    g = torch.stack([c.sum() for c in CANDIDATES])
    assert torch.allclose(net.policy.alphas["out"].grad, p * (g - (g * p).sum()), atol=1e-6)
    assert net.export() == {"out": "c"}   # the most probable value, not the path
    drawn = {net.resample()["out"] for _ in range(40)}   # drawn from softmax(alpha): c most often
    assert drawn <= {"a", "b", "c"} and "c" in drawn


def test_path_and_gated_modes_run_the_layout_pass_alone():
    chosen = frozenset({"fold_bn", "input_mix", "channels_last"})
    assert PathMode().passes(chosen) == Gated().passes(chosen) == {"channels_last"}
    assert Mixture().passes(chosen) == EdgeMixture().passes(chosen) == chosen


def test_an_edge_mixture_relaxes_cells_by_edges_and_a_fixed_cell_runs_its_path():
    space = nasdsl.load("examples/small_cell.nas")
    edge = build_supernet(space, "mixture", seed=0)
    slot = build_supernet(space, "mixture", seed=0, cells="slot")
    assert edge.cells == "edge" and slot.cells == "slot"
    assert all(".edge_" in label for label in edge.policy.alphas if label.startswith(("normal.", "reduce.")))
    assert not any(".edge_" in label for label in slot.policy.alphas)
    arch = space.sample(__import__("random").Random(3))
    edge = build_supernet(space, "mixture", seed=0, passes=())   # the plain ops, as a path runs them
    path = build_supernet(space, "path", seed=0, passes=())
    path.load_state_dict(edge.state_dict(), strict=False)
    for net in (edge, path):
        net.fix(arch)
        net.eval()
    x = torch.randn(1, *space.template.inputs[0].shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(edge(x), path(x))   # one vector per edge cannot encode the path: it runs it


def test_each_strategy_builds_the_mode_it_declares():
    space = _space()
    for name in strategy.ONE_SHOT:
        declared = strategy.declared(name)
        net = strategy.build_supernet(space, name, seed=0)
        assert net.mode.name == declared.mode, name
        assert declared.penalty == bool(net.arch_parameters()), name   # a penalty needs a distribution
    with pytest.raises(NasError, match="multi-trial"):
        strategy.declared("evolution")


def test_gumbel_anneals_only_the_weights_its_supernet_was_built_with():
    from nasdsl.strategy.gumbel import Gumbel
    from nasdsl.strategy.weighting import GumbelWeights
    net = strategy.build_supernet(_space(), "gumbel", seed=0, tau=0.5)
    assert isinstance(net.policy.weigh, GumbelWeights) and net.policy.weigh.generator is net.policy.generator
    module = Gumbel(net, tau_max=2.0, hard=True)
    assert (net.policy.weigh.tau, net.policy.weigh.hard) == (2.0, True)
    assert module.weights is net.policy.weigh
    with pytest.raises(NasError, match="gumbel anneals the temperature of Gumbel-softmax weights"):
        Gumbel(strategy.build_supernet(_space(), "darts", seed=0))


# the old flags: an attribute of the state asked which mode it is in, or a mode named in a comparison
FLAGS = re.compile(r"\.mixes\b|\.gated\b|[!=]=\s*\"(mixture|path|gated)\"|\bMODES\[|_samples_only")
# the driver naming a strategy, or asking a strategy object what it has
NAMED = re.compile(r"\bname\s*[!=]=\s*\"|\bname\s+(not\s+)?in\s+[A-Z_]{4,}|hasattr\(module")


def test_no_mode_flag_is_tested_outside_the_modes_module():
    found = [f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
             for path in sorted(PACKAGE.rglob("*.py")) if path.name != "modes.py"
             for n, line in enumerate(path.read_text().splitlines(), start=1) if FLAGS.search(line)]
    assert found == []
    modes = (PACKAGE / "lower" / "modes.py").read_text()
    assert FLAGS.search(modes)   # the pattern finds what it looks for (mode_of reads the names)


def test_the_one_shot_driver_reads_declarations_not_strategy_names():
    driver = (PACKAGE / "search" / "oneshot.py").read_text()
    code = [line for line in driver.splitlines() if not line.lstrip().startswith(("#", "help=", "raise", "f\""))]
    assert [line.strip() for line in code if NAMED.search(line) or '"darts"' in line] == []
    assert "declared(" in driver
