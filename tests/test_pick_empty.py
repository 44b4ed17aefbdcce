"""`pick(..., n="any", min=0)`: an input choice that may choose no tensor (ENAS macro's skips,
NNI's `InputChoice(n_chosen=None)`): counted exactly, zeros when empty, and the supernet
computes what the discrete model computes."""
from __future__ import annotations

import pytest

import nasdsl
from nasdsl.errors import ArityError, NasTypeError

SKIPS = """param layers = 4
block Op(c) = choice { conv3: Conv2d(c, c, 3, padding=1), pool: MaxPool2d(3, 1, 1), id: Identity() }
network(x: [4, 6, 6]) {
  outs = [x -> Conv2d(4, 4, 1)]
  for i in range(layers) {
    y = outs[i] -> Op(4)
    if i > 0 {
      skip = pick(outs[1:i + 1], n="any", min=0, reduce="REDUCE")
      y = y + skip
    }
    outs = outs + [y]
  }
  return outs[layers] -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(4, 3)
}
"""


def test_empty_subset_is_counted_exactly_and_comes_first():
    space = nasdsl.loads(SKIPS.replace("REDUCE", "sum"))
    skips = [space.decision(label) for label in space.labels() if label.startswith("skip")]
    assert [d.values for d in skips][:2] == [((), (0,)), ((), (0,), (1,), (0, 1))]
    assert space.size() == 3 ** 4 * 2 * 4 * 8  # 2^i subsets at layer i, the empty one included
    assert sum(1 for _ in space.enumerate()) == space.size()
    arch = space.validate({**space.sample(seed=0), **{d.label: [] for d in skips}})
    assert all(arch[d.label] == [] for d in skips)


def test_min_counts_the_fewest_inputs():
    space = nasdsl.loads('network(x: [4]) = pick(x -> ReLU(), x -> Tanh(), x -> GELU(), n="any", min=2, label="p")')
    assert space.decision("p").values == ((0, 1), (0, 2), (1, 2), (0, 1, 2))


@pytest.mark.parametrize(("text", "message"), [
    ('pick(x, x -> ReLU(), n=1, min=0)', 'min applies to n="any" (the fewest inputs a subset may have)'),
    ('pick(x, x -> ReLU(), n="any", min=3)', "min must be an integer from 0 to 2, got 3"),
    ('pick(x, x -> ReLU(), n="any", min=0, reduce="concat")',
     'an empty subset has nothing to concatenate: min=0 needs reduce="sum" or "mean" (both give zeros when '
     'nothing is chosen)'),
])
def test_bad_min_is_a_located_error(text, message):
    with pytest.raises(NasTypeError) as err:
        nasdsl.loads(f"network(x: [4]) = {text}")
    assert err.value.message == message
    assert err.value.loc.line == 1 and text[err.value.loc.col - len("network(x: [4]) = ") - 1:].startswith("min=")


def test_pick_of_an_empty_list_is_an_error():
    with pytest.raises(ArityError) as err:
        nasdsl.loads('network(x: [4]) {\n  outs = [x]\n  return x + pick(outs[1:], n="any", min=0)\n}')
    assert err.value.message == "pick needs at least one candidate tensor"
    assert (err.value.loc.line, err.value.loc.col) == (3, 14)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("strategy", ["darts", "gumbel", "spos", "enas", "proxyless"])
def test_supernet_fixed_to_an_empty_or_full_subset_equals_the_discrete_model(strategy, reduce):
    pytest.importorskip("torch")
    from tests.test_equivalence import assert_equivalent
    space = nasdsl.loads(SKIPS.replace("REDUCE", reduce))
    skips = [label for label in space.labels() if label.startswith("skip")]
    base = space.sample(seed=3)
    for chosen in ([], "all"):
        arch = dict(base)
        for label in skips:
            arch[label] = [] if chosen == [] else list(space.decision(label).values[-1])
        assert_equivalent(space, strategy, space.validate(arch))


def test_an_empty_pick_is_zeros_in_the_model_and_in_exported_source():
    torch = pytest.importorskip("torch")
    from nasdsl.analysis.shapes import costs
    from nasdsl.lower.discrete import build
    from nasdsl.lower.export import export_source
    space = nasdsl.loads('network(x: [4]) {\n  a = x -> Linear(4, 4)\n  s = pick(a, x -> Tanh(), n="any", min=0)\n'
                         '  return x + s\n}')
    x = torch.randn(3, 4)
    assert torch.equal(build(space, {"s": []})(x), x)
    assert torch.equal(build(space, {"s": [1]})(x), x + torch.tanh(x))
    assert costs(space, {"s": []}) == costs(space, {"s": [0]}) == {"params": 20, "flops": 16}
    source = export_source(space, {"s": []})
    assert "torch.zeros_like(" in source
    namespace: dict = {}
    exec(compile(source, "model.py", "exec"), namespace)  # our own generated source
    model = next(v for v in namespace.values() if isinstance(v, type) and issubclass(v, torch.nn.Module)
                 and v is not torch.nn.Module)()
    assert torch.equal(model(x), x)
