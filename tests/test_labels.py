"""Labels come from where a choice sits; three sharing modes; NNI cell labels."""
from __future__ import annotations

import pytest

import nasdsl
from nasdsl.errors import DuplicateError

MB = """
block MBConv(c, stride=1) = Conv2d(c, c, choice[3, 5, 7], stride, padding=1) -> BatchNorm2d(c)
block Stage(c)(x) {
  block1 = MBConv(c, stride=2)
  block2 = MBConv(c)
  op = choice { conv: Conv2d(c, c, 1), skip: Identity() }
  return x -> block1 -> block2 -> op
}
"""


def test_labels_follow_the_source_path():
    space = nasdsl.loads(MB + """
network(x: [8, 64, 64]) {
  stage1 = x -> Stage(8)
  stage2 = stage1 -> Stage(8)
  return stage2
}""")
    # MBConv's body is a sequence, so its conv is element 0 of the block (as in its module path)
    assert space.labels() == [
        "stage1.block1.0.kernel_size", "stage1.block2.0.kernel_size", "stage1.op",
        "stage2.block1.0.kernel_size", "stage2.block2.0.kernel_size", "stage2.op",
    ]


def test_labels_are_stable_when_unrelated_code_is_added():
    base = nasdsl.loads(MB + "network(x: [8, 64, 64]) {\n  stage1 = x -> Stage(8)\n  return stage1\n}")
    more = nasdsl.loads(MB + "network(x: [8, 64, 64]) {\n  pre = x -> Stage(8)\n  stage1 = pre -> Stage(8)\n  return stage1\n}")
    assert set(base.labels()) <= set(more.labels())


def test_shared_block_instances_share_every_decision():
    space = nasdsl.loads("""
shared block Cell(c) = choice { conv: Conv2d(c, c, 3, padding=1), skip: Identity() }
network(x: [8, 16, 16]) {
  h = x
  for i in range(5) { h = h -> Cell(8) }
  return h
}""")
    assert space.labels() == ["Cell"]
    assert space.size() == 2


def test_explicit_label_ties_choices_anywhere():
    space = nasdsl.loads("""
block Conv(c) = Conv2d(c, c, choice "kernel" [3, 5], padding=1)
network(x: [8, 16, 16]) {
  a = x -> Conv(8)
  b = a -> Conv(8) -> Conv2d(8, 8, choice "kernel" [3, 5])
  return b
}""")
    assert space.labels() == ["kernel"]


def test_label_on_a_block_call_shares_its_instances():
    space = nasdsl.loads("""
block Cell(c) = choice { conv: Conv2d(c, c, 3, padding=1), skip: Identity() }
network(x: [8, 16, 16]) {
  a = x -> Cell(8, label="normal") -> Cell(8, label="normal")
  b = a -> Cell(8, label="reduce")
  return b
}""")
    assert space.labels() == ["normal", "reduce"]


def test_conflicting_domains_under_one_label_are_an_error():
    with pytest.raises(DuplicateError) as err:
        nasdsl.loads("""
block Cell(c) = choice { conv: Conv2d(c, c, 3, padding=1), skip: Identity() }
block Other(c) = choice { conv: Conv2d(c, c, 3, padding=1), pool: MaxPool2d(3, 1, 1) }
network(x: [8, 16, 16]) {
  a = x -> Cell(8, label="tied") -> Other(8, label="tied")
  return a
}""", "tie.nas")
    text = str(err.value)
    assert text.startswith("tie.nas:3:18: label 'tied' is reused with a different domain")
    assert "tie.nas:2:17: note: first declared here" in text


def test_repeat_labels_its_depth_and_each_block():
    space = nasdsl.loads("""
network(x: [8, 16, 16]) {
  blocks = x -> repeat(choice[1, 2], lambda i: Conv2d(8, 8, choice[3, 5], padding=1, stride=2 if i == 0 else 1))
  return blocks
}""")
    assert space.labels() == ["blocks.depth", "blocks.0.kernel_size", "blocks.1.kernel_size"]
    assert space.decision("blocks.depth").kind == "depth"
    second = space.decision("blocks.1.kernel_size").condition
    from nasdsl.values import evaluate
    assert evaluate(second, {"blocks.depth": 2}) and not evaluate(second, {"blocks.depth": 1})
    first_block = space.template.modules[0][1].blocks[0]
    assert dict(first_block.args)["stride"] == 2


def test_cell_labels_follow_nni():
    space = nasdsl.loads("""
network(x: [8, 16, 16]) {
  c = cell(lambda input: choice { conv: Conv2d(8, 8, 3, padding=1), skip: Identity() },
           nodes=2, ops_per_node=2, predecessors=1, merge="loose_end")
  return x -> c
}""")
    assert space.labels() == ["c.input_1_0", "c.op_1_0", "c.input_1_1", "c.op_1_1",
                              "c.input_2_0", "c.op_2_0", "c.input_2_1", "c.op_2_1"]
    assert space.decision("c.input_2_1").values == (0, 1)
    assert space.size() == (2 * 1) ** 2 * (2 * 2) ** 2


CELL = """
block Ops(c, k) = choice { conv: Conv2d(c, c, k, padding=k // 2), skip: Identity() }
block Cell(c)(s0, s1) {
  n = cell(lambda input: %s, nodes=1, predecessors=2, label="c")
  return n(s0, s1)
}
network(x: [4, 8, 8]) { y = Cell(4)(x, x)  return y }
"""


@pytest.mark.parametrize("op", ["Ops(c, 3)", "choice { conv: Conv2d(c, c, 3, padding=1), skip: Identity() }",
                                "Ops(c, 3) if true else Identity()", "(lambda: Ops(c, 3))()"])
def test_the_choice_a_cell_op_returns_is_the_ops_decision(op):
    # through a block call, directly, a constant `if` or a lambda call: the op's choice is `c.op_2_0`
    space = nasdsl.loads(CELL % op)
    assert space.labels() == ["c.input_2_0", "c.op_2_0"]
    assert space.decision("c.op_2_0").values == ("conv", "skip")


def test_other_choices_in_a_cell_op_are_labelled_by_their_place():
    # a choice inside a sequence (or an argument) is not the op's choice: it is named by its place,
    # once per input the op may read, as the kernel size of `Ops(c, choice[1, 3])` is
    space = nasdsl.loads(CELL % "Identity() -> choice { a: Identity(), b: ReLU() }")
    assert space.labels() == ["c.input_2_0", "c.op_2_0.0.1", "c.op_2_0.1.1"]
    space = nasdsl.loads(CELL % "Ops(c, choice[1, 3]) if true else Identity()")
    assert space.labels() == ["c.input_2_0", "c.op_2_0.0.k", "c.op_2_0", "c.op_2_0.1.k"]

def test_inline_choice_is_named_after_its_parameter():
    space = nasdsl.loads("network(x: [4]) {\n  fc = x -> Linear(4, choice[8, 16])\n  return fc\n}")
    assert space.labels() == ["fc.out_features"]


def test_expression_over_choices_stays_tied_to_them():
    space = nasdsl.loads("""
network(x: [8, 16, 16]) {
  k = choice[3, 5, 7]
  conv = x -> Conv2d(8, 8, k, padding=k // 2)
  return conv
}""")
    assert space.labels() == ["k"]
    from nasdsl.values import evaluate
    op = space.template.modules[0][1]
    assert evaluate(dict(op.args)["padding"], {"k": 7}) == 3


def test_imports_bring_blocks_and_namespaces(tmp_path):
    (tmp_path / "ops.nas").write_text("block Conv(c) = Conv2d(c, c, choice[1, 3])\n")
    (tmp_path / "a.nas").write_text('import "ops.nas"\nimport "ops.nas" as ops\n'
                                    "network(x: [4, 8, 8]) {\n  a = x -> Conv(4)\n  b = a -> ops.Conv(4)\n  return b\n}\n")
    space = nasdsl.load(tmp_path / "a.nas")
    assert space.labels() == ["a.kernel_size", "b.kernel_size"]
    assert str(tmp_path / "ops.nas") in space.sources


def test_params_are_overridable():
    space = nasdsl.load("nasbench201", {"C": 8, "num_classes": 100})
    assert space.params == {"C": 8, "N": 5, "num_classes": 100, "in_channels": 3, "resolution": 32}
    assert space.fingerprint() != nasdsl.load("nasbench201").fingerprint()
