"""Load time of every built-in space, this tree against a baseline tree, side by side.

`nasdsl.load(name)` parses, elaborates, counts nothing yet and shape-checks the space (the
checks include each op argument's domain since issue 11). Each round loads every space in a
fresh process per tree, alternating which tree goes first, and reports per space the median
and range over the rounds and the ratio of medians (this tree / baseline).

Usage: `python bench/bench_load_library.py --baseline /path/to/other/checkout [--rounds 7]`.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import nasdsl
nasdsl.loads("network(x: [4]) = x -> ReLU()")  # the parser, outside the timing
out = {}
for name in nasdsl.builtin_spaces():
    start = time.perf_counter()
    nasdsl.load(name)
    out[name] = time.perf_counter() - start
print(json.dumps(out))
"""


def run(tree: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", CHILD], check=True, capture_output=True, text=True, env=env, cwd=tree)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", required=True, type=Path, help="another checkout of nasdsl (e.g. main)")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    trees = {"this": ROOT, "baseline": args.baseline.resolve()}
    times: dict[str, dict[str, list[float]]] = {k: {} for k in trees}
    for r in range(args.rounds):
        order = list(trees) if r % 2 == 0 else list(trees)[::-1]
        for key in order:
            for name, t in run(trees[key]).items():
                times[key].setdefault(name, []).append(t)
    print(f"{'space':14s} {'this (median, range) ms':>28s} {'baseline (median, range) ms':>30s}  ratio")
    totals = {k: 0.0 for k in trees}
    for name in sorted(times["this"]):
        cells = []
        for key in trees:
            t = times[key].get(name, [float("nan")])
            totals[key] += statistics.median(t)
            cells.append(f"{statistics.median(t) * 1000:8.1f} ({min(t) * 1000:6.1f}-{max(t) * 1000:6.1f})")
        ratio = statistics.median(times["this"][name]) / statistics.median(times["baseline"][name])
        print(f"{name:14s} {cells[0]:>28s} {cells[1]:>30s}  {ratio:.2f}")
    print(f"{'all':14s} {totals['this'] * 1000:8.1f} ms {'':17s}{totals['baseline'] * 1000:8.1f} ms {'':19s}"
          f"{totals['this'] / totals['baseline']:.2f}")


if __name__ == "__main__":
    main()
