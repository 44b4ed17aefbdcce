"""One DARTS search epoch on mnist5k: nasdsl vs NNI 3.0, side by side (nothing asserted).

The same workload on both sides, in separate processes run alternately (nasdsl, NNI, nasdsl,
...), each with `torch.set_num_threads(THREADS)`:

* space: NAS-Bench-201, nasdsl's `spaces/nasbench201.nas` with C=8, N=1, in_channels=3,
  resolution=28 and NNI's hub `NasBench201(stem_out_channels=8, num_modules_per_stack=1,
  num_labels=10)` turned into a DARTS supernet by `nni.nas.oneshot.pytorch.strategy.DARTS
  ().mutate_model`; the two supernets' weight counts and architecture-parameter counts are
  asserted equal before anything is timed;
* data: mnist5k (nasdsl's split, seed 0), images repeated to 3 channels (NNI's hub space
  has a 3-channel stem), split in two halves as `nasdsl search --strategy darts` does
  (`--arch-data half`): the weight half and the architecture half, shuffled by the seed,
  cut into batches of 64 in memory before any timing; one epoch = len(train) // 2 // 64
  pairs (27 on mnist5k);
* one step (first-order DARTS, as nasdsl's `Darts.search_step`): architecture step
  (cross-entropy on the architecture batch, `backward()`, Adam lr 3e-4, betas (0.5, 0.999),
  weight decay 1e-3 on the architecture parameters), then weight step (cross-entropy on the
  weight batch, `backward()`, gradient-norm clip 5, SGD lr 0.025, momentum 0.9, weight decay
  3e-4 on the weights).

Three modes (`--mode both`, the default, runs loop then lightning; `--mode process` runs alone):

* `loop`: both supernets driven by one shared hand-written loop (the step above; the same
  code string runs in both processes, only the supernet differs). Timed: the wall time of the
  epoch's 27 steps, after two untimed warm-up steps on the first pair. This is the cost of
  the supernets' own forward and backward passes.
* `lightning`: each side's own DARTS strategy in its own Lightning loop, as a search runs it:
  nasdsl's `Darts` LightningModule (`order=1`, its defaults, which include a cosine learning-
  rate schedule) under pytorch-lightning 2.6 on `PairedDataset` batches, as `nasdsl search`
  builds them; NNI's `DARTS(gradient_clip_val=5.0)` strategy (`mutate_model` +
  `mutate_evaluator`, then `evaluate`) on a `Classification` evaluator (SGD lr 0.025,
  momentum 0.9, weight decay 3e-4) under NNI's pinned pytorch-lightning 2.0.9, with the weight
  half as its train loader and the architecture half as its val loader (the strategy pairs
  them in a CombinedLoader). Timed: a callback's wall time from `on_train_epoch_start` to
  `on_train_epoch_end` of the single epoch (no warm-up: both sides' first steps are in it);
  no validation, logger, checkpoint or progress bar on either side; the callback checks that
  both ran the same 27 batches.
* `process`: what a user runs, whole processes, alternating pair by pair. nasdsl: the command
  `nasdsl search nasbench201 --strategy darts --data mnist5k --set C=8 --set N=1 --epochs 1
  --batch-size 64` (run as `nasdsl.cli.main` after `torch.set_num_threads(1)`), with all it
  does by default: fit the space to the data (1 input channel), one validation pass over the
  750 validation images, CSV log, `last.ckpt`, run files, the plot. NNI: its `DARTS` strategy
  (`gradient_clip_val=5`) on its hub NAS-Bench-201 (3-channel stem) and a `Classification`
  evaluator (SGD 0.025, momentum 0.9, weight decay 3e-4, `max_epochs=1`, its trainer's default
  logger, checkpoint and model summary, no progress bar as nasdsl when stderr is not a
  terminal), `evaluate`, then the architecture exported and printed. The same batches on both
  sides: the bench writes the weight and architecture batches in the order nasdsl's search
  draws them (`prepare_process`). Data preparation is charged to both sides alike: each reads
  mnist5k as arrays from an .npz (nasdsl from its cache, `nasdsl.data.bundled_arrays`, warmed by
  one untimed run that also stores the compiled space; NNI from the bench's file), neither
  parses the CSV. Timed: each process's CPU time (user + system, `getrusage` of the child),
  wall time beside it; everything is charged: interpreter start, imports (torch, Lightning,
  NNI), building, training, writing.

Excluded on both sides in the loop and lightning modes: process start, imports, data loading,
supernet and optimizer construction. Those two modes time CPU time (`time.process_time`, one
thread) with wall time beside it.

    bash ../shared/baselines/nni-venv.sh /tmp/nni-venv       # once, ~4 min
    python bench/bench_oneshot_nni.py --nni-python /tmp/nni-venv/bin/python [--repeats 5] [--mode both|process]

Results (2026-12-07, 17:08-17:34 UTC, the 2-core machine shared with other jobs and
oversubscribed ~10x, load average 12-14: wall times are 5-10x the CPU times and CPU times
themselves run higher than on a quiet machine; torch 2.13.0 CPU, 1 thread; nasdsl with
pytorch-lightning 2.6, NNI with its pinned 2.0.9):

    process (3 alternating pairs, `--mode process --repeats 3`):
      nasdsl: CPU median 23.43 s (20.17-25.67)     NNI: CPU median 29.48 s (27.31-31.53)
      nasdsl / NNI CPU 0.795x (ratio of medians; per pair 0.738-0.814x)
    loop (3 alternating repeats, `--mode loop --repeats 3`; the same hand-written step on both):
      nasdsl: CPU median 12.65 s (11.15-12.88), 469 ms/step   NNI: 26.22 s (22.34-28.35), 971 ms/step
      nasdsl / NNI CPU 0.483x (ratio of medians; per pair 0.446-0.499x)

Where the nasdsl process goes (one run with each phase wrapped, at the same load; shares of its
24.2 s CPU): 27 search steps 65%, importing Lightning 17% (torchmetrics, scipy.signal,
matplotlib and torch._dynamo come with pytorch-lightning 2.6; on a quieter machine 2.5 s, where
NNI's 2.0.9 costs 1.8 s and NNI's own modules 0.5 s more), importing torch and nasdsl 8%, the
validation pass over 750 images 5%, the plot 3%, mnist5k from the cache 0.5% (parsing its CSV
instead: 1.9-3.0 s), building the supernet and the rest under 1%. So the whole command is at
0.74-0.81x NNI where the steps alone are at about 0.5x: the fixed costs left are the imports
and the validation pass, which NNI's DARTS does not run. The loop mode runs one hand-written
step on both sides (`backward()` in the architecture step); a search's own step computes the
architecture gradient alone (`OneShot.arch_backward`) and adds Lightning's per-step work (logging,
the optimizer wrappers); the two are not comparable at this load. The first version of
this bench (before the supernet's rewrite passes) printed 1.014x (loop) and 0.981x (lightning);
those figures are withdrawn, and the lightning mode has not been rerun since.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Builds the supernet; sets `net`, `weights`, `alphas` (run in the side's own venv).
NASDSL_NET = """
sys.path.insert(0, {root!r})
import nasdsl
from nasdsl.strategy import build_supernet
space = nasdsl.load('nasbench201', {{'C': {C}, 'N': {N}, 'in_channels': 3, 'resolution': 28, 'num_classes': 10}})
net = build_supernet(space, 'darts', seed=0)
weights = list(net.parameters())
alphas = list(net.arch_parameters())
"""

NNI_NET = """
import os, warnings
warnings.filterwarnings('ignore')
os.dup2(2, 1)  # NNI logs to stdout: keep it for the JSON reply
from nni.nas.hub.pytorch import NasBench201
from nni.nas.oneshot.pytorch.strategy import DARTS
net = DARTS().mutate_model(NasBench201(stem_out_channels={C}, num_modules_per_stack={N}, num_labels=10))
alphas = [p for n, p in net.named_parameters() if '_arch_alpha' in n]
weights = [p for n, p in net.named_parameters() if '_arch_alpha' not in n]
"""

# One side's run: the same code in both processes, after its NET block.
WORKER = """
import json, os, sys, time
import torch
reply = os.fdopen(os.dup(1), 'w')
torch.set_num_threads({threads}); torch.manual_seed(0)
{net}
data = torch.load({data!r}, weights_only=True)
xw, yw, xa, ya = data['xw'], data['yw'], data['xa'], data['ya']
w_opt = torch.optim.SGD(weights, lr=0.025, momentum=0.9, weight_decay=3e-4)
a_opt = torch.optim.Adam(alphas, lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
ce = torch.nn.functional.cross_entropy
net.train()
def step(i):
    a_opt.zero_grad()
    ce(net(xa[i]), ya[i]).backward()
    a_opt.step()
    w_opt.zero_grad()
    ce(net(xw[i]), yw[i]).backward()
    torch.nn.utils.clip_grad_norm_(weights, 5.0)
    w_opt.step()
for _ in range(2):
    step(0)
start, cpu = time.perf_counter(), time.process_time()
for i in range(len(xw)):
    step(i)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
json.dump({{'seconds': seconds, 'cpu': cpu, 'steps': len(xw), 'weights': sum(p.numel() for p in weights),
           'alphas': sum(p.numel() for p in alphas), 'loss': float(ce(net(xw[0]), yw[0]))}}, reply)
"""


# Mode "lightning": each side's own DARTS strategy in its own Lightning loop, one epoch over the
# same batches (weight half and architecture half, in order, no shuffling), timed by a callback
# from on_train_epoch_start to on_train_epoch_end (no validation, logger, checkpoint or bar).
LIGHTNING = """
import json, os, sys, time, warnings
warnings.filterwarnings('ignore')
reply = os.fdopen(os.dup(1), 'w')
os.dup2(2, 1)  # NNI and Lightning log to stdout: keep it for the JSON reply
import torch
torch.set_num_threads({threads}); torch.manual_seed(0)
import pytorch_lightning as pl
data = torch.load({data!r}, weights_only=True)
batch = data['xw'].shape[1]
weight_half = torch.utils.data.TensorDataset(data['xw'].flatten(0, 1), data['yw'].flatten(0, 1))
arch_half = torch.utils.data.TensorDataset(data['xa'].flatten(0, 1), data['ya'].flatten(0, 1))
class Clock(pl.Callback):
    def on_train_epoch_start(self, trainer, module):
        self.start, self.cpu = time.perf_counter(), time.process_time()
    def on_train_epoch_end(self, trainer, module):
        self.seconds, self.cpu = time.perf_counter() - self.start, time.process_time() - self.cpu
        self.steps = trainer.fit_loop.epoch_loop.batch_progress.current.completed
clock = Clock()
quiet = dict(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
             enable_model_summary=False, num_sanity_val_steps=0, callbacks=[clock])
{fit}
json.dump({{'seconds': clock.seconds, 'cpu': clock.cpu, 'steps': clock.steps, 'weights': sum(p.numel() for p in weights),
           'alphas': sum(p.numel() for p in alphas)}}, reply)
"""

# nasdsl: its Darts LightningModule (first order, its defaults: SGD 0.025/0.9/3e-4 with cosine
# schedule, clip 5; Adam 3e-4 for the architecture, NNI's rate, set outright since the default scales
# with the steps per epoch) on PairedDataset batches, as `nasdsl search`.
NASDSL_FIT = """
sys.path.insert(0, {root!r})
import nasdsl
from nasdsl.data import PairedDataset
from nasdsl.strategy import build_supernet
from nasdsl.strategy.darts import Darts
space = nasdsl.load('nasbench201', {{'C': {C}, 'N': {N}, 'in_channels': 3, 'resolution': 28, 'num_classes': 10}})
net = build_supernet(space, 'darts', seed=0)
weights, alphas = list(net.parameters()), list(net.arch_parameters())
trainer = pl.Trainer(accelerator='cpu', devices=1, **quiet)
loader = torch.utils.data.DataLoader(PairedDataset(weight_half, arch_half), batch_size=batch)
trainer.fit(Darts(net, order=1, arch_lr=3e-4), train_dataloaders=loader)
"""

# NNI: the DARTS strategy (gradient_clip_val=5) mutating the hub space and the Classification
# evaluator (SGD lr 0.025, momentum 0.9, weight decay 3e-4); the strategy pairs the evaluator's
# train loader (weights) with its val loader (architecture) in a CombinedLoader.
NNI_FIT = """
import functools
from nni.nas.evaluator.pytorch import Classification, DataLoader
from nni.nas.hub.pytorch import NasBench201
from nni.nas.oneshot.pytorch.strategy import DARTS
evaluator = Classification(train_dataloaders=DataLoader(weight_half, batch_size=batch),
                           val_dataloaders=DataLoader(arch_half, batch_size=batch), learning_rate=0.025,
                           weight_decay=3e-4, optimizer=functools.partial(torch.optim.SGD, momentum=0.9),
                           num_classes=10, **quiet)
strategy = DARTS(gradient_clip_val=5.0)
net = strategy.mutate_model(NasBench201(stem_out_channels={C}, num_modules_per_stack={N}, num_labels=10))
alphas = [p for n, p in net.named_parameters() if '_arch_alpha' in n]
weights = [p for n, p in net.named_parameters() if '_arch_alpha' not in n]
strategy.mutate_evaluator(evaluator).evaluate(net)
"""

# Mode "process": the whole command a user runs, as one process per side.
# nasdsl: `nasdsl search nasbench201 --strategy darts --data mnist5k --set C=8 --set N=1 --epochs 1
# --batch-size 64` (its defaults: CSV log, last.ckpt, validation each epoch, plot, run files).
NASDSL_PROCESS = """
import sys, torch
torch.set_num_threads({threads})
sys.path.insert(0, {root!r})
from nasdsl.cli import main
sys.exit(main(['search', 'nasbench201', '--strategy', 'darts', '--data', 'mnist5k', '--set', 'C={C}', '--set',
               'N={N}', '--epochs', '1', '--batch-size', '{batch}', '--seed', '0', '--out', {out!r}]))
"""

# NNI: its DARTS strategy on its hub NAS-Bench-201 and a Classification evaluator (SGD lr 0.025,
# momentum 0.9, weight decay 3e-4, gradient clip 5), one epoch over the batches nasdsl's search
# draws (weight half as train loader, architecture half as val loader, in nasdsl's order), read
# from an .npz of arrays as nasdsl reads mnist5k from its cache; the trainer's defaults (its
# logger, checkpoint and model summary) but no progress bar, as nasdsl when stderr is not a
# terminal; then the architecture exported and printed.
NNI_PROCESS = """
import functools, json, os, warnings
warnings.filterwarnings('ignore')
import numpy as np, torch
torch.set_num_threads({threads}); torch.manual_seed(0)
from nni.nas.evaluator.pytorch import Classification, DataLoader
from nni.nas.hub.pytorch import NasBench201
from nni.nas.oneshot.pytorch.strategy import DARTS
with np.load({data!r}, allow_pickle=False) as f:
    xw, yw, xa, ya = (torch.from_numpy(f[k]) for k in ('xw', 'yw', 'xa', 'ya'))
rgb = lambda x: x.expand(-1, 3, -1, -1)   # NNI's hub stem takes 3 channels
weight_half = torch.utils.data.TensorDataset(rgb(xw), yw)
arch_half = torch.utils.data.TensorDataset(rgb(xa), ya)
evaluator = Classification(train_dataloaders=DataLoader(weight_half, batch_size={batch}),
                           val_dataloaders=DataLoader(arch_half, batch_size={batch}), learning_rate=0.025,
                           weight_decay=3e-4, optimizer=functools.partial(torch.optim.SGD, momentum=0.9),
                           num_classes=10, max_epochs=1, enable_progress_bar=False, default_root_dir={out!r})
strategy = DARTS(gradient_clip_val=5.0)
net = strategy.mutate_model(NasBench201(stem_out_channels={C}, num_modules_per_stack={N}, num_labels=10))
search = strategy.mutate_evaluator(evaluator)
search.evaluate(net)
print('architecture (darts):', json.dumps(search.module.export(), default=str))
"""


def prepare_process(path: Path, batch_size: int, seed: int = 0) -> int:
    """Writes (as float32/int64 arrays, .npz) the weight and architecture batches of one epoch in
    the order `nasdsl search --strategy darts --arch-data half --seed SEED` draws them; returns
    the number of batch pairs."""
    import numpy as np
    import torch

    from nasdsl.data import EpochShuffle, load_data
    data = load_data("mnist5k", seed)
    x, y = data.train.tensors
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed)).tolist()
    half = len(order) // 2
    weight, arch = torch.tensor(order[:half]), torch.tensor(order[half: 2 * half])
    pairs = torch.tensor(list(EpochShuffle(half, seed)))          # epoch 0 of the search's sampler
    n = half // batch_size                                         # drop_last
    pairs = pairs[: n * batch_size]
    w, a = weight[pairs], arch[pairs]
    np.savez(path, xw=x[w].numpy(), yw=y[w].numpy(), xa=x[a].numpy(), ya=y[a].numpy())
    return n


def run_process(python: str, code: str, cwd: Path, env: dict) -> dict:
    """One whole process: its CPU time (user + system, children included) and wall time."""
    import resource
    import time
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=cwd, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{python} failed:\n{done.stderr[-3000:]}")
    found = [line for line in done.stdout.splitlines() if line.startswith("architecture (darts)")]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu": cpu, "wall": wall, "arch": found[-1] if found else "?"}


def compare_processes(opts) -> None:
    """Alternating whole processes (nasdsl first in odd pairs, NNI first in even ones)."""
    import os
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "mnist5k_pairs.npz"
        steps = prepare_process(data, opts.batch_size)
        env = {**os.environ, "NASDSL_CACHE_DIR": str(tmp / "cache"), "PYTHONWARNINGS": "ignore"}
        env.pop("NASDSL_NO_CACHE", None)
        fmt = {"root": str(ROOT), "C": opts.C, "N": opts.N, "batch": opts.batch_size, "threads": opts.threads}
        codes = {"nasdsl": lambda out: (sys.executable, NASDSL_PROCESS.format(**fmt, out=str(out))),
                 "nni": lambda out: (opts.nni_python, NNI_PROCESS.format(**fmt, out=str(out), data=str(data)))}
        print(f"-- mode process: {steps} batch pairs of {opts.batch_size}; nasdsl's cache warmed by one untimed "
              "run (mnist5k arrays and the compiled space)", flush=True)
        run_process(*codes["nasdsl"](tmp / "warm"), cwd=tmp, env=env)
        times: dict[str, list[dict]] = {"nasdsl": [], "nni": []}
        for r in range(opts.repeats):
            for name in (("nasdsl", "nni") if r % 2 == 0 else ("nni", "nasdsl")):
                out = tmp / f"{name}-{r}"
                result = run_process(*codes[name](out), cwd=tmp, env=env)
                times[name].append(result)
                print(f"pair {r + 1} {name:6s}: CPU {result['cpu']:.2f} s, wall {result['wall']:.2f} s  "
                      f"{result['arch'][:60]}", flush=True)
        print(f"process: NB201 C={opts.C} N={opts.N}, mnist5k, batch {opts.batch_size}, one epoch of {steps} DARTS "
              f"steps, threads {opts.threads}, {opts.repeats} alternating pairs")
        for name in ("nasdsl", "nni"):
            cpu = [t["cpu"] for t in times[name]]
            wall = [t["wall"] for t in times[name]]
            print(f"  {name:6s}: CPU median {statistics.median(cpu):.2f} s (range {min(cpu):.2f}-{max(cpu):.2f}), "
                  f"wall median {statistics.median(wall):.2f} s (range {min(wall):.2f}-{max(wall):.2f})")
        ratios = sorted(a["cpu"] / b["cpu"] for a, b in zip(times["nasdsl"], times["nni"]))
        med = {k: statistics.median(t["cpu"] for t in v) for k, v in times.items()}
        print(f"  nasdsl / nni CPU: {med['nasdsl'] / med['nni']:.3f}x (ratio of medians); per pair "
              f"{ratios[0]:.3f}-{ratios[-1]:.3f}x, median {statistics.median(ratios):.3f}x", flush=True)


def prepare(path: Path, batch_size: int, seed: int = 0) -> int:
    """Writes the epoch's batches (weight half, architecture half) to `path`; returns their number."""
    import torch

    from nasdsl.data import load_data
    data = load_data("mnist5k", seed)
    x = torch.stack([data.train[i][0] for i in range(len(data.train))]).float()
    y = torch.tensor([int(data.train[i][1]) for i in range(len(data.train))])
    x = x.expand(-1, 3, -1, -1).contiguous()  # 1 -> 3 channels: NNI's stem takes RGB
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    half = len(order) // 2
    n = half // batch_size
    w_idx, a_idx = order[:half][: n * batch_size], order[half: 2 * half][: n * batch_size]
    shape = (n, batch_size)
    torch.save({"xw": x[w_idx].reshape(*shape, *x.shape[1:]), "yw": y[w_idx].reshape(shape),
                "xa": x[a_idx].reshape(*shape, *x.shape[1:]), "ya": y[a_idx].reshape(shape)}, path)
    return n


def run_side(python: str, template: str, side_code: str, data: Path, threads: int) -> dict:
    code = template.format(threads=threads, net=side_code, fit=side_code, data=str(data))
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def compare(mode: str, sides: dict, data: Path, opts) -> None:
    """Alternating runs of both sides in one mode; prints each run, then median, range, ratio."""
    template = WORKER if mode == "loop" else LIGHTNING
    times: dict[str, list[float]] = {"nasdsl": [], "nni": []}
    walls: dict[str, list[float]] = {"nasdsl": [], "nni": []}
    seen: dict[str, dict] = {}
    print(f"-- mode {mode}", flush=True)
    for r in range(opts.repeats):
        for name in (("nasdsl", "nni") if r % 2 == 0 else ("nni", "nasdsl")):
            python, code = sides[name][mode]
            result = run_side(python, template, code, data, opts.threads)
            seen[name] = result
            times[name].append(result["cpu"])
            walls[name].append(result["seconds"])
            print(f"repeat {r + 1} {name:6s}: CPU {result['cpu']:.2f} s, wall {result['seconds']:.2f} s "
                  f"({result['steps']} steps)", flush=True)
        if r == 0:
            a, b = seen["nasdsl"], seen["nni"]
            assert (a["weights"], a["alphas"], a["steps"]) == (b["weights"], b["alphas"], b["steps"]), (a, b)
            print(f"same supernet size: {a['weights']} weights, {a['alphas']} architecture parameters")
    steps = seen["nasdsl"]["steps"]
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{mode}: NB201 C={opts.C} N={opts.N}, mnist5k as 3x28x28, batch {opts.batch_size}, {steps} DARTS steps "
          f"(one epoch), threads {opts.threads}, {opts.repeats} alternating repeats")
    for name in ("nasdsl", "nni"):
        print(f"  {name:6s}: CPU median {med[name]:.2f} s, range {min(times[name]):.2f}-{max(times[name]):.2f} s "
              f"({med[name] / steps * 1e3:.0f} ms/step); wall median {statistics.median(walls[name]):.2f} s")
    ratios = sorted(a / b for a, b in zip(times["nasdsl"], times["nni"]))
    print(f"  nasdsl / nni CPU: {med['nasdsl'] / med['nni']:.3f}x (ratio of medians); per repeat pair "
          f"{ratios[0]:.3f}-{ratios[-1]:.3f}x, median {statistics.median(ratios):.3f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nni-python", required=True, help="python of a venv with NNI 3.0 (nni-venv.sh)")
    parser.add_argument("--mode", choices=("loop", "lightning", "both", "process"), default="both",
                        help="loop: one shared hand-written loop; lightning: each side's DARTS strategy (default "
                             "both: loop and lightning); process: the whole command, one process per side")
    parser.add_argument("--repeats", type=int, default=5, help="alternating runs per side (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on both sides (default 1)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--C", type=int, default=8, help="NB201 channels of the first stage (default 8)")
    parser.add_argument("--N", type=int, default=1, help="NB201 cells per stage (default 1)")
    opts = parser.parse_args()
    if opts.mode == "process":
        compare_processes(opts)
        return

    fmt = {"root": str(ROOT), "C": opts.C, "N": opts.N}
    sides = {"nasdsl": {"loop": (sys.executable, NASDSL_NET.format(**fmt)),
                        "lightning": (sys.executable, NASDSL_FIT.format(**fmt))},
             "nni": {"loop": (opts.nni_python, NNI_NET.format(**fmt)),
                     "lightning": (opts.nni_python, NNI_FIT.format(**fmt))}}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "mnist5k_epoch.pt"
        prepare(data, opts.batch_size)
        for mode in (("loop", "lightning") if opts.mode == "both" else (opts.mode,)):
            compare(mode, sides, data, opts)


if __name__ == "__main__":
    main()
