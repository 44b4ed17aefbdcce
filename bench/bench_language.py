"""Front-end speed: parse + elaborate time against the number of decisions, and the wall
time of `nasdsl info spaces/nasbench201.nas` (which must not import torch).

Prints figures and ratios; asserts nothing about time (see the README for how to read it).

    python bench/bench_language.py            # full run (10 .. 10,000 decisions)
    python bench/bench_language.py --quick    # 10 .. 1,000
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nasdsl  # noqa: E402
from nasdsl.analysis.shapes import check_shapes  # noqa: E402
from nasdsl.syntax.parser import parse  # noqa: E402


def generated_space(n_decisions: int) -> str:
    """A realistic space with `n_decisions` decisions: stages of blocks, each with a layer
    choice and a kernel value choice (two decisions per block)."""
    blocks = n_decisions // 2
    lines = [
        "param C = 16",
        "block Op(c, k=choice[3, 5, 7]) = choice {",
        "  conv: Conv2d(c, c, k, padding=k // 2) -> BatchNorm2d(c) -> ReLU(),",
        "  skip: Identity(),",
        "}",
        "network(x: [16, 32, 32]) {",
        "  h = x",
        f"  for i in range({blocks}) {{ h = h -> Op(C) }}",
        "  return h",
        "}",
    ]
    return "\n".join(lines) + "\n"


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--quick", action="store_true")
    opts = args.parse_args()
    sizes = [10, 100, 1000] if opts.quick else [10, 100, 1000, 10000]
    nasdsl.loads(generated_space(10))  # warm the grammar cache
    print("parse, elaborate (+ exact size) and shape-check generated spaces (seconds, best of 3)")
    print(f"{'decisions':>10} {'parse':>8} {'elaborate':>10} {'us/dec':>8} {'shapes':>8} {'loads total':>12}")
    per_decision = []
    for n in sizes:
        text = generated_space(n)
        t_parse = best_of(lambda text=text: parse(text, "gen.nas"), 3)
        t_total = best_of(lambda text=text: nasdsl.loads(text, "gen.nas").size(), 3)
        space = nasdsl.loads(text, "gen.nas")
        t_shapes = best_of(lambda space=space: check_shapes(space), 3)
        assert len(space.decisions) == n, (len(space.decisions), n)
        t_elab = t_total - t_parse - t_shapes
        per_decision.append(t_elab / n * 1e6)
        print(f"{n:>10} {t_parse:>8.4f} {t_elab:>10.4f} {t_elab / n * 1e6:>8.1f} {t_shapes:>8.4f} {t_total:>12.4f}")
    print(f"growth of parse + elaborate per decision, {sizes[-1]} vs {sizes[1]}: "
          f"{per_decision[-1] / per_decision[1]:.2f}x (1.0 = linear)")

    cmd = [sys.executable, "-m", "nasdsl", "info", str(ROOT / "spaces" / "nasbench201.nas")]
    subprocess.run(cmd, check=True, capture_output=True)  # warm
    walls = []
    for _ in range(7):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
    bare = []
    for _ in range(7):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - start)
    probe = subprocess.run([sys.executable, "-c", "import sys, nasdsl.cli; nasdsl.cli.main(['info', "
                            f"{str(ROOT / 'spaces' / 'nasbench201.nas')!r}]); print('torch' in sys.modules)"],
                           check=True, capture_output=True, text=True)
    torch_loaded = probe.stdout.strip().splitlines()[-1]
    print(f"\nnasdsl info spaces/nasbench201.nas: median {statistics.median(walls):.3f} s wall "
          f"(python -c pass: {statistics.median(bare):.3f} s; torch imported: {torch_loaded})")


if __name__ == "__main__":
    main()
