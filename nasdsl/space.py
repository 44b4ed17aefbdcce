"""`Space`: a compiled search space, and everything done with its decisions alone.

An architecture is a plain mapping `label -> value` (JSON-ready: input choices of several
tensors are lists). The space counts itself exactly (`size`), enumerates lazily in a fixed
order, samples, validates with one precise error, mutates, canonicalises and fingerprints
— all without torch.

Counting, uniform sampling and enumeration share one idea: walk the decisions in an order
where every decision comes after those its activation condition reads, and carry along only
the values later decisions or constraints still need (the *frontier*). Conditional
sub-spaces and constraints over decisions are then counted exactly, by dynamic programming
over frontier states, in time linear in the number of decisions for the usual
tree-shaped spaces.

Example::

    >>> from nasdsl import loads
    >>> space = loads('''
    ... block Big(h=choice[8, 16]) = Linear(4, h) -> Linear(h, 4)
    ... network(x: [4]) {
    ...   y = x -> choice { small: Linear(4, 4), big: Big() }
    ...   return y
    ... }''')
    >>> space.size()          # `y.big.h` exists only when `y` is "big"
    3
    >>> list(space.enumerate())
    [{'y': 'small'}, {'y': 'big', 'y.big.h': 8}, {'y': 'big', 'y.big.h': 16}]
    >>> space.validate({"y": "small", "y.big.h": 8})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nasdsl.errors.ArchitectureError: <string>:2:13: decision 'y.big.h' is inactive ... only when y == "big") but was given
    ...
"""
from __future__ import annotations

import hashlib
import random as _random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from typing import Any

from . import ir
from .conditions import INACTIVE, Memo, holds, partial_eval, truthy
from .errors import ArchitectureError, EmptySpaceError, Loc, NasError
from .values import Binary, apply_binary, free_labels, is_expr, literal, to_text


@dataclass(frozen=True)
class LazyTemplate:
    """A module template not built yet: its network inputs, and how to build it (`nasdsl.cache`
    reads a space's decisions at once and its template only when something walks it)."""
    inputs: tuple[ir.TensorIn, ...]
    build: Callable[[], ir.Graph]


MAX_STATES = 200_000   # counting refuses spaces whose frontier grows past this
MAX_STEPS = 2_000_000  # ... or whose branching at one decision exceeds this


class _OutOfBudget(Exception):
    """A bounded search ran out of steps before it found an architecture."""


def _same(a: Any, b: Any) -> bool:
    """Domain membership that keeps True apart from 1 and 3 apart from 3.0."""
    return type(a) is type(b) and a == b


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


class Space:
    """A compiled search space: decisions, constraints and the module template.

    Example::

        >>> space = nasdsl.load("nasbench201")
        >>> space.size()
        15625
    """

    def __init__(self, decisions: tuple[ir.Decision, ...], constraints: tuple[ir.Constraint, ...],
                 template: ir.Graph | LazyTemplate, params: dict[str, Any], sources: dict[str, str], root_file: str):
        self._template = template
        self.params = dict(params)
        self.sources = dict(sources)
        self.root_file = root_file
        self.constraints = tuple(c for c in constraints if not c.is_budget)
        self.budgets = tuple(c for c in constraints if c.is_budget)
        self.decisions = _topological(decisions)
        self._by_label = {d.label: d for d in self.decisions}
        self.plan = _plan(self.decisions, self.constraints)
        self._memo = Memo()  # per space: nothing of it outlives the space
        self._within: list[dict[str, Any]] | None = None  # architectures within budgets (small spaces)
        self._facts: dict[str, Any] = {}  # size and fingerprint: computed once, or known from the cache
        self._facts_sink: Callable[[dict[str, Any]], None] | None = None  # told when a fact is computed
        self._fresh_copies: dict[int, ir.CellOp] = {}  # cell ops with copied candidates (`Elaborator.fresh_copies`)

    def remembered(self, name: str, compute: Callable[[], Any]) -> Any:
        """`compute()`, a fact of this space alone given as JSON data, worked out once and kept
        with the space's cache entry (`nasdsl.cache`), so the next load of the same space
        knows it: for what `nasdsl info` shows that takes long to work out (cost bounds, say).

        Example::

            >>> space = nasdsl.load("nasbench201")
            >>> space.remembered("decisions", lambda: len(space.decisions))
            6
        """
        if name not in self._facts:
            self._learn(name, compute())
        return self._facts[name]

    def _learn(self, name: str, value: Any) -> Any:
        self._facts[name] = value
        if self._facts_sink is not None:
            self._facts_sink(dict(self._facts))
        return value

    # -- looking up

    def labels(self) -> list[str]:
        return [d.label for d in self.decisions]

    def decision(self, label: str) -> ir.Decision:
        try:
            return self._by_label[label]
        except KeyError:
            raise ArchitectureError(f"unknown label {label!r}", hint=_did_you_mean(label, self._by_label)) from None

    @property
    def template(self) -> ir.Graph:
        """The module template (built on first use when the space came from the cache)."""
        if isinstance(self._template, LazyTemplate):
            self._template = self._template.build()
        return self._template

    @property
    def input_shapes(self) -> dict[str, tuple | None]:
        return {t.name: t.shape for t in self._template.inputs}

    def __repr__(self) -> str:
        return f"<Space {self.root_file}: {len(self.decisions)} decisions, size {self.size()}>"

    # -- counting

    @cached_property
    def _dp(self) -> list[dict[tuple, int]]:
        """Forward DP: states[t] maps frontier values after step t to the number of prefixes.

        A step reads a state by position: the decision's condition, each closing constraint
        and each sum term is evaluated once per distinct tuple of the values it reads (a
        `_Projection`), not once per state; `_dp_holds` is the same step on a view."""
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
            nxt = self._dp_step(t, d, prev_frontier, frontier, current)
            if len(nxt) > MAX_STATES:
                raise NasError(f"counting needs more than {MAX_STATES:,} partial states at decision {d.label!r}: "
                               "constraints or conditions tie too many decisions together to count exactly", d.loc)
            states.append(nxt)
            current, prev_frontier = nxt, frontier
        return states

    def _dp_step(self, t: int, d: ir.Decision, prev_frontier: tuple[str, ...], frontier: tuple[str, ...],
                 current: dict[tuple, int]) -> dict[tuple, int]:
        """One step of the forward DP over tuples: an extended state is the state, then the
        decision's value, then the running sums this step updates, in the order of `plan.sums[t]`."""
        cond, checks, sums, sum_checks, take = self._dp_projections(t, d, prev_frontier, frontier)
        plan = self.plan
        branch = plan.needed[t] or plan.closing[t] or (plan.sums and plan.sums[t])
        nxt: dict[tuple, int] = {}
        # each projection read inline, by its key in its cache, calling it only on a miss: the
        # loop runs once per state and value (hundreds of thousands of times in NAS-Bench-101)
        cond_key, cond_cache = cond.key, cond.cache
        check_at = [(c.key, c.cache, c) for c in checks]
        sum_at = [(before, term.key, term.cache, term) for before, term in sums]
        branched = [(v, 1) for v in d.values]
        for state, count in current.items():
            try:
                active = cond_cache[cond_key(state)]
            except (KeyError, TypeError):
                active = cond(state)
            if not active:
                options = ((INACTIVE, 1),)
            elif branch:
                options = branched
            else:
                options = ((d.values[0], len(d.values)),)  # nothing later reads it: count, don't branch
            for value, mult in options:
                row = [*state, value]
                failed = False
                for key, cache, check in check_at:
                    try:
                        holds = cache[key(row)]
                    except (KeyError, TypeError):
                        holds = check(row)
                    if not holds:
                        failed = True
                        break
                if failed:
                    continue
                for before, key, cache, term in sum_at:
                    total = 0 if before is None else row[before]
                    if total is not INACTIVE:
                        try:
                            added = cache[key(row)]
                        except (KeyError, TypeError):
                            added = term(row)
                        total = INACTIVE if added is INACTIVE else total + added
                    row.append(total)
                if sum_checks and any(row[i] is not INACTIVE and bool(apply_binary(c.expr.op, row[i], c.expr.right))
                                      != (c.kind == "require") for i, c in sum_checks):
                    continue
                key = take(row)
                nxt[key] = nxt.get(key, 0) + count * mult
        return nxt

    def _dp_projections(self, t: int, d: ir.Decision, prev_frontier: tuple[str, ...], frontier: tuple[str, ...]):
        """What step t of the DP reads from an extended row (`_dp_step`): the decision's
        condition, the constraints it closes, the running sums it updates (each with where its
        total so far is read), the sum checks (by position) and the frontier's getter."""
        plan, memo = self.plan, self._memo
        ext = list(prev_frontier) + [d.label]
        last = {lab: i for i, lab in enumerate(ext)}  # where each label is read: a sum updated here, at its newest place
        cond = _Projection(self, d.condition, last, lambda view: truthy(memo.eval(d.condition, view)))
        checks = [_Projection(self, c.expr, last, lambda view, c=c: memo.holds(c, view))
                  for c in (plan.dp_closing[t] if plan.dp_closing else plan.closing[t])]
        sums = []  # (where its running total is read, or None: it starts at 0; the term's projection)
        for acc, term in plan.sums[t] if plan.sums else ():
            labels = memo.labels_of(term)
            sums.append((last.get(acc), _Projection(self, term, last, lambda view, term=term, labels=labels: (
                INACTIVE if any(view.get(lab, INACTIVE) is INACTIVE for lab in labels) else memo.eval(term, view)))))
            last[acc] = len(ext)
            ext.append(acc)
        sum_checks = [(last[acc], c) for acc, c in (plan.sum_checks[t] if plan.sum_checks else ())]
        pick = [last[lab] for lab in frontier]
        take = itemgetter(*pick) if len(pick) > 1 else (lambda row: tuple([row[i] for i in pick]))
        return cond, checks, sums, sum_checks, take

    def _dp_holds(self, t: int, view: Mapping[str, Any]) -> dict[str, Any] | None:
        """Check step t on a frontier view: None if a constraint fails, else the running sums."""
        plan = self.plan
        if not all(self._memo.holds(c, view) for c in (plan.dp_closing[t] if plan.dp_closing else plan.closing[t])):
            return None
        sums: dict[str, Any] = {}
        for acc, term in plan.sums[t] if plan.sums else ():
            total = sums.get(acc, view.get(acc, 0))
            if total is not INACTIVE and any(view.get(lab, INACTIVE) is INACTIVE for lab in self._memo.labels_of(term)):
                total = INACTIVE  # a constraint over an absent decision does not apply
            sums[acc] = total if total is INACTIVE else total + self._memo.eval(term, view)
        for acc, c in plan.sum_checks[t] if plan.sum_checks else ():
            total = sums.get(acc, view.get(acc, 0))
            if total is not INACTIVE and bool(apply_binary(c.expr.op, total, c.expr.right)) != (c.kind == "require"):
                return None
        return sums

    def _step_options(self, t: int, d: ir.Decision, view: dict) -> list[tuple[Any, int]]:
        if not truthy(self._memo.eval(d.condition, view)):
            return [(INACTIVE, 1)]
        if not self.plan.needed[t] and not self.plan.closing[t] and not (self.plan.sums and self.plan.sums[t]):
            return [(d.values[0], len(d.values))]  # nothing later reads it: count, don't branch
        return [(v, 1) for v in d.values]

    def size(self) -> int:
        """The exact number of distinct architectures (constraints over decisions applied)."""
        known = self._facts.get("size")
        if known is not None:
            return known
        return self._learn("size", sum(self._dp[-1].values()) if self.decisions else 1)

    def check_not_empty(self) -> None:
        """Every load checks this: a witness drawn at random settles it without counting (an
        exact count of NAS-Bench-101's constrained cells takes seconds), or the first one a
        bounded depth-first search finds; the count decides only when neither does."""
        if self._witness() is None and self.size() == 0:
            loc = self.constraints[0].loc if self.constraints else Loc(self.root_file, 1, 1, self.sources.get(self.root_file))
            raise EmptySpaceError("the constraints rule out every architecture: the space is empty", loc)

    # -- enumeration

    def _options(self, t: int, view: dict) -> list:
        d = self.plan.order[t]
        if not truthy(partial_eval(d.condition, view)):
            return [INACTIVE]
        return list(d.values)

    def enumerate(self) -> Iterator[dict[str, Any]]:
        """Every architecture exactly once, lazily, in a fixed order (domain order, decision by
        decision); with budgets, only the architectures that keep them."""
        if not self.budgets:
            return self._search(None)
        return (arch for arch in self._search(None) if self.within_budgets(arch))

    def _search(self, budget: int | None) -> Iterator[dict[str, Any]]:
        """`enumerate`, giving up (`_OutOfBudget`) after `budget` values tried, if given."""
        order, n = self.plan.order, len(self.plan.order)
        if n == 0:
            yield {}
            return
        view: dict[str, Any] = {}
        options: list[list] = [[] for _ in range(n)]
        index = [0] * n
        options[0] = self._options(0, view)
        t = 0
        while t >= 0:
            if index[t] >= len(options[t]):
                view.pop(order[t].label, None)
                t -= 1
                continue
            value = options[t][index[t]]
            index[t] += 1
            if budget is not None:
                budget -= 1
                if budget < 0:
                    raise _OutOfBudget()
            view[order[t].label] = value
            if not all(self._memo.holds(c, view) for c in self.plan.closing[t]):
                continue
            if t + 1 == n:
                yield self._export(view)
                continue
            t += 1
            options[t] = self._options(t, view)
            index[t] = 0

    def _export(self, view: Mapping[str, Any]) -> dict[str, Any]:
        return {d.label: _to_json(view[d.label]) for d in self.plan.order if view.get(d.label, INACTIVE) is not INACTIVE}

    # -- sampling

    @property
    def order(self) -> tuple[ir.Decision, ...]:
        """The decisions in sampling order: each after every decision its condition reads."""
        return self.plan.order

    def sample(self, seed: int | _random.Random | None = None, uniform: bool = False,
               choose: Callable[[ir.Decision], Any] | None = None, attempts: int = 1000,
               feasible: bool = False, budgets: bool = True) -> dict[str, Any]:
        """One architecture. By default each active decision is drawn uniformly (as NNI's random
        strategy does), redrawing when a constraint fails; `uniform=True` draws uniformly over
        all architectures of the space instead, exactly, using the counting DP.

        `choose(decision)` is the hook for a strategy's own policy (a controller, TPE's
        suggestions, architecture weights): it is called for each *active* decision, in
        `order`, and returns one of `decision.values`. When the result breaks a constraint the
        draw starts again, up to `attempts` times, then an `ArchitectureError` says so. With
        `feasible=True` no draw is wasted: `choose` receives the decision with only the values
        that still complete to an architecture satisfying the constraints over decisions (the
        counting DP says which), so a policy samples from its own distribution restricted to
        them (budgets over params/FLOPs are still checked after the draw). `budgets=False`
        does not hold the draw to the budgets at all: an architecture to price (a cost model's
        probe), not one of the space's to train.

        Example::

            >>> import nasdsl
            >>> space = nasdsl.load("nasbench201")
            >>> arch = space.sample(choose=lambda d: d.values[-1])
            >>> sorted(set(arch.values()))
            ['avg_pool_3x3']
        """
        if choose is not None and feasible:
            draw = lambda: self._draw_feasible(choose)  # noqa: E731
        elif choose is not None:
            draw = lambda: self._draw(None, 1, choose)  # noqa: E731
        else:
            rng = seed if isinstance(seed, _random.Random) else _random.Random(seed)
            draw = lambda: self._sample_ignoring_budgets(rng, uniform)  # noqa: E731
        keep = bool(self.budgets) and budgets
        if not keep and choose is None:
            return draw()
        for _ in range(attempts):
            arch = draw()
            if arch is not None and (not keep or self.within_budgets(arch)):
                return arch
        if not keep:
            raise ArchitectureError(f"no architecture satisfying the space's constraints was chosen in "
                                    f"{attempts} attempts")
        if choose is None and self.size() <= EXACT_BUDGET_CAP:
            within = self._within_budgets_list()  # a small space: pick among those that keep the budgets
            if within:
                return within[rng.randrange(len(within))]
        budget = self._tightest_budget()
        raise EmptySpaceError(f"no architecture within the space's budgets in {attempts} draws: "
                              f"`{budget.kind} {to_text(budget.expr)}` leaves (almost) nothing of the space",
                              budget.loc)

    def _draw_feasible(self, choose: Callable[[ir.Decision], Any]) -> dict[str, Any]:
        """One draw where `choose` sees, per active decision, only the values with completions."""
        from dataclasses import replace
        try:
            _ = self._suffix  # builds the counting tables (or refuses)
        except NasError:  # too entangled to count: fall back to drawing and rejecting
            return self._draw(None, 1, choose)
        view: dict[str, Any] = {}
        for t, d in enumerate(self.plan.order):
            opts = self._options(t, view)
            allowed = [value for value, n in zip(opts, self._completions(t, view, opts)) if n > 0]
            if not allowed:
                self.check_not_empty()
            if allowed[0] is INACTIVE:
                view[d.label] = INACTIVE
            else:
                value = self._member(d, choose(replace(d, values=tuple(allowed))))
                if not any(_same(value, a) for a in allowed):
                    raise ArchitectureError(f"{d.label!r}: the policy chose {value!r}, which is not among the "
                                            f"values offered ({', '.join(map(repr, allowed))})")
                view[d.label] = value
            view.update(self._dp_holds(t, view) or {})
        return self._export(view)

    def _sample_ignoring_budgets(self, rng: _random.Random, uniform: bool) -> dict[str, Any]:
        if uniform:
            self.check_not_empty()
            return self._sample_uniform(rng)
        found = self._draw(rng, attempts=1000)
        if found is not None:
            return found
        self.check_not_empty()
        return self._sample_uniform(rng)

    def within_budgets(self, arch: Mapping[str, Any]) -> bool:
        """Whether a canonical architecture keeps the space's budgets (`require params <= 5e6`,
        `require flops <= ...`); always true for a space without budgets. Sampling, mutation
        and enumeration yield only architectures that keep them.

        Example::

            >>> import nasdsl
            >>> space = nasdsl.loads(
            ...     'network(x: [8]) { w = choice "width" [4, 400]  return x -> Linear(8, w) -> Linear(w, 2) }\\n'
            ...     'require params <= 1000')
            >>> space.within_budgets({"width": 4}), space.within_budgets({"width": 400})
            (True, False)
            >>> {space.sample(seed=i)["width"] for i in range(20)}
            {4}
        """
        if not self.budgets:
            return True
        from .analysis.shapes import check_budgets
        try:
            check_budgets(self, arch)
        except ArchitectureError:
            return False
        return True

    # -- budgets: what counting and checking can say about them

    def _within_budgets_list(self) -> list[dict[str, Any]]:
        """Every architecture that keeps the budgets (for spaces of at most EXACT_BUDGET_CAP)."""
        if self._within is None:
            self._within = list(self.enumerate())
        return self._within

    def _broken_budgets(self, arch: Mapping[str, Any]) -> list[ir.Constraint]:
        """The budgets a canonical architecture breaks."""
        from .analysis.shapes import costs
        found = costs(self, arch, validate=False)
        view = {k: tuple(v) if isinstance(v, list) else v for k, v in arch.items()}
        view.update({"@params": found["params"], "@flops": found["flops"]})
        return [c for c in self.budgets if not holds(c, view)]

    def _tightest_budget(self, draws: int = 50) -> ir.Constraint:
        """The budget that most architectures drawn at random break (where an error points)."""
        if len(self.budgets) == 1:
            return self.budgets[0]
        rng, broken = _random.Random(0), {c.loc: 0 for c in self.budgets}
        for _ in range(draws):
            arch = self._draw(rng, attempts=1000)
            for c in self._broken_budgets(arch) if arch is not None else ():
                broken[c.loc] += 1
        return max(self.budgets, key=lambda c: broken[c.loc])

    def size_report(self, cap: int | None = None) -> SizeReport:
        """`size()` and what it counts: with budgets (`require params <= ...`), the architectures
        that keep them are counted exactly by enumeration when the space has at most `cap`
        (default `EXACT_BUDGET_CAP`) architectures; otherwise `size()` is only an upper bound
        ("at most"). `size()` itself always counts the constraints over decisions, never budgets.

        Example::

            >>> space = nasdsl.loads(
            ...     'network(x: [8]) { w = choice "width" [4, 8, 400]  return x -> Linear(8, w) -> Linear(w, 2) }\\n'
            ...     'require params <= 1000')
            >>> report = space.size_report()
            >>> report.size, report.exact, report.budgets_counted
            (2, True, True)
            >>> str(report)
            'exactly 2 within the budgets (3 without them)'
            >>> str(space.size_report(cap=1))
            'at most 3 (1 budget not counted: more than 1 architectures to enumerate)'
        """
        cap = EXACT_BUDGET_CAP if cap is None else cap
        total = self.size()
        if not self.budgets:
            return SizeReport(total, True, False, total, 0)
        n = len(self.budgets)
        if total <= cap:
            return SizeReport(len(self._within_budgets_list()), True, True, total, n, cap, "enumeration")
        from .analysis.bounds import budget_verdict
        verdicts = [budget_verdict(self, c) for c in self.budgets]
        if "none" in verdicts:
            return SizeReport(0, True, True, total, n, cap, "bounds", self.budgets[verdicts.index("none")])
        if all(v == "all" for v in verdicts):
            return SizeReport(total, True, True, total, n, cap, "bounds")
        return SizeReport(total, False, False, total, n, cap)

    def check_budgets_feasible(self, attempts: int = 1000) -> SizeReport:
        """Raise `EmptySpaceError` at the budget's location when the budgets leave nothing of the
        space (counted exactly when it is small) or so little that `sample` cannot find an
        architecture in `attempts` draws; return the size report otherwise. `nasdsl check` and
        `nasdsl info` call it; loading does not (it would cost every load a cost analysis).

        Example::

            >>> space = nasdsl.loads('network(x: [8]) = x -> Linear(8, choice[4, 8])\\nrequire params <= 10')
            >>> space.check_budgets_feasible()  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            nasdsl.errors.EmptySpaceError: <string>:2:1: the budgets leave none of the 2 architectures
            ...
        """
        report = self.size_report()
        if not self.budgets:
            return report
        from .analysis.bounds import cost_bounds
        if report.exact:
            if report.size == 0 and report.broken is not None:
                c = report.broken
                costs = cost_bounds(self)
                cheapest = " and ".join(f"{getattr(costs, m)[0].cost:,} {'FLOPs (MACs)' if m == 'flops' else 'params'}"
                                        for m in ("params", "flops") if "@" + m in free_labels(c.expr))
                raise EmptySpaceError(f"the budgets leave none of the {report.before_budgets:,} architectures: the "
                                      f"cheapest has {cheapest}, which breaks `{c.kind} {to_text(c.expr)}`", c.loc,
                                      hint="loosen the budget, or check its unit (params count weights; "
                                           "flops count multiply-adds per sample)")
            if report.size == 0:
                budget = self._tightest_budget()
                most = f" (`{budget.kind} {to_text(budget.expr)}` fails most often)" if len(self.budgets) > 1 else ""
                raise EmptySpaceError(f"the budgets leave none of the {report.before_budgets:,} architectures{most}",
                                      budget.loc,
                                      hint="loosen the budget, or check its unit (params count weights; "
                                           "flops count multiply-adds per sample)")
            return report
        try:
            self.sample(seed=0, attempts=attempts)
        except EmptySpaceError as err:
            raise EmptySpaceError(f"the budgets leave nothing or almost nothing of the space: no architecture within "
                                  f"them in {attempts:,} draws", err.loc,
                                  hint="loosen the budget, or check its unit (params count weights; "
                                       "flops count multiply-adds per sample)") from None
        return report

    def _witness(self) -> dict[str, Any] | None:
        """Some architecture of the space, if a cheap search finds one."""
        found = self._draw(_random.Random(0), attempts=20)
        if found is None:
            try:
                found = next(self._search(budget=20_000), None)
            except _OutOfBudget:
                return None
        return found

    def _draw(self, rng: _random.Random | None, attempts: int,
              choose: Callable[[ir.Decision], Any] | None = None) -> dict[str, Any] | None:
        """Each active decision drawn uniformly (or by `choose`), redrawn from scratch while a
        constraint fails."""
        for _ in range(attempts):
            view: dict[str, Any] = {}
            ok = True
            for t, d in enumerate(self.plan.order):
                opts = self._options(t, view)
                if choose is not None:
                    view[d.label] = INACTIVE if opts[0] is INACTIVE else self._member(d, choose(d))
                else:
                    view[d.label] = opts[rng.randrange(len(opts))]
                if not all(self._memo.holds(c, view) for c in self.plan.closing[t]):
                    ok = False
                    break
            if ok:
                return self._export(view)
        return None

    def next_choice(self, partial: Mapping[str, Any]) -> tuple[ir.Decision, list] | None:
        """Build an architecture one decision at a time: the next active decision (in `order`)
        that `partial` does not set, with those of its values that leave at least one
        architecture of the space to complete it; None once `partial` sets every active
        decision. `partial` holds values for decisions before that one, as `validate` takes them.

        Example::

            >>> space = nasdsl.loads('''
            ... network(x: [4]) {
            ...   w = choice[4, 8, 16]
            ...   v = choice[4, 8]
            ...   forbid w == 16 and v == 8
            ...   return x -> Linear(4, w) -> Linear(w, v)
            ... }''')
            >>> decision, values = space.next_choice({})
            >>> decision.label, values
            ('w', [4, 8, 16])
            >>> space.next_choice({"w": 16})[1]
            [4]
            >>> space.next_choice({"w": 16, "v": 4}) is None
            True
        """
        plan, view = self.plan, {}
        for t, d in enumerate(plan.order):
            active = truthy(self._memo.eval(d.condition, view))
            if not active or d.label in partial:
                view[d.label] = self._member(d, partial[d.label]) if active else INACTIVE
                view.update(self._dp_holds(t, view) or {})  # running sums of sum constraints
                continue
            counts = self._completions(t, view, d.values)
            return d, [value for value, n in zip(d.values, counts) if n > 0]
        return None

    @cached_property
    def _suffix(self) -> list[dict[tuple, int]]:
        """Backward DP: suffix[t][state before step t] = number of completions of steps t.."""
        plan, n = self.plan, len(self.plan.order)
        suffix: list[dict[tuple, int]] = [dict() for _ in range(n + 1)]
        suffix[n] = {s: 1 for s in (self._dp[-1] if n else {(): 1})}
        for t in range(n - 1, -1, -1):
            before = self._dp[t - 1] if t > 0 else {(): 1}
            prev_frontier = plan.frontier[t - 1] if t > 0 else ()
            d = plan.order[t]
            table = {}
            for state in before:
                view = dict(zip(prev_frontier, state))
                total = 0
                for value, mult in self._step_options(t, d, view):
                    view[d.label] = value
                    sums = self._dp_holds(t, view)
                    if sums is not None:
                        key = tuple(sums.get(lab, view.get(lab, INACTIVE)) for lab in plan.frontier[t])
                        total += mult * suffix[t + 1].get(key, 0)
                table[state] = total
            suffix[t] = table
        return suffix

    def _completions(self, t: int, view: dict[str, Any], values) -> list[int]:
        """For each value of step t (set into `view` in turn), how many ways the later steps
        complete it, by the counting DP (0: it breaks a constraint or leads nowhere)."""
        plan, counts = self.plan, []
        label = plan.order[t].label
        for value in values:
            view[label] = value
            sums = self._dp_holds(t, view)
            if sums is None:
                counts.append(0)
                continue
            key = tuple(sums.get(lab, view.get(lab, INACTIVE)) for lab in plan.frontier[t])
            counts.append(self._suffix[t + 1].get(key, 0))
        return counts

    def _sample_uniform(self, rng: _random.Random) -> dict[str, Any]:
        plan = self.plan
        view: dict[str, Any] = {}
        for t, d in enumerate(plan.order):
            opts = self._options(t, view)
            weights = self._completions(t, view, opts)
            r = rng.randrange(sum(weights))
            for value, w in zip(opts, weights):
                if r < w:
                    view[d.label] = value
                    break
                r -= w
            view.update(self._dp_holds(t, view) or {})
        return self._export(view)

    # -- validation

    def validate(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        """Check `arch` is in the space and return its canonical form; raise `ArchitectureError`
        if it is not in the space.

        The canonical form (there is no separate `canonical`: this is it) has the active
        decisions only, in decision order, each value the domain's own (an input choice of
        several tensors a sorted list); `nasdsl.arch.arch_key` of it is the architecture's key.

        Example::

            >>> space = nasdsl.loads("network(x: [4]) = x -> Linear(4, choice[8, 16]) -> ReLU()")
            >>> space.validate({"out.0.out_features": 16})
            {'out.0.out_features': 16}
            >>> space.validate({"out.0.out_features": 12})  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            nasdsl.errors.ArchitectureError: <string>:1:34: 12 is not a value of 'out.0.out_features' (one of 8, 16)
            ...
        """
        if not isinstance(arch, Mapping):
            raise ArchitectureError(f"an architecture is a mapping from label to value, got {type(arch).__name__}")
        for label in arch:
            if label not in self._by_label:
                hint = _did_you_mean(label, self._by_label) if isinstance(label, str) else None
                raise ArchitectureError(f"unknown label {label!r}", hint=hint)
        view: dict[str, Any] = {}
        for d in self.plan.order:
            active = truthy(partial_eval(d.condition, view))
            if not active:
                if d.label in arch:
                    raise ArchitectureError(f"decision {d.label!r} is inactive in this architecture "
                                            f"(it exists only when {to_text(d.condition)}) but was given",
                                            d.loc)
                view[d.label] = INACTIVE
                continue
            if d.label not in arch:
                raise ArchitectureError(f"decision {d.label!r} is missing (one of {_domain(d)})", d.loc)
            view[d.label] = self._member(d, arch[d.label])
        for c in self.constraints:
            if not self._memo.holds(c, view):
                what = f" ({c.message})" if c.message else ""
                raise ArchitectureError(f"architecture violates `{c.kind} {to_text(c.expr)}`{what}", c.loc)
        result = self._export(view)
        if self.budgets:
            from .analysis.shapes import check_budgets
            check_budgets(self, result)
        return result

    def _member(self, d: ir.Decision, value: Any) -> Any:
        if d.kind == ir.INPUT and d.n_chosen != 1 and isinstance(value, (list, tuple)):
            if not all(type(v) is int for v in value):
                raise ArchitectureError(f"{d.label!r} takes a list of input indices (one of {_domain(d)}), "
                                        f"got {value!r}", d.loc)
            value = tuple(sorted(value))
        for v in d.values:
            if _same(v, value) or (isinstance(v, float) and type(value) is int and v == value):
                return v
        raise ArchitectureError(f"{literal(value) if not isinstance(value, (dict, set)) else repr(value)} is not a value "
                                f"of {d.label!r} (one of {_domain(d)})", d.loc)

    def contains(self, arch: Mapping[str, Any]) -> bool:
        try:
            self.validate(arch)
            return True
        except ArchitectureError:
            return False

    # -- mutation

    def mutate(self, arch: Mapping[str, Any], rng: _random.Random | int | None = None,
               prob: float = 0.05) -> dict[str, Any]:
        """Redraw each active decision with probability `prob` (to another value); decisions that
        become active are drawn fresh, ones that become inactive are dropped. Always in the space."""
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"`prob` must be between 0 and 1, got {prob}")
        rng = rng if isinstance(rng, _random.Random) else _random.Random(rng)
        base = self.validate(arch)
        for _ in range(100):
            view: dict[str, Any] = {}
            for t, d in enumerate(self.plan.order):
                opts = self._options(t, view)
                if opts == [INACTIVE]:
                    view[d.label] = INACTIVE
                    continue
                old = self._member(d, base[d.label]) if d.label in base else INACTIVE
                if old is not INACTIVE and rng.random() >= prob:
                    view[d.label] = old
                else:
                    others = [v for v in opts if not _same(v, old)] or opts
                    view[d.label] = others[rng.randrange(len(others))]
            if all(self._memo.holds(c, view) for c in self.constraints):
                child = self._export(view)
                if self.within_budgets(child):
                    return child
        return base

    # -- identity

    def fingerprint(self) -> str:
        """A hash of what the space is (decisions, constraints, template, input shapes), blind
        to formatting, comments and source positions."""
        known = self._facts.get("fingerprint")
        if known is not None:
            return known
        # IR reprs leave out source locations (`field(repr=False)`), so this is structure only.
        payload = repr((self.decisions, self.constraints, self.budgets, self.template))
        return self._learn("fingerprint", hashlib.sha256(payload.encode()).hexdigest()[:16])

    def to_json(self) -> dict[str, Any]:
        """The stable JSON description that `nasdsl info --json` prints."""
        return {
            "file": self.root_file,
            "size": self.size(),
            "fingerprint": self.fingerprint(),
            "params": self.params,
            "inputs": {k: list(v) if v else None for k, v in self.input_shapes.items()},
            "decisions": [
                {"label": d.label, "kind": d.kind, "values": [_to_json(v) for v in d.values],
                 "condition": None if d.condition is True else to_text(d.condition),
                 "where": str(d.loc)}
                for d in self.decisions
            ],
            "constraints": [{"kind": c.kind, "expr": to_text(c.expr), "where": str(c.loc)}
                            for c in self.constraints + self.budgets],
        }


class _Projection:
    """A function of some decisions' values (a condition, a constraint, a sum term), called on a
    row of values in a fixed label order and remembered by the values at the positions it
    reads. Values of a label whose domain mixes types that compare equal (1 and True) are
    remembered with their type, so they are never confused."""

    def __init__(self, space: Space, expr: Any, where: Mapping[str, int], fn: Callable[[dict], Any]):
        labels = sorted(space._memo.labels_of(expr)) if is_expr(expr) else []
        self.labels = labels
        self.positions = [where[lab] for lab in labels]
        self.typed = any(lab in space._by_label and len({v.__class__ for v in space._by_label[lab].values}) > 1
                         or lab not in space._by_label for lab in labels)
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


def _to_json(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _domain(d: ir.Decision) -> str:
    shown = [literal(_to_json(v)) for v in d.values[:8]]
    return ", ".join(shown) + (f", ... ({len(d.values)} values)" if len(d.values) > 8 else "")


def _did_you_mean(label: str, known) -> str | None:
    import difflib  # only for this message: not on the import path of every command
    match = difflib.get_close_matches(label, list(known), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None


def _topological(decisions: tuple[ir.Decision, ...]) -> tuple[ir.Decision, ...]:
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


def _plan(order: tuple[ir.Decision, ...], constraints: tuple[ir.Constraint, ...]) -> Plan:
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
