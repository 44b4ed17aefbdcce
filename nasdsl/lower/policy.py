"""How a supernet's choices execute: the three execution modes, apart from any search algorithm.

Every mixed module of a supernet reads one shared `ArchState`, so decisions that share a
label share one architecture parameter and one sampled value. The state knows *how* a choice
executes; the strategy in `nasdsl.strategy` decides *which* weights or path and how they learn.

* `mixture` — every path runs, weighted by `weigh(alpha)` (softmax by default; a strategy may
              install another map, e.g. Gumbel-softmax with its own temperature and generator);
* `path`    — one path runs: the architecture set by `fix()` or drawn by `resample(choose)`;
              no architecture parameters;
* `gated`   — one path runs, drawn from `softmax(alpha)`; `alpha` learns through binary gates:
              dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i), with dL/dg_j the inner product of
              the output gradient with path j's output (ProxylessNAS, Cai et al. 2019).

Randomness comes only from the state's own seeded `random.Random` and `torch.Generator`.

Example::

    >>> import nasdsl
    >>> state = ArchState(nasdsl.load("nasbench201"), "mixture", seed=0)
    >>> [round(w, 2) for w in state.probs("Cell.e1_0").tolist()]
    [0.2, 0.2, 0.2, 0.2, 0.2]
    >>> state = ArchState(nasdsl.load("nasbench201"), "path", seed=0)
    >>> state.resample(choose=lambda d: d.values[1])["Cell.e1_0"]
    'skip_connect'
"""
from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import ir
from ..errors import ArchitectureError, NasError
from ..space import Space

MODES = ("mixture", "path", "gated")

Chooser = Callable[[Any], Any]


class ArchState:
    """Architecture parameters and the current path of one supernet, for one execution mode.

    `mixes` (every path, weighted) and `gated` (one path, binary gates on alpha) are the two
    questions a mixed module asks; `name` (the strategy's name, or the mode) only words messages.
    """

    def __init__(self, space: Space, mode: str, *, name: str | None = None, seed: int | None = None,
                 init_std: float = 1e-3):
        if mode not in MODES:
            raise NasError(f"unknown execution mode {mode!r}; choose one of {', '.join(MODES)}")
        self.space = space
        self.mode = mode
        self.name = name or mode
        self.mixes = mode == "mixture"
        self.gated = mode == "gated"
        self.rng = random.Random(seed)
        self.generator = torch.Generator().manual_seed(seed if seed is not None else 0)
        self.weigh: Callable[[torch.Tensor], torch.Tensor] = softmax
        self.alphas: dict[str, nn.Parameter] = {}
        if mode != "path":
            init = torch.Generator().manual_seed(seed if seed is not None else 0)
            for d in space.decisions:
                self.alphas[d.label] = nn.Parameter(torch.randn(len(d.values), generator=init) * init_std)
        self.current: dict[str, Any] = {}   # every label's value on the current path
        self.chosen: dict[str, Any] = {}    # the current architecture (active decisions only)
        self._index: dict[str, dict[Any, int]] = {d.label: _index_of(d.values) for d in space.decisions}
        self._cache: dict[str, torch.Tensor] = {}
        self.shared: dict = {}   # results shared between mixtures within one forward pass (lower.passes)
        self.fixed = False
        self.statistics: list[torch.Tensor] = []  # running statistics, kept across gate recomputation

    # -- per forward pass

    def begin(self) -> None:
        """Start a forward pass: weights (e.g. Gumbel noise) are drawn once per pass."""
        self._cache.clear()

    def probs(self, label: str) -> torch.Tensor:
        """Weights over the domain of `label` (mixture mode): `weigh(alpha)` while training a
        free architecture, `softmax(alpha)` when fixed or without gradient."""
        cached = self._cache.get(label)
        if cached is None:
            alpha = self.alphas[label]
            free = torch.is_grad_enabled() and not self.fixed
            cached = self.weigh(alpha) if free else softmax(alpha)
            self._cache[label] = cached
        return cached

    def value(self, label: str) -> Any:
        """The value of `label` on the current path (path and gated modes)."""
        try:
            return self.current[label]
        except KeyError:
            raise NasError(f"decision {label!r} has no sampled value: call resample() or fix(arch) first") from None

    def index(self, label: str, value: Any) -> int:
        key = tuple(value) if isinstance(value, list) else value
        return self._index[label][_key(key)]

    # -- choosing paths

    def resample(self, choose: Chooser | None = None) -> dict[str, Any]:
        """Set a new path. `choose(decision) -> value` is the strategy's policy (a controller,
        architecture weights); without one, the path mode draws each decision uniformly and
        the gated mode draws from `softmax(alpha)`, both from this state's seeded generators.
        A policy that keeps breaking the space's constraints is an `ArchitectureError`."""
        if choose is None and self.gated:
            choose = self.draw_from_alpha
        arch = self.space.sample(choose=choose) if choose is not None else self.space.sample(self.rng)
        self._set(arch)
        self.fixed = False
        return arch

    def draw_from_alpha(self, decision) -> Any:
        """One value of `decision` drawn from `softmax(alpha)` with this state's generator."""
        p = softmax(self.alphas[decision.label].detach())
        return decision.values[int(torch.multinomial(p, 1, generator=self.generator).item())]

    def _set(self, arch: Mapping[str, Any]) -> None:
        self.current = _internal(arch)
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
        if self.mixes:
            with torch.no_grad():
                for d in self.space.decisions:
                    alpha = self.alphas[d.label]
                    alpha.fill_(-1e4)
                    if d.label in arch:
                        alpha[self.index(d.label, arch[d.label])] = 1e4
                    else:
                        alpha[0] = 1e4  # inactive: any value, its paths carry no weight
        self._cache.clear()

    def statistics_kept(self):
        """Run extra forward passes (second-order steps, controller rewards) without touching
        any batch-norm running statistic of the network."""
        return keep_statistics(self.statistics)

    # -- reading the result

    def export(self) -> dict[str, Any]:
        """The architecture the parameters prefer (argmax per active decision, a cell node's ops
        reading distinct inputs where they can; if that breaks a constraint, the most probable
        of 200 valid draws), or the current path without alpha."""
        if self.mode == "path":
            if not self.chosen and self.space.decisions:
                raise NasError("no path to export: call resample() or fix(arch) first")
            return dict(self.chosen)
        try:
            return self.space.sample(choose=self._argmax_chooser(), attempts=1)
        except ArchitectureError:
            draws = [self.space.sample(choose=self.draw_from_alpha) for _ in range(200)]
            return max(draws, key=self.log_prob)

    def _argmax_chooser(self) -> Callable[[Any], Any]:
        """Each decision's most probable value, except that the ops of one cell node take their
        best *distinct* inputs, as DARTS derives a genotype (a node reads its two strongest
        different predecessors): an op slot takes an input another slot of its node already
        took only when no other input is left."""
        node_of = {op.input_label: (cell.label, i) for cell in ir.walk(self.space.template)
                   if isinstance(cell, ir.Cell) for i, node in enumerate(cell.nodes) for op in node}
        taken: dict[tuple[str, int], set] = {}

        def choose(d):
            ranked = [d.values[i] for i in torch.argsort(self.alphas[d.label].detach(), descending=True).tolist()]
            if d.label not in node_of:
                return ranked[0]
            used = taken.setdefault(node_of[d.label], set())
            value = next((v for v in ranked if v not in used), ranked[0])
            used.add(value)
            return value
        return choose

    def log_prob(self, arch: Mapping[str, Any]) -> float:
        """log P(arch) under softmax(alpha), over its active decisions."""
        total = 0.0
        for label, value in arch.items():
            p = F.log_softmax(self.alphas[label].detach(), dim=-1)
            total += float(p[self.index(label, value)])
        return total

    def export_probs(self) -> dict[str, dict[str, float]]:
        """Softmax of every decision's parameters, by label and value."""
        out = {}
        for d in self.space.decisions:
            if d.label in self.alphas:
                p = softmax(self.alphas[d.label].detach()).tolist()
                out[d.label] = {_show(v): w for v, w in zip(d.values, p)}
        return out


@contextlib.contextmanager
def keep_statistics(buffers: list[torch.Tensor]):
    """Restore `buffers` (running statistics) when the block ends."""
    saved = [(b, b.clone()) for b in buffers]
    try:
        yield
    finally:
        for buffer, value in saved:
            buffer.data.copy_(value)  # .data: restoring is not an autograd-visible change


def norm_buffers(*modules: nn.Module) -> list[torch.Tensor]:
    """The running statistics of every normalisation layer inside `modules`: what running
    other paths for a binary gate may change, hence all it has to restore."""
    seen: set[int] = set()
    out = []
    for module in modules:
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._NormBase):
                for b in m.buffers(recurse=False):
                    if id(b) not in seen:
                        seen.add(id(b))
                        out.append(b)
    return out


def softmax(alpha: torch.Tensor) -> torch.Tensor:
    """The default mixture weights."""
    return F.softmax(alpha, dim=-1)


class BinaryGate(torch.autograd.Function):
    """Identity on the sampled path's output; in backward, ProxylessNAS's gradient for alpha.

    `others(j)` computes path j's output (without gradient) only when backward needs it;
    `statistics` are the running statistics those paths can reach (`norm_buffers` of the
    gate's own candidates), restored afterwards so that the gates leave them as the sampled
    path's forward left them.
    """

    @staticmethod
    def forward(ctx, out: torch.Tensor, alpha: torch.Tensor, index: int,
                others: Callable[[int], torch.Tensor], statistics: list[torch.Tensor]) -> torch.Tensor:
        ctx.save_for_backward(out.detach(), alpha.detach())
        ctx.index = index
        ctx.others = others
        ctx.statistics = statistics
        return out.view_as(out)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        out, alpha = ctx.saved_tensors
        p = F.softmax(alpha, dim=-1)
        g = torch.zeros_like(p)
        with torch.no_grad(), keep_statistics(ctx.statistics):
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


def _internal(arch: Mapping[str, Any]) -> dict[str, Any]:
    """Architecture values as the IR holds them (input subsets as tuples)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in arch.items()}
