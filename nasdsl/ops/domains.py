"""The domains op arguments take: what a channel count, a kernel size, a probability may be.

Every argument of every catalog op names one of these in its record
(`nasdsl.ops.catalog.OpSpec.domains`). Values reach an op from a `.nas` file, a `--set`
override or an expression over choices; the shape analysis checks every argument against its
domain (for expressions: every value its choices can give it), so `nasdsl check` refuses
`Conv2d(3, 0, 3)`, `BatchNorm2d(c, eps=-1)` or `Dropout(p=1.5)` with the op's file:line:col
before anything is built. Torch-free.

Example::

    >>> POSITIVE_INT.ok(3), POSITIVE_INT.ok(0), POSITIVE_INT.ok(True)
    (True, False, False)
    >>> PADDING_MODE.ok("zeros"), PADDING_MODE.ok("bogus")
    (True, False)
    >>> PADDING_MODE.what
    'one of "zeros", "reflect", "replicate", "circular"'
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


def one_of(*options: str) -> Domain:
    """A domain of named options (strings), as torch spells them."""
    return Domain("one of " + ", ".join(f'"{o}"' for o in options), lambda v: isinstance(v, str) and v in options)


def _positive_int(v: Any) -> bool:
    return _int(v) and v > 0


def _nonnegative_int(v: Any) -> bool:
    return _int(v) and v >= 0


ANY = Domain("any value", lambda v: True, items=True, none=True)   # a custom op's argument: it checks its own
POSITIVE_INT = Domain("a positive integer", _positive_int)
POSITIVE_INTS = Domain("a positive integer (or a tuple of them)", _positive_int, items=True)
NONNEGATIVE_INT = Domain("a non-negative integer", _nonnegative_int)
NONNEGATIVE_INTS = Domain("a non-negative integer (or a tuple of them)", _nonnegative_int, items=True)
INT = Domain("an integer", _int)
INTS = Domain("an integer (or a tuple of them)", _int, items=True)
OPTIONAL_INT = Domain("an integer, or none", _int, none=True)
SIZES = Domain("positive integers, one of them perhaps -1", lambda v: _int(v) and (v > 0 or v == -1), items=True)
PROBABILITY = Domain("a probability (0 <= p <= 1)", lambda v: _number(v) and 0 <= v <= 1)
POSITIVE = Domain("a positive finite number", lambda v: _number(v) and v > 0)
OPTIONAL_POSITIVE = Domain("a positive finite number, or none", lambda v: _number(v) and v > 0, none=True)
POSITIVES_OR_NONE = Domain("a positive finite number (or a tuple of them), or none", lambda v: _number(v) and v > 0,
                           items=True, none=True)
NONNEGATIVE = Domain("a non-negative finite number", lambda v: _number(v) and v >= 0)
NONZERO = Domain("a non-zero finite number", lambda v: _number(v) and v != 0)
FINITE = Domain("a finite number", _number)
BOOL = Domain("true or false", lambda v: isinstance(v, bool))
OPTIONAL_BOOL = Domain("true or false, or none", lambda v: isinstance(v, bool), none=True)
PADDING = Domain("a non-negative integer (or a tuple of them), \"same\" or \"valid\"",
                 lambda v: v in ("same", "valid") if isinstance(v, str) else _nonnegative_int(v), items=True)
MOMENTUM = Domain("a number between 0 and 1, or none", lambda v: _number(v) and 0 <= v <= 1, none=True)
STRIDE_OR_NONE = Domain("a positive integer (or a tuple of them), or none", _positive_int, items=True, none=True)
OPTIONAL_POSITIVE_INT = Domain("a positive integer, or none", _positive_int, none=True)
OPTIONAL_POSITIVE_INTS = Domain("a positive integer (or a tuple of them), or none", _positive_int, items=True,
                                none=True)
PADDING_MODE = one_of("zeros", "reflect", "replicate", "circular")
GELU_APPROXIMATE = one_of("none", "tanh")
UPSAMPLE_MODE = one_of("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")
