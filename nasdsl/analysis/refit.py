"""What fitting a space to the data's input size does to its budgets and to a penalty's target.

A budget such as `require flops <= 2e7` is written for the input the space declares: fitted to
8x8 digits instead of 32x32 images, every architecture costs ~16x fewer FLOPs and the same
budget may keep all of them (it became vacuous) or, the other way round, none (impossible).
`budget_shifts(before, after)` compares each budget's verdict (`analysis.bounds.budget_verdict`:
kept by every / no architecture) on the space as written and as fitted, and returns a warning
for each budget the fit turned vacuous or impossible; `target_shift` does the same for an
explicit `--penalty-target` against the range of the space's params or FLOPs.

Example::

    >>> import nasdsl
    >>> text = 'param r = 32\\nnetwork(x: [1, r, r]) = x -> Conv2d(1, choice[4, 64], 3)\\nrequire flops <= 1e5'
    >>> before, after = nasdsl.loads(text), nasdsl.loads(text, params={"r": 8})
    >>> [w.message for w in budget_shifts(before, after)]  # doctest: +ELLIPSIS
    ['`require flops <= 100000` keeps every architecture at the fitted input size (it cut some as ...]
"""
from __future__ import annotations

import sys
from collections.abc import Iterable

from ..errors import NasWarning
from ..values import to_text
from .bounds import budget_verdict, cost_bounds

HINT = "the budget was likely written for the declared input size; scale it, or --set the input size"


def budget_shifts(before, after) -> list[NasWarning]:
    """A warning for each budget of `after` (the space fitted to the data) that keeps every
    architecture, or none, where it did not in `before` (the space as written)."""
    out = []
    for was, now in zip(before.budgets, after.budgets):
        old, new = budget_verdict(before, was), budget_verdict(after, now)
        if new == old or new is None:
            continue
        text = f"`{now.kind} {to_text(now.expr)}`"
        if new == "all":
            out.append(NasWarning(f"{text} keeps every architecture at the fitted input size (it cut some as "
                                  f"written): the budget no longer constrains the search", now.loc, hint=HINT))
        else:
            out.append(NasWarning(f"{text} keeps no architecture at the fitted input size (it kept some as "
                                  f"written)", now.loc, hint=HINT))
    return out


def target_shift(before, after, metric: str, target: float) -> NasWarning | None:
    """A warning when a penalty `target` of `metric` (params or flops) lay within the range of
    `before`'s costs but lies outside `after`'s (every architecture cheaper, or dearer)."""
    old, new = getattr(cost_bounds(before), metric), getattr(cost_bounds(after), metric)
    if old is None or new is None or not old[0].cost <= target <= old[1].cost:
        return None
    if target > new[1].cost:
        where = f"above every architecture's {metric} at the fitted input size (at most {new[1].cost:,})"
    elif target < new[0].cost:
        where = f"below every architecture's {metric} at the fitted input size (at least {new[0].cost:,})"
    else:
        return None
    return NasWarning(f"--penalty-target {target:g} is {where}; as written it lay within "
                      f"{old[0].cost:,} .. {old[1].cost:,}",
                      hint="the target was likely written for the declared input size; scale it")


def report(warnings: Iterable[NasWarning | None]) -> None:
    """Print each warning (`file:line:col: warning: ...`) on stderr."""
    for w in warnings:
        if w is not None:
            print(w.render(), file=sys.stderr)
