"""Local search (White et al. 2021, "Local search is state of the art for NAS benchmarks").

Start from the best of `num_init` random architectures; evaluate the neighbours of the current
architecture (every architecture that differs in one active decision) in a random order and
move to a neighbour as soon as it is better (`first_improvement`, default) or, with
`first_improvement=false`, after the whole neighbourhood, to its best. At a local optimum
(every neighbour evaluated, none better) restart from a fresh random architecture. A neighbour
told infeasible (`--constraint`, checked before evaluation) is skipped at no cost, and never
becomes the current architecture. NNI has no local search.

Options: `num_init` (default 10), `first_improvement` (default true).

State is a function of the ordered trial table: replaying `tell` rebuilds it.

Example::

    >>> import nasdsl
    >>> from nasdsl.strategy.local import LocalSearch
    >>> space = nasdsl.load("nasbench201")
    >>> s = LocalSearch(space, seed=0, num_init=1)
    >>> first = s.ask(); s.tell(first, 80.0)
    >>> second = s.ask()
    >>> sum(first[k] != second[k] for k in first)
    1
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..arch import arch_key
from .base import Strategy, Value, check


class LocalSearch(Strategy):
    name = "local"

    def __init__(self, space, seed: int = 0, budget: int | None = None, *, num_init: int = 10,
                 first_improvement: bool = True):
        super().__init__(space, seed, budget)
        check(num_init >= 1, f"`num_init` must be at least 1, got {num_init}")
        self.num_init, self.first_improvement = num_init, first_improvement
        self.current: tuple[dict[str, Any], float] | None = None
        self.round_best: tuple[dict[str, Any], float] | None = None
        self.queue: list[dict[str, Any]] = []
        self.restarts = 0
        self.pending_init = num_init

    def tell(self, arch: Mapping[str, Any], value: Value) -> None:
        super().tell(arch, value)
        if value is None:
            return
        arch = dict(arch)
        if self.current is None:
            # initial random architectures: the best of them is where the walk starts
            if self.round_best is None or value > self.round_best[1]:
                self.round_best = (arch, value)
            self.pending_init -= 1
            if self.pending_init <= 0:
                self._move(self.round_best)
            return
        if value > self.current[1]:
            if self.first_improvement:
                self._move((arch, value))
            elif self.round_best is None or value > self.round_best[1]:
                self.round_best = (arch, value)

    def _move(self, to: tuple[dict[str, Any], float]) -> None:
        self.current, self.round_best = to, None
        self.queue = self.neighbours(to[0])

    def _ask(self) -> dict[str, Any] | None:
        while True:
            if self.current is None:
                return self.random_unseen()
            while self.queue:
                cand = self.queue.pop()
                if arch_key(cand) not in self.seen and arch_key(cand) not in self.rejected:
                    return cand
            if self.round_best is not None:          # best-improvement: the neighbourhood is done
                self._move(self.round_best)
                continue
            # a local optimum: restart from a random architecture
            self.current, self.round_best, self.pending_init = None, None, 1
            self.restarts += 1


STRATEGY = LocalSearch
