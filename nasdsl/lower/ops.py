"""The op library: catalog names to `torch.nn` modules, plus nasdsl's own `Zero` and
`FactorizedReduce`, plus ops users register from Python.

Ops keep torch's names and keyword arguments (`nasdsl.catalog` holds their signatures so the
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

import importlib
import inspect
from typing import Any, Callable

import torch
from torch import nn

from .. import catalog
from ..errors import NasError


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


class SelfAttention(nn.MultiheadAttention):
    """`MultiheadAttention` as a one-input layer: attention of a sequence to itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, x, x, need_weights=False)[0]


_TORCH_NAMES = [name for name in catalog.SIGNATURES if hasattr(nn, name)]
_BUILDERS: dict[str, Callable[..., nn.Module]] = {name: getattr(nn, name) for name in _TORCH_NAMES}
_BUILDERS.update({"Zero": Zero, "FactorizedReduce": FactorizedReduce, "MultiheadAttention": SelfAttention})


def register_op(name: str, module: type[nn.Module] | Callable[..., nn.Module],
                params: tuple[tuple[str, Any], ...] | None = None) -> None:
    """Make `module` callable from `.nas` files as `name(...)`.

    `params` lists (parameter, default) pairs in order, `catalog.REQUIRED` marking required
    ones; by default they are read from the constructor's signature.

    Example::

        class Squeeze(nn.Module):
            def __init__(self, channels, ratio=4): ...
        nasdsl.register_op("Squeeze", Squeeze)      # then: Squeeze(c, ratio=choice[4, 8])
    """
    if params is None:
        sig = inspect.signature(module.__init__ if inspect.isclass(module) else module)
        params = tuple((p.name, catalog.REQUIRED if p.default is inspect.Parameter.empty else p.default)
                       for p in sig.parameters.values()
                       if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    catalog.register_signature(name, tuple(params))
    _BUILDERS[name] = module


def import_ops(module_names: list[str] | tuple[str, ...]) -> None:
    """Import Python modules that register ops (the command line's `--ops mypkg.ops`)."""
    for name in module_names:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise NasError(f"--ops {name}: cannot import it ({err})") from None


def build_op(name: str, kwargs: dict[str, Any]) -> nn.Module:
    """A fresh module for a catalog or registered op, from fully resolved keyword arguments."""
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise NasError(f"op {name!r} has no PyTorch implementation registered") from None
    args = dict(kwargs)
    if name in ("MaxPool2d", "AvgPool2d") and args.get("stride") is None:
        args.pop("stride", None)
    if name == "LayerNorm" and isinstance(args.get("normalized_shape"), list):
        args["normalized_shape"] = tuple(args["normalized_shape"])
    return builder(**args)
