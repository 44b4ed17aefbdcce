"""Shape and cost rules of the catalog's ops, torch-free: one `Rule` per op or family of ops
(`LINEAR`, `conv(nd)`), which the op's record names (`nasdsl.ops.catalog`).

A rule is one part of an op's record (`nasdsl.ops.catalog.OpSpec`): `shape(call, x)` gives
the output shape for input shape `x` (dimensions are ints or value expressions over
decisions), stating what the input must look like through `call.require`, `call.rank` and
`call.fail` (`call` is the shape inference's view of one op application, with its resolved
`call.args`); `params(args)` and `macs(args, x, y)` count the op's parameters and
multiply-accumulates for constant arguments and shapes. `nasdsl.analysis.shapes` applies
them to whole spaces (`check_shapes`) and to one architecture (`costs`).

Example::

    >>> LINEAR.params({"in_features": 4, "out_features": 8, "bias": True})
    40
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..values import binary, if_else, is_expr, literal, to_text

Dim = Any  # an int, or a value expression over decisions


def dims_text(dims) -> str:
    """`[16, 32, 32]`, symbolic dimensions as `.nas` expressions over labels."""
    return "[" + ", ".join(to_text(d) if is_expr(d) else literal(d) for d in dims) + "]"


class Call(Protocol):
    """What a rule sees of one op application: the shape inference's view of it
    (`nasdsl.analysis.shapes`), with the op's resolved arguments in `args`."""
    args: dict

    def fail(self, why: str, view: Any = None) -> Any:
        """Report the op's input as wrong, with `why` (raises)."""

    def require(self, ok: Callable[..., bool], values: tuple, why: Callable[..., str]) -> None:
        """Hold `ok(*values)` for every value the (symbolic) `values` can take, else fail with `why`."""

    def rank(self, n: int, layout: str, at_least: bool = False) -> None:
        """Hold the input to rank `n` (or more), naming `layout` when it is not."""

    def maybe_str(self, value: Any) -> bool:
        """Whether `value` is, or can be, a string (padding="same")."""


@dataclass(frozen=True)
class Rule:
    """How one op transforms shapes and what it costs.

    `shape(call, x)` returns the output shape of input shape `x` (checking it through
    `call.require`); `params(args)` counts trainable parameters from the op's resolved
    arguments; `macs(args, x, y)` counts multiply-accumulates of one sample (x, y: input
    and output shapes, ints only).
    """
    shape: Callable[[Call, tuple], tuple]
    params: Callable[[dict], int] = lambda a: 0
    macs: Callable[[dict, tuple, tuple], int] = lambda a, x, y: 0


def _identity(call: Call, x: tuple) -> tuple:
    return x


def _prod(dims) -> Any:
    return _fold_op("*", dims, 1)


def dim_sum(dims) -> Any:
    """`a + b + ...` over dimensions (ints or expressions), constants folded."""
    return _fold_op("+", dims, 0)


def _fold_op(op: str, dims, unit: Any) -> Any:
    """`a op b op ...`, constants folded and the unit left out, so messages stay readable."""
    const, exprs = unit, []
    for d in dims:
        if is_expr(d):
            exprs.append(d)
        else:
            const = binary(op, const, d)
    out = const if not exprs or const != unit else exprs.pop(0)
    for e in exprs:
        out = binary(op, out, e)
    return out


def _tuple(call: Call, name: str, n: int) -> tuple:
    """An argument that may be one value or one per spatial dimension (`kernel_size=[3, 1]`)."""
    v = call.args[name]
    if isinstance(v, (tuple, list)):
        if len(v) != n:
            call.fail(f"{name} needs {n} value(s), got {literal(tuple(v))}")
        return tuple(v)
    return (v,) * n


def _window(call: Call, size: Dim, k: Dim, s: Dim, p: Dim, d: Dim, axis: int, ceil: Any = False) -> Dim:
    """torch's output length of a convolution or pooling window along one axis."""
    call.require(lambda k, s, d: k > 0 and s > 0 and d > 0, (k, s, d),
                 lambda k, s, d: f"kernel_size, stride and dilation must be positive, got {k}, {s}, {d}")
    call.require(lambda p: p >= 0, (p,), lambda p: f"padding must be non-negative, got {p}")
    span = binary("+", binary("*", d, binary("-", k, 1)), 1)
    num = binary("-", binary("+", size, binary("*", 2, p)), span)
    floor = binary("+", binary("//", num, s), 1)
    out = floor
    if ceil is not False:
        up = binary("+", binary("//", binary("+", num, binary("-", s, 1)), s), 1)
        up = if_else(binary(">=", binary("*", binary("-", up, 1), s), binary("+", size, p)), binary("-", up, 1), up)
        out = if_else(ceil, up, floor)
    call.require(lambda o: o >= 1, (out,), lambda o: f"dimension {axis} would shrink to {o}")
    return out


def _conv_shape(nd: int) -> Callable:
    def shape(call: Call, x: tuple) -> tuple:
        a = call.args
        call.rank(nd + 1, {1: "[C, L]", 2: "[C, H, W]", 3: "[C, D, H, W]"}[nd])
        cin, cout, groups = a["in_channels"], a["out_channels"], a["groups"]
        call.require(lambda c, i: c == i, (x[0], cin),
                     lambda c, i: f"in_channels is {i} but the input has {c} channels")
        if is_expr(groups) or groups != 1:  # every width divides by 1: no enumeration for that
            call.require(lambda i, o, g: g > 0 and i % g == 0 and o % g == 0, (cin, cout, groups),
                         lambda i, o, g: f"in_channels ({i}) and out_channels ({o}) must be divisible by groups ({g})")
        ks, ss, ds = _tuple(call, "kernel_size", nd), _tuple(call, "stride", nd), _tuple(call, "dilation", nd)
        pad = a["padding"]
        if call.maybe_str(pad):
            call.require(lambda p: p in ("same", "valid") if isinstance(p, str) else p >= 0, (pad,),
                         lambda p: f"padding must be a number, \"same\" or \"valid\", got {literal(p)}")
            same = binary("==", pad, "same")
            for s in ss:
                call.require(lambda same, s: not same or s == 1, (same, s),
                             lambda same, s: "padding=\"same\" needs stride 1 (torch has no strided \"same\")")
            number = if_else(binary("==", pad, "valid"), 0, pad)
            ps = (number,) * nd
        else:
            same, ps = False, _tuple(call, "padding", nd)
        if same is True:
            return (cout, *x[1:])
        spatial = [_window(call, x[1 + i], ks[i], ss[i], ps[i], ds[i], 2 + i) for i in range(nd)]
        return (cout, *(if_else(same, x[1 + i], w) for i, w in enumerate(spatial)))
    return shape


def _kernel_area(k: Any, nd: int) -> int:
    return math.prod(k) if isinstance(k, (tuple, list)) else k ** nd


def _conv_params(nd: int) -> Callable[[dict], int]:
    """Weights of a (transposed) convolution: out * in / groups per kernel position, the same
    count whichever of the two the weight's first axis holds, plus the bias."""
    def params(a: dict) -> int:
        weight = a["out_channels"] * (a["in_channels"] // a["groups"]) * _kernel_area(a["kernel_size"], nd)
        return weight + (a["out_channels"] if a["bias"] else 0)
    return params


def _conv_macs(a: dict, x: tuple, y: tuple) -> int:
    return math.prod(y) * (a["in_channels"] // a["groups"]) * _kernel_area(a["kernel_size"], len(x) - 1)


def _linear_shape(call: Call, x: tuple) -> tuple:
    a = call.args
    call.rank(1, "[..., in_features]", at_least=True)
    call.require(lambda f, i: f == i, (x[-1], a["in_features"]),
                 lambda f, i: f"in_features is {i} but the input's last dimension is {f}")
    return (*x[:-1], a["out_features"])


def _channels_shape(count: str, ranks: tuple[int, ...], layout: str) -> Callable:
    """BatchNorm-like: a fixed channel count on dimension 0, and a rank from `ranks`."""
    def shape(call: Call, x: tuple) -> tuple:
        if len(x) not in ranks:
            call.fail(f"expects input {layout}, got rank {len(x)} (plus the batch dimension)")
        call.require(lambda c, n: c == n, (x[0], call.args[count]),
                     lambda c, n: f"{count} is {n} but the input has {c} channels")
        return x
    return shape


def _layer_norm_shape(call: Call, x: tuple) -> tuple:
    norm = call.args["normalized_shape"]
    norm = tuple(norm) if isinstance(norm, (tuple, list)) else (norm,)
    if len(norm) > len(x):
        call.fail(f"normalized_shape {dims_text(norm)} has more dimensions than the input")
    call.require(lambda *v: v[:len(norm)] == v[len(norm):], (*x[len(x) - len(norm):], *norm),
                 lambda *v: f"normalized_shape {dims_text(v[len(norm):])} must equal the input's trailing "
                            f"dimensions {dims_text(v[:len(norm)])}")
    return x


def _layer_norm_params(a: dict) -> int:
    norm = a["normalized_shape"]
    n = math.prod(norm) if isinstance(norm, (tuple, list)) else norm
    return (n + (n if a["bias"] else 0)) if a["elementwise_affine"] else 0


def _group_norm_shape(call: Call, x: tuple) -> tuple:
    a = call.args
    call.rank(1, "[C, ...]", at_least=True)
    call.require(lambda c, n: c == n, (x[0], a["num_channels"]),
                 lambda c, n: f"num_channels is {n} but the input has {c} channels")
    call.require(lambda n, g: g > 0 and n % g == 0, (a["num_channels"], a["num_groups"]),
                 lambda n, g: f"num_channels ({n}) must be divisible by num_groups ({g})")
    return x


_LAYOUTS = {1: "[C, L]", 2: "[C, H, W]", 3: "[C, D, H, W]"}


def _pool_shape(dilated: bool, nd: int = 2) -> Callable:
    def shape(call: Call, x: tuple) -> tuple:
        a = call.args
        call.rank(nd + 1, _LAYOUTS[nd])
        ks = _tuple(call, "kernel_size", nd)
        ss = ks if a["stride"] is None else _tuple(call, "stride", nd)
        ps = _tuple(call, "padding", nd)
        ds = _tuple(call, "dilation", nd) if dilated else (1,) * nd
        for k, p in zip(ks, ps):
            call.require(lambda k, p: p <= k // 2, (k, p),
                         lambda k, p: f"padding ({p}) must be at most half the kernel size ({k})")
        return (x[0], *(_window(call, x[1 + i], ks[i], ss[i], ps[i], ds[i], 2 + i, a["ceil_mode"]) for i in range(nd)))
    return shape


# --- more of torch.nn (issue 12): transposed convolutions, 1-d/3-d variants, instance norm,
# resampling, reshapes, embeddings, activations. Each is checked against torch's own module
# (signature, output shape, parameter count, MACs) by tests/test_ops_torch.py.

def _conv_transpose_shape(nd: int) -> Callable:
    """torch's ConvTranspose output: (L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1."""
    def shape(call: Call, x: tuple) -> tuple:
        a = call.args
        call.rank(nd + 1, _LAYOUTS[nd])
        cin, cout, groups = a["in_channels"], a["out_channels"], a["groups"]
        call.require(lambda c, i: c == i, (x[0], cin), lambda c, i: f"in_channels is {i} but the input has {c} channels")
        call.require(lambda i, o, g: g > 0 and i % g == 0 and o % g == 0, (cin, cout, groups),
                     lambda i, o, g: f"in_channels ({i}) and out_channels ({o}) must be divisible by groups ({g})")
        if call.maybe_str(a["padding"]):
            call.fail("padding must be a number (ConvTranspose has no \"same\")")
        ks, ss, ds = _tuple(call, "kernel_size", nd), _tuple(call, "stride", nd), _tuple(call, "dilation", nd)
        ps, ops = _tuple(call, "padding", nd), _tuple(call, "output_padding", nd)
        out = []
        for i in range(nd):
            call.require(lambda op, s, d: 0 <= op < max(s, d), (ops[i], ss[i], ds[i]),
                         lambda op, s, d: f"output_padding ({op}) must be smaller than stride ({s}) or dilation ({d})")
            n = binary("+", binary("+", binary("-", binary("*", binary("-", x[1 + i], 1), ss[i]), binary("*", 2, ps[i])),
                                   binary("*", ds[i], binary("-", ks[i], 1))), binary("+", ops[i], 1))
            call.require(lambda n: n >= 1, (n,), lambda n, axis=2 + i: f"dimension {axis} would shrink to {n}")
            out.append(n)
        return (cout, *out)
    return shape


def _conv_transpose_macs(a: dict, x: tuple, y: tuple) -> int:
    """Every input element meets out_channels / groups kernels."""
    return math.prod(x) * (a["out_channels"] // a["groups"]) * _kernel_area(a["kernel_size"], len(x) - 1)


def _norm_params(a: dict) -> int:
    """BatchNorm / InstanceNorm: a weight and (unless bias=false) a bias per channel when affine."""
    return a["num_features"] * (1 + bool(a.get("bias", True))) if a["affine"] else 0


def _upsample_shape(call: Call, x: tuple) -> tuple:
    a = call.args
    call.rank(2, "[C, L], [C, H, W] or [C, D, H, W]", at_least=True)
    nd = len(x) - 1
    if nd > 3:
        call.fail(f"expects input [C, L], [C, H, W] or [C, D, H, W], got rank {len(x)}")
    size, scale = a["size"], a["scale_factor"]
    if (size is None) == (scale is None):
        call.fail("give exactly one of size and scale_factor")
    if size is not None:
        return (x[0], *_tuple(call, "size", nd))
    scales = _tuple(call, "scale_factor", nd)
    out = []
    for d, f in zip(x[1:], scales):
        if is_expr(d) or is_expr(f):
            call.fail("scale_factor needs constant input sizes and factors (use size= for choices)")
        out.append(math.floor(d * f))
    return (x[0], *out)


def _pixel_shuffle_shape(call: Call, x: tuple) -> tuple:
    r = call.args["upscale_factor"]
    call.rank(3, "[C, H, W]")
    call.require(lambda c, r: r >= 1 and c % (r * r) == 0, (x[0], r),
                 lambda c, r: f"the input's {c} channels must be divisible by upscale_factor squared ({r * r})")
    return (binary("//", x[0], binary("*", r, r)), binary("*", x[1], r), binary("*", x[2], r))


def _pixel_unshuffle_shape(call: Call, x: tuple) -> tuple:
    r = call.args["downscale_factor"]
    call.rank(3, "[C, H, W]")
    call.require(lambda h, w, r: r >= 1 and h % r == 0 and w % r == 0, (x[1], x[2], r),
                 lambda h, w, r: f"height and width ({h}, {w}) must be divisible by downscale_factor ({r})")
    return (binary("*", x[0], binary("*", r, r)), binary("//", x[1], r), binary("//", x[2], r))


def _constant_sizes(call: Call, name: str) -> tuple:
    v = call.args[name]
    v = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    if any(is_expr(d) or not isinstance(d, int) or isinstance(d, bool) for d in v):
        call.fail(f"{name} must be constant integers, got {literal(v)}")
    if sum(d == -1 for d in v) > 1 or any(d == 0 or d < -1 for d in v):
        call.fail(f"{name} needs positive sizes and at most one -1, got {literal(v)}")
    return v


def _fill(call: Call, sizes: tuple, total: Dim, what: str) -> tuple:
    """`sizes` with its -1 inferred so that their product is `total`."""
    known = math.prod(d for d in sizes if d != -1)
    if -1 in sizes:
        call.require(lambda t: t % known == 0, (total,),
                     lambda t: f"{what}: {t} elements do not split into {literal(sizes)}")
        return tuple(binary("//", total, known) if d == -1 else d for d in sizes)
    call.require(lambda t: t == known, (total,), lambda t: f"{what}: {literal(sizes)} holds {known} elements, not {t}")
    return sizes


def _unflatten_shape(call: Call, x: tuple) -> tuple:
    i = _feature_dim(call, "dim", x)
    sizes = _fill(call, _constant_sizes(call, "unflattened_size"), x[i], "unflattened_size")
    return (*x[:i], *sizes, *x[i + 1:])


def _reshape_shape(call: Call, x: tuple) -> tuple:
    """`Reshape(shape)`: the features (all but the batch dimension) as `shape`."""
    return _fill(call, _constant_sizes(call, "shape"), _prod(x), "shape")


def _permute_shape(call: Call, x: tuple) -> tuple:
    """`Permute(dims)`: dims of the whole tensor, batch first, as `torch.permute` takes them."""
    dims = call.args["dims"]
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    rank = len(x) + 1
    if any(is_expr(d) for d in dims) or sorted(dims) != list(range(rank)):
        call.fail(f"dims must order all {rank} dimensions of input {dims_text(x)} (batch included), got {literal(dims)}")
    if dims[0] != 0:
        call.fail("dims must keep the batch dimension first (dims[0] == 0)")
    return tuple(x[d - 1] for d in dims[1:])


def _embedding_shape(call: Call, x: tuple) -> tuple:
    """Integer indices of any shape -> one `embedding_dim` vector per index."""
    return (*x, call.args["embedding_dim"])


def _glu_shape(call: Call, x: tuple) -> tuple:
    i = _feature_dim(call, "dim", x)
    call.require(lambda d: d % 2 == 0, (x[i],), lambda d: f"dimension {i + 1} must be even to be halved, got {d}")
    return (*x[:i], binary("//", x[i], 2), *x[i + 1:])


def _zero_pad_shape(call: Call, x: tuple) -> tuple:
    """ZeroPad2d(padding): an int, or (left, right, top, bottom)."""
    p = call.args["padding"]
    pads = tuple(p) if isinstance(p, (tuple, list)) else (p,) * 4
    if len(pads) != 4:
        call.fail(f"padding is one number or (left, right, top, bottom), got {literal(pads)}")
    left, right, top, bottom = pads
    call.rank(2, "[C, H, W] or [H, W]", at_least=True)
    return (*x[:-2], binary("+", binary("+", x[-2], top), bottom), binary("+", binary("+", x[-1], left), right))


def _adaptive_shape(nd: int) -> Callable:
    def shape(call: Call, x: tuple) -> tuple:
        call.rank(nd + 1, {1: "[C, L]", 2: "[C, H, W]", 3: "[C, D, H, W]"}[nd])
        size = _tuple(call, "output_size", nd)
        for s in size:
            call.require(lambda s: s is None or s >= 1, (s,), lambda s: f"output_size must be positive, got {s}")
        return (x[0], *(x[1 + i] if size[i] is None else size[i] for i in range(nd)))
    return shape


def _flatten_shape(call: Call, x: tuple) -> tuple:
    """Flatten's dims count the batch dimension, as in torch: Flatten() is Flatten(1, -1)."""
    start, end, rank = call.args["start_dim"], call.args["end_dim"], len(x) + 1
    if is_expr(start) or is_expr(end):
        call.fail("start_dim and end_dim must be constants")
    s, e = start + rank if start < 0 else start, end + rank if end < 0 else end
    if not 0 <= s < rank or not 0 <= e < rank:
        call.fail(f"dimension out of range for input {dims_text(x)} (rank {rank} with the batch dimension)")
    if s == 0:
        call.fail("start_dim 0 flattens the batch dimension into the features")
    if s > e:
        call.fail("start_dim comes after end_dim")
    return (*x[:s - 1], _prod(x[s - 1:e]), *x[e:])


def _softmax_shape(call: Call, x: tuple) -> tuple:
    dim, rank = call.args["dim"], len(x) + 1
    if not is_expr(dim) and dim is not None and not -rank <= dim < rank:
        call.fail(f"dim {dim} is out of range for input {dims_text(x)} (rank {rank} with the batch dimension)")
    return x


def _attention_shape(call: Call, x: tuple) -> tuple:
    a = call.args
    call.rank(2, "[L, E] (a sequence of L embeddings; batch_first)")
    call.require(lambda e, d: e == d, (x[1], a["embed_dim"]),
                 lambda e, d: f"embed_dim is {d} but the input's embeddings have size {e}")
    call.require(lambda d, h: h > 0 and d % h == 0, (a["embed_dim"], a["num_heads"]),
                 lambda d, h: f"embed_dim ({d}) must be divisible by num_heads ({h})")
    return x


def _attention_params(a: dict) -> int:
    e = a["embed_dim"]
    return 4 * e * e + (4 * e if a["bias"] else 0)  # in_proj (3E x E, 3E) + out_proj (E x E, E)


def _attention_macs(a: dict, x: tuple, y: tuple) -> int:
    """Projections (4 L E^2) + scores (L^2 E) + weighted values (L^2 E), for batch_first
    input; with batch_first=false torch would attend across the batch instead, and this
    count is that of the batch_first reading."""
    length, e = x
    return 4 * length * e * e + 2 * length * length * e


def _zero_shape(call: Call, x: tuple) -> tuple:
    stride, channels = call.args["stride"], call.args["out_channels"]
    out = x
    if stride != 1:
        call.rank(3, "[C, H, W] (a strided Zero subsamples H and W)", at_least=True)
        call.require(lambda s: s >= 1, (stride,), lambda s: f"stride must be positive, got {s}")
        down = tuple(binary("//", binary("+", d, binary("-", stride, 1)), stride) for d in x[1:3])
        out = (x[0], *_if_else_dims(binary("==", stride, 1), x[1:3], down), *x[3:])
    if channels is not None:
        call.rank(1, "[C, ...]", at_least=True)
        out = (channels, *out[1:])
    return out


def _pad_channels_shape(call: Call, x: tuple) -> tuple:
    call.rank(1, "[C, ...]", at_least=True)
    call.require(lambda c, o, n: o >= 0 and o + c <= n, (x[0], call.args["offset"], call.args["channels"]),
                 lambda c, o, n: f"{c} channels from offset {o} do not fit in {n}")
    return (call.args["channels"], *x[1:])


def _if_else_dims(test: Any, then: tuple, other: tuple) -> tuple:
    return tuple(if_else(test, a, b) for a, b in zip(then, other))


def _factorized_reduce_shape(call: Call, x: tuple) -> tuple:
    a = call.args
    call.rank(3, "[C, H, W]")
    call.require(lambda c, i: c == i, (x[0], a["in_channels"]),
                 lambda c, i: f"in_channels is {i} but the input has {c} channels")
    call.require(lambda o: o % 2 == 0, (a["out_channels"],),
                 lambda o: f"out_channels must be even, got {o}")
    for axis, d in ((2, x[1]), (3, x[2])):
        call.require(lambda d: d >= 2 and d % 2 == 0, (d,),
                     lambda d, axis=axis: f"dimension {axis} must be even to be halved, got {d} "
                                          "(its two shifted halves would differ)")
    return (a["out_channels"], binary("//", x[1], 2), binary("//", x[2], 2))


def _factorized_reduce_params(a: dict) -> int:
    return 2 * a["in_channels"] * (a["out_channels"] // 2) + (2 * a["out_channels"] if a["affine"] else 0)


def _factorized_reduce_macs(a: dict, x: tuple, y: tuple) -> int:
    return math.prod(y) * a["in_channels"]  # two 1x1 convs, each making half the channels


def _channel_shuffle_shape(call: Call, x: tuple) -> tuple:
    call.rank(2, "[C, ...] with at least one more dimension", at_least=True)
    call.require(lambda c, g: g > 0 and c % g == 0, (x[0], call.args["groups"]),
                 lambda c, g: f"the input's {c} channels must be divisible by groups ({g})")
    return x


def _feature_dim(call: Call, name: str, x: tuple) -> int:
    """A dimension argument counting the batch dimension (as torch's); as an index into `x`."""
    d, rank = call.args[name], len(x) + 1
    if is_expr(d) or not isinstance(d, int):
        call.fail(f"{name} must be a constant integer")
    d = d + rank if d < 0 else d
    if not 0 <= d < rank:
        call.fail(f"{name} is out of range for input {dims_text(x)} (rank {rank} with the batch dimension)")
    if d == 0:
        call.fail(f"{name} 0 is the batch dimension")
    return d - 1


def _narrow_shape(call: Call, x: tuple) -> tuple:
    i = _feature_dim(call, "dim", x)
    start, length = call.args["start"], call.args["length"]
    call.require(lambda s, n, size: s >= 0 and n >= 1 and s + n <= size, (start, length, x[i]),
                 lambda s, n, size: f"entries {s} to {s}+{n} do not fit in a dimension of size {size}")
    return (*x[:i], length, *x[i + 1:])


def _transpose_shape(call: Call, x: tuple) -> tuple:
    i, j = _feature_dim(call, "dim0", x), _feature_dim(call, "dim1", x)
    out = list(x)
    out[i], out[j] = x[j], x[i]
    return tuple(out)


def _class_token_shape(call: Call, x: tuple) -> tuple:
    call.rank(2, "[L, E] (a sequence of L embeddings)")
    call.require(lambda e, d: e == d, (x[1], call.args["embed_dim"]),
                 lambda e, d: f"embed_dim is {d} but the input's embeddings have size {e}")
    return (binary("+", x[0], 1), x[1])


def _position_embedding_shape(call: Call, x: tuple) -> tuple:
    call.rank(2, "[L, E] (a sequence of L embeddings)")
    call.require(lambda size, e, n, d: size == n and e == d, (x[0], x[1], call.args["length"], call.args["embed_dim"]),
                 lambda size, e, n, d: f"length and embed_dim are {n} and {d} but the input is [{size}, {e}]")
    return x


def _rel_attention_shape(call: Call, x: tuple) -> tuple:
    a = call.args
    call.rank(2, "[N, E] (a sequence of N embeddings)")
    call.require(lambda e, d: e == d, (x[1], a["embed_dim"]),
                 lambda e, d: f"embed_dim is {d} but the input's embeddings have size {e}")
    if a["rpe"] is not False:
        call.require(lambda n, r: not r or (n >= 2 and int((n - 1) ** 0.5) ** 2 == n - 1), (x[0], a["rpe"]),
                     lambda n, r: f"relative positions need a class token and a square grid of patches, got {n} tokens")
    return x


def _rel_attention_params(a: dict) -> int:
    e, inner = a["embed_dim"], a["num_heads"] * a["head_dim"]
    qkv = 3 * (e * inner + (inner if a["qkv_bias"] else 0))
    tables = 4 * (2 * a["rpe_length"] + 2) * a["head_dim"] if a["rpe"] else 0
    return qkv + inner * e + e + tables


def _rel_attention_macs(a: dict, x: tuple, y: tuple) -> int:
    n, e = x
    inner = a["num_heads"] * a["head_dim"]
    return 4 * n * e * inner + (4 if a["rpe"] else 2) * n * n * inner


def _linear_params(a: dict) -> int:
    return a["in_features"] * a["out_features"] + (a["out_features"] if a["bias"] else 0)


def _linear_macs(a: dict, x: tuple, y: tuple) -> int:
    return math.prod(y) * a["in_features"]


# --- the rules the catalog's records name (`nasdsl.ops.catalog`), one per op or family -------

IDENTITY = Rule(_identity)
LINEAR = Rule(_linear_shape, _linear_params, _linear_macs)
LAYER_NORM = Rule(_layer_norm_shape, _layer_norm_params)
GROUP_NORM = Rule(_group_norm_shape, lambda a: 2 * a["num_channels"] if a["affine"] else 0)
ATTENTION = Rule(_attention_shape, _attention_params, _attention_macs)
FLATTEN = Rule(_flatten_shape)
SOFTMAX = Rule(_softmax_shape)
ZERO = Rule(_zero_shape)
FACTORIZED_REDUCE = Rule(_factorized_reduce_shape, _factorized_reduce_params, _factorized_reduce_macs)
CHANNEL_SHUFFLE = Rule(_channel_shuffle_shape)
PAD_CHANNELS = Rule(_pad_channels_shape)
NARROW = Rule(_narrow_shape)
TRANSPOSE = Rule(_transpose_shape)
CLASS_TOKEN = Rule(_class_token_shape, lambda a: a["embed_dim"])
POSITION_EMBEDDING = Rule(_position_embedding_shape, lambda a: a["length"] * a["embed_dim"])
REL_POS_ATTENTION = Rule(_rel_attention_shape, _rel_attention_params, _rel_attention_macs)
UPSAMPLE = Rule(_upsample_shape)
PIXEL_SHUFFLE = Rule(_pixel_shuffle_shape)
PIXEL_UNSHUFFLE = Rule(_pixel_unshuffle_shape)
UNFLATTEN = Rule(_unflatten_shape)
RESHAPE = Rule(_reshape_shape)
PERMUTE = Rule(_permute_shape)
EMBEDDING = Rule(_embedding_shape, lambda a: a["num_embeddings"] * a["embedding_dim"])
PRELU = Rule(_identity, lambda a: a["num_parameters"])
GLU = Rule(_glu_shape)
ZERO_PAD_2D = Rule(_zero_pad_shape)


def conv(nd: int) -> Rule:
    """`Conv{nd}d`."""
    return Rule(_conv_shape(nd), _conv_params(nd), _conv_macs)


def conv_transpose(nd: int) -> Rule:
    """`ConvTranspose{nd}d`."""
    return Rule(_conv_transpose_shape(nd), _conv_params(nd), _conv_transpose_macs)


def batch_norm(nd: int) -> Rule:
    """`BatchNorm{nd}d` (1-d takes [C] or [C, L])."""
    ranks = {1: (1, 2), 2: (3,), 3: (4,)}[nd]
    layout = "[C] or [C, L]" if nd == 1 else _LAYOUTS[nd]
    return Rule(_channels_shape("num_features", ranks, layout), _norm_params)


def instance_norm(nd: int) -> Rule:
    """`InstanceNorm{nd}d`."""
    return Rule(_channels_shape("num_features", (nd + 1,), _LAYOUTS[nd]), _norm_params)


def max_pool(nd: int) -> Rule:
    """`MaxPool{nd}d` (with dilation)."""
    return Rule(_pool_shape(dilated=True, nd=nd))


def avg_pool(nd: int) -> Rule:
    """`AvgPool{nd}d`."""
    return Rule(_pool_shape(dilated=False, nd=nd))


def adaptive_pool(nd: int) -> Rule:
    """`AdaptiveAvgPool{nd}d` and `AdaptiveMaxPool{nd}d`."""
    return Rule(_adaptive_shape(nd))
