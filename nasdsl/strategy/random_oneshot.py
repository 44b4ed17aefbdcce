"""Random one-shot: the plain uniform baseline (NNI's RandomOneShot).

The weights train on one uniformly drawn path per batch, exactly as SPOS's first stage; the
exported architecture is a uniform draw from the space, with no search at all: the yardstick
a one-shot strategy has to beat.

Example::

    >>> import nasdsl
    >>> from nasdsl.strategy import build_supernet
    >>> space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    >>> module = RandomOneShot(build_supernet(space, "random_oneshot", seed=0), seed=0)
    >>> space.contains(module.export())
    True
"""
from __future__ import annotations

import random
from typing import Any

from .oneshot import OneShot, uniform_chooser, uniform_probs

MODE = "path"


class RandomOneShot(OneShot):
    """Uniform path training; a uniform architecture exported."""

    learns_distribution = False   # it samples uniformly throughout (spos too): nothing to move

    def __init__(self, supernet, **options):
        super().__init__(supernet, **options)
        self.rng = random.Random(self.seed)

    def search_step(self, weight_batch, arch_batch, batch_idx: int) -> None:
        for batch in (weight_batch, arch_batch):
            self.supernet.resample(uniform_chooser(self.rng))
            self.weight_step(self.task_loss(batch, log=batch is weight_batch))

    def validation_arch(self):
        return self.supernet.space.sample(self.rng)

    def export(self) -> dict[str, Any]:
        return self.supernet.space.sample(random.Random(self.seed + 1))

    def export_probs(self) -> dict[str, dict[str, float]]:
        """The sampling distribution: uniform over each decision's values."""
        return uniform_probs(self.supernet.space)


Strategy = RandomOneShot
