"""The post-lexer that tells the two uses of `if` apart (a statement or a conditional
expression), shared by the parser built from the grammar and the one loaded from the shipped
tables (`nasdsl.syntax.tables`).

Example::

    >>> _opens_statement("if deep { x = y }", 2), _opens_statement("if deep else z", 2)
    (True, False)
"""
from __future__ import annotations

import re
import threading

from lark import Token


class StatementIf:
    """Post-lexer: tells the two uses of `if` apart. Statements have no separators, so after
    `y = a` the parser alone cannot know whether `if` continues `y = a if t else b` or starts
    `if t { ... }`. The token after the test decides, read ahead in the source: `{` (one that
    does not open a `choice { ... }`) makes the `if` an IF_STMT, `else` a conditional
    expression. Layout plays no part, so any whitespace or line breaks may surround `if`."""

    always_accept = ("IF",)  # `if` is a keyword everywhere, never a name

    def __init__(self):
        self._text = threading.local()

    def source(self, text: str) -> None:
        """The text about to be parsed (the post-lexer reads ahead in it)."""
        self._text.value = text

    def process(self, stream):
        text = getattr(self._text, "value", None)
        for tok in stream:
            if tok.type == "IF" and text is not None and _opens_statement(text, tok.end_pos):
                tok = Token.new_borrow_pos("IF_STMT", tok.value, tok)
            yield tok


_AHEAD = re.compile(r'"[^"\\\n]*"|#[^\n]*|[A-Za-z_][A-Za-z0-9_]*|[()\[\]{}]')


def _opens_statement(text: str, pos: int) -> bool:
    """Whether the `if` ending at `pos` has a `{` body (a statement) rather than an `else`."""
    depth, prev, prev2 = 0, "", ""
    for m in _AHEAD.finditer(text, pos):
        t = m.group()
        if t[0] == "#":
            continue
        if t in ("(", "["):
            depth += 1
        elif t == "{":
            if prev == "choice" or (prev[:1] == '"' and prev2 == "choice"):
                depth += 1
            elif depth == 0:
                return True
            else:
                depth += 1
        elif t in (")", "]", "}"):
            depth -= 1
            if depth < 0:
                return False
        elif t == "else" and depth == 0:
            return False
        prev, prev2 = t, prev
    return False
