"""The one-shot strategies' algorithms, apart from the command line: DARTS's second-order
gradient against a finite-difference reference, the ENAS controller over every library space,
the hardware penalty's expected cost, seeded randomness, and SPOS's evolution within budgets."""
from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pytorch_lightning")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import nasdsl  # noqa: E402
from nasdsl.analysis.shapes import costs  # noqa: E402
from nasdsl.errors import ArchitectureError  # noqa: E402
from nasdsl.strategy import build_supernet  # noqa: E402
from nasdsl.strategy.darts import Darts  # noqa: E402
from nasdsl.strategy.enas import Controller  # noqa: E402
from nasdsl.strategy.penalty import CostPenalty  # noqa: E402

TINY = """network(x: [2, 5, 5]) {
  a = x -> choice { conv: Conv2d(2, 2, 3, padding=1), pool: AvgPool2d(3, 1, 1), skip: Identity() }
  b = a -> Tanh() -> choice { conv: Conv2d(2, 2, 3, padding=1), skip: Identity() }
  return b -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(2, 3)
}"""


def test_second_order_darts_gradient_matches_finite_differences():
    """d/dalpha L_val(w - xi * (dL_train/dw + wd * w), alpha), computed by DARTS's
    finite-difference Hessian-vector product, against central differences of that function."""
    torch.manual_seed(0)
    space = nasdsl.loads(TINY)
    net = build_supernet(space, "darts", seed=0).double()
    with torch.no_grad():
        for a in net.arch_parameters():
            a.normal_(0, 0.5)
    module = Darts(net, order=2, lr=0.1, weight_decay=1e-2, momentum=0.0)
    g = torch.Generator().manual_seed(1)
    train = (torch.randn(6, 2, 5, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (6,), generator=g))
    val = (torch.randn(6, 2, 5, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (6,), generator=g))
    got = module.unrolled_gradient(train, val)

    weights = list(net.parameters())
    alphas = net.arch_parameters()
    backup = [w.detach().clone() for w in weights]

    def unrolled_val_loss() -> float:
        loss = module.task_loss(train, log=False)
        grads = torch.autograd.grad(loss, weights, allow_unused=True)
        with torch.no_grad():
            for w, gw in zip(weights, grads):
                w.sub_(0.1 * ((gw if gw is not None else 0) + 1e-2 * w))
            value = float(module.task_loss(val, log=False))
            for w, b in zip(weights, backup):
                w.copy_(b)
        return value

    h = 1e-5
    for alpha, grad in zip(alphas, got):
        for i in range(alpha.numel()):
            with torch.no_grad():
                alpha[i] += h
            up = unrolled_val_loss()
            with torch.no_grad():
                alpha[i] -= 2 * h
            down = unrolled_val_loss()
            with torch.no_grad():
                alpha[i] += h
            reference = (up - down) / (2 * h)
            assert grad[i].item() == pytest.approx(reference, rel=1e-3, abs=1e-6)
    first = Darts(net, order=1)
    loss = first.task_loss(val, log=False)
    plain = torch.autograd.grad(loss, alphas)
    assert any(not torch.allclose(a, b, atol=1e-6) for a, b in zip(plain, got))  # the second-order term matters


# --- ENAS controller ------------------------------------------------------------------------------

SPACES: dict = {}


def library_space(name: str):
    if name not in SPACES:
        SPACES[name] = nasdsl.load(name)
    return SPACES[name]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(nasdsl.builtin_spaces()), seed=st.integers(0, 2**31 - 1), greedy=st.booleans())
def test_enas_controller_samples_only_valid_architectures(name, seed, greedy):
    space = library_space(name)
    torch.manual_seed(seed % 1000)
    controller = Controller(space, lstm_size=16)
    arch, log_prob, entropy, skip = controller.rollout(torch.Generator().manual_seed(seed), greedy=greedy)
    assert space.validate(arch) == arch                       # a member, canonical: active decisions only
    assert float(log_prob) <= 0 and float(entropy) >= 0
    assert set(controller.last_probs) == set(arch)           # decided exactly the active decisions


def test_enas_controller_decides_every_kind_and_learns():
    """examples/cell.nas has layer choices, cell inputs and an any-subset input choice; a few
    REINFORCE steps toward one value of each raise its probability."""
    space = nasdsl.load("examples/cell.nas")
    torch.manual_seed(0)
    controller = Controller(space)
    opt = torch.optim.Adam(controller.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        arch, log_prob, _, _ = controller.rollout(g)
        reward = 1.0 if arch["normal.op_2_0"] == "skip" else 0.0
        opt.zero_grad()
        (-log_prob * (reward - 0.33)).backward()
        opt.step()
    arch, *_ = controller.rollout(g, greedy=True)
    kinds = {space.decision(label).kind for label in arch}
    assert kinds == {"layer", "input"} and isinstance(arch["features"], list)
    assert arch["normal.op_2_0"] == "skip"


# --- hardware penalty -----------------------------------------------------------------------------

def one_hot(space, arch):
    def probs(label):
        d = space.decision(label)
        p = torch.zeros(len(d.values))
        p[list(d.values).index(arch[label])] = 1.0
        return p
    return probs


def test_expected_params_of_a_one_hot_architecture_are_its_params():
    """NAS-Bench-201's edges add their parameters independently: the first-order model is exact."""
    space = nasdsl.load("nasbench201", {"C": 8, "N": 2})
    penalty = CostPenalty(space, "params")
    for seed in range(5):
        arch = space.sample(seed)
        assert float(penalty.expected(one_hot(space, arch))) == costs(space, arch)["params"]


def test_latency_table_and_the_penalty_moves_alpha_toward_cheap_ops():
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    table = {"base": 1.0, **{label: {"none": 0.0, "skip_connect": 0.1, "nor_conv_1x1": 1.0, "nor_conv_3x3": 3.0,
                                     "avg_pool_3x3": 0.5} for label in space.labels()}}
    penalty = CostPenalty(space, table, form="add", weight=1.0)
    assert penalty.target == pytest.approx(1.0 + 6 * (0 + 0.1 + 1 + 3 + 0.5) / 5)
    net = build_supernet(space, "darts", seed=0)
    opt = torch.optim.SGD(net.arch_parameters(), lr=20.0)
    before = float(penalty.expected(net.policy.probs))
    for _ in range(50):
        net.policy.begin()
        loss, cost = penalty.apply(torch.tensor(1.0), net.policy.probs)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.policy.begin()
    assert float(penalty.expected(net.policy.probs)) < 0.5 * before
    assert set(net.export().values()) == {"none"}
    with pytest.raises(nasdsl.NasError, match="latency table: 'Cell.e1_0' has no value 'conv5'"):
        CostPenalty(space, {"Cell.e1_0": {"conv5": 1.0}})


def test_multiplicative_penalty_is_proxylessnas_loss():
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    penalty = CostPenalty(space, "flops", target=1000.0, beta=0.5)
    arch = space.sample(3)
    loss, cost = penalty.apply(torch.tensor(2.0), one_hot(space, arch))
    assert float(cost) == costs(space, arch)["flops"]
    assert float(loss) == pytest.approx(2.0 * (costs(space, arch)["flops"] / 1000.0) ** 0.5)


# --- randomness and constraints -------------------------------------------------------------------

def test_no_strategy_draws_from_the_global_rng():
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    x = torch.randn(2, 3, 32, 32)
    nets = {name: build_supernet(space, name, seed=0) for name in ("gumbel", "proxyless", "spos")}
    state = torch.get_rng_state()   # (building draws initial weights from it, as torch modules do)
    py_state = random.getstate()
    for name, net in nets.items():
        for _ in range(3):
            if name != "gumbel":
                net.resample()
            net(x).sum().backward()
    assert torch.equal(torch.get_rng_state(), state) and random.getstate() == py_state
    a = build_supernet(space, "gumbel", seed=5)
    b = build_supernet(space, "gumbel", seed=5)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a(x), b(x))   # the same seeded noise


def test_proxyless_never_falls_back_to_uniform():
    """Weights that keep proposing a forbidden architecture are an error, not a silent uniform draw."""
    space = nasdsl.loads("""network(x: [4]) {
  a = x -> choice { p: ReLU(), q: Tanh() }
  b = a -> choice { p: ReLU(), q: Tanh() }
  forbid decision("a") == "p" and decision("b") == "p"
  return b
}""")
    net = build_supernet(space, "proxyless", seed=0)
    with torch.no_grad():
        for alpha in net.arch_parameters():
            alpha.copy_(torch.tensor([60.0, -60.0]))
    with pytest.raises(ArchitectureError, match="no architecture satisfying the space's constraints"):
        net.resample()
    with torch.no_grad():
        net.arch_parameters()[0].copy_(torch.tensor([0.0, 0.0]))
    for _ in range(5):
        arch = net.resample()
        assert arch == {"a": "q", "b": "p"}
    assert net.export() == {"a": "q", "b": "p"}   # the argmax breaks the constraint: most probable valid one


def test_spos_evolution_stays_within_the_space_budget():
    from nasdsl.data import load_data
    from nasdsl.strategy.spos import Spos
    source = (nasdsl.spaces_dir() / "nasbench201.nas").read_text()
    space = nasdsl.loads(source + "\nrequire params <= 9000\n", params={"C": 4, "N": 1, "in_channels": 1,
                                                                       "resolution": 8})
    data = load_data("digits")
    torch.manual_seed(0)
    module = Spos(build_supernet(space, "spos", seed=0), population=6, generations=2, topk=2, bn_batches=1)
    best = module.evolve(data.loader("train", 128, shuffle=True), data.loader("val", 256))
    assert costs(space, best)["params"] <= 9000
    assert module.evolution_log[-1]["evaluated"] >= 6
    scores = [g["best"] for g in module.evolution_log if "best" in g]
    assert scores == sorted(scores)   # elitist: the best never gets worse
    assert module.evolution_log[-1]["best_val_acc"] == scores[-1]


@pytest.mark.parametrize("strategy", ["darts", "gumbel", "proxyless"])
def test_cell_export_takes_distinct_inputs_as_darts_derives_a_genotype(strategy):
    """Every op slot prefers input 0 most and input 1 next: argmax alone would give each node
    two ops on input 0; the export takes the node's two best *different* inputs. (Cells mixed
    slot by slot, as proxyless's gates are; darts/gumbel's edge relaxation: test_darts_cell.py.)"""
    space = nasdsl.load("darts", {"C": 4, "layers": 3})
    net = build_supernet(space, strategy, seed=0, cells="slot")
    with torch.no_grad():
        for d in space.decisions:
            alpha = net.policy.alphas[d.label]
            alpha.copy_(-torch.arange(len(d.values), dtype=alpha.dtype))
    arch = net.export()
    assert space.validate(arch) == arch
    for cell in ("normal", "reduce"):
        for node in range(2, 6):
            assert (arch[f"{cell}.input_{node}_0"], arch[f"{cell}.input_{node}_1"]) == (0, 1)
            assert arch[f"{cell}.op_{node}_0"] == space.decision(f"{cell}.op_{node}_0").values[0]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_fair_paths_give_every_value_of_every_decision_exactly_one_path(seed):
    """FairNAS's strict fairness: over one step's paths each candidate appears exactly once (a
    decision with fewer values than the step has paths: each value once per full round)."""
    from nasdsl.strategy.random_oneshot import fair_choosers
    space = nasdsl.loads(TINY)
    paths = [space.sample(choose=c) for c in fair_choosers(space, random.Random(seed))]
    assert len(paths) == 3   # the most values a decision has
    assert sorted(p["a"] for p in paths) == ["conv", "pool", "skip"]
    b = [p["b.1"] for p in paths]
    assert sorted(b[:2]) == ["conv", "skip"]   # the first full round of b's two values


def test_fair_step_sums_the_gradients_of_its_paths_and_steps_once():
    from nasdsl.strategy.random_oneshot import RandomOneShot, fair_choosers
    space = nasdsl.loads(TINY)
    torch.manual_seed(0)
    net = build_supernet(space, "random_oneshot", seed=0)
    module = RandomOneShot(net, fair=True, grad_clip=None, seed=0)
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    module.optimizers = lambda: opt
    module.n_weight_optimizers = 1
    batch = (torch.randn(4, 2, 5, 5), torch.tensor([0, 1, 2, 0]))
    before = {k: v.clone() for k, v in net.named_parameters()}
    # the expected step: the sum of each path's gradient, from the same draw of paths
    expected = {k: torch.zeros_like(v) for k, v in net.named_parameters()}
    for choose in fair_choosers(space, random.Random(7)):
        net.resample(choose)
        net.zero_grad()
        torch.nn.functional.cross_entropy(net(batch[0]), batch[1]).backward()
        for k, p in net.named_parameters():
            if p.grad is not None:
                expected[k] += p.grad
    module.weight_step_paths(batch, fair_choosers(space, random.Random(7)), log=False)
    for k, p in net.named_parameters():
        assert torch.allclose(before[k] - p.detach(), expected[k], atol=1e-6), k
    # every candidate with weights was trained: each of the three paths took a different one
    trained = {k for k, p in net.named_parameters() if not torch.equal(before[k], p.detach())}
    assert trained == set(before)
