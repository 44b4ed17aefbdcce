"""Local search (White et al. 2021, "Local search is state of the art for NAS benchmarks").

Start from the best of `num_init` random architectures; evaluate the neighbours of the current
architecture (every architecture that differs in one active decision) in a random order and
move to a neighbour as soon as it is better (`first_improvement`, default) or, with
`first_improvement=false`, after the whole neighbourhood, to its best. At a local optimum
(every neighbour evaluated, none better) restart: from a fresh random architecture, or, with
`perturb=k`, from the best architecture found so far changed in `k` random decisions (iterated
local search). A neighbour told infeasible (`--constraint`, checked before evaluation) is
skipped at no cost, and never becomes the current architecture. NNI has no local search.

Under a cheap upper bound (`--constraint latency_pixel3<=10`, `params<=...`: the search driver
sets `usage`, `feasibility.Screen.usage`) two things change, because the best architecture
under a resource bound lies near it (the objective grows with the resource the bound limits)
and the bound cuts the landscape into many local optima along it:

* neighbours are tried in order of the bound they use, the one closest to it first (ties
  and the rest in random order), instead of a random order;
* `perturb` defaults to 2: a restart stays next to the best found instead of a random
  architecture, far from the bound, that must climb back to it.

On NAS-Bench-201 at latency_pixel3 <= 5 / 10 / 15 / 20 ms this takes the mean best at 300
queries from 0.030 / 0.104 / 0.084 / 0.153 below the constrained optimum to 0.006 / 0.026 /
0.039 / 0.073, at 100 from 0.118 / 0.264 / 0.242 / 0.264 to 0.151 / 0.252 / 0.211 / 0.229
(50 seeds; `bench/results_multitrial.md`). The restart alone, in a random neighbour order, is
worse (0.390 at 100 queries under 10 ms): the order makes it work. Without such a bound the
search is White et al.'s (random order, random restarts), unchanged.

Options: `num_init` (default 10), `first_improvement` (default true), `perturb` (decisions
changed at a restart; default 2 under a cheap upper bound, else 0: a random restart).

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
                 first_improvement: bool = True, perturb: int | None = None):
        super().__init__(space, seed, budget)
        check(num_init >= 1, f"`num_init` must be at least 1, got {num_init}")
        check(perturb is None or perturb >= 0, f"`perturb` must be at least 0, got {perturb}")
        self.num_init, self.first_improvement, self.perturb = num_init, first_improvement, perturb
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
        if self.usage is not None:
            # popped from the end: the feasible neighbour closest to the bound first, the
            # infeasible ones (rejected at no cost) last; the sort is stable over the shuffle
            self.queue.sort(key=lambda a: u if (u := self.usage(a)) <= 1 else -u)

    def _ask(self) -> dict[str, Any] | None:
        while True:
            if self.current is None:
                return self.restart() if self.restarts else self.random_unseen()
            while self.queue:
                cand = self.queue.pop()
                if arch_key(cand) not in self.seen and arch_key(cand) not in self.rejected:
                    return cand
            if self.round_best is not None:          # best-improvement: the neighbourhood is done
                self._move(self.round_best)
                continue
            # a local optimum: start again (`restart`)
            self.current, self.round_best, self.pending_init = None, None, 1
            self.restarts += 1

    def restart(self) -> dict[str, Any] | None:
        """Where the walk starts again after a local optimum: the best architecture found
        changed in `perturb` random decisions, or a random architecture when `perturb` is 0."""
        perturb = self.perturb if self.perturb is not None else (2 if self.usage is not None else 0)
        found = [h for h in self.history if h[1] is not None]
        if not perturb or not found:
            return self.random_unseen()
        arch = max(found, key=lambda h: h[1])[0]
        for _ in range(perturb):
            arch = self.random_neighbour(arch) or arch
        return arch


STRATEGY = LocalSearch
