"""What every multi-trial strategy is: `ask()` an architecture, `tell(arch, value)` its result.

A strategy is a plain object over a `Space` (torch-free). The search driver asks it for an
architecture, evaluates it and tells it the objective (higher is better; `None` when the trial
failed). A multi-objective search (`nasdsl.search.objectives`) tells a strategy whose
`multi_objective` is true the tuple of the objectives' values, in the `directions` it was
created with. A strategy keeps no state that the ordered trial table does not hold: replaying the
completed trials through `tell` in trial order rebuilds its population, model or policy, which
is how a killed search resumes with nothing lost.

Options are keyword arguments with NNI's names; `from_options` turns `--option NAME=VALUE`
text into them and rejects unknown names and bad values with a `NasError` that names the
option. `budget` (the number of trials the search will run) lets a strategy pick defaults that
do well at that budget.

Example::

    >>> import nasdsl
    >>> from nasdsl.strategy.base import create
    >>> space = nasdsl.load("nasbench201")
    >>> s = create("random", space, seed=0)
    >>> arch = s.ask()
    >>> space.validate(arch) == arch
    True
    >>> s.tell(arch, 91.5)
"""
from __future__ import annotations

import inspect
import random as _random
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from ..arch import arch_key, domain_value
from ..errors import ArchitectureError, EmptySpaceError, NasError
from ..space import Space

Value = float | tuple[float, ...] | None


class Strategy(ABC):
    """Base class: seeded RNG, the evaluated architectures, and the `ask`/`tell` protocol.

    Subclasses implement `_ask()` (an architecture, or `None` when the strategy has nothing
    left to propose) and may extend `tell`. `seen` maps each architecture key told so far to
    its value; `proposals` only ever contain architectures `Space.validate` accepts.
    """

    name = "strategy"

    def __init__(self, space: Space, seed: int = 0, budget: int | None = None):
        self.space = space
        self.seed = seed
        self.budget = budget
        self.rng = _random.Random(seed)
        self.seen: dict[str, Value] = {}
        self.rejected: dict[str, float] = {}   # key of each architecture told infeasible: its violation
        self.history: list[tuple[dict[str, Any], Value]] = []

    # -- protocol

    multi_objective = False   # may it search for a Pareto front (told a tuple of values)
    usage = None   # set by the search driver under cheap upper bounds: arch -> value / bound (feasibility.Screen.usage)
    repeats = False  # may the strategy evaluate an architecture twice (random with dedup=false)

    def ask(self, avoid: frozenset[str] | set[str] = frozenset()) -> dict[str, Any] | None:
        """The next architecture to evaluate (validated, canonical), or `None` when done.

        A proposal the space rejects (constraint or budget) is dropped (`reject`). A proposal
        already evaluated is not evaluated again: its stored value is told back at once (a
        tournament child or a TPE sample that repeats one still counts as an observation),
        and the strategy asked again; so is one told infeasible before (`infeasible`).
        `avoid` holds keys being evaluated elsewhere (other workers): those are dropped too.
        After 100 such proposals in a row the strategy is given a random architecture neither
        evaluated nor told infeasible yet.
        """
        for _ in range(100):
            arch = self._ask()
            if arch is None:
                return None
            try:
                arch = self.space.validate(arch)
            except ArchitectureError:
                self.reject(arch)
                continue
            key = arch_key(arch)
            if key in avoid:
                self.reject(arch)
            elif key in self.seen and not self.repeats:
                self.tell(arch, self.seen[key])
            elif key in self.rejected:   # known infeasible: told so again, not checked again
                self.infeasible(arch, self.rejected[key])
            else:
                return arch
        fallback = self.random_unseen(avoid=avoid)
        return None if fallback is None else self.space.validate(fallback)

    def tell(self, arch: Mapping[str, Any], value: Value) -> None:
        """Record the result of `arch` (`None`: it failed). Called in trial order."""
        arch = dict(arch)
        self.seen[arch_key(arch)] = value
        self.history.append((arch, value))

    def infeasible(self, arch: Mapping[str, Any], violation: float = 1.0) -> None:
        """`arch` breaks a constraint (`violation` > 0: by how much, relative to the bound),
        found before evaluation or by it (`nasdsl.search.feasibility`). It is never proposed
        again by `random_unseen`; a subclass learns from it (TPE: an infeasible trial; RL: a
        negative reward). It never enters a population or a neighbourhood, which hold
        evaluated architectures only. Called once per proposal that broke a constraint."""
        self.rejected[arch_key(arch)] = violation

    def reject(self, arch: Mapping[str, Any]) -> None:
        """`arch` will not be evaluated here (it broke a constraint or budget, or another worker
        holds it); a strategy that keeps per-proposal state (TPE) drops it."""
        return None

    @abstractmethod
    def _ask(self) -> dict[str, Any] | None:
        """The strategy's own proposal (validated by `ask`); `None` when it has nothing left."""

    # -- helpers

    def random_unseen(self, attempts: int = 1000, avoid=frozenset()) -> dict[str, Any] | None:
        """A random architecture not evaluated yet nor told infeasible (`None` when every one
        has been)."""
        for _ in range(attempts):
            arch = self.space.sample(self.rng)
            key = arch_key(arch)
            if key not in self.seen and key not in self.rejected and key not in avoid and self.space.contains(arch):
                return arch
        if len(self.seen.keys() | self.rejected.keys()) >= self.space.size():
            return None
        for arch in self.space.enumerate():  # nearly exhausted: walk the rest
            key = arch_key(arch)
            if key not in self.seen and key not in self.rejected and key not in avoid and self.space.contains(arch):
                return arch
        return None

    def random_neighbour(self, arch: Mapping[str, Any], attempts: int = 20) -> dict[str, Any] | None:
        """One architecture that differs from `arch` in one active decision, drawn at random
        (cheaper than listing every neighbour); `None` if `attempts` draws break constraints."""
        base = dict(arch)
        active = [d for d in self.space.order if d.label in base and len(d.values) > 1]
        for _ in range(attempts if active else 0):
            d = active[self.rng.randrange(len(active))]
            others = [v for v in d.values if not same_value(v, base[d.label])]
            value = others[self.rng.randrange(len(others))]
            child = self.changed(base, d.label, value)
            if child is not None:
                return child
        return None

    def mutant(self, parent: Mapping[str, Any], prob: float) -> dict[str, Any] | None:
        """`parent` with each active decision redrawn with probability `prob` (`Space.mutate`);
        where no decision was redrawn, one random neighbour (a child equal to its parent is no
        child); `None` if no neighbour keeps the constraints."""
        return self._keyed_mutant(parent, arch_key(parent), prob)[0]

    def walk(self, parent: Mapping[str, Any], prob: float, steps: int) -> tuple[dict[str, Any] | None, str]:
        """A `mutant` of `parent` that repeats an architecture evaluated or told infeasible is
        mutated again, from itself, up to `steps` times (a longer step from the parent): the
        last child (`None` if no mutant keeps the constraints) and its key. Each architecture's
        key is computed once: on a converged population most steps repeat, and the keys were
        as costly as the mutations."""
        child, key = self._keyed_mutant(parent, arch_key(parent), prob)
        for _ in range(steps):
            if child is None or (key not in self.seen and key not in self.rejected):
                break
            child, key = self._keyed_mutant(child, key, prob)
        return child, key

    def _keyed_mutant(self, parent: Mapping[str, Any], key: str, prob: float) -> tuple[dict[str, Any] | None, str]:
        """`mutant(parent, prob)` given the parent's key, and the child's key (`key` for none)."""
        child = self.space.mutate(parent, self.rng, prob=prob)
        child_key = arch_key(child)
        if child_key != key:
            return child, child_key
        child = self.random_neighbour(parent)
        return child, (key if child is None else arch_key(child))

    def neighbours(self, arch: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every architecture that differs from `arch` in exactly one active decision (decisions
        that this change makes active are drawn at random), in a random order, valid only."""
        base = dict(arch)
        out: dict[str, dict[str, Any]] = {}
        for d in self.space.order:
            if d.label not in base:
                continue
            for value in d.values:
                if same_value(value, base[d.label]):
                    continue
                cand = self.changed(base, d.label, value)
                if cand is not None:
                    out.setdefault(arch_key(cand), cand)
        result = list(out.values())
        self.rng.shuffle(result)
        return result

    def changed(self, base: Mapping[str, Any], label: str, value: Any) -> dict[str, Any] | None:
        """`base` with decision `label` set to `value`: the other decisions keep their values,
        those the change makes active are drawn at random; `None` if that breaks a constraint."""
        def choose(dec):
            if dec.label == label:
                return value
            if dec.label in base:
                return domain_value(base[dec.label])
            return dec.values[self.rng.randrange(len(dec.values))]
        try:
            return self.space.sample(choose=choose, attempts=1)
        except (ArchitectureError, EmptySpaceError):
            return None


def same_value(a: Any, b: Any) -> bool:
    """Whether a domain value `a` is the architecture value `b` (a JSON list equals its tuple;
    `True` is not `1`)."""
    if isinstance(a, tuple) and isinstance(b, list):
        return list(a) == b
    return type(a) is type(b) and a == b



# --- options ------------------------------------------------------------------------------

def options_of(cls: type) -> dict[str, inspect.Parameter]:
    """The options a strategy class takes (its keyword arguments beyond space, seed, budget)."""
    params = inspect.signature(cls.__init__).parameters
    return {n: p for n, p in params.items() if n not in ("self", "space", "seed", "budget", "directions")
            and p.kind is inspect.Parameter.KEYWORD_ONLY}


def parse_options(cls: type, items: Mapping[str, Any] | list[str] | None) -> dict[str, Any]:
    """`NAME=VALUE` texts (or a mapping) as keyword arguments of `cls`, converted to the type of
    each option's default; unknown names are a NasError listing the known ones."""
    known = options_of(cls)
    pairs: list[tuple[str, Any]] = []
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        for item in items or ():
            name, sep, raw = item.partition("=")
            if not sep:
                raise NasError(f"--option expects NAME=VALUE, got {item!r}")
            pairs.append((name.strip(), raw.strip()))
    out: dict[str, Any] = {}
    for name, raw in pairs:
        if name not in known:
            names = ", ".join(known) or "none"
            raise NasError(f"strategy {cls.name!r} has no option {name!r} (its options: {names})")
        out[name] = _convert(cls.name, name, raw, known[name]) if isinstance(raw, str) else raw
    return out


def _convert(strategy: str, name: str, raw: str, param: inspect.Parameter) -> Any:
    """`raw` as the option's declared type (its annotation: bool, int, float or str)."""
    declared = str(param.annotation)
    if "bool" in declared:
        if raw.lower() not in ("true", "false"):
            raise NasError(f"option {name!r} of {strategy!r} must be true or false, got {raw!r}")
        return raw.lower() == "true"
    for kind in (int, float):
        if kind.__name__ in declared.replace("|", " ").split():
            try:
                return kind(raw)
            except ValueError:
                raise NasError(f"option {name!r} of {strategy!r} must be {kind.__name__}, got {raw!r}") from None
    if "str" in declared:
        return raw
    raise NasError(f"option {name!r} of {strategy!r} is set from Python only (a {declared})")


def create(name: str, space: Space, seed: int = 0, budget: int | None = None,
           options: Mapping[str, Any] | list[str] | None = None, directions: tuple[str, ...] | None = None) -> Strategy:
    """The multi-trial strategy `name` over `space` (options as a mapping or `NAME=VALUE` texts).
    Two or more `directions` (`"maximize"`/`"minimize"`) make it search for a Pareto front:
    only a strategy whose `multi_objective` is true does."""
    from . import MULTI_OBJECTIVE, MULTI_TRIAL, module
    if name not in MULTI_TRIAL:
        raise NasError(f"{name!r} is not a multi-trial strategy (multi-trial: {', '.join(MULTI_TRIAL)})")
    cls = module(name).STRATEGY
    kwargs = parse_options(cls, options)
    if directions is not None and len(directions) > 1:
        if not cls.multi_objective:
            raise NasError(f"strategy {name!r} searches for one objective; with several --objective use one of "
                           f"{', '.join(MULTI_OBJECTIVE)}")
        if "directions" in inspect.signature(cls.__init__).parameters:
            kwargs["directions"] = tuple(directions)
    return cls(space, seed=seed, budget=budget, **kwargs)


def check(condition: bool, message: str) -> None:
    """Raise a NasError `message` (an option's bad value) unless `condition`."""
    if not condition:
        raise NasError(message)


Filter = Callable[[dict], bool]
