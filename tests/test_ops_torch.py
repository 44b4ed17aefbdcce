"""The torch-free op catalog against torch itself (issue 12): every op built from `torch.nn`
has torch's parameter names, order and defaults (deliberate differences listed with their
reason), and on real inputs each op's shape rule, parameter count and MACs agree with what
the torch module does."""
from __future__ import annotations

import inspect

import pytest

import nasdsl
from nasdsl.analysis.shapes import check_shapes, costs
from nasdsl.ops import catalog

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from nasdsl.lower.discrete import build  # noqa: E402
from nasdsl.ops import modules  # noqa: E402

# Where the catalog differs from torch on purpose: op -> {parameter: why}.
DELIBERATE = {
    **{op: {"dim": "required: torch's implicit dim is deprecated and guesses"} for op in ("Softmax", "LogSoftmax",
                                                                                         "Softmin")},
    **{op: {"bias": "torch 2.13's new flag (a weight without a bias) is not exposed yet"}
       for op in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d")},
    **{op: {"return_indices": "a tuple of outputs: nasdsl ops give one tensor"}
       for op in ("AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d")},
    "GroupNorm": {"bias": "torch 2.13's new flag (a weight without a bias) is not exposed yet"},
    "MultiheadAttention": {"batch_first": "true: a sequence is [L, E] per sample, as every nasdsl tensor",
                           **{n: "not exposed: nasdsl's attention is self-attention"
                              for n in ("add_bias_kv", "add_zero_attn", "kdim", "vdim")}},
    "Hardtanh": {"min_value": "deprecated alias of min_val", "max_value": "deprecated alias of max_val"},
    "Embedding": {"_weight": "private", "_freeze": "private"},
}


def torch_params(cls) -> list[tuple[str, object]]:
    out = []
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.name in ("device", "dtype") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out.append((p.name, catalog.REQUIRED if p.default is inspect.Parameter.empty else p.default))
    return out


@pytest.mark.parametrize("name", sorted(n for n, s in catalog.OPS.items() if isinstance(s.builder, str)))
def test_catalog_signatures_are_the_modules_own(name):
    record = catalog.spec(name)
    cls = record.torch_builder()
    if cls is modules.SelfAttention:
        cls = torch.nn.MultiheadAttention  # batch_first by default, otherwise torch's signature
    theirs = torch_params(cls)
    ours = list(record.params)
    skip = DELIBERATE.get(name, {})
    theirs_kept = [(n, d) for n, d in theirs if n not in skip]
    ours_kept = [(n, d) for n, d in ours if n not in skip]
    assert [n for n, _ in ours_kept] == [n for n, _ in theirs_kept], name
    for (n, mine), (_, theirs_default) in zip(ours_kept, theirs_kept):
        assert mine is theirs_default or mine == theirs_default, (name, n, mine, theirs_default)
    for n in skip:  # a listed difference must still be one
        assert dict(ours).get(n, "absent") != dict(theirs).get(n, "absent"), (name, n)


# (network body over input x, input shape): together they use every op added in issue 12
CASES = [
    ("x -> Conv3d(2, 4, 3, padding=1, bias=false) -> BatchNorm3d(4) -> MaxPool3d(2)", [2, 4, 6, 6]),
    ("x -> ConvTranspose3d(2, 3, 2, stride=2) -> InstanceNorm3d(3, affine=true) -> AdaptiveAvgPool3d(1)", [2, 3, 3, 3]),
    ("x -> ConvTranspose2d(3, 8, 3, stride=2, padding=1, output_padding=1) -> InstanceNorm2d(8)", [3, 7, 5]),
    ("x -> ConvTranspose2d(4, 8, [3, 1], groups=2, dilation=2, bias=false) -> Unflatten(1, [2, 4]) -> AdaptiveMaxPool3d(2)",
     [4, 5, 5]),
    ("x -> ConvTranspose1d(4, 6, 5, stride=3, padding=2) -> InstanceNorm1d(6) -> MaxPool1d(3, 2, 1)", [4, 9]),
    ("x -> AvgPool1d(3, 2, 1, ceil_mode=true) -> AdaptiveMaxPool1d(2)", [3, 10]),
    ("x -> AvgPool3d(2, count_include_pad=false, padding=1) -> Flatten()", [2, 5, 4, 3]),
    ("x -> Conv2d(3, 4, 1) -> Upsample(scale_factor=2) -> PixelShuffle(2) -> PixelUnshuffle(4)", [3, 8, 8]),
    ('x -> Upsample(size=[5, 6], mode="bilinear", align_corners=false) -> GLU(1) -> LogSoftmax(1)', [4, 8, 8]),
    ("x -> Flatten() -> Unflatten(1, [3, -1]) -> Permute([0, 2, 1]) -> Reshape([-1, 2]) -> Softmin(2)", [3, 4, 4]),
    ("x -> Reshape([4, 6]) -> Linear(6, 5) -> PReLU() -> Mish() -> ELU(0.5) -> CELU() -> SELU()", [3, 8]),
    ("x -> PReLU(3) -> Softplus(2.0) -> Hardtanh(-2.0, 2.0) -> Tanhshrink() -> Softsign() -> LogSigmoid()", [3, 6, 6]),
    ("x -> Hardshrink() -> Softshrink(0.1) -> Dropout1d(0.0) -> AlphaDropout(0.0)", [3, 6]),
    ("x -> ZeroPad2d([1, 0, 2, 1]) -> Dropout3d(0.0) -> MaxPool2d(2)", [3, 6, 6]),
]


@pytest.mark.parametrize(("body", "shape"), CASES, ids=[c[0].split("->")[1].strip().split("(")[0] for c in CASES])
def test_rules_agree_with_torch(body, shape):
    space = nasdsl.loads(f"network(x: {shape}) = {body}")
    model = build(space, {}).eval()
    x = torch.randn(2, *shape)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        y = model(x)
    assert check_shapes(space)["outputs"] == (tuple(y.shape[1:]),)
    found = costs(space, {})
    assert found["params"] == sum(p.numel() for p in model.parameters())
    # torch counts 2 FLOPs per multiply-add of convolutions (transposed too) and linear layers, over the batch
    assert 2 * found["flops"] * 2 == counter.get_total_flops()


def test_embedding_takes_indices():
    space = nasdsl.loads("network(x: [5]) = x -> Embedding(10, 4, padding_idx=0) -> Flatten() -> Linear(20, 2)")
    model = build(space, {})
    y = model(torch.randint(0, 10, (3, 5)))
    assert check_shapes(space)["outputs"] == (tuple(y.shape[1:]),) == ((2,),)
    assert costs(space, {})["params"] == sum(p.numel() for p in model.parameters()) == 10 * 4 + 20 * 2 + 2


@pytest.mark.parametrize(("body", "message"), [
    ("x -> PixelShuffle(2)", "the input's 3 channels must be divisible by upscale_factor squared (4)"),
    ("x -> Reshape([5, -1])", "shape: 48 elements do not split into [5, -1]"),
    ("x -> Permute([1, 0, 2, 3])", "dims must keep the batch dimension first (dims[0] == 0)"),
    ("x -> Unflatten(1, [2, 2])", "unflattened_size: [2, 2] holds 4 elements, not 3"),
    ("x -> Upsample()", "give exactly one of size and scale_factor"),
    ("x -> ConvTranspose2d(3, 3, 3, stride=2, output_padding=2)",
     "output_padding (2) must be smaller than stride (2) or dilation (1)"),
])
def test_rules_refuse_what_torch_would_refuse(body, message):
    with pytest.raises(nasdsl.NasError) as err:
        nasdsl.loads(f"network(x: [3, 4, 4]) = {body}")
    assert message in err.value.message
    assert err.value.loc.line == 1
