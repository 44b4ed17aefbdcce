"""Errors a user can cause, each pointing at a place in a `.nas` file.

Every user-facing failure is a `NasError`: it carries a `Loc` and renders as
``file:line:col: message``, the source line, a caret under the column and, where the
mistake is a common one, a hint. The command line prints that and exits 1, so no user
error ever surfaces as a Python traceback.

Example::

    try:
        nasdsl.loads("network = Conv2d(")
    except nasdsl.NasError as err:
        print(err)   # <string>:1:18: unexpected end of file ...
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .text import printable, quote_slice


@dataclass(frozen=True, slots=True)
class Loc:
    """A position in a source file (1-based line and column). `text` is the file's whole
    source as it was compiled (one string shared by every location in it), so an error can
    quote its line however many spaces share the file name; it takes no part in equality.
    """

    file: str
    line: int
    col: int
    text: str | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


UNKNOWN = Loc("<unknown>", 0, 0)


def source_line(loc: Loc) -> str | None:
    """The line of its source that `loc` points at, if it carries the source."""
    text = loc.text
    if text is None or loc.line < 1:
        return None
    lines = text.split("\n")  # as the parser counts lines
    return lines[loc.line - 1] if loc.line <= len(lines) else None


class NasError(Exception):
    """Base of every error a `.nas` file or an architecture can cause."""

    def __init__(self, message: str, loc: Loc = UNKNOWN, hint: str | None = None,
                 related: tuple[tuple[str, Loc], ...] = ()):
        self.message = message
        self.loc = loc
        self.hint = hint
        self.related = related
        super().__init__(self.render())

    def render(self) -> str:
        """The message, located and quoted; text from files (names, labels, strings) has its
        control characters escaped, so printing an error never drives the terminal."""
        parts = [printable(f"{self.loc}: {self.message}" if self.loc != UNKNOWN else self.message)]
        parts += _quote(self.loc)
        for note, where in self.related:
            parts.append(printable(f"{where}: note: {note}"))
            parts += _quote(where)
        if self.hint:
            parts.append(printable(f"hint: {self.hint}"))
        return "\n".join(parts)


def _quote(loc: Loc) -> list[str]:
    """The source line (a bounded slice of it, control characters escaped) and a caret."""
    line = source_line(loc)
    if line is None:
        return []
    shown, col = quote_slice(line, loc.col)
    return ["    " + shown, "    " + " " * max(col - 1, 0) + "^"]


class NasSyntaxError(NasError):
    """The text does not follow the grammar."""


class UndefinedNameError(NasError):
    """A name (block, op, tensor, parameter) is not defined where it is used."""


class NasTypeError(NasError):
    """A value of the wrong kind: a layer where a number is expected, and so on."""


class ArityError(NasError):
    """A call with too many or too few arguments, or an unknown keyword."""


class DuplicateError(NasError):
    """A name given twice: candidate, parameter, label with a different domain."""


class ImportCycleError(NasError):
    """A file imports itself, directly or through others."""


class EmptySpaceError(NasError):
    """Constraints rule out every architecture."""


class ShapeError(NasError):
    """Tensor shapes that cannot agree (candidates of a choice, `+`, concatenation)."""


class NasWarning(NasError):
    """Not an error: something that compiles but is likely a mistake (a choice with one
    candidate). `nasdsl check` prints it as `file:line:col: warning: ...` and still succeeds."""

    def render(self) -> str:
        text = super().render()
        prefix = f"{self.loc}: " if self.loc != UNKNOWN else ""
        return prefix + "warning: " + text[len(prefix):]


class ArchitectureError(NasError):
    """An architecture that is not in the space: unknown label, value outside the domain,
    a missing decision, or a decision given that is inactive."""


def internal_error_message(err: BaseException, argv) -> str:
    """What the user sees when nasdsl fails on something that is not a user error (the command
    line's exit 70, the language server's diagnostic)."""
    from .version import __version__
    what = printable(f"{type(err).__name__}: {err}", one_line=True)
    if len(what) > 500:
        what = what[:500] + " ..."
    return (f"nasdsl: internal error: {what}\n"
            f"This is a bug in nasdsl {__version__}, not a problem with your input. Please report it with the "
            f"command line (nasdsl {printable(' '.join(argv), one_line=True)[:300]}) and the input files; run it again with "
            f"NASDSL_DEBUG=1 to print the traceback.")
