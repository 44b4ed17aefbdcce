"""Text to syntax tree: Lark's LALR(1) parser over `grammar/nas.lark`, plus friendly errors.

Parse failures are matched against small examples of common mistakes (Lark's
`match_examples`) and raised as `NasSyntaxError` with `file:line:col`, the line and a caret.

Example::

    >>> parse('param C = 16', '<s>').items[0].name
    'C'
"""
from __future__ import annotations

from functools import lru_cache

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ..errors import Loc, NasError, NasSyntaxError
from ..limits import MAX_NUMBER_CHARS, ValueTooLarge, check_number, check_source
from . import ast, grammar_path
from .tables import build, load_tables


@lru_cache(maxsize=1)
def _lark() -> Lark:
    """The LALR parser: from the tables shipped next to the grammar (JSON data, see
    `nasdsl.syntax.tables`), or built from the grammar when they do not match it. Nothing is
    cached on disk: no file another user could write is ever loaded."""
    text = grammar_path().read_text()
    return load_tables(text) or build(text)


# Common mistakes, matched by the parser state they fail in; the first matching entry wins.
_EXAMPLES: list[tuple[str, str, list[str]]] = [
    ("'=' where a comparison '==' was meant", "use '==' to compare",
     ["forbid a = 1", "require a = 1", "network(x) { forbid a = 1 }", "network(x) { require a = 1 }",
      "block B(c)(x) { forbid a = 1 }", "network(x) { y = a if b = 1 else c }"]),
    ("a block needs a body: '= layer' or '(inputs) { ... }'", "write `block Name(p) = Layer(...)`",
     ["block A(C)", "block A(C):", "block A(C) x"]),
    ("candidates of a layer choice are written `name: layer`", "e.g. choice { conv: Conv2d(3, 8, 3), skip: Identity() }",
     ["x = choice { Conv2d() }", "x = choice { a Conv2d() }", "x = choice { a: A() b: B() }"]),
    ("a statement must bind a name, return or state a constraint", "statements look like `y = x -> Layer()`",
     ["network(x) { x -> A() }", "network(x) { A() }", "network(x) { 3 }"]),
]


def _friendly(parser: Lark, err: UnexpectedInput) -> tuple[str, str | None]:
    """Match the failure against `_EXAMPLES` by LALR state and offending token type.

    (Lark's own `match_examples` also compares the parser's stack depth, so an example
    fails to match as soon as the real file has more statements before the mistake.)"""
    key = _failure_key(err)
    if key is not None:
        for message, hint, examples in _EXAMPLES:
            for example in examples:
                try:
                    parser.parse(example)
                except UnexpectedInput as ut:
                    if _failure_key(ut) == key:
                        return message, hint
    return _describe(err), None


def _ends_layer(tokens: list, i: int) -> bool:
    """Whether token i ends a layer expression: `)` of a call, `]`, or a name after `->`."""
    t = tokens[i]
    return t.type in ("RPAR", "RSQB") or (t.type == "NAME" and i >= 1 and tokens[i - 1].value == "->")


def _side_by_side(text: str, err: UnexpectedInput) -> tuple[tuple[int, int], str] | None:
    """For a parse failing at `B` in `A(...) B(...)` (a name right after the end of an
    expression on the same line): the position between them and the name B."""
    tok = getattr(err, "token", None)
    if not isinstance(tok, Token) or tok.type == "$END":
        return None
    tokens = []
    try:
        for t in lex(text):
            if t.start_pos is not None and t.start_pos > tok.start_pos:
                break
            if t.type not in ("WS", "COMMENT"):
                tokens.append(t)
    except UnexpectedInput:  # a bad character after the failure: the tokens before it suffice
        pass
    if not tokens:
        return None
    last = len(tokens) - 1
    for j in (last, last - 1):  # B itself fails, or what follows it (`(`, a keyword on the next line)
        if j >= 1 and tokens[j].type == "NAME" and _ends_layer(tokens, j - 1) \
                and tokens[j - 1].end_line == tokens[j].line:
            before = tokens[j - 1]
            return (before.end_line, before.end_column), tokens[j].value
    return None


def _failure_key(err: UnexpectedInput):
    state = getattr(err, "state", None)
    if state is None:
        return None
    token = getattr(err, "token", None)
    return (state.position, getattr(token, "type", None))


def _describe(err: UnexpectedInput) -> str:
    if isinstance(err, UnexpectedEOF):
        return "unexpected end of file" + _expected(_acceptable(err))
    if isinstance(err, UnexpectedToken):
        tok = err.token
        if tok.type == "$END":
            return "unexpected end of file" + _expected(_acceptable(err))
        return f"unexpected {tok.value!r}" + _expected(_acceptable(err))
    if isinstance(err, UnexpectedCharacters):
        return f"unexpected character {err.char!r}"
    return str(err)


_PRETTY = {"RPAR": "')'", "LPAR": "'('", "RSQB": "']'", "LSQB": "'['", "RBRACE": "'}'",
           "LBRACE": "'{'", "COMMA": "','", "EQUAL": "'='", "COLON": "':'", "NAME": "a name",
           "NUMBER": "a number", "STRING": "a string", "__ANON_0": "'->'",
           "IF_STMT": "`if TEST { ... }`"}


def _acceptable(err: UnexpectedInput) -> set:
    """What the parser could take where it failed (Lark's list also holds the post-lexer's
    always-accepted `if`, which is not acceptable everywhere)."""
    expected = set(getattr(err, "expected", ()) or ())
    try:
        table = err.state.parse_conf.parse_table.states[err.state.position]
    except AttributeError:
        return expected
    return {e for e in expected if e in table}


def _expected(expected) -> str:
    names = sorted({_PRETTY.get(e, e.lower() if e.isupper() else e) for e in expected})
    if not names or len(names) > 8:
        return ""
    return "; expected " + ", ".join(names)


def parse(text: str, file: str = "<string>") -> ast.Module:
    """Parse `.nas` source into an `ast.Module`, raising `NasSyntaxError` on bad input
    (including text over the size limits or with control characters: `nasdsl.limits`)."""
    check_source(text, file)
    parser = _lark()
    parser.options.postlex.source(text)
    try:
        tree = parser.parse(text)
    except UnexpectedInput as err:
        line = getattr(err, "line", 0) or 0
        col = getattr(err, "column", 0) or 0
        if line <= 0:  # end of file: point just past the last character
            lines = text.splitlines() or [""]
            line, col = len(lines), len(lines[-1]) + 1
        gap = _side_by_side(text, err)
        if gap is not None:
            (line, col), name = gap
            raise NasSyntaxError(f"'->' is missing before {name!r}: two layers stand side by side",
                                 Loc(file, line, col, text), "chain layers with `A() -> B()`") from None
        message, hint = _friendly(parser, err)
        raise NasSyntaxError(message, Loc(file, line, col, text), hint) from None
    except RecursionError:
        raise NasSyntaxError("expression nested too deeply", Loc(file, 1, 1, text)) from None
    try:
        items = _ToAst(file, text).transform(tree)
    except VisitError as err:
        if isinstance(err.orig_exc, NasError):
            raise err.orig_exc from None
        if isinstance(err.orig_exc, (RecursionError, MemoryError)):
            raise NasSyntaxError("expression nested too deeply", _meta_loc(file, text, err)) from None
        raise NasSyntaxError(f"cannot read this {err.rule}: {err.orig_exc}", _meta_loc(file, text, err)) from None
    except RecursionError:
        raise NasSyntaxError("expression nested too deeply", Loc(file, 1, 1, text)) from None
    comments = tuple(_comments(text))
    return ast.Module(tuple(items), comments, file)


def _meta_loc(file: str, text: str, err: VisitError) -> Loc:
    meta = getattr(err.obj, "meta", None)
    line = getattr(meta, "line", None)
    return Loc(file, line, getattr(meta, "column", 1), text) if line else Loc(file, 1, 1, text)


def lex(text: str):
    """The tokens of `text`, whitespace and comments included (for comments and `fmt`)."""
    parser = _lark()
    parser.options.postlex.source(text)
    return parser.lex(text, dont_ignore=True)


def _comments(text: str):
    """Comments with their positions, found with the grammar's own tokenizer."""
    for tok in lex(text) if "#" in text else ():
        if tok.type == "COMMENT":
            yield (tok.line, tok.column, tok.value)


def _number(text: str) -> int | float:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueTooLarge(f"number too large: a literal of {len(text):,} characters")
    if any(c in text for c in ".eE"):
        value = check_number(float(text))
        return int(value) if value.is_integer() and "." not in text and abs(value) < 2**53 else value
    return check_number(int(text))


@v_args(meta=True)
class _ToAst(Transformer):
    """Builds `ast` nodes from Lark's parse tree, one method per grammar rule."""

    def __init__(self, file: str, text: str):
        super().__init__()
        self.file = file
        self.text = text  # carried by every location, for error messages to quote

    def _loc(self, meta) -> Loc:
        return Loc(self.file, getattr(meta, "line", 0), getattr(meta, "column", 0), self.text)

    def _tok(self, tok: Token) -> Loc:
        return Loc(self.file, tok.line, tok.column, self.text)

    # top level
    def start(self, meta, items):
        return items

    def import_decl(self, meta, ch):
        return ast.Import(ch[0][1:-1], str(ch[1]) if ch[1] is not None else None, self._loc(meta))

    def param_decl(self, meta, ch):
        return ast.ParamDecl(str(ch[0]), ch[1], self._loc(meta))

    def block_def(self, meta, ch):
        shared, name, *rest = ch
        body = rest[-1]
        params = tuple(p for p in rest[:-1] if p is not None)
        return ast.BlockDef(str(name), params, body, shared is not None, self._tok(name))

    def network_def(self, meta, ch):
        return ast.NetworkDef(ch[0], self._loc(meta))

    def param(self, meta, ch):
        return ast.Param(str(ch[0]), ch[1], self._tok(ch[0]))

    def layer_body(self, meta, ch):
        return ast.LayerBody(ch[0], self._loc(meta))

    def expr_body(self, meta, ch):
        params, expr = ch
        return ast.GraphBody(params, (ast.Return((expr,), expr.loc),), self._loc(meta), short=True)

    def graph_body(self, meta, ch):
        return ast.GraphBody(ch[0], tuple(ch[1:]), self._loc(meta))

    def tensor_params(self, meta, ch):
        return tuple(p for p in ch if p is not None)

    def tensor_param(self, meta, ch):
        return ast.TensorParam(str(ch[0]), ch[1], self._tok(ch[0]))

    # statements
    def assign(self, meta, ch):
        names = tuple(str(c) for c in ch if isinstance(c, Token))
        values = tuple(c for c in ch if not isinstance(c, Token))
        return ast.Assign(names, values, self._loc(meta))

    def return_stmt(self, meta, ch):
        return ast.Return(tuple(ch), self._loc(meta))

    def constraint(self, meta, ch):
        kind, expr, message = ch
        return ast.Constraint(str(kind), expr, message[1:-1] if message is not None else None, self._loc(meta))

    def for_stmt(self, meta, ch):
        return ast.For(str(ch[0]), ch[1], tuple(ch[2:]), self._loc(meta))

    def if_stmt(self, meta, ch):
        return ast.If(ch[1], tuple(ch[2:]), self._tok(ch[0]))

    # expressions
    def lambda_expr(self, meta, ch):
        return ast.Lambda(tuple(str(c) for c in ch[:-1] if c is not None), ch[-1], self._loc(meta))

    def cond(self, meta, ch):
        return ast.Cond(ch[0], ch[1], ch[2], self._loc(meta))

    def pipe(self, meta, ch):
        return ast.Pipe(ch[0], ch[1], ch[1].loc)

    def or_(self, meta, ch):
        return ast.BinOp("or", ch[0], ch[1], self._loc(meta))

    def and_(self, meta, ch):
        return ast.BinOp("and", ch[0], ch[1], self._loc(meta))

    def not_(self, meta, ch):
        return ast.UnaryOp("not", ch[0], self._loc(meta))

    def compare(self, meta, ch):
        return ast.BinOp(str(ch[1]), ch[0], ch[2], self._tok(ch[1]))

    def binop(self, meta, ch):
        return ast.BinOp(str(ch[1]), ch[0], ch[2], self._tok(ch[1]))

    def neg(self, meta, ch):
        return ast.UnaryOp("-", ch[0], self._loc(meta))

    def pow(self, meta, ch):
        return ast.BinOp("**", ch[0], ch[2], self._tok(ch[1]))

    def call(self, meta, ch):
        func, *args = ch
        args = [a for a in args if a is not None]
        pos = tuple(a for a in args if not isinstance(a, ast.Keyword))
        kws = tuple(a for a in args if isinstance(a, ast.Keyword))
        seen_keyword = False
        for a in args:
            if isinstance(a, ast.Keyword):
                seen_keyword = True
            elif seen_keyword:
                raise NasSyntaxError("positional argument after a keyword argument", a.loc)
        return ast.Call(func, pos, kws, self._loc(meta))

    def kwarg(self, meta, ch):
        return ast.Keyword(str(ch[0]), ch[1], self._tok(ch[0]))

    def index(self, meta, ch):
        return ast.Index(ch[0], ch[1], self._loc(meta))

    def slice(self, meta, ch):
        return ast.Slice(ch[0], ch[1], ch[2], self._loc(meta))

    def attr(self, meta, ch):
        return ast.Attr(ch[0], str(ch[1]), self._tok(ch[1]))

    def number(self, meta, ch):
        try:
            value = _number(str(ch[0]))
        except ValueTooLarge as err:
            raise NasSyntaxError(err.message, self._loc(meta)) from None
        return ast.Number(value, str(ch[0]), self._loc(meta))

    def string(self, meta, ch):
        return ast.String(ch[0][1:-1], self._loc(meta))

    def true(self, meta, ch):
        return ast.Bool(True, self._loc(meta))

    def false(self, meta, ch):
        return ast.Bool(False, self._loc(meta))

    def name(self, meta, ch):
        return ast.Name(str(ch[0]), self._loc(meta))

    def tuple(self, meta, ch):
        return ast.TupleLit(tuple(c for c in ch if c is not None), self._loc(meta))

    def list_lit(self, meta, ch):
        return ast.ListLit(tuple(c for c in ch if c is not None), self._loc(meta))

    def value_choice(self, meta, ch):
        label = ch[0][1:-1] if ch and isinstance(ch[0], Token) else None
        opts = tuple(c for c in ch if not isinstance(c, Token) and c is not None)
        return ast.ValueChoice(opts, label, self._loc(meta))

    def layer_choice(self, meta, ch):
        label = ch[0][1:-1] if ch and isinstance(ch[0], Token) else None
        cands = tuple(c for c in ch if isinstance(c, ast.Candidate))
        return ast.LayerChoice(cands, label, self._loc(meta))

    def candidate(self, meta, ch):
        return ast.Candidate(str(ch[0]), ch[1], self._tok(ch[0]))
