"""Hardware-constrained search on the NAS-Bench-201 table: latency_pixel3 <= 5 / 10 / 15 / 20 ms.

    python bench/bench_constrained.py [--seeds 50] [--budgets 50,100,300] [--limits 5,10,15,20]
                                      [--strategies random,grid,evolution,local,tpe,rl]

For every limit and strategy at every budget: the mean best CIFAR-10 test accuracy found over
seeds, its gap to the constrained optimum (the best feasible architecture in the table: 91.080 /
93.625 / 94.063 / 94.307, HELP's figures), and the mean number of infeasible proposals (checked
before the query, `nasdsl.search.feasibility`: they cost no trial). Every run goes through
`search()` with the in-memory store, as `nasdsl search ... --constraint latency_pixel3<=L`
runs. Table queries are cheap: random/grid/evolution/local take ~0.1 s a 100-trial search,
rl ~0.5 s, tpe ~2.5 s (a 300-trial TPE search ~15 s), so 50 seeds of everything take long;
`--strategies` and `--seeds` cut it down.

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
from nasdsl.search.store import Store  # noqa: E402

TABLE = ROOT.parent / "shared" / "data" / "nb201_table.csv.gz"
COLUMN, METRIC = "latency_pixel3", "cifar10_test"


def constrained_optimum(evaluator, limit: float) -> float:
    return max(r[METRIC] for r in evaluator.rows.values() if r[COLUMN] <= limit)


def run(space, evaluator, strategy: str, budget: int, seed: int) -> tuple[float, int]:
    """The best value one search finds, and how many proposals the constraint rejected (the
    in-memory store's `infeasible` records, counted as they are written)."""
    rejected = []
    original = Store.infeasible

    def counting(self, *args):
        rejected.append(args[1])
        return original(self, *args)
    Store.infeasible = counting
    try:
        result = search(space, strategy, evaluator, budget, seed=seed, costs=False)
    finally:
        Store.infeasible = original
    return result.best.value, len(rejected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--budgets", default="50,100,300")
    parser.add_argument("--limits", default="5,10,15,20")
    parser.add_argument("--strategies", default="random,grid,evolution,local,tpe,rl")
    args = parser.parse_args()
    space = nasdsl.load("nasbench201")
    budgets = [int(b) for b in args.budgets.split(",")]
    for limit in (float(x) for x in args.limits.split(",")):
        evaluator = make_evaluator(f"table:{TABLE}", space, METRIC, [f"{COLUMN}<={limit:g}"])
        best = constrained_optimum(evaluator, limit)
        feasible = sum(r[COLUMN] <= limit for r in evaluator.rows.values())
        print(f"\n{COLUMN} <= {limit:g}: optimum {best:.3f}, {feasible:,} of {len(evaluator.rows):,} feasible; "
              f"mean best (gap to the optimum) [infeasible proposals], {args.seeds} seeds")
        print(f"{'strategy':<11}" + "".join(f"{b:>28}" for b in budgets) + "   seconds")
        for name in args.strategies.split(","):
            start, cells = time.perf_counter(), []
            for budget in budgets:
                runs = [run(space, evaluator, name, budget, seed) for seed in range(args.seeds)]
                mean = statistics.fmean(v for v, _ in runs)
                cells.append(f"{mean:.3f} ({best - mean:.3f}) [{statistics.fmean(n for _, n in runs):.0f}]")
            print(f"{name:<11}" + "".join(f"{c:>28}" for c in cells) + f"   {time.perf_counter() - start:.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
