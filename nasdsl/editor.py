"""What an editor asks of a `.nas` document: its problems, and what sits at a position.

The language server (`nasdsl.lsp`) is a thin protocol layer over this module, which knows
nothing of LSP and imports neither torch nor an LSP library. `analyse` checks a document's
text as `nasdsl check` checks a file — parse, imports (by the import rule: a file the rule
refuses is never opened), elaboration, shapes, domains, constraints, budgets, then the lint
warnings — and keeps what the other questions need: the parsed module, the loaded units (the
file and its imports) and the compiled space. Nothing in a document runs code: `.nas` is
evaluated statically, and custom ops come only from Python (`nasdsl.register_op`), never from
here.

Positions are 0-based lines and characters (Python string indices), as `Span` holds them; the
server converts them to the client's code units.

Example::

    >>> doc = analyse('network(x: [4]) = x -> Linear(4, 8) -> Linear(9, 2)', "a.nas")
    >>> [(p.span, p.severity, p.message[:22]) for p in doc.problems]
    [(Span(line=0, start=39, end=45), 'error', 'Linear(in_features=9, ')]
    >>> print(hover(doc, 0, 25))
    ```nas
    Linear(in_features, out_features, bias=true)
    ```
    op `torch.nn.Linear`
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .arch import json_value
from .errors import UNKNOWN, Loc, NasError
from .syntax import ast

__all__ = ["Span", "Problem", "Symbol", "Completion", "Document", "analyse", "hover", "definition", "symbols",
           "completions", "formatted"]

_TOKEN = re.compile(r'[A-Za-z_][A-Za-z0-9_]*|\d[0-9.eE+-]*|"[^"\n]*"|\S')
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IMPORT = re.compile(r'^\s*import\s+"([^"\n]*)"')
_NETWORK = re.compile(r"^network\b", re.M)


@dataclass(frozen=True)
class Span:
    """A range on one line: 0-based `line`, characters `start` .. `end` (end excluded)."""
    line: int
    start: int
    end: int


@dataclass(frozen=True)
class Problem:
    """One error or warning of a document, at `span` of `file` (the document itself, or a
    file it imports); `related` are (note, file, span) places the message refers to."""
    file: str
    span: Span
    severity: str  # "error" | "warning"
    message: str
    hint: str | None = None
    related: tuple[tuple[str, str, Span], ...] = ()

    def text(self) -> str:
        """The message with its hint on a second line, as `nasdsl check` prints them."""
        return self.message + (f"\nhint: {self.hint}" if self.hint else "")


@dataclass(frozen=True)
class Symbol:
    """An outline entry: a block, a parameter, an import or the network, with its parts."""
    name: str
    kind: str  # "block" | "param" | "import" | "network" | "name"
    detail: str
    span: Span          # the whole definition's first line
    selection: Span     # the name
    children: tuple[Symbol, ...] = ()


@dataclass(frozen=True)
class Completion:
    label: str
    kind: str  # "op" | "block" | "builtin" | "param" | "keyword"
    detail: str
    documentation: str = ""


@dataclass
class Document:
    """A document's analysis (`analyse`). `module` and `unit` are None when the text does not
    parse, `space` when it declares no network or does not compile."""
    file: str
    text: str
    problems: list[Problem] = field(default_factory=list)
    module: ast.Module | None = None
    unit: Any = None            # the elaborator's Unit: top-level names, imports loaded
    space: Any = None           # the compiled Space
    size_text: str = ""         # what `nasdsl check` says of its size
    import_paths: tuple[str, ...] = ()

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")


# --- checking ----------------------------------------------------------------------------------

def analyse(text: str, file: str, import_paths: Sequence[str] = ()) -> Document:
    """Check `text` as the content of `file` (a path, for the import rule; `<...>` for text
    without one) the way `nasdsl check` does, and keep what `hover` and the others need."""
    from . import import_loader
    from .elaborate import Elaborator
    doc = Document(file, text, import_paths=tuple(import_paths))
    try:
        from .syntax.parser import parse
        doc.module = parse(text, file)
        doc.unit = Elaborator(import_loader(file, None, import_paths), {}).load_unit(file, text, None)
        if not _NETWORK.search(text):
            return doc   # an op library: blocks are checked where a space calls them
        doc.space = _compile(text, file, import_paths)
        report = doc.space.check_budgets_feasible()
        from .text import size_text
        doc.size_text = size_text(report)
        from .analysis.lint import lint
        doc.problems += [_problem(w, doc, "warning") for w in lint(doc.space)]
    except NasError as err:
        doc.problems.append(_problem(err, doc, "error"))
    except RecursionError:
        doc.problems.append(Problem(file, Span(0, 0, 0), "error", "the program nests too deeply to compile"))
    return doc


def _compile(text: str, file: str, import_paths: Sequence[str]):
    from . import loads
    return loads(text, file, import_paths=import_paths)


def _problem(err: NasError, doc: Document, severity: str) -> Problem:
    related = tuple((note, where.file, _span(where, doc)) for note, where in err.related)
    return Problem(err.loc.file if err.loc != UNKNOWN else doc.file, _span(err.loc, doc), severity,
                   err.message, err.hint, related)


def _span(loc: Loc, doc: Document) -> Span:
    """The token that starts at `loc` (one character where none does, none past a line's end)."""
    if loc == UNKNOWN or loc.line < 1:
        return Span(0, 0, 0)
    text = loc.text if loc.text is not None else (doc.text if same_file(loc.file, doc.file) else None)
    lines = text.split("\n") if text is not None else []
    line = lines[loc.line - 1] if loc.line <= len(lines) else ""
    start = min(max(loc.col - 1, 0), len(line))
    found = _TOKEN.match(line, start)
    return Span(loc.line - 1, start, found.end() if found else start)


def same_file(a: str, b: str) -> bool:
    """Whether two file names given to the compiler name one file."""
    if a == b:
        return True
    if a.startswith("<") or b.startswith("<"):
        return False
    return Path(a).resolve() == Path(b).resolve()


def formatted(text: str, file: str) -> str | None:
    """The text as `nasdsl fmt` writes it, or None where it does not parse."""
    from .syntax.fmt import format_source
    try:
        return format_source(text, file)
    except NasError:
        return None


# --- what sits at a position --------------------------------------------------------------------

@dataclass(frozen=True)
class _Target:
    """The thing at a position: an import (its path), or a name (and the alias before `.`)."""
    kind: str            # "import" | "name"
    text: str
    span: Span
    qualifier: str | None = None


def _at(doc: Document, line: int, char: int) -> _Target | None:
    lines = doc.lines
    if not 0 <= line < len(lines):
        return None
    source = lines[line]
    imported = _IMPORT.match(source)
    if imported and imported.start(1) - 1 <= char <= imported.end(1) + 1:
        return _Target("import", imported.group(1), Span(line, imported.start(1), imported.end(1)))
    for word in _WORD.finditer(source):
        if word.start() <= char <= word.end():
            before = source[:word.start()]
            qualifier = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\.$", before)
            return _Target("name", word.group(), Span(line, word.start(), word.end()),
                           qualifier.group(1) if qualifier else None)
    return None


def hover(doc: Document, line: int, char: int) -> str | None:
    """Markdown for what sits at (`line`, `char`): a choice (its labels, domains and the
    size of the space), an op (its signature), a block (its signature, comment and file), a
    parameter (its value), an import (the file it resolves to); None for anything else."""
    target = _at(doc, line, char)
    if target is None:
        return None
    if target.kind == "import":
        return _hover_import(doc, target)
    decisions = _decisions_at(doc, target.span)
    if decisions:
        return _hover_decisions(doc, decisions)
    if target.text == "choice":
        return ("```nas\nchoice\n```\na choice: its labels are given where the block is called "
                "(hover it in the space that calls it)")
    found = _resolve(doc, target)
    if found is None:
        return None
    kind, value = found
    if kind == "op":
        return _hover_op(value) + _cost_text(doc, lambda loc: same_file(loc.file, doc.file) and (
            loc.line - 1, loc.col - 1) == (target.span.line, target.span.start), "this op")
    if kind == "block":
        if _uses_blocks(value):  # its ops are written in other blocks, used elsewhere too
            return _hover_block(value)
        first, last = _extent(value)
        return _hover_block(value) + _cost_text(doc, lambda loc: same_file(loc.file, value.unit.file) and (
            first <= loc.line <= last), "this block")
    if kind == "param":
        return f"```nas\nparam {target.text} = {_show(value)}\n```"
    return None


def _decisions_at(doc: Document, span: Span) -> list:
    if doc.space is None:
        return []
    return [d for d in doc.space.decisions
            if any(same_file(loc.file, doc.file) and loc.line - 1 == span.line and span.start <= loc.col - 1 < span.end
                   for loc in d.locs)]


def _hover_decisions(doc: Document, decisions: list) -> str:
    from .values import literal
    kinds = {"layer": "layer choice", "value": "value choice", "input": "input choice", "depth": "depth"}
    parts = []
    shown = decisions[:8]
    for d in shown:
        values = ", ".join(v if isinstance(v, str) else literal(json_value(v))
                           for v in d.values)
        if len(values) > 160:
            values = values[:156] + " ..."
        condition = "" if d.condition is True else f" (active when `{literal(d.condition)}`)"
        parts.append(f"**{d.label}**: {kinds.get(d.kind, d.kind)} of {len(d.values)}: {values}{condition}")
    if len(decisions) > len(shown):
        parts.append(f"... and {len(decisions) - len(shown)} more decisions made here")
    parts.append(f"space: {doc.size_text}" if doc.size_text else "")
    return "\n\n".join(p for p in parts if p)


def _cost_text(doc: Document, within, what: str) -> str:
    """What the ops at the places `within` accepts cost in the document's space, in all uses."""
    if doc.space is None:
        return ""
    from .analysis.bounds import place_costs
    found = place_costs(doc.space, within)
    if found is None:
        return ""

    def shown(pair: tuple[int, int]) -> str:
        return f"{pair[0]:,}" if pair[0] == pair[1] else f"{pair[0]:,} .. {pair[1]:,}"
    return (f"\n\nin this space, {what} (all uses): params {shown(found['params'])}, "
            f"FLOPs {shown(found['flops'])} (multiply-adds per sample)")


def _extent(block) -> tuple[int, int]:
    """The 1-based lines a block's definition spans in its file (up to the next item)."""
    first = block.defn.loc.line
    later = [item.loc.line for item in block.unit.module.items if item.loc.line > first]
    return first, (min(later) - 1 if later else len(block.unit.text.split("\n")))


def _uses_blocks(block) -> bool:
    """Whether a block's body names another block (calls it, or passes it to `repeat`, ...)."""
    from dataclasses import fields, is_dataclass

    from .elaborate import BlockVal
    names = block.unit.names
    stack: list[Any] = [block.defn.body]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Attr) or (isinstance(node, ast.Name) and isinstance(names.get(node.id), BlockVal)):
            return True
        if isinstance(node, tuple):
            stack.extend(node)
        elif is_dataclass(node) and not isinstance(node, Loc):
            stack.extend(getattr(node, f.name) for f in fields(node))
    return False


def _hover_import(doc: Document, target: _Target) -> str:
    from . import import_loader
    try:
        resolved, _ = import_loader(doc.file, None, doc.import_paths)(target.text, Loc(doc.file, target.span.line + 1,
                                                                              target.span.start + 1, doc.text))
    except NasError as err:
        return err.message + (f"\n\nhint: {err.hint}" if err.hint else "")
    return f"imports `{Path(resolved).resolve()}`"


def _hover_op(name: str) -> str:
    from .ops.catalog import spec
    from .ops.listing import signature_text
    record = spec(name)
    text = f"```nas\n{signature_text(name)}\n```\n"
    builder = record.builder if isinstance(record.builder, str) else None
    if builder is not None:
        module, _, attr = builder.partition(":")
        text += f"op `{module}.{attr}`"
    else:
        text += "custom op"
    lacks = record.lacks()
    if lacks and record.custom:
        text += "\n\n" + "\n\n".join(lacks)
    return text


def _hover_block(block) -> str:
    defn = block.defn
    text = f"```nas\n{block_signature(defn)}\n```\n"
    comment = _comment_above(block.unit.text, defn.loc.line)
    if comment:
        text += comment + "\n\n"
    return text + f"defined at `{Path(block.unit.file).name}:{defn.loc.line}`"


def block_signature(defn: ast.BlockDef) -> str:
    """`block SepConv(c_in, c_out, k, stride=1)` and, for a graph block, its tensor inputs."""
    from .syntax.fmt import expr_doc, render
    params = []
    for p in defn.params:
        default = "" if p.default is None else "=" + " ".join(render(expr_doc(p.default), 0, width=10_000))
        params.append(p.name + default)
    head = f"{'shared ' if defn.shared else ''}block {defn.name}({', '.join(params)})"
    if isinstance(defn.body, ast.GraphBody):
        head += "(" + ", ".join(t.name for t in defn.body.inputs) + ")"
    return head


def _comment_above(text: str, line: int) -> str:
    """The `#` comment lines directly above line `line` (1-based) of `text`."""
    lines = text.split("\n")
    out = []
    i = line - 2
    while i >= 0 and lines[i].lstrip().startswith("#"):
        out.append(lines[i].lstrip()[1:].strip())
        i -= 1
    return " ".join(reversed(out))


def _show(value: Any) -> str:
    from .values import literal
    if value is None:
        return "none"
    return literal(json_value(value))


def _resolve(doc: Document, target: _Target) -> tuple[str, Any] | None:
    """What a name means where it is written: ("block", BlockVal), ("op", name),
    ("param", value) for a top-level parameter, or None."""
    from .elaborate import BlockVal, Namespace
    from .ops.catalog import signature
    names = doc.unit.names if doc.unit is not None else {}
    if target.qualifier is not None:
        space = names.get(target.qualifier)
        value = space.unit.names.get(target.text) if isinstance(space, Namespace) else None
        return ("block", value) if isinstance(value, BlockVal) else None
    if _local(doc, target) is not None:
        return None
    value = names.get(target.text)
    if isinstance(value, BlockVal):
        return "block", value
    if isinstance(value, (int, float, str, bool, list, tuple)):
        return "param", value
    if signature(target.text) is not None:
        return "op", target.text
    return None


# --- definitions --------------------------------------------------------------------------------

def definition(doc: Document, line: int, char: int) -> tuple[str, Span] | None:
    """Where the name (or import) at (`line`, `char`) is defined: (file, span of the name)."""
    from .elaborate import BlockVal, Namespace
    target = _at(doc, line, char)
    if target is None or doc.module is None:
        return None
    if target.kind == "import":
        from . import import_loader
        try:
            resolved, _ = import_loader(doc.file, None, doc.import_paths)(
                target.text, Loc(doc.file, line + 1, target.span.start + 1, doc.text))
        except NasError:
            return None
        return str(Path(resolved).resolve()), Span(0, 0, 0)
    local = _local(doc, target)
    if local is not None:
        return doc.file, local
    for item in doc.module.items:
        if isinstance(item, ast.ParamDecl) and item.name == target.text:
            return doc.file, _name_span(doc.lines, item.loc, item.name)
        if isinstance(item, ast.Import) and item.alias == target.text:
            return definition(doc, item.loc.line - 1, item.loc.col + len("import "))
    found = _resolve(doc, target)
    if found is not None and found[0] == "block":
        block: BlockVal = found[1]
        lines = block.unit.text.split("\n")
        return str(Path(block.unit.file).resolve()), _name_span(lines, block.defn.loc, block.defn.name)
    value = (doc.unit.names if doc.unit is not None else {}).get(target.text)
    if isinstance(value, Namespace):
        return str(Path(value.unit.file).resolve()), Span(0, 0, 0)
    return None


def _name_span(lines: list[str], loc: Loc, name: str) -> Span:
    """The span of `name` on `loc`'s line, at or after `loc` (a `param C` starts at `param`)."""
    line = lines[loc.line - 1] if 0 < loc.line <= len(lines) else ""
    found = re.compile(rf"\b{re.escape(name)}\b").search(line, max(loc.col - 1, 0))
    start = found.start() if found else loc.col - 1
    return Span(loc.line - 1, start, start + len(name))


def _enclosing(doc: Document, line: int):
    """The top-level block (or network) whose text holds 0-based `line`, if any."""
    if doc.module is None:
        return None
    holder = None
    for item in doc.module.items:
        if item.loc.line - 1 > line:
            break
        holder = item
    return holder if isinstance(holder, (ast.BlockDef, ast.NetworkDef)) else None


def _local(doc: Document, target: _Target) -> Span | None:
    """A block's parameter, tensor input, loop variable or assigned name, where `target`
    is written inside that block (or the network): the span of its first definition."""
    if target.qualifier is not None:
        return None
    item = _enclosing(doc, target.span.line)
    if item is None:
        return None
    lines = doc.lines
    if isinstance(item, ast.BlockDef):
        for p in item.params:
            if p.name == target.text:
                return _name_span(lines, p.loc, p.name)
    if isinstance(item.body, ast.GraphBody):
        for t in item.body.inputs:
            if t.name == target.text:
                return _name_span(lines, t.loc, t.name)
        for loc, name in _assigned(item.body.stmts):
            if name == target.text:
                return _name_span(lines, loc, name)
    return None


def _assigned(stmts) -> Iterator[tuple[Loc, str]]:
    for stmt in stmts:
        if isinstance(stmt, ast.Assign):
            for name in stmt.targets:
                yield stmt.loc, name
        elif isinstance(stmt, ast.For):
            yield stmt.loc, stmt.var
            yield from _assigned(stmt.body)
        elif isinstance(stmt, ast.If):
            yield from _assigned(stmt.body)


# --- outline and completion ---------------------------------------------------------------------

def symbols(doc: Document) -> list[Symbol]:
    """The document's outline: imports, parameters, blocks (with their parameters) and the
    network (with the names it assigns)."""
    if doc.module is None:
        return []
    lines = doc.lines
    out = []
    for item in doc.module.items:
        head = Span(item.loc.line - 1, 0, len(lines[item.loc.line - 1]))
        if isinstance(item, ast.Import):
            out.append(Symbol(item.alias or item.path, "import", f'import "{item.path}"', head, head))
        elif isinstance(item, ast.ParamDecl):
            out.append(Symbol(item.name, "param", lines[item.loc.line - 1].split("#")[0].strip(), head,
                              _name_span(lines, item.loc, item.name)))
        elif isinstance(item, ast.BlockDef):
            children = tuple(Symbol(p.name, "param", "parameter", _name_span(lines, p.loc, p.name),
                                    _name_span(lines, p.loc, p.name)) for p in item.params)
            out.append(Symbol(item.name, "block", block_signature(item), head,
                              _name_span(lines, item.loc, item.name), children))
        elif isinstance(item, ast.NetworkDef):
            seen: dict[str, Symbol] = {}
            if isinstance(item.body, ast.GraphBody):
                for loc, name in _assigned(item.body.stmts):
                    span = _name_span(lines, loc, name)
                    seen.setdefault(name, Symbol(name, "name", "", span, span))
            out.append(Symbol("network", "network", lines[item.loc.line - 1].strip().rstrip("{").strip(), head,
                              Span(head.line, item.loc.col - 1, item.loc.col - 1 + len("network")),
                              tuple(seen.values())))
    return out


KEYWORDS = ("import", "param", "block", "shared", "network", "return", "require", "forbid", "for", "in", "if",
            "else", "lambda", "choice", "true", "false", "and", "or", "not", "as")


def completions(doc: Document, line: int, char: int) -> list[Completion]:
    """What may be written at (`line`, `char`): after `alias.`, the blocks of that import;
    else the ops (with their signatures), the blocks and parameters in scope, the builtins
    and the keywords."""
    from .elaborate import BUILTINS, BlockVal, Namespace
    from .ops.catalog import known_ops
    names = doc.unit.names if doc.unit is not None else {}
    lines = doc.lines
    before = lines[line][:char] if 0 <= line < len(lines) else ""
    qualified = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\.[A-Za-z0-9_]*$", before)
    if qualified:
        space = names.get(qualified.group(1))
        if not isinstance(space, Namespace):
            return []
        return [_block_completion(name, v) for name, v in sorted(space.unit.names.items()) if isinstance(v, BlockVal)]
    from .ops.listing import signature_text
    out = [Completion(op, "op", signature_text(op), _hover_op(op)) for op in known_ops()]
    for name, value in sorted(names.items()):
        if isinstance(value, BlockVal):
            out.append(_block_completion(name, value))
        elif isinstance(value, Namespace):
            out.append(Completion(name, "module", f"import of {Path(value.unit.file).name}"))
        else:
            out.append(Completion(name, "param", f"param {name} = {_show(value)}"))
    out += [Completion(name, "builtin", "builtin") for name in sorted(BUILTINS)]
    out += [Completion(word, "keyword", "keyword") for word in KEYWORDS]
    return out


def _block_completion(name: str, block) -> Completion:
    return Completion(name, "block", block_signature(block.defn), _comment_above(block.unit.text, block.defn.loc.line))
