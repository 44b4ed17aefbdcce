"""`nasdsl search`: one entry point for one-shot and multi-trial search, one output layout.

The strategy's kind (`nasdsl.strategy.kind`) picks the driver: `oneshot` trains a supernet
with Lightning, `multitrial` proposes discrete architectures and evaluates them into an
experiment store. Both write into `--out DIR`: `arch.json` (the architecture found), the
metrics and a plot, and whatever the driver needs to resume.

Example::

    $ nasdsl search nasbench201 --strategy darts --data digits --epochs 2 --out runs/darts
    $ nasdsl search nasbench201 --strategy evolution --trials 100 --evaluator table:nb201.csv.gz

From Python the package itself is the call: `nasdsl.search(space, strategy=..., ...)` runs
`nasdsl.search.api.search`; `nasdsl.search.command` is the command line.
"""
from __future__ import annotations

import sys
import types


class _Callable(types.ModuleType):
    """This package, callable: `nasdsl.search(...)` is `nasdsl.search.api.search(...)`."""

    def __call__(self, *args, **kwargs):
        from .api import search
        return search(*args, **kwargs)


sys.modules[__name__].__class__ = _Callable
