"""The syntax tree of a `.nas` file: small frozen dataclasses, each with its source `Loc`.

The tree is exactly what was written (no evaluation): the elaborator turns it into the IR,
the formatter prints it back. Node names follow the grammar rules in `grammar/nas.lark`.

Example::

    >>> from nasdsl.syntax.parser import parse
    >>> module = parse("param C = 16", "<s>")
    >>> module.items[0]
    ParamDecl(name='C', value=Number(value=16, text='16', loc=...), loc=...)
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import Loc

# --- expressions -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Number:
    value: int | float
    text: str
    loc: Loc


@dataclass(frozen=True, slots=True)
class String:
    value: str
    loc: Loc


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool
    loc: Loc


@dataclass(frozen=True, slots=True)
class Name:
    id: str
    loc: Loc


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Expr, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class TupleLit:
    items: tuple[Expr, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class ValueChoice:
    """`choice[3, 5, 7]` or `choice "label" [3, 5, 7]`."""
    options: tuple[Expr, ...]
    label: str | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    expr: Expr
    loc: Loc


@dataclass(frozen=True, slots=True)
class LayerChoice:
    """`choice { conv: Conv2d(...), skip: Identity() }`."""
    candidates: tuple[Candidate, ...]
    label: str | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class Lambda:
    params: tuple[str, ...]
    body: Expr
    loc: Loc


@dataclass(frozen=True, slots=True)
class Cond:
    """`then if test else other`."""
    then: Expr
    test: Expr
    other: Expr
    loc: Loc


@dataclass(frozen=True, slots=True)
class Pipe:
    """`x -> Layer`: apply a layer to a tensor, or compose two layers."""
    left: Expr
    right: Expr
    loc: Loc


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str  # + - * / // % ** == != < <= > >= and or
    left: Expr
    right: Expr
    loc: Loc


@dataclass(frozen=True, slots=True)
class UnaryOp:
    op: str  # - not
    operand: Expr
    loc: Loc


@dataclass(frozen=True, slots=True)
class Keyword:
    name: str
    value: Expr
    loc: Loc


@dataclass(frozen=True, slots=True)
class Call:
    func: Expr
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Index:
    value: Expr
    index: Expr
    loc: Loc


@dataclass(frozen=True, slots=True)
class Attr:
    """`ops.SepConv`: a block of a file imported under an alias."""
    value: Expr
    name: str
    loc: Loc


Expr = (Attr | Number | String | Bool | Name | ListLit | TupleLit | ValueChoice | LayerChoice
        | Lambda | Cond | Pipe | BinOp | UnaryOp | Call | Index)


# --- statements ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Assign:
    targets: tuple[str, ...]
    values: tuple[Expr, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Return:
    values: tuple[Expr, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Constraint:
    """`require EXPR` or `forbid EXPR`, with an optional message."""
    kind: str  # "require" | "forbid"
    expr: Expr
    message: str | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class For:
    var: str
    iterable: Expr
    body: tuple[Stmt, ...]
    loc: Loc


Stmt = Assign | Return | Constraint | For


# --- top level ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: Expr | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class TensorParam:
    name: str
    shape: ListLit | None
    loc: Loc


@dataclass(frozen=True, slots=True)
class LayerBody:
    """`= layer_expr`: the block is a layer (no tensor parameters)."""
    expr: Expr
    loc: Loc


@dataclass(frozen=True, slots=True)
class GraphBody:
    """`(x, y) { statements }` or `(x) = tensor_expr`: named dataflow over tensors."""
    inputs: tuple[TensorParam, ...]
    stmts: tuple[Stmt, ...]
    loc: Loc
    short: bool = False  # written as `(x) = expr`


Body = LayerBody | GraphBody


@dataclass(frozen=True, slots=True)
class BlockDef:
    name: str
    params: tuple[Param, ...]
    body: Body
    shared: bool
    loc: Loc


@dataclass(frozen=True, slots=True)
class NetworkDef:
    body: Body
    loc: Loc


@dataclass(frozen=True, slots=True)
class ParamDecl:
    name: str
    value: Expr
    loc: Loc


@dataclass(frozen=True, slots=True)
class Import:
    path: str
    alias: str | None
    loc: Loc


Item = Import | ParamDecl | BlockDef | NetworkDef | Constraint


@dataclass(frozen=True, slots=True)
class Module:
    """One parsed file, with its comments kept for the formatter."""
    items: tuple[Item, ...]
    comments: tuple[tuple[int, int, str], ...]  # (line, col, text)
    file: str
