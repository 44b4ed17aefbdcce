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
sets `usage`, `feasibility.Screen.usage`) the walk is best-first instead, because the best
architecture under a resource bound lies near it (the objective grows with the resource the
bound limits) and the bound cuts the landscape into many local optima along it, often two
changes apart (one change that uses more of the bound breaks it):

* the centre is always the best evaluated architecture whose neighbours are not all tried;
  a better neighbour becomes the centre at once (first improvement), and at a local optimum
  the next best architecture's neighbours come next, instead of a restart;
* a centre's neighbours come in three rings, each in order of the bound it uses (closest
  first, ties in an order fixed by the seed): every one-change neighbour; then the `SWAPS`
  two-change neighbours closest to the bound among those that trade it (one of the two
  changes uses more of the bound, the other less); then the `OTHERS` closest among the
  remaining two-change neighbours (of at most `PAIRS` drawn at random in a large space);
* only neighbours that keep the bound and use at least `band` (default 0.7) of the most any
  evaluated architecture uses are tried;
* a restart (every evaluated architecture's rings tried) changes the best found in `perturb`
  random decisions (default 2 under a bound).

On NAS-Bench-201 at latency_pixel3 <= 5 / 10 / 15 / 20 ms the mean best is 0.029 / 0.079 /
0.122 / 0.120 below the constrained optimum at 100 queries and 0.000 / 0.026 / 0.000 / 0.000
at 300 (50 seeds, `bench/results_multitrial.md`); the walk of White et al. with the
neighbours closest to the bound first and restarts next to the best was 0.151 / 0.252 /
0.211 / 0.229 and 0.006 / 0.026 / 0.039 / 0.073. Without such a bound the search is White et al.'s (random
order, random restarts), unchanged.

Options: `num_init` (default 10), `first_improvement` (default true; the best-first walk under
a bound always moves at the first improvement), `perturb` (decisions changed at a restart;
default 2 under a cheap upper bound, else 0: a random restart), `band` (under a bound: the
least share of the most used by an evaluated architecture that a neighbour must use).

State is a function of the ordered trial table: replaying `tell` rebuilds it (the best-first
walk keeps no state beyond the evaluated and infeasible architectures; its rings are a cache).

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

import zlib
from collections.abc import Mapping
from typing import Any

from ..arch import arch_key, domain_value
from .base import Strategy, Value, check, same_value

SWAPS, OTHERS = 30, 10   # two-change neighbours a centre tries under a bound: trading the bound, the rest
PAIRS = 2000   # two-change neighbours of one centre considered at most (drawn at random beyond)
DRAWS = 3   # random architectures that keep the bound drawn for each first one under a bound


class LocalSearch(Strategy):
    name = "local"

    def __init__(self, space, seed: int = 0, budget: int | None = None, *, num_init: int = 10,
                 first_improvement: bool = True, perturb: int | None = None, band: float = 0.7):
        super().__init__(space, seed, budget)
        check(num_init >= 1, f"`num_init` must be at least 1, got {num_init}")
        check(perturb is None or perturb >= 0, f"`perturb` must be at least 0, got {perturb}")
        check(0.0 <= band <= 1.0, f"`band` must be between 0 and 1, got {band}")
        self.num_init, self.first_improvement, self.perturb, self.band = num_init, first_improvement, perturb, band
        self.current: tuple[dict[str, Any], float] | None = None
        self.round_best: tuple[dict[str, Any], float] | None = None
        self.queue: list[dict[str, Any]] = []
        self.restarts = 0
        self.pending_init = num_init
        # the best-first walk under a bound: evaluated architectures by key, the cached rings
        # of each centre (lists of (usage, key, arch), closest to the bound first), the centres
        # whose rings are all tried, the keys other workers hold now
        self.found: dict[str, dict[str, Any]] = {}
        self.rings: dict[str, list[list[tuple[float, str, dict[str, Any]]]]] = {}
        self.spent: set[str] = set()
        self.used: dict[str, float] = {}   # usage of each architecture met: key -> usage
        self.avoid: frozenset[str] | set[str] = frozenset()

    def ask(self, avoid: frozenset[str] | set[str] = frozenset()) -> dict[str, Any] | None:
        self.avoid = avoid
        return super().ask(avoid)

    def tell(self, arch: Mapping[str, Any], value: Value) -> None:
        super().tell(arch, value)
        if value is None:
            return
        if self.usage is not None:
            self.found.setdefault(arch_key(arch), dict(arch))
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
        if self.usage is not None:
            return self._best_first()
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

    # -- the best-first walk under a cheap upper bound

    def _best_first(self) -> dict[str, Any] | None:
        """The next untried neighbour of the best centre that has one (see the module)."""
        if len(self.found) < self.num_init:
            return self._start()
        least = self.band * max((u for key, arch in self.found.items() if (u := self._use(key, arch)) <= 1), default=0.0)
        for key in sorted(self.found, key=lambda k: -self.seen[k]):   # stable: the earlier of equal ones first
            if key in self.spent:
                continue
            for ring, cap in enumerate((None, SWAPS, OTHERS)):
                eligible = [c for c in self._ring(key, ring) if c[0] >= least][:cap]   # a prefix: sorted by usage
                for _, cand_key, cand in eligible:
                    if cand_key not in self.seen and cand_key not in self.rejected and cand_key not in self.avoid:
                        return cand
            if not self.avoid:   # the band only rises and the tried only grow: spent for good
                self.spent.add(key)
        self.restarts += 1
        return self.restart()

    def _start(self) -> dict[str, Any] | None:
        """One of the `num_init` first architectures: of `DRAWS` random ones that keep the
        bound, the one that uses most of it."""
        best: tuple[float, dict[str, Any]] | None = None
        drawn = 0
        for _ in range(100 * DRAWS):
            arch = self.random_unseen(avoid=self.avoid)
            if arch is None:
                break
            used = self._use(arch_key(arch), arch)
            if used <= 1:
                drawn += 1
                if best is None or used > best[0]:
                    best = (used, arch)
                if drawn == DRAWS:
                    break
        return best[1] if best is not None else self.random_unseen(avoid=self.avoid)

    def _ring(self, key: str, ring: int) -> list[tuple[float, str, dict[str, Any]]]:
        """Ring `ring` of the evaluated architecture `key` (0: its one-change neighbours, 1:
        the two-change ones that trade the bound, 2: the other two-change ones) that keep the
        bound, closest to it first (ties: in an order fixed by the seed); computed when first
        needed. Where a centre has more than `PAIRS` two-change neighbours, `PAIRS` of them
        drawn at random."""
        rings = self.rings.setdefault(key, [])
        if ring < len(rings):
            return rings[ring]
        base = self.found[key]
        start = self._use(key, base)
        ones = self._changes(base)   # (label, value, arch) of every one-change neighbour
        if not rings:
            rings.append(self._ranked({arch_key(a): a for _, _, a in ones}))
            if ring == 0:
                return rings[0]
        # how much more of the bound each single change uses
        delta = {(label, str(value)): self._use(arch_key(arch), arch) - start for label, value, arch in ones}
        position = {d.label: i for i, d in enumerate(self.space.order)}
        pairs = [(delta[(label, str(changed))], first, d, value)
                 for label, changed, first in ones for d in self.space.order[position[label] + 1:]
                 if d.label in first and d.label in base and same_value(domain_value(first[d.label]), domain_value(base[d.label]))
                 for value in d.values if not same_value(value, domain_value(base[d.label]))]
        if len(pairs) > PAIRS:
            pairs = self.rng.sample(pairs, PAIRS)
        swaps: dict[str, dict[str, Any]] = {}
        others: dict[str, dict[str, Any]] = {}
        for first_delta, first, d, value in pairs:
            second = self.changed(first, d.label, value)
            if second is not None:   # trading: one change uses more of the bound, the other less
                trades = first_delta * delta.get((d.label, str(value)), 0.0) <= 0
                (swaps if trades else others).setdefault(arch_key(second), second)
        rings += [self._ranked(swaps), self._ranked(others)]
        return rings[ring]

    def _ranked(self, archs: Mapping[str, dict[str, Any]]) -> list[tuple[float, str, dict[str, Any]]]:
        """Those of `archs` that keep the bound, the one that uses most of it first."""
        out = [(u, key, arch) for key, arch in archs.items() if (u := self._use(key, arch)) <= 1]
        out.sort(key=lambda c: (-c[0], zlib.crc32(f"{self.seed}:{c[1]}".encode())))
        return out

    def _use(self, key: str, arch: Mapping[str, Any]) -> float:
        """`usage` of `arch` (its key `key`), computed once."""
        if key not in self.used:
            self.used[key] = self.usage(arch)
        return self.used[key]

    def _changes(self, base: Mapping[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
        """(label, value, arch) for each architecture that differs from `base` in one active
        decision (`label` set to `value`), in the space's order."""
        out = []
        for d in self.space.order:
            if d.label not in base:
                continue
            for value in d.values:
                if not same_value(value, domain_value(base[d.label])):
                    cand = self.changed(base, d.label, value)
                    if cand is not None:
                        out.append((d.label, value, cand))
        return out

STRATEGY = LocalSearch
