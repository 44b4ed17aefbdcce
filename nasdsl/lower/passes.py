"""What the supernet's rewrite passes compute with: the same sums, with less work and memory.

In the mixture mode (darts, gumbel) a layer choice or a cell edge computes `sum_i w_i c_i(x)`
over its candidates' IR (`ir.Op` / `ir.Sequential` items). The passes are rewrites of the IR
(`rewrites.py`: one function each, run before building); this module holds the torch code the
rewritten IR names: `MixPlan` computes one sum as its `rewrites.Mix` record says, `InputMix`
a `rewrites.LinearPick`, `FUSED` the modules of `rewrites.FusedOp`s. Each pass changes how a
sum is computed, never what (weights keep their names, so `sub_state_dict` and checkpoints are
unchanged), and each can be switched off by name (`build_supernet(space, mode, passes=...)`;
`passes=()` runs the plain weighted sum):

* `drop_zero`     — a candidate whose output is exactly zero (`Zero`, DARTS/NB201's `none`) is not
                    run; its alpha still enters the softmax, so the other weights are unchanged.
* `shared_prefix` — the leading parameter-free ops of a candidate (the ReLU of ReLU-Conv-BN, a
                    whole pooling candidate) are computed once per input tensor and shared by
                    every candidate, and every mixture, that applies them to the same tensor.
* `fold_bn`       — `w * BN(z)` is a batch norm with affine `w*gamma, w*beta` (or `w`, `0`
                    without affine): no multiply, no extra saved activation.
* `fused_mix`     — the remaining terms accumulate with one fused multiply-add (`addcmul`).
* `fast_avgpool`  — `AvgPool2d(count_include_pad=False)` as a depthwise ones-kernel convolution
                    times a cached 1/count map (same result to rounding).
* `recompute_pure` — an elementwise parameter-free prefix that `shared_prefix` computes (the
                    ReLU of ReLU-Conv-BN), when every op reading it saves only its inputs (a
                    convolution or linear layer), is not kept for backward: autograd keeps
                    the prefix's input instead (kept anyway) and backward recomputes the
                    prefix (a ReLU costs next to nothing; its output, one activation per input
                    tensor and mixture, is freed after the forward pass). Off by default: on
                    NB201 it saves ~5% of a step's memory for ~8% more time; name it to use it.
* `channels_last` — 4-d CPU inputs enter the network in the channels-last memory layout,
                    which every op then keeps: the same values, but CPU convolutions
                    (depthwise and dilated ones most: 2x on DARTS's separable convolutions)
                    and pools run faster on it. Logical shapes and state dicts are
                    unchanged. The discrete model takes its inputs in the same layout
                    (`discrete.build(..., channels_last=True)`, the default), so a fixed
                    supernet and the model of its architecture round alike. Inputs on
                    other devices keep their layout (no GPU here to measure it on). The one
                    pass that also applies to path and gated supernets. Off by default in
                    a space with custom ops (`layout_safe`), which may `view` their input.
* `input_mix`     — an input choice reducing by sum or mean, `sum_v w_v reduce(x_v)` over the
                    subsets v it may pick, is linear in its inputs: `sum_i c_i x_i` with
                    `c_i = sum_{v containing i} w_v` (`/|v|` for mean). One fused multiply-add
                    per input instead of one reduction and one product per subset (2^k of them
                    for `n="any"`), and nothing saved but the inputs themselves.

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

import weakref

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .. import ir
from ..ops import catalog
from .gates import keep_statistics, norm_buffers
from .rewrites import DEFAULT_PASSES, PASSES, Mix, Term, check_passes

__all__ = ["DEFAULT_PASSES", "FUSED", "PASSES", "InputMix", "MixPlan", "OnesAvgPool2d", "channels_last",
           "check_passes", "fast_avgpool", "faster", "layout_safe", "weighted_sum"]


class _Term:
    """One candidate of a mixture as built: prefix (shared), body, folded batch norm."""

    __slots__ = ("index", "prefix_key", "prefix", "body", "bn", "cheap")

    def __init__(self, index, prefix_key, prefix, body, bn, cheap=False):
        self.index, self.prefix_key, self.prefix, self.body, self.bn = index, prefix_key, prefix, body, bn
        self.cheap = cheap   # the prefix is recomputed in backward rather than saved


def _built(term: Term, node: ir.Module, module: nn.Module) -> _Term:
    """A `rewrites.Term` over candidate `node`, built as `module`, split into its steps."""
    items = node.items if isinstance(node, ir.Sequential) else (node,)
    steps = list(module) if isinstance(node, ir.Sequential) else [module]
    n = term.prefix
    key = repr(items[:n]) if n else None   # equal ops, equal key
    body = steps[n:]
    bn = body.pop() if term.fold_bn else None
    return _Term(term.index, key, steps[:n], body, bn, term.recompute)


class MixPlan:
    """One mixture `sum_i w_i c_i(x)` over built candidate modules, computed as its
    `rewrites.Mix` record says."""

    def __init__(self, mix: Mix, candidates: list[tuple[ir.Module, nn.Module]]):
        self.modules = [m for _, m in candidates]
        self.terms = [_built(t, *candidates[t.index]) for t in mix.terms]
        self.fused = mix.fused

    def __call__(self, x: torch.Tensor, weights: torch.Tensor, cache: dict | None) -> torch.Tensor:
        total = None
        for t in self.terms:
            w = weights[t.index]
            y = x
            body = t.body
            if t.prefix:
                y = _shared(cache, x, t.prefix_key, t.prefix, t.cheap)
                if t.cheap and y is not x and torch.is_grad_enabled():   # its first op keeps x, not y
                    with _recomputing(x, y, t.prefix):
                        y = body[0](y)
                    body = body[1:]
            for m in body:
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


def _shared(cache: dict | None, x: torch.Tensor, key: str, prefix: list[nn.Module], cheap: bool = False) -> torch.Tensor:
    """`prefix(x)`, computed once per forward pass for each input tensor and op sequence; a
    `cheap` (elementwise) one keeps nothing for backward but `x` (`_recomputing`). An entry
    lives as long as `x` does (a finalizer drops it), so sharing lengthens no tensor's life;
    under `torch.compile` it holds `x` until the pass ends instead."""
    if cache is not None:
        hit = cache.get((id(x), key))
        if hit is not None and (hit[0] is x or isinstance(hit[0], weakref.ref) and hit[0]() is x):
            return hit[1]
    y = x
    for i, m in enumerate(prefix):
        if cheap and torch.is_grad_enabled():
            with _recomputing(x, y, prefix[:i], prefix[: i + 1]):
                y = m(y)
        else:
            y = m(y)
    # x itself or a view of it (Identity, Flatten) is free to recompute, and an entry holding it keeps x alive
    if cache is not None and y is not x and y._base is not x:
        if torch.compiler.is_compiling():   # holding x keeps its id from being reused this pass
            cache[(id(x), key)] = (x, y)
        else:
            cache[(id(x), key)] = (weakref.ref(x), y)
            weakref.finalize(x, cache.pop, (id(x), key), None)
    return y


class _Recompute:
    """What autograd keeps of a recomputable tensor: the source it is computed from and the
    elementwise, stateless ops that compute it (so the rebuilt tensor is the same)."""

    __slots__ = ("source", "ops")

    def __init__(self, source: torch.Tensor, ops: list[nn.Module]):
        self.source, self.ops = source, ops


def _recomputing(x: torch.Tensor, y: torch.Tensor, y_ops: list[nn.Module], out_ops: list[nn.Module] | None = None):
    """Saved-tensor hooks for one op applied to `y = y_ops(x)`: autograd keeps `x` as is, and
    `y`, or (with `out_ops`) the op's own output `out_ops(x)`, as a recipe recomputed in backward.
    Only around ops that save nothing else but parameters: a saved tensor other than these is
    the op's own output (`out_ops`) or a parameter, kept as usual."""
    source = x.detach()
    x_ident, y_ident = _identity(x), _identity(y)

    def pack(t: torch.Tensor):
        ident = _identity(t)
        if ident == x_ident:
            return t
        if ident == y_ident:
            return _Recompute(source, y_ops)
        if out_ops is not None and t.grad_fn is not None and not isinstance(t, nn.Parameter):
            return _Recompute(source, out_ops)   # the op's own output (ReLU keeps its result)
        return t

    return torch.autograd.graph.saved_tensors_hooks(pack, _rebuild)


def _rebuild(packed):
    if isinstance(packed, _Recompute):
        y = packed.source
        with torch.no_grad():
            for m in packed.ops:
                y = m(y)
        return y
    return packed


def _identity(t: torch.Tensor) -> tuple:
    return (t.data_ptr(), t.shape, t.stride(), t.dtype)


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


def layout_safe(template: ir.Module) -> bool:
    """Whether `channels_last` is on by default for a space: when every op of its template is one
    of nasdsl's own (each runs in either layout); a custom op (`register_op`) may `view` its
    input, which the channels-last layout breaks, so such a space keeps its inputs' layout
    unless `passes` names the pass.

    Example::

        >>> import nasdsl
        >>> layout_safe(nasdsl.load("nasbench201", {"C": 4, "N": 1}).template)
        True
    """
    for m in ir.walk(template):
        if isinstance(m, ir.Op):
            record = catalog.spec(m.name)
            if record is None or record.custom:
                return False
    return True


def channels_last(x):
    """`x` in the channels-last layout when it is a 4-d floating-point CPU tensor, else `x`."""
    if isinstance(x, torch.Tensor) and x.dim() == 4 and x.is_floating_point() and x.device.type == "cpu":
        return x.contiguous(memory_format=torch.channels_last)
    return x


def channels_last_inputs(module: nn.Module, inputs: tuple) -> tuple:
    """A forward pre-hook: the module's inputs through `channels_last`."""
    return tuple(channels_last(x) for x in inputs)


# --- input_mix ------------------------------------------------------------------------------------

class InputMix:
    """`sum_v w_v reduce(x_v)` over the subsets `v` (tuples of input indices) an input choice
    may pick, for `reduce` "sum" or "mean", as `sum_i c_i x_i` with `c = M @ w`: `M[i, v]` is
    1 (sum) or 1/|v| (mean) where `v` holds `i`. Whatever computes `w` (softmax, Gumbel noise,
    one gate per subset) is unchanged; an empty subset contributes zero, as its zeros do.

    Example::

        >>> mix = InputMix([(0,), (1,), (0, 1)], "mean", 2)
        >>> x = [torch.ones(2), torch.full((2,), 3.0)]
        >>> mix(x, torch.tensor([0.5, 0.25, 0.25])).tolist()   # .5*1 + .25*3 + .25*2
        [1.75, 1.75]
    """

    def __init__(self, subsets: list[tuple[int, ...]], reduce: str, k: int):
        if reduce not in ("sum", "mean"):
            raise ValueError(f"input_mix needs reduce sum or mean, not {reduce!r}")
        matrix = [[0.0] * len(subsets) for _ in range(k)]
        for v, subset in enumerate(subsets):
            for i in subset:
                matrix[i][v] += 1.0 if reduce == "sum" else 1.0 / len(subset)
        self.used = [i for i in range(k) if any(matrix[i])]   # inputs some subset reads
        self.matrix = torch.tensor([matrix[i] for i in self.used], dtype=torch.float64)
        self._cast: dict = {}

    def coefficients(self, weights: torch.Tensor) -> torch.Tensor:
        """`c_i` for each input some subset reads (in `self.used` order)."""
        key = (weights.dtype, weights.device)
        if key not in self._cast:
            self._cast[key] = self.matrix.to(weights.dtype).to(weights.device)
        return self._cast[key] @ weights

    def __call__(self, tensors: list[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
        if not self.used:   # every subset is empty: zeros shaped like an input
            return torch.zeros_like(tensors[0])
        return weighted_sum([tensors[i] for i in self.used], self.coefficients(weights))


def weighted_sum(tensors: list[torch.Tensor], coefficients: torch.Tensor) -> torch.Tensor:
    """`sum_i c_i x_i` with one fused multiply-add per term (saves only the `x_i` and the `c_i`).

    Example::

        >>> weighted_sum([torch.ones(2), torch.ones(2)], torch.tensor([0.25, 0.5])).tolist()
        [0.75, 0.75]
    """
    total = tensors[0] * coefficients[0]
    for i in range(1, len(tensors)):
        total = torch.addcmul(total, tensors[i], coefficients[i])
    return total


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


# the modules a `rewrites.FusedOp` names, each made of the op's plain module
FUSED = {"OnesAvgPool2d": faster}
