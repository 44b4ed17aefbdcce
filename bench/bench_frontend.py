"""Front-end speed, side by side: `nasdsl info SPACE` (a fresh process each time: import,
parse, elaborate, shape check, exact size) of this checkout against a baseline checkout,
alternating runs on the same machine, same Python, one thread. Prints per space the median
and range (min-max) of each, and the ratio of medians (baseline / this: above 1 is faster).
Asserts nothing.

    git worktree add /tmp/nasdsl-base e019c62          # the baseline, any checkout
    python bench/bench_frontend.py --baseline /tmp/nasdsl-base [--runs 10] [SPACE ...]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPACES = ["nasbench201", "darts", "enas", "mobilenetv3", "pnas", "nasnet", "nasbench101"]


def run_once(tree: Path, space: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nasdsl", "info", space], cwd=tree, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, type=Path, help="a checkout of nasdsl to compare with")
    parser.add_argument("--runs", type=int, default=10, help="runs per tree and space (default 10)")
    parser.add_argument("spaces", nargs="*", default=SPACES)
    args = parser.parse_args()
    trees = {"baseline": args.baseline.resolve(), "this": ROOT}
    print(f"nasdsl info SPACE, {args.runs} alternating runs each; seconds, median [min-max]")
    print(f"{'space':<14} {'baseline':>22} {'this':>22} {'ratio':>6}")
    for space in args.spaces:
        for tree in trees.values():
            run_once(tree, space)  # warm the grammar cache and the file system
        times: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.runs):
            for name, tree in trees.items():
                times[name].append(run_once(tree, space))
        shown = {name: f"{statistics.median(t):.3f} [{min(t):.3f}-{max(t):.3f}]" for name, t in times.items()}
        ratio = statistics.median(times["baseline"]) / statistics.median(times["this"])
        print(f"{space:<14} {shown['baseline']:>22} {shown['this']:>22} {ratio:>6.2f}")


if __name__ == "__main__":
    main()
