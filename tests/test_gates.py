"""Any-subset input choices under darts and gumbel: one gate per candidate, not one weight per
subset. The mixture is the expected reduced output under independent gates conditioned on
`min` (checked against brute force over every subset), fixing the gates to a subset computes
what the discrete model computes, the gradient reaches every gate, gumbel's relaxed gates are
binary concrete, and `export()` picks the gates above one half topped up to `min`.

`export()` in general: the most probable architecture that satisfies the constraints and the
budgets, checked against brute force over whole spaces."""
from __future__ import annotations

import itertools
import json
import math

import pytest

torch = pytest.importorskip("torch")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_equivalence import assert_equivalent  # noqa: E402

import nasdsl  # noqa: E402
from nasdsl.cli import main  # noqa: E402
from nasdsl.lower.discrete import reduce_inputs  # noqa: E402
from nasdsl.lower.policy import hard_weights, subset_weights  # noqa: E402
from nasdsl.strategy import build_supernet  # noqa: E402
from nasdsl.strategy.gumbel import GumbelWeights  # noqa: E402

SKIPS = """param layers = 4
block Op(c) = choice { conv3: Conv2d(c, c, 3, padding=1), pool: MaxPool2d(3, 1, 1), id: Identity() }
network(x: [4, 6, 6]) {
  outs = [x -> Conv2d(4, 4, 1)]
  for i in range(layers) {
    y = outs[i] -> Op(4)
    if i > 0 {
      skip = pick(outs[0:i + 1], n="any", min=MIN, reduce="REDUCE")
      y = y + skip
    }
    outs = outs + [y]
  }
  return outs[layers] -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(4, 3)
}
"""


def skips(least: int, reduce: str):
    return nasdsl.loads(SKIPS.replace("MIN", str(least)).replace("REDUCE", reduce))


def brute_weights(logits: list[float], least: int, reduce: str) -> list[float]:
    """E[b_i g(|S|) | |S| >= least] by enumerating every subset."""
    k = len(logits)
    p = [1 / (1 + math.exp(-a)) for a in logits]
    num, den = [0.0] * k, 0.0
    for bits in itertools.product((0, 1), repeat=k):
        size = sum(bits)
        if size < least:
            continue
        prob = math.prod(q if b else 1 - q for q, b in zip(p, bits))
        den += prob
        for i, b in enumerate(bits):
            if b:
                num[i] += prob * (1 / size if reduce == "mean" else 1.0)
    return [n / den for n in num]


# --- the parameters: linear in the candidates ----------------------------------------------------

@pytest.mark.parametrize("strategy", ["darts", "gumbel"])
def test_enas_macro_has_one_gate_per_skip_candidate(strategy):
    """examples/macro.nas at 12 layers: 3 ops per layer and, at layer i >= 1, i skip candidates
    with min=0: 12 * 3 + (1 + ... + 11) = 102 architecture parameters (one per subset: 4,130)."""
    space = nasdsl.load("examples/macro.nas", {"layers": 12})
    net = build_supernet(space, strategy, seed=0)
    assert sum(p.numel() for p in net.arch_parameters()) == 12 * 3 + sum(range(1, 12)) == 102
    assert sum(len(d.values) for d in space.decisions) == 12 * 3 + sum(2 ** i for i in range(1, 12)) == 4130
    for i in range(1, 12):
        assert net.policy.alphas[f"skip.{i}"].shape == (i,)
        assert net.policy.gates[f"skip.{i}"] == 0
    # the library's ENAS macro space decides each skip edge on its own (on/off): linear already
    enas = nasdsl.load("enas_macro")
    assert sum(p.numel() for p in build_supernet(enas, strategy, seed=0).arch_parameters()) == 12 * 6 + 66 * 2


def test_sampling_modes_keep_subsets():
    space = skips(1, "sum")
    assert build_supernet(space, "proxyless", seed=0).policy.alphas["skip.2"].shape == (7,)   # 2^3 - 1 subsets
    assert not build_supernet(space, "proxyless", seed=0).policy.gates
    assert build_supernet(space, "darts", seed=0).policy.alphas["skip.2"].shape == (3,)


# --- the mixture: the expected output over the gates ---------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-6, 6), min_size=1, max_size=6), st.data(), st.sampled_from(["sum", "mean"]))
def test_subset_weights_are_the_conditional_expectation(logits, data, reduce):
    least = data.draw(st.integers(0, len(logits)))
    got = subset_weights(torch.tensor(logits, dtype=torch.float64), least, reduce).tolist()
    assert got == pytest.approx(brute_weights(logits, least, reduce), rel=1e-9, abs=1e-12)


def test_subset_weights_stay_finite_at_extreme_logits():
    for logits in ([-80.0, -90.0, -100.0], [1e4, -1e4, -1e4], [-1e4] * 3, [60.0, 70.0, -70.0]):
        for least in range(4):
            for reduce in ("sum", "mean"):
                w = subset_weights(torch.tensor(logits, requires_grad=True), least, reduce)
                assert torch.isfinite(w).all(), (logits, least, reduce)
                w.sum().backward()
    # all gates off but one must be chosen: the strongest one takes the whole weight
    assert subset_weights(torch.tensor([-80.0, -90.0, -100.0]), 1, "sum").tolist() == pytest.approx([1, 0, 0], abs=1e-4)


@pytest.mark.parametrize("least", [0, 1, 2])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_a_gated_pick_computes_the_expected_output_over_its_subsets(least, reduce):
    """The input choice's output is sum over subsets S (|S| >= min) of P(S) reduce(x_S), with
    P(S) the gates' probability of S renormalised over the allowed subsets: `probs(label)`."""
    space = skips(least, reduce)
    net = build_supernet(space, "darts", seed=0)
    torch.manual_seed(1)
    with torch.no_grad():
        for alpha in net.arch_parameters():
            alpha.normal_(0, 1.5)
    graph = net.net
    pick = next(n for n in space.template.nodes if getattr(n, "label", None) == "skip.3")
    xs = [torch.randn(2, 4, 6, 6, dtype=torch.float64) for _ in pick.inputs]
    net.policy.begin()
    got = graph.pick(pick, xs)
    probs = net.policy.probs("skip.3").detach().double()
    assert float(probs.sum()) == pytest.approx(1.0)
    expected = sum(p * reduce_inputs([xs[i] for i in subset], reduce, like=xs[0])
                   for p, subset in zip(probs, space.decision("skip.3").values))
    assert torch.allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("strategy", ["darts", "gumbel"])
@pytest.mark.parametrize("least", [0, 1])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_gates_fixed_to_a_subset_equal_the_discrete_model(strategy, least, reduce):
    space = skips(least, reduce)
    labels = [d.label for d in space.decisions if d.label.startswith("skip")]
    for seed in range(4):
        arch = space.sample(seed=seed)
        assert_equivalent(space, strategy, arch)
    base = space.sample(seed=9)   # the smallest and the largest subsets too
    for pick_of in (lambda d: d.values[0], lambda d: d.values[-1]):
        arch = {**base, **{label: list(pick_of(space.decision(label))) for label in labels}}
        assert_equivalent(space, strategy, space.validate(arch))


@pytest.mark.parametrize("strategy", ["darts", "gumbel"])
@pytest.mark.parametrize("least", [0, 1, 2])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_the_gradient_reaches_every_gate(strategy, least, reduce):
    space = skips(least, reduce)
    net = build_supernet(space, strategy, seed=0)
    torch.manual_seed(0)
    net(torch.randn(3, 4, 6, 6)).pow(2).sum().backward()
    for label, alpha in net.policy.alphas.items():
        if len(space.decision(label).values) == 1:   # min = k: a single subset, nothing to learn
            assert alpha.grad is not None and float(alpha.grad.abs().max()) < 1e-5   # a gradient, (all but) zero
            continue
        assert alpha.grad is not None and bool((alpha.grad != 0).all()), (label, alpha.grad)


def test_gate_gradient_matches_finite_differences():
    space = skips(1, "mean")
    net = build_supernet(space, "darts", seed=0).double()
    torch.manual_seed(0)
    with torch.no_grad():
        for alpha in net.arch_parameters():
            alpha.normal_(0, 1.0)
    net.eval()
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    alpha = net.policy.alphas["skip.3"]
    net(x).sum().backward()
    for i in range(alpha.numel()):
        with torch.no_grad():
            alpha[i] += 1e-6
            up = float(net(x).sum())
            alpha[i] -= 2e-6
            down = float(net(x).sum())
            alpha[i] += 1e-6
        assert float(alpha.grad[i]) == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-7)


# --- gumbel: binary concrete gates ---------------------------------------------------------------

def test_binary_concrete_gates_are_on_with_probability_sigmoid_alpha():
    alpha = torch.tensor([-1.5, 0.0, 0.7, 2.0])
    weigh = GumbelWeights(tau=0.5, generator=torch.Generator().manual_seed(0))
    on = torch.stack([weigh.gates(alpha) > 0 for _ in range(20000)]).double().mean(0)
    assert torch.allclose(on, torch.sigmoid(alpha).double(), atol=0.015), on
    for tau in (0.5, 0.1):   # the temperature sets how often a gate is far from 0 and 1
        weigh.tau = tau
        soft = torch.stack([torch.sigmoid(weigh.gates(alpha)) for _ in range(4000)])
        middle = float(((soft > 0.05) & (soft < 0.95)).double().mean())
        t = tau * math.log(19)   # sigmoid(z / tau) in (0.05, 0.95) iff |alpha + L| < t, L logistic
        expected = float((torch.sigmoid(t - alpha) - torch.sigmoid(-t - alpha)).mean())
        assert middle == pytest.approx(expected, abs=0.012), (tau, middle, expected)


def test_gumbel_temperature_and_hard_gates_reach_the_input_choice():
    from nasdsl.strategy.gumbel import Gumbel
    space = skips(2, "mean")
    module = Gumbel(build_supernet(space, "gumbel", seed=0), hard=True)
    policy = module.supernet.policy
    assert policy.weigh.hard and isinstance(policy.weigh, GumbelWeights)
    module.supernet(torch.randn(2, 4, 6, 6))
    for label in ("skip.1", "skip.2", "skip.3"):
        w = policy.input_weights(label, "mean")
        chosen = [i for i, v in enumerate(w.tolist()) if v > 0]
        assert len(chosen) >= 2 and w.tolist() == pytest.approx([1 / len(chosen) if i in chosen else 0.0
                                                                 for i in range(w.numel())])
    assert module.tau(0, 5) == 1.0 and module.tau(4, 5) == pytest.approx(0.33)


def test_hard_weights_top_up_to_min():
    assert hard_weights(torch.tensor([-1.0, 3.0, -2.0, -0.5]), 2, "sum").tolist() == [0, 1, 0, 1]
    assert hard_weights(torch.tensor([-1.0, -3.0]), 0, "mean").tolist() == [0, 0]
    assert hard_weights(torch.tensor([1.0, 3.0, -2.0]), 1, "mean").tolist() == [0.5, 0.5, 0]


# --- export --------------------------------------------------------------------------------------

@pytest.mark.parametrize("strategy", ["darts", "gumbel"])
def test_export_takes_gates_above_one_half_topped_up_to_min(strategy):
    space = skips(2, "sum")
    net = build_supernet(space, strategy, seed=0)
    with torch.no_grad():
        net.policy.alphas["skip.1"].copy_(torch.tensor([-1.0, -3.0]))        # none on: both (min 2)
        net.policy.alphas["skip.2"].copy_(torch.tensor([-1.0, 3.0, -0.5]))   # one on: + the strongest off
        net.policy.alphas["skip.3"].copy_(torch.tensor([0.2, 3.0, -0.5, 1.0]))
    arch = net.export()
    assert (arch["skip.1"], arch["skip.2"], arch["skip.3"]) == ([0, 1], [1, 2], [0, 1, 3])
    probs = net.export_probs()
    assert list(probs["skip.2"]) == ["0", "1", "2"]
    assert [probs["skip.2"][k] for k in "012"] == pytest.approx(torch.sigmoid(torch.tensor([-1.0, 3.0, -0.5])).tolist())
    zero = skips(0, "sum")
    net = build_supernet(zero, strategy, seed=0)
    with torch.no_grad():
        for label in ("skip.1", "skip.2", "skip.3"):
            net.policy.alphas[label].fill_(-0.1)
    assert [net.export()[f"skip.{i}"] for i in (1, 2, 3)] == [[], [], []]   # min 0: no skip at all


FORBID = """network(x: [4, 6, 6]) {
  a = x -> choice { c3: Conv2d(4, 4, 3, padding=1), c1: Conv2d(4, 4, 1), id: Identity() }
  b = a -> choice { c3: Conv2d(4, 4, 3, padding=1), c1: Conv2d(4, 4, 1), id: Identity() }
  s = pick(x, a, b, n="any", min=1, label="s")
  forbid decision("a") == "c3" and decision("b") == "c3"
  return s -> Conv2d(4, 4, 1)
}
"""


def _best_by_enumeration(space, net):
    return max(space.enumerate(), key=net.policy.log_prob)


@pytest.mark.parametrize("strategy", ["darts", "gumbel", "proxyless"])
def test_export_is_the_most_probable_valid_architecture_when_the_argmax_is_forbidden(strategy):
    space = nasdsl.loads(FORBID)
    net = build_supernet(space, strategy, seed=0)
    with torch.no_grad():
        net.policy.alphas["a"].copy_(torch.tensor([2.0, 0.0, -1.0]))
        net.policy.alphas["b"].copy_(torch.tensor([3.0, 0.5, -1.0]))
        if "s" in net.policy.gates:
            net.policy.alphas["s"].copy_(torch.tensor([1.0, 2.0, 0.5]))
        else:
            net.policy.alphas["s"].copy_(torch.arange(7, dtype=torch.float32))   # (0, 1, 2) strongest
    arch = net.export()
    assert space.validate(arch) == arch
    assert arch == _best_by_enumeration(space, net)
    assert arch["a"] == "c1" and arch["b"] == "c3"    # giving up a's c3 costs less than b's
    assert arch["s"] == [0, 1, 2]
    with torch.no_grad():   # where the argmax is valid, it is the result
        net.policy.alphas["a"].copy_(torch.tensor([0.0, 2.0, -1.0]))
    assert net.export()["a"] == "c1" and net.export()["b"] == "c3"


BUDGET = """network(x: [8]) {
  w = choice "w" [4, 16, 64]
  v = choice "v" [4, 16, 64]
  return x -> Linear(8, w) -> ReLU() -> Linear(w, v) -> ReLU() -> Linear(v, 2)
}
require params <= 700
"""


@pytest.mark.parametrize("strategy", ["darts", "proxyless"])
def test_export_keeps_the_budget(strategy):
    space = nasdsl.loads(BUDGET)
    net = build_supernet(space, strategy, seed=0)
    with torch.no_grad():   # the argmax (64, 64) is far over the budget
        net.policy.alphas["w"].copy_(torch.tensor([0.0, 1.5, 3.0]))
        net.policy.alphas["v"].copy_(torch.tensor([0.0, 2.0, 3.0]))
    arch = net.export()
    assert space.within_budgets(arch) and space.validate(arch) == arch
    assert arch == _best_by_enumeration(space, net) == {"w": 16, "v": 16}
    with torch.no_grad():   # within the budget, the argmax itself
        net.policy.alphas["w"].copy_(torch.tensor([3.0, 1.0, 0.0]))
        net.policy.alphas["v"].copy_(torch.tensor([0.0, 2.0, 3.0]))
    assert net.export() == {"w": 4, "v": 64}


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-4, 4), min_size=9, max_size=9))
def test_export_is_the_best_valid_architecture_for_any_weights(values):
    """Brute force over a space with forbids, a gated subset choice and a budget."""
    space = nasdsl.loads(FORBID + "require params <= 100\n")   # a, b in {c1, id} (c3 costs 148)
    net = build_supernet(space, "darts", seed=0)
    with torch.no_grad():
        for alpha, chunk in zip((net.policy.alphas[k] for k in ("a", "b", "s")), (values[:3], values[3:6], values[6:])):
            alpha.copy_(torch.tensor(chunk))
    arch = net.export()
    assert space.validate(arch) == arch and space.within_budgets(arch)
    assert net.policy.log_prob(arch) == pytest.approx(net.policy.log_prob(_best_by_enumeration(space, net)))


def test_export_under_a_tight_budget_on_the_darts_space():
    """The argmax of random weights is far over a budget on a 32-decision space: too many
    architectures to search best-first, so budgets get a price (`best._lagrangian`). The result
    keeps the budget and beats the most probable of the few architectures among 300 uniform draws
    that keep it; under a budget so tight that no uniform draw keeps it, export still finds one.
    (Cells mixed slot by slot: 32 decisions with a distribution each; the edge relaxation's
    export under a budget is tested in tests/test_darts_cell.py.)"""
    from nasdsl.analysis.shapes import costs
    source = (nasdsl.spaces_dir() / "darts.nas").read_text()
    small = {"C": 4, "layers": 3}
    free = build_supernet(nasdsl.load("darts", small), "darts", seed=0, cells="slot")
    torch.manual_seed(0)
    with torch.no_grad():
        for alpha in free.arch_parameters():
            alpha.normal_(0, 1)
    top = costs(free.space, free.export())["params"]
    drawn = [free.space.sample(seed=i) for i in range(300)]
    for fraction in (0.9, 0.7):
        limit = int(fraction * top)
        space = nasdsl.loads(source + f"\nrequire params <= {limit}\n", params=small)
        net = build_supernet(space, "darts", seed=0, cells="slot")
        with torch.no_grad():
            for label, alpha in net.policy.alphas.items():
                alpha.copy_(free.policy.alphas[label])
        arch = net.export()
        assert space.validate(arch) == arch and costs(space, arch)["params"] <= limit
        assert net.export() == arch   # deterministic
        within = [a for a in drawn if costs(space, a)["params"] <= limit]
        if fraction == 0.9:
            assert len(within) >= 3
            assert net.policy.log_prob(arch) > max(net.policy.log_prob(a) for a in within)
        else:
            assert not within


# --- one-shot search end to end ------------------------------------------------------------------

@pytest.mark.parametrize("strategy", ["darts", "gumbel"])
def test_darts_searches_the_macro_space_with_gates(tmp_path, strategy):
    out = tmp_path / strategy
    assert main(["search", "examples/macro.nas", "--set", "C=4", "--set", "layers=3", "--strategy", strategy,
                 "--data", "digits", "--batch-size", "256", "--epochs", "1", "--out", str(out)]) == 0
    space = nasdsl.load("examples/macro.nas", {"C": 4, "layers": 3, "in_channels": 1, "resolution": 8})
    arch = json.loads((out / "arch.json").read_text())
    assert space.validate(arch) == arch
    probs = json.loads((out / "probs.json").read_text())
    assert list(probs["skip.2"]) == ["0", "1"] and all(0 < p < 1 for p in probs["skip.2"].values())
    assert arch["skip.2"] == [i for i in (0, 1) if probs["skip.2"][str(i)] > 0.5]


def test_a_latency_penalty_sees_the_subset_distribution_of_the_gates():
    """The hardware penalty's E[cost] over a gated choice: sum over subsets of P(S) cost(S), P from
    the gates (conditioned on min), and its gradient reaches every gate."""
    from nasdsl.strategy.penalty import CostPenalty
    space = skips(1, "sum")
    d = space.decision("skip.2")
    table = {"skip.2": {",".join(map(str, v)): float(len(v)) for v in d.values}}   # cost: skips taken
    penalty = CostPenalty(space, table, target=1.0, form="add", weight=1.0)
    net = build_supernet(space, "darts", seed=0)
    with torch.no_grad():
        net.policy.alphas["skip.2"].copy_(torch.tensor([1.0, -2.0, 0.5]))
    net.policy.begin()
    cost = penalty.expected(net.policy.probs)
    logits = [1.0, -2.0, 0.5]
    expected = sum(brute_weights(logits, 1, "sum"))   # E[|S| given |S| >= 1] = sum_i P(i chosen given ...)
    assert float(cost.detach()) == pytest.approx(expected, rel=1e-5)
    cost.backward()
    assert bool((net.policy.alphas["skip.2"].grad != 0).all())
