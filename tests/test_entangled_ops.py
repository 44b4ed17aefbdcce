"""Weight-entangled versions of the torch.nn ops added for issue 12 (Conv3d, ConvTranspose1d/2d/3d,
BatchNorm3d, InstanceNorm1d/2d/3d, GroupNorm, PReLU, Embedding): for a small space per op, every
one-shot strategy's supernet fixed to an architecture computes what the discrete model computes
(outputs and gradients), and the supernet holds exactly the weights of the largest candidate.
Where sharing weights is not meaningful, the supernet refuses in one line at the op."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from test_equivalence import assert_equivalent

import nasdsl
from nasdsl.analysis.shapes import costs
from nasdsl.lower.discrete import build
from nasdsl.lower.mixed import MixedConv, MixedEmbedding, MixedGroupNorm, MixedInstanceNorm, MixedOp, MixedPReLU, SeparateOps
from nasdsl.strategy import ONE_SHOT, build_supernet

SPACES = {
    "conv3d": ("""network(x: [2, 5, 5, 5]) {
  c = choice[4, 8]
  k = choice[1, 3]
  return x -> Conv3d(2, c, k, padding=k // 2) -> BatchNorm3d(c) -> ReLU() -> Conv3d(c, 3, 3, padding=1, bias=false)
}""", {"Conv3d": 2, "BatchNorm3d": 1}),
    "conv_transpose2d": ("""network(x: [3, 5, 5]) {
  c = choice[4, 6]
  k = choice[3, 5]
  per_channel = choice[false, true]
  return x -> ConvTranspose2d(3, c, k, stride=2, padding=k // 2, output_padding=1)
    -> InstanceNorm2d(c, affine=true, track_running_stats=true) -> PReLU(c if per_channel else 1)
    -> ConvTranspose2d(c, c, k, padding=k // 2, groups=c, bias=false) -> ConvTranspose2d(c, 2, 1)
}""", {"ConvTranspose2d": 3, "InstanceNorm2d": 1, "PReLU": 1}),
    "conv_transpose1d": ("""network(x: [3, 7]) {
  c = choice[2, 5]
  k = choice[1, 3, 5]
  return x -> ConvTranspose1d(3, c, k, padding=k // 2) -> InstanceNorm1d(c) -> ReLU()
    -> ConvTranspose1d(c, 4, 3, stride=2)
}""", {"ConvTranspose1d": 2, "InstanceNorm1d": 1}),
    "conv_transpose3d": ("""network(x: [2, 3, 3, 3]) {
  c = choice[2, 4]
  k = choice[1, 3]
  return x -> ConvTranspose3d(2, c, k, stride=2, padding=k // 2) -> InstanceNorm3d(c, affine=true) -> Conv3d(c, 2, 1)
}""", {"ConvTranspose3d": 1, "InstanceNorm3d": 1, "Conv3d": 1}),
    "group_norm": ("""network(x: [3, 6, 6]) {
  c = choice[8, 16]
  g = choice[1, 2, 4]
  return x -> Conv2d(3, c, 3, padding=1) -> GroupNorm(g, c) -> PReLU(c) -> Conv2d(c, 4, 1)
}""", {"GroupNorm": 1, "PReLU": 1}),
}

EMBEDDING = """network(tokens: [5]) {
  d = choice[4, 8]
  return tokens -> Embedding(choice[10, 20], d, padding_idx=0) -> Transpose(1, 2) -> AdaptiveAvgPool1d(1)
    -> Flatten() -> Linear(d, 3)
}"""

MIXED = {"Conv3d": MixedConv, "BatchNorm3d": MixedOp, "ConvTranspose1d": MixedConv, "ConvTranspose2d": MixedConv,
         "ConvTranspose3d": MixedConv, "InstanceNorm1d": MixedInstanceNorm, "InstanceNorm2d": MixedInstanceNorm,
         "InstanceNorm3d": MixedInstanceNorm, "GroupNorm": MixedGroupNorm, "PReLU": MixedPReLU}


def _mixed(net) -> list[MixedOp]:
    return [m for m in net.modules() if isinstance(m, MixedOp)]


def largest_params(space) -> int:
    """The most weights any one architecture's discrete model has (checked against torch)."""
    counts = [costs(space, a)["params"] for a in space.enumerate()]
    arch = space.enumerate().__next__()
    assert costs(space, arch)["params"] == sum(p.numel() for p in build(space, arch).parameters())
    return max(counts)


@pytest.mark.parametrize("strategy", ONE_SHOT)
@pytest.mark.parametrize("name", sorted(SPACES))
def test_supernet_fixed_to_each_architecture_is_the_discrete_model(name, strategy):
    space = nasdsl.loads(SPACES[name][0])
    archs = list(space.enumerate())
    for arch in archs if len(archs) <= 8 else archs[:: len(archs) // 6]:
        assert_equivalent(space, strategy, arch)


@pytest.mark.parametrize("strategy", ONE_SHOT)
@pytest.mark.parametrize("name", sorted(SPACES))
def test_entangled_supernet_holds_the_largest_candidates_weights(name, strategy):
    text, expected = SPACES[name]
    space = nasdsl.loads(text)
    net = build_supernet(space, strategy, seed=0)
    mixed = _mixed(net)
    assert not any(isinstance(m, SeparateOps) for m in mixed)
    found: dict[str, int] = {}
    for m in mixed:
        found[m.op.name] = found.get(m.op.name, 0) + 1
        assert isinstance(m, MIXED.get(m.op.name, MixedOp)), m.op.name
    assert {k: v for k, v in found.items() if k in expected} == expected
    assert sum(p.numel() for p in net.parameters()) == largest_params(space)


def test_entangled_sizes_exactly():
    space = nasdsl.loads(SPACES["conv_transpose2d"][0])
    # c = 6, k = 5, per-channel PReLU: 3*6*25 + 6 (transposed conv) + 2*6 (InstanceNorm affine)
    # + 6 (PReLU) + 6*1*25 (depthwise, no bias) + 6*2 + 2 (1x1 transposed conv)
    assert largest_params(space) == 450 + 6 + 12 + 6 + 150 + 14 == 638
    net = build_supernet(space, "darts", seed=0)
    conv = [m for m in _mixed(net) if m.op.name == "ConvTranspose2d"]
    assert [tuple(m.weight.shape) for m in conv] == [(3, 6, 5, 5), (6, 1, 5, 5), (6, 2, 1, 1)]
    state = conv[0].state_for({"c": 4, "k": 3})
    assert state["weight"].shape == (3, 4, 3, 3) and torch.equal(state["weight"], conv[0].weight[:, :4, 1:4, 1:4])


@pytest.mark.parametrize("strategy", ONE_SHOT)
def test_embedding(strategy):
    space = nasdsl.loads(EMBEDDING)
    tokens = torch.tensor([[0, 3, 9, 1, 0], [5, 5, 2, 8, 7]])
    for arch in space.enumerate():
        assert_equivalent(space, strategy, arch, x=tokens)
    net = build_supernet(space, strategy, seed=0)
    (table,) = [m for m in _mixed(net) if isinstance(m, MixedEmbedding)]
    assert tuple(table.embedding.weight.shape) == (20, 8)
    assert sum(p.numel() for p in net.parameters()) == largest_params(space) == 20 * 8 + 8 * 3 + 3
    assert torch.equal(table.embedding.weight[0], torch.zeros(8))  # padding_idx's row, as torch initialises it


def test_embedding_max_norm_renormalises_the_rows_an_architecture_reads():
    space = nasdsl.loads(EMBEDDING.replace("padding_idx=0", "max_norm=1.0"))
    tokens = torch.tensor([[0, 3, 9, 1, 0], [5, 5, 2, 8, 7]])
    arch = {"d": 4, "out.0.num_embeddings": 10}
    assert space.validate(arch) == arch
    assert_equivalent(space, "spos", arch, x=tokens, grads=False)


@pytest.mark.parametrize(("body", "message"), [
    ("x -> BatchNorm3d(2, affine=choice[true, false])",
     "BatchNorm3d: affine must not depend on a decision (it depends on 'out.affine') for a "
     "weight-entangled supernet: only sizes are shared between choices"),
    ("x -> ConvTranspose3d(2, 4, 1, bias=choice[true, false])",
     "ConvTranspose3d: bias must not depend on a decision (it depends on 'out.bias')"),
    ("x -> InstanceNorm3d(2, momentum=choice[0.1, 0.2])", "InstanceNorm3d: momentum must not depend on a decision"),
    ("x -> GroupNorm(1, 2, eps=choice[0.00001, 0.001])", "GroupNorm: eps must not depend on a decision"),
    ("x -> PReLU(2, init=choice[0.25, 0.5])", "PReLU: init must not depend on a decision"),
])
@pytest.mark.parametrize("strategy", ["darts", "spos"])
def test_arguments_that_cannot_be_shared_are_refused_at_the_op(body, message, strategy):
    space = nasdsl.loads(f"network(x: [2, 3, 3, 3]) =\n  {body}")
    with pytest.raises(nasdsl.NasError) as err:
        build_supernet(space, strategy, seed=0)
    assert message in err.value.message
    assert "\n" not in err.value.message
    assert (err.value.loc.line, err.value.loc.col) == (2, 8)


def test_transposed_stride_choice_is_searched_by_sampling_and_refused_by_darts():
    space = nasdsl.loads("network(x: [2, 4, 4]) =\n  x -> ConvTranspose2d(2, 3, 3, stride=choice[1, 2], padding=1)")
    for arch in space.enumerate():
        assert_equivalent(space, "spos", arch)
    with pytest.raises(nasdsl.NasError) as err:
        build_supernet(space, "darts", seed=0)
    assert err.value.message.startswith("ConvTranspose2d stride depends on out.stride: darts and gumbel "
                                        "average the outputs of all values, which differ in shape")
    assert (err.value.loc.line, err.value.loc.col) == (2, 8)


def test_embedding_sparse_gradients_are_refused():
    space = nasdsl.loads("network(t: [3]) =\n  t -> Embedding(10, choice[2, 4], sparse=true)")
    with pytest.raises(nasdsl.NasError) as err:
        build_supernet(space, "spos", seed=0)
    assert err.value.message == ("Embedding: sparse=true is not weight-entangled (a sparse gradient cannot flow "
                                 "through slices of one table; it depends on 'out.embedding_dim')")
    assert err.value.loc.line == 2


@pytest.mark.parametrize("body", ["x -> Upsample(size=choice[3, 6])", "x -> PixelShuffle(choice[1, 2])"])
def test_weightless_ops_whose_factor_is_a_choice(body):
    """Nothing to entangle (no weights): sampling strategies run the chosen factor, exactly the
    discrete model; darts and gumbel refuse the outputs of different shapes in one line."""
    space = nasdsl.loads(f"network(x: [4, 3, 3]) =\n  {body}")
    for arch in space.enumerate():
        assert_equivalent(space, "spos", arch)
    net = build_supernet(space, "darts", seed=0)
    assert sum(p.numel() for p in net.parameters()) == 0
    with pytest.raises(nasdsl.NasError) as err:
        net(torch.zeros(1, 4, 3, 3))
    (label,) = space.labels()
    assert f"the values of {label} give outputs of different shapes" in err.value.message
    assert (err.value.loc.line, err.value.loc.col) == (2, 8)
