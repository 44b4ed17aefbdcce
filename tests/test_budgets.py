"""Budgets (`require params <= N`, `require flops <= N`) are part of the space: sampling (both
modes and the `choose` hook), mutation and enumeration yield only architectures that
`validate` accepts, and a budget that leaves nothing is one located error."""
from __future__ import annotations

import json
import random

import pytest

import nasdsl
from nasdsl.analysis.shapes import costs
from nasdsl.errors import EmptySpaceError


def budgeted(name: str, budget: str) -> nasdsl.Space:
    """A library space with one more budget line, loaded from its own path (imports resolve)."""
    path = nasdsl.resolve_space(name)
    return nasdsl.loads(path.read_text() + f"\n{budget}\n", str(path))


# Budgets at about the median cost of a plainly sampled architecture: half the draws fail.
SPACES = {
    "mobile": ("examples/mobile.nas", "require params <= 29290"),
    "proxylessnas": ("proxylessnas", "require params <= 3190168"),
    "nasbench201": ("nasbench201", "require flops <= 80000000"),
}


@pytest.fixture(scope="module", params=sorted(SPACES))
def space(request):
    return budgeted(*SPACES[request.param])


def test_unbudgeted_draws_break_the_budget(space):
    """The budgets are tight enough to matter: plain draws from the space without them fail often."""
    loose = nasdsl.loads(space.sources[space.root_file].rsplit("\nrequire", 1)[0], space.root_file)
    over = sum(not space.within_budgets(loose.sample(seed=i)) for i in range(100))
    assert 20 <= over <= 80


@pytest.mark.parametrize("uniform", [False, True])
def test_every_sample_keeps_the_budgets(space, uniform):
    rng = random.Random(0)
    # Uniform draws favour deep, wide proxylessnas architectures: most are redrawn (~0.3 s each).
    n = 1000 if not uniform else 20 if "proxyless" in space.root_file else 200
    for _ in range(n):
        arch = space.sample(rng, uniform=uniform)
        assert space.validate(arch) == arch


def test_choose_hook_and_mutation_keep_the_budgets(space):
    rng = random.Random(1)
    for _ in range(200):
        arch = space.sample(choose=lambda d: rng.choice(d.values))
        assert space.validate(arch) == arch
        child = space.mutate(arch, rng=rng, prob=0.3)
        assert space.validate(child) == child


def test_enumerate_yields_exactly_the_architectures_within_budget():
    text = """network(x: [8]) {
  a = choice[4, 8, 16, 32]
  b = choice[4, 8, 16, 32]
  z = x -> Linear(8, a) -> ReLU() -> Linear(a, b) -> Linear(b, 2)
  return z -> choice { plain: Identity(), more: Linear(2, 64) -> Linear(64, 2) }
}
"""
    loose = nasdsl.loads(text)
    space = nasdsl.loads(text + "require params <= 400\n")
    expected = [a for a in loose.enumerate() if costs(loose, a)["params"] <= 400]
    assert 0 < len(expected) < loose.size()
    assert list(space.enumerate()) == expected


def test_a_budget_that_leaves_nothing_is_a_located_error():
    space = budgeted("nasbench201", "require params <= 10")
    with pytest.raises(EmptySpaceError) as err:
        space.sample(seed=0, attempts=50)
    text = err.value.render()
    assert "no architecture within the space's budgets in 50 draws" in text
    assert "`require params <= 10`" in text
    assert f"{space.root_file}:" in text


SMALL = """network(x: [8]) {
  a = choice[4, 8, 16, 32]
  b = choice[4, 8, 16, 32]
  return x -> Linear(8, a) -> ReLU() -> Linear(a, b) -> Linear(b, 2)
}
"""


def test_size_report_counts_budgets_exactly_in_a_small_space():
    loose = nasdsl.loads(SMALL)
    space = nasdsl.loads(SMALL + "require params <= 400\n")
    expected = sum(costs(loose, a)["params"] <= 400 for a in loose.enumerate())
    assert expected == 9  # params 9a + ab + 3b + 2 <= 400: a = 4 (any b), a = 8 (b <= 16), a = 16 (b <= 8)
    report = space.size_report()
    assert (report.size, report.exact, report.budgets_counted, report.before_budgets) == (9, True, True, 16)
    assert str(report) == "exactly 9 within the budgets (16 without them)"
    assert space.size() == 16  # size() counts what it always counted: decisions and their constraints
    unbudgeted = loose.size_report()
    assert (unbudgeted.size, unbudgeted.exact, unbudgeted.budgets_counted, str(unbudgeted)) == (16, True, False, "16")


def test_size_report_of_a_large_budgeted_space_is_an_upper_bound():
    report = budgeted("nasbench201", "require flops <= 80000000").size_report()
    assert (report.size, report.exact, report.budgets_counted) == (15625, False, False)
    assert str(report) == "at most 15,625 (1 budget not counted: more than 1,000 architectures to enumerate)"


def test_an_empty_small_budgeted_space_is_an_error_at_the_budget():
    space = nasdsl.loads(SMALL + "require flops <= 100000\nrequire params <= 50\n")
    with pytest.raises(EmptySpaceError) as err:
        space.check_budgets_feasible()
    assert err.value.loc.line == 7  # the params budget: every architecture breaks it, fewer break the flops one
    assert err.value.message == ("the budgets leave none of the 16 architectures "
                                 "(`require params <= 50` fails most often)")


def test_a_budget_under_the_cheapest_architecture_is_an_exact_error_at_the_budget():
    # All-`none` NAS-Bench-201 has 73,306 parameters, the fewest: one below leaves nothing. The
    # 15,625 architectures are too many to price one by one; the cost bounds decide it exactly.
    space = budgeted("nasbench201", "require params <= 73305")
    report = space.size_report()
    assert (report.size, report.exact, report.budgets_counted, report.counted_by) == (0, True, True, "bounds")
    with pytest.raises(EmptySpaceError) as err:
        space.check_budgets_feasible(attempts=30)
    assert err.value.message == ("the budgets leave none of the 15,625 architectures: the cheapest has 73,306 "
                                 "params, which breaks `require params <= 73305`")
    assert err.value.loc.line == space.sources[space.root_file].count("\n")  # the last line
    assert err.value.render().splitlines()[1].strip() == "require params <= 73305"


def test_a_near_empty_budget_the_bounds_cannot_decide_is_caught_by_the_sampling_probe():
    # not linear in params and FLOPs, so the bounds do not judge it: the bounded probe does
    space = budgeted("nasbench201", "require params * params <= 73305 * 73305")
    assert space.size_report().counted_by is None
    with pytest.raises(EmptySpaceError) as err:
        space.check_budgets_feasible(attempts=30)
    assert err.value.message == ("the budgets leave nothing or almost nothing of the space: "
                                 "no architecture within them in 30 draws")


def test_sampling_a_small_space_with_few_architectures_within_budget_falls_back_to_enumeration():
    space = nasdsl.loads(SMALL + "require params <= 120\n")  # 9a + ab + 3b + 2: (4, 4) 66, (4, 8) 94, (8, 4) 118
    within = list(space.enumerate())
    assert within == [{"a": 4, "b": 4}, {"a": 4, "b": 8}, {"a": 8, "b": 4}]
    draws = {tuple(space.sample(seed=i, attempts=1).values()) for i in range(40)}
    assert draws == {(4, 4), (4, 8), (8, 4)}


def test_check_and_info_report_budgets(tmp_path, capsys):
    from nasdsl.cli import main
    small = tmp_path / "small.nas"
    small.write_text(SMALL + "require params <= 400\n")
    empty = tmp_path / "empty.nas"
    empty.write_text(SMALL + "require params <= 50\n")
    assert main(["check", str(small)]) == 0
    assert capsys.readouterr().out == f"{small}: ok (2 decisions, 9 architectures within the budgets, of 16)\n"
    assert main(["check", str(empty)]) == 1
    assert capsys.readouterr().err.startswith(f"{empty}:6:1: the budgets leave none of the 16 architectures\n"
                                              "    require params <= 50\n    ^\n")
    assert main(["info", str(small), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["size"] == 16 and data["budgets_counted"] is True
    assert data["size_report"] == {"size": 9, "exact": True, "budgets_counted": True, "before_budgets": 16,
                                   "counted_by": "enumeration", "text": "exactly 9 within the budgets (16 without them)"}
    # 9a + ab + 3b + 2 over a, b in 4..32: 66 (4, 4) to 1,410 (32, 32); MACs equal params less the biases
    assert data["cost_bounds"] == {"params": {"min": 66, "min_exact": True, "max": 1410, "max_exact": True},
                                   "flops": {"min": 56, "min_exact": True, "max": 1344, "max_exact": True}}
    assert main(["info", str(small), "--bounds"]) == 0
    out = capsys.readouterr().out
    assert "2 decisions, size exactly 9 within the budgets (16 without them)" in out
    assert "cheapest .. dearest: params 66 .. 1,410, flops 56 .. 1,344 (multiply-adds per sample)" in out
    assert main(["info", "examples/mobile.nas", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # its budget (params <= 200,000) is above the dearest architecture's bound: all 59,724 keep it
    assert data["budgets_counted"] is True
    assert data["size_report"]["text"] == "exactly 59,724 within the budgets (the dearest architecture keeps them)"
