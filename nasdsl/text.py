"""Text from files made safe to print: control characters and bidirectional overrides escaped
(`printable`), a long source line cut around a column (`quote_slice`). Errors print with it, so
it sits below `nasdsl.errors` and imports nothing of nasdsl.

Example::

    >>> printable("a\\x1b[31mb")
    'a\\\\x1b[31mb'
    >>> shown, caret = quote_slice("x" * 400, 200)
    >>> len(shown), shown[:6], caret
    (168, '... xx', 85)
"""
from __future__ import annotations

import re

MAX_QUOTE_CHARS = 160          # of a source line, quoted in an error

# C0 and C1 control characters other than tab and newline (a carriage return is accepted as
# part of a line ending), and the bidirectional overrides that make text display out of order.
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
FORBIDDEN_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str, one_line: bool = False) -> str:
    """`text` with control characters and bidirectional overrides written as escapes, so that
    text from a file never drives the terminal it is printed on. Newlines and tabs stay,
    unless `one_line` (then they are escaped too)."""
    pattern = FORBIDDEN_ONE_LINE if one_line else FORBIDDEN
    return pattern.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def quote_slice(line: str, col: int) -> tuple[str, int]:
    """At most `MAX_QUOTE_CHARS` of `line` around column `col` (1-based), made printable, and
    the caret's column in that slice."""
    line = line.replace("\r", "")
    if len(line) <= MAX_QUOTE_CHARS:
        return printable(line), col
    half = MAX_QUOTE_CHARS // 2
    start = max(0, min(col - 1 - half, len(line) - MAX_QUOTE_CHARS))
    piece = line[start:start + MAX_QUOTE_CHARS]
    prefix = "... " if start > 0 else ""
    suffix = " ..." if start + MAX_QUOTE_CHARS < len(line) else ""
    return prefix + printable(piece) + suffix, col - start + len(prefix)


def count_text(n: int, noun: str) -> str:
    """`1 decision`, `2 decisions`."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def size_text(report) -> str:
    """What `check` says of a space's size (a `Space.size_report()`): exact, or an upper bound
    when budgets are not counted."""
    if not report.budgets:
        return count_text(report.size, "architecture")
    if report.budgets_counted:
        return f"{count_text(report.size, 'architecture')} within the budgets, of {report.before_budgets:,}"
    return f"at most {count_text(report.size, 'architecture')}: budgets not counted"
