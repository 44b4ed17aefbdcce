"""NSGA-II selection over `Space.mutate`: nasdsl's own multi-objective evolution.

A steady-state NSGA-II (Deb et al. 2002's ranking, one child at a time): the population holds
at most `population_size` evaluated architectures; each result joins it and, when it is over
size, the worst member leaves — the one in the last non-dominated front with the smallest
crowding distance (`nasdsl.search.pareto`). Until `population_size` results are in,
architectures are drawn at random; then each proposal takes a parent by binary tournament
(lower front rank, then larger crowding distance), with probability `crossover_prob` mixes it
with a second tournament winner (each active decision from either parent, as uniform
crossover), and mutates the result (`Space.mutate`, each decision redrawn with
`mutation_prob`; one random decision when none was). A child that repeats an evaluated or
infeasible architecture is mutated again, up to `WALK` times, as `evolution` does.

The population is a function of the results told in trial order, so a resumed search rebuilds
it from the store. Failed and infeasible architectures never join it. With one objective
(a number told, not a tuple) it is a steady-state genetic algorithm on that objective.

Options:

* `population_size`: default `min(50, max(10, budget // 30))`;
* `n_startup_trials`: random architectures first, default `min(population_size, max(10, budget // 10))`;
* `mutation_prob` (default 0: each child is one decision away from its parent or its parents'
  crossover, the step that did best on NAS-Bench-201's accuracy/latency front,
  `bench/results_multiobjective.md`);
* `crossover_prob` (default 0.5).

Example::

    >>> import nasdsl
    >>> from nasdsl.strategy.nsga2 import NSGA2
    >>> space = nasdsl.load("nasbench201")
    >>> s = NSGA2(space, seed=0, budget=100, directions=("maximize", "minimize"))
    >>> for value in [(90.0, 5.0), (91.0, 6.0), (89.0, 7.0)]:
    ...     s.tell(s.ask(), value)
    >>> s.population_size, [p for _, p in s.population]
    (10, [(90.0, -5.0), (91.0, -6.0), (89.0, -7.0)])
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..arch import arch_key, domain_value
from ..errors import ArchitectureError, EmptySpaceError
from ..search.pareto import crowding_distance, nondominated_sort, oriented
from .base import Strategy, Value, check

WALK = 10   # further mutations of a child that repeats an evaluated or infeasible architecture


class NSGA2(Strategy):
    name = "nsga2"
    multi_objective = True

    def __init__(self, space, seed: int = 0, budget: int | None = None, *, population_size: int | None = None,
                 mutation_prob: float = 0.0, crossover_prob: float = 0.5, n_startup_trials: int | None = None,
                 directions: tuple[str, ...] = ("maximize",)):
        super().__init__(space, seed, budget)
        if population_size is None:
            population_size = min(50, max(10, (budget or 300) // 30))
        if n_startup_trials is None:
            n_startup_trials = min(population_size, max(10, (budget or 500) // 10))
        self.n_startup_trials = n_startup_trials
        check(population_size >= 2, f"`population_size` must be at least 2, got {population_size}")
        check(0.0 <= mutation_prob <= 1.0, f"`mutation_prob` must be between 0 and 1, got {mutation_prob}")
        check(0.0 <= crossover_prob <= 1.0, f"`crossover_prob` must be between 0 and 1, got {crossover_prob}")
        self.population_size, self.mutation_prob, self.crossover_prob = population_size, mutation_prob, crossover_prob
        self.directions = tuple(directions)
        self.population: list[tuple[dict[str, Any], tuple[float, ...]]] = []   # (arch, point to maximise)
        self._ranked: tuple[list[int], list[float]] | None = None   # rank and crowding of each member

    def tell(self, arch: Mapping[str, Any], value: Value) -> None:
        super().tell(arch, value)
        if value is None:
            return
        if any(arch_key(member) == arch_key(arch) for member, _ in self.population):
            return   # a repeat told back (`Strategy.ask`) adds no second copy
        values = value if isinstance(value, tuple) else (value,)
        self.population.append((dict(arch), oriented(values, self.directions)))
        self._ranked = None
        if len(self.population) > self.population_size:
            rank, crowd = self._ranks()
            worst = max(range(len(self.population)), key=lambda i: (rank[i], -crowd[i], i))
            del self.population[worst]
            self._ranked = None

    def _ranks(self) -> tuple[list[int], list[float]]:
        """Each member's front rank (0: non-dominated) and crowding distance within its front."""
        if self._ranked is None:
            points = [p for _, p in self.population]
            rank, crowd = [0] * len(points), [0.0] * len(points)
            for r, members in enumerate(nondominated_sort(points)):
                for i, d in zip(members, crowding_distance([points[i] for i in members])):
                    rank[i], crowd[i] = r, d
            self._ranked = rank, crowd
        return self._ranked

    def _tournament(self) -> dict[str, Any]:
        rank, crowd = self._ranks()
        a, b = (self.rng.randrange(len(self.population)) for _ in range(2))
        best = min((a, b), key=lambda i: (rank[i], -crowd[i]))
        return self.population[best][0]

    def _ask(self) -> dict[str, Any] | None:
        if len(self.history) < self.n_startup_trials or len(self.population) < 2:
            return self.random_unseen()
        for _ in range(100):
            parent = self._tournament()
            if self.rng.random() < self.crossover_prob:
                parent = self.crossover(parent, self._tournament())
            child, key = self.walk(parent, self.mutation_prob, WALK)
            if child is not None and key not in self.seen:
                return child
        return self.random_unseen()

    def crossover(self, a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
        """Each active decision from `a` or `b` at random (drawn fresh where neither has it);
        `a` itself if the mix breaks a constraint."""
        def choose(d):
            have = [p[d.label] for p in (a, b) if d.label in p]
            if not have:
                return d.values[self.rng.randrange(len(d.values))]
            value = have[self.rng.randrange(len(have))]
            return domain_value(value)
        try:
            return self.space.sample(choose=choose, attempts=1)
        except (ArchitectureError, EmptySpaceError):
            return dict(a)

    def mutate(self, parent: Mapping[str, Any]) -> dict[str, Any] | None:
        """Each decision redrawn with `mutation_prob`; one neighbour if none was."""
        return self.mutant(parent, self.mutation_prob)


STRATEGY = NSGA2
