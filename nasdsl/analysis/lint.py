"""Warnings about a compiled space: what compiles but is likely a mistake.

Example::

    >>> space = nasdsl.loads("network(x: [4]) = x -> Linear(4, choice[8])")
    >>> [w.message for w in lint(space)]
    ["choice 'out.out_features' has one candidate (8): it is not a decision"]
"""
from __future__ import annotations

from ..arch import json_value
from ..errors import NasWarning
from ..values import literal

__all__ = ["lint"]


def lint(space) -> list[NasWarning]:
    """The warnings of `space`, in decision order: each choice with one candidate (a value
    that looks like a decision but never varies; an input choice in a loop's first iteration
    over one earlier tensor is the usual source)."""
    out = []
    for d in space.decisions:
        if len(d.values) == 1:
            value = d.values[0]
            shown = literal(json_value(value))
            out.append(NasWarning(f"choice {d.label!r} has one candidate ({shown}): it is not a decision", d.loc,
                                  hint="add a candidate, or write the value itself"))
    return out
