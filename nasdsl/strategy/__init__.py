"""Search strategies, one module each, found by name: the one registry the CLI and tests read.

One-shot strategies (`darts`, `gumbel`, `enas`, `spos`, `proxyless`, `random_oneshot`) train a
supernet and import torch and Lightning. Multi-trial strategies (`random`, `grid`,
`evolution`, `tpe`, `rl`, `local`) propose discrete architectures from the IR alone and import
no torch. The lowering never imports this package: a supernet knows how a choice executes,
a strategy decides which weights or path it takes and how they learn.

Example::

    >>> from nasdsl import strategy
    >>> strategy.kind("evolution")
    'multi-trial'
    >>> strategy.kind("darts")
    'one-shot'
"""
from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import NasError

ONE_SHOT = ("darts", "gumbel", "enas", "spos", "proxyless", "random_oneshot")
MULTI_TRIAL = ("random", "grid", "evolution", "tpe", "rl", "local")
NAMES = ONE_SHOT + MULTI_TRIAL


def kind(name: str) -> str:
    """`'one-shot'` or `'multi-trial'`; an unknown name is a NasError listing the known ones."""
    if name in ONE_SHOT:
        return "one-shot"
    if name in MULTI_TRIAL:
        return "multi-trial"
    raise NasError(f"unknown strategy {name!r}; one-shot: {', '.join(ONE_SHOT)}; "
                   f"multi-trial: {', '.join(MULTI_TRIAL)}")


def module(name: str) -> ModuleType:
    """The module that implements strategy `name` (`nasdsl.strategy.<name>`)."""
    kind(name)
    return importlib.import_module(f"{__name__}.{name}")
