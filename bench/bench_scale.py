"""The DARTS space as it grows, nasdsl vs NNI 3.0 side by side: what it costs to build the
supernet, how much memory a search step takes, and how long the step is (asserted: only that
both sides build the same supernet, the same weight and architecture-parameter counts).

For each configuration (cells `layers` x initial channels `C`; NNI's hub `DARTS(width=C,
num_cells=layers)`), each side runs in a fresh process, the two sides alternating round by round
(nasdsl, NNI, nasdsl, NNI, ...), one torch thread, CIFAR-shaped inputs (batch x 3 x 32 x 32,
10 classes), the same step on both sides: first-order DARTS, architecture step (cross-entropy on
a validation batch, backward, Adam on alpha) then weight step (cross-entropy on a training batch,
backward, SGD on the weights), as `bench_supernet.py` times it. Per process:

* build: CPU time from the space's description to a supernet ready to train, the libraries
  already imported. nasdsl: `nasdsl.load("darts", {"C": C, "layers": L})` with an empty space
  cache (a fresh `NASDSL_CACHE_DIR`: parse, elaborate, shape-check) plus `build_supernet(space,
  "darts")` (reported apart as "supernet"); NNI: `DARTS(width=C, num_cells=L)` plus
  `DARTS().mutate_model(model)` (its hub has no parse stage, so its "supernet" is the mutation);
* memory: the process's peak RSS (`resource.getrusage(RUSAGE_SELF).ru_maxrss`, the kernel's
  high-water mark of resident memory: libraries, weights, activations, and whatever glibc's malloc
  keeps), "step RSS" the same minus the RSS once the supernet is built (what the steps add), and
  "weights MB" the parameters' own bytes (fp32);
* step: `warmup` untimed steps, then the median CPU time (`time.process_time`) of `steps` steps.

The figure is the median over rounds, with the range over rounds. On a shared machine CPU time is
the steadier figure; the load average before and after each configuration is printed.

    python bench/bench_scale.py --nni-python /tmp/nni-venv/bin/python [--rounds 2] [--warmup 1]
        [--steps 2] [--batch 8] [--only 8x16,14x16,...]

`--only` takes CELLSxC items (default: 8x16, 14x16, 20x16, 8x36, 14x36, 20x36). Without
`--nni-python` only nasdsl runs. The NNI venv: `bash ../shared/baselines/nni-venv.sh /tmp/nni-venv`.
Results: `bench/results_scale.md`.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_supernet import _load, _rss_mb, summary  # noqa: E402  (stdlib only: runs under either python)

CONFIGS = [(8, 16), (14, 16), (20, 16), (8, 36), (14, 36), (20, 36)]


# --- the worker (runs under either python; imports only torch and its own side) -------------------

def _build_ours(layers: int, channels: int) -> tuple:
    sys.path.insert(0, str(ROOT))
    import nasdsl
    import nasdsl.strategy  # noqa: F401  (imported before the clock starts, as NNI's modules are)
    from nasdsl.strategy import build_supernet
    start = time.process_time()
    space = nasdsl.load("darts", {"C": channels, "layers": layers})
    loaded = time.process_time()
    net = build_supernet(space, "darts", seed=0)
    end = time.process_time()
    return net, list(net.parameters()), net.arch_parameters(), end - start, end - loaded


def _build_nni(layers: int, channels: int) -> tuple:
    import warnings
    warnings.filterwarnings("ignore")
    from nni.nas.hub.pytorch import DARTS as DartsSpace
    from nni.nas.oneshot.pytorch import strategy as strategies
    start = time.process_time()
    model = DartsSpace(width=channels, num_cells=layers)
    made = time.process_time()
    net = strategies.DARTS().mutate_model(model)
    end = time.process_time()
    alphas = [p for n, p in net.named_parameters() if "_arch_alpha" in n]
    weights = [p for n, p in net.named_parameters() if "_arch_alpha" not in n]
    return net, weights, alphas, end - start, end - made


def worker(side: str, layers: int, channels: int, batch: int, warmup: int, steps: int) -> dict:
    import resource

    import torch
    torch.set_num_threads(1)
    torch.manual_seed(0)
    build = _build_nni if side == "nni" else _build_ours
    net, weights, alphas, build_s, supernet_s = build(layers, channels)
    net.train()
    built_rss = _rss_mb()
    gen = torch.Generator().manual_seed(1)
    x, xv = torch.randn(batch, 3, 32, 32, generator=gen), torch.randn(batch, 3, 32, 32, generator=gen)
    y, yv = torch.randint(0, 10, (batch,), generator=gen), torch.randint(0, 10, (batch,), generator=gen)
    w_opt = torch.optim.SGD(weights, lr=0.025, momentum=0.9)
    a_opt = torch.optim.Adam(alphas, lr=3e-4)
    ce = torch.nn.functional.cross_entropy

    def step():
        a_opt.zero_grad()
        ce(net(xv), yv).backward()
        a_opt.step()
        w_opt.zero_grad()
        ce(net(x), y).backward()
        w_opt.step()

    for _ in range(warmup):
        step()
    cpu = []
    for _ in range(steps):
        c = time.process_time()
        step()
        cpu.append(time.process_time() - c)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"build_s": build_s, "supernet_s": supernet_s, "cpu_s": statistics.median(cpu),
            "peak_rss_mb": peak, "step_rss_mb": peak - built_rss,
            "weights": sum(p.numel() for p in weights), "arch_params": sum(p.numel() for p in alphas),
            "weights_mb": sum(p.numel() * p.element_size() for p in weights) / 2**20}


# --- the driver --------------------------------------------------------------------------------------

def run_side(python: str, side: str, layers: int, channels: int, args) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--worker", side, str(layers), str(channels),
           "--batch", str(args.batch), "--warmup", str(args.warmup), "--steps", str(args.steps)]
    with tempfile.TemporaryDirectory() as cache:   # an empty space cache: nasdsl compiles cold
        env = {**os.environ, "NASDSL_CACHE_DIR": cache, "OMP_NUM_THREADS": "1"}
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def _configs(only: str | None) -> list[tuple[int, int]]:
    if not only:
        return CONFIGS
    return [tuple(int(v) for v in item.lower().split("x")) for item in only.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nni-python", help="python of a venv with NNI 3.0 (the baseline side)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--only", help="comma-separated CELLSxC configurations, e.g. 8x16,14x36")
    parser.add_argument("--worker", nargs=3, metavar=("SIDE", "CELLS", "C"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        side, layers, channels = args.worker
        print(json.dumps(worker(side, int(layers), int(channels), args.batch, args.warmup, args.steps)))
        return

    sides = [("nasdsl", sys.executable, "ours")]
    if args.nni_python:
        sides.append(("NNI 3.0", args.nni_python, "nni"))
    print(f"DARTS space, first-order darts step at batch {args.batch}, 1 thread, rounds {args.rounds} "
          f"(alternating), per process {args.warmup} warm-up + {args.steps} timed steps; "
          f"figures: median [range] over rounds, CPU time")
    for layers, channels in _configs(args.only):
        load0 = _load()
        results: dict[str, list[dict]] = {label: [] for label, *_ in sides}
        for _ in range(args.rounds):
            for label, python, side in sides:
                results[label].append(run_side(python, side, layers, channels, args))
        first = next(iter(results.values()))[0]
        for label, rows in results.items():   # the same supernet on both sides, or no ratio
            for what in ("weights", "arch_params"):
                assert rows[0][what] == first[what], (layers, channels, label, what, rows[0][what], first[what])
        print(f"\ncells {layers}, C {channels}: weights {first['weights']:,} ({first['weights_mb']:.1f} MB), "
              f"arch params {first['arch_params']}; load average before {load0}, after {_load()}")
        for label, rows in results.items():
            print(f"  {label:8s} build {summary([r['build_s'] for r in rows])} s "
                  f"(supernet {summary([r['supernet_s'] for r in rows])} s), "
                  f"step {summary([r['cpu_s'] for r in rows])} s, "
                  f"peak RSS {summary([r['peak_rss_mb'] for r in rows])} MB, "
                  f"step RSS {summary([r['step_rss_mb'] for r in rows])} MB")
        if len(sides) > 1:
            ours, nni = results["nasdsl"], results["NNI 3.0"]
            ratio = {k: summary([a[k] / b[k] for a, b in zip(ours, nni)])
                     for k in ("build_s", "cpu_s", "peak_rss_mb", "step_rss_mb")}
            print(f"  nasdsl / NNI: build {ratio['build_s']}x, step {ratio['cpu_s']}x, "
                  f"peak RSS {ratio['peak_rss_mb']}x, step RSS {ratio['step_rss_mb']}x")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
