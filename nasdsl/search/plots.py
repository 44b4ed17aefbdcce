"""Pictures of a one-shot search: its training curves, and the order of its decision panels.

`plot_curves` draws `curves.png` from Lightning's `logs/metrics.csv` once, after training:
loss and accuracy per epoch, training and validation. Lightning writes a training row and a
validation row for each epoch; `epoch_metrics` merges them into one row per epoch.
`panel_order` puts `arch_weights.png`'s panels in the order the space declares its
decisions (`space.decisions`), not alphabetically.

Example::

    >>> panel_order({"b", "a", "Cell.e2", "Cell.e1"}, ["Cell.e2", "Cell.e1", "b"])
    ['Cell.e2', 'Cell.e1', 'b', 'a']
"""
from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

CURVES = (("loss", ("train_loss", "val_loss")), ("accuracy", ("train_acc", "val_acc")))


def panel_order(labels: Iterable[str], order: Sequence[str]) -> list[str]:
    """`labels` in the order of `order` (the space's decision labels); any label `order` does
    not hold (a cell edge's relaxation, say) follows, alphabetically."""
    labels = set(labels)
    known = [label for label in dict.fromkeys(order) if label in labels]
    return known + sorted(labels - set(known))


def epoch_metrics(path: Path) -> dict[int, dict[str, float]]:
    """Each epoch's logged values from a Lightning `metrics.csv`, its rows merged (the last
    non-empty value of a column in an epoch wins)."""
    epochs: dict[int, dict[str, float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if not row.get("epoch"):
                continue
            merged = epochs.setdefault(int(float(row["epoch"])), {})
            for key, text in row.items():
                if key not in ("epoch", "step") and text not in ("", None):
                    merged[key] = float(text)
    return dict(sorted(epochs.items()))


def plot_curves(metrics_csv: Path, path: Path, title: str = "") -> None:
    """`path` (a PNG): loss and accuracy per epoch, training and validation, side by side."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    epochs = epoch_metrics(metrics_csv) if metrics_csv.is_file() else {}
    fig = Figure(figsize=(8, 3), dpi=80)
    axes = fig.subplots(1, 2)
    for ax, (name, columns) in zip(axes, CURVES):
        for column in columns:
            points = [(e + 1, m[column]) for e, m in epochs.items() if math.isfinite(m.get(column, math.nan))]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", markersize=3, label=column.split("_")[0])
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
            ax.xaxis.get_major_locator().set_params(integer=True)
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
    if title:
        fig.suptitle(title, fontsize=9, x=0.01, ha="left")
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.16, top=0.84, wspace=0.25)
    tmp = path.with_name(path.name + ".tmp.png")
    FigureCanvasAgg(fig).print_png(str(tmp))
    tmp.replace(path)
