"""The bounds every input is held to, and the checks that apply them where input enters.

nasdsl reads files and text from anywhere (papers, shared repositories, colleagues), so each
way in is bounded: source files and architecture files by size, source lines by length,
values by magnitude, expressions over choices by size, architecture text by nesting depth.
Each bound is a constant here and each breach is one `NasError` that says which bound and,
where there is one, the file:line:col.

Example::

    >>> check_source("param C = 16\\n", "<s>")
    >>> check_source("param C = 1\\x1b[2J\\n", "<s>")
    Traceback (most recent call last):
    ...
    nasdsl.errors.NasSyntaxError: <s>:1:12: control character U+001B is not allowed in source text
        param C = 1\\x1b[2J
                   ^
"""
from __future__ import annotations

import math
import os
import stat
from pathlib import Path

from .errors import Loc, NasError, NasSyntaxError
from .text import FORBIDDEN, printable

MAX_SOURCE_BYTES = 1_000_000   # one .nas file (the largest built-in space is under 5 kB)
MAX_LINE_CHARS = 10_000        # one source line
MAX_ARCH_BYTES = 1_000_000     # architecture text or file (`--arch`)
MAX_ARCH_DEPTH = 32            # brackets nested in architecture text (an architecture is flat)
MAX_ARCH_RANGE = 1_000         # `range(a, b)` in a genotype's concat field
MAX_INT = 2 ** 63 - 1          # integers are 64-bit: anything larger is a typo or an attack
MAX_NUMBER_CHARS = 400         # digits in one numeric literal
MAX_EXPR_NODES = 50_000        # an expression over choices, counted as a tree (the largest
                               # built-in one, NAS-Bench-101's edge budget, has about 2,100)
MAX_PATH_SHOWN = 100           # of a path, shown in an error (its start and end)



class ValueTooLarge(NasError, OverflowError):
    """A number beyond `MAX_INT` (or a float that is not finite), or an expression over
    choices beyond `MAX_EXPR_NODES`. Also an `OverflowError`, so arithmetic that already
    turns overflow into a located error does the same with these."""


def check_number(value):
    """`value` itself if it is within bounds (ints up to `MAX_INT` in magnitude, finite floats).

    Example::

        >>> check_number(2 ** 62)
        4611686018427387904
        >>> check_number(2 ** 64)
        Traceback (most recent call last):
        ...
        nasdsl.limits.ValueTooLarge: number too large: 2**64 is beyond the 64-bit range of values
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if -MAX_INT - 1 <= value <= MAX_INT:
            return value
        raise ValueTooLarge(f"number too large: {_magnitude(value)} is beyond the 64-bit range of values")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueTooLarge(f"number out of range: {value} is not a finite number")
    return value


def _magnitude(value: int) -> str:
    bits = abs(value).bit_length()
    if abs(value) == 1 << (bits - 1):
        return f"{'-' if value < 0 else ''}2**{bits - 1}"
    return f"a {len(str(abs(value))) if bits < 10_000 else 'many'}-digit number"


def check_source(text: str, file: str) -> None:
    """Refuse source text over `MAX_SOURCE_BYTES`, with a line over `MAX_LINE_CHARS`, or with
    a control character (NUL, escape sequences) or a bidirectional override: located errors."""
    if len(text) > MAX_SOURCE_BYTES:
        raise NasSyntaxError(f"source file too large: {len(text):,} characters, the limit is {MAX_SOURCE_BYTES:,}",
                             Loc(file, 1, 1))  # not quoted: the text is what is refused
    bad = FORBIDDEN.search(text)
    if bad is not None:
        line, col = _position(text, bad.start())
        raise NasSyntaxError(f"control character U+{ord(bad.group()):04X} is not allowed in source text",
                             Loc(file, line, col, text))
    if len(text) > MAX_LINE_CHARS:
        for number, line in enumerate(text.split("\n"), start=1):
            if len(line) > MAX_LINE_CHARS:
                raise NasSyntaxError(f"line too long: {len(line):,} characters, the limit is {MAX_LINE_CHARS:,}",
                                     Loc(file, number, MAX_LINE_CHARS + 1, text))


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def show_path(path: str | Path) -> str:
    """A path as an error shows it: printable, and at most `MAX_PATH_SHOWN` characters (its
    start and end, which say where and what), however long the path a file or argument held.

    Example::

        >>> shown = show_path("runs/" + "x" * 300 + "/exp.db")
        >>> len(shown), shown[:9], shown[45:54], shown[-10:]
        (99, 'runs/xxxx', 'xx ... xx', 'xxx/exp.db')
    """
    text = printable(str(path), one_line=True)
    if len(text) <= MAX_PATH_SHOWN:
        return text
    half = (MAX_PATH_SHOWN - 5) // 2
    return f"{text[:half]} ... {text[-half:]}"


def os_reason(err: OSError) -> str:
    """Why an operating-system call failed, in words (`File name too long`), without the
    path the exception carries (callers show the path themselves, through `show_path`)."""
    return err.strerror or type(err).__name__


def open_regular(path: str | Path, what: str, loc: Loc | None = None, limit: int | None = None):
    """An open binary handle on the regular file `path`, refused (a `NasError` naming `what`)
    before it is opened if it is anything else (a FIFO that would block for ever, a device,
    a directory), or larger than `limit` bytes. The handle is opened non-blocking and checked
    again, so a FIFO swapped in between the two looks cannot hang the reader."""
    where = loc or Loc("<unknown>", 0, 0)
    shown = show_path(path)
    try:
        info = os.stat(path)
    except OSError as err:
        raise NasError(f"cannot read {what} {shown}: {os_reason(err)}", where) from None
    if not stat.S_ISREG(info.st_mode):
        raise NasError(f"cannot read {what} {shown}: not a regular file", where)
    if limit is not None and info.st_size > limit:
        raise NasError(f"{what} {shown} is too large: {info.st_size:,} bytes, the limit is {limit:,}", where)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as err:
        raise NasError(f"cannot read {what} {shown}: {os_reason(err)}", where) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since the stat above
        os.close(fd)
        raise NasError(f"cannot read {what} {shown}: not a regular file", where)
    return os.fdopen(fd, "rb")


def read_bounded(path: str | Path, limit: int, what: str, loc: Loc | None = None) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; anything else (a device such as
    /dev/zero, a pipe, a directory, a bigger file) is a `NasError` naming `what` it was read as."""
    where = loc or Loc("<unknown>", 0, 0)
    with open_regular(path, what, loc, limit) as handle:
        try:
            data = handle.read(min(os.fstat(handle.fileno()).st_size, limit) + 1)  # read(n) allocates n
        except OSError as err:
            raise NasError(f"cannot read {what} {show_path(path)}: {os_reason(err)}", where) from None
    if len(data) > limit:  # grew since stat
        raise NasError(f"{what} {show_path(path)} is too large: the limit is {limit:,} bytes", where)
    return data


def decode_utf8(data: bytes, what: str, loc: Loc | None = None) -> str:
    """`data` as UTF-8 text, or a `NasError` naming `what` and the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise NasError(f"{printable(what)} is not UTF-8 text (byte {err.start})", loc or Loc("<unknown>", 0, 0)) from None


def nesting_depth(text: str) -> int:
    """The deepest nesting of `[`, `(`, `{` in `text`, outside double- and single-quoted
    strings, found in one pass without recursion."""
    depth = deepest = 0
    quote = None
    escaped = False
    for ch in text:
        if quote is not None:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "[({":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "])}":
            depth -= 1
    return deepest


def available_memory() -> int | None:
    """Bytes of memory the machine can still give a process (MemAvailable on Linux, else the
    physical memory), or None where neither is known."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


BYTES_PER_PARAMETER = 8  # a float32 weight and its float32 gradient


def check_model_fits(params: int, what: str, available: int | None = None) -> None:
    """Refuse to build a model of `params` parameters whose weights and gradients alone need
    more memory than is available (a `NasError` naming `what` and both figures).

    Example::

        >>> check_model_fits(1_000_000, "model", available=10**9)
        >>> check_model_fits(10**12, "model", available=10**9)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        nasdsl.errors.NasError: model has 1,000,000,000,000 parameters: ... need 8.0 TB, more than the 1.0 GB ...
    """
    available = available_memory() if available is None else available
    need = params * BYTES_PER_PARAMETER
    if available is not None and need > available:
        raise NasError(f"{what} has {params:,} parameters: its weights and gradients need {byte_size(need)}, "
                       f"more than the {byte_size(available)} of memory available")


BYTES_PER_ACTIVATION = 8  # a float32 output kept for the backward pass and its float32 gradient


def check_step_fits(params: int, activations: int, batch: int, what: str, available: int | None = None) -> str | None:
    """Why one training step of `what` (weights and gradients, and `activations` output values
    a sample kept for backward, times `batch`) would not fit in the memory available, naming
    the estimate; None where it fits or the memory is unknown.

    Example::

        >>> check_step_fits(1000, 10**6, 64, "the model", available=10**10) is None
        True
        >>> check_step_fits(1000, 10**9, 64, "the model", available=10**10)  # doctest: +ELLIPSIS
        'the model needs about 512.0 GB for one step on a batch of 64: 8,000 bytes of weights and gradients, ...'
    """
    available = available_memory() if available is None else available
    weights = params * BYTES_PER_PARAMETER
    acts = activations * batch * BYTES_PER_ACTIVATION
    if available is None or weights + acts <= available:
        return None
    return (f"{what} needs about {byte_size(weights + acts)} for one step on a batch of {batch}: {byte_size(weights)} of "
            f"weights and gradients, {byte_size(acts)} of activations ({activations:,} values a sample, from the shape "
            f"analysis), more than the {byte_size(available)} of memory available")


def byte_size(n: int) -> str:
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:,} bytes"
