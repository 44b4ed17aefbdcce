"""The domain of each op argument: what a channel count, a kernel size, a probability may be.

Values reach an op from a `.nas` file, a `--set` override or an expression over choices; the
shape analysis checks every argument against its domain here (for expressions: every value
its choices can give it), so `nasdsl check` refuses `Conv2d(3, 0, 3)`, `BatchNorm2d(c, eps=-1)`
or `Dropout(p=1.5)` with the op's file:line:col before anything is built. Torch-free.

Example::

    >>> POSITIVE_INT.ok(3), POSITIVE_INT.ok(0), POSITIVE_INT.ok(True)
    (True, False, False)
    >>> domain("Dropout", "p").what
    'a probability (0 <= p <= 1)'
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Domain:
    """A named predicate over one argument value (or each item of a tuple/list value, where
    `items` allows several)."""
    what: str
    ok_one: Callable[[Any], bool]
    items: bool = False   # a tuple/list of such values is accepted too (kernel (3, 5))
    none: bool = False    # None is accepted (stride=None: the kernel size)

    def ok(self, value: Any) -> bool:
        if value is None:
            return self.none
        if isinstance(value, (tuple, list)):
            return self.items and len(value) > 0 and all(self.ok_one(v) for v in value)
        return self.ok_one(value)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


POSITIVE_INT = Domain("a positive integer", lambda v: _int(v) and v > 0)
POSITIVE_INTS = Domain("a positive integer (or a tuple of them)", lambda v: _int(v) and v > 0, items=True)
NONNEGATIVE_INT = Domain("a non-negative integer", lambda v: _int(v) and v >= 0)
INT = Domain("an integer", _int)
PROBABILITY = Domain("a probability (0 <= p <= 1)", lambda v: _number(v) and 0 <= v <= 1)
POSITIVE = Domain("a positive finite number", lambda v: _number(v) and v > 0)
FINITE = Domain("a finite number", _number)
BOOL = Domain("true or false", lambda v: isinstance(v, bool))
PADDING = Domain("a non-negative integer (or a tuple of them), \"same\" or \"valid\"",
                 lambda v: v in ("same", "valid") if isinstance(v, str) else _int(v) and v >= 0, items=True)
MOMENTUM = Domain("a number between 0 and 1, or none", lambda v: _number(v) and 0 <= v <= 1, none=True)
STRIDE_OR_NONE = Domain("a positive integer (or a tuple of them), or none", lambda v: _int(v) and v > 0,
                        items=True, none=True)
OPTIONAL_POSITIVE_INT = Domain("a positive integer, or none", lambda v: _int(v) and v > 0, none=True)

_CONV = {"in_channels": POSITIVE_INT, "out_channels": POSITIVE_INT, "kernel_size": POSITIVE_INTS,
         "stride": POSITIVE_INTS, "padding": PADDING, "dilation": POSITIVE_INTS, "groups": POSITIVE_INT,
         "bias": BOOL}
_BN = {"num_features": POSITIVE_INT, "eps": POSITIVE, "momentum": MOMENTUM, "affine": BOOL,
       "track_running_stats": BOOL}
_DROPOUT = {"p": PROBABILITY, "inplace": BOOL}

DOMAINS: dict[str, dict[str, Domain]] = {
    "Conv1d": _CONV,
    "Conv2d": _CONV,
    "Linear": {"in_features": POSITIVE_INT, "out_features": POSITIVE_INT, "bias": BOOL},
    "BatchNorm1d": _BN,
    "BatchNorm2d": _BN,
    "LayerNorm": {"normalized_shape": POSITIVE_INTS, "eps": POSITIVE, "elementwise_affine": BOOL, "bias": BOOL},
    "GroupNorm": {"num_groups": POSITIVE_INT, "num_channels": POSITIVE_INT, "eps": POSITIVE, "affine": BOOL},
    "MultiheadAttention": {"embed_dim": POSITIVE_INT, "num_heads": POSITIVE_INT, "dropout": PROBABILITY,
                           "bias": BOOL, "batch_first": BOOL},
    "LeakyReLU": {"negative_slope": FINITE},
    "Softmax": {"dim": INT},
    "MaxPool2d": {"kernel_size": POSITIVE_INTS, "stride": STRIDE_OR_NONE, "padding": PADDING,
                  "dilation": POSITIVE_INTS},
    "AvgPool2d": {"kernel_size": POSITIVE_INTS, "stride": STRIDE_OR_NONE, "padding": PADDING,
                  "divisor_override": OPTIONAL_POSITIVE_INT},
    "AdaptiveAvgPool2d": {"output_size": POSITIVE_INTS},
    "AdaptiveMaxPool2d": {"output_size": POSITIVE_INTS},
    "AdaptiveAvgPool1d": {"output_size": POSITIVE_INTS},
    "Dropout": _DROPOUT,
    "Dropout2d": _DROPOUT,
    "Zero": {"stride": POSITIVE_INT, "out_channels": OPTIONAL_POSITIVE_INT},
    "FactorizedReduce": {"in_channels": POSITIVE_INT, "out_channels": POSITIVE_INT, "affine": BOOL},
    "ChannelShuffle": {"groups": POSITIVE_INT},
    "PadChannels": {"offset": NONNEGATIVE_INT, "channels": POSITIVE_INT},
    "Narrow": {"dim": INT, "start": NONNEGATIVE_INT, "length": POSITIVE_INT},
    "ClassToken": {"embed_dim": POSITIVE_INT},
    "PositionEmbedding": {"length": POSITIVE_INT, "embed_dim": POSITIVE_INT},
    "RelPosSelfAttention": {"embed_dim": POSITIVE_INT, "num_heads": POSITIVE_INT, "head_dim": POSITIVE_INT,
                            "qkv_bias": BOOL, "rpe": BOOL, "rpe_length": POSITIVE_INT},
}


def domain(op: str, arg: str) -> Domain | None:
    """The domain of argument `arg` of op `op`, or None where any value is accepted (custom ops)."""
    return DOMAINS.get(op, {}).get(arg)
