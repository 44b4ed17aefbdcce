"""A ground-truth table for one-shot search: NAS-Bench-201 cells trained standalone on mnist5k.

    python bench/nb201_mnist5k.py [--archs 200] [--seeds 0,1] [--out bench/results/nb201_mnist5k.csv] [--epochs 2]

The space is the library's NAS-Bench-201 (`spaces/nasbench201.nas`) at `C=8, N=1` (one cell per
stage, 5 cells in all), fitted to mnist5k (`in_channels=1`, 28x28): small enough that one
architecture trains in 5-10 s of one CPU core, large enough that architectures differ by more
than seed noise on mnist5k (on digits every connected cell scores 0.98-1.00, so digits can
rank nothing). The architectures are `--archs` distinct uniform draws from the space (seeded,
so the same list every run; disconnected cells included, as a uniform sample has them); each
is trained once per seed with `RECIPE` (`nasdsl.train.train_architecture`, 1 thread, the data
split of seed 0 for every run), and its test and validation accuracy are written per seed.

The table is append-only and keyed by (arch, seed): an interrupted run picks up where it
stopped. On this machine (2 cores, one used) the default table takes about 45 minutes.
`tests/test_oneshot_outcomes.py` retrains a few rows and checks that they reproduce.

Example::

    >>> RECIPE["epochs"], RECIPE["space_params"]
    (2, {'C': 8, 'N': 1})
"""
from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "bench" / "results" / "nb201_mnist5k.csv"
FIELDS = ("index", "arch", "seed", "test_acc", "val_acc", "params", "flops", "train_loss", "seconds")

# One fixed recipe for every standalone run: the table's and every retrained search result's.
RECIPE = {"data": "mnist5k", "data_seed": 0, "space": "nasbench201", "space_params": {"C": 8, "N": 1},
          "epochs": 2, "batch_size": 64, "lr": 0.05, "weight_decay": 3e-4, "threads": 1}


def load_space_and_data():
    """The table's space (fitted to the data) and the data, split as every run splits it."""
    import nasdsl
    from nasdsl.data import fit_space, load_data
    data = load_data(RECIPE["data"], RECIPE["data_seed"])
    space = fit_space(lambda p: nasdsl.load(RECIPE["space"], {**RECIPE["space_params"], **p}), data)
    return space, data


def standalone(space, data, arch, seed: int, epochs: int = RECIPE["epochs"]) -> dict:
    """Train `arch` from scratch with `RECIPE` (for `epochs`) and seed `seed`; the table's row fields."""
    import torch

    from nasdsl.train import train_architecture
    torch.set_num_threads(RECIPE["threads"])
    r = train_architecture(space, arch, data, epochs, seed, batch_size=RECIPE["batch_size"],
                           lr=RECIPE["lr"], weight_decay=RECIPE["weight_decay"])
    return {"test_acc": r["test_acc"], "val_acc": r["val_acc"], "params": r["params"], "flops": r["flops"],
            "train_loss": round(r["train_loss"], 6), "seconds": r["seconds"]}


def table_archs(space, n: int, seed: int = 0) -> list[dict]:
    """`n` distinct architectures drawn uniformly from `space`, in a fixed order."""
    from nasdsl.formats.nb201 import arch_to_nb201
    rng = random.Random(seed)
    seen, out = set(), []
    while len(out) < n:
        arch = space.sample(rng)
        key = arch_to_nb201(space, arch)
        if key not in seen:
            seen.add(key)
            out.append(arch)
    return out


def read_table(path: Path = TABLE) -> list[dict]:
    """The table's rows, numbers parsed."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for k in ("index", "seed", "params", "flops"):
            row[k] = int(row[k])
        for k in ("test_acc", "val_acc", "train_loss", "seconds"):
            row[k] = float(row[k])
    return rows


def mean_accuracy(rows: list[dict], metric: str = "test_acc") -> dict[str, float]:
    """NB201 string -> accuracy averaged over the table's seeds."""
    by: dict[str, list[float]] = {}
    for row in rows:
        by.setdefault(row["arch"], []).append(row[metric])
    return {arch: sum(v) / len(v) for arch, v in by.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", type=int, default=200)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--out", type=Path, default=TABLE)
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"],
                        help="a longer recipe than the table's, for a probe table of its first --archs cells")
    args = parser.parse_args(argv)
    from nasdsl.formats.nb201 import arch_to_nb201
    space, data = load_space_and_data()
    seeds = [int(s) for s in args.seeds.split(",")]
    done = set()
    if args.out.exists():
        done = {(r["arch"], r["seed"]) for r in read_table(args.out)}
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="") as f:
            csv.DictWriter(f, FIELDS).writeheader()
    for seed in seeds:   # every architecture once before any twice: a partial table is still a table
        for i, arch in enumerate(table_archs(space, args.archs)):
            text = arch_to_nb201(space, arch)
            if (text, seed) in done:
                continue
            row = {"index": i, "arch": text, "seed": seed, **standalone(space, data, arch, seed, args.epochs)}
            with open(args.out, "a", newline="") as f:
                csv.DictWriter(f, FIELDS).writerow(row)
            print(f"{i:4d} seed {seed} {row['test_acc']:.4f} {text}", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
