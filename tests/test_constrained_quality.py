"""Search quality under a hardware constraint: NAS-Bench-201's table with latency_pixel3 <= L.

The constrained optima are 91.080 / 93.625 / 94.063 / 94.307 at L = 5 / 10 / 15 / 20 ms (HELP's
figures). Before infeasible proposals were screened (each one a failed trial, a spent query that
taught nothing), the best strategy's mean best was 0.43 / 0.56 / ~0.30 / ~0.30 below them at 100
queries and 0.10 / 0.17 / 0.13 / 0.13 at 300 (50 seeds, issue 21). Screened, local search was
0.118 / 0.264 / 0.242 / 0.264 and 0.030 / 0.104 / 0.084 / 0.153 (50 seeds); walking
best-first under the bound, through one-change and then two-change neighbours that trade it
(`nasdsl.strategy.local`), takes it to 0.029 / 0.079 / 0.122 / 0.120 and 0.000 / 0.026 /
0.000 / 0.000: the issue's targets, 0.15 at 100 and 0.03 at 300 (50 seeds; see
bench/results_multitrial.md). These tests hold the screened search to fixed seeds;
`bench/bench_constrained.py` reports every strategy.
"""
from __future__ import annotations

import statistics

import pytest
from nb201 import TABLE, needs_table

import nasdsl
from nasdsl.search.evaluators import make_evaluator
from nasdsl.search.multitrial import search

pytestmark = needs_table
OPTIMA = {5: 91.080, 10: 93.625, 15: 94.063, 20: 94.307}


@pytest.fixture(scope="module")
def space():
    return nasdsl.load("nasbench201")


def gap(space, limit: int, strategy: str, trials: int, seeds, **options) -> float:
    """How far below the constrained optimum the mean best found lies."""
    ev = make_evaluator(f"table:{TABLE}", space, "cifar10_test", [f"latency_pixel3<={limit}"])
    found = []
    for seed in seeds:
        result = search(space, strategy, ev, trials, seed=seed, options=options, costs=False)
        assert len(result.trials) == trials and all(t.metrics["latency_pixel3"] <= limit for t in result.trials)
        found.append(result.best.value)
    return OPTIMA[limit] - statistics.fmean(found)


def test_the_optima_are_the_tables():
    from nasdsl.search.tables import read_table
    rows, _ = read_table(TABLE)
    for limit, best in OPTIMA.items():
        assert max(r["cifar10_test"] for r in rows.values() if r["latency_pixel3"] <= limit) == pytest.approx(best, abs=5e-4)


def test_local_search_at_100_queries_under_10_ms(space):
    """10 seeds: 0.096 below the optimum (the issue's target: 0.15; it measured 0.56 for the
    best strategy before screening); random search 0.578."""
    local, rand = gap(space, 10, "local", 100, range(10)), gap(space, 10, "random", 100, range(10))
    assert local <= 0.15 and rand - local >= 0.4


@pytest.mark.parametrize("limit, level", [(5, 0.0), (10, 0.026)])
def test_local_search_at_300_queries_under_5_and_10_ms(space, limit, level):
    """10 seeds: 0.000 / 0.026 below the optimum (random restarts in a random neighbour order:
    0.030 / 0.104 over 50 seeds)."""
    assert gap(space, limit, "local", 300, range(10)) == pytest.approx(level, abs=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("limit, at_100, at_300", [(5, 0.029, 0.0), (10, 0.079, 0.026), (15, 0.122, 0.0),
                                                   (20, 0.120, 0.0)])
def test_local_search_over_50_seeds(space, limit, at_100, at_300):
    """The figures of bench/results_multitrial.md, within the issue's targets (0.15 at 100
    queries, 0.03 at 300)."""
    seeds = range(50)
    local_100, rand_100 = gap(space, limit, "local", 100, seeds), gap(space, limit, "random", 100, seeds)
    assert local_100 == pytest.approx(at_100, abs=0.01) and local_100 <= 0.15 and local_100 < rand_100
    local_300 = gap(space, limit, "local", 300, seeds)
    assert local_300 == pytest.approx(at_300, abs=0.01) and local_300 <= 0.03
