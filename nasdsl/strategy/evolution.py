"""Regularized (aging) evolution, Real et al. 2019, Algorithm 1.

The population is the `population_size` most recent evaluated architectures (the oldest dies
when a child is born). Until the population is full, architectures are drawn at random; then
each step picks `sample_size` members at random, mutates the best of them and proposes the
child. Each active decision of the parent is redrawn with probability `mutation_prob`; a child
equal to its parent is no child, so when no decision was drawn one random decision changes.
A child that repeats an evaluated architecture, or one told infeasible (`--constraint`), is
mutated again, up to `WALK` times (a longer step from the parent): under a constraint the
feasible children of the best members run out fast, and re-telling repeats filled the
population with copies of a few architectures (on NAS-Bench-201 at latency_pixel3 <= 10 and 300
queries: 0.48 below the constrained optimum, worse than random's 0.31; with the walk 0.10, 12
seeds). One that still repeats after that is not evaluated again: the search driver tells the
stored result back, and the child joins the population as the paper's child would.

Under a cheap upper bound (`--constraint latency_pixel3<=10`: the search driver sets `usage`,
`feasibility.Screen.usage`) the parent of a tournament has `DRAWS` (3) new children that keep
the bound and the one that uses most of it is proposed: the objective grows with the resource
the bound limits, so the best architecture under the bound lies near it. On NAS-Bench-201 at
latency_pixel3 <= 10 and 100 queries this takes the mean best from 0.465 below the
constrained optimum (worse than random's 0.455) to 0.266 (50 seeds,
`bench/results_multitrial.md`). Without such a bound nothing changes (the same random draws).

Options (NNI's `RegularizedEvolution` defaults in brackets):

* `population_size` [100]: default `min(100, max(10, budget // 10))` — NNI's 100 spends the
  first 100 trials of a 100-trial search on random samples (93.84 on NAS-Bench-201, no better
  than random); 10 at 100 trials reaches 94.2.
* `sample_size` [25]: default `max(3, population_size // 4)` (3 at 10, 25 at 100).
* `mutation_prob` [0.05]: probability that each decision is redrawn.
* `on_failure` ['ignore']: `ignore` drops a failed trial; `worst` puts it in the population
  with the worst value so that tournaments learn to avoid it.

The population is the last `population_size` trials in trial order, so replaying the trial
table through `tell` rebuilds it exactly.

Example::

    >>> import nasdsl
    >>> from nasdsl.strategy.evolution import RegularizedEvolution
    >>> space = nasdsl.load("nasbench201")
    >>> s = RegularizedEvolution(space, seed=0, budget=100)
    >>> s.population_size, s.sample_size
    (10, 3)
"""
from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from ..arch import arch_key
from .base import Strategy, Value, check

WALK = 10   # further mutations of a child that repeats an evaluated or infeasible architecture
DRAWS = 3   # under a cheap upper bound: children drawn for each proposal, the one nearest the bound proposed


class RegularizedEvolution(Strategy):
    name = "evolution"

    def __init__(self, space, seed: int = 0, budget: int | None = None, *,
                 population_size: int | None = None, sample_size: int | None = None,
                 mutation_prob: float = 0.05, on_failure: str = "ignore"):
        super().__init__(space, seed, budget)
        if population_size is None:
            population_size = min(100, max(10, (budget or 1000) // 10))
        if sample_size is None:
            sample_size = min(population_size, max(3, population_size // 4))
        check(population_size >= 2, f"`population_size` must be at least 2, got {population_size}")
        check(1 <= sample_size <= population_size,
              f"`sample_size` must be between 1 and population_size ({population_size}), got {sample_size}")
        check(0.0 <= mutation_prob <= 1.0, f"`mutation_prob` must be between 0 and 1, got {mutation_prob}")
        check(on_failure in ("ignore", "worst"), f"`on_failure` must be 'ignore' or 'worst', got {on_failure!r}")
        self.population_size, self.sample_size = population_size, sample_size
        self.mutation_prob, self.on_failure = mutation_prob, on_failure
        self.population: deque[tuple[dict[str, Any], float]] = deque(maxlen=population_size)

    def tell(self, arch: Mapping[str, Any], value: Value) -> None:
        super().tell(arch, value)
        if value is None:
            if self.on_failure == "ignore":
                return
            value = float("-inf")
        self.population.append((dict(arch), value))

    def _ask(self) -> dict[str, Any] | None:
        if len(self.population) < self.population_size:
            return self.random_unseen()
        for _ in range(100):
            contestants = self.rng.sample(list(self.population), self.sample_size)
            parent = max(contestants, key=lambda member: member[1])[0]
            child, key = self.walk(parent, self.mutation_prob, WALK)
            if child is not None and key != arch_key(parent):
                return child if self.usage is None else self.dearest(parent, child)
        return self.random_unseen()

    def dearest(self, parent: Mapping[str, Any], first: dict[str, Any]) -> dict[str, Any]:
        """Under a cheap upper bound: of `DRAWS` new children of `parent` that keep the bound
        (each mutated again, up to `WALK` times, while it repeats or breaks the bound), the
        one that uses most of it; `first` if none is found."""
        best: tuple[float, dict[str, Any]] | None = None
        kept = 0
        for _ in range(10 * DRAWS):
            child = self.mutate(parent)
            for _ in range(WALK + 1):
                if child is None:
                    break
                key = arch_key(child)
                if key not in self.seen and key not in self.rejected and (used := self.usage(child)) <= 1:
                    break
                child = self.mutate(child)
            else:
                child = None
            if child is None or arch_key(child) == arch_key(parent):
                continue
            kept += 1
            if best is None or used > best[0]:
                best = (used, child)
            if kept == DRAWS:
                break
        return first if best is None else best[1]

    def mutate(self, parent: Mapping[str, Any]) -> dict[str, Any] | None:
        """Each decision redrawn with `mutation_prob`; one neighbour if none was."""
        return self.mutant(parent, self.mutation_prob)


STRATEGY = RegularizedEvolution
