"""spaces/autoformer.nas: the AutoFormer space decision for decision as NNI 3.0's hub
AutoFormer (its defaults, the Tiny space), parameter counts of fixed architectures equal to
NNI's frozen models, and lowering (discrete models and every supernet strategy) small."""
from __future__ import annotations

import math

import pytest

import nasdsl
from nasdsl.analysis.shapes import costs

# A small configuration for fast tests: 16x16 patches of 8 pixels, embed 16-32, 1-3 layers.
SMALL = {"search_embed_dim": [16, 24, 32], "search_num_heads": [1, 2], "search_depth": [1, 2, 3], "head_dim": 8,
         "img_size": 32, "patch_size": 8, "num_classes": 10}

# AutoFormer-Tiny as NNI 3.0 ships it (AutoFormer.load_searched_model("autoformer-tiny")).
TINY_MLP = [3.5, 3.5, 3.0, 3.5, 3.0, 3.0, 4.0, 4.0, 3.5, 4.0, 3.5, 4.0, 3.5]
TINY_HEADS = [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3]


def tiny() -> dict:
    arch = {"embed_dim": 192, "blocks.depth": 13}
    for i in range(13):
        arch[f"blocks.{i}.num_heads"], arch[f"blocks.{i}.mlp_ratio"] = TINY_HEADS[i], TINY_MLP[i]
    return arch


def uniform(space, i: int) -> dict:
    """Every active decision takes its i-th value (mod its domain)."""
    arch = {d.label: d.values[i % len(d.values)] for d in space.decisions}
    depth = arch["blocks.depth"]
    return {k: v for k, v in arch.items() if not k[7:].split(".")[0].isdigit() or int(k.split(".")[1]) < depth}


def test_decisions_match_nni():
    space = nasdsl.load("autoformer")
    d = {x.label: x for x in space.decisions}
    assert len(d) == 30  # NNI 3.0 AutoFormer().simplify(): 30 labels
    assert d["embed_dim"].values == (192, 216, 240)
    assert d["blocks.depth"].values == (12, 13, 14)
    for i in range(14):
        assert d[f"blocks.{i}.num_heads"].values == (3, 4)
        assert d[f"blocks.{i}.mlp_ratio"].values == (3.0, 3.5, 4.0)
        assert (d[f"blocks.{i}.num_heads"].condition is True) == (i < 12)
    # NNI's size is the product of all domain sizes: 3 * 3 * 6^14 = 705,277,476,864 ("7.05e11").
    assert math.prod(len(x.values) for x in space.decisions) == 705_277_476_864
    # Ours is exact: layer i's choices exist only when depth > i.
    assert space.size() == 3 * (6 ** 12 + 6 ** 13 + 6 ** 14) == 280_804_921_344


# Parameter counts measured in NNI 3.0 (/tmp/nni-venv): sum(p.numel() for p in
# AutoFormer().freeze(sample).parameters()), sample mapping embed_dim -> embed_dim,
# blocks.depth -> depth, blocks.{i}.num_heads -> num_head_{i}, blocks.{i}.mlp_ratio -> mlp_ratio_{i}
# (inactive layers filled with any value).
@pytest.mark.parametrize("i, expected", [(0, 4_922_536), (1, 7_683_892), (2, 9_654_424)])
def test_params_equal_nni_frozen(i, expected):
    space = nasdsl.load("autoformer")
    assert costs(space, uniform(space, i))["params"] == expected


def test_autoformer_tiny():
    space = nasdsl.load("autoformer")
    # NNI 3.0: AutoFormer.load_searched_model("autoformer-tiny") has 5,867,944 parameters,
    # 99,840 of them relative-position tables (13 layers x 4 x 30 x 64).
    assert costs(space, tiny())["params"] == 5_867_944
    # Without those tables, 5,768,104: the paper's "5.7M" for AutoFormer-Ti (Table 3).
    assert costs(nasdsl.load("autoformer", {"rpe": False}), tiny())["params"] == 5_768_104


torch = pytest.importorskip("torch")


def test_torch_count_and_costs_agree():
    from nasdsl.lower.discrete import build
    space = nasdsl.load("autoformer")
    arch = tiny()
    assert sum(p.numel() for p in build(space, arch).parameters()) == costs(space, arch)["params"]


@pytest.mark.parametrize("rpe", [True, False])
def test_small_models_run(rpe):
    from nasdsl.lower.discrete import build
    space = nasdsl.load("autoformer", {**SMALL, "rpe": rpe})
    for seed in range(3):
        arch = space.sample(seed=seed)
        model = build(space, arch)
        y = model(torch.randn(2, 3, 32, 32))
        assert y.shape == (2, 10)
        y.sum().backward()
        assert sum(p.numel() for p in model.parameters()) == costs(space, arch)["params"]


@pytest.mark.parametrize("strategy", ["darts", "gumbel", "spos", "proxyless"])
def test_supernets(strategy):
    from test_equivalence import assert_equivalent

    from nasdsl.strategy import build_supernet
    space = nasdsl.load("autoformer", SMALL)
    net = build_supernet(space, strategy)
    y = net(torch.randn(2, 3, 32, 32))
    assert y.shape == (2, 10)
    y.sum().backward()
    for seed in range(2):  # outputs and gradients equal the discrete model's (weight entanglement)
        assert_equivalent(space, strategy, space.sample(seed=seed))


def test_export_runs():
    from nasdsl.lower.discrete import build
    from nasdsl.lower.export import export_source
    space = nasdsl.load("autoformer", SMALL)
    arch = space.sample(seed=0)
    namespace: dict = {}
    exec(compile(export_source(space, arch), "model.py", "exec"), namespace)
    model, ours = namespace["build"]().eval(), build(space, arch).eval()
    model.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(model(x), ours(x), atol=1e-6)
