"""Lowering speed and memory, as ratios measured side by side in one run (nothing asserted).

1. discrete NB201 model (nasdsl) vs a hand-written PyTorch model of the same architecture,
   forward + backward, batch 64 (target <= 1.02x);
2. a sampling (spos) supernet step vs the discrete model of the sampled path (<= 1.10x);
3. time to build the discrete model of an architecture (NB201; target <= 12 ms);
4. DARTS supernet train step (batch 8x3x32x32, NB201 C=16 N=5): time and peak RSS, and the same
   for NNI 3.0's DARTS on its hub NasBench201 when an NNI venv exists
   (`../shared/baselines/nni-venv.sh /tmp/nni-venv`; pass --nni-python /tmp/nni-venv/bin/python).

    python bench/bench_lowering.py [--threads 1] [--nni-python /tmp/nni-venv/bin/python]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def timed(fn, repeat: int = 10, warmup: int = 2) -> float:
    """Median seconds of `fn()` after warm-up."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def hand_written_nb201(genotype: list[list[tuple[str, int]]], C: int = 16, N: int = 5, classes: int = 10):
    """NAS-Bench-201's network for one genotype, written directly in PyTorch (the baseline)."""
    from torch import nn

    def relu_conv_bn(cin, cout, k, stride, pad):
        return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, k, stride, pad, bias=False), nn.BatchNorm2d(cout))

    def op(name, c):
        if name == "nor_conv_3x3":
            return relu_conv_bn(c, c, 3, 1, 1)
        if name == "nor_conv_1x1":
            return relu_conv_bn(c, c, 1, 1, 0)
        if name == "avg_pool_3x3":
            return nn.AvgPool2d(3, 1, 1, count_include_pad=False)
        if name == "skip_connect":
            return nn.Identity()
        return None  # none: contributes nothing

    class Cell(nn.Module):
        def __init__(self, c):
            super().__init__()
            edges = [(name, j) for node in genotype for name, j in node]
            self.edges = nn.ModuleList(op(name, c) or nn.Identity() for name, _ in edges)
            sizes = [len(node) for node in genotype]
            starts = [sum(sizes[:i]) for i in range(len(sizes))]
            self.plan = [[(starts[i] + k, j, name != "none") for k, (name, j) in enumerate(node)]
                         for i, node in enumerate(genotype)]

        def forward(self, x):
            nodes = [x]
            for node in self.plan:
                total = None
                for k, j, used in node:
                    y = self.edges[k](nodes[j]) if used else nodes[j] * 0.0
                    total = y if total is None else total + y
                nodes.append(total)
            return nodes[-1]

    class Residual(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.a = relu_conv_bn(cin, cout, 3, 2, 1)
            self.b = relu_conv_bn(cout, cout, 3, 1, 1)
            self.down = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

        def forward(self, x):
            return self.down(x) + self.b(self.a(x))

    layers = [nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C)]
    c_prev = C
    for stage in range(3):
        c = C * 2 ** stage
        if stage:
            layers.append(Residual(c_prev, c))
        layers += [Cell(c) for _ in range(N)]
        c_prev = c
    layers += [nn.BatchNorm2d(c_prev), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_prev, classes)]
    return nn.Sequential(*layers)


def parse_genotype(text: str) -> list[list[tuple[str, int]]]:
    return [[(item.split("~")[0], int(item.split("~")[1])) for item in node.strip("|").split("|")]
            for node in text.split("+")]


def step_fn(model, x, arch_step=None):
    def step():
        model.zero_grad(set_to_none=True)
        if arch_step is not None:
            arch_step()
        model(x).sum().backward()
    return step


def peak_rss_of(code: str, python: str = sys.executable) -> dict:
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


DARTS_STEP = """
import json, resource, statistics, sys, time, torch
sys.path.insert(0, '.')
torch.set_num_threads({threads}); torch.manual_seed(0)
import nasdsl
from nasdsl.strategy import build_supernet
net = build_supernet(nasdsl.load('nasbench201'), 'darts')
w_opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9)
a_opt = torch.optim.Adam(net.arch_parameters(), lr=3e-4)
x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
def step():
    a_opt.zero_grad(); torch.nn.functional.cross_entropy(net(x), y).backward(); a_opt.step()
    w_opt.zero_grad(); torch.nn.functional.cross_entropy(net(x), y).backward(); w_opt.step()
for _ in range(2): step()
ts = []
for _ in range(5):
    t = time.perf_counter(); step(); ts.append(time.perf_counter() - t)
print(json.dumps({{"step_s": statistics.median(ts), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

NNI_STEP = """
import json, resource, statistics, time, torch, warnings
warnings.filterwarnings('ignore')
torch.set_num_threads({threads}); torch.manual_seed(0)
from nni.nas.hub.pytorch import NasBench201
from nni.nas.oneshot.pytorch.strategy import DARTS
net = DARTS().mutate_model(NasBench201())
arch = [p for n, p in net.named_parameters() if '_arch_alpha' in n]
weights = [p for n, p in net.named_parameters() if '_arch_alpha' not in n]
w_opt = torch.optim.SGD(weights, lr=0.025, momentum=0.9)
a_opt = torch.optim.Adam(arch, lr=3e-4)
x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
def step():
    a_opt.zero_grad(); torch.nn.functional.cross_entropy(net(x), y).backward(); a_opt.step()
    w_opt.zero_grad(); torch.nn.functional.cross_entropy(net(x), y).backward(); w_opt.step()
for _ in range(2): step()
ts = []
for _ in range(5):
    t = time.perf_counter(); step(); ts.append(time.perf_counter() - t)
print(json.dumps({{"step_s": statistics.median(ts), "arch_params": sum(p.numel() for p in arch),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: stable timings)")
    parser.add_argument("--nni-python", help="python of a venv with NNI 3.0 for the DARTS comparison")
    opts = parser.parse_args()

    import torch

    import nasdsl
    from nasdsl.formats import nb201_to_arch
    from nasdsl.lower.discrete import build
    from nasdsl.strategy import build_supernet
    torch.set_num_threads(opts.threads)
    torch.manual_seed(0)
    space = nasdsl.load("nasbench201")
    arch = nb201_to_arch(space, ARCH)

    ours = build(space, arch, channels_last=False)   # the hand-written model's layout: the lowering's own cost
    theirs = hand_written_nb201(parse_genotype(ARCH))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    x = torch.randn(64, 3, 32, 32)
    t_ours, t_hand = timed(step_fn(ours, x)), timed(step_fn(theirs, x))
    print(f"threads: {opts.threads}")
    print(f"1. discrete NB201 fwd+bwd, batch 64: nasdsl {t_ours * 1e3:.1f} ms, hand-written {t_hand * 1e3:.1f} ms, "
          f"ratio {t_ours / t_hand:.3f}x (target <= 1.02x)")

    net = build_supernet(space, "spos", seed=0)
    x8 = torch.randn(32, 3, 32, 32)
    ratios = []
    for seed in range(3):
        sampled = space.sample(seed)
        net.fix(sampled)
        model = build(space, sampled)
        ratios.append(timed(step_fn(net, x8), repeat=6) / timed(step_fn(model, x8), repeat=6))
    print(f"2. spos supernet step / discrete model of the sampled path, batch 32: "
          f"{', '.join(f'{r:.3f}' for r in ratios)} (median {statistics.median(ratios):.3f}x, target <= 1.10x)")

    archs = [space.sample(s) for s in range(20)]
    build(space, archs[0])
    start = time.perf_counter()
    for a in archs:
        build(space, a)
    per_build = (time.perf_counter() - start) / len(archs)
    genotype = parse_genotype(ARCH)
    hand_build = timed(lambda: hand_written_nb201(genotype), repeat=10)
    print(f"3. build a discrete NB201 model from an architecture: {per_build * 1e3:.2f} ms (target <= 12 ms); "
          f"constructing the hand-written model alone: {hand_build * 1e3:.2f} ms")

    ours_darts = peak_rss_of(DARTS_STEP.format(threads=opts.threads))
    line = (f"4. DARTS supernet train step (arch + weight step), NB201 C=16 N=5, batch 8: nasdsl "
            f"{ours_darts['step_s'] * 1e3:.0f} ms, peak RSS {ours_darts['peak_rss_mb']:.0f} MB")
    if opts.nni_python:
        nni = peak_rss_of(NNI_STEP.format(threads=opts.threads), python=opts.nni_python)
        line += (f"; NNI 3.0 {nni['step_s'] * 1e3:.0f} ms, {nni['peak_rss_mb']:.0f} MB; ratio time "
                 f"{ours_darts['step_s'] / nni['step_s']:.2f}x, memory {ours_darts['peak_rss_mb'] / nni['peak_rss_mb']:.2f}x")
    else:
        line += " (pass --nni-python for the NNI 3.0 side)"
    print(line)


if __name__ == "__main__":
    main()
