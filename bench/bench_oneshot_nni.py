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

What is timed, on both sides: the wall time of the epoch's loop of steps (27 pairs), after two
warm-up steps on the first pair that are not timed; process start, imports, data loading,
supernet construction and optimizer creation are excluded. The step code is one string run
in both processes; only the supernet differs.

What is NOT timed: Lightning. NNI 3.0's `DARTS` strategy runs the supernet inside its own
Lightning 2.0.9 training loop (nni.nas.experiment), and nasdsl's inside Lightning 2.6, with
different progress bars, loggers and validation; those loops are not compared here: both
supernets are driven by the same hand-written loop (as `bench_lowering.py` does for one
step), so the ratio is the cost of the supernets' forward and backward passes.

    bash ../shared/baselines/nni-venv.sh /tmp/nni-venv       # once, ~4 min
    python bench/bench_oneshot_nni.py --nni-python /tmp/nni-venv/bin/python [--repeats 5]

Results (2-core shared CPU, the machine busy with another test run; torch 2.13.0 CPU,
1 thread, 5 alternating repeats of one epoch = 27 steps of batch 64 per side):

    nasdsl: median 9.84 s, range 9.74-10.21 s (365 ms/step)
    nni   : median 9.77 s, range 9.48-9.85 s (362 ms/step)
    nasdsl / nni: 1.008x (ratio of medians); per repeat pair 0.999-1.046x, median 1.014x
    (both supernets: 100,722 weights, 30 architecture parameters; load average ~3 on 2 cores)

So one DARTS epoch costs the same on both sides to within the machine's noise (~4%): the
mixture supernet nasdsl lowers from the .nas file runs at NNI's hand-written hub speed.
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
start = time.perf_counter()
for i in range(len(xw)):
    step(i)
seconds = time.perf_counter() - start
json.dump({{'seconds': seconds, 'steps': len(xw), 'weights': sum(p.numel() for p in weights),
           'alphas': sum(p.numel() for p in alphas), 'loss': float(ce(net(xw[0]), yw[0]))}}, reply)
"""


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


def run_side(python: str, net_code: str, data: Path, threads: int) -> dict:
    code = WORKER.format(threads=threads, net=net_code, data=str(data))
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nni-python", required=True, help="python of a venv with NNI 3.0 (nni-venv.sh)")
    parser.add_argument("--repeats", type=int, default=5, help="alternating runs per side (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on both sides (default 1)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--C", type=int, default=8, help="NB201 channels of the first stage (default 8)")
    parser.add_argument("--N", type=int, default=1, help="NB201 cells per stage (default 1)")
    opts = parser.parse_args()

    sides = {"nasdsl": (sys.executable, NASDSL_NET.format(root=str(ROOT), C=opts.C, N=opts.N)),
             "nni": (opts.nni_python, NNI_NET.format(C=opts.C, N=opts.N))}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "mnist5k_epoch.pt"
        steps = prepare(data, opts.batch_size)
        times: dict[str, list[float]] = {"nasdsl": [], "nni": []}
        seen: dict[str, dict] = {}
        for r in range(opts.repeats):
            for name in (("nasdsl", "nni") if r % 2 == 0 else ("nni", "nasdsl")):
                python, net_code = sides[name]
                result = run_side(python, net_code, data, opts.threads)
                seen[name] = result
                times[name].append(result["seconds"])
                print(f"repeat {r + 1} {name:6s}: {result['seconds']:.2f} s ({result['steps']} steps)", flush=True)
            if r == 0:
                a, b = seen["nasdsl"], seen["nni"]
                assert (a["weights"], a["alphas"]) == (b["weights"], b["alphas"]), (a, b)
                print(f"same supernet size: {a['weights']} weights, {a['alphas']} architecture parameters")

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"NB201 C={opts.C} N={opts.N}, mnist5k as 3x28x28, batch {opts.batch_size}, {steps} DARTS steps "
          f"(one epoch), threads {opts.threads}, {opts.repeats} alternating repeats")
    for name in ("nasdsl", "nni"):
        print(f"  {name:6s}: median {med[name]:.2f} s, range {min(times[name]):.2f}-{max(times[name]):.2f} s "
              f"({med[name] / steps * 1e3:.0f} ms/step)")
    ratios = sorted(a / b for a, b in zip(times["nasdsl"], times["nni"]))
    print(f"  nasdsl / nni: {med['nasdsl'] / med['nni']:.3f}x (ratio of medians); per repeat pair "
          f"{ratios[0]:.3f}-{ratios[-1]:.3f}x, median {statistics.median(ratios):.3f}x")


if __name__ == "__main__":
    main()
