"""Constraints checked before a trial is spent (`nasdsl.search.feasibility`).

On an NAS-Bench-201 table with `latency_pixel3<=10` (the synthetic table of tests/nb201.py,
where 10,167 of 15,625 architectures keep it; the real table, 7,202, for the quality test) every
trial of the budget is a feasible, evaluated architecture; the infeasible proposals are
recorded apart, never counted, told to the strategy, and `nasdsl trials` says how many each
constraint rejected. Each strategy learns from them its own way (TPE: Optuna constraints; RL:
a negative reward; evolution / local: never a parent or neighbour). A constraint known only
after evaluation counts as a trial and is told as infeasible too. A constraint that leaves
nothing ends the search with a message, not a loop.
"""
from __future__ import annotations

import json

import pytest
from nb201 import TABLE, nb201_string, needs_table, synthetic_rows
from nb201 import latency as synthetic_latency

import nasdsl
from nasdsl.arch import arch_key
from nasdsl.cli import main
from nasdsl.errors import NasError
from nasdsl.search.evaluators import make_evaluator
from nasdsl.search.feasibility import Screen, cost_bound
from nasdsl.search.feasibility import counts as feasibility_counts
from nasdsl.search.multitrial import search
from nasdsl.search.store import Store
from nasdsl.strategy import MULTI_TRIAL
from nasdsl.strategy.base import create

LIMIT = "latency_pixel3<=10"


@pytest.fixture(scope="module")
def nb201(nb201_table):
    space = nasdsl.load("nasbench201")
    return space, make_evaluator(f"table:{nb201_table}", space, "cifar10_test", [LIMIT])


@pytest.fixture(scope="module")
def real():
    space = nasdsl.load("nasbench201")
    return space, make_evaluator(f"table:{TABLE}", space, "cifar10_test", [LIMIT])


def test_the_table_evaluator_reads_every_row_of_the_synthetic_table(nb201):
    _, ev = nb201
    assert len(ev.rows) == 15_625
    assert all(ev.rows[nb201_string(ops)]["latency_pixel3"] == synthetic_latency(ops) for ops in synthetic_rows())
    assert sum(r["latency_pixel3"] <= 10 for r in ev.rows.values()) == 10_167


def latency(evaluator, arch) -> float:
    return evaluator.rows[evaluator._to_key(arch)]["latency_pixel3"]


@pytest.mark.parametrize("strategy", MULTI_TRIAL)
def test_every_trial_is_feasible_and_infeasible_proposals_cost_none(tmp_path, nb201, strategy):
    space, ev = nb201
    url = f"sqlite:///{tmp_path / 'exp.db'}"
    result = search(space, strategy, ev, 40, storage=url, seed=1, costs=False)
    assert len(result.trials) == 40
    assert all(t.state == "complete" and t.metrics["latency_pixel3"] <= 10 for t in result.trials)
    store = Store(url)
    store.open(None, {}, create=False)
    rejected = [t for t in store.trials() if t.state == "infeasible"]
    # local search reads the bound's usage and never proposes an architecture that breaks it;
    # rl proposes one only when 30 draws from its policy all break it (none here)
    assert bool(rejected) == (strategy not in ("local", "rl"))
    assert all(latency(ev, t.arch) > 10 and t.error == LIMIT for t in rejected)
    assert all(t.metrics == {"latency_pixel3": latency(ev, t.arch)} for t in rejected)
    assert len({t.key for t in rejected}) == len(rejected)            # each recorded once
    assert not {t.key for t in rejected} & {t.key for t in result.trials}


def test_trials_command_counts_the_rejections_of_each_constraint(tmp_path, nb201_table, capsys):
    out = tmp_path / "run"
    code = main(["search", "nasbench201", "--strategy", "random", "--evaluator", f"table:{nb201_table}",
                 "--metric", "cifar10_test", "--constraint", LIMIT, "--constraint", "params<=5e5",
                 "--trials", "30", "--out", str(out)])
    assert code == 0
    store = Store(f"sqlite:///{out / 'exp.db'}")
    store.open(None, {}, create=False)
    by = {}
    for t in store.trials():
        if t.state == "infeasible":
            by[t.error] = by.get(t.error, 0) + 1
    assert set(by) == {"params<=500000", LIMIT}
    capsys.readouterr()
    assert main(["trials", str(out), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["rejected"] == dict(sorted(by.items(), key=lambda kv: (-kv[1], kv[0])))
    assert shown["counts"]["complete"] == 30
    assert main(["trials", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"infeasible proposals (checked before evaluation, no trial): {sum(by.values())} (" in text
    assert f"{LIMIT} rejected {by[LIMIT]}" in text and "trials: 30 complete\n" in text


def test_a_resumed_search_replays_the_rejections(tmp_path, nb201):
    space, ev = nb201
    url = f"sqlite:///{tmp_path / 'exp.db'}"
    search(space, "evolution", ev, 20, storage=url, seed=0, costs=False)
    search(space, "evolution", ev, 40, storage=url, seed=0, costs=False)
    store = Store(url)
    store.open(None, {}, create=False)
    trials = store.trials()
    rejected = [t.key for t in trials if t.state == "infeasible"]
    assert len(rejected) == len(set(rejected))   # the resumed worker knew the first run's rejections
    assert sum(t.counts for t in trials) == 40


def test_tpe_records_an_infeasible_proposal_as_an_optuna_constraint():
    space = nasdsl.load("nasbench201")
    tpe = create("tpe", space, seed=0)
    arch = tpe.ask()
    tpe.infeasible(arch, 0.25)
    other = space.sample(5)
    tpe.infeasible(other, 0.5)   # one it did not propose (a resumed store's) is added
    trials = tpe.study.trials
    assert [t.constraints for t in trials] == [{"nasdsl": 0.25}, {"nasdsl": 0.5}]
    assert tpe.rejected == {arch_key(arch): 0.25, arch_key(other): 0.5}


def test_rl_penalises_an_infeasible_value():
    space = nasdsl.load("nasbench201")
    rl = create("rl", space, seed=0)
    arch = space.sample(choose=lambda d: "nor_conv_3x3")
    before = rl.probabilities()["Cell.e1_0"]["nor_conv_3x3"]
    for _ in range(5):
        rl.infeasible(arch, 1.0)
    assert rl.probabilities()["Cell.e1_0"]["nor_conv_3x3"] < before - 0.1
    with pytest.raises(NasError, match="`infeasible_penalty` must be at least 0"):
        create("rl", space, options={"infeasible_penalty": -1.0})


@pytest.mark.parametrize("strategy", ["local", "evolution"])
def test_no_parent_or_neighbour_is_infeasible(strategy):
    """NB201 at C=4, N=1 (4,822 .. 23,302 params) with params <= 12,000: the population (the
    walk's current architecture) only ever holds architectures told with a value, never one
    the screen rejected."""
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    screen = Screen([cost_bound(space, "params<=12000")])
    strat = create(strategy, space, seed=3, budget=60)
    for _ in range(60):
        arch = screen.ask(strat)
        strat.tell(arch, -float(len(set(arch.values()))))
    told = {arch_key(a) for a, _ in strat.history}
    assert screen.rejected["params<=12000"] == len(strat.rejected) > 0
    assert not told & strat.rejected.keys()
    members = [m for m, _ in strat.population] if strategy == "evolution" else [strat.current[0]]
    assert all(arch_key(m) in told for m in members)


def test_a_constraint_that_leaves_nothing_ends_the_search_with_a_message():
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    ev = make_evaluator("python:nasdsl.search.evaluators:count_decisions", space, constraints=["params<=10"])
    with pytest.raises(NasError, match=r"2000 proposals in a row broke the constraints \(params<=10 rejected 2000\)"):
        search(space, "random", ev, 10, costs=False)
    small = nasdsl.loads('network(x: [4]) = x -> Linear(4, choice[8, 16]) -> choice{a: ReLU(), b: Tanh()}')
    ev = make_evaluator("python:nasdsl.search.evaluators:count_decisions", small, constraints=["params<=10"])
    for strategy in MULTI_TRIAL:   # a small space: the strategy runs out of architectures instead
        assert search(small, strategy, ev, 10, costs=False).trials == [], strategy


def test_an_expensive_constraint_counts_as_a_trial_and_is_told_as_infeasible():
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    ev = make_evaluator("python:nasdsl.search.evaluators:count_decisions", space, constraints=["value<=5"])
    assert ev.checks == []
    result = search(space, "random", ev, 5, seed=0, costs=False)
    failed = [t for t in result.trials if t.state == "failed"]
    assert len(result.trials) == 5 and failed
    assert all(t.error == "infeasible: value = 6 violates value<=5" for t in failed)


def test_evolution_walks_past_children_that_are_infeasible_or_evaluated():
    """Every neighbour of the only parent is infeasible: the child is a longer mutation,
    never a known-infeasible architecture re-proposed."""
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    evo = create("evolution", space, seed=0, options={"population_size": 2, "sample_size": 1})
    parent = space.sample(choose=lambda d: "nor_conv_1x1")
    for n in evo.neighbours(parent):
        evo.infeasible(n, 1.0)
    evo.tell(parent, 1.0)
    evo.tell(parent, 1.0)
    for _ in range(20):
        child = evo._ask()   # its own proposal, before `ask` drops known-infeasible ones
        assert arch_key(child) not in evo.rejected
        assert sum(child[k] != parent[k] for k in parent) >= 2



def test_screen_usage_is_the_largest_share_of_an_upper_bound():
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    arch = space.sample(choose=lambda d: "nor_conv_3x3")   # 23,374 params
    assert Screen([cost_bound(space, "params<=46748")]).usage(arch) == 0.5
    assert Screen([cost_bound(space, "params<=46748"), cost_bound(space, "params<10000")]).usage(arch) == 2.3374
    assert Screen([cost_bound(space, "params>=100")]).usage(arch) == 0.0   # no upper bound


def _convs(arch) -> float:
    """A stand-in for latency: a quarter per 3x3 convolution (above 1: five or six of them)."""
    return sum(v == "nor_conv_3x3" for v in arch.values()) / 4


def _start():
    """Four 3x3 convolutions (usage 1.0: at the bound), the two other edges `none`."""
    return nasdsl.load("nasbench201").sample(
        choose=lambda d: "nor_conv_3x3" if d.label.endswith(("1_0", "2_0", "2_1", "3_2")) else "none")


def _changes(a, b) -> int:
    return sum(a[k] != b[k] for k in a)


def test_local_search_under_a_bound_tries_one_change_then_two_changes_that_trade_it():
    """With `usage` set (a cheap upper bound) the only centre, every neighbour worse: its 22
    one-change neighbours that keep the bound, closest to it first (6 at 1.0, 16 at 0.75);
    then the 30 two-change neighbours closest to it among those that trade it (one change
    up, one down: 41 of them at 1.0); the other two-change ones (both changes down, 0.5) lie
    below the band (0.7 of the most used); then the neighbours of the next best. No proposal
    breaks the bound."""
    space = nasdsl.load("nasbench201")
    start = _start()
    for band, others in ((0.7, 0), (0.0, 10)):
        local = create("local", space, seed=0, options={"num_init": 1, "band": band})
        local.usage = _convs
        local.tell(start, 1.0)
        asked = []
        for _ in range(52 + others):
            asked.append(local.ask())
            local.tell(asked[-1], 0.0)
        used = [_convs(a) for a in asked]
        assert used[:22] == [1.0] * 6 + [0.75] * 16 and {_changes(start, a) for a in asked[:22]} == {1}
        assert used[22:52] == [1.0] * 30 and {_changes(start, a) for a in asked[22:]} == {2}
        assert used[52:] == [0.5] * others and local.restarts == 0
        after = local.ask()   # no restart: the neighbours of the next best (a neighbour told 0.0)
        assert arch_key(after) not in local.seen and _changes(start, after) >= 2 and local.restarts == 0
    with pytest.raises(NasError, match="`band` must be between 0 and 1, got 1.5"):
        create("local", space, options={"band": 1.5})


def test_local_search_under_a_bound_moves_to_a_better_neighbour_and_back_to_the_best_centre():
    """Best-first: a better neighbour becomes the centre at once; when its neighbours are
    all tried, the walk goes on from the next best centre's untried ones, not a restart."""
    space = nasdsl.load("nasbench201")
    local = create("local", space, seed=0, options={"num_init": 1})
    local.usage = _convs
    start = _start()
    local.tell(start, 1.0)
    better = local.ask()
    local.tell(better, 2.0)
    assert _changes(start, better) == 1
    rings = sum(len(local._ring(arch_key(better), ring)[:cap]) for ring, cap in enumerate((None, 30, 10)))
    for _ in range(rings):
        arch = local.ask()
        assert _changes(better, arch) in (1, 2)
        local.tell(arch, 0.0)
    after = local.ask()
    assert _changes(start, after) in (1, 2) and local.restarts == 0


def test_local_search_restarts_next_to_the_best_with_perturb():
    """Without a bound, at a local optimum the walk restarts from a random architecture, or
    with `perturb` from the best found changed in that many decisions."""
    space = nasdsl.load("nasbench201")
    for perturb, near in ((2, True), (None, False)):
        distances = []
        for seed in range(5):
            local = create("local", space, seed=seed, options={"num_init": 1, "perturb": perturb})
            best = local.ask()
            local.tell(best, 1.0)
            for _ in range(24):
                local.tell(local.ask(), 0.0)
            distances.append(sum(best[k] != v for k, v in local.ask().items()))
        assert (max(distances) <= 2) == near and min(distances) >= 1, (perturb, distances)
    with pytest.raises(NasError, match="`perturb` must be at least 0, got -1"):
        create("local", space, options={"perturb": -1})


def test_evolution_under_a_bound_proposes_the_dearest_of_three_children():
    """With `usage` set, each proposal keeps the bound and is the child (of three) that uses
    most of it: the children use more of it than without the bound's usage, whose draws are
    unchanged."""
    space = nasdsl.load("nasbench201")
    means = {}
    for guided in (False, True):
        evo = create("evolution", space, seed=1, budget=100)
        evo.usage = _convs if guided else None
        for _ in range(evo.population_size):
            evo.tell(space.sample(evo.rng, choose=lambda d: "nor_conv_3x3" if d.label.endswith("_0") else "none"), 1.0)
        children = []
        for i in range(40):
            children.append(evo.ask())
            evo.tell(children[-1], float(i % 3))
        means[guided] = sum(map(_convs, children)) / len(children)
        if guided:
            assert max(map(_convs, children)) <= 1
    assert means[True] > means[False] + 0.15, means


@needs_table
@pytest.mark.slow
def test_no_strategy_is_worse_than_random_at_300_queries_under_10_ms(real):
    """20 seeds on the real table: random 0.313 below the constrained optimum; evolution 0.178
    (0.481 before its children walked past repeated and infeasible ones), local 0.104, both
    before they read the bound's usage (since: better still, bench/results_multitrial.md)."""
    space, ev = real
    seeds = range(20)

    def mean(strategy):
        return sum(search(space, strategy, ev, 300, seed=s, costs=False).best.value for s in seeds) / len(seeds)
    rand = mean("random")
    assert mean("evolution") > rand + 0.05 and mean("local") > rand + 0.1


def test_two_workers_screen_their_proposals(tmp_path, nb201):
    space, ev = nb201
    url = f"sqlite:///{tmp_path / 'exp.db'}"
    result = search(space, "tpe", ev, 30, storage=url, seed=0, costs=False, workers=2)
    assert len(result.trials) == 30 and len({t.key for t in result.trials}) == 30
    assert all(t.state == "complete" and t.metrics["latency_pixel3"] <= 10 for t in result.trials)
    store = Store(url)
    store.open(None, {}, create=False)
    trials = store.trials()
    assert {t.state for t in trials} <= {"complete", "infeasible", "yielded"}
    rejected = {t.key for t in trials if t.state == "infeasible"}
    assert rejected and feasibility_counts(trials) == {LIMIT: len(rejected)}
