"""Loops that build DAGs (issue 12): list slicing, appending, a statement-level `if` on
constants, `pick` over a list, and labels a user would guess inside loops."""
from __future__ import annotations

import pytest

import nasdsl
from nasdsl.errors import NasSyntaxError, NasTypeError
from nasdsl.syntax.fmt import format_source

MACRO = """param layers = 4

block Op(c) = choice {
  conv3: Conv2d(c, c, 3, padding=1),
  conv5: Conv2d(c, c, 5, padding=2),
  pool:  MaxPool2d(3, 1, 1),
}

network(x: [3, 8, 8]) {
  x = x -> Conv2d(3, 8, 3, padding=1) -> BatchNorm2d(8)
  outs = [x]
  for i in range(layers) {
    x = x -> Op(8)
    if i > 0 {
      skip = pick(outs[0:i], n="any", reduce="sum")
      x = x + skip
    }
    outs = outs + [x]
  }
  head = outs[layers] -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(8, 10)
  return head
}
"""


def test_enas_macro_style_skips_are_labelled_by_layer_and_counted():
    space = nasdsl.loads(MACRO)
    # The stem `x = x -> Conv2d(...) -> BatchNorm2d(...)` labels nothing, so the loop's
    # `x = x -> Op(8)` names iteration i's decision `x.i` (not `x_2.i`).
    assert space.labels() == ["x.0", "x.1", "skip.1", "x.2", "skip.2", "x.3", "skip.3"]
    assert [len(space.decision(f"skip.{i}").values) for i in (1, 2, 3)] == [1, 3, 7]  # 2^i - 1 subsets
    assert space.size() == 3 ** 4 * 1 * 3 * 7
    assert space.decision("skip.3").values[-1] == (0, 1, 2)
    assert format_source(MACRO) == MACRO


def test_enas_macro_style_space_builds_and_matches_its_supernet():
    torch = pytest.importorskip("torch")
    from nasdsl.lower.discrete import build
    from nasdsl.strategy import build_supernet
    space = nasdsl.loads(MACRO)
    arch = {"x.0": "conv3", "x.1": "pool", "skip.1": [0], "x.2": "conv5", "skip.2": [0, 1],
            "x.3": "conv3", "skip.3": [2]}
    torch.manual_seed(0)
    net = build_supernet(space, "spos", seed=0)
    net.fix(arch)
    model = build(space, arch)
    model.load_state_dict(net.sub_state_dict(arch), strict=True)
    x = torch.randn(2, 3, 8, 8)
    net.eval(), model.eval()
    assert torch.allclose(net(x), model(x), atol=1e-6)


def test_slices_follow_python_and_need_constant_bounds():
    space = nasdsl.loads("""
network(x: [4]) {
  outs = [x -> Linear(4, 4), x -> Linear(4, 4), x -> Linear(4, 4), x -> Linear(4, 4)]
  a = pick(outs[1:3], label="a")
  b = pick(outs[:1], outs[-1:][0], label="b")
  c = pick(outs[2:], label="c")
  return a + b + c
}""")
    assert [len(space.decision(label).values) for label in ("a", "b", "c")] == [2, 2, 2]
    with pytest.raises(NasTypeError) as err:
        nasdsl.loads("network(x: [4]) {\n  outs = [x, x]\n  return pick(outs[0:choice[1, 2]])\n}")
    assert err.value.message == "a slice bound must be a constant integer, got a value that depends on a decision"
    assert (err.value.loc.line, err.value.loc.col) == (3, 22)  # the bound
    with pytest.raises(NasTypeError) as err:
        nasdsl.loads("network(x: [4]) = x[0:1]")
    assert err.value.message == "cannot slice a tensor: only lists and tuples have parts"


def test_statement_if_runs_its_body_only_when_a_constant_test_holds():
    text = """param deep = true
network(x: [4]) {
  for i in range(3) {
    if i == 1 {
      w = choice[4, 8]
      x = x -> Linear(4, w) -> Linear(w, 4)
    }
    if deep { x = x -> ReLU() }
  }
  return x
}
"""
    space = nasdsl.loads(text)
    assert space.labels() == ["w.1"]
    shallow = nasdsl.loads(text, params={"deep": False})
    assert shallow.template != space.template
    with pytest.raises(NasTypeError) as err:
        nasdsl.loads("network(x: [4]) {\n  k = choice[1, 2]\n  if k == 1 { x = x -> ReLU() }\n  return x\n}")
    assert err.value.message == ("an `if` statement tests a constant (loop variables, parameters), "
                                 "got a value that depends on a decision")
    assert (err.value.loc.line, err.value.loc.col) == (3, 8)  # a comparison is located at its operator
    assert "choice { ... }" in err.value.hint
    with pytest.raises(NasTypeError) as err:
        nasdsl.loads("network(x: [4]) {\n  if true { return x }\n}")
    assert err.value.message == "`return` inside an `if` statement is not allowed"


@pytest.mark.parametrize("layout", [
    "  y = x\n  if true { y = y -> ReLU() }\n",
    "  y = x if true else x\n",
    "  y = x\n  if\n  true else x\n",            # a conditional expression broken before `if`
    "  y = (x\n  if true else x)\n",
    "  y = x if true else x if false else x\n",
    "  y = x\n  if true {\n    y = y -> ReLU()\n  }\n",
    '  k = 3 if choice "k" [1, 2] == 1 else 5\n  y = x\n',
])
def test_if_is_a_statement_exactly_when_a_brace_follows_its_test(layout):
    text = f"network(x: [4]) {{\n{layout}  return y\n}}\n"
    module = nasdsl.syntax.parser.parse(text)
    kinds = [type(s).__name__ for s in module.items[0].body.stmts]
    statement = "{" in layout
    assert kinds == (["Assign", "If", "Return"] if statement else ["Assign"] * layout.count(" = ") + ["Return"])
    formatted = format_source(text)
    assert format_source(formatted) == formatted
    assert nasdsl.loads(formatted).fingerprint() == nasdsl.loads(text).fingerprint()


def test_if_is_a_keyword():
    with pytest.raises(NasSyntaxError) as err:
        nasdsl.loads("network(x: [4]) {\n  if = x\n  return x\n}")
    assert (err.value.loc.line, err.value.loc.col) == (2, 3)
    assert err.value.message.startswith("unexpected 'if'")


def test_rebinding_a_name_whose_statement_labelled_decisions_still_numbers_it():
    space = nasdsl.loads("""
block B() = choice { a: ReLU(), b: Tanh() }
network(x: [4]) {
  h = x -> B()
  for i in range(2) { h = h -> B() }
  g = h
  for i in range(2) { g = g -> B() }
  return g
}""")
    # `h` (its own statement) labelled a decision, so the loop's sites move to `h_2`;
    # `g = h` labels nothing, so the second loop keeps `g.i`.
    assert space.labels() == ["h", "h_2.0", "h_2.1", "g.0", "g.1"]
