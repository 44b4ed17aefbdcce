"""The elaborator's world: the values a `.nas` program evaluates to (layers, tensors, blocks,
ops, builtins, lambdas, imported files), the files it loads, and where evaluation stands (the
naming context of a statement, the graph being built). `nasdsl.elaborate` runs programs over
these; `nasdsl.builtins` and `nasdsl.decisions` read and build them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import ir
from .syntax import ast
from .values import is_expr, literal

# --- runtime values -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, eq=False)
class LayerVal:
    """A module template and the site name it was created under."""
    module: ir.Module
    name: tuple[str, ...]


@dataclass(frozen=True, slots=True, eq=False)
class TensorVal:
    name: str
    graph: GraphBuilder


@dataclass(frozen=True, slots=True, eq=False)
class BlockVal:
    defn: ast.BlockDef
    unit: Unit


@dataclass(frozen=True, slots=True, eq=False)
class OpVal:
    name: str


@dataclass(frozen=True, slots=True, eq=False)
class BuiltinVal:
    name: str


@dataclass(frozen=True, slots=True, eq=False)
class LambdaVal:
    node: ast.Lambda
    env: dict


@dataclass(frozen=True, slots=True, eq=False)
class Namespace:
    unit: Unit


def kind_of(value: Any) -> str:
    if isinstance(value, LayerVal):
        return "a layer"
    if isinstance(value, TensorVal):
        return "a tensor"
    if isinstance(value, (BlockVal, OpVal, BuiltinVal)):
        return "a function"
    if isinstance(value, LambdaVal):
        return "a lambda"
    if isinstance(value, Namespace):
        return "an imported file"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, tuple):
        return "a tuple"
    if is_expr(value):
        return "a value"
    return type(value).__name__


def is_value(v: Any) -> bool:
    """Is `v` a value (a constant, none, or an expression over decisions)?"""
    return isinstance(v, (int, float, str, bool)) or v is None or is_expr(v)


def given(v: Any) -> str:
    """What a message says was given: the value as `.nas` writes it, or else its kind."""
    return literal(v) if is_value(v) else kind_of(v)


# --- program units (one per file) ------------------------------------------------------------

@dataclass(eq=False)
class Unit:
    """One loaded file: its parsed module and its top-level names."""
    file: str
    text: str
    module: ast.Module
    names: dict[str, Any] = field(default_factory=dict)


# --- naming ---------------------------------------------------------------------------------

class Namer:
    """Names the sites of one naming context: `base` alone if it holds one, else `base.j`."""

    def __init__(self, base: tuple[str, ...], total: int):
        self.base, self.total, self.index = base, total, 0

    def next(self) -> tuple[str, ...]:
        j = self.index
        self.index += 1
        if self.total == 1 and j == 0:
            return self.base
        return self.base + (str(j),)


class GraphBuilder:
    """Accumulates the nodes of one `ir.Graph` while its statements run."""

    def __init__(self, inputs: tuple[ir.TensorIn, ...]):
        self.inputs = inputs
        self.modules: dict[str, ir.Module] = {}
        self.module_ids: dict[int, str] = {}
        self.nodes: list[ir.Node] = []
        self.tensor_names = {t.name for t in inputs}
        self.site_names: set[tuple[str, ...]] = set()
        self.site_prefixes: set[tuple[str, ...]] = set()
        self.counter = 0

    def fresh(self, hint: str) -> str:
        self.counter += 1
        name = f"{hint}%{self.counter}"
        self.tensor_names.add(name)
        return name

    def register(self, layer: LayerVal) -> str:
        key = id(layer.module)
        if key in self.module_ids:
            return self.module_ids[key]
        name = ".".join(layer.name) or "layer"
        base, n = name, 1
        while name in self.modules:
            n += 1
            name = f"{base}_{n}"
        self.modules[name] = layer.module
        self.module_ids[key] = name
        return name

    def unique_base(self, base: tuple[str, ...]) -> tuple[str, ...]:
        """A naming context not overlapping an earlier one that labelled decisions in this
        graph: rebinding `x` after `x` (or `x.0`) labelled a decision names the new sites
        `x_2...`, so two statements never share a label by accident. Statements whose sites
        label nothing (`h = x`, a stem of plain ops) claim no name (`claim`)."""
        name, rest, n = base[0], base[1:], 1
        candidate = base
        while self._overlaps(candidate):
            n += 1
            candidate = (f"{name}_{n}",) + rest
        return candidate

    def claim(self, base: tuple[str, ...]) -> None:
        """Reserve a naming context whose statement labelled decisions."""
        self.site_names.add(base)
        for k in range(1, len(base) + 1):
            self.site_prefixes.add(base[:k])

    def _overlaps(self, candidate: tuple[str, ...]) -> bool:
        """Is `candidate` a prefix of a used name, or a used name a prefix of it?"""
        return candidate in self.site_prefixes or any(
            candidate[:k] in self.site_names for k in range(1, len(candidate)))


@dataclass
class Ctx:
    """Where evaluation stands: label prefix, current graph, naming context, unit. A
    `choice_label`, when given, is the label of the layer choice that the expression being
    evaluated *is* (through block and lambda calls and constant `if`s; `cell` labels each op's
    choice `prefix.op_i_k` so); any other expression is evaluated without it."""
    scope: tuple[str, ...]
    graph: GraphBuilder | None
    namer: Namer
    unit: Unit
    depth: int = 0
    toplevel: bool = False
    choice_label: str | None = None

    def with_namer(self, namer: Namer) -> Ctx:
        """The same place with another naming context (and no `choice_label`)."""
        return Ctx(self.scope, self.graph, namer, self.unit, self.depth, self.toplevel)

    def plain(self) -> Ctx:
        """The same place without a `choice_label`."""
        return self if self.choice_label is None else self.with_namer(self.namer)


def closest(name: str, options) -> str | None:
    """The option closest to `name` (a misspelling's likely meaning), or None."""
    import difflib
    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return match[0] if match else None
