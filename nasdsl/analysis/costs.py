"""The parameters and FLOPs of one architecture, without torch: the template walked once for the
architecture `nasdsl.resolve` picks out, with constant shapes (`ArchWalker`).

Costs follow the discrete model of one architecture exactly: parameters as
`sum(p.numel() for p in model.parameters())` (a template node used twice is one module,
counted once), FLOPs as multiply-accumulates of one sample. `check_budgets` holds an
architecture to the space's budgets (`require params <= 5e6`) with them.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any

from .. import ir, resolve
from ..arch import arch_values
from ..conditions import holds
from ..errors import UNKNOWN as UNKNOWN_LOC
from ..errors import ArchitectureError, NasError
from ..ops.rules import Rule
from ..values import free_labels, to_text
from .walker import Shape, Walker, bounded, op_text

__all__ = ["costs", "activation_elements", "check_budgets"]


class ArchWalker(Walker):
    """One architecture, resolved (`nasdsl.resolve`): constant shapes, costs accumulated."""

    def __init__(self):
        super().__init__()
        self.params = 0
        self.macs = 0
        self.activations = 0                      # elements of every op's output, one sample
        self.seen: set[int] = set()               # ops whose parameters are counted
        self.ops: dict[tuple, tuple] = {}         # (name, args, input) -> (output, params, MACs)

    def node(self, r: resolve.Node, xs: tuple) -> tuple:
        if isinstance(r, resolve.Op):
            return (self.resolved_op(r, xs[0]),)
        key = (id(r), xs)
        hit = self.memo.get(key)
        if hit is None:  # a module applied again costs its MACs again, its parameters once
            before, acts = self.macs, self.activations
            outs = self._node(r, xs)
            hit = self.memo[key] = (outs, self.macs - before, self.activations - acts)
        else:
            self.macs += hit[1]
            self.activations += hit[2]
        return hit[0]

    def _node(self, r: resolve.Node, xs: tuple) -> tuple:
        if isinstance(r, resolve.Chain):
            for item in r.items:
                xs = self.node(item, xs)
            return xs
        if isinstance(r, resolve.Graph):
            return self.resolved_graph(r, xs)
        return (self.resolved_cell(r, xs),)

    def resolved_op(self, r: resolve.Op, x: Shape) -> Shape:
        """Memoised by what the op is (its arguments are fixed by the architecture), so repeated
        cells cost one dictionary lookup per op; parameters still count once per module."""
        key = (r.name, r.source.args if r.source is not None else (), x)
        hit = self.ops.get(key)
        if hit is None:
            params, macs = self.params, self.macs
            self.seen.add(id(r))
            y = self.apply(r.source or ir.Op(r.name, (), UNKNOWN_LOC), r.args, x, ())
            self.activations += _elements(y)
            hit = self.ops[key] = (y, self.params - params, self.macs - macs)
            return y
        if id(r) not in self.seen:
            self.seen.add(id(r))
            self.params += hit[1]
        self.macs += hit[2]
        self.activations += _elements(hit[0])
        return hit[0]

    def resolved_graph(self, g: resolve.Graph, xs: tuple) -> tuple:
        env = self.graph_inputs(g.source, xs, ())
        for step in g.steps:
            shapes = [env[i] for i in step.inputs]
            if step.kind == "apply":
                env.update(zip(step.outputs, self.node(g.modules[step.target], tuple(shapes))))
            elif step.kind == "pick":
                n = step.source
                if n.reduce == "concat":
                    env[n.out] = self.concat(shapes, 1, (), n.loc, f"pick {n.label!r}")
                else:
                    env[n.out] = self.broadcast(shapes, (), n.loc, f"pick {n.label!r}")
            elif step.kind == "zeros":
                env[step.outputs[0]] = shapes[0]
            else:
                env[step.outputs[0]] = bounded(self.combine(step.source, shapes, ()))
        return tuple(env[o] for o in g.outputs)

    def resolved_cell(self, c: resolve.Cell, xs: tuple) -> Shape:
        cell = c.source
        states = [self.node(p, (x,))[0] for p, x in zip(c.preprocess, xs)]
        for node in c.wiring:
            outs = [self.node(c.ops[name], (states[j],))[0] for name, j in node]
            states.append(self.broadcast(outs, (), cell.loc, f"cell {cell.label!r} sum"))
        merge = [states[i] for i in c.merge]
        out = merge[0] if len(merge) == 1 else self.concat(merge, cell.concat_dim, (), cell.loc,
                                                            f"cell {cell.label!r} merge")
        return self.node(c.postprocess, (out,))[0]

    def count(self, m: ir.Op, rule: Rule, args: dict, x: tuple, y: tuple) -> None:
        try:
            self.params += rule.params(args)
            self.macs += rule.macs(args, x, y)
        except (TypeError, ValueError, ArithmeticError, KeyError, IndexError) as err:
            raise NasError(f"{op_text(m, args)}: cannot count its cost ({type(err).__name__}: {err})",
                           m.loc) from None

    def unknown_op(self, m: ir.Op, args: dict, x: Shape) -> Shape:
        raise NasError(f"{m.name} has no shape and cost rule: give it one (nasdsl.register_op(..., rule=...) or "
                       "nasdsl.analysis.shapes.register_rule) to count its parameters and FLOPs", m.loc)


_LOCAL = threading.local()


def costs(space, arch: Mapping[str, Any], validate: bool = True) -> dict[str, int]:
    """`{"params": ..., "flops": ...}` of one architecture, without torch.

    `params` is exactly `sum(p.numel() for p in build(space, arch).parameters())` of the
    discrete model (`nasdsl.lower.discrete`): weights and biases, affine BatchNorm / LayerNorm
    / GroupNorm parameters, a module used twice counted once. `flops` counts
    multiply-accumulates (MACs) for ONE input sample, the convention of most NAS papers:
    convolutions (`out.numel() * in_channels / groups * kernel area`), linear layers
    (`out.numel() * in_features`) and attention (projections and the two matmuls); norms,
    pools, activations and additions count nothing. `validate=False` skips validation (the
    architecture must then be canonical, as `Space.validate` returns it).
    """
    if validate:
        _LOCAL.skip_budgets = getattr(_LOCAL, "skip_budgets", 0) + 1
        try:
            arch = space.validate(arch)
        finally:
            _LOCAL.skip_budgets -= 1
    root = resolve.resolve(space, arch, validate=False)
    walker = ArchWalker()
    walker.node(root, tuple(tuple(t.shape) for t in space.template.inputs))
    return {"params": walker.params, "flops": walker.macs}


def _elements(shape: Any) -> int:
    return math.prod(d for d in shape if isinstance(d, int)) if isinstance(shape, tuple) else 0


def activation_elements(space, arch: Mapping[str, Any]) -> int:
    """Elements of every op's output for ONE input sample of a (canonical) architecture: what
    a training step keeps for the backward pass, from the shape analysis, without torch (an
    estimate: PyTorch may free or add buffers; `compile` bounds memory with it)."""
    root = resolve.resolve(space, arch, validate=False)
    walker = ArchWalker()
    walker.node(root, tuple(tuple(t.shape) for t in space.template.inputs))
    return walker.activations


def check_budgets(space, arch: Mapping[str, Any]) -> None:
    """Hold a (canonical) architecture to the space's budgets (`require params <= 5e6`);
    raise `ArchitectureError` naming the constraint and the architecture's cost."""
    if not space.budgets or getattr(_LOCAL, "skip_budgets", 0):
        return
    found = costs(space, arch, validate=False)
    view = arch_values(arch)
    view.update({"@params": found["params"], "@flops": found["flops"]})
    for c in space.budgets:
        if holds(c, view):
            continue
        labels = free_labels(c.expr)
        has = " and ".join(f"{found[name]:,} {'FLOPs (MACs)' if name == 'flops' else 'params'}"
                           for name in ("params", "flops") if "@" + name in labels)
        what = f" ({c.message})" if c.message else ""
        raise ArchitectureError(f"architecture has {has}, violates `{c.kind} {to_text(c.expr)}`{what}", c.loc)
