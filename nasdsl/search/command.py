"""`nasdsl search`'s command line: the options every search takes, and the driver its strategy's
kind picks (`oneshot` or `multitrial`).

Example::

    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(["nasbench201", "--strategy", "darts"]).epochs
    1
"""
from __future__ import annotations

import argparse

from .. import strategy
from ..errors import NasError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every search takes; each driver adds its own group."""
    from .multitrial import add_arguments as multitrial_arguments
    from .oneshot import add_arguments as oneshot_arguments
    parser.add_argument("file", metavar="SPACE", help="a .nas file or a built-in space name")
    parser.add_argument("--strategy", required=True, metavar="NAME",
                        help=f"one-shot: {', '.join(strategy.ONE_SHOT)}; multi-trial: {', '.join(strategy.MULTI_TRIAL)}")
    parser.add_argument("--out", metavar="DIR", help="output directory (default: runs/SPACE-STRATEGY)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data splits, weights and sampling (default 0)")
    parser.add_argument("--data", metavar="DATA", default=None,
                        help="digits | mnist5k | cifar10:DIR | pkg.module:factory")
    parser.add_argument("--epochs", type=int, default=1,
                        help="one-shot: search epochs; multi-trial: training epochs per trial (default 1)")
    parser.add_argument("--set", action="append", metavar="NAME=VALUE",
                        help="override a `param` of the space (repeatable)")
    parser.add_argument("--option", action="append", metavar="NAME=VALUE",
                        help="a strategy option, e.g. population_size=10 (repeatable)")
    parser.add_argument("--accelerator", default="auto", metavar="auto|cpu|gpu",
                        help="where to train: one-shot search (Lightning's accelerator) and the train evaluator "
                             "(default auto: a GPU where one is visible)")
    parser.add_argument("--precision", default=None, metavar="P",
                        help="one-shot search: Lightning's precision, e.g. 16-mixed or bf16-mixed (default 32-true)")
    oneshot_arguments(parser.add_argument_group("one-shot search"))
    multitrial_arguments(parser.add_argument_group("multi-trial search"))


def run(args: argparse.Namespace) -> int:
    """Run the search `args` describe with the driver of its strategy's kind."""
    if strategy.kind(args.strategy) == "one-shot":
        if getattr(args, "objective", None):
            raise NasError("--objective (a Pareto front) is for multi-trial search; one-shot search trades accuracy "
                           "against a cost with --penalty")
        from .oneshot import run as run_driver
    else:
        from .multitrial import run as run_driver
    return run_driver(args)
