"""Lowering to a plain PyTorch model for one architecture.

The result holds only the chosen modules, under the names the source gives them (the
module of a statement `stem = x -> Conv2d(...) -> BatchNorm2d(...)` is `stem.0`, a chosen
candidate takes the place of its choice, a repeat keeps its first `depth` blocks), and runs
a fixed list of steps: no choice logic is left at run time, so it traces, compiles and
exports like any hand-written module.

Example::

    >>> space = nasdsl.load("nasbench201")
    >>> model = build(space, space.sample(seed=0))
    >>> model(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from .. import resolve
from ..errors import UNKNOWN, NasError
from ..ops.modules import build_op
from ..space import Space
from .passes import channels_last_inputs, layout_safe


class Chain(nn.Sequential):
    """`nn.Sequential` whose steps may take and return several tensors (as tuples)."""

    def forward(self, *xs):  # type: ignore[override]
        for module in self:
            out = module(*xs)
            xs = out if isinstance(out, tuple) else (out,)
        return xs[0] if len(xs) == 1 else xs


def reduce_inputs(tensors: list[torch.Tensor], how: str, like: torch.Tensor | None = None) -> torch.Tensor:
    """Merge the tensors an input choice picked; none picked (`n="any", min=0`): zeros shaped
    like `like` (a candidate), for sum and mean alike."""
    if not tensors:
        return torch.zeros_like(like)
    if how == "concat":
        return torch.cat(tensors, dim=1)
    total = tensors[0]
    for t in tensors[1:]:
        total = total + t
    return total / len(tensors) if how == "mean" else total


def combine(fn: str, tensors: list[torch.Tensor], dim: int) -> torch.Tensor:
    if fn == "zeros":  # an input choice that chose nothing
        return torch.zeros_like(tensors[0])
    if fn == "cat":
        return torch.cat(tensors, dim=dim)
    out = tensors[0]
    for t in tensors[1:]:
        out = out * t if fn == "mul" else out + t
    return out / len(tensors) if fn == "mean" else out


def last_reads(reads: list[tuple[Hashable, ...]], writes: list[tuple[Hashable, ...]],
               keep: Iterable[Hashable]) -> list[tuple[Hashable, ...]]:
    """Liveness of a straight-line plan: per step, the values (names or slots) that no later
    step reads and `keep` (the outputs) does not hold, read last or written unread there. An
    interpreter drops them after that step, so a tensor lives as long as straight-line code
    would keep it, not until the end of the forward pass (autograd keeps what backward needs
    either way).

    Example::

        >>> last_reads([("x",), ("a",), ("x", "b")], [("a",), ("b", "unused"), ("y",)], ["y"])
        [(), ('a', 'unused'), ('x', 'b')]
    """
    last: dict[Hashable, int] = {}
    for i, (ins, outs) in enumerate(zip(reads, writes)):
        for v in (*ins, *outs):
            last[v] = i
    keep = set(keep)
    dead: list[list[Hashable]] = [[] for _ in reads]
    for v, i in last.items():
        if v not in keep:
            dead[i].append(v)
    return [tuple(d) for d in dead]


class GraphModule(nn.Module):
    """Named dataflow: submodules registered under their source names, and a fixed plan.

    Each step is `(kind, target, input slots, output slots, extra)`; tensors live in a list
    indexed by slot, so the forward pass is a straight loop over the steps, which drops each
    tensor after its last read (`last_reads`).
    """

    def __init__(self, inputs: tuple[str, ...], modules: dict[str, nn.Module], steps: list[tuple],
                 outputs: tuple[str, ...]):
        super().__init__()
        slots = {name: i for i, name in enumerate(inputs)}
        for name, module in modules.items():
            attach(self, name, module)
        self._calls: list[nn.Module | None] = []
        plan = []
        for kind, target, ins, outs, extra in steps:
            for o in outs:
                slots.setdefault(o, len(slots))
            plan.append((kind, len(self._calls), tuple(slots[i] for i in ins), tuple(slots[o] for o in outs), extra))
            self._calls.append(modules.get(target) if kind == "apply" else None)
        self._outputs = tuple(slots[o] for o in outputs)
        dead = last_reads([p[2] for p in plan], [p[3] for p in plan], self._outputs)
        self._plan = [(*step, frees) for step, frees in zip(plan, dead)]
        self._n_slots = len(slots)
        self._n_inputs = len(inputs)

    def forward(self, *inputs: torch.Tensor):
        values: list[Any] = list(inputs) + [None] * (self._n_slots - self._n_inputs)
        for kind, call, ins, outs, extra, frees in self._plan:
            args = [values[i] for i in ins]
            if kind == "apply":
                out = self._calls[call](*args)
                if len(outs) == 1:
                    values[outs[0]] = out
                else:
                    for slot, v in zip(outs, out):
                        values[slot] = v
            elif kind == "pick":
                values[outs[0]] = reduce_inputs(args, extra)
            else:
                values[outs[0]] = combine(kind, args, extra)
            for slot in frees:
                values[slot] = None
        if len(self._outputs) == 1:
            return values[self._outputs[0]]
        return tuple(values[o] for o in self._outputs)


def attach(root: nn.Module, dotted: str, module: nn.Module) -> str:
    """Register `module` at a dotted path, creating plain containers for the prefixes; return
    the path used (flattened with `_` below a prefix that is already a real module)."""
    parts = dotted.split(".")
    parent = root
    for i, part in enumerate(parts[:-1]):
        child = parent._modules.get(part)
        if child is None:
            child = nn.Module()
            parent.add_module(part, child)
        elif type(child) is not nn.Module:  # a real module sits at the prefix: flatten the rest
            flat = "_".join(parts[i:])
            parent.add_module(flat, module)
            return ".".join(parts[:i] + [flat])
        parent = child
    parent.add_module(parts[-1], module)
    return dotted


class DiscreteCell(nn.Module):
    """One architecture of a DARTS / NNI cell: fixed ops reading fixed inputs."""

    def __init__(self, preprocess: list[nn.Module], ops: dict[str, nn.Module], wiring: list[list[tuple[str, int]]],
                 merge_nodes: list[int], concat_dim: int, postprocess: nn.Module | None):
        super().__init__()
        self.preprocess = nn.ModuleList(preprocess)
        self.ops = nn.ModuleDict(ops)
        self.postprocess = postprocess if postprocess is not None else nn.Identity()
        self._wiring = [[(self.ops[name], j) for name, j in node] for node in wiring]
        self._merge = merge_nodes
        self._dim = concat_dim

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        states = [pre(x) for pre, x in zip(self.preprocess, inputs)]
        for node in self._wiring:
            out = None
            for op, j in node:
                y = op(states[j])
                out = y if out is None else out + y
            states.append(out)
        merged = [states[i] for i in self._merge]
        return self.postprocess(merged[0] if len(merged) == 1 else torch.cat(merged, dim=self._dim))


class _Builder:
    """Makes one `nn.Module` per record of a resolved architecture (`nasdsl.resolve`): a record
    used in two places is one module in two places (shared weights)."""

    def __init__(self):
        self.memo: dict[int, nn.Module] = {}

    def module(self, r: resolve.Node) -> nn.Module:
        hit = self.memo.get(id(r))
        if hit is None:
            hit = self.memo[id(r)] = self._module(r)
        return hit

    def _module(self, r: resolve.Node) -> nn.Module:
        if isinstance(r, resolve.Op):
            try:
                return build_op(r.name, r.args)
            except (TypeError, ValueError, RuntimeError) as err:
                shown = ", ".join(f"{k}={v!r}" for k, v in r.args.items())
                raise NasError(f"{r.name}({shown}): {err}", r.source.loc if r.source else UNKNOWN) from None
        if isinstance(r, resolve.Chain):
            return Chain(*(self.module(item) for item in r.items))
        if isinstance(r, resolve.Graph):
            modules = {name: self.module(m) for name, m in r.modules.items()}
            steps = [(s.kind, s.target, s.inputs, s.outputs, s.extra[0] if s.kind == "pick" else s.extra)
                     for s in r.steps]
            return GraphModule(r.inputs, modules, steps, r.outputs)
        return DiscreteCell([self.module(p) for p in r.preprocess], {k: self.module(m) for k, m in r.ops.items()},
                            r.wiring, r.merge, r.source.concat_dim, self.module(r.postprocess))


picked = resolve.picked  # the supernet reads input choices with the same rule


def build(space: Space, arch: Mapping[str, Any], *, channels_last: bool | None = None) -> nn.Module:
    """The plain `nn.Module` of one architecture of `space` (validated first). With
    `channels_last` 4-d CPU inputs enter it in the channels-last memory layout, as they enter
    a supernet (`nasdsl.lower.passes`): the same values, faster CPU convolutions. The default
    is the supernet's: on unless the space uses a custom op (`passes.layout_safe`);
    `channels_last=False` keeps the inputs' layout."""
    if channels_last is None:
        channels_last = layout_safe(space.template)
    return build_resolved(resolve.resolve(space, arch), channels_last=channels_last)


def build_resolved(root: resolve.Node, *, channels_last: bool = False) -> nn.Module:
    """The plain `nn.Module` of an architecture already resolved (`nasdsl.resolve.resolve`)."""
    model = _Builder().module(root)
    if channels_last:
        model.register_forward_pre_hook(channels_last_inputs)
    return model
