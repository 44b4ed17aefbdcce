"""The cheapest and dearest architectures of a space (`nasdsl.analysis.bounds`) and what they
decide about budgets: exact where the cost is additive over decisions (checked against
enumeration), sound everywhere (no architecture outside them), and a budget outside them
counted exactly (all architectures, or none: an error at the budget)."""
from __future__ import annotations

import csv
import gzip
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_budgets import SMALL, budgeted

import nasdsl
from nasdsl.analysis.bounds import budget_verdict, cost_bounds
from nasdsl.analysis.shapes import costs
from nasdsl.errors import EmptySpaceError
from nasdsl.formats import arch_to_nb201, nb201_to_arch


def ends(space) -> tuple[int, int, int, int]:
    b = cost_bounds(space)
    return b.params[0].cost, b.params[1].cost, b.flops[0].cost, b.flops[1].cost


def assert_exact_against_enumeration(space) -> None:
    found = [costs(space, a, validate=False) for a in space.enumerate()]
    b = cost_bounds(space)
    for metric in ("params", "flops"):
        low, high = getattr(b, metric)
        values = [c[metric] for c in found]
        assert (low.exact, high.exact) == (True, True), metric
        assert (low.cost, high.cost) == (min(values), max(values)), metric
        for end in (low, high):
            assert space.validate(end.arch) == end.arch
            assert costs(space, end.arch)[metric] == end.cost


def test_nasbench201_cheapest_and_dearest_are_all_none_and_all_conv3x3():
    space = nasdsl.load("nasbench201")
    b = cost_bounds(space)
    # AutoDL-Projects' TinyNetwork (C=16, N=5): all `none` 73,306 params, all nor_conv_3x3 1,531,546
    assert ends(space) == (73_306, 1_531_546, 7_783_040, 220_119_680)
    assert all(e.exact for e in b.params + b.flops)
    none = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    conv = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert arch_to_nb201(space, b.params[0].arch) == none and arch_to_nb201(space, b.params[1].arch) == conv
    assert b.to_json() == {"params": {"min": 73306, "min_exact": True, "max": 1531546, "max_exact": True},
                           "flops": {"min": 7783040, "min_exact": True, "max": 220119680, "max_exact": True}}


def test_nasbench201_table_architectures_lie_within_the_bounds(nb201_table):
    """A benchmark table's architectures (every 97th row of the NB201-shaped table, whose
    strings are the benchmark's) cost within the bounds; the table has no parameter column,
    the exhaustive check is the slow test below."""
    space = nasdsl.load("nasbench201")
    low_p, high_p, low_f, high_f = ends(space)
    with gzip.open(nb201_table, "rt") as f:
        rows = list(csv.DictReader(f))[::97]
    assert len(rows) == 162
    for row in rows:
        c = costs(space, nb201_to_arch(space, row["arch"]))
        assert low_p <= c["params"] <= high_p and low_f <= c["flops"] <= high_f
    assert {nb201_to_arch(space, r["arch"])["Cell.e1_0"] for r in rows} == set(space.decision("Cell.e1_0").values)


@pytest.mark.slow
def test_nasbench201_bounds_are_the_extremes_of_all_15625_architectures():
    assert_exact_against_enumeration(nasdsl.load("nasbench201"))


def test_macro_space_with_input_choices_is_exact():
    assert_exact_against_enumeration(nasdsl.load("examples/macro.nas"))  # 5,184 architectures


REPEAT = """block Block(c, k=choice[1, 3, 5]) = Conv2d(c, c, k, padding=k // 2) -> ReLU()
block Big(c, k=choice[1, 3]) = Conv2d(c, c, 1) -> Conv2d(c, c, k, padding=k // 2)
network(x: [3, 8, 8]) {
  c = choice[4, 8]
  y = x -> Conv2d(3, c, 3, padding=1) -> repeat(choice[1, 2, 3], lambda i: Block(c))
  head = choice { small: Identity(), big: Big(c) }
  return y -> head -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(c, 2)
}
"""


def test_interacting_decisions_are_eliminated_together_and_exact():
    """A depth keeps or drops blocks whose kernels are choices, a nested choice exists only
    under one candidate and the width scales everything: not additive, still exact."""
    space = nasdsl.loads(REPEAT)
    assert space.size() == 2 * (3 + 9 + 27) * 3
    assert_exact_against_enumeration(space)


def test_a_forbidden_optimum_leaves_a_sound_inexact_bound():
    space = nasdsl.loads(SMALL.replace("  return", "  forbid a == 4 and b == 4\n  return"))
    cheapest, dearest = cost_bounds(space).params
    assert (cheapest.cost, cheapest.exact, cheapest.arch) == (66, False, None)  # 9a + ab + 3b + 2 at (4, 4)
    assert min(costs(space, a)["params"] for a in space.enumerate()) == 94  # (4, 8)
    assert (dearest.cost, dearest.exact, dearest.arch) == (1410, True, {"a": 32, "b": 32})


def test_loose_end_cells_get_a_sound_lower_bound_and_an_exact_upper_one():
    """ENAS's cells concatenate their loose ends, so the next layer's width reads every input
    choice of the cell (129,600 joint values): that term is bounded on its own."""
    space = nasdsl.load("enas")
    b = cost_bounds(space)
    assert not b.params[0].exact and b.params[1].exact and b.params[1].cost == costs(space, b.params[1].arch)["params"]
    rng = random.Random(0)
    for _ in range(10):
        c = costs(space, space.sample(rng))
        assert b.params[0].cost <= c["params"] <= b.params[1].cost
        assert b.flops[0].cost <= c["flops"] <= b.flops[1].cost


@pytest.mark.parametrize("name", ["darts", "proxylessnas", "mobilenetv3", "shufflenet", "autoformer", "pnas",
                                  "enas_macro", "nasnet", "examples/mobile.nas", "examples/cell.nas",
                                  pytest.param("nasbench101", marks=pytest.mark.slow)])
def test_library_spaces_are_bounded_soundly(name):
    space = nasdsl.load(name)
    b = cost_bounds(space)
    assert b.params is not None and b.flops is not None, b.note
    rng = random.Random(1)
    for _ in range(5):
        c = costs(space, space.sample(rng))
        assert b.params[0].cost <= c["params"] <= b.params[1].cost
        assert b.flops[0].cost <= c["flops"] <= b.flops[1].cost
    for metric in ("params", "flops"):
        for end in getattr(b, metric):
            if end.exact:
                assert costs(space, end.arch)[metric] == end.cost


def test_a_space_with_an_op_without_a_cost_rule_is_not_bounded_and_says_why():
    torch = pytest.importorskip("torch")
    from nasdsl.ops import catalog
    from nasdsl.ops.modules import register_op

    class Scale(torch.nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(channels))

    register_op("BoundsScale", Scale)
    try:
        space = nasdsl.loads("network(x: [4]) =\n  x -> Linear(4, choice[2, 8]) -> BoundsScale(2)")
        b = cost_bounds(space)
        assert (b.params, b.flops) == (None, None)
        assert b.note == "the cost of BoundsScale (<string>:2:35) is not known for every architecture"
        assert b.text("params") == f"params not bounded ({b.note})"
        assert b.to_json() == {"params": None, "flops": None, "note": b.note}
    finally:
        catalog.unregister("BoundsScale")


@pytest.mark.parametrize(("budget", "verdict", "size", "text"), [
    ("require params <= 1531546", "all", 15625, "exactly 15,625 within the budgets (the dearest architecture keeps them)"),
    ("forbid flops > 220119680", "all", 15625, "exactly 15,625 within the budgets (the dearest architecture keeps them)"),
    ("require params + flops / 1000 < 2e6", "all", 15625,
     "exactly 15,625 within the budgets (the dearest architecture keeps them)"),
    ("require params <= 1531545", None, 15625, "at most 15,625 (1 budget not counted: more than 1,000 architectures "
                                               "to enumerate)"),
    ("require flops >= 7783041", None, 15625, "at most 15,625 (1 budget not counted: more than 1,000 architectures "
                                              "to enumerate)"),
    ("require params % 2 == 0", None, 15625, "at most 15,625 (1 budget not counted: more than 1,000 architectures "
                                             "to enumerate)"),
    ("require flops > 220119680", "none", 0, "none of 15,625 within the budgets (the cheapest architecture breaks "
                                             "`require flops > 220119680`)"),
])
def test_budgets_outside_the_bounds_are_counted_exactly(budget, verdict, size, text):
    space = budgeted("nasbench201", budget)
    assert budget_verdict(space, space.budgets[0]) == verdict
    report = space.size_report()
    assert (report.size, report.exact, str(report)) == (size, verdict is not None, text)
    assert report.counted_by == ("bounds" if verdict else None)


def test_a_budget_over_every_architecture_is_an_error_at_the_budget_with_the_cheapest_cost(capsys):
    from nasdsl.cli import main
    space = budgeted("nasbench201", "require params <= 5e4")
    with pytest.raises(EmptySpaceError) as err:
        space.check_budgets_feasible()
    assert err.value.message == ("the budgets leave none of the 15,625 architectures: the cheapest has 73,306 "
                                 "params, which breaks `require params <= 50000`")
    assert err.value.loc.line == space.sources[space.root_file].count("\n")
    assert main(["info", "nasbench201", "--bounds"]) == 0
    out = capsys.readouterr().out
    assert "cheapest .. dearest: params 73,306 .. 1,531,546, flops 7,783,040 .. 220,119,680 (multiply-adds per " \
           "sample)" in out


@pytest.mark.parametrize("name", ["nasbench201", "darts"])
def test_info_shows_the_bounds_only_with_the_flag_and_the_rest_unchanged(name, capsys, monkeypatch):
    """`nasdsl info` leaves the cost analysis out unless `--bounds` is given (it costs more than
    the rest of a cold `info`): the text without the flag is the text with it less the bounds
    line, which shows what `--json` reports and `cost_bounds` works out; without the flag the
    analysis is not even imported."""
    from nasdsl.cli import _bound_text, main
    monkeypatch.setenv("NASDSL_NO_CACHE", "1")
    assert main(["info", name, "--bounds"]) == 0
    full = capsys.readouterr().out.splitlines()
    assert main(["info", name]) == 0
    plain = capsys.readouterr().out.splitlines()
    assert main(["info", name, "--json"]) == 0
    bounds = json.loads(capsys.readouterr().out)["cost_bounds"]
    assert bounds == cost_bounds(nasdsl.load(name)).to_json()
    line = (f"cheapest .. dearest: {_bound_text(bounds, 'params')}, {_bound_text(bounds, 'flops')} "
            f"(multiply-adds per sample)")
    assert full == plain + [line]
    root = Path(__file__).resolve().parent.parent
    probe = ("import sys, io, contextlib\nfrom nasdsl.cli import main\n"
             f"with contextlib.redirect_stdout(io.StringIO()): main(['info', {name!r}])\n"
             "print('nasdsl.analysis.bounds' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(root), "NASDSL_NO_CACHE": "1"}
    shown = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "False"


def _check_against_enumeration(text: str) -> None:
    """Each end bounds the true extreme; an end marked exact is it, and its architecture costs it."""
    space = nasdsl.loads(text, "generated.nas")
    b = cost_bounds(space)
    assert b.params is not None, b.note
    archs = list(space.enumerate()) if space.size() <= 300 else [space.sample(seed) for seed in range(40)]
    found = [costs(space, a, validate=False) for a in archs]
    for metric in ("params", "flops"):
        low, high = getattr(b, metric)
        values = [c[metric] for c in found]
        assert low.cost <= min(values) and max(values) <= high.cost
        if space.size() <= 300:
            assert not low.exact or low.cost == min(values)
            assert not high.exact or high.cost == max(values)
        for end in (low, high):
            if end.exact:
                assert costs(space, end.arch)[metric] == end.cost


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.deferred(lambda: _programs()))
def test_generated_spaces_are_bounded_soundly(text):
    _check_against_enumeration(text)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.deferred(lambda: _programs()))
def test_generated_spaces_are_bounded_soundly_many(text):
    _check_against_enumeration(text)


def _programs():
    """Shape-valid spaces with layer, value and input choices, repeats and cells (the
    equivalence tests' generator)."""
    pytest.importorskip("torch")  # that module checks supernets too
    from test_equivalence import lowerable_program
    return lowerable_program()
