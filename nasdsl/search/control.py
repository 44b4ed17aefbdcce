"""The control of a search: random architectures of the same space, retrained the same way.

A retrained accuracy alone says nothing about a search: on a small data set almost any
architecture of a space may reach it. `nasdsl search --retrain EPOCHS --control N` therefore
retrains `N` architectures drawn uniformly from the space with the found architecture's recipe
(same data and split, epochs, seed and batch size) and reports their median beside it. A draw
whose output does not depend on its input (e.g. a NAS-Bench-201 cell whose every path goes
through `none`) is redrawn: it scores chance, and a control that includes it would flatter the
search. The median of several, not one draw, so that one lucky or unlucky draw does not decide
the comparison.

Example::

    >>> import nasdsl
    >>> from nasdsl.data import fit_space, load_data
    >>> data = load_data("digits")
    >>> space = fit_space(lambda p: nasdsl.load("nasbench201", {"C": 4, "N": 1, **p}), data)
    >>> dead = {d.label: "none" for d in space.decisions}
    >>> ignores_input(space, dead, data), ignores_input(space, {**dead, "Cell.e3_0": "skip_connect"}, data)
    (True, False)
"""
from __future__ import annotations

import random
import statistics
from collections.abc import Mapping
from typing import Any

from ..errors import NasError

#: Draws per control architecture before giving up on finding one that uses its input.
MAX_DRAWS = 50


def ignores_input(space, arch: Mapping[str, Any], data) -> bool:
    """Whether `arch`'s model (freshly built, eval mode) gives every one of eight validation
    images of `data` the same output: no path from the input reaches the output."""
    import torch

    from ..lower.discrete import build
    x = torch.stack([data.val[i][0] for i in range(min(8, len(data.val)))])
    model = build(space, arch).eval()
    with torch.no_grad():
        out = model(x)
    return bool((out == out[:1]).all())


def control_archs(space, n: int, data, seed: int = 0) -> tuple[list[dict[str, Any]], int]:
    """`n` architectures drawn uniformly from `space` (seeded by `seed`), each redrawn while its
    output ignores its input; also how many draws were rejected so."""
    rng = random.Random(f"nasdsl-control-{seed}")
    archs, rejected = [], 0
    for _ in range(n):
        for _ in range(MAX_DRAWS):
            arch = space.sample(rng)
            if not ignores_input(space, arch, data):
                archs.append(arch)
                break
            rejected += 1
        else:
            raise NasError(f"--control: {MAX_DRAWS} random architectures of {space.root_file} in a row ignore "
                           "their input; the space has no useful random control (use --control 0)")
    return archs, rejected


def run_control(space, data, found: Mapping[str, Any], n: int, epochs: int, seed: int,
                batch_size: int) -> dict[str, Any]:
    """Retrain `n` control architectures with the recipe that gave `found` (the found
    architecture's `train_architecture` result) and compare: the JSON `control.json` holds."""
    from ..train import train_architecture
    archs, rejected = control_archs(space, n, data, seed)
    rows = []
    for arch in archs:
        r = train_architecture(space, arch, data, epochs, seed, batch_size=batch_size)
        rows.append({k: r[k] for k in ("arch", "test_acc", "val_acc", "params", "flops", "seconds")})
    median = statistics.median(r["test_acc"] for r in rows)
    return {"epochs": epochs, "seed": seed, "batch_size": batch_size, "draw": "uniform, redrawn while the output "
            "ignores the input", "rejected_draws": rejected, "controls": rows, "median_test_acc": median,
            "found_test_acc": found["test_acc"], "found_minus_median": found["test_acc"] - median}


def summary(result: Mapping[str, Any]) -> str:
    """One line: the controls' test accuracies, their median, and the found architecture's margin.

    Example::

        >>> for part in summary({"controls": [{"test_acc": 0.9413}, {"test_acc": 0.95}, {"test_acc": 0.932}],
        ...                      "median_test_acc": 0.9413, "found_minus_median": 0.0237, "epochs": 2}).split("; "):
        ...     print(part)
        control: 3 random architectures of the space retrained the same way (2 epochs): test accuracy 94.13%, 95.00%, 93.20%
        median 94.13%, the architecture found +2.37 points
    """
    accs = ", ".join(f"{100 * r['test_acc']:.2f}%" for r in result["controls"])
    n = len(result["controls"])
    return (f"control: {n} random architecture{'s' if n != 1 else ''} of the space retrained the same way "
            f"({result['epochs']} epochs): test accuracy {accs}; median {100 * result['median_test_acc']:.2f}%, "
            f"the architecture found {100 * result['found_minus_median']:+.2f} points")
