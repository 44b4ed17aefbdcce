"""Any-subset input choices under darts, side by side: one training step (forward and backward,
batch 8) of the darts supernet of `examples/macro.nas` (skip connections `pick(outs[1:i + 1],
n="any", min=0)`) in this checkout against a baseline checkout, at several depths. Each round
runs a fresh process per tree, alternating, same Python, one thread; a process times `--steps`
steps after one warm-up step and reports their median. Prints the median and range (min-max)
over rounds of each tree, the ratio of medians (baseline / this: above 1 is faster), the
architecture parameters and the peak RSS. Asserts nothing. Each tree builds the supernet with
its own defaults (`build_supernet(space, "darts", seed=0)`), so the ratio is the whole difference
between the two checkouts on this workload; to isolate the gates, take a baseline that differs
from this checkout in them alone.

    git worktree add /tmp/nasdsl-base main              # the baseline, any checkout
    python bench/bench_gates.py --baseline /tmp/nasdsl-base [--rounds 5] [--layers 6 9 12]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, resource, statistics, sys, time
import torch
torch.set_num_threads(1)
import nasdsl
from nasdsl.strategy import build_supernet
layers, steps = int(sys.argv[1]), int(sys.argv[2])
space = nasdsl.load("examples/macro.nas", {"layers": layers})
net = build_supernet(space, "darts", seed=0)
x = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(0))
times = []
for i in range(steps + 1):
    start = time.perf_counter()
    net.zero_grad()
    net(x).sum().backward()
    times.append(time.perf_counter() - start)
print(json.dumps({"ms": 1000 * statistics.median(times[1:]), "alphas": sum(p.numel() for p in net.arch_parameters()),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_once(tree: Path, layers: int, steps: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", CHILD, str(layers), str(steps)], cwd=tree, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, type=Path, help="a checkout of nasdsl to compare with")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per tree and depth (default 5)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per process (default 5)")
    parser.add_argument("--layers", type=int, nargs="*", default=[6, 9, 12])
    args = parser.parse_args()
    trees = {"baseline": args.baseline.resolve(), "this": ROOT}
    print(f"examples/macro.nas, darts, one step (fwd+bwd, batch 8), {args.rounds} alternating rounds; "
          "ms, median [min-max]")
    print(f"{'layers':>6} {'baseline':>24} {'this':>22} {'ratio':>6} {'alphas':>13} {'peak RSS MB':>13}")
    for layers in args.layers:
        found: dict[str, list[dict]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                found[name].append(run_once(tree, layers, args.steps))
        ms = {name: [r["ms"] for r in rows] for name, rows in found.items()}
        shown = {name: f"{statistics.median(t):.1f} [{min(t):.1f}-{max(t):.1f}]" for name, t in ms.items()}
        ratio = statistics.median(ms["baseline"]) / statistics.median(ms["this"])
        alphas = f"{found['baseline'][0]['alphas']}/{found['this'][0]['alphas']}"
        rss = f"{max(r['rss_mb'] for r in found['baseline']):.0f}/{max(r['rss_mb'] for r in found['this']):.0f}"
        print(f"{layers:>6} {shown['baseline']:>24} {shown['this']:>22} {ratio:>6.1f} {alphas:>13} {rss:>13}")


if __name__ == "__main__":
    main()
