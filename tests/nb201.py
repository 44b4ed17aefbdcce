"""The NAS-Bench-201 tables the tests read: the real one from `../shared/data`, and a synthetic
one of the same shape that the default suite reads in its place.

The real table (`TABLE`) is outside the repository: a fresh clone has no `../shared`. Only the
tests about its numbers (search quality against its known optima, its latency fit) read it;
they carry `needs_table`, which skips them there and fails them under CI (`CI=true`), where
the table must be beside the clone (`tests/conftest.py`).

Every other test that needs a table (the evaluator, constraints, the stores, `fit-latency`'s
plumbing) reads the synthetic table, which `write_synthetic_table` writes in the real one's
on-disk format (gzipped CSV, the same columns, one row per NAS-Bench-201 string, all 15,625)
with made-up metrics derived from the architecture: a cell whose output no path of
non-`none` edges reaches is at chance, otherwise accuracy grows with its convolutions (and a
skip connection from the input to the output); every latency column is exactly additive over
the six edges (a base plus one cost per operation), so a per-decision fit recovers it. The
`nb201_table` fixture (`tests/conftest.py`) writes it once per session.
"""
from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import pytest

TABLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nb201_table.csv.gz"
needs_table = pytest.mark.needs_nb201_table
OPTIMUM = 94.37333333333333  # CIFAR-10 test accuracy of index 6111, the real table's maximum

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))   # (to, from) in the string's order
COLUMNS = ("index", "arch", "cifar10_test", "cifar100_test", "imagenet16_120_test", "latency_gold_6240",
           "latency_silver_4114", "latency_raspi4", "latency_pixel3", "latency_samsung_a50", "latency_eyeriss",
           "latency_fpga", "latency_titanxp_1", "latency_titanxp_256", "latency_2080ti_32")
CHANCE = {"cifar10_test": 10.0, "cifar100_test": 1.0, "imagenet16_120_test": 100 / 120}
GAIN = {"none": 0.0, "skip_connect": 1.5, "nor_conv_1x1": 3.0, "nor_conv_3x3": 4.0, "avg_pool_3x3": 0.5}
RESIDUAL = 3.0   # a skip_connect from the input (node 0) to the output (node 3)
# the synthetic cifar10_test accuracy is 70 + the gains + RESIDUAL + a jitter under 0.1 that
# makes every value distinct; the other two datasets scale it
SCALE = {"cifar10_test": 1.0, "cifar100_test": 0.75, "imagenet16_120_test": 0.47}
BASE = 3.0       # ms: latency_pixel3 of a cell of `none` edges
COST = {"none": 0.0, "skip_connect": 0.2, "nor_conv_1x1": 1.2, "nor_conv_3x3": 2.8, "avg_pool_3x3": 1.0}
# every latency column is latency_pixel3's times one factor per device
DEVICE = {"latency_gold_6240": 1.8, "latency_silver_4114": 2.9, "latency_raspi4": 4.5, "latency_pixel3": 1.0,
          "latency_samsung_a50": 2.2, "latency_eyeriss": 0.9, "latency_fpga": 0.6, "latency_titanxp_1": 1.6,
          "latency_titanxp_256": 3.1, "latency_2080ti_32": 1.4}


def nb201_string(ops: tuple[str, ...]) -> str:
    """The NAS-Bench-201 string of six edge operations in `EDGES` order, written here (not by
    `nasdsl.formats`) so that reading the table tests the converter against the format."""
    nodes, k = [], 0
    for to in (1, 2, 3):
        nodes.append("|" + "|".join(f"{ops[k + j]}~{j}" for j in range(to)) + "|")
        k += to
    return "+".join(nodes)


def connected(ops: tuple[str, ...]) -> bool:
    """Whether a path of non-`none` edges leads from the input (node 0) to the output (node 3)."""
    reached = {0}
    for (to, frm), op in zip(EDGES, ops):
        if op != "none" and frm in reached:
            reached.add(to)
    return 3 in reached


def accuracy(ops: tuple[str, ...], index: int, column: str = "cifar10_test") -> float:
    """The synthetic test accuracy of one cell (row `index`) on one dataset."""
    if not connected(ops):
        return CHANCE[column]
    value = 70.0 + sum(GAIN[op] for op in ops) + (RESIDUAL if ops[3] == "skip_connect" else 0.0)
    return round(SCALE[column] * (value + (index * 7919 % 997) / 10_000), 6)


def latency(ops: tuple[str, ...], column: str = "latency_pixel3") -> float:
    """The synthetic latency (ms) of one cell on one device: additive over its edges."""
    return round(DEVICE[column] * (BASE + sum(COST[op] for op in ops)), 6)


def synthetic_rows() -> list[tuple[str, ...]]:
    """The 15,625 cells' edge operations, in the synthetic table's row order."""
    return list(itertools.product(OPS, repeat=len(EDGES)))


def write_synthetic_table(path: Path) -> Path:
    """Write the synthetic NB201-shaped table to `path` (gzipped CSV) and return the path."""
    lines = [",".join(COLUMNS)]
    for index, ops in enumerate(synthetic_rows()):
        metrics = [accuracy(ops, index, c) for c in CHANCE] + [latency(ops, c) for c in DEVICE]
        lines.append(",".join([str(index), nb201_string(ops), *map(repr, metrics)]))
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    return path
