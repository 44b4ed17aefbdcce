"""A supernet's architecture state: its parameters and current path, in one execution mode.

Every mixed module of a supernet reads one shared `ArchState`, so decisions that share a
label share one architecture parameter and one sampled value. The state and its mode
(`modes.py`) know *how* a choice executes; the strategy in `nasdsl.strategy` decides *which*
weights or path and how they learn. The three modes:

* `mixture` — every path runs, weighted by `weigh(alpha)` (softmax by default; a strategy's mode
              may bring another map, e.g. Gumbel-softmax with its own temperature, drawing from
              this state's generator);
* `path`    — one path runs: the architecture set by `fix()` or drawn by `resample(choose)`;
              no architecture parameters;
* `gated`   — one path runs, drawn from `softmax(alpha)`; `alpha` learns through binary gates:
              dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i), with dL/dg_j the inner product of
              the output gradient with path j's output (ProxylessNAS, Cai et al. 2019).

An input choice of any subset (`pick(..., n="any", min=m)`) gets, in the mixture mode, one
parameter per *candidate*, not one per subset: independent gates `b_i ~ Bernoulli(sigmoid(a_i))`
(as ENAS's controller decides each skip connection), and the mixture is the expected reduced
output over those gates restricted to subsets of at least `m` candidates:
`sum_i w_i x_i`, `w_i = E[b_i g(|S|) | |S| >= m]`, `g = 1` for `sum` and `1/|S|` for `mean`
(`subset_weights`; for `sum` with `m = 0` simply `w_i = sigmoid(a_i)`). The weights may map
`a` to other gate logits (`weigh.gates`, e.g. a binary concrete with temperature).
The path and gated modes keep drawing a subset, with one parameter per subset in the gated mode.

`export()` returns the most probable architecture that satisfies the space's constraints and
budgets, a cell node's op slots reading distinct inputs where any valid architecture lets them
(`nasdsl.analysis.best.most_probable`): the decision-wise argmax whenever that validates and repeats no input.
A gated subset's most probable value is its gates above one half, topped up by the strongest
others to `min`.

Randomness comes only from the state's own seeded `random.Random` and `torch.Generator`.

Example::

    >>> import nasdsl
    >>> state = ArchState(nasdsl.load("nasbench201"), "mixture", seed=0)
    >>> [round(w, 2) for w in state.probs("Cell.e1_0").tolist()]
    [0.2, 0.2, 0.2, 0.2, 0.2]
    >>> space = nasdsl.loads('network(x: [4]) = pick(x -> ReLU(), x -> Tanh(), x, n="any", min=0, label="p")')
    >>> state = ArchState(space, "mixture", seed=0)
    >>> state.alphas["p"].numel(), len(space.decision("p").values)   # a gate per candidate, not per subset
    (3, 8)
    >>> state = ArchState(nasdsl.load("nasbench201"), "path", seed=0)
    >>> state.resample(choose=lambda d: d.values[1])["Cell.e1_0"]
    'skip_connect'
"""
from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import ir
from ..analysis.best import most_probable
from ..arch import arch_values, domain_value, value_name
from ..errors import NasError
from ..space import Space
from .edges import CellEdges, fixed_alphas, genotype, slot_probs
from .gates import keep_statistics
from .modes import Mode, mode_of

Chooser = Callable[[Any], Any]


class ArchState:
    """Architecture parameters and the current path of one supernet, for one execution mode
    (`modes.py`: a name and `cells`, or a mode object), which it asks whatever differs between
    modes; `name` (the strategy's name, or the mode's) only words messages.
    """

    def __init__(self, space: Space, mode: str | Mode, *, name: str | None = None, seed: int | None = None,
                 init_std: float = 1e-3, cells: str = "edge"):
        self.mode = mode_of(mode, cells)
        self.space = space
        self.name = name or self.mode.name
        self.rng = random.Random(seed)
        self.generator = torch.Generator().manual_seed(seed if seed is not None else 0)
        # the mixture's weights (softmax, Gumbel-softmax...): `weigh(alpha)`, gate logits `weigh.gates(alpha)`,
        # `weigh.hard` for straight-through gates (the forward pass uses the hard subset)
        self.weigh = self.mode.weights(self.generator)
        # any-subset input choices with one gate per candidate (label -> fewest chosen)
        self.gates: dict[str, int] = self.mode.gates(space)
        # cells relaxed by edges (`edges`): their decisions get no parameter of their own
        self.cells = self.mode.cells
        self.cell_edges: dict[str, CellEdges] = self.mode.relaxed_cells(space)
        self.relaxed: dict[str, CellEdges] = {lab: c for c in self.cell_edges.values() for lab in c.decision_labels()}
        self.alphas: dict[str, nn.Parameter] = self.mode.parameters(self, seed, init_std)
        self.current: dict[str, Any] = {}   # every label's value on the current path
        self.chosen: dict[str, Any] = {}    # the current architecture (active decisions only)
        self._index: dict[str, dict[Any, int]] = {d.label: _index_of(d.values) for d in space.decisions}
        self._cache: dict = {}
        self._members: dict[str, torch.Tensor] = {}   # gate labels: [subset, candidate] 0/1 matrix
        self.shared: dict = {}   # results shared between mixtures within one forward pass (lower.passes)
        self.fixed = False
        self.statistics: list[torch.Tensor] = []  # running statistics, kept across gate recomputation

    # -- per forward pass

    def begin(self) -> None:
        """Start a forward pass: weights (e.g. Gumbel noise) are drawn once per pass."""
        self._cache.clear()

    def probs(self, label: str) -> torch.Tensor:
        """Weights over the domain of `label` (mixture mode): `weigh(alpha)` while training a
        free architecture, `softmax(alpha)` when fixed or without gradient. For a gated subset
        choice, the probability of each subset under its gates (conditioned on `min`)."""
        cached = self._cache.get(label)
        if cached is None:
            if label in self.relaxed:   # a relaxed cell's slot: its marginal under the edges
                self._cache.update(slot_probs(self.relaxed[label], self.probs))
                return self._cache[label]
            if label in self.gates:
                cached = F.softmax(self._subset_scores(label, self._logits(label)), dim=-1)
            else:
                alpha = self.alphas[label]
                cached = self.weigh(alpha) if self._free() else softmax(alpha)
            self._cache[label] = cached
        return cached

    def input_weights(self, label: str, reduce: str) -> torch.Tensor:
        """A gated subset choice's weight per candidate for `reduce` ("sum" or "mean"): the
        input choice computes `sum_i w_i x_i` (see the module docstring)."""
        key = (label, reduce)
        cached = self._cache.get(key)
        if cached is None:
            logits = self._logits(label)
            least = self.gates[label]
            cached = subset_weights(logits, least, reduce)
            if self.weigh.hard and self._free():
                cached = hard_weights(logits.detach(), least, reduce) - cached.detach() + cached
            self._cache[key] = cached
        return cached

    def _free(self) -> bool:
        return torch.is_grad_enabled() and not self.fixed

    def _logits(self, label: str) -> torch.Tensor:
        """A gated choice's gate logits for this pass: `weigh.gates(alpha)` (drawn once per
        pass) while training a free architecture, `alpha` otherwise."""
        key = (label, "logits")
        cached = self._cache.get(key)
        if cached is None:
            alpha = self.alphas[label]
            cached = self.weigh.gates(alpha) if self._free() else alpha
            self._cache[key] = cached
        return cached

    def _subset_scores(self, label: str, logits: torch.Tensor) -> torch.Tensor:
        """log P(subset) up to a constant, for each value of a gated choice's domain."""
        members = self._members.get(label)
        if members is None:
            d = self.space.decision(label)
            members = torch.zeros(len(d.values), d.n_candidates)
            for row, subset in enumerate(d.values):
                members[row, list(subset)] = 1.0
            self._members[label] = members
        members = members.to(logits)
        return members @ F.logsigmoid(logits) + (1 - members) @ F.logsigmoid(-logits)

    def value(self, label: str) -> Any:
        """The value of `label` on the current path (path and gated modes)."""
        try:
            return self.current[label]
        except KeyError:
            raise NasError(f"decision {label!r} has no sampled value: call resample() or fix(arch) first") from None

    def index(self, label: str, value: Any) -> int:
        return self._index[label][_key(domain_value(value))]

    # -- choosing paths

    def resample(self, choose: Chooser | None = None) -> dict[str, Any]:
        """Set a new path. `choose(decision) -> value` is the strategy's policy (a controller,
        architecture weights); without one, the path mode draws each decision uniformly and
        the gated mode draws from `softmax(alpha)`, both from this state's seeded generators.
        A policy that keeps breaking the space's constraints is an `ArchitectureError`."""
        choose = self.mode.chooser(self, choose)
        arch = self.space.sample(choose=choose) if choose is not None else self.space.sample(self.rng)
        self._set(arch)
        self.fixed = False
        return arch

    def draw_from_alpha(self, decision) -> Any:
        """One value of `decision` drawn from `softmax(alpha)` with this state's generator."""
        p = softmax(self.alphas[decision.label].detach())
        return decision.values[int(torch.multinomial(p, 1, generator=self.generator).item())]

    def _set(self, arch: Mapping[str, Any]) -> None:
        self.current = arch_values(arch)
        # gated mode runs the paths not taken too, which may hold decisions this path leaves unset
        for d in self.space.decisions:
            self.current.setdefault(d.label, d.values[0])
        self.chosen = dict(arch)

    def fix(self, arch: Mapping[str, Any]) -> None:
        """Run this architecture until the next `resample()`; in mixture mode, set alpha to a
        one-hot (large-margin) encoding of it as well."""
        arch = self.space.validate(arch)
        self._set(arch)
        self.fixed = True
        self.mode.fix(self, arch)
        self._cache.clear()

    def encode(self, arch: Mapping[str, Any]) -> None:
        """Set alpha to a one-hot (large-margin) encoding of the valid `arch` (a mixture's `fix`)."""
        with torch.no_grad():
            for cell in self.cell_edges.values():
                for edge, row in fixed_alphas(cell, arch).items():
                    self.alphas[edge].copy_(torch.tensor(row))
            for d in self.space.decisions:
                if d.label in self.relaxed:
                    continue
                alpha = self.alphas[d.label]
                alpha.fill_(-1e4)
                if d.label in self.gates:   # gates on for the chosen subset (inactive: the first)
                    alpha[list(arch.get(d.label, d.values[0]))] = 1e4
                elif d.label in arch:
                    alpha[self.index(d.label, arch[d.label])] = 1e4
                else:
                    alpha[0] = 1e4  # inactive: any value, its paths carry no weight

    def statistics_kept(self):
        """Run extra forward passes (second-order steps, controller rewards) without touching
        any batch-norm running statistic of the network."""
        return keep_statistics(self.statistics)

    # -- reading the result

    def export(self) -> dict[str, Any]:
        """The architecture found, as the mode says: the most probable one (`most_probable`), or
        the current path without alpha (`current_path`)."""
        return self.mode.export(self)

    def current_path(self) -> dict[str, Any]:
        """The architecture on the current path."""
        if not self.chosen and self.space.decisions:
            raise NasError("no path to export: call resample() or fix(arch) first")
        return dict(self.chosen)

    def most_probable(self) -> dict[str, Any]:
        """The most probable architecture under the parameters that satisfies the space's
        constraints and budgets (`best.most_probable`; the argmax wherever that validates), a
        cell node's ops reading distinct inputs where they can."""
        if not self.cell_edges:
            return most_probable(self.space, self.log_probs(), self._distinct_inputs())
        if self.fixed:   # one vector per edge cannot encode every architecture: the fixed one is the answer
            return dict(self.chosen)
        # relaxed cells: DARTS's genotype, each value off it at a price far above any log-probability
        # (so a constraint or budget that rules the genotype out keeps as much of it as it can, the rest
        # by the slots' marginals); the other decisions at their most probable
        table = self.log_probs()
        with torch.no_grad():
            for cell in self.cell_edges.values():
                for label, value in genotype(cell, lambda e: softmax(self.alphas[e].detach().double()).tolist()).items():
                    values = self.space.decision(label).values
                    table[label] = [0.0 if v == value else score - PINNED for v, score in zip(values, table[label])]
        return most_probable(self.space, table, self._distinct_inputs())

    def log_probs(self) -> dict[str, list[float]]:
        """log P(value) of every value of every decision: `log_softmax(alpha)`, or for a gated
        subset choice the log-probability of each subset under its gates, given `min`."""
        out = {}
        with torch.no_grad():
            for cell in self.cell_edges.values():   # a relaxed cell's slots: their marginals under the edges
                marginals = slot_probs(cell, lambda e: softmax(self.alphas[e].detach().double()))
                out.update({lab: p.clamp_min(1e-300).log().tolist() for lab, p in marginals.items()})
            for d in self.space.decisions:
                if d.label in self.relaxed:
                    continue
                alpha = self.alphas[d.label].detach()
                scores = self._subset_scores(d.label, alpha) if d.label in self.gates else alpha
                out[d.label] = F.log_softmax(scores.double(), dim=-1).tolist()
        return out

    def _distinct_inputs(self) -> list[tuple[str, ...]]:
        """The DARTS genotype rule for `most_probable`: the input decisions of each cell node's
        op slots, one group per node, whose values (the inputs read) should differ; the export
        has the fewest repeated inputs any valid architecture has (none where the space allows).
        Cells relaxed by edges are left out: their genotype chose their inputs."""
        return [tuple(op.input_label for op in node) for cell in ir.walk(self.space.template)
                if isinstance(cell, ir.Cell) and cell.label not in self.cell_edges for node in cell.nodes]

    def log_prob(self, arch: Mapping[str, Any]) -> float:
        """log P(arch) under the parameters, over its active decisions."""
        table = self.log_probs()
        return sum(table[label][self.index(label, value)] for label, value in arch.items())

    def export_probs(self) -> dict[str, dict[str, float]]:
        """Softmax of every decision's parameters, by label and value; for a gated subset
        choice, each candidate's probability of being chosen, `sigmoid(a_i)`, by its index."""
        out = {}
        for cell in self.cell_edges.values():
            for edge in cell.edge_labels():
                out[edge] = dict(zip(cell.names, softmax(self.alphas[edge].detach()).tolist()))
        for d in self.space.decisions:
            if d.label in self.relaxed:
                continue
            if d.label in self.gates:
                p = torch.sigmoid(self.alphas[d.label].detach()).tolist()
                out[d.label] = {str(i): w for i, w in enumerate(p)}
            elif d.label in self.alphas:
                p = softmax(self.alphas[d.label].detach()).tolist()
                out[d.label] = {value_name(v): w for v, w in zip(d.values, p)}
        return out


def softmax(alpha: torch.Tensor) -> torch.Tensor:
    """The default mixture weights."""
    return F.softmax(alpha, dim=-1)


PINNED = 1e12     # score lost by a relaxed cell's decision off its genotype (`export`), far above best.DUPLICATE
_NEVER = -1e30    # log of probability zero, finite so that logaddexp keeps finite gradients


def subset_weights(logits: torch.Tensor, least: int, reduce: str) -> torch.Tensor:
    """Each candidate's weight in the expected output of an any-subset input choice whose
    candidates are chosen independently with probability `sigmoid(logits)`, given that at
    least `least` are: `w_i = E[b_i g(|S|) | |S| >= least]`, `g = 1` (sum) or `1/|S|` (mean).
    Computed in log space over the distribution of how many *other* candidates are chosen
    (a Poisson-binomial, O(k^2)), so extreme logits stay finite. With logits of +-1e4 (a fixed
    subset S) the weights are those of the discrete reduction: 1 (sum) or 1/|S| (mean) on S.

    Example::

        >>> [round(w, 3) for w in subset_weights(torch.tensor([0.0, 0.0]), 0, "mean").tolist()]
        [0.375, 0.375]
        >>> [round(w, 3) for w in subset_weights(torch.tensor([-20.0, -30.0]), 1, "sum").tolist()]
        [1.0, 0.0]
    """
    if reduce == "sum" and least == 0:
        return torch.sigmoid(logits)
    k, like = logits.shape[0], {"dtype": logits.dtype, "device": logits.device}
    on, off = F.logsigmoid(logits), F.logsigmoid(-logits)
    never = torch.full((k, 1), _NEVER, **like)
    # others[i, j] = log P(exactly j of the candidates other than i are chosen), j = 0..k-1
    others = torch.cat([torch.zeros(k, 1, **like), never.expand(k, k - 1)], dim=1)
    skip = torch.eye(k, dtype=torch.bool, device=logits.device)
    for t in range(k):
        step = torch.logaddexp(others + off[t], torch.cat([never, others[:, :-1]], dim=1) + on[t])
        others = torch.where(skip[:, t:t + 1], others, step)
    counts = torch.arange(k, device=logits.device)   # j others chosen: |S| = j + 1 when i is
    size_term = -torch.log1p(counts.to(logits.dtype)) if reduce == "mean" else torch.zeros(k, **like)
    kept = counts + 1 >= least
    numerator = torch.logsumexp(torch.where(kept, others + size_term, _NEVER), dim=1)
    row = others[0]                               # all k: candidate 0 added to the others of 0
    total = torch.logaddexp(torch.cat([row, never[0]]) + off[0], torch.cat([never[0], row]) + on[0])
    allowed = torch.logsumexp(total[least:], dim=0)
    return torch.exp(on + numerator - allowed)


def hard_weights(logits: torch.Tensor, least: int, reduce: str) -> torch.Tensor:
    """The discrete weights of the most probable subset under `logits`: the candidates with a
    positive logit, topped up by the largest others to `least`; 1 (sum) or 1/|S| (mean) on it."""
    chosen = logits > 0
    missing = least - int(chosen.sum())
    if missing > 0:
        rest = torch.where(chosen, torch.full_like(logits, float("-inf")), logits)
        chosen[torch.topk(rest, missing).indices] = True
    w = chosen.to(logits.dtype)
    return w / w.sum().clamp_min(1) if reduce == "mean" else w


def _index_of(values: tuple) -> dict:
    return {_key(v): i for i, v in enumerate(values)}


def _key(v: Any) -> Any:
    return (type(v).__name__, v)

