"""Random search: each architecture drawn at random, none twice, none told infeasible.

Options (NNI's `Random(variational=False, dedup=True, model_filter=None)`):

* `dedup` (default true, as NNI): never propose an architecture already evaluated; the search
  ends when the space is exhausted. `dedup=false` draws independently of the past and
  evaluates a repeated architecture again (a noisy evaluator, such as training, then gives
  another sample of it).
* `filter` (Python only): a predicate `filter(arch) -> bool`; architectures it rejects are
  never proposed (NNI's `model_filter`).
* `uniform` (default false, as NNI): false draws each active decision uniformly; true draws
  uniformly over the architectures of the space (exactly, through the space's counting), which
  matters when conditional decisions make some branches hold many more architectures.

Example::

    >>> import nasdsl
    >>> from nasdsl.strategy.random import RandomSearch
    >>> space = nasdsl.load("nasbench201")
    >>> s = RandomSearch(space, seed=1, filter=lambda a: a["Cell.e1_0"] == "none")
    >>> s.ask()["Cell.e1_0"]
    'none'
"""
from __future__ import annotations

from typing import Any

from ..arch import arch_key
from .base import Filter, Strategy


class RandomSearch(Strategy):
    name = "random"
    multi_objective = True   # it never reads the values

    def __init__(self, space, seed: int = 0, budget: int | None = None, *, dedup: bool = True,
                 uniform: bool = False, filter: Filter | None = None):
        super().__init__(space, seed, budget)
        self.dedup, self.uniform, self.filter = dedup, uniform, filter
        self.repeats = not dedup

    def _ask(self) -> dict[str, Any] | None:
        for _ in range(10_000):
            arch = self.space.sample(self.rng, uniform=self.uniform)
            key = arch_key(arch)
            if key in self.rejected or (self.dedup and key in self.seen):   # never an infeasible one
                if len(self.seen.keys() | self.rejected.keys()) >= self.space.size():
                    return None
                continue
            if self.filter is None or self.filter(arch):
                return arch
        if self.dedup and self.filter is None:
            return self.random_unseen()
        return None


STRATEGY = RandomSearch
