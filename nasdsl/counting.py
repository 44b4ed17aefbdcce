"""Counting a space's architectures exactly, by dynamic programming over its decisions.

Counting, uniform sampling and `Space.next_choice` share one idea: walk the decisions in an
order where every decision comes after those its activation condition reads (`topological`),
and carry along only the values later decisions or constraints still need (the *frontier*,
planned once by `make_plan`). Conditional sub-spaces and constraints over decisions are then
counted exactly, by dynamic programming over frontier states (`Counter`), in time linear in
the number of decisions for the usual tree-shaped spaces. `SizeReport` says what a count
with budgets (`require params <= ...`) could establish.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from typing import Any

from . import ir
from .conditions import INACTIVE, Memo, truthy
from .errors import NasError
from .values import Binary, apply_binary, free_labels, is_expr, to_text

__all__ = ["Counter", "Plan", "make_plan", "topological", "SizeReport", "EXACT_BUDGET_CAP", "MAX_STATES", "MAX_STEPS"]

MAX_STATES = 200_000   # counting refuses spaces whose frontier grows past this
MAX_STEPS = 2_000_000  # ... or whose branching at one decision exceeds this


@dataclass(frozen=True)
class Plan:
    """The decision order and, per step, what the DP must carry."""
    order: tuple[ir.Decision, ...]
    frontier: tuple[tuple[str, ...], ...]          # labels carried after step t
    closing: tuple[tuple[ir.Constraint, ...], ...]  # constraints fully decided at step t
    needed: tuple[bool, ...]                         # is decision t read later?
    # Sums: a constraint `t1 + t2 + ... <= k` (any comparison with a constant) is counted by
    # carrying its running sum (pseudo-label `#sumN`) instead of every decision its terms read;
    # `sums[t]` adds the terms decided at step t, `sum_checks[t]` compares the finished sums,
    # and `dp_closing[t]` is `closing[t]` without them (what the counting DP checks itself).
    sums: tuple[tuple[tuple[str, Any], ...], ...] = ()
    sum_checks: tuple[tuple[tuple[str, ir.Constraint], ...], ...] = ()
    dp_closing: tuple[tuple[ir.Constraint, ...], ...] = ()


EXACT_BUDGET_CAP = 1000  # spaces this small have the architectures within their budgets counted exactly


@dataclass(frozen=True)
class SizeReport:
    """What `Space.size_report()` counted: `size` architectures, exactly or (`exact` false) at
    most; `budgets_counted` says whether the budgets were applied, `counted_by` how
    ("enumeration", or "bounds": the dearest architecture keeps every budget, or the cheapest
    breaks `broken`); `before_budgets` is `size()`."""
    size: int
    exact: bool
    budgets_counted: bool
    before_budgets: int
    budgets: int = 0
    cap: int = 0
    counted_by: str | None = None
    broken: ir.Constraint | None = field(default=None, compare=False)

    def __str__(self) -> str:
        if not self.budgets:
            return f"{self.size:,}"
        if self.counted_by == "bounds":
            if self.size:
                return f"exactly {self.size:,} within the budgets (the dearest architecture keeps them)"
            return (f"none of {self.before_budgets:,} within the budgets (the cheapest architecture breaks "
                    f"`{self.broken.kind} {to_text(self.broken.expr)}`)")
        if self.budgets_counted:
            return f"exactly {self.size:,} within the budgets ({self.before_budgets:,} without them)"
        n = f"{self.budgets} budget{'s' if self.budgets != 1 else ''}"
        return f"at most {self.size:,} ({n} not counted: more than {self.cap:,} architectures to enumerate)"

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "exact": self.exact, "budgets_counted": self.budgets_counted,
                "before_budgets": self.before_budgets, "counted_by": self.counted_by, "text": str(self)}


_ONLY_INACTIVE = ((INACTIVE, 1),)


def _extend(state: tuple, value: Any, check_at: list, sum_at: list) -> list | None:
    """The extended row of a DP step (`Counter.step`): `state`, then the decision's `value`,
    then each running sum with this step's term added; None when a constraint the step closes
    fails. Each projection is read inline, by its key in its cache, and called only on a miss:
    this runs once per state and value (hundreds of thousands of times in NAS-Bench-101)."""
    row = [*state, value]
    for key, cache, check in check_at:
        try:
            holds = cache[key(row)]
        except (KeyError, TypeError):
            holds = check(row)
        if not holds:
            return None
    for before, key, cache, term in sum_at:
        total = 0 if before is None else row[before]
        if total is not INACTIVE:
            try:
                added = cache[key(row)]
            except (KeyError, TypeError):
                added = term(row)
            total = INACTIVE if added is INACTIVE else total + added
        row.append(total)
    return row


def _breaks_a_sum_check(row: list, sum_checks: list) -> bool:
    """Whether a finished running sum of `row` breaks its constraint (an inactive sum breaks none)."""
    return any(row[i] is not INACTIVE and bool(apply_binary(c.expr.op, row[i], c.expr.right)) != (c.kind == "require")
               for i, c in sum_checks)


class Counter:
    """The counting DP of one space: `forward[t]` maps the frontier values after step t to the
    number of prefixes that reach them, `suffix[t]` the state before step t to its number of
    completions; both are built on first use (and refuse, with a `NasError`, spaces whose
    decisions are tied together too tightly to count)."""

    def __init__(self, plan: Plan, memo: Memo, by_label: Mapping[str, ir.Decision]):
        self.plan = plan
        self.memo = memo
        self.by_label = by_label

    def total(self) -> int:
        """The number of architectures (constraints over decisions applied)."""
        return sum(self.forward[-1].values()) if self.plan.order else 1

    @cached_property
    def forward(self) -> list[dict[tuple, int]]:
        """Forward DP: states[t] maps frontier values after step t to the number of prefixes.

        A step reads a state by position: the decision's condition, each closing constraint
        and each sum term is evaluated once per distinct tuple of the values it reads (a
        `Projection`), not once per state; `holds` is the same step on a view."""
        plan = self.plan
        states: list[dict[tuple, int]] = []
        current: dict[tuple, int] = {(): 1}
        prev_frontier: tuple[str, ...] = ()
        for t, d in enumerate(plan.order):
            frontier = plan.frontier[t]
            if len(current) * (len(d.values) if plan.needed[t] or plan.closing[t] else 1) > MAX_STEPS:
                raise NasError(f"counting would branch {len(current):,} partial states over the {len(d.values):,} values "
                               f"of {d.label!r}: constraints or conditions tie too many decisions together "
                               "to count exactly", d.loc)
            nxt = self.step(t, d, prev_frontier, frontier, current)
            if len(nxt) > MAX_STATES:
                raise NasError(f"counting needs more than {MAX_STATES:,} partial states at decision {d.label!r}: "
                               "constraints or conditions tie too many decisions together to count exactly", d.loc)
            states.append(nxt)
            current, prev_frontier = nxt, frontier
        return states

    def step(self, t: int, d: ir.Decision, prev_frontier: tuple[str, ...], frontier: tuple[str, ...],
                 current: dict[tuple, int]) -> dict[tuple, int]:
        """One step of the forward DP over tuples: an extended state is the state, then the
        decision's value, then the running sums this step updates, in the order of `plan.sums[t]`."""
        cond, checks, sums, sum_checks, take = self.projections(t, d, prev_frontier, frontier)
        plan = self.plan
        branch = plan.needed[t] or plan.closing[t] or (plan.sums and plan.sums[t])
        nxt: dict[tuple, int] = {}
        cond_key, cond_cache = cond.key, cond.cache
        check_at = [(c.key, c.cache, c) for c in checks]
        sum_at = [(before, term.key, term.cache, term) for before, term in sums]
        # a state's options: the decision's values, or (nothing later reads it) its first value
        # counted for all, or (its condition is off) INACTIVE
        options_if_active = [(v, 1) for v in d.values] if branch else ((d.values[0], len(d.values)),)
        for state, count in current.items():
            try:
                active = cond_cache[cond_key(state)]
            except (KeyError, TypeError):
                active = cond(state)
            for value, mult in options_if_active if active else _ONLY_INACTIVE:
                row = _extend(state, value, check_at, sum_at)
                if row is None or (sum_checks and _breaks_a_sum_check(row, sum_checks)):
                    continue
                key = take(row)
                nxt[key] = nxt.get(key, 0) + count * mult
        return nxt

    def projections(self, t: int, d: ir.Decision, prev_frontier: tuple[str, ...], frontier: tuple[str, ...]):
        """What step t of the DP reads from an extended row (`step`): the decision's
        condition, the constraints it closes, the running sums it updates (each with where its
        total so far is read), the sum checks (by position) and the frontier's getter."""
        plan, memo = self.plan, self.memo
        ext = list(prev_frontier) + [d.label]
        last = {lab: i for i, lab in enumerate(ext)}  # where each label is read: a sum updated here, at its newest place
        cond = Projection(self, d.condition, last, lambda view: truthy(memo.eval(d.condition, view)))
        checks = [Projection(self, c.expr, last, lambda view, c=c: memo.holds(c, view))
                  for c in (plan.dp_closing[t] if plan.dp_closing else plan.closing[t])]
        sums = []  # (where its running total is read, or None: it starts at 0; the term's projection)
        for acc, term in plan.sums[t] if plan.sums else ():
            labels = memo.labels_of(term)
            sums.append((last.get(acc), Projection(self, term, last, lambda view, term=term, labels=labels: (
                INACTIVE if any(view.get(lab, INACTIVE) is INACTIVE for lab in labels) else memo.eval(term, view)))))
            last[acc] = len(ext)
            ext.append(acc)
        sum_checks = [(last[acc], c) for acc, c in (plan.sum_checks[t] if plan.sum_checks else ())]
        pick = [last[lab] for lab in frontier]
        take = itemgetter(*pick) if len(pick) > 1 else (lambda row: tuple([row[i] for i in pick]))
        return cond, checks, sums, sum_checks, take

    def holds(self, t: int, view: Mapping[str, Any]) -> dict[str, Any] | None:
        """Check step t on a frontier view: None if a constraint fails, else the running sums."""
        plan = self.plan
        if not all(self.memo.holds(c, view) for c in (plan.dp_closing[t] if plan.dp_closing else plan.closing[t])):
            return None
        sums: dict[str, Any] = {}
        for acc, term in plan.sums[t] if plan.sums else ():
            total = sums.get(acc, view.get(acc, 0))
            if total is not INACTIVE and any(view.get(lab, INACTIVE) is INACTIVE for lab in self.memo.labels_of(term)):
                total = INACTIVE  # a constraint over an absent decision does not apply
            sums[acc] = total if total is INACTIVE else total + self.memo.eval(term, view)
        for acc, c in plan.sum_checks[t] if plan.sum_checks else ():
            total = sums.get(acc, view.get(acc, 0))
            if total is not INACTIVE and bool(apply_binary(c.expr.op, total, c.expr.right)) != (c.kind == "require"):
                return None
        return sums

    def step_options(self, t: int, d: ir.Decision, view: dict) -> list[tuple[Any, int]]:
        if not truthy(self.memo.eval(d.condition, view)):
            return [(INACTIVE, 1)]
        if not self.plan.needed[t] and not self.plan.closing[t] and not (self.plan.sums and self.plan.sums[t]):
            return [(d.values[0], len(d.values))]  # nothing later reads it: count, don't branch
        return [(v, 1) for v in d.values]

    @cached_property
    def suffix(self) -> list[dict[tuple, int]]:
        """Backward DP: suffix[t][state before step t] = number of completions of steps t.."""
        plan, n = self.plan, len(self.plan.order)
        suffix: list[dict[tuple, int]] = [dict() for _ in range(n + 1)]
        suffix[n] = {s: 1 for s in (self.forward[-1] if n else {(): 1})}
        for t in range(n - 1, -1, -1):
            before = self.forward[t - 1] if t > 0 else {(): 1}
            prev_frontier = plan.frontier[t - 1] if t > 0 else ()
            d = plan.order[t]
            table = {}
            for state in before:
                view = dict(zip(prev_frontier, state))
                total = 0
                for value, mult in self.step_options(t, d, view):
                    view[d.label] = value
                    sums = self.holds(t, view)
                    if sums is not None:
                        key = tuple(sums.get(lab, view.get(lab, INACTIVE)) for lab in plan.frontier[t])
                        total += mult * suffix[t + 1].get(key, 0)
                table[state] = total
            suffix[t] = table
        return suffix

    def completions(self, t: int, view: dict[str, Any], values) -> list[int]:
        """For each value of step t (set into `view` in turn), how many ways the later steps
        complete it, by the counting DP (0: it breaks a constraint or leads nowhere)."""
        plan, counts = self.plan, []
        label = plan.order[t].label
        for value in values:
            view[label] = value
            sums = self.holds(t, view)
            if sums is None:
                counts.append(0)
                continue
            key = tuple(sums.get(lab, view.get(lab, INACTIVE)) for lab in plan.frontier[t])
            counts.append(self.suffix[t + 1].get(key, 0))
        return counts


class Projection:
    """A function of some decisions' values (a condition, a constraint, a sum term), called on a
    row of values in a fixed label order and remembered by the values at the positions it
    reads. Values of a label whose domain mixes types that compare equal (1 and True) are
    remembered with their type, so they are never confused."""

    def __init__(self, counter: Counter, expr: Any, where: Mapping[str, int], fn: Callable[[dict], Any]):
        labels = sorted(counter.memo.labels_of(expr)) if is_expr(expr) else []
        self.labels = labels
        self.positions = [where[lab] for lab in labels]
        self.typed = any(lab in counter.by_label and len({v.__class__ for v in counter.by_label[lab].values}) > 1
                         or lab not in counter.by_label for lab in labels)
        self.fn = fn
        self.cache: dict[Any, Any] = {}
        positions = self.positions
        if self.typed:
            self.key = lambda row: tuple([(row[i].__class__, row[i]) for i in positions])
        elif len(positions) > 1:
            self.key = itemgetter(*positions)  # a tuple of those values
        elif positions:
            self.key = itemgetter(positions[0])
        else:
            self.key = lambda row: ()

    def __call__(self, row: list) -> Any:
        key = self.key(row)
        try:
            return self.cache[key]
        except KeyError:
            value = self.cache[key] = self.fn(dict(zip(self.labels, [row[i] for i in self.positions])))
            return value
        except TypeError:  # an unhashable value
            return self.fn(dict(zip(self.labels, [row[i] for i in self.positions])))


def topological(decisions: tuple[ir.Decision, ...]) -> tuple[ir.Decision, ...]:
    """Order decisions so each follows the decisions its condition reads (stable otherwise)."""
    by_label = {d.label: d for d in decisions}
    done: dict[str, bool] = {}
    out: list[ir.Decision] = []
    for root in decisions:
        if root.label in done:
            continue
        stack = [(root, False)]
        while stack:
            d, expanded = stack.pop()
            if expanded:
                done[d.label] = True
                out.append(d)
                continue
            if d.label in done:
                if done[d.label] is False:
                    raise NasError(f"decisions {d.label!r} and others make each other exist: conditions form a cycle", d.loc)
                continue
            done[d.label] = False
            stack.append((d, True))
            for label in sorted(free_labels(d.condition)):
                dep = by_label[label]
                if label not in done:
                    stack.append((dep, False))
                elif done[label] is False:
                    raise NasError(f"decisions {d.label!r} and {label!r} make each other exist: conditions form a cycle", d.loc)
    return tuple(out)


def make_plan(order: tuple[ir.Decision, ...], constraints: tuple[ir.Constraint, ...]) -> Plan:
    """What the DP carries at each step of `order` (decisions in `topological` order)."""
    position = {d.label: t for t, d in enumerate(order)}
    last_use: dict[str, int] = {}   # label (or running sum) -> the last step that reads it
    for t, d in enumerate(order):
        _used(last_use, free_labels(d.condition), t)
    closing: list[list[ir.Constraint]] = [[] for _ in order]
    sums: list[list[tuple[str, Any]]] = [[] for _ in order]
    sum_checks: list[list[tuple[str, ir.Constraint]]] = [[] for _ in order]
    dp_closing: list[list[ir.Constraint]] = [[] for _ in order]
    starts: dict[int, list[str]] = {}  # step -> running sums that begin there
    for c in constraints:
        labels = free_labels(c.expr)
        close = max(position[lab] for lab in labels)
        closing[close].append(c)
        terms = _sum_terms(c.expr)
        if terms is None:
            dp_closing[close].append(c)
            _used(last_use, labels, close)
            continue
        acc = f"#sum{sum(map(len, sum_checks))}"
        first = close
        for term in terms:
            at = max(position[lab] for lab in free_labels(term))
            sums[at].append((acc, term))
            first = min(first, at)
            _used(last_use, free_labels(term), at)
        sum_checks[close].append((acc, c))
        last_use[acc] = close
        starts.setdefault(first, []).append(acc)
    needed = tuple(last_use.get(d.label, -1) > t for t, d in enumerate(order))
    return Plan(order, _frontier(order, last_use, starts), tuple(tuple(c) for c in closing), needed,
                tuple(map(tuple, sums)), tuple(map(tuple, sum_checks)), tuple(map(tuple, dp_closing)))


def _used(last_use: dict[str, int], labels, t: int) -> None:
    """Step `t` reads `labels`."""
    for label in labels:
        last_use[label] = max(last_use.get(label, -1), t)


def _frontier(order: tuple[ir.Decision, ...], last_use: Mapping[str, int],
              starts: Mapping[int, list[str]]) -> tuple[tuple[str, ...], ...]:
    """Per step, the labels and running sums still read after it (what the DP carries)."""
    frontier = []
    live: list[str] = []
    for t, d in enumerate(order):
        live = [lab for lab in live if last_use.get(lab, -1) > t]
        if last_use.get(d.label, -1) > t:
            live.append(d.label)
        live += [acc for acc in starts.get(t, ()) if last_use[acc] > t]
        frontier.append(tuple(live))
    return tuple(frontier)


_COMPARISONS = ("<=", "<", ">=", ">", "==", "!=")


def _sum_terms(expr: Any) -> list[Any] | None:
    """The terms of `t1 + t2 + ... CMP constant` when there are several with decisions in them
    (each may read several decisions), else None."""
    if not isinstance(expr, Binary) or expr.op not in _COMPARISONS or isinstance(expr.right, bool) \
            or not isinstance(expr.right, (int, float)):
        return None
    terms, stack = [], [expr.left]
    while stack:
        v = stack.pop()
        if isinstance(v, Binary) and v.op == "+":
            stack += (v.right, v.left)
        else:
            terms.append(v)
    terms = [term for term in terms if free_labels(term) or term != 0]
    if any(not free_labels(term) for term in terms) or len(terms) < 2:
        return None
    return terms
