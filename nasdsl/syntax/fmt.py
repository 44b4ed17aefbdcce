"""Canonical formatting of `.nas` source: parse, then print the syntax tree back.

The formatter never edits text: it parses with `nasdsl.syntax.parser.parse` (so a syntax error
raises `NasSyntaxError`), prints the AST through a small Wadler-style document layout
(groups that stay on one line when they fit in `WIDTH` columns, else break), and puts
every `#` comment back next to the item or statement it belongs to. The result compiles
to the same space (the AST is printed faithfully, parenthesised exactly where the grammar's
precedence needs it) and formatting it again changes nothing.

Layout rules, in short: 2-space indentation inside `{ }`; one statement per line; a layer
block `block A(c) = expr` stays on one line when it fits, else a pipe chain moves below the
`=` and breaks before `->` (continuation lines of a statement's chain are indented 2 more);
long calls, lists and choices break after the opening bracket, one element per line with a
trailing comma; layer choices with more than two candidates are always one candidate per
line, their names aligned; at most one blank line is kept where the source had any, and
top-level blocks are always set apart by one; end-of-line comments of consecutive one-line
statements share a column.

Comments: an own-line comment stays before the item or statement it precedes (or before
the `}` that closes its block); an end-of-line comment trails the line it was on; a
comment in the middle of a multi-line statement or header moves to just before it.

Example::

    >>> from nasdsl.syntax.fmt import format_source
    >>> print(format_source("param C=16 # width\\nnetwork(x:[3,8,8]){y=x->Conv2d(3,C,3) return y}"), end="")
    param C = 16  # width
    <BLANKLINE>
    network(x: [3, 8, 8]) {
      y = x -> Conv2d(3, C, 3)
      return y
    }
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import Loc, NasError
from . import ast
from .parser import parse

WIDTH = 100
INDENT = "  "


# --- documents: text that may break into lines -------------------------------------------

@dataclass(frozen=True)
class Line:
    """A place where a broken group starts a new line; printed as `flat` when it fits."""
    flat: str = " "


LINE = Line(" ")
SOFTLINE = Line("")


@dataclass(frozen=True)
class Nest:
    """Lines broken inside `parts` are indented one level more."""
    parts: Any


@dataclass(frozen=True)
class IfBreak:
    """`broken` when the enclosing group is broken, else `flat` (trailing commas, padding)."""
    broken: Any
    flat: Any


@dataclass(frozen=True)
class Fill:
    """`[content, separator, content, ...]`: as many contents on a line as fit (pipe chains).

    From the first separator that breaks on, the rest is indented `hang` more, so a broken
    bracket in the first line closes at the statement's own indentation.
    """
    parts: list
    hang: int = 0


@dataclass(frozen=True)
class Hug:
    """A fill content that stays on the current line and breaks inside, rather than move to
    the next line whole (`y = x -> choice {` and its candidates below)."""
    parts: Any


@dataclass(frozen=True)
class Group:
    """All of its lines break together, or none does; `broken` groups never print flat."""
    parts: Any
    broken: bool


class _BreakParent:
    """Marker that forces every enclosing group to break (a choice of many candidates)."""


BREAK_PARENT = _BreakParent()
_FLAT, _BREAK = 0, 1


def group(*parts: Any) -> Group:
    """A group, broken from the start when it contains a forced break."""
    return Group(list(parts), _forces_break(list(parts)))


def _forces_break(doc: Any) -> bool:
    """Whether `doc` holds a `BREAK_PARENT` outside any group (a group below already knows)."""
    if isinstance(doc, list):
        return any(_forces_break(d) for d in doc)
    if isinstance(doc, Group):
        return doc.broken
    if isinstance(doc, (Nest, Fill, Hug)):
        return _forces_break(doc.parts)
    return doc is BREAK_PARENT


def join(sep: Any, docs: Sequence[Any]) -> list:
    """`docs` with `sep` between each pair."""
    out: list = []
    for i, doc in enumerate(docs):
        if i:
            out.append(sep)
        out.append(doc)
    return out


def render(doc: Any, indent: int, width: int = WIDTH) -> list[str]:
    """Lay `doc` out starting at column `indent`; the lines, the first without its indent.

    The classic stack machine: a group prints flat when it fits up to the next line break
    that follows it, else broken; a fill decides separator by separator.
    """
    out: list[str] = []
    pos = indent
    stack: list[tuple[int, int, Any]] = [(indent, _BREAK, doc)]
    while stack:
        ind, mode, d = stack.pop()
        if isinstance(d, str):
            out.append(d)
            pos += len(d)
        elif isinstance(d, list):
            stack.extend((ind, mode, part) for part in reversed(d))
        elif isinstance(d, Nest):
            stack.append((ind + len(INDENT), mode, d.parts))
        elif isinstance(d, Hug):
            stack.append((ind, mode, d.parts))
        elif isinstance(d, Group):
            flat = not d.broken and (mode == _FLAT or _fits((ind, _FLAT, d.parts), stack, width - pos))
            stack.append((ind, _FLAT if flat else _BREAK, d.parts))
        elif isinstance(d, IfBreak):
            stack.append((ind, mode, d.broken if mode == _BREAK else d.flat))
        elif isinstance(d, Line):
            if mode == _FLAT:
                out.append(d.flat)
                pos += len(d.flat)
            else:
                out.append("\n" + " " * ind)
                pos = ind
        elif isinstance(d, Fill):
            _fill(ind, mode, d, stack, pos, width)
    return [line.rstrip() for line in "".join(out).split("\n")]


def _fill(ind: int, mode: int, fill: Fill, stack: list, pos: int, width: int) -> None:
    """Push a fill's next content and separator (everything stays flat in a flat group).

    The separator breaks when the next content does not fit on the line, unless that content
    has to break anyway (or is a `Hug`) and its first line does fit: `y = x -> Layer(` then
    one argument per line reads better than a lone `y = x`.
    """
    parts = fill.parts
    if mode == _FLAT or not parts:
        stack.append((ind, _FLAT, parts))
        return
    content = parts[0]
    fits = _fits((ind, _FLAT, content), [], width - pos)
    if len(parts) == 1:
        stack.append((ind, _FLAT if fits else _BREAK, content))
        return
    sep, after = parts[1], parts[2]
    flat = _fits((ind, _FLAT, [content, sep, after]), [], width - pos) or (
        fits and (isinstance(after, Hug) or not _fits((ind, _FLAT, after), [], width - ind - fill.hang))
        and _fits((ind, _FLAT, content), [(ind, _BREAK, after), (ind, _FLAT, sep)], width - pos))
    rest_ind = ind if flat else ind + fill.hang
    stack.append((rest_ind, mode, Fill(parts[2:], fill.hang if flat else 0)))
    stack.append((rest_ind, _FLAT if flat else _BREAK, sep))
    stack.append((ind, _FLAT if fits else _BREAK, content))


def _fits(cmd: tuple[int, int, Any], rest: list, room: int) -> bool:
    """Whether `cmd` printed flat, then `rest` up to its next line break, takes <= `room`."""
    todo = [cmd]
    rest_at = len(rest)
    while room >= 0:
        if not todo:
            if not rest_at:
                return True
            rest_at -= 1
            todo.append(rest[rest_at])
            continue
        ind, mode, d = todo.pop()
        if isinstance(d, str):
            room -= len(d)
        elif isinstance(d, list):
            todo.extend((ind, mode, part) for part in reversed(d))
        elif isinstance(d, (Nest, Fill, Hug)):
            todo.append((ind, mode, d.parts))
        elif isinstance(d, Group):
            todo.append((ind, _BREAK if d.broken else mode, d.parts))
        elif isinstance(d, IfBreak):
            todo.append((ind, mode, d.broken if mode == _BREAK else d.flat))
        elif isinstance(d, Line):
            if mode == _BREAK:
                return True
            room -= len(d.flat)
    return False


# --- expressions to documents ------------------------------------------------------------

# Binding strength, lowest first, as in grammar/nas.lark: a child weaker than its slot
# needs parentheses.
_LAMBDA, _COND, _PIPE, _OR, _AND, _NOT, _CMP, _ARITH, _TERM, _NEG, _POW, _POSTFIX, _ATOM = range(13)
_BINOP_PREC = {"or": _OR, "and": _AND, "+": _ARITH, "-": _ARITH, "*": _TERM, "/": _TERM,
               "//": _TERM, "%": _TERM, "**": _POW}
# (left slot, right slot) of each binary operator level.
_BINOP_SLOTS = {_OR: (_OR, _AND), _AND: (_AND, _NOT), _CMP: (_ARITH, _ARITH),
                _ARITH: (_ARITH, _TERM), _TERM: (_TERM, _NEG), _POW: (_POSTFIX, _NEG)}


def _prec(e: ast.Expr) -> int:
    """How tightly `e` binds, so its parent knows whether to parenthesise it."""
    if isinstance(e, ast.Lambda):
        return _LAMBDA
    if isinstance(e, ast.Cond):
        return _COND
    if isinstance(e, ast.Pipe):
        return _PIPE
    if isinstance(e, ast.BinOp):
        return _BINOP_PREC.get(e.op, _CMP)
    if isinstance(e, ast.UnaryOp):
        return _NOT if e.op == "not" else _NEG
    if isinstance(e, (ast.Call, ast.Index, ast.Slice, ast.Attr)):
        return _POSTFIX
    return _ATOM


def _slot(e: ast.Expr, need: int) -> Any:
    """`e` in a position that parses expressions binding at least as tightly as `need`."""
    doc = expr_doc(e)
    return ["(", doc, ")"] if _prec(e) < need else doc


def expr_doc(e: ast.Expr) -> Any:
    """The document of one expression (dispatch on the node type)."""
    return _EXPR[type(e)](e)


def _bracketed(open_: str, items: Sequence[Any], close: str, single_comma: bool = False) -> Any:
    """`open items close` on one line, or broken after `open`, one item per line with a
    trailing comma; `single_comma` keeps the comma of a one-element tuple when flat."""
    if not items:
        return open_ + close
    tail = IfBreak(",", "," if single_comma else "")
    return group(open_, Nest([SOFTLINE, join([",", LINE], items), tail]), SOFTLINE, close)


def _pipe_fill(e: ast.Pipe, hang: int = len(INDENT)) -> Fill:
    """A left-nested pipe chain as a fill: as many `-> stage` on a line as fit, continuation
    lines indented by `hang`; a layer choice stage opens on the line of its arrow."""
    stages = []
    while isinstance(e, ast.Pipe):
        stages.append(e.right)
        e = e.left
    parts: list = [_slot(e, _PIPE)]
    for stage in reversed(stages):
        doc = ["-> ", _slot(stage, _OR)]
        parts += [LINE, Hug(doc) if isinstance(stage, ast.LayerChoice) else doc]
    return Fill(parts, hang)


_ATOMS = (ast.Name, ast.Number, ast.String, ast.Bool)
_SHORT_ARGS = 30


def _call(e: ast.Call) -> Any:
    """`f(args)`; a short list of plain arguments never breaks, so in `choice {...}(x)` or
    `Cell(c)(h)` the callee breaks first."""
    args = [expr_doc(a) for a in e.args] + [[k.name, "=", expr_doc(k.value)] for k in e.kwargs]
    values = list(e.args) + [k.value for k in e.kwargs]
    if all(isinstance(v, _ATOMS) for v in values):
        text = ", ".join("".join(a) if isinstance(a, list) else a for a in args)
        if len(text) <= _SHORT_ARGS:
            return [_slot(e.func, _POSTFIX), f"({text})"]
    return [_slot(e.func, _POSTFIX), _bracketed("(", args, ")")]


def _attr(e: ast.Attr) -> Any:
    # `(3).x`, not `3.x`, which reads as the number `3.` followed by a name.
    value = ["(", expr_doc(e.value), ")"] if isinstance(e.value, ast.Number) else _slot(e.value, _POSTFIX)
    return [value, ".", e.name]


def _binop(e: ast.BinOp) -> Any:
    """`a op b`; a left-nested chain of one level (`a + b - c`) is walked in a loop, so a
    long sum needs no deep recursion."""
    level = _prec(e)
    left, right = _BINOP_SLOTS[level]
    rights = [[f" {e.op} ", _slot(e.right, right)]]
    e = e.left
    while left == level and isinstance(e, ast.BinOp) and _prec(e) == level:
        rights.append([f" {e.op} ", _slot(e.right, right)])
        e = e.left
    return [_slot(e, left), *reversed(rights)]


def _unary(e: ast.UnaryOp) -> Any:
    if e.op == "not":
        return ["not ", _slot(e.operand, _NOT)]
    return ["-", _slot(e.operand, _NEG)]


def _label(label: str | None) -> str:
    return f' "{label}"' if label is not None else ""


def _value_choice(e: ast.ValueChoice) -> Any:
    head = "choice" + (_label(e.label) + " [" if e.label is not None else "[")
    return _bracketed(head, [expr_doc(o) for o in e.options], "]")


def _layer_choice(e: ast.LayerChoice) -> Any:
    """`choice { a: A(), b: B() }`, or one candidate per line with the names aligned
    (always so for more than two candidates)."""
    width = max(len(c.name) for c in e.candidates) + 1
    cands = [[IfBreak(f"{c.name}:".ljust(width) + " ", f"{c.name}: "), expr_doc(c.expr)]
             for c in e.candidates]
    parts = ["choice" + _label(e.label) + " {",
             Nest([LINE, join([",", LINE], cands), IfBreak(",", "")]), LINE, "}"]
    if len(cands) > 2:
        parts.insert(0, BREAK_PARENT)
    return group(*parts)


def _lambda(e: ast.Lambda) -> Any:
    params = " " + ", ".join(e.params) if e.params else ""
    return [f"lambda{params}: ", _slot(e.body, _LAMBDA)]


_EXPR = {
    ast.Number: lambda e: e.text,
    ast.String: lambda e: f'"{e.value}"',
    ast.Bool: lambda e: "true" if e.value else "false",
    ast.Name: lambda e: e.id,
    ast.ListLit: lambda e: _bracketed("[", [expr_doc(i) for i in e.items], "]"),
    ast.TupleLit: lambda e: _bracketed("(", [expr_doc(i) for i in e.items], ")", len(e.items) == 1),
    ast.ValueChoice: _value_choice,
    ast.LayerChoice: _layer_choice,
    ast.Lambda: _lambda,
    ast.Cond: lambda e: [_slot(e.then, _PIPE), " if ", _slot(e.test, _PIPE), " else ",
                         _slot(e.other, _LAMBDA)],
    ast.Pipe: _pipe_fill,
    ast.BinOp: _binop,
    ast.UnaryOp: _unary,
    ast.Call: _call,
    ast.Index: lambda e: [_slot(e.value, _POSTFIX), "[", expr_doc(e.index), "]"],
    ast.Slice: lambda e: [_slot(e.value, _POSTFIX), "[", "" if e.start is None else expr_doc(e.start), ":",
                          "" if e.stop is None else expr_doc(e.stop), "]"],
    ast.Attr: _attr,
}


# --- statements and items to documents ---------------------------------------------------

def _exprs(values: Sequence[ast.Expr]) -> list:
    return join(", ", [expr_doc(v) for v in values])


def _equals_body(e: ast.Expr) -> Any:
    """`= expr` of a layer block or short graph body: a pipe chain too long for the header
    line moves to the next line and breaks before `->` (the style of spaces/darts.nas)."""
    if isinstance(e, ast.Pipe):
        return group(" =", Nest([LINE, _pipe_fill(e, hang=0)]))
    return [" = ", expr_doc(e)]


def _params(params: Sequence[ast.Param]) -> Any:
    docs = [p.name if p.default is None else [p.name, "=", expr_doc(p.default)] for p in params]
    return _bracketed("(", docs, ")")


def _inputs(inputs: Sequence[ast.TensorParam]) -> Any:
    docs = [t.name if t.shape is None else [t.name, ": ", expr_doc(t.shape)] for t in inputs]
    return _bracketed("(", docs, ")")


def _body_head(body: ast.Body) -> Any:
    """What follows a block's parameters: `= expr`, `(x) = expr`, or `(x)` before `{`."""
    if isinstance(body, ast.LayerBody):
        return _equals_body(body.expr)
    if body.short:
        return [_inputs(body.inputs), _equals_body(body.stmts[0].values[0])]
    return _inputs(body.inputs)


def _constraint(c: ast.Constraint) -> Any:
    message = f', "{c.message}"' if c.message is not None else ""
    return [c.kind, " ", expr_doc(c.expr), message]


def node_doc(node: Any) -> Any:
    """The document of an item or statement; for one with a `{ }` body, its header only."""
    if isinstance(node, ast.Assign):
        return [", ".join(node.targets), " = ", _exprs(node.values)]
    if isinstance(node, ast.Return):
        return ["return ", _exprs(node.values)]
    if isinstance(node, ast.Constraint):
        return _constraint(node)
    if isinstance(node, ast.For):
        return ["for ", node.var, " in ", expr_doc(node.iterable)]
    if isinstance(node, ast.If):
        return ["if ", expr_doc(node.test)]
    if isinstance(node, ast.Import):
        return [f'import "{node.path}"', f" as {node.alias}" if node.alias is not None else ""]
    if isinstance(node, ast.ParamDecl):
        return [f"param {node.name} = ", expr_doc(node.value)]
    if isinstance(node, ast.BlockDef):
        return ["shared " if node.shared else "", "block ", node.name, _params(node.params),
                _body_head(node.body)]
    if isinstance(node, ast.NetworkDef):
        return ["network", _body_head(node.body)]
    raise TypeError(f"cannot format {type(node).__name__}")


def _children(node: Any) -> tuple:
    """The statements inside a node's `{ }` body (none for a one-line node)."""
    if isinstance(node, ast.Module):
        return node.items
    if isinstance(node, (ast.For, ast.If)):
        return node.body
    if isinstance(node, (ast.BlockDef, ast.NetworkDef)) and _has_braces(node):
        return node.body.stmts
    return ()


def _has_braces(node: Any) -> bool:
    """Whether a node is printed as a header, a `{ }` body one level in, and `}`."""
    if isinstance(node, (ast.For, ast.If)):
        return True
    if isinstance(node, (ast.BlockDef, ast.NetworkDef)):
        return isinstance(node.body, ast.GraphBody) and not node.body.short
    return False


# --- where comments go: units of source, by token index -----------------------------------

@dataclass
class _Unit:
    """An item or statement with the token span it covers and the comments that go with it.

    `start`/`end` are token indices (end exclusive); `open`/`close` those of its body
    braces. Comments: `before` (own-line, just above it), `moved` (from inside a multi-line
    statement or header), `trailing` (end of its last line), `head_trailing` (after `{`),
    `tail` (own-line, before `}`) and `close_trailing` (after `}`).
    """
    node: Any
    start: int
    end: int = 0
    open: int | None = None
    close: int | None = None
    children: list[_Unit] = field(default_factory=list)
    before: list[tuple[int, str]] = field(default_factory=list)  # (source line, comment)
    moved: list[str] = field(default_factory=list)
    tail: list[tuple[int, str]] = field(default_factory=list)  # (source line, comment)
    trailing: str | None = None
    head_trailing: str | None = None
    close_trailing: str | None = None


_OPENERS = frozenset("([{")
_CLOSERS = frozenset(")]}")


class _Layout:
    """The source's tokens and the unit tree over them, used to place comments."""

    def __init__(self, module: ast.Module, text: str):
        self.tokens = _tokens(text)
        self.positions = [(t.line, t.column) for t in self.tokens]
        n = len(self.tokens)
        self.root = _Unit(module, 0, n, -1, n)
        self._build(self.root)
        for line, col, comment in module.comments:
            self._place(line, col, comment.rstrip())

    def index(self, line: int, col: int) -> int:
        """Index of the token at (or the first after) a source position."""
        return bisect_left(self.positions, (line, col))

    def _start(self, node: Any) -> int:
        i = self.index(node.loc.line, node.loc.col)
        if isinstance(node, ast.BlockDef):  # its loc is the name; it starts at `block`/`shared`
            i -= 2 if node.shared else 1
        return i

    def _build(self, unit: _Unit) -> None:
        """Find the children's spans inside `unit`'s braces, recursively."""
        kids = [_Unit(child, self._start(child)) for child in _children(unit.node)]
        for kid, nxt in zip(kids, kids[1:] + [None]):
            kid.end = nxt.start if nxt is not None else unit.close
            if _has_braces(kid.node):
                kid.open = self._body_brace(kid.start)
                kid.close = self._matching(kid.open)
            self._build(kid)
        unit.children = kids

    def _body_brace(self, i: int) -> int:
        """The `{` opening the body of the item or statement starting at token `i`: the
        first one outside brackets that does not open a layer choice."""
        depth = 0
        while True:
            tok = self.tokens[i]
            if tok.value in _OPENERS and (tok.value != "{" or self._opens_choice(i)):
                depth += 1
            elif tok.value in _CLOSERS:
                depth -= 1
            elif tok.value == "{" and depth == 0:
                return i
            i += 1

    def _opens_choice(self, i: int) -> bool:
        """Whether the `{` at token `i` follows `choice` or `choice "label"`."""
        prev = self.tokens[i - 1]
        return prev.value == "choice" or (prev.type == "STRING" and self.tokens[i - 2].value == "choice")

    def _matching(self, i: int) -> int:
        """The bracket that closes the one at token `i`."""
        depth = 0
        while True:
            value = self.tokens[i].value
            depth += value in _OPENERS
            depth -= value in _CLOSERS
            if depth == 0:
                return i
            i += 1

    def _place(self, line: int, col: int, comment: str) -> None:
        """Attach one comment to the unit it belongs with (see `_Unit`)."""
        k = self.index(line, col)  # tokens before the comment
        own_line = k == 0 or self.tokens[k - 1].end_line < line
        if own_line:  # it comes before token k
            unit = self._innermost(k)
            if unit.start == k and unit is not self.root:
                unit.before.append((line, comment))
            elif unit.close == k:
                unit.tail.append((line, comment))
            else:
                unit.moved.append(comment)
            return
        j = k - 1  # it ends the line of token j
        unit = self._innermost(j)
        if j == unit.open:
            unit.head_trailing = comment
        elif j == unit.close:
            unit.close_trailing = comment
        elif unit.open is None and j == unit.end - 1:
            unit.trailing = comment
        else:
            unit.moved.append(comment)

    def _innermost(self, i: int) -> _Unit:
        """The innermost unit whose span holds token `i` (a unit's `}` belongs to it)."""
        unit = self.root
        while True:
            inner = next((c for c in unit.children if c.start <= i < c.end), None)
            if inner is None:
                return unit
            unit = inner


def _tokens(text: str) -> list:
    """The source's tokens (no whitespace, no comments), from the grammar's own lexer: the
    tree has only start positions, comments need the ends of statements and braces."""
    from .parser import lex  # the parser's cached Lark lexer
    return [t for t in lex(text) if t.type not in ("WS", "COMMENT")]


# --- printing units as lines ---------------------------------------------------------------

class _Printer:
    """Turns the unit tree into lines: comments, blank lines, one statement per line."""

    def __init__(self, layout: _Layout):
        self.layout = layout
        self.lines: list[str] = []

    def first_line(self, unit: _Unit) -> int:
        """Source line a unit starts on (for the blank lines around it)."""
        return self.layout.tokens[unit.start].line

    def last_line(self, unit: _Unit) -> int:
        """Source line a unit ends on."""
        return self.layout.tokens[unit.end - 1].end_line

    def body(self, unit: _Unit, depth: int) -> None:
        """The entries of a body (comments and units), blank lines kept where the source had
        some between them and forced around top-level blocks."""
        entries: list[tuple[int, int, Any]] = []  # (first source line, last, comment or unit)
        for kid in unit.children:
            entries += [(line, line, c) for line, c in kid.before]
            entries.append((self.first_line(kid), self.last_line(kid), kid))
        entries += [(line, line, c) for line, c in unit.tail]
        top = unit is self.layout.root
        run: list[tuple[int, str]] = []  # aligned trailing comments: (line index, comment)
        for i, (first, _last, entry) in enumerate(entries):
            if i and (first - entries[i - 1][1] > 1 or (top and self._set_apart(entries, i))):
                self.lines.append("")
                run = self._align(run)
            if isinstance(entry, str):
                self.lines.append(INDENT * depth + entry)
                run = self._align(run)
            else:
                run = self.unit(entry, depth, run)
        self._align(run)

    @staticmethod
    def _set_apart(entries: list, i: int) -> bool:
        """Whether a blank line goes before entry `i`: after a top-level unit that is a
        block or network, or before the comments and unit of one."""
        prev = entries[i - 1][2]
        if isinstance(prev, str):
            return False
        following = next((e for _f, _l, e in entries[i:] if not isinstance(e, str)), None)
        return any(isinstance(u, _Unit) and isinstance(u.node, (ast.BlockDef, ast.NetworkDef))
                   for u in (prev, following))

    def unit(self, unit: _Unit, depth: int, run: list) -> list:
        """Print one unit; returns the run of trailing comments still to be aligned."""
        indent = INDENT * depth
        if unit.moved:
            run = self._align(run)
            self.lines += [indent + c for c in unit.moved]
        if _has_braces(unit.node):
            self._align(run)
            self.braced(unit, depth)
            return []
        lines = render(node_doc(unit.node), len(indent))
        self.lines.append(indent + lines[0])
        if len(lines) == 1 and unit.trailing is not None:
            run.append((len(self.lines) - 1, unit.trailing))
            return run
        run = self._align(run)
        self.lines += lines[1:]
        if unit.trailing is not None:
            self.lines[-1] += "  " + unit.trailing
        return run

    def braced(self, unit: _Unit, depth: int) -> None:
        """A unit with a `{ }` body: header, statements one level in, `}`; `{}` if empty."""
        indent = INDENT * depth
        empty = not (unit.children or unit.tail or unit.head_trailing)
        head = render([node_doc(unit.node), " {}" if empty else " {"], len(indent))
        head[0] = indent + head[0]
        if unit.head_trailing is not None:
            head[-1] += "  " + unit.head_trailing
        self.lines += head
        if not empty:
            self.body(unit, depth + 1)
            self.lines.append(indent + "}")
        if unit.close_trailing is not None:
            self.lines[-1] += "  " + unit.close_trailing

    def _align(self, run: list) -> list:
        """Give the trailing comments of consecutive one-line statements a common column."""
        if run:
            column = max(len(self.lines[i]) for i, _c in run) + 2
            for i, comment in run:
                self.lines[i] = self.lines[i].ljust(column) + comment
        return []


def format_source(text: str, file: str = "<string>") -> str:
    """The canonical text of a `.nas` program (raises `NasSyntaxError` if it does not parse)."""
    try:
        module = parse(text, file)  # may itself run out of stack on a very deep expression
        printer = _Printer(_Layout(module, text))
        printer.body(printer.layout.root, 0)
    except RecursionError:
        raise NasError("the program nests too deeply to format", Loc(file, 1, 1, text)) from None
    return "\n".join(printer.lines) + "\n" if printer.lines else ""
