"""Conditions and constraints evaluated on a partial architecture, where some decisions are
absent (`INACTIVE`): `partial_eval`, `truthy`, `holds`, and a space's `Memo` of them.

A decision exists only where its condition holds (a nested choice, a chosen depth); counting,
sampling and validation (`nasdsl.space`) and the cost analysis (`nasdsl.analysis`) evaluate
conditions and constraints over views that lack such decisions, with one rule: a comparison
with an absent decision is false, and a constraint over one does not apply.

Example::

    >>> from nasdsl.values import Ref, binary
    >>> partial_eval(binary("==", Ref("a"), 3), {}), partial_eval(binary("==", Ref("a"), 3), {"a": 3})
    (False, True)
    >>> truthy(INACTIVE), truthy(1)
    (False, True)
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import ir
from .errors import NasTypeError
from .values import FUNCS, Binary, Func, IfElse, Ref, Unary, apply_binary, free_labels, is_expr, literal, to_text

__all__ = ["INACTIVE", "partial_eval", "truthy", "holds", "Memo", "MEMO_CAP"]


class _Inactive:
    """The value of a decision that does not exist under the other choices."""
    _instance = None

    def __repr__(self) -> str:
        return "INACTIVE"

    def __reduce__(self):
        return (_inactive, ())


def _inactive():
    return INACTIVE


INACTIVE = _Inactive()


def partial_eval(value: Any, view: Mapping[str, Any]) -> Any:
    """Evaluate a value where some decisions are INACTIVE: comparisons with them are false."""
    if isinstance(value, Ref):
        return view.get(value.label, INACTIVE)
    if isinstance(value, Binary):
        return _binary(value, view)
    if isinstance(value, (Unary, IfElse, Func)):
        return _inner(value, view)
    return value


def _binary(value: Binary, view: Mapping[str, Any]) -> Any:
    """`and`/`or` short-circuit as Python's do; other operators with an absent operand are false
    comparisons (`!=`: true), else absent."""
    a = partial_eval(value.left, view)
    if value.op == "and":
        return a if (a is INACTIVE or not a) else partial_eval(value.right, view)
    if value.op == "or":
        return a if (a is not INACTIVE and a) else partial_eval(value.right, view)
    b = partial_eval(value.right, view)
    if a is INACTIVE or b is INACTIVE:
        return False if value.op in ("==", "<", "<=", ">", ">=") else (value.op == "!=" or INACTIVE)
    return apply_binary(value.op, a, b)


def _inner(value: Unary | IfElse | Func, view: Mapping[str, Any]) -> Any:
    """A negation, a conditional or a function call: absent wherever what it reads is absent."""
    if isinstance(value, IfElse):
        t = partial_eval(value.test, view)
        return INACTIVE if t is INACTIVE else partial_eval(value.then if t else value.other, view)
    if isinstance(value, Unary):
        a = partial_eval(value.operand, view)
        return INACTIVE if a is INACTIVE else ((not a) if value.op == "not" else -a)
    args = [partial_eval(a, view) for a in value.args]
    return INACTIVE if any(a is INACTIVE for a in args) else FUNCS[value.name](*args)


def truthy(v: Any) -> bool:
    """Whether a condition's value makes its decision exist (INACTIVE does not)."""
    return v is not INACTIVE and bool(v)


MEMO_CAP = 65_536  # values remembered per expression


class Memo:
    """What one space remembers about its expressions (constraints, conditions, sum terms):
    their labels, and their values by the values of those labels. The counting DP evaluates
    the same constraint and condition on many states that differ elsewhere (NAS-Bench-101:
    390,000 steps, a few hundred distinct views per constraint). Owned by its `Space` and
    gone with it; keyed by the identity of expressions the space itself holds."""

    def __init__(self):
        self.labels: dict[int, frozenset[str]] = {}
        self.values: dict[int, tuple[tuple[str, ...], dict]] = {}

    def labels_of(self, expr: Any) -> frozenset[str]:
        hit = self.labels.get(id(expr))
        if hit is None:
            hit = self.labels[id(expr)] = free_labels(expr)
        return hit

    def eval(self, expr: Any, view: Mapping[str, Any]) -> Any:
        """`partial_eval`, remembered by the values of the expression's own labels."""
        if not is_expr(expr):
            return expr
        hit = self.values.get(id(expr))
        if hit is None:
            hit = self.values[id(expr)] = (tuple(sorted(self.labels_of(expr))), {})
        labels, cache = hit
        key = tuple((v.__class__, v) for v in (view.get(lab, INACTIVE) for lab in labels))  # 1 and True differ
        try:
            return cache[key]
        except KeyError:
            value = partial_eval(expr, view)
            if len(cache) < MEMO_CAP:
                cache[key] = value
            return value
        except TypeError:  # an unhashable value
            return partial_eval(expr, view)

    def holds(self, c: ir.Constraint, view: Mapping[str, Any]) -> bool:
        """Whether constraint `c` holds on `view` (one over an absent decision always does)."""
        labels = self.labels_of(c.expr)
        if any(view.get(lab, INACTIVE) is INACTIVE for lab in labels):
            return True
        try:
            value = self.eval(c.expr, view)
        except (ArithmeticError, TypeError, ValueError) as err:
            where = ", ".join(f"{lab}={literal(view[lab])}" for lab in sorted(labels))
            raise NasTypeError(f"`{c.kind} {to_text(c.expr)}` cannot be evaluated when {where}: {err}", c.loc) from None
        return bool(value) if c.kind == "require" else not value


def holds(c: ir.Constraint, view: Mapping[str, Any]) -> bool:
    """`Memo.holds` for a caller without a space at hand (nothing is remembered)."""
    return Memo().holds(c, view)
