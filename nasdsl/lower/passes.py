"""Rewrite passes over a supernet's mixtures: the same sums, computed with less work and memory.

In the mixture mode (darts, gumbel) a layer choice or a cell edge computes `sum_i w_i c_i(x)`
over its candidates' IR (`ir.Op` / `ir.Sequential` items). `MixPlan` lowers one such sum; each
pass below rewrites how it is computed, never what (weights keep their names, so
`sub_state_dict` and checkpoints are unchanged), and each can be switched off by name
(`build_supernet(space, mode, passes=...)`; `passes=()` runs the plain weighted sum):

* `drop_zero`     — a candidate whose output is exactly zero (`Zero`, DARTS/NB201's `none`) is not
                    run; its alpha still enters the softmax, so the other weights are unchanged.
* `shared_prefix` — the leading parameter-free ops of a candidate (the ReLU of ReLU-Conv-BN, a
                    whole pooling candidate) are computed once per input tensor and shared by
                    every candidate, and every mixture, that applies them to the same tensor.
* `fold_bn`       — `w * BN(z)` is a batch norm with affine `w*gamma, w*beta` (or `w`, `0`
                    without affine): no multiply, no extra saved activation.
* `fused_mix`     — the remaining terms accumulate with one fused multiply-add (`addcmul`).
* `fast_avgpool`  — `AvgPool2d(count_include_pad=False)` as a depthwise ones-kernel convolution
                    times a cached 1/count map (every mode; same result to rounding).

`checkpoint=True` (a supernet option, off by default) recomputes each mixture in the backward
pass instead of keeping its candidates' activations (time for memory); running statistics are
updated once, as without it.

Example::

    >>> import nasdsl, torch
    >>> from nasdsl.lower.supernet import build_supernet
    >>> space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    >>> x = torch.randn(2, 3, 32, 32)
    >>> _ = torch.manual_seed(0); fast = build_supernet(space, "mixture", seed=0)
    >>> _ = torch.manual_seed(0); plain = build_supernet(space, "mixture", seed=0, passes=())
    >>> torch.allclose(fast(x), plain(x), atol=1e-5)
    True
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .. import ir
from ..errors import NasError
from ..values import free_labels
from .policy import keep_statistics, norm_buffers

PASSES = ("drop_zero", "shared_prefix", "fold_bn", "fused_mix", "fast_avgpool")

# parameter-free, state-free, deterministic ops (with inplace=False): safe to compute once
PURE = frozenset({"ReLU", "ReLU6", "LeakyReLU", "GELU", "SiLU", "Sigmoid", "Tanh", "Hardswish", "Hardsigmoid",
                  "Identity", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
                  "AdaptiveAvgPool2d", "Flatten"})


def check_passes(passes: Iterable[str]) -> frozenset[str]:
    """The set of passes to run; an unknown name is an error naming the known ones."""
    chosen = frozenset(passes)
    unknown = sorted(chosen - set(PASSES))
    if unknown:
        raise NasError(f"unknown supernet pass {unknown[0]!r}; passes: {', '.join(PASSES)}")
    return chosen


def _items(candidate: ir.Module, module: nn.Module) -> list[tuple[Any, nn.Module]]:
    """A candidate as a list of (IR item, built module) steps."""
    if isinstance(candidate, ir.Sequential) and len(candidate.items) == len(module):
        return list(zip(candidate.items, module))
    return [(candidate, module)]


def _pure(item: Any) -> bool:
    return (isinstance(item, ir.Op) and item.name in PURE and dict(item.args).get("inplace") is not True
            and not any(free_labels(v) for _, v in item.args))


def _foldable(module: nn.Module) -> bool:
    return type(module) in (nn.BatchNorm1d, nn.BatchNorm2d)


class _Term:
    """One candidate of a mixture after the passes: prefix (shared), body, folded batch norm."""

    __slots__ = ("index", "prefix_key", "prefix", "body", "bn")

    def __init__(self, index, prefix_key, prefix, body, bn):
        self.index, self.prefix_key, self.prefix, self.body, self.bn = index, prefix_key, prefix, body, bn


class MixPlan:
    """How one mixture `sum_i w_i c_i(x)` over built candidate modules is computed."""

    def __init__(self, candidates: list[tuple[ir.Module, nn.Module]], passes: frozenset[str]):
        self.modules = [m for _, m in candidates]
        terms = []
        for i, (node, module) in enumerate(candidates):
            if "drop_zero" in passes and isinstance(node, ir.Op) and node.name == "Zero":
                continue
            steps = _items(node, module)
            n = 0
            if "shared_prefix" in passes:
                while n < len(steps) and _pure(steps[n][0]):
                    n += 1
            key = repr(tuple(item for item, _ in steps[:n])) if n else None   # equal ops, equal key
            prefix = [m for _, m in steps[:n]]
            body = [m for _, m in steps[n:]]
            bn = body.pop() if "fold_bn" in passes and body and _foldable(body[-1]) else None
            terms.append(_Term(i, key, prefix, body, bn))
        if not terms:   # every candidate is zero: the plain sum gives the right shape
            terms = [_Term(i, None, [], [m], None) for i, m in enumerate(self.modules)]
        self.terms = terms
        self.fused = "fused_mix" in passes

    def __call__(self, x: torch.Tensor, weights: torch.Tensor, cache: dict | None) -> torch.Tensor:
        total = None
        for t in self.terms:
            w = weights[t.index]
            y = x
            if t.prefix:
                y = _shared(cache, x, t.prefix_key, t.prefix)
            for m in t.body:
                y = m(y)
            if t.bn is not None:
                y = _scaled_batch_norm(t.bn, y, w)
                total = y if total is None else total + y
            elif total is None:
                total = y * w
            elif self.fused:
                total = torch.addcmul(total, y, w)
            else:
                total = total + y * w
        return total

    def run(self, x: torch.Tensor, weights: torch.Tensor, cache: dict | None, recompute: bool) -> torch.Tensor:
        """The mixture, optionally recomputed in backward (activation checkpointing)."""
        if not (recompute and torch.is_grad_enabled()):
            return self(x, weights, cache)
        calls = [0]

        def mixture(x, weights):
            calls[0] += 1
            if calls[0] == 1:
                return self(x, weights, None)
            with keep_statistics(norm_buffers(*self.modules)):   # the recomputation updates nothing
                return self(x, weights, None)

        return checkpoint(mixture, x, weights, use_reentrant=False)


def _shared(cache: dict | None, x: torch.Tensor, key: str, prefix: list[nn.Module]) -> torch.Tensor:
    """`prefix(x)`, computed once per forward pass for each input tensor and op sequence."""
    if cache is not None:
        hit = cache.get((id(x), key))
        if hit is not None and hit[0] is x:
            return hit[1]
    y = x
    for m in prefix:
        y = m(y)
    if cache is not None:
        cache[(id(x), key)] = (x, y)   # holding x keeps its id from being reused this pass
    return y


def _scaled_batch_norm(bn: nn.modules.batchnorm._BatchNorm, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """`w * bn(x)` as one batch norm with its affine parameters scaled by `w` (running
    statistics updated exactly as `bn(x)` updates them)."""
    bn._check_input_dim(x)
    factor = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    use_batch = bn.training or (bn.running_mean is None and bn.running_var is None)
    keep = not bn.training or bn.track_running_stats
    if bn.affine:
        weight, bias = bn.weight * w, bn.bias * w
    else:
        weight, bias = w.expand(x.shape[1]), None
    return F.batch_norm(x, bn.running_mean if keep else None, bn.running_var if keep else None,
                        weight, bias, use_batch, factor, bn.eps)


# --- fast_avgpool ---------------------------------------------------------------------------------

class OnesAvgPool2d(nn.AvgPool2d):
    """`AvgPool2d(count_include_pad=False)` computed as a depthwise convolution with a ones
    kernel times a cached map of 1/count (the number of unpadded inputs per window)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        k, s, p = (_pair(v) for v in (self.kernel_size, self.stride or self.kernel_size, self.padding))
        ones = self._cached(("w", c, x.dtype, x.device), lambda: x.new_ones(c, 1, *k))
        inv = self._cached(("n", x.shape[-2:], x.dtype, x.device), lambda: 1.0 / F.conv2d(
            x.new_ones(1, 1, *x.shape[-2:]), x.new_ones(1, 1, *k), None, s, p))
        return F.conv2d(x, ones, None, s, p, 1, c) * inv

    def _cached(self, key, make):
        cache = self.__dict__.setdefault("_maps", {})
        if key not in cache:
            cache[key] = make()
        return cache[key]


def _pair(v) -> tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def faster(module: nn.Module) -> nn.Module:
    """`OnesAvgPool2d` in place of an eligible `nn.AvgPool2d`, else `module` itself."""
    if (type(module) is nn.AvgPool2d and not module.count_include_pad and not module.ceil_mode
            and module.divisor_override is None):
        swapped = OnesAvgPool2d(module.kernel_size, module.stride, module.padding, module.ceil_mode,
                                module.count_include_pad, module.divisor_override)
        swapped.train(module.training)
        return swapped
    return module


def fast_avgpool(net: nn.Module) -> int:
    """Swap every eligible `nn.AvgPool2d` inside `net` (e.g. a discrete model) for
    `OnesAvgPool2d` (no state, so state dicts are unchanged); returns how many were swapped."""
    count = 0
    for parent in list(net.modules()):
        for name, child in list(parent._modules.items()):
            swapped = faster(child)
            if swapped is not child:
                parent._modules[name] = swapped
                count += 1
    return count
