"""Multi-objective search on the NAS-Bench-201 table: `cifar10_test` max vs `latency_pixel3` min.

    python bench/bench_multiobjective.py [--seeds 50] [--budgets 100,300]
                                         [--strategies nsga2,random,optuna_nsga2,tpe,direct_nsga2,direct_tpe]

The exact Pareto front is computed from the whole table (15,625 architectures, 44 on the
front). Each search's quality is the hypervolume of the front it found divided by the exact
front's, mean (and minimum) over seeds, at two reference points (objective space: accuracy up,
latency down):

* `tight` = (85.0 %, 25.0 ms): the region of useful models; below 85 % lie only degenerate
  cells, and the front's slowest member takes 23.58 ms. The targets are read here.
* `nadir` = (10.0 %, 36.7665 ms): the worst accuracy and the worst latency of the table, the
  textbook choice; nearly all of its area is easy to cover, so ratios near 1 say less.

nasdsl's strategies (`nsga2`, `random`, `optuna_nsga2`, `tpe` = MOTPE) run through
`nasdsl.search.multitrial.search` with the in-memory store, as `nasdsl search ... --objective
cifar10_test:max --objective latency_pixel3:min` runs them: N queries are N distinct
architectures. `direct_nsga2` / `direct_tpe` are Optuna's `NSGAIISampler` / `TPESampler`
(default options, seeded) on a plain Optuna study, one categorical parameter per cell edge and
the table looked up by NB201 string, no nasdsl: N queries are N Optuna trials, repeats
included, as a user running Optuna directly pays them.

Needs `../shared/data/nb201_table.csv.gz` (never shipped with the package).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nasdsl  # noqa: E402
from nasdsl.search.evaluators import make_evaluator  # noqa: E402
from nasdsl.search.multitrial import search  # noqa: E402
from nasdsl.search.pareto import front, hypervolume_2d  # noqa: E402

TABLE = ROOT.parent / "shared" / "data" / "nb201_table.csv.gz"
ACC, LAT = "cifar10_test", "latency_pixel3"
OBJECTIVES = [f"{ACC}:max", f"{LAT}:min"]
REFERENCES = {"tight": (85.0, -25.0), "nadir": None}   # nadir: from the table
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


def points(rows) -> list[tuple[float, float]]:
    """(accuracy, -latency): both maximised."""
    return [(r[ACC], -r[LAT]) for r in rows]


def ratio(found, exact_hv: float, reference) -> float:
    found = [found[i] for i in front(found)]
    return hypervolume_2d(found, reference) / exact_hv


def nasdsl_run(space, evaluator, strategy: str, budget: int, seed: int) -> list[tuple[float, float]]:
    result = search(space, strategy, evaluator, budget, seed=seed, costs=False, objectives=OBJECTIVES)
    return [(t.values[0], -t.values[1]) for t in result.trials if t.state == "complete"]


def direct_run(table, sampler_name: str, budget: int, seed: int) -> list[tuple[float, float]]:
    """Optuna alone: a categorical parameter per edge, the table looked up by NB201 string."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler_name == "direct_nsga2":
        sampler = optuna.samplers.NSGAIISampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)

    def objective(trial):
        ops = {e: trial.suggest_categorical(f"e{e[0]}_{e[1]}", OPS) for e in EDGES}
        key = "|" + "|+|".join("|".join(f"{ops[(i, j)]}~{j}" for j in range(i)) for i in (1, 2, 3)) + "|"
        row = table[key]
        return row[ACC], row[LAT]
    study.optimize(objective, n_trials=budget)
    return [(t.values[0], -t.values[1]) for t in study.trials]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--budgets", default="100,300")
    parser.add_argument("--strategies", default="nsga2,random,optuna_nsga2,tpe,direct_nsga2,direct_tpe")
    args = parser.parse_args()
    space = nasdsl.load("nasbench201")
    evaluator = make_evaluator(f"table:{TABLE}", space, ACC)
    everything = points(evaluator.rows.values())
    exact = [everything[i] for i in front(everything)]
    refs = dict(REFERENCES)
    refs["nadir"] = (min(p[0] for p in everything), min(p[1] for p in everything))
    exact_hv = {name: hypervolume_2d(exact, ref) for name, ref in refs.items()}
    budgets = [int(b) for b in args.budgets.split(",")]
    print(f"exact front: {len(exact)} of {len(everything):,} architectures; reference points (acc %, latency ms) "
          + "; ".join(f"{n} ({r[0]:g}, {-r[1]:g}): exact hypervolume {exact_hv[n]:.4f}" for n, r in refs.items()))
    print(f"hypervolume of the found front / exact, mean (min) over {args.seeds} seeds")
    print(f"{'strategy':<14}" + "".join(f"{f'{n} @{b}':>20}" for b in budgets for n in refs) + "   seconds")
    for name in args.strategies.split(","):
        start, cells = time.perf_counter(), []
        for budget in budgets:
            runs = []
            for seed in range(args.seeds):
                if name.startswith("direct_"):
                    runs.append(direct_run(evaluator.rows, name, budget, seed))
                else:
                    runs.append(nasdsl_run(space, evaluator, name, budget, seed))
            for ref_name, ref in refs.items():
                ratios = [ratio(r, exact_hv[ref_name], ref) for r in runs]
                cells.append(f"{statistics.fmean(ratios):.4f} ({min(ratios):.3f})")
        print(f"{name:<14}" + "".join(f"{c:>20}" for c in cells) + f"   {time.perf_counter() - start:.0f}",
              flush=True)


if __name__ == "__main__":
    main()
