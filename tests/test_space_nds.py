"""The NASNet-family cell spaces (spaces/nasnet.nas, enas.nas, amoebanet.nas, pnas.nas, with
darts.nas on the same skeleton, spaces/nds_ops.nas) and the ENAS macro space.

Reference figures: parameter counts of quark0/darts genotypes in its NetworkCIFAR (C=36, 20
layers, auxiliary head excluded as the original counts), of NAS-Bench-201 with 100 and 120
classes, and NNI 3.0's hub (nni/nas/hub/pytorch/nasnet.py) measured in its own venv: decisions,
domain sizes and parameter counts of frozen architectures (`m.freeze(sample)`) at width 16 and
8 cells. The live side-by-side comparison is tests/nni_hub/{nasnet,enas,amoebanet,pnas}.py.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import nasdsl
from nasdsl.analysis.shapes import costs
from nasdsl.cli import main
from nasdsl.errors import ArchitectureError, NasError
from nasdsl.formats import arch_to_genotype, genotype_to_arch, nb201_to_arch, parse_genotype
from nasdsl.lower.discrete import build
from nasdsl.strategy import build_supernet

ROOT = Path(__file__).resolve().parents[1]
SPACES = ["nds_ops", "nasnet", "enas", "amoebanet", "pnas", "enas_macro", "darts"]
NDS = ["nasnet", "enas", "amoebanet", "pnas"]

# quark0/darts cnn/genotypes.py
NASNET = ("Genotype(normal=[('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('sep_conv_5x5', 0), ('sep_conv_3x3', 0), "
          "('avg_pool_3x3', 1), ('skip_connect', 0), ('avg_pool_3x3', 0), ('avg_pool_3x3', 0), ('sep_conv_3x3', 1), "
          "('skip_connect', 1)], normal_concat=[2, 3, 4, 5, 6], reduce=[('sep_conv_5x5', 1), ('sep_conv_7x7', 0), "
          "('max_pool_3x3', 1), ('sep_conv_7x7', 0), ('avg_pool_3x3', 1), ('sep_conv_5x5', 0), ('skip_connect', 3), "
          "('avg_pool_3x3', 2), ('sep_conv_3x3', 2), ('max_pool_3x3', 1)], reduce_concat=[4, 5, 6])")
AMOEBANET = ("Genotype(normal=[('avg_pool_3x3', 0), ('max_pool_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_5x5', 2), "
             "('sep_conv_3x3', 0), ('avg_pool_3x3', 3), ('sep_conv_3x3', 1), ('skip_connect', 1), ('skip_connect', 0), "
             "('avg_pool_3x3', 1)], normal_concat=[4, 5, 6], reduce=[('avg_pool_3x3', 0), ('sep_conv_3x3', 1), "
             "('max_pool_3x3', 0), ('sep_conv_7x7', 2), ('sep_conv_7x7', 0), ('avg_pool_3x3', 1), ('max_pool_3x3', 0), "
             "('max_pool_3x3', 1), ('conv_7x1_1x7', 0), ('sep_conv_3x3', 5)], reduce_concat=[3, 4, 6])")
DARTS_V1 = ("Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
            "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], "
            "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
            "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])")

# NNI 3.0 hub, measured in /tmp/nni-venv: {space: (ops per edge, size at fixed width and depth,
# size with NNI's default width (16, 24, 32) and num_cells (4, 8, 12, 16, 20))}; 40 decisions at
# a fixed width and depth, 42 (+ width, depth) by default.
NNI = {
    "nasnet": (13, 5_107_366_597_713_630_212_832_188_866_560_000, 76_610_498_965_704_453_192_482_832_998_400_000),
    "enas": (5, 25_628_906_250_000_000_000_000_000, 384_433_593_750_000_000_000_000_000),
    "amoebanet": (8, 309_834_464_941_077_422_470_594_560_000, 4_647_516_974_116_161_337_058_918_400_000),
    "pnas": (8, 309_834_464_941_077_422_470_594_560_000, 4_647_516_974_116_161_337_058_918_400_000),
}
# `NNI(width=16, num_cells=8).freeze(sample)`: parameters of our samples with seeds 0, 1, 2
# (labels "." -> "/", input values j -> [j])
NNI_FROZEN_PARAMS = {
    "nasnet": [436_538, 460_794, 715_930],
    "enas": [300_218, 222_010, 235_834],
    "amoebanet": [548_090, 680_250, 542_074],
    "pnas": [441_242, 786_458, 571_450],
    "darts": [349_018, 276_538, 280_602],
}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models on shared cores
    yield
    torch.set_num_threads(threads)


def torch_params(model: torch.nn.Module, skip: str | None = None) -> int:
    return sum(p.numel() for name, p in model.named_parameters() if not (skip and skip in name))


# --- the files ----------------------------------------------------------------------------------

def test_spaces_are_canonical_and_check(capsys):
    paths = [str(ROOT / "spaces" / f"{name}.nas") for name in SPACES]
    assert main(["fmt", "--check", *paths]) == 0
    assert main(["check", *paths]) == 0


# --- genotype parity with quark0/darts ---------------------------------------------------------------

@pytest.mark.parametrize("name, genotype, params", [
    ("darts", DARTS_V1, 3_169_414),
    ("nasnet", NASNET, 3_830_950),
    ("amoebanet", AMOEBANET, 3_145_078),
])
def test_genotype_parameter_counts(name, genotype, params):
    space = nasdsl.load(name)
    arch = genotype_to_arch(space, genotype)
    assert costs(space, arch)["params"] == params
    assert torch_params(build(space, arch)) == params
    # with the auxiliary head, which the original leaves out of its count
    aux = nasdsl.load(name, {"auxiliary": True})
    model = build(aux, arch)
    assert torch_params(model, skip="auxiliary_head") == params
    assert costs(aux, arch)["params"] > params


@pytest.mark.parametrize("name, genotype", [("nasnet", NASNET), ("amoebanet", AMOEBANET), ("darts", DARTS_V1)])
def test_genotypes_round_trip_with_their_concat_lists(name, genotype):
    space = nasdsl.load(name, {"C": 8, "layers": 5})
    arch = genotype_to_arch(space, genotype)
    text = arch_to_genotype(space, arch)
    assert genotype_to_arch(space, text) == arch
    given, back = parse_genotype(genotype), parse_genotype(text)
    for key in ("normal", "normal_concat", "reduce", "reduce_concat"):
        assert [tuple(p) if isinstance(p, list) else p for p in back[key]] == \
            [tuple(p) if isinstance(p, list) else p for p in given[key]]


def test_loose_end_concat_must_match_the_inputs():
    space = nasdsl.load("nasnet", {"C": 8, "layers": 5})
    bad = NASNET.replace("reduce_concat=[4, 5, 6]", "reduce_concat=[2, 3, 4, 5, 6]")
    with pytest.raises(ArchitectureError, match=r"reduce_concat \[2, 3, 4, 5, 6\] is not the loose ends \[4, 5, 6\] "
                                                r"of its reduce inputs: cell 'reduce' concatenates the nodes no op reads"):
        genotype_to_arch(space, bad)
    darts = nasdsl.load("darts", {"C": 8, "layers": 5})
    with pytest.raises(ArchitectureError, match=r"is not all nodes \[2, 3, 4, 5\]"):
        genotype_to_arch(darts, DARTS_V1.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=[4, 5]"))


def test_pnas_merges_every_node():
    space = nasdsl.load("pnas", {"C": 8, "layers": 5})
    text = arch_to_genotype(space, space.sample(3))
    assert parse_genotype(text)["normal_concat"] == [2, 3, 4, 5, 6]


@pytest.mark.parametrize("num_classes, params", [(100, 1_079_316), (120, 1_080_616)])
def test_nasbench201_with_more_classes(num_classes, params):
    space = nasdsl.load("nasbench201", {"num_classes": num_classes})
    arch = nb201_to_arch(space, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    assert costs(space, arch)["params"] == params
    assert torch_params(build(space, arch)) == params


# --- the NDS spaces against NNI's hub --------------------------------------------------------------

@pytest.mark.parametrize("name", NDS)
def test_decisions_and_size_match_nni(name):
    n_ops, size, nni_default = NNI[name]
    space = nasdsl.load(name, {"C": 16, "layers": 8})
    assert len(space.decisions) == 40
    for kind in ("normal", "reduce"):
        for node in range(2, 7):
            for k in range(2):
                assert len(space.decision(f"{kind}.op_{node}_{k}").values) == n_ops
                assert space.decision(f"{kind}.input_{node}_{k}").values == tuple(range(node))
    assert space.size() == size == (n_ops ** 10 * math.factorial(6) ** 2) ** 2
    assert nni_default == size * 3 * 5  # NNI also chooses the width (3 values) and the depth (5)
    assert nasdsl.load(name).size() == size  # the cells do not depend on C and layers


@pytest.mark.parametrize("name", NDS + ["darts"])
def test_frozen_nni_architectures_have_our_parameter_counts(name):
    space = nasdsl.load(name, {"C": 16, "layers": 8})
    for seed, params in enumerate(NNI_FROZEN_PARAMS[name]):
        arch = space.sample(seed)
        assert costs(space, arch)["params"] == params
        assert torch_params(build(space, arch)) == params


@pytest.mark.parametrize("name", ["nasnet", "enas", "amoebanet"])
def test_loose_end_widths_follow_the_inputs(name):
    space = nasdsl.load(name, {"C": 4, "layers": 5})
    for seed in range(3):
        arch = space.sample(seed)
        model = build(space, arch)
        assert torch_params(model) == costs(space, arch)["params"]
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


# --- supernets ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["nasnet", "enas", "amoebanet"])
@pytest.mark.parametrize("strategy", ["darts", "gumbel", "proxyless"])
def test_differentiable_supernets_refuse_loose_ends(name, strategy):
    space = nasdsl.load(name, {"C": 4, "layers": 3})
    with pytest.raises(NasError, match=rf"cell 'normal': merge=\"loose_end\" .* {strategy} must compare paths of one shape"):
        build_supernet(space, strategy)


@pytest.mark.parametrize("name", ["nasnet", "enas", "amoebanet"])
def test_spos_supernet_of_a_loose_end_space_is_the_discrete_model(name):
    """The next cell's Conv2d width is a value over 8 input decisions (129,600 joint values,
    5 widths): the sampling supernet sizes it from the possible values, not by enumeration."""
    space = nasdsl.load(name, {"C": 4, "layers": 3})
    net = build_supernet(space, "spos", seed=0)
    net(torch.randn(2, 3, 32, 32)).sum().backward()
    for seed in range(2):
        arch = space.sample(seed=seed)
        net.fix(arch)
        model = build(space, arch)
        model.load_state_dict(net.sub_state_dict(arch), strict=True)
        net.eval(), model.eval()
        x = torch.randn(2, 3, 32, 32)
        assert torch.equal(net(x), model(x))


@pytest.mark.parametrize("strategy", ["darts", "gumbel", "spos", "proxyless"])
@pytest.mark.parametrize("name, params", [("pnas", {"C": 4, "layers": 3}), ("enas_macro", {"C": 4, "layers": 6})])
def test_supernet_forward_backward(name, params, strategy):
    space = nasdsl.load(name, params)
    net = build_supernet(space, strategy)
    out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert space.contains(net.export())


# --- ENAS macro ----------------------------------------------------------------------------------

def test_enas_macro_space():
    space = nasdsl.load("enas_macro")
    assert len(space.decisions) == 12 + 66
    assert space.size() == 6 ** 12 * 2 ** 66  # 1.6e29, as the paper counts
    assert space.decision("op.0").values == ("conv_3x3", "sep_conv_3x3", "conv_5x5", "sep_conv_5x5",
                                             "avg_pool_3x3", "max_pool_3x3")
    assert space.decision("skip.11.0").values == ("off", "on")  # layer 11 may add the stem
    assert "skip.0.0" not in space.labels()  # layer 0 has nothing to skip from


def test_enas_macro_without_skips_and_with_all():
    space = nasdsl.load("enas_macro", {"C": 8})
    for skip in ("off", "on"):
        arch = {label: (skip if label.startswith("skip") else "sep_conv_5x5") for label in space.labels()}
        model = build(space, arch)
        assert torch_params(model) == costs(space, arch)["params"]
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
