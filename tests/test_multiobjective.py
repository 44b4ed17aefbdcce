"""Multi-objective search (`--objective NAME:max --objective NAME:min`): Pareto dominance, the
front, NSGA-II's sorting and crowding and the 2-D hypervolume on hand-computed cases and as
properties; every multi-objective strategy end to end through the CLI on a synthetic
NAS-Bench-201 table (every architecture, a made-up accuracy and latency); `trials --pareto`;
resume; bad input. No test here needs ../shared.
"""
from __future__ import annotations

import gzip
import itertools
import json
import math

import pytest

import nasdsl
from nasdsl.cli import main
from nasdsl.errors import NasError
from nasdsl.search.evaluators import make_evaluator
from nasdsl.search.multitrial import search
from nasdsl.search.objectives import parse_objectives
from nasdsl.search.pareto import crowding_distance, dominates, front, hypervolume_2d, nondominated_sort, oriented
from nasdsl.search.store import Store
from nasdsl.strategy import MULTI_OBJECTIVE

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
ACC = {"none": 0.0, "skip_connect": 1.0, "nor_conv_1x1": 3.0, "nor_conv_3x3": 4.0, "avg_pool_3x3": 0.5}
LAT = {"none": 0.0, "skip_connect": 0.1, "nor_conv_1x1": 1.0, "nor_conv_3x3": 3.0, "avg_pool_3x3": 0.5}
TWO = ["--objective", "acc:max", "--objective", "lat:min"]


# --- dominance, front, sorting, crowding, hypervolume: hand-computed ----------------------------

def test_dominance_and_front_by_hand():
    assert dominates((2, 2), (1, 2)) and not dominates((1, 2), (1, 2)) and not dominates((2, 1), (1, 2))
    pts = [(3, 1), (1, 3), (2, 2), (1, 1), (2, 2), (0, 3)]
    assert front(pts) == [0, 1, 2, 4]                          # equal points both stay; (0, 3) loses to (1, 3)
    assert front([(1, 1, 1), (1, 1, 0), (0, 2, 0)]) == [0, 2]  # three objectives: the pairwise rule
    assert oriented([93.5, 4.0, 7], ["maximize", "minimize", "minimize"]) == (93.5, -4.0, -7.0)


def test_sorting_crowding_and_hypervolume_by_hand():
    assert nondominated_sort([(3, 1), (1, 3), (2, 2), (1, 1), (0, 0), (0, 1)]) == [[0, 1, 2], [3], [5], [4]]
    assert crowding_distance([(0, 4), (1, 3), (3, 1), (4, 0)]) == [math.inf, 1.5, 1.5, math.inf]
    # staircase (3,1) (2,2) (1,3) over (0,0): 3*1 + 2*1 + 1*1 = 6; a dominated point adds nothing
    assert hypervolume_2d([(3, 1), (1, 3), (2, 2), (1, 1)], (0, 0)) == 6.0
    assert hypervolume_2d([(93.0, -5.0), (94.0, -9.0)], (90.0, -10.0)) == pytest.approx(3 * 5 + 1 * 1)
    assert hypervolume_2d([(3, 1), (-1, 5)], (0, 0)) == 3.0   # a point outside the reference adds nothing
    assert hypervolume_2d([], (0, 0)) == 0.0


points2 = st.lists(st.tuples(st.integers(-5, 5), st.integers(-5, 5)), min_size=1, max_size=25)


@settings(max_examples=150, deadline=None)
@given(points2)
def test_front_is_mutually_nondominated_and_covers_every_point(pts):
    kept = front(pts)
    assert kept == [i for i, p in enumerate(pts) if not any(dominates(q, p) for q in pts)]   # sweep == definition
    assert not any(dominates(pts[a], pts[b]) for a in kept for b in kept)
    assert all(any(pts[k] == p or dominates(pts[k], p) for k in kept) for p in pts)
    assert nondominated_sort(pts)[0] == kept
    assert sorted(itertools.chain.from_iterable(nondominated_sort(pts))) == list(range(len(pts)))


@settings(max_examples=150, deadline=None)
@given(points2)
def test_hypervolume_counts_the_dominated_unit_cells(pts):
    ref = (-6, -6)   # integer points: the area is the number of unit cells some point dominates
    cells = sum(1 for x in range(-6, 5) for y in range(-6, 5)
                if any(px >= x + 1 and py >= y + 1 for px, py in pts))
    assert hypervolume_2d(pts, ref) == cells
    assert hypervolume_2d([pts[i] for i in front(pts)], ref) == cells


# --- end to end on a synthetic table --------------------------------------------------------------

@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """Every NAS-Bench-201 architecture with a made-up `acc` (+ a small edge-position term, so
    no two cells tie) and `lat`."""
    path = tmp_path_factory.mktemp("table") / "synthetic.csv.gz"
    lines = ["arch,acc,lat,other"]
    for ops in itertools.product(OPS, repeat=6):
        key = f"|{ops[0]}~0|+|{ops[1]}~0|{ops[2]}~1|+|{ops[3]}~0|{ops[4]}~1|{ops[5]}~2|"
        acc = 60 + sum(ACC[o] for o in ops) + sum(0.01 * i * OPS.index(o) for i, o in enumerate(ops))
        lat = sum(LAT[o] for o in ops) + 0.3 * (ops[5] == "nor_conv_3x3")
        lines.append(f"{key},{acc:.4f},{lat:.4f},1")
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def _search(tmp_path, table, strategy, trials, *extra):
    out = tmp_path / strategy
    rc = main(["search", "nasbench201", "--strategy", strategy, "--evaluator", f"table:{table}", *TWO,
               "--trials", str(trials), "--out", str(out), "--seed", "3", *extra])
    return rc, out


def _check_front(rows, trials):
    """`rows` (result.json / trials --pareto) is exactly the Pareto front of the complete `trials`."""
    pts = {t["number"]: (t["metrics"]["acc"], -t["metrics"]["lat"]) for t in trials if t["state"] == "complete"}
    want = sorted(n for n in pts if not any(dominates(q, pts[n]) for q in pts.values()))
    assert sorted(r["number"] for r in rows) == want
    assert [r["objectives"]["acc"] for r in rows] == sorted((r["objectives"]["acc"] for r in rows), reverse=True)
    for r in rows:
        assert r["values"] == [r["metrics"]["acc"], r["metrics"]["lat"]]
        assert r["objectives"] == {"acc": r["values"][0], "lat": r["values"][1]} and r["value"] is None
        assert r["text"].startswith("|") and r["state"] == "complete"


@pytest.mark.parametrize("strategy", MULTI_OBJECTIVE)
def test_every_multi_objective_strategy_finds_a_front_from_the_cli(tmp_path, table, strategy, capsys):
    rc, out = _search(tmp_path, table, strategy, 30)
    assert rc == 0
    result = json.loads((out / "result.json").read_text())
    assert result["objectives"] == ["acc:max", "lat:min"] and result["trials"] == 30 and result["complete"] == 30
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not (out / "arch.json").exists()
    capsys.readouterr()
    assert main(["trials", str(out), "--top", "0", "--pareto", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["objectives"] == ["acc:max", "lat:min"] and shown["counts"] == {"complete": 30}
    assert shown["front"] == result["front"] and result["front"]
    store = Store(f"sqlite:///{out / 'exp.db'}")
    store.open(None, {}, create=False)
    trials = [t.to_json() for t in store.trials()]
    assert len({json.dumps(t["arch"], sort_keys=True) for t in trials}) == 30   # 30 distinct architectures
    assert store.directions == ("maximize", "minimize")
    _check_front(result["front"], trials)


def test_trials_prints_the_front_as_a_table(tmp_path, table, capsys):
    rc, out = _search(tmp_path, table, "nsga2", 20)
    assert rc == 0
    capsys.readouterr()
    assert main(["trials", str(out), "--pareto"]) == 0
    text = capsys.readouterr().out.splitlines()
    front_rows = json.loads((out / "result.json").read_text())["front"]
    at = text.index(f"Pareto front: {len(front_rows)} trials (acc:max, lat:min)")
    assert text[at + 1].split() == ["trial", "acc", "lat", "architecture"]
    assert [int(line.split()[0]) for line in text[at + 2:]] == [r["number"] for r in front_rows]


def test_resume_continues_to_the_budget_without_evaluating_again(tmp_path, monkeypatch):
    """A python evaluator's own metric and the space's params, resumed from 12 to 25 trials:
    the second run evaluates exactly 13 new architectures."""
    module = tmp_path / "mo_eval.py"
    log = tmp_path / "calls.log"
    module.write_text(
        "import json\n"
        f"LOG = {str(log)!r}\n"
        "def evaluate(arch):\n"
        "    with open(LOG, 'a') as f:\n"
        "        f.write(json.dumps(arch, sort_keys=True) + '\\n')\n"
        "    return {'score': float(sum(len(str(v)) for v in arch.values()))}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "run"
    args = ["search", "nasbench201", "--set", "C=4", "--set", "N=1", "--strategy", "nsga2", "--evaluator",
            "python:mo_eval:evaluate", "--objective", "score:max", "--objective", "params:min", "--out", str(out)]
    assert main([*args, "--trials", "12"]) == 0
    first = json.loads((out / "result.json").read_text())
    assert main([*args, "--trials", "25"]) == 0
    calls = log.read_text().splitlines()
    assert len(calls) == 25 and len(set(calls)) == 25
    store = Store(f"sqlite:///{out / 'exp.db'}")
    store.open(None, {}, create=False)
    trials = store.trials()
    assert [t.number for t in trials] == list(range(25)) and all(t.state == "complete" for t in trials)
    assert [json.dumps(t.arch, sort_keys=True) for t in trials] == calls
    assert all(t.values == [t.metrics["score"], t.metrics["params"]] for t in trials)
    assert first["trials"] == 12 and json.loads((out / "result.json").read_text())["trials"] == 25


def test_python_api_front_and_single_objective_strategies(table):
    space = nasdsl.load("nasbench201")
    ev = make_evaluator(f"table:{table}", space, "acc")
    result = search(space, "tpe", ev, 15, seed=0, costs=False, objectives=["acc:max", "lat:min"])
    pts = [(t.values[0], -t.values[1]) for t in result.trials]
    assert [t.number for t in result.front()] == [result.trials[i].number for i in front(pts)]
    assert result.best is None and result.objective == "acc:max lat:min"
    with pytest.raises(NasError, match="strategy 'evolution' searches for one objective"):
        search(space, "evolution", ev, 5, objectives=["acc:max", "lat:min"])
    single = search(space, "nsga2", ev, 15, seed=0, costs=False)   # one objective: a genetic algorithm
    assert single.best.value == max(t.value for t in single.trials) and single.best.values is None


@pytest.mark.parametrize("args, message", [
    (["--objective", "acc:up", "--objective", "lat:min"], "--objective 'acc:up': the direction must be max or min"),
    (["--objective", "acc"], "--objective expects NAME:max or NAME:min, got 'acc'"),
    (["--objective", "acc:max"], "--objective 'acc:max' alone: a multi-objective search needs two or more"),
    (["--objective", "acc:max", "--objective", "acc:min"], "--objective 'acc' is given twice"),
    (["--metric", "acc", *TWO], "--metric and --objective together"),
    (["--objective", "acc:max", "--objective", "latency:min"], "--objective 'latency:min': table "),
    (["--strategy", "local", *TWO], "strategy 'local' searches for one objective; with several --objective use one "
                                    "of random, grid, tpe, nsga2, optuna_nsga2"),
])
def test_bad_objectives_are_one_line_errors(tmp_path, table, capsys, args, message):
    strategy = [] if "--strategy" in args else ["--strategy", "nsga2"]
    rc = main(["search", "nasbench201", *strategy, "--evaluator", f"table:{table}", *args, "--trials", "3",
               "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and message in err
    if "latency" in message:
        assert "has no column 'latency' (its columns: acc, lat, other, params, flops)" in err


def test_a_store_keeps_its_objectives(tmp_path, table, capsys):
    rc, out = _search(tmp_path, table, "random", 5)
    assert rc == 0
    rc = main(["search", "nasbench201", "--strategy", "random", "--evaluator", f"table:{table}", "--metric", "acc",
               "--trials", "8", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and "holds an experiment with objectives acc:max, lat:min, but this search has acc (maximize)" in err
    single = tmp_path / "single"
    assert main(["search", "nasbench201", "--strategy", "random", "--evaluator", f"table:{table}", "--metric", "acc",
                 "--trials", "4", "--out", str(single)]) == 0
    capsys.readouterr()
    assert main(["trials", str(single), "--pareto"]) == 1
    err = capsys.readouterr().err
    assert "is a single-objective search (acc); it has no Pareto front" in err and len(err.strip().splitlines()) == 1


def test_parse_objectives_returns_directions():
    objs = parse_objectives(["a:max", " b : min "])
    assert [(o.name, o.direction, o.text) for o in objs] == [("a", "maximize", "a:max"), ("b", "minimize", "b:min")]


def test_nsga2_keeps_the_best_ranked_and_least_crowded():
    """population_size 3: a dominated member leaves first; within the last front, the member
    with the smallest crowding distance (not an extreme)."""
    from nasdsl.strategy.nsga2 import NSGA2
    space = nasdsl.load("nasbench201")
    s = NSGA2(space, seed=0, population_size=3, directions=("maximize", "minimize"))
    told = [(1, -1), (3, -1), (1, -3), (2, -2), (0, 0), (2.5, -2.5), (3, -3)]   # (max, min) values
    archs = [space.sample(i) for i in range(len(told))]
    seen = []
    for arch, value in zip(archs, told):
        s.tell(arch, value)
        seen.append(sorted(p for _, p in s.population))
    assert seen[3] == [(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)]          # (1, 1) is dominated by (2, 2)
    assert seen[4] == seen[3]                                        # (0, 0) comes and goes
    assert seen[5] == [(1.0, 3.0), (2.5, 2.5), (3.0, 1.0)]          # (2.5, 2.5) dominates (2, 2)
    assert seen[6] == [(1.0, 3.0), (3.0, 1.0), (3.0, 3.0)]          # the second front's middle, least crowded
    s.tell(archs[6], (3, -3))                                        # a repeat adds no copy
    assert len(s.population) == 3
    assert s.ask() not in archs


@pytest.mark.parametrize("strategy", ["nsga2", "tpe"])
def test_a_cheap_constraint_holds_every_trial_of_a_front_search(tmp_path, table, strategy):
    rc, out = _search(tmp_path, table, strategy, 25, "--constraint", "lat<=6")
    assert rc == 0
    store = Store(f"sqlite:///{out / 'exp.db'}")
    store.open(None, {}, create=False)
    trials = store.trials()
    done = [t for t in trials if t.state == "complete"]
    assert len(done) == 25 and all(t.values[1] <= 6 for t in done)
    rejected = [t for t in trials if t.state == "infeasible"]
    assert rejected and all(t.metrics["lat"] > 6 and t.error == "lat<=6" for t in rejected)


def test_one_shot_search_refuses_objectives(capsys):
    assert main(["search", "nasbench201", "--strategy", "darts", *TWO]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--objective (a Pareto front) is for multi-trial search" in err


def test_python_api_objectives(tmp_path):
    """`nasdsl.search(..., objectives=[...])`: a function returning a number is its first
    objective, params come from the space; `front` is the Pareto front, `plot()` draws it."""
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    result = nasdsl.search(space, "nsga2", trials=12, seed=0, out=tmp_path / "api", progress=False,
                           evaluator=lambda arch: float(sum(v == "nor_conv_3x3" for v in arch.values())),
                           objectives=["value:max", "params:min"])
    assert result.arch is None and len(result.trial_list) == 12
    pts = {t["number"]: (t["values"][0], -t["values"][1]) for t in result.trial_list}
    assert all(t["values"] == [t["value"], t["params"]] for t in result.trial_list)   # the metric, then the cost
    want = sorted(n for n in pts if not any(dominates(q, pts[n]) for q in pts.values()))
    assert sorted(r["number"] for r in result.front) == want
    assert all(r["objectives"]["value"] == r["metrics"]["value"] for r in result.front)
    assert result.plot().path == tmp_path / "api" / "pareto.png"
    assert json.loads((tmp_path / "api" / "result.json").read_text())["front"] == result.front
