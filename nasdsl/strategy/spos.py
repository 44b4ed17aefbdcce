"""SPOS (Guo et al. 2020): uniform single-path training, then an evolutionary search on the supernet.

Stage 1 trains the weights on one path per batch, each decision drawn uniformly (both halves
of the training data train the weights: SPOS has no architecture parameters). Stage 2, the
part the SPOS paper defines and NNI leaves to the user, runs after the last epoch: an
evolutionary search over the trained supernet. Each candidate inherits the supernet's weights,
gets its batch-norm statistics recalibrated on `bn_batches` training batches (cumulative
average), and is scored by its accuracy on the validation data. A population of
`population` random architectures evolves for `generations` rounds: the `topk` best become
parents of `population // 2` mutants (each decision redrawn with probability
`mutation_prob`) and `population // 2` crossovers (each decision from either parent);
paper defaults 50, 20, 10, 0.1. Every candidate is a member of the space (constraints and
`require params/flops` budgets hold: `Space.validate`), and optional `max_params` /
`max_flops` bound it further. The best candidate is exported.

Example::

    >>> import nasdsl
    >>> from nasdsl.strategy import build_supernet
    >>> space = nasdsl.load("nasbench201", {"C": 4, "N": 1, "in_channels": 1, "resolution": 8})
    >>> module = Spos(build_supernet(space, "spos", seed=0), population=4, generations=1)
    >>> module.population, module.topk
    (4, 2)
"""
from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..arch import arch_key, domain_value, value_name
from ..errors import ArchitectureError, NasError
from .oneshot import uniform_probs
from .random_oneshot import RandomOneShot


class Spos(RandomOneShot):
    """SPOS: random one-shot's uniform path training, then the evolutionary second stage (see
    the module docstring)."""

    def __init__(self, supernet, *, population: int = 50, generations: int = 20, topk: int = 10,
                 mutation_prob: float = 0.1, bn_batches: int = 10, max_params: float | None = None,
                 max_flops: float | None = None, **options):
        super().__init__(supernet, **options)
        if population < 2:
            raise NasError(f"`population` must be at least 2, got {population}")
        if not 0 <= mutation_prob <= 1:
            raise NasError(f"`mutation_prob` must be between 0 and 1, got {mutation_prob}")
        self.population, self.generations = population, generations
        self.topk = max(1, min(topk, population // 2))
        self.mutation_prob, self.bn_batches = mutation_prob, bn_batches
        self.max_params, self.max_flops = max_params, max_flops
        self.evolution_data = None       # (train loader, val loader), set by the driver
        self.best: dict[str, Any] | None = None
        self.evolution_log: list[dict[str, Any]] = []
        self.final_population: list[dict[str, Any]] = []
        self.progress: Callable[[str], None] | None = None  # told a line per generation (the driver prints it)

    def finish(self) -> None:
        if self.evolution_data is not None:
            self.best = self.evolve(*self.evolution_data)

    def export(self) -> dict[str, Any]:
        if self.best is not None:
            return dict(self.best)
        return self.supernet.export()

    def export_probs(self) -> dict[str, dict[str, float]]:
        """Uniform while training (the sampling distribution); after the evolution, how often each
        value occurs in the final population (over the members where the decision is active)."""
        if not self.final_population:
            return uniform_probs(self.supernet.space)
        out = {}
        for d in self.supernet.space.decisions:
            values = [value_name(a[d.label]) for a in self.final_population if d.label in a]
            if values:
                out[d.label] = {value_name(v): values.count(value_name(v)) / len(values) for v in d.values}
        return out

    # -- stage 2

    def admissible(self, arch: dict[str, Any]) -> dict[str, Any] | None:
        """`arch` as a member of the space within the optional bounds, or None."""
        space = self.supernet.space
        try:
            arch = space.validate(arch)
        except ArchitectureError:
            return None
        if self.max_params is not None or self.max_flops is not None:
            from ..analysis.shapes import costs
            cost = costs(space, arch, validate=False)
            if self.max_params is not None and cost["params"] > self.max_params:
                return None
            if self.max_flops is not None and cost["flops"] > self.max_flops:
                return None
        return arch

    @torch.no_grad()
    def score(self, arch: dict[str, Any], train_loader, val_loader) -> float:
        """Validation accuracy of `arch` with the supernet's weights and recalibrated batch norm."""
        net = self.supernet
        net.fix(arch)
        norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats]
        saved = [(m, m.momentum) for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the recalibration batches
        net.train()
        for i, (x, _) in enumerate(train_loader):
            if i >= self.bn_batches:
                break
            net(x)
        for m, momentum in saved:
            m.momentum = momentum
        net.eval()
        correct = total = 0
        for x, y in val_loader:
            correct += int((net(x).argmax(-1) == y).sum())
            total += len(y)
        return correct / max(total, 1)

    def evolve(self, train_loader, val_loader) -> dict[str, Any]:
        """The evolutionary search; returns the best architecture found."""
        space = self.supernet.space
        rng = random.Random(self.seed + 1)
        state = {k: v.clone() for k, v in self.supernet.state_dict().items()}
        scored: dict[str, tuple[float, dict[str, Any]]] = {}

        def add(arch) -> None:
            arch = self.admissible(arch) if arch is not None else None
            if arch is not None and arch_key(arch) not in scored:
                scored[arch_key(arch)] = (self.score(arch, train_loader, val_loader), arch)

        def tell(generation: int, best: float) -> None:
            if self.progress is not None:
                self.progress(f"spos evolution: generation {generation}/{self.generations}: best validation accuracy "
                              f"{best:.4f} ({len(scored):,} architectures evaluated)")

        if self.progress is not None:
            self.progress(f"spos evolution: scoring {self.population} random architectures with the supernet's weights")
        tries = 0
        while len(scored) < self.population and tries < 50 * self.population:
            tries += 1
            add(space.sample(rng))
        if not scored:
            raise NasError("spos evolution: no architecture of the space satisfies max_params / max_flops")
        population = sorted(scored.values(), key=lambda t: -t[0])[: self.population]
        self.evolution_log = [{"generation": 0, "best": population[0][0]}]
        tell(0, population[0][0])
        for generation in range(1, self.generations + 1):
            parents = [a for _, a in population[: self.topk]]
            children = []
            for _ in range(self.population // 2):
                children.append(space.mutate(rng.choice(parents), rng, prob=self.mutation_prob))
            for _ in range(self.population - self.population // 2):
                a, b = rng.choice(parents), rng.choice(parents)
                try:
                    children.append(space.sample(choose=lambda d, a=a, b=b: _cross(d, a, b, rng), attempts=10))
                except ArchitectureError:
                    continue
            for child in children:
                add(child)
            population = sorted(scored.values(), key=lambda t: -t[0])[: self.population]
            self.evolution_log.append({"generation": generation, "best": population[0][0]})
            tell(generation, population[0][0])
        self.supernet.load_state_dict(state)  # recalibration touched only statistics: put them back
        self.final_population = [a for _, a in population]
        best_score, best = population[0]
        self.evolution_log.append({"best_arch": best, "best_val_acc": best_score, "evaluated": len(scored)})
        return best


def _cross(d, a: dict, b: dict, rng: random.Random):
    """A decision's value from either parent (a fresh draw where neither has it)."""
    options = [p[d.label] for p in (a, b) if d.label in p]
    value = rng.choice(options) if options else d.values[rng.randrange(len(d.values))]
    return domain_value(value)


Strategy = Spos
