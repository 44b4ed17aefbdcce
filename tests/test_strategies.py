"""Multi-trial strategies: valid proposals on conditional, constrained and budgeted spaces,
grid exactness, options, and state rebuilt by replaying the trial table."""
from __future__ import annotations

import hashlib
import math
import subprocess
import sys

import pytest

import nasdsl
from nasdsl.arch import arch_key
from nasdsl.errors import NasError
from nasdsl.strategy import MULTI_TRIAL
from nasdsl.strategy.base import create

COND = """
network(x: [4, 8]) {
  y = x -> choice { small: Linear(8, 8), big: Linear(8, choice[16, 32]) -> ReLU() -> AdaptiveAvgPool1d(8) }
  z = pick(x, y, n="any", reduce="sum")
  return z
}"""

BUDGET = """network(x: [8, 16, 16]) {
  w = choice[4, 8, 64, 128]
  a = choice { relu: ReLU(), tanh: Tanh() }
  y = x -> Conv2d(8, w, 3, padding=1) -> a -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(w, 10)
  return y
}
require params <= 2000
"""


def value_of(arch) -> float:
    """A deterministic pseudo-objective."""
    return int(hashlib.sha256(arch_key(arch).encode()).hexdigest()[:8], 16) / 2**32


@pytest.fixture(scope="module")
def spaces():
    return {"cond": nasdsl.loads(COND, "cond.nas"), "budget": nasdsl.loads(BUDGET, "budget.nas"),
            "nasbench101": nasdsl.load("nasbench101"), "darts": nasdsl.load("darts")}


def drive(strategy, n: int) -> list[dict]:
    proposed = []
    for _ in range(n):
        arch = strategy.ask()
        if arch is None:
            break
        proposed.append(arch)
        strategy.tell(arch, value_of(arch))
    return proposed


@pytest.mark.parametrize("name", MULTI_TRIAL)
@pytest.mark.parametrize("space_name", ["cond", "budget", "nasbench101", "darts"])
def test_every_proposal_is_a_valid_new_architecture(spaces, name, space_name):
    space = spaces[space_name]
    n = 12 if space_name in ("nasbench101", "darts") else 40
    proposed = drive(create(name, space, seed=3, budget=n), n)
    for arch in proposed:
        assert space.validate(arch) == arch
    assert len({arch_key(a) for a in proposed}) == len(proposed)
    if space_name == "budget":   # 4 of the 8 architectures fit 2000 parameters; each strategy finds them all
        assert sorted((a["w"], a["a"]) for a in proposed) == [(4, "relu"), (4, "tanh"), (8, "relu"), (8, "tanh")]
    elif space_name == "cond":   # 3 shapes of y x 3 subsets: every strategy ends when the space is exhausted
        assert len(proposed) == space.size() == 9
    else:
        assert len(proposed) == n


def test_grid_visits_every_architecture_once_in_either_order(spaces):
    space = spaces["cond"]
    ordered = drive(create("grid", space, options={"shuffle": False}), 100)
    assert ordered == list(space.enumerate())
    shuffled = drive(create("grid", space, seed=1), 100)
    assert sorted(map(arch_key, shuffled)) == sorted(map(arch_key, ordered)) and shuffled != ordered
    windowed = drive(create("grid", space, seed=1, options=["max_shuffle=4"]), 100)
    assert sorted(map(arch_key, windowed)) == sorted(map(arch_key, ordered))


def test_grid_covers_nasbench201_exactly():
    space = nasdsl.load("nasbench201")
    archs = drive(create("grid", space, seed=0), 20_000)
    assert len(archs) == len({arch_key(a) for a in archs}) == 15_625


def test_random_filter_and_uniform(spaces):
    space = spaces["cond"]
    only_small = drive(create("random", space, seed=0, options={"filter": lambda a: a["y"] == "small"}), 20)
    assert [a["y"] for a in only_small] == ["small"] * 3
    # uniform over architectures: "big" holds 6 of the 9, so it is drawn about 2/3 of the time
    s = create("random", space, seed=0, options={"uniform": True, "dedup": False})
    draws = [s.ask()["y"] for _ in range(3000)]
    assert 0.62 < draws.count("big") / 3000 < 0.71
    s = create("random", space, seed=0, options=["dedup=false"])
    draws = [s.ask()["y"] for _ in range(3000)]   # per decision: y is a coin flip
    assert 0.46 < draws.count("big") / 3000 < 0.54


def test_options_are_checked_with_their_names(spaces):
    space = spaces["cond"]
    with pytest.raises(NasError, match=r"`population_size` must be at least 2, got 1"):
        create("evolution", space, options=["population_size=1"])
    with pytest.raises(NasError, match=r"strategy 'evolution' has no option 'populaton_size' \(its options: "
                                       r"population_size, sample_size, mutation_prob, on_failure\)"):
        create("evolution", space, options=["populaton_size=10"])
    with pytest.raises(NasError, match=r"option 'population_size' of 'evolution' must be int, got 'ten'"):
        create("evolution", space, options=["population_size=ten"])
    with pytest.raises(NasError, match=r"`on_failure` must be 'ignore' or 'worst', got 'retry'"):
        create("evolution", space, options=["on_failure=retry"])
    with pytest.raises(NasError, match=r"'darts' is not a multi-trial strategy"):
        create("darts", space)
    s = create("evolution", space, budget=300, options={"mutation_prob": 0.2})
    assert (s.population_size, s.sample_size, s.mutation_prob) == (30, 7, 0.2)
    s = create("evolution", space, budget=5000)
    assert (s.population_size, s.sample_size) == (100, 25)  # NNI's values at large budgets
    assert create("tpe", space, options=["n_startup_trials=5"]).study.sampler._n_startup_trials == 5


def replay(name, space, history, seed=0, options=None):
    s = create(name, space, seed=seed, budget=100, options=options)
    for arch, value in history:
        s.tell(arch, value)
    return s


def test_evolution_population_is_rebuilt_from_the_trial_table():
    space = nasdsl.load("nasbench201")
    s = create("evolution", space, seed=0, budget=100)
    drive(s, 60)
    rebuilt = replay("evolution", space, s.history)
    assert list(rebuilt.population) == list(s.population) and len(s.population) == 10
    assert list(rebuilt.population) == [(a, v) for a, v in s.history[-10:]]


def test_evolution_on_failure():
    space = nasdsl.load("nasbench201")
    history = [(space.sample(i), None if i % 2 else float(i)) for i in range(20)]
    ignore = replay("evolution", space, history)
    worst = create("evolution", space, budget=100, options={"on_failure": "worst"})
    for arch, value in history:
        worst.tell(arch, value)
    assert [v for _, v in ignore.population] == [float(i) for i in range(0, 20, 2)]
    assert [v for _, v in worst.population] == [float(i) if i % 2 == 0 else float("-inf") for i in range(10, 20)]


def test_rl_policy_is_rebuilt_from_the_trial_table_and_learns():
    space = nasdsl.load("nasbench201")
    s = create("rl", space, seed=0)
    for _ in range(80):
        arch = s.ask()
        s.tell(arch, float(sum(v == "nor_conv_3x3" for v in arch.values())))
    rebuilt = replay("rl", space, s.history, seed=99)
    assert rebuilt.logits == s.logits
    assert all(p["nor_conv_3x3"] > 0.5 for p in s.probabilities().values())


def test_rl_ppo_learns_and_its_clip_bounds_how_far_one_collect_moves_the_policy():
    space = nasdsl.load("nasbench201")
    ppo = {"algorithm": "ppo", "trial_per_collect": 5, "learning_rate": 0.1}
    s = create("rl", space, seed=0, options=ppo)
    for _ in range(100):
        arch = s.ask()
        s.tell(arch, float(sum(v == "nor_conv_3x3" for v in arch.values())))
    assert all(p["nor_conv_3x3"] > 0.5 for p in s.probabilities().values())
    assert replay("rl", space, s.history, seed=99, options=ppo).logits == s.logits

    collect = [(space.sample(i), float(i == 4)) for i in range(5)]   # the last of five is the good one
    good = collect[4][0]
    ratios = {}
    for clip in (0.2, 0.9):
        policy = create("rl", space, options={"algorithm": "ppo", "trial_per_collect": 5, "update_epochs": 40,
                                              "learning_rate": 0.02, "clip": clip})
        before = policy.log_prob(good)
        for arch, value in collect:   # the first sets the baseline (0): only the good one has an advantage
            policy.tell(arch, value)
        ratios[clip] = math.exp(policy.log_prob(good) - before)
    assert 1.0 < ratios[0.2] < ratios[0.9]


def test_local_search_walks_neighbours_and_restarts():
    space = nasdsl.load("nasbench201")
    s = create("local", space, seed=0, options={"num_init": 1})
    first = s.ask()
    s.tell(first, 1.0)
    # every neighbour is worse: after all 24 the search restarts from a random architecture
    for _ in range(24):
        arch = s.ask()
        assert sum(arch[k] != first[k] for k in first) == 1
        s.tell(arch, 0.0)
    assert s.ask() is not None and s.restarts == 1


def test_tpe_encodes_input_subsets_and_learns_from_foreign_trials(spaces):
    space = spaces["cond"]
    s = create("tpe", space, seed=0)
    archs = list(space.enumerate())
    assert len(archs) == 9 and archs[2]["z"] == [0, 1]   # an input subset of two
    for arch in archs[:2] + archs[3:]:      # results from elsewhere (a resumed store, another worker)
        s.tell(arch, value_of(arch))
    assert len(s.study.trials) == 8
    assert s.ask() == archs[2]              # the one architecture not evaluated yet
    s.tell(archs[2], value_of(archs[2]))
    assert s.ask() is None                  # every architecture evaluated: the search is done


def test_strategies_and_search_import_no_torch(tmp_path):
    code = ("import sys, nasdsl\n"
            "from nasdsl.search.multitrial import search\n"
            "space = nasdsl.load('nasbench201')\n"
            "for name in ('random', 'grid', 'evolution', 'tpe', 'rl', 'local'):\n"
            "    search(space, name, lambda a: float(len(set(a.values()))), 15, storage={!r} + name)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n".format(f"sqlite:///{tmp_path}/"))
    subprocess.run([sys.executable, "-c", code], check=True)
