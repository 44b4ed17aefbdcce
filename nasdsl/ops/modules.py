"""The op library: catalog names to `torch.nn` modules, plus nasdsl's own `Zero` and
`FactorizedReduce`, plus ops users register from Python.

Ops keep torch's names and keyword arguments (`nasdsl.ops.catalog` holds their signatures so the
front end needs no torch). A `.nas` file can only call what is here: custom modules enter by
`register_op` from Python, or by naming a Python module on the command line (`--ops
mypkg.ops`) whose import registers them.

Example::

    >>> build_op("Conv2d", {"in_channels": 3, "out_channels": 8, "kernel_size": 3, "stride": 1,
    ...                     "padding": 1, "dilation": 1, "groups": 1, "bias": False,
    ...                     "padding_mode": "zeros"})
    Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..errors import NasError
from ..usercode import import_module, is_module_name  # noqa: F401 - is_module_name: the public name it had here
from . import catalog
from .domains import ANY, Domain
from .rules import Rule


class Zero(nn.Module):
    """The `none` operation of DARTS and NAS-Bench-201: zeros shaped like the op it replaces
    (spatially strided by `stride`, with `out_channels` channels when given)."""

    def __init__(self, stride: int = 1, out_channels: int | None = None):
        super().__init__()
        self.stride = stride
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.out_channels is not None and self.out_channels != x.shape[1]:
            shape = list(x.shape)
            shape[1] = self.out_channels
            return x.new_zeros(shape)
        return x.mul(0.0)

    def extra_repr(self) -> str:
        return f"stride={self.stride}" + (f", out_channels={self.out_channels}" if self.out_channels else "")


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: two stride-2 1x1 convolutions, the second
    shifted by one pixel, concatenated (DARTS, NAS-Bench-201). Names match quark0/darts."""

    def __init__(self, in_channels: int, out_channels: int, affine: bool = True):
        super().__init__()
        if out_channels % 2:
            raise ValueError(f"FactorizedReduce needs an even out_channels, got {out_channels}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(in_channels, out_channels // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(in_channels, out_channels // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class PadChannels(nn.Module):
    """Zero-pad dimension 1 to `channels`, the input filling channels `offset` onward: summing
    such placements concatenates tensors whose presence is a choice (NAS-Bench-101's output)."""

    def __init__(self, offset: int, channels: int):
        super().__init__()
        self.offset, self.channels = offset, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        after = self.channels - self.offset - x.shape[1]
        return torch.nn.functional.pad(x, (0, 0, 0, 0, self.offset, after)) if x.dim() == 4 else \
            torch.cat([x.new_zeros(x.shape[0], self.offset, *x.shape[2:]), x,
                       x.new_zeros(x.shape[0], after, *x.shape[2:])], dim=1)

    def extra_repr(self) -> str:
        return f"offset={self.offset}, channels={self.channels}"


class SelfAttention(nn.MultiheadAttention):
    """`MultiheadAttention` as a one-input layer: attention of a sequence to itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, x, x, need_weights=False)[0]


class Narrow(nn.Module):
    """`length` entries of dimension `dim` from `start` (torch.narrow): one half of a channel
    split (ShuffleNetV2), the patch tokens after a class token (ViT)."""

    def __init__(self, dim: int, start: int, length: int):
        super().__init__()
        self.dim, self.start, self.length = dim, start, length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.narrow(self.dim, self.start, self.length)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, start={self.start}, length={self.length}"


class Transpose(nn.Module):
    """Swap two dimensions (torch.transpose): feature maps [C, H*W] to tokens [H*W, C]."""

    def __init__(self, dim0: int, dim1: int):
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(self.dim0, self.dim1)

    def extra_repr(self) -> str:
        return f"dim0={self.dim0}, dim1={self.dim1}"


class Reshape(nn.Module):
    """The features of each sample (every dimension but the batch) as `shape`; one entry may
    be -1 (`torch.reshape` per sample)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape) if isinstance(shape, (list, tuple)) else (shape,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={list(self.shape)}"


class Permute(nn.Module):
    """`x.permute(*dims)`: dims of the whole tensor, the batch dimension (0) first."""

    def __init__(self, dims):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.dims)

    def extra_repr(self) -> str:
        return f"dims={list(self.dims)}"


class ClassToken(nn.Module):
    """Prepend a learned class token to a sequence [L, E] -> [L + 1, E] (ViT)."""

    def __init__(self, embed_dim: int):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)


class PositionEmbedding(nn.Module):
    """Add a learned absolute position embedding to a sequence [length, E] (ViT)."""

    def __init__(self, length: int, embed_dim: int):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, length, embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pos_embed


class RelPosSelfAttention(nn.Module):
    """Self-attention over [N, E] with `num_heads` heads of a fixed `head_dim` (so the inner
    width is num_heads * head_dim, not E) and, with `rpe`, 2-D relative position encoding of
    keys and values (Shaw et al. 2018 on a square grid of N - 1 patches behind a class token;
    AutoFormer). Distances are clipped to +-`rpe_length`; index 0 is the class token's."""

    def __init__(self, embed_dim: int, num_heads: int, head_dim: int = 64, qkv_bias: bool = True,
                 rpe: bool = True, rpe_length: int = 14):
        super().__init__()
        self.num_heads, self.head_dim, self.rpe, self.rpe_length = num_heads, head_dim, rpe, rpe_length
        inner = num_heads * head_dim
        self.q = nn.Linear(embed_dim, inner, bias=qkv_bias)
        self.k = nn.Linear(embed_dim, inner, bias=qkv_bias)
        self.v = nn.Linear(embed_dim, inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, embed_dim)
        if rpe:  # one table per axis (vertical, horizontal), for keys and for values
            for name in ("rpe_k_vertical", "rpe_k_horizontal", "rpe_v_vertical", "rpe_v_horizontal"):
                table = nn.Parameter(torch.zeros(2 * rpe_length + 2, head_dim))
                nn.init.trunc_normal_(table, std=0.02)
                self.register_parameter(name, table)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attend(x, self.num_heads, self.q.weight, self.q.bias, self.k.weight, self.k.bias,
                           self.v.weight, self.v.bias, self.proj.weight, self.proj.bias)

    def relative(self, n: int, vertical: torch.Tensor, horizontal: torch.Tensor) -> torch.Tensor:
        """[n, n, head_dim] embeddings of the distances between n tokens (class token first)."""
        side = int((n - 1) ** 0.5)
        pos = torch.arange(n - 1, device=vertical.device)
        dv = (pos[None, :] // side - pos[:, None] // side).clamp(-self.rpe_length, self.rpe_length)
        dh = (pos[None, :] % side - pos[:, None] % side).clamp(-self.rpe_length, self.rpe_length)
        iv = torch.nn.functional.pad(dv + self.rpe_length + 1, (1, 0, 1, 0))
        ih = torch.nn.functional.pad(dh + self.rpe_length + 1, (1, 0, 1, 0))
        return vertical[iv] + horizontal[ih]

    def attend(self, x, heads, wq, bq, wk, bk, wv, bv, wp, bp) -> torch.Tensor:
        b, n, _ = x.shape
        f = torch.nn.functional
        q, k, v = (f.linear(x, w, bias).view(b, n, heads, self.head_dim).transpose(1, 2)
                   for w, bias in ((wq, bq), (wk, bk), (wv, bv)))
        scale = self.head_dim ** -0.5
        scores = q @ k.transpose(-2, -1) * scale
        if self.rpe:
            rel_k = self.relative(n, self.rpe_k_vertical, self.rpe_k_horizontal)
            scores = scores + torch.einsum("bhnd,nmd->bhnm", q, rel_k) * scale
        attn = scores.softmax(dim=-1)
        out = (attn @ v).transpose(1, 2)
        if self.rpe:
            rel_v = self.relative(n, self.rpe_v_vertical, self.rpe_v_horizontal)
            out = out + torch.einsum("bhnm,nmd->bnhd", attn, rel_v)
        return f.linear(out.reshape(b, n, heads * self.head_dim), wp, bp)


def register_op(name: str, module: type[nn.Module] | Callable[..., nn.Module],
                params: tuple[tuple[str, Any], ...] | None = None, rule: Rule | None = None,
                domains: dict[str, Domain] | None = None) -> catalog.OpSpec:
    """Make `module` callable from `.nas` files as `name(...)`; return the op's record, the
    same `OpSpec` a catalog op has.

    `params` lists (parameter, default) pairs in order, `catalog.REQUIRED` marking required
    ones; by default they are read from the constructor's signature. `rule` (a
    `nasdsl.ops.rules.Rule`) gives it shape checks, params and FLOPs, and `domains` (argument
    -> `nasdsl.ops.domains.Domain`) the values its arguments may take, checked with the
    shapes; an argument not named there takes any value (`domains.ANY`). `record.lacks()`
    says what it still goes without (a custom op has no weight-entangled supernet version).

    Example::

        >>> from torch import nn
        >>> class Squeeze(nn.Module):
        ...     def __init__(self, channels, ratio=4):
        ...         super().__init__()
        >>> record = register_op("SqueezeDoc", Squeeze)      # then: SqueezeDoc(c, ratio=choice[4, 8])
        >>> record.params[1], len(record.lacks()), record.domains["ratio"].what
        (('ratio', 4), 2, 'any value')
        >>> catalog.unregister("SqueezeDoc")
    """
    if params is None:
        sig = inspect.signature(module.__init__ if inspect.isclass(module) else module)
        params = tuple((p.name, catalog.REQUIRED if p.default is inspect.Parameter.empty else p.default)
                       for p in sig.parameters.values()
                       if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    params = tuple(params)
    given = dict(domains or {})
    unknown = sorted(set(given) - {p for p, _ in params})
    if unknown:
        raise ValueError(f"register_op({name!r}): domains name {unknown[0]!r}, which is not one of its parameters")
    return catalog.register(catalog.OpSpec(name, params, rule, module, None, custom=True,
                                           domains={p: given.get(p, ANY) for p, _ in params}))


def import_ops(module_names: list[str] | tuple[str, ...]) -> None:
    """Import Python modules that register ops (the command line's `--ops mypkg.ops`). Each
    name must be a dotted module name (`pkg.ops`): a path, a relative name (`.hidden`,
    `../evil`) or an empty name is refused before anything is imported."""
    for name in module_names:
        if not is_module_name(name):
            raise NasError(f"--ops {name!r}: not a module name (expected dotted Python identifiers such as "
                           f"mypkg.ops; a path or a relative name is not accepted)")
    for name in module_names:
        import_module(name, "--ops")


def build_op(name: str, kwargs: dict[str, Any]) -> nn.Module:
    """A fresh module for a catalog or registered op, from fully resolved keyword arguments."""
    record = catalog.spec(name)
    builder = None if record is None else record.torch_builder()
    if builder is None:
        raise NasError(f"op {name!r} has no PyTorch implementation registered")
    return builder(**builder_arguments(name, kwargs))


def builder_arguments(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments an op's module is constructed with: as its record says
    (`OpSpec.builder_arguments`: a pool's `stride=None` left to torch, a LayerNorm shape as a
    tuple); a custom op's arguments as they are."""
    record = catalog.spec(name)
    return dict(kwargs) if record is None else record.builder_arguments(kwargs)
