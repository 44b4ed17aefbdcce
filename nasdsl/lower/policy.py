"""How a supernet decides, per strategy: architecture weights, sampled paths, binary gates.

One `ArchPolicy` is shared by every mixed module of a supernet, so decisions that share a
label share one architecture parameter and one sampled value.

* `darts`     — weights are `softmax(alpha)`, every path runs;
* `gumbel`    — weights are Gumbel-softmax samples of `alpha` (temperature `tau`, optional
                straight-through `hard` one-hot), redrawn each forward pass;
* `spos`, `enas`, `random` — one path runs: the architecture drawn by `resample()` (ENAS's
                controller draws it and hands it over with `fix()`); no architecture parameters;
* `proxyless` — one path runs, drawn from `softmax(alpha)`; `alpha` learns through binary
                gates: dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i), with dL/dg_j the inner
                product of the output gradient with path j's output (ProxylessNAS, Cai et al. 2019).

Example::

    >>> policy = ArchPolicy(nasdsl.load("nasbench201", {"C": 8, "N": 1}), "darts")
    >>> probs = policy.probs("Cell.e1_0")  # softmax over the 5 candidates (alpha starts near 0)
    >>> probs = probs.detach()
    >>> probs.shape, round(float(probs.sum()), 6), bool(((probs - 0.2).abs() < 0.01).all())
    (torch.Size([5]), 1.0, True)
"""
from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import NasError
from ..space import Space

STRATEGIES = ("darts", "gumbel", "spos", "enas", "random", "proxyless")
DIFFERENTIABLE = ("darts", "gumbel")
WITH_ALPHA = ("darts", "gumbel", "proxyless")


class ArchPolicy:
    """Architecture parameters and the current path of one supernet."""

    def __init__(self, space: Space, strategy: str, *, tau: float = 1.0, hard: bool = False,
                 seed: int | None = None, init_std: float = 1e-3):
        if strategy not in STRATEGIES:
            raise NasError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
        self.space = space
        self.strategy = strategy
        self.differentiable = strategy in DIFFERENTIABLE
        self.tau = tau
        self.hard = hard
        self.rng = random.Random(seed)
        gen = torch.Generator().manual_seed(seed if seed is not None else 0)
        self.alphas: dict[str, nn.Parameter] = {}
        if strategy in WITH_ALPHA:
            for d in space.decisions:
                self.alphas[d.label] = nn.Parameter(torch.randn(len(d.values), generator=gen) * init_std)
        self.current: dict[str, Any] = {}   # every label's value on the current path
        self.chosen: dict[str, Any] = {}    # the current architecture (active decisions only)
        self._index: dict[str, dict[Any, int]] = {d.label: _index_of(d.values) for d in space.decisions}
        self._cache: dict[str, torch.Tensor] = {}
        self.fixed = False
        self.statistics: list[torch.Tensor] = []  # running statistics, kept across gate recomputation

    # -- per forward pass

    def begin(self) -> None:
        """Start a forward pass: Gumbel noise and softmaxes are drawn once per pass."""
        self._cache.clear()

    def probs(self, label: str) -> torch.Tensor:
        """Weights over the domain of `label` (differentiable strategies)."""
        cached = self._cache.get(label)
        if cached is None:
            alpha = self.alphas[label]
            if self.strategy == "gumbel" and torch.is_grad_enabled() and not self.fixed:
                cached = F.gumbel_softmax(alpha, tau=self.tau, hard=self.hard, dim=-1)
            else:
                cached = F.softmax(alpha, dim=-1)
            self._cache[label] = cached
        return cached

    def value(self, label: str) -> Any:
        """The value of `label` on the current path (sampling strategies)."""
        try:
            return self.current[label]
        except KeyError:
            raise NasError(f"decision {label!r} has no sampled value: call resample() or fix(arch) first") from None

    def index(self, label: str, value: Any) -> int:
        key = tuple(value) if isinstance(value, list) else value
        return self._index[label][_key(key)]

    # -- choosing paths

    def resample(self) -> dict[str, Any]:
        """Draw a new path: uniform per decision, or from softmax(alpha) for proxyless."""
        if self.strategy == "proxyless":
            arch = self._sample_from_alpha()
        else:
            arch = self.space.sample(self.rng)
        self.current = self._complete(_internal(self.space, arch))
        self.chosen = dict(arch)
        self.fixed = False
        return arch

    def _complete(self, current: dict[str, Any]) -> dict[str, Any]:
        """Give inactive decisions a value too: proxyless's binary gates run the paths not taken,
        and those may contain decisions the current path leaves unset (their first value)."""
        for d in self.space.decisions:
            current.setdefault(d.label, d.values[0])
        return current

    def _sample_from_alpha(self) -> dict[str, Any]:
        from ..space import INACTIVE, _holds, _truthy, partial_eval
        for _ in range(1000):
            view: dict[str, Any] = {}
            for d in self.space.plan.order:
                if not _truthy(partial_eval(d.condition, view)):
                    view[d.label] = INACTIVE
                    continue
                p = F.softmax(self.alphas[d.label].detach(), dim=-1)
                view[d.label] = d.values[int(torch.multinomial(p, 1, generator=None).item())]
            if all(_holds(c, view) for c in self.space.constraints):
                return self.space._export(view)
        return self.space.sample(self.rng)

    def fix(self, arch: Mapping[str, Any]) -> None:
        """Run this architecture until the next `resample()`; with the differentiable
        strategies, set alpha to a one-hot (large-margin) encoding of it instead."""
        arch = self.space.validate(arch)
        self.current = self._complete(_internal(self.space, arch))
        self.chosen = dict(arch)
        self.fixed = True
        if self.differentiable:
            with torch.no_grad():
                for d in self.space.decisions:
                    alpha = self.alphas[d.label]
                    alpha.fill_(-1e4)
                    if d.label in arch:
                        alpha[self.index(d.label, arch[d.label])] = 1e4
                    else:
                        alpha[0] = 1e4  # inactive: any value, its paths carry no weight
        self._cache.clear()

    @contextlib.contextmanager
    def statistics_kept(self):
        """Run paths for gate gradients without touching batch-norm running statistics."""
        saved = [(b, b.clone()) for b in self.statistics]
        try:
            yield
        finally:
            for buffer, value in saved:
                buffer.data.copy_(value)  # .data: restoring is not an autograd-visible change

    def export(self) -> dict[str, Any]:
        """The architecture the parameters prefer: argmax per active decision."""
        if not self.alphas:
            return dict(self.chosen) if self.chosen else self.space.sample(self.rng)
        from ..space import INACTIVE, _truthy, partial_eval
        view: dict[str, Any] = {}
        for d in self.space.plan.order:
            if not _truthy(partial_eval(d.condition, view)):
                view[d.label] = INACTIVE
                continue
            order = torch.argsort(self.alphas[d.label].detach(), descending=True).tolist()
            view[d.label] = d.values[order[0]]
        return self.space.validate(self.space._export(view))

    def export_probs(self) -> dict[str, dict[str, float]]:
        """Softmax of every decision's parameters, by label and value."""
        out = {}
        for d in self.space.decisions:
            if d.label in self.alphas:
                p = F.softmax(self.alphas[d.label].detach(), dim=-1).tolist()
                out[d.label] = {_show(v): w for v, w in zip(d.values, p)}
        return out


class BinaryGate(torch.autograd.Function):
    """Identity on the sampled path's output; in backward, ProxylessNAS's gradient for alpha.

    `others(j)` computes path j's output (without gradient) only when backward needs it.
    """

    @staticmethod
    def forward(ctx, out: torch.Tensor, alpha: torch.Tensor, index: int,
                others: Callable[[int], torch.Tensor], policy: ArchPolicy) -> torch.Tensor:
        ctx.save_for_backward(out.detach(), alpha.detach())
        ctx.index = index
        ctx.others = others
        ctx.policy = policy
        return out.view_as(out)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        out, alpha = ctx.saved_tensors
        p = F.softmax(alpha, dim=-1)
        g = torch.zeros_like(p)
        with torch.no_grad(), ctx.policy.statistics_kept():
            for j in range(len(p)):
                o = out if j == ctx.index else ctx.others(j)
                g[j] = inner(grad, o)
        dalpha = p * (g - (g * p).sum())   # sum_j g_j p_j (delta_ij - p_i)
        return grad, dalpha, None, None, None


def inner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Inner product over the overlap of two tensors (paths may differ in width)."""
    if a.shape != b.shape:
        slices = tuple(slice(0, min(x, y)) for x, y in zip(a.shape, b.shape))
        a, b = a[slices], b[slices]
    return (a * b).sum()


def _index_of(values: tuple) -> dict:
    return {_key(v): i for i, v in enumerate(values)}


def _key(v: Any) -> Any:
    return (type(v).__name__, v)


def _show(v: Any) -> str:
    return ",".join(map(str, v)) if isinstance(v, tuple) else str(v)


def _internal(space: Space, arch: Mapping[str, Any]) -> dict[str, Any]:
    """Architecture values as the IR holds them (input subsets as tuples)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in arch.items()}
