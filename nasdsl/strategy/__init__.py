"""Search strategies, one module each, found by name: the one registry the CLI and tests read.

One-shot strategies (`darts`, `gumbel`, `enas`, `spos`, `proxyless`, `random_oneshot`) train a
supernet and import torch and Lightning; building their supernet (`build_supernet`) imports
torch alone (Lightning, about 2.5 s CPU to import, comes with the strategy's module, when a
search trains). Multi-trial strategies (`random`, `grid`,
`evolution`, `tpe`, `rl`, `local`, `nsga2`, `optuna_nsga2`) propose discrete architectures from the IR alone and import
no torch. The lowering never imports this package: a supernet knows how a choice executes
(its mode, `nasdsl.lower.modes`), a strategy decides which weights or path it takes and how
they learn. What a one-shot strategy declares (`Declared`: its mode and what the search driver
needs of it) is read here, without importing the strategy's module.

Example::

    >>> from nasdsl import strategy
    >>> strategy.kind("evolution")
    'multi-trial'
    >>> strategy.kind("darts")
    'one-shot'
    >>> strategy.declared("proxyless")
    Declared(mode='gated', weights=None, penalty=True, flags=(), cells=False, second_stage=None)
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from ..errors import NasError


@dataclass(frozen=True)
class Declared:
    """What a one-shot strategy declares, read by `build_supernet` and the search driver
    (`nasdsl.search.oneshot`) instead of its name."""
    mode: str                    # its supernet's execution mode (`nasdsl.lower.modes.MODES`)
    weights: str | None = None   # a mixture's weights other than softmax: a key of `weighting.WEIGHTS`,
    #                              whose keyword options are the strategy's supernet options
    penalty: bool = False        # learns a distribution a hardware penalty (`--penalty`) can act on
    flags: tuple[str, ...] = ()  # the driver's own options its constructor takes, by name (`--order`)
    cells: bool = False          # relaxes `cell(...)` as `--cells` says (a mixture)
    second_stage: str | None = None   # "evolution": searches the trained supernet again on the
    #                                   driver's train and val loaders (`evolution_data`, `evolution_log`)


DECLARED = {
    "darts": Declared("mixture", penalty=True, flags=("order",), cells=True),
    "gumbel": Declared("mixture", weights="gumbel", penalty=True, cells=True),
    "enas": Declared("path"),
    "spos": Declared("path", second_stage="evolution"),
    "proxyless": Declared("gated", penalty=True),
    "random_oneshot": Declared("path"),
}
ONE_SHOT = tuple(DECLARED)
MULTI_TRIAL = ("random", "grid", "evolution", "tpe", "rl", "local", "nsga2", "optuna_nsga2")
MULTI_OBJECTIVE = ("random", "grid", "tpe", "nsga2", "optuna_nsga2")   # may search for a Pareto front
NAMES = ONE_SHOT + MULTI_TRIAL


def kind(name: str) -> str:
    """`'one-shot'` or `'multi-trial'`; an unknown name is a NasError listing the known ones."""
    if name in ONE_SHOT:
        return "one-shot"
    if name in MULTI_TRIAL:
        return "multi-trial"
    raise NasError(f"unknown strategy {name!r}; one-shot: {', '.join(ONE_SHOT)}; "
                   f"multi-trial: {', '.join(MULTI_TRIAL)}")


def declared(name: str) -> Declared:
    """What one-shot strategy `name` declares; a multi-trial or unknown name is a NasError."""
    if kind(name) != "one-shot":
        raise NasError(f"strategy {name!r} is multi-trial: it trains discrete models, not a supernet; "
                       f"one-shot: {', '.join(ONE_SHOT)}")
    return DECLARED[name]


def module(name: str) -> ModuleType:
    """The module that implements strategy `name` (`nasdsl.strategy.<name>`)."""
    kind(name)
    return importlib.import_module(f"{__name__}.{name}")


def build_supernet(space, name: str, *, seed: int | None = None, passes=None, checkpoint: bool = False,
                   compile: bool = False, cells: str = "edge", **options):
    """The supernet one-shot strategy `name` drives: built in the execution mode it declares,
    with its own weights where it declares them (Gumbel-softmax for `gumbel`, whose `options`
    are their keywords: `tau`, `hard`). `passes` (default:
    `nasdsl.lower.passes.DEFAULT_PASSES`), `checkpoint`, `compile` and `cells` (how darts and
    gumbel relax a `cell(...)`: `"edge"`, DARTS's, or `"slot"`) are the supernet's execution
    options (`nasdsl.lower.supernet.build_supernet`).

    Example::

        >>> import nasdsl
        >>> net = build_supernet(nasdsl.load("nasbench201", {"C": 4, "N": 1}), "gumbel", seed=0)
        >>> net.mode.name, net.strategy, len(net.arch_parameters())
        ('mixture', 'gumbel', 6)
    """
    spec = declared(name)
    from ..lower.modes import mode_of
    from ..lower.supernet import build_supernet as lower
    if spec.weights is not None:
        from .weighting import WEIGHTS  # torch only: building a supernet imports no Lightning
        mode = mode_of(spec.mode, cells, weights=WEIGHTS[spec.weights](**options))
    elif options:
        raise NasError(f"{name} takes no supernet options, got {', '.join(sorted(options))}")
    else:
        mode = mode_of(spec.mode, cells)
    rewrites = {} if passes is None else {"passes": passes}
    return lower(space, mode, name=name, seed=seed, checkpoint=checkpoint, compile=compile, **rewrites)
