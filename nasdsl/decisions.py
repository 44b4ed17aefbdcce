"""The decisions a program declares: their labels, domains and conditions (the `repeat`s and
choices they sit inside), the constraints over them, and the check that arithmetic over them
never divides by zero. `DecisionBook` is the part of the `Elaborator` that keeps this record."""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from . import ir
from .errors import DuplicateError, Loc, NasTypeError, UndefinedNameError
from .scope import Ctx, closest
from .values import apply_binary, binary, evaluate, free_labels, is_expr, literal, possible_values, to_text

MAX_DOMAIN = 100_000      # most values a single decision may have
MAX_DIVISOR_CHECKS = 20_000  # joint assignments tried for one divisor over choices (check_divisor)


@dataclass
class _DecisionAcc:
    kind: str
    values: tuple
    conditions: list
    locs: list
    n_candidates: int = 0
    n_chosen: int | None = 1


class DecisionBook:
    """Decisions by label, constraints, and the conditions and guards in force while a program
    is evaluated (the `Elaborator` extends it)."""

    def __init__(self) -> None:
        self.decisions: dict[str, _DecisionAcc] = {}
        self.constraints: list[ir.Constraint] = []
        self.conditions: list[Any] = []
        self.guards: list[Any] = []                    # tests of the value `if`s being evaluated
        self.references: list[tuple[str, Loc]] = []  # decision("label") uses, checked in finish()
        self.declared: list[str] = []                  # labels in declaration order (a statement's own: naming)

    def condition(self) -> Any:
        cond: Any = True
        for c in self.conditions:
            cond = binary("and", cond, c)
        return cond

    def declare(self, label: str, kind: str, values: tuple, loc: Loc, n_candidates: int = 0,
                n_chosen: int | None = 1) -> None:
        if not label:
            label = "root"
        self.declared.append(label)
        acc = self.decisions.get(label)
        if acc is None:
            self.decisions[label] = _DecisionAcc(kind, values, [self.condition()], [loc], n_candidates, n_chosen)
            return
        same = (acc.kind == kind or {acc.kind, kind} <= {ir.VALUE, ir.DEPTH}) and _typed(acc.values) == _typed(values) \
            and acc.n_chosen == n_chosen
        if not same:
            raise DuplicateError(
                f"label {label!r} is reused with a different domain: "
                f"{_domain_text(kind, values)} here, {_domain_text(acc.kind, acc.values)} before",
                loc, related=(("first declared here", acc.locs[0]),),
                hint="give one of them another label, or make both domains equal to share the decision")
        acc.conditions.append(self.condition())
        if loc not in acc.locs:
            acc.locs.append(loc)

    def label_for(self, ctx: Ctx, site: tuple[str, ...], explicit: Any, loc: Loc) -> str:
        if explicit is not None:
            if not isinstance(explicit, str) or not explicit or not all(
                    part and (part.replace("_", "a").isalnum()) for part in explicit.split(".")):
                raise NasTypeError(f"a label must be a dotted name like \"stage1.op\", got {literal(explicit)}", loc)
            return explicit
        return ".".join(ctx.scope + site) or "root"

    def finish(self) -> tuple[tuple[ir.Decision, ...], tuple[ir.Constraint, ...]]:
        for label, loc in self.references:
            if label not in self.decisions:
                hint = closest(label, self.decisions)
                raise UndefinedNameError(f"decision({label!r}): the space has no decision labelled {label!r}", loc,
                                         hint=f"did you mean {hint!r}?" if hint else "`nasdsl info FILE` lists the labels")
        decisions = []
        for label, acc in self.decisions.items():
            # An occurrence conditioned on the decision itself (a shared label nested inside the
            # repeat or choice it controls) adds nothing: it exists only when another one does.
            conditions = [c for c in acc.conditions if label not in free_labels(c)]
            if not conditions:
                raise NasTypeError(f"label {label!r} is only used inside the choice or repeat it controls itself",
                                   acc.locs[0])
            cond: Any = True if any(c is True for c in conditions) else False
            for c in conditions if cond is not True else ():
                cond = binary("or", cond, c)
            decisions.append(ir.Decision(label, acc.kind, acc.values, cond, tuple(acc.locs),
                                         acc.n_candidates, acc.n_chosen))
        return tuple(decisions), tuple(self.constraints)

    def check_divisor(self, op: str, a: Any, b: Any, loc: Loc) -> None:
        """Refuse `a op b` (a division, modulo or power over choices) if some architecture in
        which it is computed makes it divide by zero, naming the decision values that do.
        Only assignments under which the expression exists and is used (the enclosing repeat
        or choice conditions, the tests of the value `if`s around it) count. The assignments
        are enumerated up to `MAX_DIVISOR_CHECKS`; past that the check gives up and
        `values.DivisionByZero` stops the one architecture that hits it."""
        if not self._may_be_zero(op, a, b, loc):
            return
        expr_labels = free_labels(a) | free_labels(b)
        cond = self.condition()
        for guard in self.guards:
            cond = binary("and", cond, guard)
        labels = self._enumerable(expr_labels, cond)
        if labels is None:
            return
        names = sorted(labels)
        for combo in itertools.product(*(self.decisions[lab].values for lab in names)):
            arch = dict(zip(names, combo))
            try:
                if free_labels(cond) <= labels and not evaluate(cond, arch):
                    continue
                apply_binary(op, evaluate(a, arch), evaluate(b, arch))
            except ZeroDivisionError:
                where = " and ".join(f"{lab} = {literal(arch[lab])}" for lab in sorted(expr_labels))
                what = "raises zero to a negative power" if op == "**" else "divides by zero"
                p = 8 if op == "**" else 6
                raise NasTypeError(f"division by zero: {to_text(a, p)} {op} {to_text(b, p + 1)} {what} when {where}", loc,
                                   hint="keep the divisor away from zero for every choice, e.g. max(d, 1)") from None
            except (ArithmeticError, TypeError, ValueError, KeyError):
                continue

    def _may_be_zero(self, op: str, a: Any, b: Any, loc: Loc) -> bool:
        """Whether `a op b` can divide by zero for some choice (then `check_divisor` looks for
        the values that do); a constant zero divisor is refused here at once."""
        if op == "**":
            return not (not is_expr(a) and a != 0 or not is_expr(b) and isinstance(b, (int, float)) and b >= 0)
        if not is_expr(b):
            if b != 0:
                return False
            raise NasTypeError(f"division by zero: {to_text(a)} {op} {literal(b)} divides by zero for every choice of "
                               f"{', '.join(sorted(lab.lstrip('@') for lab in free_labels(a)))}", loc,
                               hint="the divisor is the constant 0")
        domains = {lab: self.decisions[lab].values for lab in free_labels(b) if lab in self.decisions}
        if len(domains) < len(free_labels(b)):
            return False  # a derived property (@params) in a constraint: not a decision to enumerate
        seen = possible_values(b, domains, cap=MAX_DIVISOR_CHECKS)
        return seen is None or 0 in seen

    def _enumerable(self, expr_labels: set[str], cond) -> set[str] | None:
        """The decisions to enumerate: those of the expression and its conditions if there are
        at most `MAX_DIVISOR_CHECKS` assignments of them, else the expression's alone, else None."""
        for labels in (expr_labels | free_labels(cond), expr_labels):
            if not labels <= self.decisions.keys():
                return None
            if math.prod(len(self.decisions[lab].values) for lab in labels) <= MAX_DIVISOR_CHECKS:
                return labels
        return None


def _typed(values: tuple) -> tuple:
    """Values with their types, so a domain [true, 2] is not the domain [1, 2]."""
    return tuple((type(v).__name__, v) for v in values)


def _domain_text(kind: str, values: tuple) -> str:
    shown = ", ".join(literal(v) for v in values[:6]) + (", ..." if len(values) > 6 else "")
    return f"{kind} choice [{shown}]"
