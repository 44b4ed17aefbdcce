"""How well a trained path supernet ranks the ground-truth table, under several scoring rules.

    python bench/spos_ranking.py RUN_DIR [--archs 100] [--quick]

`RUN_DIR` is a finished `random_oneshot` or `spos` search of `bench_oneshot_outcomes.py` (the
table's space and data split; both strategies train the same supernet at a seed). Each of the
table's first `--archs` cells inherits the supernet's weights and is scored by:

* `acc10` / `acc50`: validation accuracy (750 images) after recalibrating batch norm on 10 / 50
  training batches of 64 (cumulative average): `acc10` is SPOS's own `score` and the bench's tau;
* `nll10` / `nll50`: minus the validation cross-entropy after the same recalibrations (a loss
  separates cells that an accuracy near 0.97 ties);
* `train_nll50` / `train_acc50`: the same on the whole training split (3,500 images).

It prints Kendall's tau-b of each score against the table's 2-seed mean test accuracy, over all
scored cells and over the connected ones (above chance), and beside them the tau of the cells'
parameter count, a score that needs no supernet. About 570 CPU seconds for 100 cells (one
thread). Measured at 60 epochs (seed 0; `bench/results_oneshot.md`): every rule between -0.06
and 0.20, the parameter count 0.34.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_oneshot_outcomes import kendall_tau  # noqa: E402
from nb201_mnist5k import TABLE, load_space_and_data, mean_accuracy, read_table, table_archs  # noqa: E402


def scores(run_dir: Path, archs: list[dict], space, data, quick: bool = False) -> list[dict[str, float]]:
    """Each rule's score of every architecture in `archs` on the supernet of `run_dir` (with
    `quick`, only the 10-batch rules `acc10` and `nll10`: a sixth of the cost)."""
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
            if quick:
                out.append(row)
                continue
            logits = net(x_train)
            row["train_nll50"] = -float(F.cross_entropy(logits, y_train))
            row["train_acc50"] = float((logits.argmax(-1) == y_train).float().mean())
            out.append(row)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--archs", type=int, default=100, help="the table's first N cells")
    parser.add_argument("--quick", action="store_true", help="only the 10-batch rules (acc10, nll10)")
    parser.add_argument("--table", type=Path, default=TABLE,
                        help="rank against this table's cells (e.g. a probe table of a longer recipe)")
    args = parser.parse_args(argv)
    from nasdsl.formats.nb201 import arch_to_nb201
    space, data = load_space_and_data()
    rows = read_table(args.table)
    mean = mean_accuracy(rows)
    params = {r["arch"]: r["params"] for r in rows}
    archs = table_archs(space, args.archs)
    keys = [arch_to_nb201(space, a) for a in archs]
    table = [mean[k] for k in keys]
    connected = [i for i, k in enumerate(keys) if mean[k] > 0.5]
    rules = scores(args.run_dir, archs, space, data, quick=args.quick)
    columns = {rule: [r[rule] for r in rules] for rule in rules[0]}
    columns["params (no supernet)"] = [params[k] for k in keys]
    print(f"{len(keys)} cells ({len(connected)} connected); Kendall tau against the table's mean test accuracy")
    for rule, values in columns.items():
        tau = kendall_tau(values, table)
        tau_connected = kendall_tau([values[i] for i in connected], [table[i] for i in connected])
        print(f"  {rule:22s} all {tau:6.3f}   connected {tau_connected:6.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
