"""Random one-shot: the plain uniform baseline (NNI's RandomOneShot).

The weights train on one uniformly drawn path per batch, exactly as SPOS's first stage; the
exported architecture is a uniform draw from the space, with no search at all: the yardstick
a one-shot strategy has to beat.

`fair=True` trains as FairNAS (Chu et al. 2021) does instead: each batch trains `m` paths (`m`
the most values any decision has) whose values of every decision are a random permutation of
its values (repeated for a decision with fewer), so every candidate of every decision gets
exactly one path's gradient a step; the `m` gradients are summed and the weights step once.
A step costs `m` forward and backward passes.

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


class RandomOneShot(OneShot):
    """Uniform path training; a uniform architecture exported."""

    learns_distribution = False   # it samples uniformly throughout (spos too): nothing to move

    def __init__(self, supernet, *, fair: bool = False, **options):
        super().__init__(supernet, **options)
        self.rng = random.Random(self.seed)
        self.fair = bool(fair)

    def search_step(self, weight_batch, arch_batch, batch_idx: int) -> None:
        for batch in (weight_batch, arch_batch):
            if self.fair:
                self.weight_step_paths(batch, fair_choosers(self.supernet.space, self.rng), log=batch is weight_batch)
            else:
                self.supernet.resample(uniform_chooser(self.rng))
                self.weight_step(self.task_loss(batch, log=batch is weight_batch))

    def weight_step_paths(self, batch, choosers, *, log: bool) -> None:
        """One weight step on the summed gradients of one path per chooser (FairNAS)."""
        self.zero_weight_grads()
        for i, choose in enumerate(choosers):
            self.supernet.resample(choose)
            loss = self.task_loss(batch, log=log and i == 0)
            if i < len(choosers) - 1:
                loss.backward()
        self.weight_step(loss, keep_grads=True)

    def validation_arch(self):
        return self.supernet.space.sample(self.rng)

    def export(self) -> dict[str, Any]:
        return self.supernet.space.sample(random.Random(self.seed + 1))

    def export_probs(self) -> dict[str, dict[str, float]]:
        """The sampling distribution: uniform over each decision's values."""
        return uniform_probs(self.supernet.space)


def fair_choosers(space, rng: random.Random) -> list:
    """FairNAS's paths for one step: `m` choosers (`m` the most values a decision has), the k-th
    taking each decision's k-th value of a random permutation of its values (a decision with
    fewer values repeats fresh permutations). A decision asked twice within one draw (a redraw
    after a broken constraint) gets a uniform value the second time.

    Example::

        >>> import nasdsl
        >>> space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
        >>> paths = [space.sample(choose=c) for c in fair_choosers(space, random.Random(0))]
        >>> sorted(p["Cell.e1_0"] for p in paths) == sorted(space.decisions[0].values)
        True
    """
    decisions = space.decisions
    m = max((len(d.values) for d in decisions), default=1)
    orders = {}
    for d in decisions:
        order: list[int] = []
        while len(order) < m:
            block = list(range(len(d.values)))
            rng.shuffle(block)
            order += block
        orders[d.label] = order[:m]

    def chooser(k: int):
        asked: set[str] = set()

        def choose(decision):
            if decision.label in asked:
                return decision.values[rng.randrange(len(decision.values))]
            asked.add(decision.label)
            return decision.values[orders[decision.label][k]]
        return choose
    return [chooser(k) for k in range(m)]


Strategy = RandomOneShot
