"""One-shot supernet steps, nasdsl vs NNI 3.0, side by side (asserted: only that both sides
build the same supernet, the same weight and architecture-parameter counts; the DARTS space's
224 architecture parameters are DARTS's edge relaxation, `nasdsl/lower/edges.py`).

Each workload runs in fresh processes, the two sides alternating round by round (nasdsl, NNI,
nasdsl, NNI, ...), with the same torch threads, the same batch and the same step:

* darts / gumbel / proxyless: one search step = resample (proxyless: a path drawn from alpha) ->
  architecture step (cross-entropy on a validation batch, backward, Adam on alpha) -> resample ->
  weight step (cross-entropy on a training batch, backward, SGD on the weights), as NNI's
  DartsLightningModule.training_step does; first-order DARTS;
* spos: resample a uniform path -> weight step; and `spos-fixed`: nasdsl's path supernet fixed
  to one sampled architecture vs the discrete model of that architecture (no NNI side).
  spos and proxyless run the same sequence of NB201 paths on both sides (`_paths`: drawn
  uniformly from a fixed seed, passed to NNI as its resample memo): a path's cost depends on
  its ops, so paths drawn by each side would time different work.

Per process: `warmup` steps, then `steps` timed steps (median per process); the figure is the
median over rounds with the range over rounds. Time is wall-clock and the process's CPU time
(with one thread the two agree on an idle machine; on a shared one CPU time is the steadier).
Memory per process, the same way on both sides:

* step peak alloc: the peak of torch's CPU allocator during one step, above what it holds when
  the step starts (every tensor the step allocates: activations, temporaries, gradients; no
  libraries, no malloc caching), from the profiler's allocation events on extra untimed steps;
* held after forward: the same peak within the forward passes only (what autograd keeps for
  backward, however it keeps it, plus outputs);
* eval forward peak: the allocator's peak over one forward pass in eval mode under
  `torch.no_grad()` (a validation batch: only the tensors the forward pass still holds);
* peak RSS (whole process: ~480 MB of libraries on both sides, and whatever glibc's malloc
  keeps), and step RSS (peak RSS minus the RSS after building the model).

    python bench/bench_supernet.py --nni-python /tmp/nni-venv/bin/python [--threads 1] [--rounds 3]
        [--steps 3] [--only nb201-darts-8,...] [--contiguous] [--checkpoint] [--compile] [--passes none]
        [--env K=V]

The nasdsl side runs its default passes (`nasdsl.lower.passes.DEFAULT_PASSES`), which put the
input batch in the channels-last memory layout (on the CPU); NNI's side takes the same batch in
the default contiguous layout, as NNI does: the same values, the same ops, each side in its own
layout. `--contiguous` adds a `nasdsl contig` side with every default pass but `channels_last`
(what the layout buys); `--passes none` runs nasdsl without any pass (what the passes buy),
`--passes all` with `recompute_pure` too; `--checkpoint` adds nasdsl with activation
checkpointing of mixtures; `--compile` adds nasdsl built with `compile=True` (`torch.compile`;
its compile time is the warm-up steps' time, reported apart; NNI stays eager). The NNI venv:
`bash ../shared/baselines/nni-venv.sh /tmp/nni-venv`.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name: (space, strategy, batch)
WORKLOADS = {
    "nb201-darts-8": ("nasbench201", "darts", 8),
    "nb201-darts-64": ("nasbench201", "darts", 64),
    "nb201-gumbel-8": ("nasbench201", "gumbel", 8),
    "nb201-gumbel-64": ("nasbench201", "gumbel", 64),
    "darts-darts-8": ("darts", "darts", 8),
    "nb201-proxyless-8": ("nasbench201", "proxyless", 8),
    "nb201-spos-8": ("nasbench201", "spos", 8),
    "nb201-spos-fixed-32": ("nasbench201", "spos-fixed", 32),
}


# --- the worker (runs under either python; imports only torch and its own side) -------------------

def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        import os
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _allocator_bytes(step) -> tuple[int, int]:
    """(peak, held after forward) of torch's CPU allocator in one step, in bytes above what is
    allocated when the step starts: every tensor the step allocates (activations kept for
    backward, temporaries, gradients, optimizer updates), nothing of the libraries or the
    allocator's caches. Read from the profiler's allocation events (`profile_memory`) on a
    second profiled step, so that every block freed in it was allocated under the profiler.
    "Held after forward" is the peak of the forward passes alone: the activations that autograd
    keeps (however it keeps them) plus the forward's output."""
    from torch.profiler import ProfilerActivity, profile, record_function
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
        with record_function("measured-step"):
            step()
    events = prof.profiler.kineto_results.events()
    window = next(e for e in events if e.name() == "measured-step")
    lo, hi = window.start_ns(), window.start_ns() + window.duration_ns()
    forwards = [(e.start_ns(), e.start_ns() + e.duration_ns()) for e in events
                if e.name() == "forward-pass" and lo <= e.start_ns() <= hi]
    allocations = sorted((e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]")
    live = base = peak = held = 0
    started = False
    for t, n in allocations:
        if t > hi:
            break
        if t >= lo and not started:
            started, base, peak = True, live, live
        live += n
        if started:
            peak = max(peak, live)
            if any(a <= t <= b for a, b in forwards):
                held = max(held, live)
    return peak - base, max(held - base, 0)


def _eval_peak(net, x, resample) -> int:
    """The allocator's peak over one forward pass in eval mode without autograd (what a
    validation batch costs), in bytes above what is allocated when it starts."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    net.eval()
    if resample:
        resample()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof, torch.no_grad():
        net(x)
    live = peak = 0
    for _, n in sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                       if e.name() == "[memory]"):
        live += n
        peak = max(peak, live)
    net.train()
    return peak


def _paths():
    """The NB201 paths the sampling workloads run, step by step, the same on both sides (a
    path's cost depends on its ops, so each side drawing its own would time different work):
    edge "e{i}_{j}" (node j -> node i) -> op, drawn uniformly from a fixed seed."""
    import random
    rng = random.Random(2024)
    ops = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    while True:
        yield {f"e{i}_{j}": rng.choice(ops) for i in range(1, 4) for j in range(i)}


def _ours(space_name: str, strategy: str, batch: int, opts: dict):
    sys.path.insert(0, str(ROOT))

    import nasdsl
    from nasdsl.lower.discrete import build
    from nasdsl.strategy import build_supernet
    params = {"C": 16, "layers": 8} if space_name == "darts" else {}
    space = nasdsl.load(space_name, params)
    build_opts = {"checkpoint": opts.get("checkpoint", False), "compile": opts.get("compile", False)}
    from nasdsl.lower.passes import DEFAULT_PASSES, PASSES
    chosen = {"none": (), "all": PASSES, "default": DEFAULT_PASSES,
              "contiguous": tuple(p for p in DEFAULT_PASSES if p != "channels_last")}[opts.get("passes", "default")]
    build_opts["passes"] = chosen
    if strategy == "spos-fixed":
        arch = space.sample(0)
        if opts.get("side") == "discrete":
            net = build(space, arch, channels_last="channels_last" in chosen)   # the supernet's input layout
        else:
            net = build_supernet(space, "spos", seed=0, **build_opts)
            net.fix(arch)
        alphas = []
    else:
        net = build_supernet(space, strategy, seed=0, **build_opts)
        alphas = net.arch_parameters()
    resample = None
    if strategy in ("spos", "proxyless"):
        paths = _paths()

        def resample():
            path = next(paths)
            net.resample(lambda d: path[d.label.rsplit(".", 1)[1]])

    return net, list(net.parameters()), alphas, resample


def _nni(space_name: str, strategy: str, batch: int, opts: dict):
    import warnings
    warnings.filterwarnings("ignore")
    from nni.nas.hub.pytorch import DARTS as DartsSpace
    from nni.nas.hub.pytorch import NasBench201
    from nni.nas.oneshot.pytorch import strategy as strategies
    from nni.nas.oneshot.pytorch.supermodule.base import BaseSuperNetModule
    model = DartsSpace(width=16, num_cells=8) if space_name == "darts" else NasBench201()
    cls = {"darts": strategies.DARTS, "gumbel": strategies.GumbelDARTS, "proxyless": strategies.Proxyless,
           "spos": strategies.RandomOneShot}[strategy]
    net = cls().mutate_model(model)
    alphas = [p for n, p in net.named_parameters() if "_arch_alpha" in n]
    weights = [p for n, p in net.named_parameters() if "_arch_alpha" not in n]
    supers = [m for m in net.modules() if isinstance(m, BaseSuperNetModule)]

    paths = _paths()
    names = {"nor_conv_1x1": "conv_1x1", "nor_conv_3x3": "conv_3x3"}

    def resample():
        memo = {f"cell/{edge[3]}_{edge[1]}": names.get(op, op) for edge, op in next(paths).items()}
        for m in supers:
            memo.update(m.resample(memo=memo))

    return net, weights, alphas, (resample if strategy in ("spos", "proxyless") else None)


def worker(side: str, workload: str, threads: int, warmup: int, steps: int, opts: dict) -> dict:
    import resource

    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    space_name, strategy, batch = WORKLOADS[workload]
    make = _nni if side == "nni" else _ours
    net, weights, alphas, resample = make(space_name, strategy, batch, {**opts, "side": side})
    net.train()
    gen = torch.Generator().manual_seed(1)
    x, xv = torch.randn(batch, 3, 32, 32, generator=gen), torch.randn(batch, 3, 32, 32, generator=gen)
    y, yv = torch.randint(0, 10, (batch,), generator=gen), torch.randint(0, 10, (batch,), generator=gen)
    w_opt = torch.optim.SGD(weights, lr=0.025, momentum=0.9)
    a_opt = torch.optim.Adam(alphas, lr=3e-4) if alphas else None
    model = net   # nasdsl compiles inside (build_supernet(..., compile=True)); NNI is run eager
    ce = torch.nn.functional.cross_entropy

    from torch.profiler import record_function

    def forward(inputs):
        with record_function("forward-pass"):   # a marker for _allocator_bytes (no cost unprofiled)
            return model(inputs)

    def step():
        if a_opt is not None:
            if resample:
                resample()
            a_opt.zero_grad()
            ce(forward(xv), yv).backward()
            a_opt.step()
        if resample:
            resample()
        w_opt.zero_grad()
        ce(forward(x), y).backward()
        w_opt.step()

    base = _rss_mb()
    start = time.perf_counter()
    for _ in range(warmup):
        step()
    first = time.perf_counter() - start
    times, cpu = [], []
    for _ in range(steps):
        t, c = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    alloc_peak, held = _allocator_bytes(step)
    # (not under compile: a no-grad pass would compile the network once more, minutes on a CPU)
    eval_peak = float("nan") if opts.get("compile") else _eval_peak(net, x, resample)
    return {"step_s": statistics.median(times), "cpu_s": statistics.median(cpu), "warmup_s": first,
            "peak_rss_mb": peak, "step_rss_mb": peak - base,
            "alloc_peak_mb": alloc_peak / 2**20, "held_mb": held / 2**20, "eval_mb": eval_peak / 2**20,
            "weights": sum(p.numel() for p in weights),
            "arch_params": sum(p.numel() for p in alphas)}


# --- the driver --------------------------------------------------------------------------------------

def run_side(python: str, side: str, workload: str, args, extra: dict) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--worker", side, workload, "--threads", str(args.threads),
           "--warmup", str(args.warmup), "--steps", str(args.steps), "--opts", json.dumps(extra)]
    env = {**os.environ, **dict(kv.split("=", 1) for kv in args.env)}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def _load() -> str:
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.3g} [{min(values):.3g}-{max(values):.3g}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nni-python", help="python of a venv with NNI 3.0 (the baseline side)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--only", help="comma-separated workloads (default: all): " + ", ".join(WORKLOADS))
    parser.add_argument("--checkpoint", action="store_true", help="add nasdsl with activation checkpointing")
    parser.add_argument("--compile", action="store_true", help="add nasdsl under torch.compile")
    parser.add_argument("--passes", choices=["default", "all", "none"], default="default",
                        help="nasdsl's rewrite passes: DEFAULT_PASSES, PASSES or none")
    parser.add_argument("--contiguous", action="store_true",
                        help="add nasdsl with its default passes but channels_last (inputs in the contiguous layout)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment of both sides' processes, e.g. MALLOC_MMAP_THRESHOLD_=131072 (glibc "
                             "then returns every large freed block to the system, so RSS follows live memory)")
    parser.add_argument("--worker", nargs=2, metavar=("SIDE", "WORKLOAD"), help=argparse.SUPPRESS)
    parser.add_argument("--opts", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker, args.threads, args.warmup, args.steps, json.loads(args.opts))))
        return

    names = args.only.split(",") if args.only else list(WORKLOADS)
    print(f"threads {args.threads}, rounds {args.rounds} (alternating), per process {args.warmup} warm-up + "
          f"{args.steps} timed steps; figures: median [range] over rounds" + (f"; env {' '.join(args.env)}" if args.env else ""))
    for name in names:
        _, strategy, batch = WORKLOADS[name]
        sides: list[tuple[str, str, str, dict]] = [("nasdsl", sys.executable, "ours", {"passes": args.passes})]
        if strategy == "spos-fixed":
            sides.append(("discrete", sys.executable, "discrete", {}))
        elif args.nni_python:
            sides.append(("NNI 3.0", args.nni_python, "nni", {}))
        if args.checkpoint and strategy in ("darts", "gumbel"):
            sides.append(("nasdsl+ckpt", sys.executable, "ours", {"passes": args.passes, "checkpoint": True}))
        if args.contiguous and strategy != "spos-fixed":   # its reference, the discrete model, runs channels-last
            sides.append(("nasdsl contig", sys.executable, "ours", {"passes": "contiguous"}))
        if args.compile:
            sides.append(("nasdsl+compile", sys.executable, "ours", {"passes": args.passes, "compile": True}))
        results: dict[str, list[dict]] = {label: [] for label, *_ in sides}
        load0 = _load()
        for _ in range(args.rounds):
            for label, python, side, extra in sides:
                results[label].append(run_side(python, side, name, args, extra))
        base = results[sides[1][0]] if len(sides) > 1 else None
        if base is not None and strategy != "spos-fixed":   # the same supernet on both sides, or no ratio
            for label, rows in results.items():
                for what in ("weights", "arch_params"):
                    assert rows[0][what] == base[0][what], (name, label, what, rows[0][what], base[0][what])
        print(f"\n{name} (batch {batch}); load average before {load0}, after {_load()}")
        for label, rows in results.items():
            line = (f"  {label:15s} step {summary([r['step_s'] * 1e3 for r in rows])} ms "
                    f"(CPU {summary([r['cpu_s'] * 1e3 for r in rows])} ms), "
                    f"peak RSS {summary([r['peak_rss_mb'] for r in rows])} MB, "
                    f"step RSS {summary([r['step_rss_mb'] for r in rows])} MB, "
                    f"step peak alloc {summary([r['alloc_peak_mb'] for r in rows])} MiB, "
                    f"held after forward {summary([r['held_mb'] for r in rows])} MiB, "
                    f"eval forward peak {summary([r['eval_mb'] for r in rows])} MiB, "
                    f"weights {rows[0]['weights']:,}")
            if label.endswith("compile"):
                line += f", first {args.warmup} step(s) incl. compile {summary([r['warmup_s'] for r in rows])} s"
            print(line)
        if base is not None:
            ref = sides[1][0]
            for label, rows in results.items():
                if label == ref:
                    continue
                t = [r["step_s"] / b["step_s"] for r, b in zip(rows, base)]
                c = [r["cpu_s"] / b["cpu_s"] for r, b in zip(rows, base)]
                m = [r["peak_rss_mb"] / b["peak_rss_mb"] for r, b in zip(rows, base)]
                s = [r["step_rss_mb"] / b["step_rss_mb"] for r, b in zip(rows, base)]
                a = [r["alloc_peak_mb"] / b["alloc_peak_mb"] for r, b in zip(rows, base)]
                h = [r["held_mb"] / b["held_mb"] for r, b in zip(rows, base)]
                e = [r["eval_mb"] / b["eval_mb"] for r, b in zip(rows, base)]
                print(f"  {label} / {ref}: time {summary(t)}x, CPU time {summary(c)}x, step peak alloc {summary(a)}x, "
                      f"held after forward {summary(h)}x, eval forward peak {summary(e)}x, peak RSS {summary(m)}x, "
                      f"step RSS {summary(s)}x")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
