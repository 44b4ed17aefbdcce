"""Search strategies, one module each, found by name: the one registry the CLI and tests read.

One-shot strategies (`darts`, `gumbel`, `enas`, `spos`, `proxyless`, `random_oneshot`) train a
supernet and import torch and Lightning; building their supernet (`build_supernet`) imports
torch alone (Lightning, about 2.5 s CPU to import, comes with the strategy's module, when a
search trains). Multi-trial strategies (`random`, `grid`,
`evolution`, `tpe`, `rl`, `local`) propose discrete architectures from the IR alone and import
no torch. The lowering never imports this package: a supernet knows how a choice executes
(`MODES` below says which execution mode each one-shot strategy drives), a strategy decides
which weights or path it takes and how they learn.

Example::

    >>> from nasdsl import strategy
    >>> strategy.kind("evolution")
    'multi-trial'
    >>> strategy.kind("darts")
    'one-shot'
    >>> strategy.MODES["proxyless"]
    'gated'
"""
from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import NasError

ONE_SHOT = ("darts", "gumbel", "enas", "spos", "proxyless", "random_oneshot")
MULTI_TRIAL = ("random", "grid", "evolution", "tpe", "rl", "local")
NAMES = ONE_SHOT + MULTI_TRIAL

# How each one-shot strategy's supernet executes a choice (`nasdsl.lower.policy.MODES`).
MODES = {"darts": "mixture", "gumbel": "mixture", "enas": "path", "spos": "path", "random_oneshot": "path",
         "proxyless": "gated"}


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


def build_supernet(space, name: str, *, seed: int | None = None, passes=None, checkpoint: bool = False,
                   compile: bool = False, cells: str = "edge", **options):
    """The supernet one-shot strategy `name` drives: built in its execution mode, with the
    strategy's own weighting installed (e.g. Gumbel-softmax for `gumbel`). `passes` (default:
    `nasdsl.lower.passes.DEFAULT_PASSES`), `checkpoint`, `compile` and `cells` (how darts and
    gumbel relax a `cell(...)`: `"edge"`, DARTS's, or `"slot"`) are the supernet's execution
    options (`nasdsl.lower.supernet.build_supernet`).

    Example::

        >>> import nasdsl
        >>> net = build_supernet(nasdsl.load("nasbench201", {"C": 4, "N": 1}), "gumbel", seed=0)
        >>> net.mode.name, net.strategy, len(net.arch_parameters())
        ('mixture', 'gumbel', 6)
    """
    if kind(name) != "one-shot":
        raise NasError(f"strategy {name!r} is multi-trial: it trains discrete models, not a supernet; "
                       f"one-shot: {', '.join(ONE_SHOT)}")
    from ..lower.supernet import build_supernet as lower
    rewrites = {} if passes is None else {"passes": passes}
    net = lower(space, MODES[name], name=name, seed=seed, checkpoint=checkpoint, compile=compile, cells=cells,
                **rewrites)
    from .weighting import CONFIGURE  # torch only: building a supernet imports no Lightning
    configure = CONFIGURE.get(name)
    if configure is not None:
        configure(net, **options)
    elif options:
        raise NasError(f"{name} takes no supernet options, got {', '.join(sorted(options))}")
    return net
