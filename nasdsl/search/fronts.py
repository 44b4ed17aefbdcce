"""What a multi-objective search leaves in `--out DIR`: its Pareto front in `result.json` and a
picture of the front over every trial, `pareto.png`; and the rows `nasdsl trials --pareto`
shows. The front is the complete trials that no other complete trial dominates
(`nasdsl.search.objectives.pareto_trials`), listed best first in the first objective.

Example::

    >>> from nasdsl.search.store import TrialRecord
    >>> from nasdsl.search.objectives import parse_objectives
    >>> objs = parse_objectives(["acc:max", "lat:min"])
    >>> trials = [TrialRecord(i, i, "complete", {"x": i}, str(i), values=v)
    ...           for i, v in enumerate([[90.0, 5.0], [92.0, 9.0], [89.0, 6.0]])]
    >>> [r["number"] for r in front_rows(trials, objs)]
    [1, 0]
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .objectives import Objective, directions, pareto_trials


def front_rows(trials: Sequence, objectives: Sequence[Objective], space=None) -> list[dict[str, Any]]:
    """The front's trials as JSON rows (each with `objectives` by name, and its architecture's
    `text` where `space` prints it), best first in the first objective."""
    from ..formats import arch_text
    sign = -1.0 if objectives[0].direction == "maximize" else 1.0
    front = sorted(pareto_trials(trials, directions(objectives)), key=lambda t: (sign * t.values[0], t.number))
    rows = []
    for t in front:
        row = {**t.to_json(), "objectives": {o.name: v for o, v in zip(objectives, t.values)}}
        if space is not None:
            row["text"] = arch_text(space, t.arch)
        rows.append(row)
    return rows


def write_front(out: Path, space, result) -> None:
    """`result.json` (the objectives, trials used, the front) and `pareto.png` in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    rows = front_rows(result.trials, result.objectives, space)
    summary = {"objectives": [o.text for o in result.objectives], "trials": len(result.trials),
               "complete": sum(t.state == "complete" for t in result.trials), "store": result.url,
               "front": rows}
    tmp = out / f"result.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    os.replace(tmp, out / "result.json")
    plot_front(result.trials, result.objectives, out / "pareto.png")


def plot_front(trials: Sequence, objectives: Sequence[Objective], path: Path) -> None:
    """A PNG of the first two objectives: every complete trial, the front drawn over them as a
    staircase (further objectives, if any, are named in the title, not drawn)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    done = [t for t in trials if t.state == "complete" and t.values is not None]
    front = sorted(pareto_trials(done, directions(objectives)), key=lambda t: t.values[0])
    fig = Figure(figsize=(6, 4.5), dpi=100)
    ax = fig.subplots()
    x, y = objectives[0], objectives[1]
    ax.scatter([t.values[0] for t in done], [t.values[1] for t in done], s=10, color="0.7",
               label=f"{len(done)} trials")
    if front:
        # between two members the front attains the later one's y when x is maximised, the earlier one's when minimised
        where = "pre" if x.direction == "maximize" else "post"
        ax.step([t.values[0] for t in front], [t.values[1] for t in front], where=where, color="C3", lw=1)
        ax.scatter([t.values[0] for t in front], [t.values[1] for t in front], s=18, color="C3",
                   label=f"Pareto front ({len(front)})", zorder=3)
    ax.set_xlabel(f"{x.name} ({x.direction[:3]})")
    ax.set_ylabel(f"{y.name} ({y.direction[:3]})")
    title = "Pareto front" + (f" (also {', '.join(o.text for o in objectives[2:])})" if len(objectives) > 2 else "")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if done:
        ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.png")
    FigureCanvasAgg(fig).print_png(str(tmp))
    os.replace(tmp, path)
