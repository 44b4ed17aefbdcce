"""Doctests of the package run with `nasdsl` (and `torch`, where installed) already imported,
as a reader of the docs has them."""
from __future__ import annotations

import os

import pytest

# Tests never read or write the user's cache of compiled spaces (`nasdsl.cache`): a cached
# space would hide what a test changes (limits, registered ops). Subprocesses inherit this;
# tests of the cache itself point NASDSL_CACHE_DIR at a temporary directory and unset it.
os.environ["NASDSL_NO_CACHE"] = "1"


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
