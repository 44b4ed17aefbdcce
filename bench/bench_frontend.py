"""Front-end speed, side by side: `nasdsl info SPACE` (a fresh process each time: import,
parse, elaborate, shape check, exact size, fingerprint, and in trees before issue 22's
`--bounds` the cost bounds) of this checkout against a
baseline checkout, alternating runs on the same machine, same Python, one thread. Each tree runs
twice per round: *cold* (an empty cache directory: compile, then store the entry) and *warm*
(the entry stored by an earlier run: `nasdsl.cache`). Both trees are byte-compiled first (as
an installed package is). The figure is the process's CPU time (user + system, from
`getrusage(RUSAGE_CHILDREN)`: steadier than wall time on a shared machine), with wall time
beside it. Prints per space the median and range (min-max) of each and the ratios of medians
(baseline / this: above 1 is faster). Asserts nothing.

    git worktree add /tmp/nasdsl-base 0d7fab4          # the baseline, any checkout
    python bench/bench_frontend.py --baseline /tmp/nasdsl-base [--runs 10] [SPACE ...]
    python bench/bench_frontend.py --phases [--runs 3] [SPACE ...]   # where a cold one goes

Without SPACE arguments every space of the library (`spaces/*.nas` declaring a network) runs.
`--phases` runs this tree alone: one cold `info` cut into its phases in a fresh process
(interpreter start, imports, parser tables, parse, elaborate, shape check, exact size, cache
entry, and the cost bounds that `--bounds` adds), the median of each over `--runs`.
Issue 22's targets for this checkout, cold, CPU: nasbench201 <= 0.1 s, darts and nasnet
<= 0.3 s, nasbench101 <= 0.5 s.

Results (2026-12-07 20:22 UTC, 2-core machine shared with other jobs, load average 3-4;
`--runs 7`, baseline 0d7fab4, which computed the cost bounds in every `info`; CPU seconds,
median [min-max]):

    space           base cold            this cold            base warm            this warm   base/this cold
    nasbench201  0.211 [0.198-0.229]  0.177 [0.164-0.193]  0.078 [0.072-0.083]  0.075 [0.070-0.081]   1.19
    darts        0.554 [0.531-0.563]  0.327 [0.316-0.399]  0.084 [0.075-0.088]  0.080 [0.076-0.084]   1.69
    nasnet       1.119 [1.054-1.191]  0.562 [0.530-0.592]  0.100 [0.093-0.108]  0.090 [0.089-0.095]   1.99
    nasbench101  1.123 [1.106-1.166]  0.606 [0.587-0.651]  0.081 [0.074-0.083]  0.077 [0.072-0.082]   1.85

The cold targets are still not met. What changed from the baseline: the cost bounds moved behind
`info --bounds` (always in `--json`); the counting DP reads its projections' caches inline; the
fingerprint is hashed from a node's pieces instead of joining a 6-8 MB text level by level; the
value layer dispatches on the class; `with_children` calls the constructor, not `replace`; the
parser tables decode through `json.loads`' object hook; `info` as its own process runs without
the cyclic collector. Where a cold run goes now (`--phases --runs 3`, same load, CPU seconds):

    space        start import  compiler tables parse  elaborate shapes size  cache-entry | bounds
    nasbench201  0.020 0.028   0.039    0.010  0.014  0.015     0.002  0.000 0.010       | 0.016
    darts        0.019 0.030   0.042    0.010  0.027  0.093     0.017  0.000 0.046       | 0.142
    nasnet       0.020 0.030   0.042    0.010  0.029  0.224     0.039  0.000 0.101       | 0.326
    nasbench101  0.020 0.030   0.041    0.010  0.026  0.061     0.080  0.253 0.030       | 0.177

(`compiler`: importing the parser, Lark, the syntax tree's 33 dataclasses, the elaborator and
the shape check; `cache-entry`: encoding the space, its fingerprint and writing the entry.) So
the floor of any cold `info` is about 0.14 s of interpreter start and imports, which alone is
above the nasbench201 target; what is left beyond it is elaboration (nasnet), the exact count
under constraints (nasbench101) and the cache entry.
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# One cold `info` cut into its phases, in a fresh process of this tree, in the order `info` runs
# them (CPU seconds each, `time.process_time`), the cost bounds (what `--bounds` adds) last.
PHASES = r"""
import gc, json, sys, tempfile, time
T = time.process_time
out = {"start": T()}
def phase(name, last=[out["start"]]):
    now = T(); out[name] = now - last[0]; last[0] = now
gc.disable()   # as `nasdsl info` runs (`nasdsl.cli._WITHOUT_COLLECTOR`)
from pathlib import Path
import nasdsl.cli
phase("import")
from nasdsl import import_loader, read_source, resolve_space
from nasdsl.analysis.shapes import check_shapes
from nasdsl.cache import SpaceCache
from nasdsl.elaborate import Elaborator
from nasdsl.space import Space
from nasdsl.syntax.parser import _lark
phase("import compiler")
_lark()
phase("parser tables")
path = resolve_space(sys.argv[1]); text = read_source(path)
elaborator = Elaborator(import_loader(str(path), None, ()), {})
root = elaborator.load_unit(str(path), text, None)
phase("parse")
template, resolved = elaborator.elaborate(root)
decisions, constraints = elaborator.finish()
phase("elaborate")
space = Space(decisions, constraints, template, resolved, {u.file: u.text for u in elaborator.units.values()},
              str(path))
space._fresh_copies = elaborator.fresh_copies
space.check_not_empty(); check_shapes(space)
phase("shapes")
space.check_budgets_feasible()
phase("size")
SpaceCache(Path(tempfile.mkdtemp())).put("0" * 64, space, imports=[])
phase("cache entry")
space.to_json()
phase("to_json")
from nasdsl.analysis.bounds import cost_bounds
cost_bounds(space)
phase("bounds")
print(json.dumps(out))
"""


def phases(space: str) -> dict[str, float]:
    """CPU seconds of each phase of a cold `info SPACE` in this tree (`PHASES`)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE",)}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", NASDSL_NO_CACHE="1")
    done = subprocess.run([sys.executable, "-c", PHASES, space], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout)


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
    parser.add_argument("--baseline", type=Path, help="a checkout of nasdsl to compare with")
    parser.add_argument("--phases", action="store_true",
                        help="instead: where a cold `info` of this tree goes, phase by phase (median of --runs)")
    parser.add_argument("--runs", type=int, default=10, help="runs per tree and space (default 10)")
    parser.add_argument("spaces", nargs="*")
    args = parser.parse_args()
    spaces = args.spaces or library()
    if args.phases:
        compileall.compile_dir(str(ROOT / "nasdsl"), quiet=1)
        print(f"cold `nasdsl info SPACE` of this tree by phase: CPU seconds, median of {args.runs} fresh processes "
              "(bounds: what --bounds adds)")
        for space in spaces:
            runs = [phases(space) for _ in range(args.runs)]
            line = "  ".join(f"{k} {statistics.median(r[k] for r in runs):.3f}" for k in runs[0])
            print(f"{space:<13} {line}", flush=True)
        return
    if args.baseline is None:
        parser.error("--baseline is required (or --phases)")
    baseline = args.baseline.resolve()
    for tree in (baseline, ROOT):
        compileall.compile_dir(str(tree / "nasdsl"), quiet=1)
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
