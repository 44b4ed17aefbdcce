"""The mobile spaces: ProxylessNAS, MobileNetV2 and the MobileNetV3 (TuNAS) space of NNI's hub.

Exact parameter counts of the published networks as architectures of our spaces, the exact
(conditional) sizes and NNI's upper-bound products, sampled discrete models that train, and
one supernet pass per strategy at a small width and resolution. The side-by-side comparison
with NNI itself (labels, domains, parameters of sampled architectures) is in
tests/nni_hub/proxylessnas.py and mobilenetv3.py, run by tests/test_nni_hub.py.
"""
from __future__ import annotations

import math
import subprocess
import sys

import pytest

import nasdsl
from nasdsl.analysis.shapes import costs

torch = pytest.importorskip("torch")
from nasdsl.lower.discrete import build  # noqa: E402
from nasdsl.strategy import build_supernet  # noqa: E402

SPACES = ["proxylessnas", "mobilenetv2", "mobilenetv3"]

# Small configurations for fast tests: 32x32 inputs, 10 classes, narrow widths.
SMALL = {
    "proxylessnas": {"resolution": 32, "width_mult": 0.25, "num_classes": 10},
    "mobilenetv2": {"resolution": 32, "width_mult": 0.25, "num_classes": 10},
    "mobilenetv3": {"resolution": 32, "num_classes": 10, "base_widths": [8, 8, 8, 8, 8, 16, 16, 32, 32],
                    "width_mults": [0.5, 1.0], "expand_ratios": [1.0, 3.0, 6.0], "depths": [1, 2]},
}

# mit-han-lab/proxylessnas `proxyless_mobile` (NNI's "proxyless-mobile"): depths and MBConvs.
PROXYLESS_MOBILE = {
    "s2": ["k5e3", "k3e3"],
    "s3": ["k7e3", "k3e3", "k5e3", "k5e3"],
    "s4": ["k7e6", "k5e3", "k5e3", "k5e3"],
    "s5": ["k5e6", "k5e3", "k5e3", "k5e3"],
    "s6": ["k7e6", "k7e6", "k7e3", "k7e3"],
    "s7": ["k7e6"],
}
MOBILENETV2_WIDTHS = [32, 16, 24, 32, 64, 96, 160, 320, 1280]
MOBILENETV2_IN_PROXYLESS = {"s2": 2, "s3": 3, "s4": 4, "s5": 3, "s6": 3, "s7": 1}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small models run fastest on one thread, and the test machine's cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def proxyless_arch(stages: dict) -> dict:
    arch = {}
    for stage, ops in stages.items():
        if stage != "s7":
            arch[f"{stage}.depth"] = len(ops)
        arch.update({f"{stage}.{i}": op for i, op in enumerate(ops)})
    return arch


def torch_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_proxyless_mobile_has_4080512_parameters():
    space = nasdsl.load("proxylessnas")
    arch = space.validate(proxyless_arch(PROXYLESS_MOBILE))
    assert costs(space, arch)["params"] == 4_080_512
    assert torch_params(build(space, arch)) == 4_080_512
    assert costs(space, arch)["flops"] == 320_427_584  # the original's log: 320.4M


def test_mobilenetv2_has_3504872_parameters():
    space = nasdsl.load("mobilenetv2")
    assert space.size() == 1 and not space.decisions
    assert costs(space, {})["params"] == 3_504_872
    model = build(space, {})
    assert torch_params(model) == 3_504_872
    model.eval()
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)


def test_mobilenetv2_is_an_architecture_of_proxylessnas():
    space = nasdsl.load("proxylessnas", params={"base_widths": MOBILENETV2_WIDTHS})
    arch = space.validate(proxyless_arch({s: ["k3e6"] * d for s, d in MOBILENETV2_IN_PROXYLESS.items()}))
    assert costs(space, arch)["params"] == 3_504_872
    assert torch_params(build(space, arch)) == 3_504_872


@pytest.mark.parametrize("width_mult, params", [(0.5, 1_968_680), (0.75, 2_636_424), (1.4, 6_108_776)])
def test_mobilenetv2_width_multipliers(width_mult, params):
    """The counts of torchvision's `mobilenet_v2(width_mult=...)` (1.0: 3,504,872 above),
    pinned here: torchvision's PyPI wheel does not load against torch's CPU build (its
    compiled ops do not register), so the suite does not import it."""
    space = nasdsl.load("mobilenetv2", params={"width_mult": width_mult})
    assert costs(space, {})["params"] == params
    assert torch_params(build(space, {})) == params


def test_mobilenetv3_large_is_an_architecture_of_the_space():
    """NNI's "mobilenetv3-large-100" (its init kwargs as our params): 5,483,032 as in NNI."""
    space = nasdsl.load("mobilenetv3", params={
        "base_widths": [16, 16, 24, 40, 80, 112, 160, 960, 1280],
        "expand_ratios": [1.0, 2.0, 2.3, 2.5, 3.0, 4.0, 6.0],
        "width_mults": [1.0],
        "se": ["none", "none", "force", "none", "force", "force"],
    })
    blocks = {"s1": [(3, 4.0), (3, 3.0)], "s2": [(5, 3.0)] * 3,
              "s3": [(3, 6.0), (3, 2.5), (3, 2.3), (3, 2.3)], "s4": [(3, 6.0)] * 2, "s5": [(5, 6.0)] * 3}
    arch = {f"width_mult.{i}": 1.0 for i in range(8)} | {"stem.k": 3, "s0.k": 3}
    for stage, ks in blocks.items():
        arch[f"{stage}.depth"] = len(ks)
        for i, (k, e) in enumerate(ks):
            arch[f"{stage}.{i}.k"], arch[f"{stage}.{i}.e"] = k, e
    arch = space.validate(arch)
    assert costs(space, arch)["params"] == 5_483_032
    assert torch_params(build(space, arch)) == 5_483_032


def _sum_of_powers(x: int, depths=(1, 2, 3, 4)) -> int:
    return sum(x ** d for d in depths)


def test_sizes_are_exact_and_nni_counts_the_upper_bound():
    """NNI 3.0's sizes (2.25e19, 1.85e39) are products over all domains, unused blocks too."""
    proxyless = nasdsl.load("proxylessnas")
    assert len(proxyless.decisions) == 26
    assert proxyless.size() == _sum_of_powers(6) ** 5 * 6 == 54_375_883_032_510_144
    assert math.prod(len(d.values) for d in proxyless.decisions) == 22_463_437_455_746_924_544  # NNI's
    v3 = nasdsl.load("mobilenetv3")
    assert len(v3.decisions) == 67
    assert v3.size() == 7 ** 8 * 2 * 3 * _sum_of_powers(18) ** 2 * _sum_of_powers(36) ** 3
    assert math.prod(len(d.values) for d in v3.decisions) == 1_849_462_701_240_501_527_952_274_730_990_671_233_024


def test_labels_map_one_to_one_onto_nnis():
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from nni_hub import mobilenetv3, proxylessnas
    proxyless = [proxylessnas.nni_label(d.label) for d in nasdsl.load("proxylessnas").decisions]
    expected = [f"s{s}_depth" for s in range(2, 7)] + [f"s{s}_i{i}" for s in range(2, 7) for i in range(4)] + ["s7_i0"]
    assert sorted(proxyless) == sorted(expected)
    v3 = [mobilenetv3.nni_label(d.label) for d in nasdsl.load("mobilenetv3").decisions]
    expected = ([f"s{s}_width_mult" for s in range(8)] + ["stem_ks", "s0_i0_ks"]
                + [f"s{s}_depth" for s in range(1, 6)]
                + [f"s{s}_i{i}_{w}" for s in range(1, 6) for i in range(4) for w in ("ks", "exp")]
                + [f"s{s}_i{i}_se" for s in (2, 4, 5) for i in range(4)])
    assert sorted(v3) == sorted(expected)


@pytest.mark.parametrize("name", SPACES)
def test_sampled_architectures_train(name):
    space = nasdsl.load(name, params=SMALL[name])
    for seed in range(2):
        arch = space.sample(seed=seed)
        model = build(space, arch)
        assert torch_params(model) == costs(space, arch)["params"]
        out = model(torch.randn(2, 3, 32, 32))
        assert out.shape == (2, 10)
        out.sum().backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name, strategy", [("proxylessnas", "spos"), ("proxylessnas", "darts"),
                                            ("mobilenetv2", "darts"), ("mobilenetv3", "spos")])
def test_supernet_pass(name, strategy):
    space = nasdsl.load(name, params=SMALL[name])
    net = build_supernet(space, strategy)
    out = net(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 10)
    assert space.validate(net.export()) == net.export()


@pytest.mark.slow
@pytest.mark.parametrize("name", SPACES)
@pytest.mark.parametrize("strategy", ["darts", "gumbel", "spos", "proxyless"])
def test_supernet_every_strategy(name, strategy):
    space = nasdsl.load(name, params=SMALL[name])
    net = build_supernet(space, strategy)
    out = net(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (2, 10)
    if strategy in ("darts", "gumbel"):  # the mixture is differentiable in every architecture weight
        assert all(a.grad is not None and torch.isfinite(a.grad).all() for a in net.arch_parameters())
    assert any(w.grad is not None and w.grad.abs().sum() > 0 for w in net.parameters())
    assert space.validate(net.export()) == net.export()


def test_spaces_check_and_are_formatted():
    from conftest import SPACES as DIR
    files = [str(DIR / f"{name}.nas") for name in SPACES]
    for command in (["check", *files], ["fmt", "--check", *files, str(DIR / "mobile_ops.nas")]):
        done = subprocess.run([sys.executable, "-m", "nasdsl", *command], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
