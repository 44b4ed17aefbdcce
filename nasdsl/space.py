"""`Space`: a compiled search space, and everything done with its decisions alone.

An architecture is a plain mapping `label -> value` (JSON-ready: input choices of several
tensors are lists). The space counts itself exactly (`size`), enumerates lazily in a fixed
order, samples, validates with one precise error, mutates, canonicalises and fingerprints
— all without torch.

This module is the API; the work is done in two modules below it: `nasdsl.counting` counts
exactly, by dynamic programming over the decisions in an order where every decision comes
after those its activation condition reads (uniform sampling and `next_choice` use the same
tables), and `nasdsl.evaluation` evaluates conditions and constraints over a partial
architecture (enumeration, rejection draws, a value held to its domain).

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
from dataclasses import dataclass
from typing import Any

from . import ir
from .arch import arch_values, json_value
from .conditions import INACTIVE, Memo, holds, partial_eval, truthy
from .counting import EXACT_BUDGET_CAP, Counter, SizeReport, make_plan, topological
from .errors import ArchitectureError, EmptySpaceError, Loc, NasError
from .evaluation import OutOfBudget, did_you_mean, domain_text, draw, export, member, options, same, search
from .values import free_labels, to_text

__all__ = ["Space", "LazyTemplate", "SizeReport", "EXACT_BUDGET_CAP"]


@dataclass(frozen=True)
class LazyTemplate:
    """A module template not built yet: its network inputs, and how to build it (`nasdsl.cache`
    reads a space's decisions at once and its template only when something walks it)."""
    inputs: tuple[ir.TensorIn, ...]
    build: Callable[[], ir.Graph]


class Space:
    """A compiled search space: decisions, constraints and the module template.

    Example::

        >>> space = nasdsl.load("nasbench201")
        >>> space.size()
        15625
    """

    def __init__(self, decisions: tuple[ir.Decision, ...], constraints: tuple[ir.Constraint, ...],
                 template: ir.Graph | LazyTemplate, params: dict[str, Any], sources: dict[str, str], root_file: str,
                 fresh_copies: dict[int, ir.CellOp] | None = None):
        self._template = template
        self.params = dict(params)
        self.sources = dict(sources)
        self.root_file = root_file
        self.constraints = tuple(c for c in constraints if not c.is_budget)
        self.budgets = tuple(c for c in constraints if c.is_budget)
        self.decisions = topological(decisions)
        self._by_label = {d.label: d for d in self.decisions}
        self.plan = make_plan(self.decisions, self.constraints)
        self._memo = Memo()  # per space: nothing of it outlives the space
        self._counter = Counter(self.plan, self._memo, self._by_label)  # the counting DP, built on first use
        self._within: list[dict[str, Any]] | None = None  # architectures within budgets (small spaces)
        self._facts: dict[str, Any] = {}  # size and fingerprint: computed once, or known from the cache
        self._facts_sink: Callable[[dict[str, Any]], None] | None = None  # told when a fact is computed
        # cell ops whose candidates are copies of the first (`Elaborator.fresh_copies`), by id; the
        # mapping itself is kept, since a cache entry's reader fills it as it builds the template
        self.fresh_copies: dict[int, ir.CellOp] = {} if fresh_copies is None else fresh_copies

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

    def facts(self) -> dict[str, Any]:
        """The facts worked out or known so far (a copy): `size`, `fingerprint`, `remembered` values."""
        return dict(self._facts)

    def know(self, facts: Mapping[str, Any]) -> None:
        """Take `facts` as known (read from the space's cache entry), without reporting them."""
        self._facts.update(facts)

    def report_facts(self, sink: Callable[[dict[str, Any]], None] | None) -> None:
        """Call `sink(facts)` with all the facts each time one is worked out (the cache keeps them)."""
        self._facts_sink = sink

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
            raise ArchitectureError(f"unknown label {label!r}", hint=did_you_mean(label, self._by_label)) from None

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

    def size(self) -> int:
        """The exact number of distinct architectures (constraints over decisions applied)."""
        known = self._facts.get("size")
        if known is not None:
            return known
        return self._learn("size", self._counter.total())

    def check_not_empty(self) -> None:
        """Every load checks this: a witness drawn at random settles it without counting (an
        exact count of NAS-Bench-101's constrained cells takes seconds), or the first one a
        bounded depth-first search finds; the count decides only when neither does."""
        if self._witness() is None and self.size() == 0:
            loc = self.constraints[0].loc if self.constraints else Loc(self.root_file, 1, 1, self.sources.get(self.root_file))
            raise EmptySpaceError("the constraints rule out every architecture: the space is empty", loc)

    # -- enumeration

    def _options(self, t: int, view: dict) -> list:
        return options(self.plan.order[t], view)

    def enumerate(self) -> Iterator[dict[str, Any]]:
        """Every architecture exactly once, lazily, in a fixed order (domain order, decision by
        decision); with budgets, only the architectures that keep them."""
        if not self.budgets:
            return self._search(None)
        return (arch for arch in self._search(None) if self.within_budgets(arch))

    def _search(self, budget: int | None) -> Iterator[dict[str, Any]]:
        """`enumerate`, giving up (`OutOfBudget`) after `budget` values tried, if given."""
        return search(self.plan.order, self.plan.closing, self._memo, budget)

    def _export(self, view: Mapping[str, Any]) -> dict[str, Any]:
        return export(self.plan.order, view)

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
            _ = self._counter.suffix  # builds the counting tables (or refuses)
        except NasError:  # too entangled to count: fall back to drawing and rejecting
            return self._draw(None, 1, choose)
        view: dict[str, Any] = {}
        for t, d in enumerate(self.plan.order):
            opts = self._options(t, view)
            allowed = [value for value, n in zip(opts, self._counter.completions(t, view, opts)) if n > 0]
            if not allowed:
                self.check_not_empty()
            if allowed[0] is INACTIVE:
                view[d.label] = INACTIVE
            else:
                value = self._member(d, choose(replace(d, values=tuple(allowed))))
                if not any(same(value, a) for a in allowed):
                    raise ArchitectureError(f"{d.label!r}: the policy chose {value!r}, which is not among the "
                                            f"values offered ({', '.join(map(repr, allowed))})")
                view[d.label] = value
            view.update(self._counter.holds(t, view) or {})
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
        from .analysis.costs import check_budgets
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
        from .analysis.costs import costs
        found = costs(self, arch, validate=False)
        view = arch_values(arch)
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
            except OutOfBudget:
                return None
        return found

    def _draw(self, rng: _random.Random | None, attempts: int,
              choose: Callable[[ir.Decision], Any] | None = None) -> dict[str, Any] | None:
        """Each active decision drawn uniformly (or by `choose`), redrawn from scratch while a
        constraint fails."""
        return draw(self.plan.order, self.plan.closing, self._memo, rng, attempts, choose)

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
                view.update(self._counter.holds(t, view) or {})  # running sums of sum constraints
                continue
            counts = self._counter.completions(t, view, d.values)
            return d, [value for value, n in zip(d.values, counts) if n > 0]
        return None

    def _sample_uniform(self, rng: _random.Random) -> dict[str, Any]:
        plan = self.plan
        view: dict[str, Any] = {}
        for t, d in enumerate(plan.order):
            opts = self._options(t, view)
            weights = self._counter.completions(t, view, opts)
            r = rng.randrange(sum(weights))
            for value, w in zip(opts, weights):
                if r < w:
                    view[d.label] = value
                    break
                r -= w
            view.update(self._counter.holds(t, view) or {})
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
                hint = did_you_mean(label, self._by_label) if isinstance(label, str) else None
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
                raise ArchitectureError(f"decision {d.label!r} is missing (one of {domain_text(d)})", d.loc)
            view[d.label] = self._member(d, arch[d.label])
        for c in self.constraints:
            if not self._memo.holds(c, view):
                what = f" ({c.message})" if c.message else ""
                raise ArchitectureError(f"architecture violates `{c.kind} {to_text(c.expr)}`{what}", c.loc)
        result = self._export(view)
        if self.budgets:
            from .analysis.costs import check_budgets
            check_budgets(self, result)
        return result

    def _member(self, d: ir.Decision, value: Any) -> Any:
        return member(d, value)

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
                    others = [v for v in opts if not same(v, old)] or opts
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
                {"label": d.label, "kind": d.kind, "values": [json_value(v) for v in d.values],
                 "condition": None if d.condition is True else to_text(d.condition),
                 "where": str(d.loc)}
                for d in self.decisions
            ],
            "constraints": [{"kind": c.kind, "expr": to_text(c.expr), "where": str(c.loc)}
                            for c in self.constraints + self.budgets],
        }
