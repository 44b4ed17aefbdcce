"""The NAS-Bench-201 table for search tests and benchmarks, read from `../shared/data`.

A fresh clone has no `../shared`: tests that read the table carry `needs_table`, which skips
them there and fails them under CI (`CI=true`), where the table must be beside the clone
(`tests/conftest.py`)."""
from __future__ import annotations

from pathlib import Path

import pytest

TABLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nb201_table.csv.gz"
needs_table = pytest.mark.needs_nb201_table
OPTIMUM = 94.37333333333333  # CIFAR-10 test accuracy of index 6111, the table's maximum
