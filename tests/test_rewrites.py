"""The supernet's rewrite passes (`nasdsl.lower.rewrites`), each alone on a tiny IR: the
exact IR it writes. (That the rewritten supernet computes what the plain one does is
tests/test_supernet_opt.py's and tests/test_equivalence.py's.)"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nasdsl import ir
from nasdsl.errors import NasError
from nasdsl.lower.rewrites import (
    DEFAULT_PASSES,
    IR_PASSES,
    MIX_RULES,
    PASSES,
    Context,
    FusedOp,
    LinearPick,
    Mix,
    MixedCellOp,
    MixedChoice,
    Term,
    check_passes,
    drop_zero,
    fast_avgpool,
    fold_bn,
    fused_mix,
    input_mix,
    mixtures,
    recompute_pure,
    rewrite,
    shared_prefix,
)
from nasdsl.values import Ref

NONE = Context()


def op(name: str, *args) -> ir.Op:
    return ir.Op(name, tuple(args), None)


ZERO = op("Zero", ("stride", 1), ("out_channels", None))
RELU = op("ReLU", ("inplace", False))
CONV = op("Conv2d", ("in_channels", 4), ("out_channels", 4), ("kernel_size", 3), ("stride", 1), ("padding", 1),
          ("dilation", 1), ("groups", 1), ("bias", False), ("padding_mode", "zeros"))
BN = op("BatchNorm2d", ("num_features", 4), ("eps", 1e-5), ("momentum", 0.1), ("affine", True),
        ("track_running_stats", True))
RCB = ir.Sequential((RELU, CONV, BN), None)


def pool(count_include_pad: bool) -> ir.Op:
    return op("AvgPool2d", ("kernel_size", 3), ("stride", 1), ("padding", 1), ("ceil_mode", False),
              ("count_include_pad", count_include_pad), ("divisor_override", None))


def choice(*candidates: tuple[str, ir.Module]) -> ir.LayerChoice:
    return ir.LayerChoice("op", tuple(candidates), None)


def mixed(template: ir.Module, *rules) -> Mix:
    return mixtures(template, rules).mix


def test_mixtures_marks_each_choice_of_one_tensor_candidates_with_its_plain_sum():
    c = choice(("none", ZERO), ("conv", RCB))
    assert mixtures(c) == MixedChoice("op", c.candidates, None, Mix((Term(0), Term(1))))
    assert drop_zero(Mix.plain(2), (ZERO, RCB)) == Mix((Term(1),))   # a rule alone, on its record
    two_out = ir.Graph((ir.TensorIn("x", None, None),), (("r", RELU),),
                       (ir.Apply(("y",), "r", ("x",), None),), ("x", "y"), None)
    unmixable = choice(("a", two_out), ("b", two_out))
    assert mixtures(unmixable) is unmixable


def test_drop_zero_drops_zero_terms_unless_every_candidate_is_zero():
    assert mixed(choice(("none", ZERO), ("conv", RCB)), drop_zero) == Mix((Term(1),))
    assert mixed(choice(("a", ZERO), ("b", ZERO)), drop_zero) == Mix((Term(0), Term(1)))


def test_shared_prefix_counts_each_terms_leading_pure_ops():
    c = choice(("conv", RCB), ("pool", pool(False)), ("bn", BN))
    assert mixed(c, shared_prefix) == Mix((Term(0, prefix=1), Term(1, prefix=1), Term(2)))
    in_place = op("ReLU", ("inplace", True))
    assert mixed(choice(("a", ir.Sequential((in_place, CONV), None))), shared_prefix) == Mix((Term(0),))


def test_fold_bn_marks_terms_ending_in_a_fixed_batch_norm():
    free_bn = op("BatchNorm2d", ("num_features", Ref("w")), ("eps", 1e-5), ("momentum", 0.1), ("affine", True),
                 ("track_running_stats", True))
    c = choice(("rcb", RCB), ("conv", CONV), ("free", ir.Sequential((CONV, free_bn), None)))
    assert mixed(c, shared_prefix, fold_bn) == Mix((Term(0, prefix=1, fold_bn=True), Term(1), Term(2)))


def test_fused_mix_sets_the_fused_accumulation():
    assert mixed(choice(("a", RCB)), fused_mix) == Mix((Term(0),), fused=True)


def test_recompute_pure_marks_elementwise_prefixes_read_by_a_convolution():
    c = choice(("rcb", RCB), ("pool", pool(False)), ("pool_conv", ir.Sequential((pool(False), CONV), None)))
    assert mixed(c, shared_prefix, fold_bn, recompute_pure) == Mix((
        Term(0, prefix=1, fold_bn=True, recompute=True),   # ReLU, then a Conv2d that saves only its input
        Term(1, prefix=1),                                  # nothing after the pool
        Term(2, prefix=1)))                                 # an average pool is not elementwise


def test_fast_avgpool_fuses_only_the_eligible_average_pools():
    template = ir.Sequential((pool(False), pool(True)), None)
    out = fast_avgpool(template, NONE)
    assert out == ir.Sequential((FusedOp("AvgPool2d", pool(False).args, None, "OnesAvgPool2d"), pool(True)), None)
    assert out.items[1] is template.items[1]


def _graph(*picks: ir.Pick) -> ir.Graph:
    inputs = (ir.TensorIn("a", None, None), ir.TensorIn("b", None, None))
    return ir.Graph(inputs, (), picks, tuple(p.out for p in picks), None)


def test_input_mix_marks_sum_and_mean_picks_with_their_subsets():
    s = ir.Pick("s", "pick_s", ("a", "b"), None, "sum", None)
    g = ir.Pick("g", "pick_g", ("a", "b"), None, "mean", None)
    c = ir.Pick("c", "pick_c", ("a", "b"), 2, "concat", None)
    context = Context(gates=frozenset({"pick_g"}), values={"pick_s": (0, 1, (0, 1)), "pick_g": (), "pick_c": ()})
    out = input_mix(_graph(s, g, c), context)
    assert out.nodes == (LinearPick("s", "pick_s", ("a", "b"), None, "sum", None, ((0,), (1,), (0, 1))),
                         LinearPick("g", "pick_g", ("a", "b"), None, "mean", None, None), c)


def test_a_cell_mixes_each_ops_candidates_itself():
    c = choice(("none", ZERO), ("conv", RCB))
    cell = ir.Cell(((ir.CellOp("op", "input", (c, CONV)),),), 2, "all", 1, (None, None), None, "cell", None)
    out = mixtures(cell, [drop_zero])
    assert out.nodes[0][0] == MixedCellOp("op", "input", (c, CONV), (Mix((Term(1),)), Mix((Term(0),))))
    assert type(out.nodes[0][0].candidates[0]) is ir.LayerChoice   # the cell mixes it, not a SuperChoice


def test_rewrite_runs_the_named_passes_in_order_and_keeps_sharing():
    shared = choice(("none", ZERO), ("conv", RCB))
    template = ir.Sequential((shared, shared, pool(False)), None)
    out = rewrite(template, DEFAULT_PASSES, NONE)
    mix = Mix((Term(1, prefix=1, fold_bn=True),), fused=True)
    assert out == ir.Sequential((MixedChoice("op", shared.candidates, None, mix),) * 2
                                + (FusedOp("AvgPool2d", pool(False).args, None, "OnesAvgPool2d"),), None)
    assert out.items[0] is out.items[1]
    assert rewrite(template, (), NONE) is template
    assert set(PASSES) == {*MIX_RULES, *IR_PASSES, "channels_last"}


def test_an_unknown_pass_is_named():
    with pytest.raises(NasError, match="unknown supernet pass 'fold'; passes: drop_zero, shared_prefix"):
        check_passes(["fold_bn", "fold"])


def test_the_passes_read_and_write_the_ir_without_torch():
    code = "import sys, nasdsl.lower.rewrites; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_records_rebuild_as_themselves():
    # `ir.transform` rebuilds a node from its children: a rewritten node keeps its record
    c = rewrite(choice(("none", ZERO), ("conv", RCB)), ("drop_zero",), NONE)
    fused = fast_avgpool(pool(False), NONE)
    for node in (c, fused):
        again = node.with_children(node.children())
        assert again == node and again is not node and type(again) is type(node)
    assert ir.fresh(ir.Sequential((c, fused), None)) == ir.Sequential((c, fused), None)
