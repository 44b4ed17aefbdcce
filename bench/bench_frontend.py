"""Front-end speed, side by side: `nasdsl info SPACE` (a fresh process each time: import,
parse, elaborate, shape check, exact size, fingerprint) of this checkout against a baseline
checkout, alternating runs on the same machine, same Python, one thread. This checkout runs
twice per round: *cold* (an empty cache directory: compile, then store the entry) and *warm*
(the entry stored by an earlier run: `nasdsl.cache`). Both trees are byte-compiled first (as
an installed package is). Prints per space the median and range (min-max) of each and the
ratios of medians (baseline / this: above 1 is faster). Asserts nothing.

    git worktree add /tmp/nasdsl-base 030de55          # the baseline, any checkout
    python bench/bench_frontend.py --baseline /tmp/nasdsl-base [--runs 10] [SPACE ...]

Without SPACE arguments every space of the library (`spaces/*.nas` declaring a network) runs.
"""
from __future__ import annotations

import argparse
import compileall
import os
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


def run_once(tree: Path, space: str, cache: Path | None) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "NASDSL_NO_CACHE")}
    env.update(PYTHONPATH=str(tree), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if cache is None:
        env["NASDSL_NO_CACHE"] = "1"
    else:
        env["NASDSL_CACHE_DIR"] = str(cache)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nasdsl", "info", space], cwd=tree, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def shown(times: list[float]) -> str:
    return f"{statistics.median(times):.3f} [{min(times):.3f}-{max(times):.3f}]"


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
    print(f"nasdsl info SPACE, {args.runs} alternating runs each; seconds, median [min-max]")
    print(f"{'space':<13} {'baseline':>20} {'this, cold cache':>20} {'this, warm cache':>20} {'ratio cold':>10} "
          f"{'ratio warm':>10}")
    for space in spaces:
        warm = scratch / f"{space}-warm"
        run_once(baseline, space, None)      # warm the file system
        run_once(ROOT, space, warm)          # ... and store the warm runs' entry
        times: dict[str, list[float]] = {"baseline": [], "cold": [], "warm": []}
        for i in range(args.runs):
            times["baseline"].append(run_once(baseline, space, None))
            times["cold"].append(run_once(ROOT, space, scratch / f"{space}-cold-{i}"))
            times["warm"].append(run_once(ROOT, space, warm))
        base = statistics.median(times["baseline"])
        print(f"{space:<13} {shown(times['baseline']):>20} {shown(times['cold']):>20} {shown(times['warm']):>20} "
              f"{base / statistics.median(times['cold']):>10.2f} {base / statistics.median(times['warm']):>10.2f}")


if __name__ == "__main__":
    main()
