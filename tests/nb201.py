"""The NAS-Bench-201 table for search tests and benchmarks, read from `../shared/data`."""
from __future__ import annotations

from pathlib import Path

TABLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nb201_table.csv.gz"
OPTIMUM = 94.37333333333333  # CIFAR-10 test accuracy of index 6111, the table's maximum
