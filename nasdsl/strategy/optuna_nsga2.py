"""Optuna's NSGA-II sampler (`optuna.samplers.NSGAIISampler`), asked define-by-run over the
active decisions exactly as `tpe` asks TPE (`nasdsl.strategy.tpe`): one in-memory Optuna trial
per proposal, results told back in trial order, infeasible proposals as Optuna constraint
values (NSGA-II's constrained domination puts them behind every feasible trial).

With several objectives (`--objective`) it searches for the Pareto front; with one it is a
genetic algorithm on that objective. `nasdsl.strategy.nsga2` is nasdsl's own NSGA-II over
`Space.mutate`.

Options (Optuna's `NSGAIISampler` names):

* `population_size`: default `min(50, max(10, budget // 10))` (Optuna's 50 spends the first
  50 trials of a 100-trial search on random samples);
* `mutation_prob` (default: Optuna's, 1 / the number of decisions);
* `crossover_prob` (default 0.9, Optuna's), `swapping_prob` (default 0.5, Optuna's: uniform
  crossover's probability of taking each decision from the other parent).

Example::

    >>> import nasdsl
    >>> from nasdsl.strategy.optuna_nsga2 import OptunaNSGA2
    >>> space = nasdsl.load("nasbench201")
    >>> s = OptunaNSGA2(space, seed=0, budget=100, directions=("maximize", "minimize"))
    >>> a = s.ask(); s.tell(a, (90.0, 3.5))
    >>> s.population_size, s.study.trials[0].values
    (10, [90.0, 3.5])
"""
from __future__ import annotations

from .base import check
from .tpe import TPE


class OptunaNSGA2(TPE):
    name = "optuna_nsga2"
    multi_objective = True

    def __init__(self, space, seed: int = 0, budget: int | None = None, *, population_size: int | None = None,
                 mutation_prob: float | None = None, crossover_prob: float = 0.9, swapping_prob: float = 0.5,
                 directions: tuple[str, ...] = ("maximize",)):
        super(TPE, self).__init__(space, seed, budget)
        import optuna
        if population_size is None:
            population_size = min(50, max(10, (budget or 500) // 10))
        check(population_size >= 2, f"`population_size` must be at least 2, got {population_size}")
        check(mutation_prob is None or 0.0 <= mutation_prob <= 1.0,
              f"`mutation_prob` must be between 0 and 1, got {mutation_prob}")
        check(0.0 <= crossover_prob <= 1.0, f"`crossover_prob` must be between 0 and 1, got {crossover_prob}")
        check(0.0 <= swapping_prob <= 1.0, f"`swapping_prob` must be between 0 and 1, got {swapping_prob}")
        self.population_size = population_size
        sampler = optuna.samplers.NSGAIISampler(
            population_size=population_size, mutation_prob=mutation_prob, crossover_prob=crossover_prob,
            swapping_prob=swapping_prob, seed=seed)
        self._open(sampler, directions)


STRATEGY = OptunaNSGA2
