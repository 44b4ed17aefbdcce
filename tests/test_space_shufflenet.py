"""spaces/shufflenet.nas: the SPOS ShuffleNet space decision for decision as NNI 3.0's hub
ShuffleNetSpace, parameter counts of fixed architectures equal to NNI's frozen models, and
lowering (discrete models and every supernet strategy) at a small size."""
from __future__ import annotations

import math

import pytest

import nasdsl
from nasdsl.analysis.shapes import costs

UNITS = ("k3", "k5", "k7", "xcep")
REPEATS = (4, 4, 8, 4)
# A small configuration for fast tests: 6 choice blocks, ~23k parameters per architecture.
SMALL = {"stem": 8, "widths": [16, 32, 48, 64], "repeats": [2, 1, 2, 1], "last": 64, "resolution": 32,
         "num_classes": 10}

# The architecture NNI ships as ShuffleNetSpace.load_searched_model("spos"), blocks 1..20.
SPOS = "k7 k5 k3 k5 k7 k3 k7 k3 k7 k3 k7 xcep k3 k3 k3 k3 xcep k7 xcep xcep".split()


def labels(kind: str = "layer") -> list[str]:
    return [f"{kind}.{s}.{b}" for s, n in enumerate(REPEATS) for b in range(n)]


def uniform(space, i: int) -> dict:
    """Every decision takes its i-th value (mod its domain)."""
    return {d.label: d.values[i % len(d.values)] for d in space.decisions}


def test_decisions_match_nni_default():
    space = nasdsl.load("shufflenet")
    assert [d.label for d in space.decisions] == labels()
    assert all(d.kind == "layer" and d.values == UNITS for d in space.decisions)
    # NNI 3.0: ShuffleNetSpace().simplify() has 20 labels layer_1..layer_20 of 4 values,
    # product 1,099,511,627,776 (the hub's "1.10e12"); nothing is conditional, so ours is the same.
    assert space.size() == 4 ** 20 == 1_099_511_627_776
    assert math.prod(len(d.values) for d in space.decisions) == space.size()


def test_decisions_match_nni_channel_search():
    space = nasdsl.load("shufflenet", {"channel_search": True})
    assert len(space.decisions) == 40
    assert space.size() == 32 ** 20  # NNI 3.0 ShuffleNetSpace(channel_search=True): 1.27e30
    for stage, width in enumerate((64, 160, 320, 640)):
        base = width // 2  # NNI's candidates: int(base * (0.2 * k)) for k = 1..8
        expected = tuple(int(base * (0.2 * k)) for k in range(1, 9))
        for b in range(REPEATS[stage]):
            assert space.decision(f"channel.{stage}.{b}").values == expected
    assert space.decision("channel.0.0").values == (6, 12, 19, 25, 32, 38, 44, 51)  # as NNI lists channel_1


# Parameter counts measured in NNI 3.0 (/tmp/nni-venv): sum(p.numel() for p in
# ShuffleNetSpace(channel_search=...).freeze(sample).parameters()), with sample mapping
# layer.{s}.{b} -> layer_{n} and channel.{s}.{b} -> channel_{n} (n = global block index from 1).
@pytest.mark.parametrize("channel_search, i, expected", [
    (False, 0, 3_154_880),  # all k3
    (False, 1, 3_211_968),  # all k5
    (False, 2, 3_297_600),  # all k7
    (False, 3, 3_870_816),  # all xcep
    (True, 0, 2_092_920),   # all k3, mid 0.2x
    (True, 1, 2_386_416),   # all k5, mid 0.4x
    (True, 2, 2_718_460),   # all k7, mid 0.6x
    (True, 3, 3_365_324),   # all xcep, mid 0.8x
])
def test_params_equal_nni_frozen(channel_search, i, expected):
    space = nasdsl.load("shufflenet", {"channel_search": channel_search})
    assert costs(space, uniform(space, i))["params"] == expected


def test_spos_searched_model():
    # NNI 3.0: ShuffleNetSpace.load_searched_model("spos") has 3,558,464 parameters.
    space = nasdsl.load("shufflenet")
    arch = dict(zip(labels(), SPOS))
    c = costs(space, arch)
    assert c["params"] == 3_558_464
    assert c["flops"] == 322_918_720  # multiply-accumulates at 224x224 (convs and the classifier)


torch = pytest.importorskip("torch")


def test_torch_count_and_costs_agree():
    from nasdsl.lower.discrete import build
    space = nasdsl.load("shufflenet", {"channel_search": True})
    for seed in range(2):
        arch = space.sample(seed=seed)
        model = build(space, arch)
        assert sum(p.numel() for p in model.parameters()) == costs(space, arch)["params"]


@pytest.mark.parametrize("channel_search", [False, True])
def test_small_models_run(channel_search):
    from nasdsl.lower.discrete import build
    space = nasdsl.load("shufflenet", {**SMALL, "channel_search": channel_search})
    for seed in range(3):
        arch = space.sample(seed=seed)
        model = build(space, arch)
        y = model(torch.randn(2, 3, 32, 32))
        assert y.shape == (2, 10)
        y.sum().backward()
        assert sum(p.numel() for p in model.parameters()) == costs(space, arch)["params"]


def test_stride_one_unit_splits_even_and_odd_channels():
    """NNI's stride-1 unit passes the even channels through and feeds the odd ones to the
    main branch: ours does the same with ChannelShuffle(c) and two Narrows."""
    from nasdsl.lower.discrete import build
    space = nasdsl.loads("""
block Unit(c)(x) {
  halves = x -> ChannelShuffle(c)
  return halves -> Narrow(1, 0, c), halves -> Narrow(1, c, c)
}
network(x: [8, 2, 2]) = x -> Unit(4)
""")
    x = torch.randn(1, 8, 2, 2)
    even, odd = build(space, {})(x)
    assert torch.equal(even, x[:, 0::2]) and torch.equal(odd, x[:, 1::2])


def assert_same_as_discrete(space, strategy: str, arch: dict) -> None:
    """A supernet fixed to `arch` computes what the discrete model computes with the weights
    of `sub_state_dict(arch)`, in train and eval mode (seeded alike, for the dropout)."""
    from nasdsl.lower.discrete import build
    from nasdsl.strategy import build_supernet
    net = build_supernet(space, strategy, seed=0)
    net.fix(arch)
    model = build(space, arch)
    model.load_state_dict(net.sub_state_dict(arch), strict=True)
    x = torch.randn(2, *space.template.inputs[0].shape)
    for train in (True, False):
        net.train(train)
        model.train(train)
        torch.manual_seed(1)
        a = net(x)
        torch.manual_seed(1)
        b = model(x)
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4), (strategy, train, (a - b).abs().max())


@pytest.mark.parametrize("strategy", ["darts", "gumbel", "spos", "proxyless"])
@pytest.mark.parametrize("channel_search", [False, True])
def test_supernets(strategy, channel_search):
    from nasdsl.strategy import build_supernet
    space = nasdsl.load("shufflenet", {**SMALL, "channel_search": channel_search})
    net = build_supernet(space, strategy)
    y = net(torch.randn(2, 3, 32, 32))
    assert y.shape == (2, 10)
    y.sum().backward()
    if strategy in ("darts", "spos"):
        assert_same_as_discrete(space, strategy, space.sample(seed=1))


def test_export_runs():
    from nasdsl.lower.discrete import build
    from nasdsl.lower.export import export_source
    space = nasdsl.load("shufflenet", SMALL)
    arch = space.sample(seed=0)
    namespace: dict = {}
    exec(compile(export_source(space, arch), "model.py", "exec"), namespace)
    model, ours = namespace["build"]().eval(), build(space, arch).eval()
    model.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(model(x), ours(x), atol=1e-6)
