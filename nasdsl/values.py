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

import itertools
import math
import operator
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import NasError
from .limits import MAX_EXPR_NODES, ValueTooLarge, check_number


class DivisionByZero(NasError, ZeroDivisionError):
    """A `/`, `//` or `%` whose divisor is zero (or zero raised to a negative power) where a
    value is computed for one architecture. Also a `ZeroDivisionError`, so code that turns
    arithmetic errors into located ones does the same with this; anywhere else it is still a
    `NasError`, never an internal error. `check` finds such divisors before any architecture
    is drawn (`Elaborator.check_divisor`); this is the net for what it cannot enumerate."""


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Ref:
    """The value a decision takes (the chosen candidate name, number, or input indices)."""
    label: str
    size: int = field(default=1, init=False, repr=False, compare=False)
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_hash", hash((Ref, self.label)))

    def __hash__(self) -> int:
        if self._hash is None:
            raise TypeError(f"unhashable constant in {type(self).__name__}")
        return self._hash


def _measure(node, *fields: Any) -> None:
    """Set a new node's tree size and hash from its children's (so neither walks the tree:
    a DAG whose tree is exponentially large hashes in constant time), refusing a node
    bigger than `limits.MAX_EXPR_NODES`."""
    size = 1 + sum(_size(f) for f in fields)
    if size > MAX_EXPR_NODES:
        raise ValueTooLarge(f"expression too large: over {MAX_EXPR_NODES:,} operations when written out "
                            f"(does a value double itself in a loop?)")
    object.__setattr__(node, "size", size)
    try:
        object.__setattr__(node, "_hash", hash((type(node), *fields)))
    except TypeError:  # an unhashable constant inside (a list): the node is unhashable too
        pass


def _size(value: Any) -> int:
    if is_expr(value):
        return value.size
    if isinstance(value, tuple):
        return sum(_size(v) for v in value)
    return 0


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Binary:
    op: str
    left: Value
    right: Value
    size: int = field(default=1, init=False, repr=False, compare=False)
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        _measure(self, self.op, self.left, self.right)

    def __hash__(self) -> int:
        if self._hash is None:
            raise TypeError(f"unhashable constant in {type(self).__name__}")
        return self._hash


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Unary:
    op: str  # "-" | "not"
    operand: Value
    size: int = field(default=1, init=False, repr=False, compare=False)
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        _measure(self, self.op, self.operand)

    def __hash__(self) -> int:
        if self._hash is None:
            raise TypeError(f"unhashable constant in {type(self).__name__}")
        return self._hash


@dataclass(frozen=True, slots=True, weakref_slot=True)
class IfElse:
    test: Value
    then: Value
    other: Value
    size: int = field(default=1, init=False, repr=False, compare=False)
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        _measure(self, self.test, self.then, self.other)

    def __hash__(self) -> int:
        if self._hash is None:
            raise TypeError(f"unhashable constant in {type(self).__name__}")
        return self._hash


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Func:
    """A pure builtin applied to values: max, min, abs, int, float, round, len."""
    name: str
    args: tuple[Value, ...]
    size: int = field(default=1, init=False, repr=False, compare=False)
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        _measure(self, self.name, *self.args)

    def __hash__(self) -> int:
        if self._hash is None:
            raise TypeError(f"unhashable constant in {type(self).__name__}")
        return self._hash


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


def children(node: VExpr) -> tuple[Value, ...]:
    """The values a node is built from (operands, branches, arguments), in order.

    Example::

        >>> children(binary("+", Ref("k"), 1))
        (Ref(label='k'), 1)
    """
    cls = node.__class__
    if cls is Binary:
        return (node.left, node.right)
    if cls is Unary:
        return (node.operand,)
    if cls is IfElse:
        return (node.test, node.then, node.other)
    if cls is Func:
        return node.args
    return ()


_EXPR_CLASSES = frozenset({Ref, Binary, Unary, IfElse, Func})  # final classes: a set lookup, not isinstance


def is_expr(value: Value) -> bool:
    return value.__class__ in _EXPR_CLASSES


def apply_binary(op: str, a: Any, b: Any) -> Any:
    if op == "and":
        return a and b
    if op == "or":
        return a or b
    if op in ("/", "//", "%") and b == 0:
        raise DivisionByZero(f"division by zero: {literal(a)} {op} {literal(b)}")
    if op == "**" and (abs(b) > 64 or abs(a) > 2**64):
        raise OverflowError("exponent too large")
    if op == "**" and a == 0 and b < 0:
        raise DivisionByZero(f"division by zero: {literal(a)} ** {literal(b)} (zero to a negative power)")
    return check_number(_BINARY[op](a, b))


# Expressions are hash-consed: building the same expression twice gives the same object, so a
# space that repeats a subexpression (`make_div(v)` used three times in `make_div` itself) holds a
# DAG, not a tree that triples with every nesting; `evaluate` memoises by node, and shape checks
# cost DAG size. Children are keyed by identity (they are interned too) and constants by value.
_INTERNED: weakref.WeakValueDictionary[tuple, Any] = weakref.WeakValueDictionary()


def _key(value: Value) -> Any:
    if isinstance(value, Ref):
        return ("ref", value.label)
    if is_expr(value):
        return id(value)
    if isinstance(value, (tuple, list)):
        return (type(value), tuple(_key(v) for v in value))
    return (type(value), value)


def _interned(cls: type, *fields: Any) -> Any:
    key = (cls, *(_key(f) for f in fields))
    try:
        hit = _INTERNED.get(key)
    except TypeError:  # an unhashable constant: not shared
        return cls(*fields)
    if hit is None:
        hit = cls(*fields)
        _INTERNED[key] = hit
    return hit


def binary(op: str, a: Value, b: Value) -> Value:
    """`a op b`, folded when both sides are constants."""
    if not is_expr(a) and not is_expr(b):
        return apply_binary(op, a, b)
    if op == "and" and not is_expr(a):
        return b if a else a
    if op == "or" and not is_expr(a):
        return a if a else b
    return _interned(Binary, op, a, b)


def unary(op: str, a: Value) -> Value:
    if not is_expr(a):
        return (not a) if op == "not" else check_number(-a)
    return _interned(Unary, op, a)


def if_else(test: Value, then: Value, other: Value) -> Value:
    if not is_expr(test):
        return then if test else other
    return _interned(IfElse, test, then, other)


def func(name: str, args: tuple[Value, ...]) -> Value:
    if not any(is_expr(a) for a in args):
        return check_number(FUNCS[name](*args))
    return _interned(Func, name, args)


def evaluate(value: Value, arch: Mapping[str, Any]) -> Any:
    """The constant a value takes under an architecture (a `label -> value` mapping)."""
    if isinstance(value, tuple):
        return tuple(evaluate(v, arch) for v in value)
    if not is_expr(value):
        return value
    return _evaluate(value, arch, {})


def _evaluate(value: Value, arch: Mapping[str, Any], memo: dict[int, Any]) -> Any:
    """`evaluate` with shared subexpressions computed once (memo by node identity)."""
    cls = value.__class__   # dispatch on the class: this runs once per node of every evaluation
    if cls is Ref:
        return arch[value.label]
    if cls not in _EXPR_CLASSES:
        return tuple(_evaluate(v, arch, memo) for v in value) if isinstance(value, tuple) else value
    hit = memo.get(id(value), memo)
    if hit is not memo:
        return hit
    if cls is Binary:
        if value.op == "and":
            out = _evaluate(value.left, arch, memo) and _evaluate(value.right, arch, memo)
        elif value.op == "or":
            out = _evaluate(value.left, arch, memo) or _evaluate(value.right, arch, memo)
        else:
            out = apply_binary(value.op, _evaluate(value.left, arch, memo), _evaluate(value.right, arch, memo))
    elif cls is Unary:
        v = _evaluate(value.operand, arch, memo)
        out = (not v) if value.op == "not" else check_number(-v)
    elif cls is IfElse:
        out = _evaluate(value.then if _evaluate(value.test, arch, memo) else value.other, arch, memo)
    else:
        out = check_number(FUNCS[value.name](*(_evaluate(a, arch, memo) for a in value.args)))
    memo[id(value)] = out
    return out


def possible_values(value: Value, domains: Mapping[str, Any], cap: int = 4096,
                    memo: dict[int, tuple[Any, set | None]] | None = None) -> set | None:
    """A superset of the values `value` takes when each label ranges over its domain, worked
    out node by node (so labels shared between subexpressions are treated as independent):
    instant where enumerating joint assignments is not. None when a set outgrows `cap`.
    `memo` may be kept across calls with the same `domains` and `cap`: subexpressions shared
    between calls are then worked out once (it holds each node it describes, so a node's
    identity cannot pass to another while the memo lives)."""
    memo = {} if memo is None else memo

    def values(v: Value) -> set | None:
        if isinstance(v, Ref):
            return set(domains[v.label])
        if not is_expr(v):
            return {v}
        hit = memo.get(id(v))
        if hit is not None:
            return hit[1]
        if isinstance(v, IfElse):
            tests = values(v.test)
            parts = [] if tests is None else [v.then] * any(tests) + [v.other] * (not all(tests))
            sets = [values(p) for p in parts] if tests is not None else [None]
            out = None if any(x is None for x in sets) else set().union(*sets)
        else:
            args, fn = _operands_and_function(v)
            out = _image(fn, [values(a) for a in args], cap)
        out = out if out is None or len(out) <= cap else None
        memo[id(v)] = (v, out)
        return out

    return values(value)


def _operands_and_function(v: Value) -> tuple[tuple, Callable]:
    """The operands of an arithmetic, logical or function node and the function it applies to them."""
    if isinstance(v, Binary):
        return (v.left, v.right), lambda a, b: apply_binary(v.op, a, b)
    if isinstance(v, Unary):
        return (v.operand,), (lambda a: not a) if v.op == "not" else (lambda a: -a)
    return v.args, FUNCS[v.name]


def _image(fn: Callable, sets: list[set | None], cap: int) -> set | None:
    """Every value `fn` takes over the product of its operands' value sets (combinations it
    refuses left out); None when an operand's set is unknown or the product passes 16 * `cap`."""
    if any(x is None for x in sets) or math.prod(len(x) for x in sets) > 16 * cap:
        return None
    out = set()
    for combo in itertools.product(*sets):
        try:
            out.add(fn(*combo))
        except (ArithmeticError, TypeError, ValueError):
            continue
    return out


def free_labels(value: Value) -> frozenset[str]:
    """Labels of the decisions a value depends on."""
    out: set[str] = set()
    stack, seen = [value], set()
    while stack:
        v = stack.pop()
        cls = v.__class__
        if cls in _EXPR_CLASSES:
            if id(v) in seen:  # a shared subexpression (see _interned)
                continue
            seen.add(id(v))
        if cls is Ref:
            out.add(v.label)
        elif cls is Binary:
            stack += (v.left, v.right)
        elif cls is Unary:
            stack.append(v.operand)
        elif cls is IfElse:
            stack += (v.test, v.then, v.other)
        elif cls is Func:
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
