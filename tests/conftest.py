"""Shared fixtures: paths to the repository's spaces and the shared data folder."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPACES = ROOT / "spaces"
SHARED = ROOT.parent / "shared"


@pytest.fixture
def write(tmp_path):
    """Write a `.nas` file into a temporary folder and return its path."""
    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path
    return _write
