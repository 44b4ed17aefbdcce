"""How well a trained path supernet ranks the ground-truth table, under several scoring rules.

    python bench/spos_ranking.py RUN_DIR [--archs 100] [--quick] [--finetune K] [--save S.json]
    python bench/spos_ranking.py --saved S1.json S2.json ...     # rank saved scores; several: their ensemble
    python bench/spos_ranking.py RUN_DIR --few-shot Cell.e1_0 [--few-shot-epochs 2] [--save S.json]
    python bench/spos_ranking.py                                  # only the ceiling and the no-supernet rules

`RUN_DIR` is a finished `random_oneshot` or `spos` search of `bench_oneshot_outcomes.py` (the
table's space and data split; both strategies train the same supernet at a seed). Each of the
table's first `--archs` cells inherits the supernet's weights and is scored by:

* `acc10` / `acc50`: accuracy on the whole validation split (750 images, one batch) after
  recalibrating batch norm on 10 / 50 training batches of 64 (cumulative average): `acc10` is
  SPOS's own `score` and the bench's tau;
* `nll10` / `nll50`: minus the validation cross-entropy after the same recalibrations (a loss
  separates cells that an accuracy near 0.97 ties);
* `train_nll50` / `train_acc50`: the same on the whole training split (3,500 images);
* with `--finetune K`, `ftK_acc` / `ftK_nll`: the inherited path trained K more SGD steps alone
  (lr 0.025, momentum 0.9), then scored as `acc10` / `nll10`;
* with `--few-shot EDGE`, instead, `fs_acc10` / `fs_nll10`: scored on few-shot sub-supernets, one
  per op of `EDGE`, each trained `--few-shot-epochs` more fair epochs from the supernet's weights
  with that edge held (`few_shot`).

It prints Kendall's tau-b of each score against the table's 2-seed mean test accuracy (and
against each seed alone), over all scored cells and over the connected ones (above chance);
beside them the ceiling (the table's seed 0 against seed 1 over the same cells, and what a
perfect ranker would reach against the mean, `ceiling`), the tau of the cells' parameter count
and of their number of `nor_conv_3x3` edges (scores that need no supernet), and the spread of
`acc10` over the connected cells beside the binomial noise of one score on 750 images. Several
supernets (run directories or `--saved` files) are also ranked as an ensemble: each cell's mean
rank over the supernets. About 570 CPU seconds for 100 cells (one thread); `--quick` a sixth of
that, `--finetune 20` about 2 CPU s a cell more. Measured: `bench/results_oneshot.md`.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_oneshot_outcomes import kendall_tau  # noqa: E402
from nb201_mnist5k import TABLE, load_space_and_data, mean_accuracy, read_table, table_archs  # noqa: E402


def scores(run_dir: Path, archs: list[dict], space, data, quick: bool = False,
           finetune: int = 0) -> list[dict[str, float]]:
    """Each rule's score of every architecture in `archs` on the supernet of `run_dir` (with
    `quick`, only the 10-batch rules `acc10` and `nll10`: a sixth of the cost; with `finetune`
    K > 0, also `ft{K}_acc` / `ft{K}_nll`: the inherited path trained K more SGD steps, alone,
    then scored as `acc10` / `nll10`, the supernet's weights restored after each cell)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from nasdsl.checkpoint import load_search_checkpoint
    from nasdsl.strategy import build_supernet

    torch.set_num_threads(1)
    net = build_supernet(space, "random_oneshot", seed=0)
    state = load_search_checkpoint(run_dir / "last.ckpt")["state_dict"]
    net.load_state_dict({k[len("supernet."):]: v for k, v in state.items() if k.startswith("supernet.")})
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats]
    train = data.loader("train", 64, shuffle=True, seed=0)
    x_val, y_val = next(iter(data.loader("val", len(data.val))))
    x_train, y_train = next(iter(data.loader("train", len(data.train))))

    def recalibrate(batches: int) -> None:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        net.train()
        for i, (x, _) in enumerate(train):
            if i >= batches:
                break
            net(x)
        net.eval()

    def tune(steps: int) -> None:
        params = [p for p in net.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=0.025, momentum=0.9, weight_decay=3e-4)
        net.train()
        batches = iter(data.loader("train", 64, shuffle=True, seed=1))
        with torch.enable_grad():
            for _ in range(steps):
                x, y = next(batches)
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(net(x), y).backward()
                opt.step()

    saved = {k: v.clone() for k, v in net.state_dict().items()} if finetune else None
    out = []
    with torch.no_grad():
        for arch in archs:
            net.fix(arch)
            row = {}
            for batches in (10,) if quick else (10, 50):
                recalibrate(batches)
                logits = net(x_val)
                row[f"acc{batches}"] = float((logits.argmax(-1) == y_val).float().mean())
                row[f"nll{batches}"] = -float(F.cross_entropy(logits, y_val))
            if not quick:
                logits = net(x_train)
                row["train_nll50"] = -float(F.cross_entropy(logits, y_train))
                row["train_acc50"] = float((logits.argmax(-1) == y_train).float().mean())
            if finetune:
                tune(finetune)
                recalibrate(10)
                logits = net(x_val)
                row[f"ft{finetune}_acc"] = float((logits.argmax(-1) == y_val).float().mean())
                row[f"ft{finetune}_nll"] = -float(F.cross_entropy(logits, y_val))
                net.load_state_dict(saved)
            out.append(row)
    return out


def few_shot(run_dir: Path, archs: list[dict], space, data, edge: str, epochs: int,
             seed: int = 0) -> list[dict[str, float]]:
    """Few-shot NAS (Zhao et al. 2021) on the supernet of `run_dir`: one sub-supernet per value of
    the decision `edge`, each starting from the trained supernet's weights and trained `epochs`
    more epochs with fair path sampling (the supernet's recipe: SGD lr 0.025 cosine to 1e-3,
    momentum 0.9, wd 3e-4, clip 5, batches of 64 over the training split) with `edge` held at its
    value; each cell of `archs` is then scored (`fs_acc10`, `fs_nll10`) on the sub-supernet of
    its own value. Costs `epochs` fair epochs per value of `edge`, plus the scoring."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from nasdsl.checkpoint import load_search_checkpoint
    from nasdsl.strategy import build_supernet
    from nasdsl.strategy.random_oneshot import fair_choosers

    torch.set_num_threads(1)
    net = build_supernet(space, "random_oneshot", seed=0)
    state = load_search_checkpoint(run_dir / "last.ckpt")["state_dict"]
    start = {k[len("supernet."):]: v for k, v in state.items() if k.startswith("supernet.")}
    decision = next(d for d in space.decisions if d.label == edge)
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats]
    x_val, y_val = next(iter(data.loader("val", len(data.val))))
    out: list[dict[str, float]] = [{} for _ in archs]
    for value in decision.values:
        net.load_state_dict(start)
        rng = random.Random(seed)
        weights = list(net.parameters())
        opt = torch.optim.SGD(weights, lr=0.025, momentum=0.9, weight_decay=3e-4)
        loader = data.loader("train", 64, shuffle=True, seed=seed, drop_last=True)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * len(loader), eta_min=1e-3)
        net.train()
        for _ in range(epochs):
            for x, y in loader:
                opt.zero_grad(set_to_none=True)
                for choose in fair_choosers(space, rng):
                    net.resample(lambda d, choose=choose, value=value: value if d.label == edge else choose(d))
                    F.cross_entropy(net(x), y).backward()
                torch.nn.utils.clip_grad_norm_(weights, 5.0)
                opt.step()
                sched.step()
        with torch.no_grad():
            for i, arch in enumerate(archs):
                if arch.get(edge) != value:
                    continue
                net.fix(arch)
                for m in norms:
                    m.reset_running_stats()
                    m.momentum = None
                net.train()
                for b, (x, _) in enumerate(data.loader("train", 64, shuffle=True, seed=0)):
                    if b >= 10:
                        break
                    net(x)
                net.eval()
                logits = net(x_val)
                out[i]["fs_acc10"] = float((logits.argmax(-1) == y_val).float().mean())
                out[i]["fs_nll10"] = -float(F.cross_entropy(logits, y_val))
        print(f"few-shot: sub-supernet {edge}={value} trained and scored", file=sys.stderr, flush=True)
    return out


def ranks(values: list[float]) -> list[float]:
    """Each value's rank (0 = smallest; ties share their mean rank)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in order[i: j + 1]:
            out[k] = (i + j) / 2
        i = j + 1
    return out


def ceiling(seed_tau: float) -> float:
    """The Kendall tau a perfect ranker of the true (noise-free) accuracy would reach against the
    mean of two seeds whose accuracies agree at `seed_tau`, under a bivariate-normal model
    (tau = 2/pi asin(rho)): one seed's reliability r is rho(seed 0, seed 1); the 2-seed mean's
    is 2r / (1 + r), and the ranker correlates with it at sqrt of that.

    Example::

        >>> round(ceiling(0.642), 3)
        0.813
    """
    r = math.sin(math.pi * seed_tau / 2)
    return 2 / math.pi * math.asin(math.sqrt(2 * r / (1 + r)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", type=Path, nargs="*", help="trained supernets (random_oneshot / spos run directories)")
    parser.add_argument("--archs", type=int, default=100, help="the table's first N cells")
    parser.add_argument("--quick", action="store_true", help="only the 10-batch rules (acc10, nll10)")
    parser.add_argument("--finetune", type=int, default=0, metavar="K",
                        help="also score each cell after K SGD steps of its inherited path (ft{K}_acc, ft{K}_nll)")
    parser.add_argument("--few-shot", metavar="EDGE", help="score on few-shot sub-supernets split on this decision "
                        "(e.g. Cell.e1_0) instead (fs_acc10, fs_nll10)")
    parser.add_argument("--few-shot-epochs", type=int, default=2, metavar="E",
                        help="fair epochs each sub-supernet trains from the supernet's weights (default 2)")
    parser.add_argument("--table", type=Path, default=TABLE,
                        help="rank against this table's cells (e.g. a probe table of a longer recipe)")
    parser.add_argument("--save", type=Path, help="write the scores (one run directory) to this JSON file")
    parser.add_argument("--saved", type=Path, nargs="*", default=[],
                        help="scores written by --save, ranked as if scored again (several: also their ensemble)")
    args = parser.parse_args(argv)
    from nasdsl.formats.nb201 import arch_to_nb201
    space, data = load_space_and_data()
    rows = read_table(args.table)
    mean = mean_accuracy(rows)
    by_seed: dict[int, dict[str, float]] = {}
    for row in rows:
        by_seed.setdefault(row["seed"], {})[row["arch"]] = row["test_acc"]
    params = {r["arch"]: r["params"] for r in rows}
    archs = table_archs(space, args.archs)
    keys = [arch_to_nb201(space, a) for a in archs]
    table = [mean[k] for k in keys]
    connected = [i for i, k in enumerate(keys) if mean[k] > 0.5]
    supernets: dict[str, dict[str, list[float]]] = {}
    for run_dir in args.run_dirs:
        if args.few_shot:
            rules = few_shot(run_dir, archs, space, data, args.few_shot, args.few_shot_epochs)
        else:
            rules = scores(run_dir, archs, space, data, quick=args.quick, finetune=args.finetune)
        supernets[str(run_dir)] = {rule: [r[rule] for r in rules] for rule in rules[0]}
        if args.save is not None:
            args.save.write_text(json.dumps({"run": str(run_dir), "archs": keys,
                                             "scores": supernets[str(run_dir)]}, indent=1) + "\n")
    for path in args.saved:
        saved = json.loads(path.read_text())
        if saved["archs"][: len(keys)] != keys:
            raise SystemExit(f"{path} scored other cells than the table's first {len(keys)}")
        supernets[f"{saved['run']} ({path.name})"] = {rule: v[: len(keys)] for rule, v in saved["scores"].items()}
    seeds = sorted(by_seed)
    both = len(seeds) >= 2 and all(k in by_seed[s] for k in keys for s in seeds[:2])
    print(f"{len(keys)} cells ({len(connected)} connected); Kendall tau against the table's "
          f"{'2-seed mean' if both else 'mean'} test accuracy" + (", and against each seed" if both else ""))
    if both:
        s0, s1 = ([by_seed[s][k] for k in keys] for s in seeds[:2])
        tau_seeds = kendall_tau(s0, s1)
        tau_seeds_c = kendall_tau([s0[i] for i in connected], [s1[i] for i in connected])
        print(f"  ceiling: seed {seeds[0]} vs seed {seeds[1]} all {tau_seeds:6.3f}   connected {tau_seeds_c:6.3f}; "
              f"a perfect ranker vs the mean (normal model) all {ceiling(tau_seeds):6.3f}   "
              f"connected {ceiling(tau_seeds_c):6.3f}")
    n_val = len(data.val)

    def report(name: str, values: list[float]) -> None:
        tau = kendall_tau(values, table)
        tau_connected = kendall_tau([values[i] for i in connected], [table[i] for i in connected])
        line = f"  {name:30s} all {tau:6.3f}   connected {tau_connected:6.3f}"
        if both:
            line += f"   seed {seeds[0]} {kendall_tau(values, s0):6.3f}   seed {seeds[1]} {kendall_tau(values, s1):6.3f}"
        print(line)

    for run, columns in supernets.items():
        if len(supernets) > 1:
            print(f" {run}")
        for rule, values in columns.items():
            report(rule, values)
        if "acc10" in columns:
            acc = [columns["acc10"][i] for i in connected]
            p = statistics.mean(acc)
            print(f"    acc10 over the connected cells: mean {p:.4f}, std {statistics.pstdev(acc):.4f}; "
                  f"binomial std of one score on {n_val} validation images {math.sqrt(p * (1 - p) / n_val):.4f}")
    if len(supernets) > 1:
        print(f" ensemble of {len(supernets)} supernets (mean rank)")
        common = set.intersection(*(set(c) for c in supernets.values()))
        for rule in sorted(common):
            per = [ranks(c[rule]) for c in supernets.values()]
            report(rule, [sum(col) / len(per) for col in zip(*per)])
    report("params (no supernet)", [params[k] for k in keys])
    report("nor_conv_3x3 edges (no supernet)", [k.count("nor_conv_3x3") for k in keys])
    acc = [table[i] for i in connected]
    print(f"  the table's 2-seed mean over the connected cells: std {statistics.pstdev(acc):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
