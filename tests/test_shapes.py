"""Shape inference over whole spaces and the torch-free cost model (`nasdsl.analysis.shapes`).

Costs and inferred shapes are checked against the real discrete models: parameters against
`model.parameters()`, FLOPs (MACs of one sample) against forward hooks on Conv / Linear /
attention, output shapes against a forward pass. Shape errors are checked message by
message, each at its `file:line:col`.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import nasdsl
from nasdsl.analysis import shapes
from nasdsl.analysis.shapes import Rule, check_budgets, check_shapes, costs, register_rule, shape_text
from nasdsl.arch import arch_values
from nasdsl.errors import ArchitectureError, NasError, ShapeError
from nasdsl.values import evaluate

ROOT = Path(__file__).resolve().parent.parent

DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
            "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
            "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))")

NB201_REFERENCE = [
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|", 1_073_466),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|", 1_531_546),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", 73_306),
]

# Every op of the catalog that has a rule, each way shapes can depend on decisions (a kernel
# with its padding, a chosen depth, a concatenating pick, a loose-end cell), broadcasting,
# and one module applied twice (parameters once, MACs twice).
ZOO = """
param C = 8
block Attn(e) = LayerNorm(e) -> MultiheadAttention(e, choice[2, 4]) -> Linear(e, e) -> GELU()
block Down(c) = choice {
  none: Zero(2, 2 * c),
  conv: Conv2d(c, 2 * c, 3, 2, 1, bias=false) -> BatchNorm2d(2 * c),
  dil:  Conv2d(c, c, 3, 2, 2, dilation=2, groups=c) -> Conv2d(c, 2 * c, 1),
  fr:   FactorizedReduce(c, 2 * c, affine=false),
}
network(x: [C, 16, 16], s: [6, 16]) {
  conv = Conv2d(C, C, 3, padding=1)
  a = x -> conv -> GroupNorm(2, C) -> ChannelShuffle(2) -> ReLU6()
  b = a -> conv
  se = b -> AdaptiveAvgPool2d(1) -> Conv2d(C, C, 1) -> Sigmoid()
  h = b * se + a
  r = h -> repeat(choice[0, 1, 2], lambda i: Conv2d(C, C, 3, 2, 1) -> BatchNorm2d(C, affine=i == 0))
  g = r -> AdaptiveMaxPool2d([4, 4]) -> MaxPool2d(3, 2, 1, ceil_mode=true) -> AvgPool2d(2, 1, 1)
  d = x -> Down(C) -> SiLU()
  k = choice[3, 5]
  t = s -> Conv1d(6, 12, k, padding=k // 2, bias=false) -> BatchNorm1d(12) -> AdaptiveAvgPool1d(4)
  u = t -> Attn(4) -> Flatten(1, 2) -> Dropout(0.1) -> Linear(48, 10) -> Softmax(dim=1)
  p = pick(g, g -> Conv2d(C, 2 * C, 1), n="any", reduce="concat")
  c = g -> cell(lambda input: choice { conv: Conv2d(C, C, 3, padding=1), skip: Identity() },
                nodes=2, merge="loose_end")
  logits = d -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(2 * C, 10)
  return logits, u, p, c
}
"""


# --- the torch side -------------------------------------------------------------------------

torch = pytest.importorskip("torch")
from nasdsl.lower.discrete import build  # noqa: E402
from nasdsl.ops.modules import SelfAttention  # noqa: E402


def torch_costs(space, arch, batch: int = 2):
    """(params, MACs of one sample, output shapes without batch) of the real model."""
    model = build(space, arch).eval()
    macs = [0]

    def hook(module, inputs, out):
        n = inputs[0].shape[0]
        if isinstance(module, (torch.nn.Conv1d, torch.nn.Conv2d)):
            area = 1
            for k in module.kernel_size:
                area *= k
            macs[0] += out.numel() // n * (module.in_channels // module.groups) * area
        elif isinstance(module, torch.nn.Linear):
            macs[0] += out.numel() // n * module.in_features
        elif isinstance(module, SelfAttention):  # its projections run inside F.multi_head_attention_forward
            length, e = inputs[0].shape[1], inputs[0].shape[2]
            macs[0] += 4 * length * e * e + 2 * length * length * e

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    torch.manual_seed(0)
    xs = [torch.randn(batch, *t.shape) for t in space.template.inputs]
    with torch.no_grad():
        out = model(*xs)
    for h in handles:
        h.remove()
    outs = out if isinstance(out, tuple) else (out,)
    return sum(p.numel() for p in model.parameters()), macs[0], tuple(tuple(o.shape[1:]) for o in outs)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small forward passes run faster on one thread, and far faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def inferred_outputs(space, arch):
    """The whole-space output shapes, evaluated for one architecture."""
    internal = arch_values(space.validate(arch))
    return tuple(evaluate(s, internal) for s in check_shapes(space)["outputs"])


def assert_matches_torch(space, arch):
    params, macs, outs = torch_costs(space, arch)
    assert costs(space, arch) == {"params": params, "flops": macs}, arch
    assert inferred_outputs(space, arch) == outs, arch


@pytest.fixture(scope="module")
def nb201():
    return nasdsl.load("nasbench201")


@pytest.fixture(scope="module")
def darts():
    return nasdsl.load("darts", params={"auxiliary": True})


@pytest.fixture(scope="module")
def zoo():
    return nasdsl.loads(ZOO, "zoo.nas")


# --- costs against torch --------------------------------------------------------------------

@pytest.mark.parametrize("text, params", NB201_REFERENCE)
def test_nb201_reference_architectures(nb201, text, params):
    from nasdsl.formats import nb201_to_arch
    arch = nb201_to_arch(nb201, text)
    assert costs(nb201, arch)["params"] == params
    assert_matches_torch(nb201, arch)


def test_nb201_sampled_architectures_match_torch(nb201):
    rng = random.Random(0)
    for _ in range(30):
        assert_matches_torch(nb201, nb201.sample(rng))


def test_darts_v2_genotype(darts):
    from nasdsl.formats import genotype_to_arch
    arch = genotype_to_arch(darts, DARTS_V2)
    assert costs(darts, arch)["params"] == 3_825_768
    assert_matches_torch(darts, arch)
    assert check_shapes(darts)["outputs"] == ((10,), (10,))  # classifier and auxiliary head


def test_darts_sampled_architectures_match_torch(darts):
    rng = random.Random(1)
    for _ in range(3):
        assert_matches_torch(darts, darts.sample(rng, uniform=True))


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.nas")), ids=lambda p: p.name)
def test_example_sampled_architectures_match_torch(path):
    space = nasdsl.load(path)
    rng = random.Random(2)
    for _ in range(10):
        assert_matches_torch(space, space.sample(rng))


def test_every_op_rule_matches_torch(zoo):
    rng = random.Random(3)
    for _ in range(40):
        assert_matches_torch(zoo, zoo.sample(rng))


def test_module_applied_twice_counts_parameters_once_and_macs_twice():
    space = nasdsl.loads("network(x: [4]) {\n  fc = Linear(4, 4)\n  y = x -> fc -> fc\n  return y\n}")
    assert costs(space, {}) == {"params": 20, "flops": 32}
    assert_matches_torch(space, {})


# --- shapes over the whole space -----------------------------------------------------------

def test_output_shapes_are_expressions_over_the_decisions_that_change_them(zoo):
    logits, u, p, c = check_shapes(zoo)["outputs"]
    assert logits == (10,) and u == (10,)
    assert {evaluate(p[0], {"p": v}) for v in [(0,), (1,), (0, 1)]} == {8, 16, 24}
    assert c[1:] == (4, 4)
    assert shape_text(c) == "[8 * ((1 if c.input_2_0 != 1 else 0) + 1), 4, 4]"  # width * merged_nodes(c)


def test_repeat_output_depends_on_depth_only_where_it_changes():
    space = nasdsl.loads("network(x: [4, 16, 16]) {\n"
                         "  y = x -> repeat(choice[1, 2], lambda i: Conv2d(4, 4, 3, 2, 1))\n"
                         "  z = y -> AdaptiveAvgPool2d(1) -> Flatten()\n  return y, z\n}")
    y, z = check_shapes(space)["outputs"]
    assert z == (4,) and y[0] == 4
    assert [evaluate(y[1], {"y.depth": d}) for d in (1, 2)] == [8, 4]


def test_dimensions_that_do_not_really_vary_fold_to_constants():
    space = nasdsl.loads("network(x: [4, 16, 16]) {\n  k = choice[1, 3, 5, 7]\n"
                         "  y = x -> Conv2d(4, 4, k, padding=k // 2) -> Conv2d(4, 4, 2 * k + 1, padding=k)\n"
                         "  return y + x\n}")
    assert check_shapes(space)["outputs"] == ((4, 16, 16),)


# NAS-Bench-101's vertex widths are values over 15 edge decisions jointly (32,768 assignments):
# beyond exhaustive checking, so its shapes are checked on 1,000 sampled assignments (its
# discrete models of sampled cells are built and run in tests/test_space_nasbench101.py).
SAMPLED_CHECKS = {"nasbench101.nas"}


@pytest.mark.parametrize("path", sorted([*(ROOT / "spaces" / f"{name}.nas" for name in nasdsl.builtin_spaces()),
                                         *(ROOT / "examples").glob("*.nas")]), ids=lambda p: p.name)
def test_no_false_errors_in_the_library(path):
    result = check_shapes(nasdsl.load(path))
    if path.name in SAMPLED_CHECKS:  # checked on sampled assignments only, and it says so
        where = f"{path}:59:"
        assert [n.replace(where, "@") for n in result["notes"]] == [
            "@14: checked 1000 sampled assignments of 15 decisions (32,768 in all)",
            "symbolic shape checks stopped after 250,000 evaluations, at @14: later ones were skipped",
            "@48: checked 1000 sampled assignments of 15 decisions (32,768 in all)"]
    else:
        assert result["notes"] == []
    assert all(s is not None for s in result["outputs"])


def test_darts_with_every_parameter_setting_checks():
    for params in ({"C": 16, "layers": 8}, {"C": 4, "layers": 3, "auxiliary": True}):
        assert check_shapes(nasdsl.load("darts", params=params))["outputs"][0] == (10,)


def test_symbolic_checks_stay_small_on_the_library(nb201, darts):
    """Constant-shape spaces need no symbolic work; MobileNetV3's nested channel rounding
    (`make_div` of `make_div`) is a DAG of shared subexpressions, evaluated once per node: as
    a tree it took 3.9M evaluations, past the budget."""
    assert check_shapes(nb201)["work"] == 0
    assert check_shapes(darts)["work"] == 0
    assert check_shapes(nasdsl.load("mobilenetv3"))["work"] < shapes.WORK_LIMIT




# --- shape errors, one per kind, each at file:line:col --------------------------------------

NET = "network(x: [8, 16, 16]) {{\n{}\n}}"

ERRORS = {
    "layer choice": (NET.format("  y = x -> choice { conv: Conv2d(8, 8, 3), same: Conv2d(8, 8, 3, padding=1), "
                                "skip: Identity() }\n  return y"),
                     "bad.nas:2:12: candidates of choice 'y' give different shapes: 'conv' gives [8, 14, 14] at bad.nas:2:27, "
                     "'same' gives [8, 16, 16] at bad.nas:2:50"),
    "pick sum": (NET.format("  a = x -> Conv2d(8, 8, 3, padding=1)\n  b = x -> Conv2d(8, 16, 3, padding=1)\n"
                            "  y = pick(a, b, reduce=\"sum\")\n  return y"),
                 "bad.nas:4:7: pick 'y' (reduce=\"sum\") needs inputs of one shape: input 0 gives [8, 16, 16], "
                 "input 1 gives [16, 16, 16]"),
    "pick none": (NET.format("  b = x -> MaxPool2d(2)\n  y = pick(x, b, reduce=\"none\")\n  return y"),
                  "bad.nas:3:7: pick 'y' (reduce=\"none\") needs inputs of one shape: input 0 gives [8, 16, 16], "
                  "input 1 gives [8, 8, 8]"),
    "pick concat": (NET.format("  b = x -> Conv2d(8, 8, 3, stride=2, padding=1)\n"
                               "  y = pick(x, b, n=2, reduce=\"concat\")\n  return y"),
                    "bad.nas:3:7: pick 'y' (reduce=\"concat\") joins along dim 1 and needs the other dimensions "
                    "equal: input 0 gives [8, 16, 16], input 1 gives [8, 8, 8]"),
    "plus": (NET.format("  b = x -> MaxPool2d(2)\n  return x + b"),
             "bad.nas:3:12: `+` of tensors with different shapes: [8, 16, 16] and [8, 8, 8]"),
    "times": (NET.format("  a = x -> Conv2d(8, 16, 1)\n  return a * x"),
              "bad.nas:3:12: `*` of tensors with different shapes: [16, 16, 16] and [8, 16, 16]"),
    "mean": (NET.format("  a = x -> Conv2d(8, 16, 1)\n  return mean(x, a)"),
             "bad.nas:3:10: mean(...) of tensors with different shapes: [8, 16, 16] and [16, 16, 16]"),
    "cat dim": (NET.format("  return cat(x, x, dim=4)"),
                "bad.nas:2:10: cat(dim=4): dimension 4 is out of range for [8, 16, 16] (rank 4 with the batch dimension)"),
    "cat batch": (NET.format("  return cat(x, x, dim=0)"),
                  "bad.nas:2:10: cat(dim=0) concatenates along the batch dimension"),
    "cat others": (NET.format("  a = x -> MaxPool2d(2)\n  return cat(x, a, dim=1)"),
                   "bad.nas:3:10: cat(dim=1) of tensors that differ outside dimension 1: [8, 16, 16] and [8, 8, 8]"),
    "conv channels": (NET.format("  return x -> Conv2d(8, 16, 3) -> Conv2d(32, 16, 3)"),
                      "bad.nas:2:35: Conv2d(in_channels=32, out_channels=16, kernel_size=3) on input [16, 14, 14]: "
                      "in_channels is 32 but the input has 16 channels"),
    "conv groups": (NET.format("  return x -> Conv2d(8, 12, 3, groups=8)"),
                    "bad.nas:2:15: Conv2d(in_channels=8, out_channels=12, kernel_size=3, groups=8) on input [8, 16, 16]: "
                    "in_channels (8) and out_channels (12) must be divisible by groups (8)"),
    "conv rank": ("network(x: [64]) {\n  return x -> Conv2d(64, 16, 3)\n}",
                  "bad.nas:2:15: Conv2d(in_channels=64, out_channels=16, kernel_size=3) on input [64]: "
                  "expects input [C, H, W], got rank 1 (plus the batch dimension)"),
    "same strided": (NET.format("  return x -> Conv2d(8, 8, 3, 2, padding=\"same\")"),
                     "bad.nas:2:15: Conv2d(in_channels=8, out_channels=8, kernel_size=3, stride=2, padding=\"same\") "
                     "on input [8, 16, 16]: padding=\"same\" needs stride 1"),
    "shrink": (NET.format("  return x -> Conv2d(8, 8, 9) -> Conv2d(8, 8, 9)"),
               "bad.nas:2:34: Conv2d(in_channels=8, out_channels=8, kernel_size=9) on input [8, 8, 8]: "
               "dimension 2 would shrink to 0"),
    "linear": (NET.format("  return x -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(16, 10)"),
               "bad.nas:2:52: Linear(in_features=16, out_features=10) on input [8]: "
               "in_features is 16 but the input's last dimension is 8"),
    "batchnorm": (NET.format("  return x -> BatchNorm2d(32)"),
                  "bad.nas:2:15: BatchNorm2d(num_features=32) on input [8, 16, 16]: "
                  "num_features is 32 but the input has 8 channels"),
    "batchnorm rank": (NET.format("  return x -> BatchNorm1d(8)"),
                       "bad.nas:2:15: BatchNorm1d(num_features=8) on input [8, 16, 16]: "
                       "expects input [C] or [C, L], got rank 3"),
    "layernorm": (NET.format("  return x -> LayerNorm([16, 8])"),
                  "bad.nas:2:15: LayerNorm(normalized_shape=[16, 8]) on input [8, 16, 16]: "
                  "normalized_shape [16, 8] must equal the input's trailing dimensions [16, 16]"),
    "groupnorm": (NET.format("  return x -> GroupNorm(3, 8)"),
                  "bad.nas:2:15: GroupNorm(num_groups=3, num_channels=8) on input [8, 16, 16]: "
                  "num_channels (8) must be divisible by num_groups (3)"),
    "pool padding": (NET.format("  return x -> MaxPool2d(1, 1, 1)"),
                     "bad.nas:2:15: MaxPool2d(kernel_size=1, stride=1, padding=1) on input [8, 16, 16]: "
                     "padding (1) must be at most half the kernel size (1)"),
    "attention": ("network(x: [10, 32]) {\n  return x -> MultiheadAttention(32, 5)\n}",
                  "bad.nas:2:15: MultiheadAttention(embed_dim=32, num_heads=5) on input [10, 32]: "
                  "embed_dim (32) must be divisible by num_heads (5)"),
    "attention embed": ("network(x: [10, 32]) {\n  return x -> MultiheadAttention(16, 4)\n}",
                        "bad.nas:2:15: MultiheadAttention(embed_dim=16, num_heads=4) on input [10, 32]: "
                        "embed_dim is 16 but the input's embeddings have size 32"),
    "flatten batch": (NET.format("  return x -> Flatten(0)"),
                      "bad.nas:2:15: Flatten(start_dim=0) on input [8, 16, 16]: "
                      "start_dim 0 flattens the batch dimension into the features"),
    "factorized reduce": ("network(x: [8, 15, 15]) {\n  return x -> FactorizedReduce(8, 16)\n}",
                          "bad.nas:2:15: FactorizedReduce(in_channels=8, out_channels=16) on input [8, 15, 15]: "
                          "dimension 2 must be even to be halved, got 15"),
    "channel shuffle": (NET.format("  return x -> ChannelShuffle(3)"),
                        "bad.nas:2:15: ChannelShuffle(groups=3) on input [8, 16, 16]: "
                        "the input's 8 channels must be divisible by groups (3)"),
    "cell inputs": (NET.format("  p = x -> MaxPool2d(2)\n"
                               "  return cell(lambda input: choice { conv: Conv2d(8, 8, 3, padding=1), skip: Identity() },"
                               " nodes=1, predecessors=2)(x, p)"),
                    "bad.nas:3:10: cell 'out', node 2, op 0 gives different shapes for different inputs: "
                    "reading input 0 gives [8, 16, 16] at bad.nas:3:29, reading input 1 gives [8, 8, 8] at bad.nas:3:29"),
    "cell ops": (NET.format("  return cell(lambda op: Conv2d(8, 8 * (op + 1), 1), nodes=1, ops_per_node=2)(x)"),
                 "bad.nas:2:10: cell 'out', node 1: its ops give different shapes, so they cannot be summed: "
                 "op 0 gives [8, 16, 16], op 1 gives [16, 16, 16]"),
    "cell merge": (NET.format("  return cell(lambda node: Conv2d(8, 8, 3, node, 1), nodes=2)(x)"),
                   "bad.nas:2:10: cell 'out' merge (cat along dim 1) of tensors that differ outside dimension 1: "
                   "[8, 16, 16] and [8, 8, 8]"),
    "repeat depth": (NET.format("  y = x -> repeat(choice[1, 2], lambda i: Conv2d(8, 8, 3, 2, 1))\n"
                                "  z = x -> Conv2d(8, 8, 3, 2, 1)\n  return y + z"),
                     "bad.nas:4:12: `+` of tensors with different shapes: [8, 4, 4] and [8, 8, 8] (when y.depth=2)"),
    "repeat chain": (NET.format("  return x -> repeat(2, lambda i: Conv2d(8, 16, 1))"),
                     "bad.nas:2:35: Conv2d(in_channels=8, out_channels=16, kernel_size=1) on input [16, 16, 16]: "
                     "in_channels is 8 but the input has 16 channels"),
    "symbolic kernel": (NET.format("  y = x -> Conv2d(8, 8, choice[3, 5], padding=1)\n  return x + y"),
                        "bad.nas:3:12: `+` of tensors with different shapes: [8, 16, 16] and [8, 14, 14] "
                        "(when y.kernel_size=5)"),
    "symbolic channels": (NET.format("  e = choice[1, 2]\n  y = x -> Conv2d(8, 8 * e, 1) -> BatchNorm2d(8)\n  return y"),
                          "bad.nas:3:35: BatchNorm2d(num_features=8) on input [16, 16, 16]: "
                          "num_features is 8 but the input has 16 channels (when e=2)"),
    "declared block input": ("block B()(x: [4, 16, 16]) {\n  return x\n}\n" + NET.format("  return x -> B()"),
                             "bad.nas:1:11: input 'x' is declared [4, 16, 16] but receives [8, 16, 16]"),
}


@pytest.mark.parametrize("text, message", list(ERRORS.values()), ids=list(ERRORS))
def test_shape_error_message(text, message):
    with pytest.raises(ShapeError) as info:
        nasdsl.loads(text, "bad.nas")
    first = str(info.value).splitlines()[0]
    assert first.startswith(message), first


def test_layer_choice_error_points_at_each_offending_candidate():
    with pytest.raises(ShapeError) as info:
        nasdsl.loads(ERRORS["layer choice"][0], "bad.nas")
    notes = [(str(loc), note) for note, loc in info.value.related]
    assert notes == [("bad.nas:2:27", "'conv' gives [8, 14, 14]"), ("bad.nas:2:50", "'same' gives [8, 16, 16]")]
    assert "bad.nas:2:27: note: 'conv' gives [8, 14, 14]" in str(info.value)


def test_a_candidate_the_constraints_rule_out_is_not_an_error():
    text = NET.format("  y = x -> choice { conv: Conv2d(8, 8, 3), skip: Identity() }\n"
                      "  forbid decision(\"y\") == \"conv\"\n  return y")
    assert check_shapes(nasdsl.loads(text))["outputs"] == ((8, 16, 16),)


def test_a_depth_the_shapes_do_not_allow_is_an_error_unless_constrained_away():
    text = NET.format("  y = x -> repeat(choice[1, 2], lambda i: Conv2d(8, 8, 3, 2, 1))\n"
                      "  z = x -> Conv2d(8, 8, 3, 2, 1)\n  require decision(\"y.depth\") == 1\n  return y + z")
    assert check_shapes(nasdsl.loads(text))["outputs"] == ((8, 8, 8),)


def test_broadcasting_size_one_dimensions_is_allowed():
    text = NET.format("  g = x -> AdaptiveAvgPool2d(1)\n  return x * g + g")
    assert check_shapes(nasdsl.loads(text))["outputs"] == ((8, 16, 16),)


def test_a_custom_op_makes_shapes_unknown_and_costs_ask_for_a_rule():
    from nasdsl.ops import catalog
    from nasdsl.ops import modules as ops

    class Doubler(torch.nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(channels, 1, 1))

        def forward(self, x):
            return torch.cat([x * self.scale, x], dim=1)

    ops.register_op("ShapesTestDoubler", Doubler)
    try:
        text = NET.format("  y = x -> ShapesTestDoubler(8) -> Conv2d(16, 8, 1)\n  return y")
        space = nasdsl.loads(text)  # nothing after the custom op can be checked, so nothing is reported
        assert check_shapes(space)["outputs"] == (None,)
        assert check_shapes(space)["notes"] == [  # ... but what is not checked is said
            "ShapesTestDoubler (<string>:2:12) has no shape rule: shapes after it are not checked "
            "(give it one: nasdsl.register_op(..., rule=...))"]
        with pytest.raises(NasError, match="ShapesTestDoubler has no shape and cost rule"):
            costs(space, {})
        register_rule("ShapesTestDoubler", Rule(lambda call, x: (2 * x[0], *x[1:]), params=lambda a: a["channels"]))
        assert check_shapes(space)["outputs"] == ((8, 16, 16),)
        assert_matches_torch(space, {})
        with pytest.raises(ShapeError, match=r"in_channels is 8 but the input has 16 channels"):
            nasdsl.loads(NET.format("  return x -> ShapesTestDoubler(8) -> Conv2d(8, 8, 1)"))
    finally:  # leave no trace for other tests
        catalog.unregister("ShapesTestDoubler")


def test_a_custom_op_under_a_catalog_name_is_not_mistaken_for_it():
    from nasdsl.ops import catalog
    catalog.register(catalog.OpSpec("Identity", (), custom=True))  # as register_op("Identity", Other) leaves it
    try:
        text = NET.format("  return x -> Identity() -> Conv2d(16, 8, 1)")
        assert check_shapes(nasdsl.loads(text))["outputs"] == (None,)
    finally:
        catalog.unregister("Identity")


def test_checks_over_too_many_assignments_are_sampled_and_noted(monkeypatch):
    monkeypatch.setattr(shapes, "ENUMERATION_CAP", 10)
    monkeypatch.setattr(shapes, "SAMPLES", 50)
    text = NET.format("  a = choice[1, 2, 3, 4]\n  b = choice[1, 2, 3, 4]\n"
                      "  y = x -> Conv2d(8, 8 * a * b, 1) -> Conv2d(8 * b * a, 8, 1)\n  return y")
    notes = check_shapes(nasdsl.loads(text))["notes"]
    assert notes and all("checked 50 sampled assignments of 2 decisions (16 in all)" in n for n in notes)
    with pytest.raises(ShapeError, match=r"\(when a=\d, b=\d\)"):
        nasdsl.loads(text.replace("8 * b * a", "8 * b"))


def test_long_chains_of_independent_choices_stay_bounded():
    text = NET.format("  h = x\n  for i in range(300) { h = h -> Conv2d(8, 8, choice[1, 3], padding=choice[0, 1]) }\n"
                      "  return h + x")
    space = nasdsl.loads(text)  # the sampled checks find no counterexample; the work budget ends them
    result = check_shapes(space)
    assert result["work"] <= shapes.WORK_LIMIT + 10_000  # the check that runs out finishes its assignment
    assert any("symbolic shape checks stopped" in n for n in result["notes"])


# --- budgets --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def budget_space():
    return nasdsl.loads("network(x: [8, 16, 16]) {\n  w = choice[8, 64]\n"
                        "  y = x -> Conv2d(8, w, 3, padding=1) -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(w, 10)\n"
                        "  return y\n}\nrequire params <= 2000, \"small models only\"\nrequire flops <= 1e6\n", "budget.nas")


def test_validate_holds_architectures_to_the_budgets(budget_space):
    assert costs(budget_space, {"w": 8}) == {"params": 674, "flops": 147_536}
    assert budget_space.validate({"w": 8}) == {"w": 8}
    assert costs(budget_space, {"w": 64})["params"] == 5_322  # costs never raise over a budget
    with pytest.raises(ArchitectureError) as info:
        budget_space.validate({"w": 64})
    assert str(info.value).startswith("budget.nas:6:1: architecture has 5,322 params, violates "
                                      "`require params <= 2000` (small models only)")
    assert not budget_space.contains({"w": 64})


def test_check_budgets_names_the_flops_it_measured():
    space = nasdsl.loads("network(x: [8, 16, 16]) {\n  y = x -> Conv2d(8, 64, 3, padding=1)\n  return y\n}\n"
                         "require flops <= 1e6\n", "budget.nas")
    with pytest.raises(ArchitectureError) as info:
        check_budgets(space, {})
    assert str(info.value).startswith("budget.nas:5:1: architecture has 1,179,648 FLOPs (MACs), "
                                      "violates `require flops <= 1000000`")


def test_the_example_budget_holds_for_its_samples():
    space = nasdsl.load(ROOT / "examples" / "mobile.nas")
    assert space.budgets
    rng = random.Random(4)
    for _ in range(20):
        arch = space.sample(rng)
        assert space.validate(arch) == arch
        assert costs(space, arch)["params"] <= 200_000


def test_costs_validate_the_architecture(nb201):
    with pytest.raises(ArchitectureError, match="is missing"):
        costs(nb201, {"Cell.e1_0": "none"})
    arch = json.loads(json.dumps(nb201.sample(seed=5)))
    assert costs(nb201, arch) == costs(nb201, arch, validate=False)
