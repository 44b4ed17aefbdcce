"""The two equivalences, property-tested: a supernet fixed to an architecture (one-hot
weights for darts/gumbel, the fixed path for sampling strategies) computes what the discrete
model of that architecture computes after loading `sub_state_dict(arch)` — outputs and
gradients, in train and eval mode."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nasdsl
from nasdsl.arch import arch_values
from nasdsl.lower.discrete import build
from nasdsl.lower.passes import fast_avgpool
from nasdsl.lower.supernet import _sub_state  # noqa: E402
from nasdsl.strategy import ONE_SHOT, build_supernet

STRATEGIES = list(ONE_SHOT)
SMALL = {"nasbench201": {"C": 4, "N": 1}, "darts": {"C": 4, "layers": 3, "auxiliary": True}}


def outputs(y):
    return y if isinstance(y, tuple) else (y,)


def mapped_grads(net, arch, model) -> dict[str, torch.Tensor]:
    """The discrete model's weight gradients, written into supernet-shaped tensors through the
    same slices `sub_state_dict` cuts (so shared and sliced weights line up)."""
    internal = arch_values(net.space.validate(arch))
    grads = dict(model.named_parameters())
    saved = {}
    for name, p in net.named_parameters():
        saved[name] = p.data
        p.data = torch.zeros_like(p)
    views: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        _sub_state(net.net, internal, "", views)
        for key, view in views.items():
            if key in grads and grads[key].grad is not None and view.shape == grads[key].shape:
                view += grads[key].grad
    result = {name: p.data.clone() for name, p in net.named_parameters()}
    for name, p in net.named_parameters():
        p.data = saved[name]
    return result


def fixed_pair(space, strategy: str, arch, options, dtype=torch.float32):
    """The supernet fixed to `arch`, and the discrete model of `arch` holding its weights."""
    torch.manual_seed(0)
    net = build_supernet(space, strategy, seed=0, **options)
    net.fix(arch)
    model = build(space, arch, channels_last="channels_last" in net.passes)   # the same input layout
    if "fast_avgpool" in net.passes:   # the same op substitution (its own equality: test_supernet_opt)
        fast_avgpool(model)
    model.load_state_dict(net.sub_state_dict(arch), strict=True)
    return net.to(dtype), model.to(dtype)


def assert_equivalent(space, strategy: str, arch, batch: int = 2, grads: bool = True, x=None, **options) -> None:
    """Outputs agree in float32 (train and eval mode), weight gradients in float64: there
    rounding can neither hide a difference nor fake one (batch norm over a constant input, as a
    `Zero()` candidate gives, amplifies float32 rounding ~300x into gradients that are exactly
    zero in exact arithmetic). `x`: the input batch (default: normal noise of the declared
    shape; indices for an Embedding)."""
    net, model = fixed_pair(space, strategy, arch, options)
    x = torch.randn(batch, *space.template.inputs[0].shape) if x is None else x
    for train in (True, False):
        net.train(train)
        model.train(train)
        a, b = outputs(net(x)), outputs(model(x))
        assert len(a) == len(b)
        for p, q in zip(a, b):
            assert p.shape == q.shape
            assert torch.allclose(p, q, atol=1e-5, rtol=1e-4), (strategy, arch, (p - q).abs().max())
    if not grads:
        return
    net, model = fixed_pair(space, strategy, arch, options, torch.float64)
    x = x.double() if x.is_floating_point() else x
    a, b = outputs(net(x)), outputs(model(x))
    if not b[0].requires_grad:
        return
    sum(t.sum() for t in a).backward()
    sum(t.sum() for t in b).backward()
    expected = mapped_grads(net, arch, model)
    for name, p in net.named_parameters():
        got = p.grad if p.grad is not None else torch.zeros_like(p)
        assert torch.allclose(got, expected[name], atol=1e-9, rtol=1e-7), (strategy, name, (got - expected[name]).abs().max())


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", ["nasbench201", "darts"])
def test_library_spaces(name, strategy):
    space = nasdsl.load(name, SMALL[name])
    for seed in range(2):
        assert_equivalent(space, strategy, space.sample(seed))


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("path", ["examples/mobile.nas", "examples/cell.nas", "examples/macro.nas"])
def test_examples(path, strategy):
    space = nasdsl.load(path)
    for seed in range(2):
        assert_equivalent(space, strategy, space.sample(seed))


# --- generated spaces ------------------------------------------------------------------------

C = 4


@st.composite
def layer(draw, depth: int = 0) -> str:
    """A layer keeping C channels and the resolution, built from every primitive."""
    kinds = ["conv", "choice", "kernel", "width", "pool"] + (["repeat", "seq"] if depth < 2 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "conv":
        return f"Conv2d({C}, {C}, 3, padding=1)"
    if kind == "pool":
        return draw(st.sampled_from(["MaxPool2d(3, 1, 1)", "AvgPool2d(3, 1, 1)", "Identity()", "Zero()", "ReLU()"]))
    if kind == "kernel":
        ks = draw(st.lists(st.sampled_from([1, 3, 5]), min_size=2, max_size=3, unique=True))
        return f"Kernel({C}, {ks})"
    if kind == "width":
        ws = draw(st.lists(st.sampled_from([2, 4, 6, 8]), min_size=2, max_size=3, unique=True))
        return f"Width({C}, {ws})"
    if kind == "choice":
        n = draw(st.integers(2, 3))
        cands = [f"c{i}: {draw(layer(depth + 1))}" for i in range(n)]
        return "choice { " + ", ".join(cands) + " }"
    if kind == "repeat":
        depths = draw(st.lists(st.integers(0, 3), min_size=2, max_size=3, unique=True))
        return f"repeat(choice{sorted(depths)}, lambda i: {draw(layer(depth + 1))})"
    return f"{draw(layer(depth + 1))} -> BatchNorm2d({C}) -> {draw(layer(depth + 1))}"


@st.composite
def lowerable_program(draw) -> str:
    """A shape-valid space exercising layer, value and input choices, repeat and cells."""
    lines = [
        "block Kernel(c, ks) = KernelConv(c, choice[ks])",
        "block KernelConv(c, k) = Conv2d(c, c, k, padding=k // 2, bias=false)",
        "block Width(c, ws) = WidthPair(c, choice[ws])",
        "block WidthPair(c, w) = Conv2d(c, w, 1) -> BatchNorm2d(w) -> ReLU() -> Conv2d(w, c, 1)",
        f"network(x: [{C}, 6, 6]) {{",
    ]
    tensors = ["x"]
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["apply", "apply", "pick", "cell", "add"]))
        name = f"t{i}"
        if kind == "apply":
            lines.append(f"  {name} = {draw(st.sampled_from(tensors))} -> {draw(layer())}")
        elif kind == "add" and len(tensors) > 1:
            a, b = draw(st.lists(st.sampled_from(tensors), min_size=2, max_size=2))
            lines.append(f"  {name} = {a} + {b}")
        elif kind == "pick" and len(tensors) > 1:
            k = min(len(tensors), 3)
            n = draw(st.sampled_from(["1", "2", '"any"', '"any", min=0'][: k + (k == 3)]))
            reduce = draw(st.sampled_from(["sum", "mean"]))
            lines.append(f"  {name} = pick({', '.join(tensors[-k:])}, n={n}, reduce=\"{reduce}\")")
        else:
            nodes = draw(st.integers(1, 3))
            per = draw(st.integers(1, 2))
            ops = draw(st.lists(st.sampled_from(["Conv2d(4, 4, 3, padding=1)", "MaxPool2d(3, 1, 1)", "Identity()",
                                                 "Zero()"]), min_size=2, max_size=3, unique=True))
            cands = ", ".join(f"o{j}: {op}" for j, op in enumerate(ops))
            lines.append(f"  {name} = cell(lambda input: choice {{ {cands} }}, nodes={nodes}, ops_per_node={per}, "
                         f"predecessors=1, merge=\"all\", postprocess=Conv2d({nodes * C}, {C}, 1))"
                         f"({draw(st.sampled_from(tensors))})")
        tensors.append(name)
    lines.append(f"  return {tensors[-1]}")
    lines.append("}")
    return "\n".join(lines) + "\n"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=lowerable_program(), strategy=st.sampled_from(STRATEGIES), seed=st.integers(0, 10_000))
def test_generated_spaces(text, strategy, seed):
    space = nasdsl.loads(text, "generated.nas")
    assert_equivalent(space, strategy, space.sample(seed))


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=lowerable_program(), strategy=st.sampled_from(STRATEGIES), seed=st.integers(0, 10_000))
def test_generated_spaces_many(text, strategy, seed):
    space = nasdsl.loads(text, "generated.nas")
    assert_equivalent(space, strategy, space.sample(seed))
