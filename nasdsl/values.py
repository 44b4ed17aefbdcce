"""Value expressions over decisions: what `choice[3, 5] * 2` becomes.

A value in the IR is either a plain constant (int, float, str, bool, None, tuple) or a
`VExpr`, a small frozen tree whose leaves are `Ref(label)`s to decisions. Arithmetic on
values folds constants immediately and builds a tree otherwise, so `k // 2` stays tied to
the decision of `k`, as NNI's ValueChoice arithmetic does. Conditions (when a decision is
active) and constraints are boolean `VExpr`s too.

Example::

    >>> k = Ref("k")
    >>> pad = binary("//", k, 2)
    >>> evaluate(pad, {"k": 5})
    2
    >>> sorted(free_labels(pad))
    ['k']
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True, slots=True)
class Ref:
    """The value a decision takes (the chosen candidate name, number, or input indices)."""
    label: str


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: "Value"
    right: "Value"


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" | "not"
    operand: "Value"


@dataclass(frozen=True, slots=True)
class IfElse:
    test: "Value"
    then: "Value"
    other: "Value"


@dataclass(frozen=True, slots=True)
class Func:
    """A pure builtin applied to values: max, min, abs, int, float, round, len."""
    name: str
    args: tuple["Value", ...]


VExpr = Ref | Binary | Unary | IfElse | Func
Value = Any  # a constant or a VExpr

_BINARY = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": operator.pow,
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}
FUNCS = {"max": max, "min": min, "abs": abs, "int": int, "float": float, "round": round,
         "len": len}


def is_expr(value: Value) -> bool:
    return isinstance(value, (Ref, Binary, Unary, IfElse, Func))


def apply_binary(op: str, a: Any, b: Any) -> Any:
    if op == "and":
        return a and b
    if op == "or":
        return a or b
    if op in ("/", "//", "%") and b == 0:
        raise ZeroDivisionError("division by zero")
    if op == "**" and (abs(b) > 64 or abs(a) > 2**64):
        raise OverflowError("exponent too large")
    return _BINARY[op](a, b)


def binary(op: str, a: Value, b: Value) -> Value:
    """`a op b`, folded when both sides are constants."""
    if not is_expr(a) and not is_expr(b):
        return apply_binary(op, a, b)
    if op == "and" and not is_expr(a):
        return b if a else a
    if op == "or" and not is_expr(a):
        return a if a else b
    return Binary(op, a, b)


def unary(op: str, a: Value) -> Value:
    if not is_expr(a):
        return (not a) if op == "not" else -a
    return Unary(op, a)


def if_else(test: Value, then: Value, other: Value) -> Value:
    if not is_expr(test):
        return then if test else other
    return IfElse(test, then, other)


def func(name: str, args: tuple[Value, ...]) -> Value:
    if not any(is_expr(a) for a in args):
        return FUNCS[name](*args)
    return Func(name, args)


def evaluate(value: Value, arch: Mapping[str, Any]) -> Any:
    """The constant a value takes under an architecture (a `label -> value` mapping)."""
    if isinstance(value, Ref):
        return arch[value.label]
    if isinstance(value, Binary):
        if value.op == "and":
            return evaluate(value.left, arch) and evaluate(value.right, arch)
        if value.op == "or":
            return evaluate(value.left, arch) or evaluate(value.right, arch)
        return apply_binary(value.op, evaluate(value.left, arch), evaluate(value.right, arch))
    if isinstance(value, Unary):
        v = evaluate(value.operand, arch)
        return (not v) if value.op == "not" else -v
    if isinstance(value, IfElse):
        return evaluate(value.then if evaluate(value.test, arch) else value.other, arch)
    if isinstance(value, Func):
        return FUNCS[value.name](*(evaluate(a, arch) for a in value.args))
    if isinstance(value, tuple):
        return tuple(evaluate(v, arch) for v in value)
    return value


def free_labels(value: Value) -> frozenset[str]:
    """Labels of the decisions a value depends on."""
    out: set[str] = set()
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, Ref):
            out.add(v.label)
        elif isinstance(v, Binary):
            stack += (v.left, v.right)
        elif isinstance(v, Unary):
            stack.append(v.operand)
        elif isinstance(v, IfElse):
            stack += (v.test, v.then, v.other)
        elif isinstance(v, Func):
            stack += v.args
        elif isinstance(v, tuple):
            stack += v
    return frozenset(out)


_PREC = {"or": 1, "and": 2, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
         "+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6, "**": 8}


def to_text(value: Value, prec: int = 0) -> str:
    """A readable `.nas`-like rendering, used in errors, `info` and fingerprints."""
    if isinstance(value, Ref):
        return value.label.lstrip("@")  # @params, @flops: derived properties
    if isinstance(value, Binary):
        p = _PREC[value.op]
        text = f"{to_text(value.left, p)} {value.op} {to_text(value.right, p + 1)}"
        return f"({text})" if p < prec else text
    if isinstance(value, Unary):
        text = f"not {to_text(value.operand, 3)}" if value.op == "not" else f"-{to_text(value.operand, 7)}"
        return f"({text})" if prec > (3 if value.op == "not" else 7) else text
    if isinstance(value, IfElse):
        text = f"{to_text(value.then, 1)} if {to_text(value.test, 1)} else {to_text(value.other)}"
        return f"({text})" if prec > 0 else text
    if isinstance(value, Func):
        return f"{value.name}({', '.join(to_text(a) for a in value.args)})"
    return literal(value)


def literal(value: Any) -> str:
    """A constant as `.nas` source."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e16:
            return f"{value:.1f}"
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if value is None:
        return "none"
    return str(value)
