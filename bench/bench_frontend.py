"""Front-end speed, side by side: `nasdsl info SPACE` (a fresh process each time: import,
parse, elaborate, shape check, exact size, fingerprint, cost bounds) of this checkout against a
baseline checkout, alternating runs on the same machine, same Python, one thread. Each tree runs
twice per round: *cold* (an empty cache directory: compile, then store the entry) and *warm*
(the entry stored by an earlier run: `nasdsl.cache`). Both trees are byte-compiled first (as
an installed package is). The figure is the process's CPU time (user + system, from
`getrusage(RUSAGE_CHILDREN)`: steadier than wall time on a shared machine), with wall time
beside it. Prints per space the median and range (min-max) of each and the ratios of medians
(baseline / this: above 1 is faster). Asserts nothing.

    git worktree add /tmp/nasdsl-base e2c3ccf          # the baseline, any checkout
    python bench/bench_frontend.py --baseline /tmp/nasdsl-base [--runs 10] [SPACE ...]

Without SPACE arguments every space of the library (`spaces/*.nas` declaring a network) runs.
Issue 22's targets for this checkout, cold, CPU: nasbench201 <= 0.1 s, darts and nasnet
<= 0.3 s, nasbench101 <= 0.5 s.

Results (2026-12-07 17:10 UTC, 2-core machine shared with other jobs, load average 12-14;
`--runs 3`, baseline e2c3ccf; CPU seconds, median [min-max]; the two trees' front ends are the
same code, so the ratios show the noise, about 5%):

    space           base cold            this cold            base warm            this warm
    nasbench201  0.226 [0.224-0.241]  0.218 [0.215-0.230]  0.076 [0.069-0.078]  0.074 [0.073-0.078]
    darts        0.613 [0.611-0.657]  0.646 [0.592-0.646]  0.091 [0.089-0.094]  0.087 [0.085-0.094]
    nasnet       1.367 [1.322-1.391]  1.386 [1.283-1.401]  0.110 [0.109-0.114]  0.111 [0.102-0.116]
    nasbench101  1.287 [1.281-1.313]  1.302 [1.275-1.303]  0.093 [0.090-0.098]  0.092 [0.091-0.098]

So the cold targets are not met. Where a cold run goes (CPU seconds, one run each, same load):
nasbench201 import 0.05, compile 0.13, cost bounds 0.03; darts compile 0.25, `to_json` 0.06,
cost bounds 0.22; nasnet compile 0.44, `to_json` 0.17, cost bounds 0.59; nasbench101 compile
0.28, exact size under its constraints 0.47, `to_json` 0.20, cost bounds 0.23. Warm runs (the
cache) are 0.07-0.11 s.
"""
from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def library() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from nasdsl import builtin_spaces
    return builtin_spaces()


def run_once(tree: Path, space: str, cache: Path | None) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one `nasdsl info SPACE` process of `tree`."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "NASDSL_NO_CACHE")}
    env.update(PYTHONPATH=str(tree), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if cache is None:
        env["NASDSL_NO_CACHE"] = "1"
    else:
        env["NASDSL_CACHE_DIR"] = str(cache)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nasdsl", "info", space], cwd=tree, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def shown(times: list[float]) -> str:
    return f"{statistics.median(times):.3f} [{min(times):.3f}-{max(times):.3f}]"


def median(times: list[float]) -> float:
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, type=Path, help="a checkout of nasdsl to compare with")
    parser.add_argument("--runs", type=int, default=10, help="runs per tree and space (default 10)")
    parser.add_argument("spaces", nargs="*")
    args = parser.parse_args()
    baseline = args.baseline.resolve()
    for tree in (baseline, ROOT):
        compileall.compile_dir(str(tree / "nasdsl"), quiet=1)
    spaces = args.spaces or library()
    scratch = Path(tempfile.mkdtemp(prefix="nasdsl-bench-"))
    trees = {"base": baseline, "this": ROOT}
    print(f"nasdsl info SPACE, {args.runs} alternating rounds (base cold, this cold, base warm, this warm); "
          "CPU seconds, median [min-max]; wall medians after")
    print(f"{'space':<13} {'base cold':>20} {'this cold':>20} {'base warm':>20} {'this warm':>20} "
          f"{'base/this cold':>14} {'base/this warm':>14}   wall cold base/this, warm base/this")
    for space in spaces:
        for name, tree in trees.items():   # warm the file system and store each warm entry
            run_once(tree, space, scratch / f"{space}-{name}-warm")
        cpu: dict[str, list[float]] = {}
        wall: dict[str, list[float]] = {}
        for i in range(args.runs):
            for state in ("cold", "warm"):
                for name, tree in trees.items() if i % 2 == 0 else reversed(trees.items()):
                    cache = scratch / (f"{space}-{name}-cold-{i}" if state == "cold" else f"{space}-{name}-warm")
                    c, w = run_once(tree, space, cache)
                    cpu.setdefault(f"{name} {state}", []).append(c)
                    wall.setdefault(f"{name} {state}", []).append(w)
        row = " ".join(f"{shown(cpu[k]):>20}" for k in ("base cold", "this cold", "base warm", "this warm"))
        ratios = " ".join(f"{median(cpu[f'base {s}']) / median(cpu[f'this {s}']):>14.2f}" for s in ("cold", "warm"))
        walls = ", ".join(f"{median(wall[f'base {s}']):.3f}/{median(wall[f'this {s}']):.3f}" for s in ("cold", "warm"))
        print(f"{space:<13} {row} {ratios}   {walls}", flush=True)


if __name__ == "__main__":
    main()
