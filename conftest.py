"""Doctests of the package run with `nasdsl` (and `torch`, where installed) already imported,
as a reader of the docs has them."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _doctest_imports(doctest_namespace):
    namespace = doctest_namespace
    import nasdsl
    namespace["nasdsl"] = nasdsl
    try:
        import torch
    except ImportError:  # pragma: no cover - the torch-free install
        return
    namespace["torch"] = torch
