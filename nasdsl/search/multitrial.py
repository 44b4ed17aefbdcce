"""The multitrial search driver (placeholder on main until its branch lands; owned by its helper)."""
from __future__ import annotations

from ..errors import NasError


def add_arguments(group) -> None:
    """Options of this driver (none yet)."""


def run(args) -> int:
    raise NasError("multitrial search is not built yet")
