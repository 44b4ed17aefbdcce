"""Robustness: whatever text arrives, nasdsl answers with a `NasError`, and answers quickly.

The command line promises that no user error prints a Python traceback, which holds only if
every failure the compiler can meet is a `NasError`. So random text, token soups built from
the grammar's own vocabulary, and mutants of valid programs (generated ones and the
built-in spaces) are compiled, and when they compile their space is counted, sampled and
validated; anything escaping that is not a `NasError` (LarkError, KeyError, TypeError,
RecursionError, ...) fails the test, as does any input taking a second or more. Hand-picked
hostile inputs (deep nesting, huge ranges and powers, recursion, exponential expansion, bad
imports, constraints that cannot be evaluated) follow at the end.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import nasdsl  # noqa: E402
from nasdsl import NasError  # noqa: E402
from nasdsl.elaborate import BUILTINS  # noqa: E402
from nasdsl.ops.catalog import known_ops  # noqa: E402
from nasdsl.syntax.parser import grammar_path  # noqa: E402
from nasdsl.testing import programs  # noqa: E402

LIMIT_S = 1.0   # CPU seconds: the robustness bound per input (not a benchmark: typical inputs take milliseconds)
WORK_S = 2.0    # CPU seconds for inputs built to expand right up to a work cap, and hostile mutants
HARD_S = 10.0   # wall seconds: past this an input is abandoned, so a hang fails the test instead of stalling it

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
FAST = settings(max_examples=50, deadline=None, suppress_health_check=_HEALTH)
SLOW = settings(max_examples=1000, deadline=None, suppress_health_check=_HEALTH)


class Abandoned(BaseException):
    """Raised into a compile that passed HARD_S (a BaseException, so no `except Exception`
    inside nasdsl can swallow it)."""


@contextmanager
def hard_limit(seconds: float):
    """Interrupt the block after `seconds` (SIGALRM; a no-op off the main thread)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def interrupt(signum, frame):
        raise Abandoned(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def exercise(text: str, params: dict | None = None, limit: float = LIMIT_S, hard: float = HARD_S) -> str:
    """Compile `text` and, if it compiles, count, sample and validate its space. Returns
    "ok" or "error"; raises AssertionError for anything else and for taking `limit` seconds of
    CPU time or more (the work an input causes; wall time on a shared machine also counts
    other processes), or `hard` seconds of wall time (then the input is abandoned)."""
    start = time.process_time()
    outcome = "ok"
    try:
        with hard_limit(hard):
            try:
                space = nasdsl.loads(text, params=params)
                space.size()
                arch = space.sample(0)
                space.validate(arch)
                space.fingerprint()
            except NasError:
                outcome = "error"
    except Abandoned:
        # raised below, outside this block: the abandoned traceback (and the huge half-built
        # structures its frames hold) must not stay alive as the failure's __context__
        outcome = "abandoned"
    except Exception as err:  # noqa: BLE001 - the point: nothing else may escape
        raise AssertionError(f"{type(err).__name__} escaped instead of a NasError: {err!r}\n"
                             f"input: {_show(text)}" + (f"\nparams: {params!r}" if params else "")) from err
    if outcome == "abandoned":
        raise AssertionError(f"input not handled within {hard} s: {_show(text)}")
    elapsed = time.process_time() - start
    assert elapsed < limit, f"input took {elapsed:.2f} s of CPU time: {_show(text)}"
    return outcome


def _show(text: str) -> str:
    return repr(text if len(text) <= 300 else text[:150] + " ... " + text[-150:])


@pytest.fixture(scope="module", autouse=True)
def warm_parser():
    """Build the Lark parser once, outside any timed input."""
    nasdsl.loads("network(x: [4]) = x -> ReLU()")


# --- vocabulary -----------------------------------------------------------------------------

@lru_cache(maxsize=1)
def vocabulary() -> tuple[str, ...]:
    """Every literal of the grammar, the callable names, and typical names, numbers, strings."""
    literals = set(re.findall(r'"([^"\\]+)"', grammar_path().read_text()))
    names = set(known_ops()) | set(BUILTINS) | {"x", "y", "c", "C", "i", "h", "out", "n", "reduce",
                                                "label", "dim", "depth", "block", "nodes", "input", "op"}
    numbers = {"0", "1", "2", "3", "16", "2.5", "1e3", "0.1", "100000", "10"}
    strings = {'"sum"', '"any"', '"all"', '"loose_end"', '"concat"', '"none"', '"L"', '""', '"a.b"',
               '"nasbench201.nas"', '"darts.nas"', '"missing.nas"'}
    return tuple(sorted(literals | names | numbers | strings | {"# c\n", "\n"}))


TOKENS = st.sampled_from(vocabulary())
_TOKEN = re.compile(r'"[^"\n]*"|#[^\n]*|\d+\.\d*(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?|[A-Za-z_]\w*'
                    r"|->|\*\*|//|==|!=|<=|>=|\s+|.", re.S)
CHARS = "(){}[],=:-><\"#\n .*/%+!_0123456789aZ"


# Library spaces whose exact count or shape check legitimately takes a second or more
# (NAS-Bench-101's constrained cells; MobileNetV3's 67 decisions of nested channel rounding):
# the fuzz tests hold every input to a time limit of a second or two.
SLOW_BY_DESIGN = {"nasbench101", "mobilenetv3"}


@lru_cache(maxsize=1)
def library_texts() -> tuple[str, ...]:
    """The built-in spaces, their integer parameters set to 2: a mutant of a legitimately big
    network (`layers = 20` -> `layers = 200`) is slow for a good reason, not a robustness bug."""
    texts = []
    for name in nasdsl.builtin_spaces():  # not the op libraries: they declare no network
        if name in SLOW_BY_DESIGN:
            continue
        path = nasdsl.spaces_dir() / f"{name}.nas"
        small = re.sub(r"(?m)^(param \w+ = )\d+(?![\d.eE])", r"\g<1>2", path.read_text())
        # an input resolution of 2 would not survive NAS-Bench-201's two 2x2-pooling reductions
        texts.append(re.sub(r"(?m)^(param resolution = )2\b", r"\g<1>8", small))
    return tuple(texts)


# --- strategies of hostile text -------------------------------------------------------------

def soups(sep: str) -> st.SearchStrategy[str]:
    return st.lists(TOKENS, max_size=60).map(sep.join)


SKELETON = "network(x: [4, 8, 8]) {{\n  y = x -> {}\n  return y\n}}\n"


def in_skeleton(text: str) -> str:
    """A soup placed where a layer belongs, to reach past the parser into the elaborator."""
    return SKELETON.format(text)


@st.composite
def mutants(draw, base: st.SearchStrategy[str]) -> str:
    """A valid program with one to four character- or token-level edits."""
    text = draw(base)
    for _ in range(draw(st.integers(1, 4))):
        text = draw(st.sampled_from((_char_edit, _token_edit)))(draw, text)
    return text


def _char_edit(draw, text: str) -> str:
    if not text:
        return draw(st.text(CHARS, max_size=3))
    i = draw(st.integers(0, len(text) - 1))
    j = min(len(text), i + draw(st.integers(1, 6)))
    kind = draw(st.sampled_from(("delete", "duplicate", "swap", "insert")))
    if kind == "delete":
        return text[:i] + text[j:]
    if kind == "duplicate":
        return text[:j] + text[i:j] + text[j:]
    if kind == "swap" and i + 1 < len(text):
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    return text[:i] + draw(st.sampled_from(CHARS)) + text[i:]


def _token_edit(draw, text: str) -> str:
    tokens = _TOKEN.findall(text)
    if not tokens:
        return draw(TOKENS)
    i = draw(st.integers(0, len(tokens) - 1))
    j = draw(st.integers(0, len(tokens) - 1))
    kind = draw(st.sampled_from(("delete", "duplicate", "swap", "insert", "replace")))
    if kind == "delete":
        del tokens[i]
    elif kind == "duplicate":
        tokens.insert(i, tokens[i])
    elif kind == "swap":
        tokens[i], tokens[j] = tokens[j], tokens[i]
    elif kind == "insert":
        tokens.insert(i, " " + draw(TOKENS) + " ")
    else:
        tokens[i] = " " + draw(TOKENS) + " "
    return "".join(tokens)


GENERATED = programs(max_size=2000)
VALID = st.one_of(GENERATED, st.sampled_from(library_texts()))


# --- the fuzz tests -------------------------------------------------------------------------

@FAST
@given(st.text(max_size=400))
def test_random_text_raises_only_nas_error(text):
    exercise(text)


@FAST
@given(st.one_of(soups(" "), soups(""), soups("\n")))
def test_token_soup_raises_only_nas_error(text):
    exercise(text)


@FAST
@given(soups(" ").map(in_skeleton))
def test_token_soup_inside_a_network_raises_only_nas_error(text):
    exercise(text)


@FAST
@given(mutants(GENERATED))
def test_mutated_generated_programs_raise_only_nas_error(text):
    note(text)
    exercise(text)


@FAST
@given(mutants(st.sampled_from(library_texts())))
def test_mutated_builtin_spaces_raise_only_nas_error(text):
    note(text)
    exercise(text)


@FAST
@given(VALID)
def test_valid_programs_are_handled_quickly(text):
    """The mutation bases themselves compile, within the same bound."""
    assert exercise(text) == "ok"


@pytest.mark.slow
@SLOW
@given(st.one_of(st.text(max_size=2000), soups(" "), soups(" ").map(in_skeleton)))
def test_random_text_and_soups_raise_only_nas_error_many(text):
    exercise(text)


@pytest.mark.slow
@SLOW
@given(mutants(VALID))
def test_mutated_programs_raise_only_nas_error_many(text):
    note(text)
    exercise(text)


# --- expressions over choices ---------------------------------------------------------------
# Constant expressions are folded (and checked) by the compiler; expressions over choices are
# evaluated later, for every value of their choices, when a constraint is counted or a
# repeat depth is resolved. These programs put arbitrary such expressions there.

CHOICES = ('  a = choice[0, 1, 3]\n  s = choice["p", "q"]\n  f = choice[0.5, 2.0]\n'
           '  b = choice[true, false]\n')
EXPR_ATOMS = ("a", "a", "s", "f", "b", "0", "1", "3", "2.5", '"p"', "true", "1e308", "-1", "[1, 2]")
BINARY_OPS = ("+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "and", "or")
FUNCS = ("max", "min", "abs", "int", "float", "round", "len")


@st.composite
def expressions(draw, depth: int = 3) -> str:
    """A random, possibly ill-typed expression over the choices `a`, `s`, `f` and `b`."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(EXPR_ATOMS))
    kind = draw(st.sampled_from(("binary", "binary", "unary", "call", "if")))
    sub = expressions(depth - 1)
    if kind == "binary":
        return f"({draw(sub)} {draw(st.sampled_from(BINARY_OPS))} {draw(sub)})"
    if kind == "unary":
        return f"{draw(st.sampled_from(('-', 'not ')))}({draw(sub)})"
    if kind == "call":
        name = draw(st.sampled_from(FUNCS))
        args = [draw(sub) for _ in range(2 if name in ("max", "min") or draw(st.booleans()) and name == "round" else 1)]
        return f"{name}({', '.join(args)})"
    return f"({draw(sub)} if {draw(sub)} else {draw(sub)})"


USES = (
    "  require {e}\n  y = x -> ReLU()",
    "  forbid {e}, \"message\"\n  y = x -> ReLU()",
    "  y = x -> repeat({e}, lambda i: ReLU())",
    "  k = {e}\n  require k == k\n  y = x -> Dropout(0.5)",
    "  y = x -> Conv2d(4, 4, {e}, padding=1)",
    "  y = x -> choice {{ p: ReLU(), q: Identity() }}\n  require (y if {e} else a) != 7",
)


@st.composite
def programs_with_expressions(draw) -> str:
    use = draw(st.sampled_from(USES)).format(e=draw(expressions()))
    return NET.format(CHOICES + use)


@FAST
@given(programs_with_expressions())
def test_expressions_over_choices_raise_only_nas_error(text):
    note(text)
    exercise(text)


@pytest.mark.slow
@SLOW
@given(programs_with_expressions())
def test_expressions_over_choices_raise_only_nas_error_many(text):
    exercise(text)


# --- parameter overrides (`--set NAME=VALUE`) ------------------------------------------------

OVERRIDES = st.one_of(st.integers(-3, 8), st.sampled_from((10 ** 19, -(2 ** 63), 10 ** 400)),
                      st.floats(), st.text(max_size=5), st.booleans(), st.none(),
                      st.lists(st.integers(-2, 4), max_size=3))


@st.composite
def programs_with_overrides(draw) -> tuple[str, dict]:
    text = draw(st.one_of(GENERATED, st.sampled_from(library_texts())))
    names = sorted(set(re.findall(r"(?m)^param (\w+)", text))) + ["not_a_param"]
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
    return text, {name: draw(OVERRIDES) for name in chosen}


@FAST
@given(programs_with_overrides())
def test_parameter_overrides_raise_only_nas_error(case):
    text, params = case
    exercise(text, params)


# --- hostile inputs -------------------------------------------------------------------------

NET = "network(x: [4, 8, 8]) {{\n{}\n  return y\n}}\n"
LAYER_NET = "network(x: [4, 8, 8]) = x -> {}\n"

MUST_RAISE = {
    "open parens": "(" * 5000,
    "minus signs": "-" * 5000 + "1",
    "minus signs in a param": "param p = " + "-" * 5000 + "1\n" + LAYER_NET.format("ReLU()"),
    "nots in a param": "param p = " + "not " * 5000 + "true\n" + LAYER_NET.format("ReLU()"),
    "nested lists in a param": "param p = " + "[" * 3000 + "]" * 3000 + "\n" + LAYER_NET.format("ReLU()"),
    "huge range": "param p = range(10**9)\n" + LAYER_NET.format("ReLU()"),
    "range past a machine integer": "param p = range(10**19)\n" + LAYER_NET.format("ReLU()"),
    "range with a huge step": "param p = range(0, 10**30, 10**10)\n" + LAYER_NET.format("ReLU()"),
    "huge range in a loop": NET.format("  y = x\n  for i in range(10**9) { y = y -> ReLU() }"),
    "huge power": "param p = 2 ** 10 ** 9\n" + LAYER_NET.format("ReLU()"),
    "huge float power": "param p = 2.0 ** 5000\n" + LAYER_NET.format("ReLU()"),
    "huge repeat": LAYER_NET.format("repeat(10**9, lambda i: ReLU())"),
    "recursive block": "block A(c) = A(c)\n" + LAYER_NET.format("A(4)"),
    "mutually recursive blocks": "block A(c) = B(c)\nblock B(c) = A(c)\n" + LAYER_NET.format("A(4)"),
    "recursive graph block": "block A(c)(x) { y = x -> A(c)  return y }\n" + LAYER_NET.format("A(4)"),
    "recursion through repeat": "block A(c) = repeat(1, lambda i: A(c))\n" + LAYER_NET.format("A(4)"),
    "recursion with growing arguments": "block A(c) = A(c + 1)\n" + LAYER_NET.format("A(4)"),
    "recursive lambda": NET.format("  f = lambda g: g(g)\n  z = f(f)\n  y = x -> ReLU()"),
    "import of a missing file": 'import "no_such_file.nas"\n' + LAYER_NET.format("ReLU()"),
    "import of a directory": 'import "."\n' + LAYER_NET.format("ReLU()"),
    "pick over too many tensors": NET.format("  y = pick(" + ", ".join(["x"] * 25) + ', n="any")'),
    # constraints and repeat depths are evaluated over every value of their choices
    "constraint dividing by zero": NET.format("  k = choice[1, 3]\n  require 6 // (k - 3) > 0\n  y = x -> ReLU()"),
    "constraint with string arithmetic": NET.format('  s = choice["a", "b"]\n  require s - 1 > 0\n  y = x -> ReLU()'),
    "constraint with a huge power": NET.format("  k = choice[2, 3]\n  require k ** 100 > 0\n  y = x -> ReLU()"),
    "constraint converting a string": NET.format('  s = choice["a", "b"]\n  require int(s) > 0\n  y = x -> ReLU()'),
    "constraint taking len of a number": NET.format("  k = choice[2, 3]\n  require len(k) > 0\n  y = x -> ReLU()"),
    "constraint comparing string and number": NET.format('  s = choice["a", "b"]\n  require s < 3\n  y = x -> ReLU()'),
    "constraint with max of string and number": NET.format('  s = choice["a", "b"]\n  require max(s, 1) > 0\n  y = x -> ReLU()'),
    "constraint overflowing a float to int": NET.format("  k = choice[1e308 * 10, 1.0]\n  require int(k) > 0\n  y = x -> ReLU()"),
    "repeat depth dividing by zero": NET.format("  d = choice[1, 2]\n  y = x -> repeat(6 // (d - 1), lambda i: ReLU())"),
    "repeat depth with a huge power": NET.format("  d = choice[2, 3]\n  y = x -> repeat(d ** 100, lambda i: ReLU())"),
}


@pytest.mark.parametrize("text", MUST_RAISE.values(), ids=MUST_RAISE.keys())
def test_hostile_input_raises_nas_error_quickly(text):
    assert exercise(text) == "error"


def test_import_of_a_file_that_is_not_utf8_raises_nas_error(tmp_path):
    (tmp_path / "binary.nas").write_bytes(b"\xff\xfe\x00block \x80")
    (tmp_path / "root.nas").write_text('import "binary.nas"\n' + LAYER_NET.format("ReLU()"))
    with pytest.raises(NasError, match="binary.nas is not UTF-8 text \\(byte 0\\)"):
        nasdsl.load(tmp_path / "root.nas")


def test_import_cycle_raises_nas_error(tmp_path):
    (tmp_path / "a.nas").write_text('import "b.nas"\n')
    (tmp_path / "b.nas").write_text('import "a.nas"\n')
    (tmp_path / "root.nas").write_text('import "a.nas"\n' + LAYER_NET.format("ReLU()"))
    with pytest.raises(NasError, match="import cycle"):
        nasdsl.load(tmp_path / "root.nas")


# Valid (or nearly valid) programs whose elaboration or counting grows exponentially or as a
# product of huge domains. Compiling them may succeed or raise a NasError ("too large"), but
# must not run for minutes.
BLOWUPS = {
    "blocks doubling 30 times": "block B0(c) = ReLU()\n" + "".join(
        f"block B{i}(c) = B{i - 1}(c) -> B{i - 1}(c)\n" for i in range(1, 31)) + LAYER_NET.format("B30(4)"),
    "nested loops of 10**5": NET.format("  y = x\n  for i in range(100000) { for j in range(100000) { y = y -> ReLU() } }"),
    "nested repeats of 1000": LAYER_NET.format("repeat(1000, lambda i: repeat(1000, lambda j: ReLU()))"),
    "repeat depth over two 10**5 choices": LAYER_NET.format(
        "repeat(choice[range(100000)] + choice[range(100000)], lambda i: ReLU())"),
    "constraint over two 10**5 choices": NET.format(
        "  a = choice[range(100000)]\n  b = choice[range(100000)]\n  require a != b\n  y = x -> ReLU()"),
    "largest cell the limits allow": LAYER_NET.format(
        "cell(lambda input: choice { a: ReLU(), b: Identity() }, nodes=64, ops_per_node=64)"),
    "deeply nested layer choices": LAYER_NET.format("choice { a: " * 500 + "ReLU()" + " }" * 500),
    "long pipe chain": "network(x: [4]) = x" + " -> ReLU()" * 1000,
    "nested parens in a param": "param p = " + "(" * 1000 + "1" + ")" * 1000 + "\n" + LAYER_NET.format("ReLU()"),
}


@pytest.mark.parametrize("text", BLOWUPS.values(), ids=BLOWUPS.keys())
def test_explosive_program_is_refused_or_compiled_quickly(text):
    # These expand right up to the elaborator's work cap (45,000 steps) before being refused,
    # so they get WORK_S rather than the 1 s bound of ordinary fuzz inputs.
    assert exercise(text, limit=WORK_S) in ("ok", "error")


# --- the probe's hostile mutation classes (issue 11) -----------------------------------------
# Each class is an edit a hostile file can make to a valid program: hostile numbers, deep
# nesting, control characters (NUL, terminal escapes), invalid UTF-8, long lines and
# self-doubling expressions; plus oversized `--arch` inputs. Every input must end in "ok" or a
# NasError within the time bound and, through the API, under MEMORY_LIMIT of Python
# allocations (tracemalloc); through the command line (a fresh process per input) under
# CLI_MEMORY of peak RSS and CLI_TIME seconds, with exit 0 or 1 and no traceback.

MEMORY_LIMIT = 256 * 2**20
CLI_MEMORY = 1024 * 2**20
CLI_TIME = 30

HOSTILE_NUMBERS = ("1" * 4301, "1e999", "-1e999", "10 ** 64", "(2 ** 64) ** 32", "9" * 30, "1e-999", "0.0",
                   "-0", "2 ** 63", "-(2 ** 63)", "1e308 * 10", "3 // 0")
CONTROLS = ("\x00", "\x1b[2J", "\x1b]0;title\x07", "\u202e", "\x7f", "\x0c", "\r", "\t")


def _nested(draw) -> str:
    n = draw(st.sampled_from((50, 300, 1000, 3000)))
    kind = draw(st.sampled_from(("parens", "minus", "not", "if", "list", "pow", "choice", "call")))
    return {"parens": "(" * n + "1" + ")" * n, "minus": "-" * n + "1", "not": "not " * n + "true",
            "if": "1 if true else " * n + "1", "list": "[" * n + "]" * n, "pow": "2 ** " * n + "1",
            "choice": "choice[" * n + "1" + "]" * n, "call": "max(" * n + "1" + ", 1)" * n}[kind]


def _doubling(draw) -> str:
    n = draw(st.integers(10, 60))
    use = draw(st.sampled_from(("require k < 100\n  y = x -> ReLU()", "y = x -> repeat(k, lambda i: ReLU())",
                                "y = x -> Dropout(k)", "y = x -> Conv2d(4, 4, k, padding=k // 2)",
                                "y = x -> Linear(8, k)")))
    return NET.format(f"  k = choice[1, 2]\n  for i in range({n}) {{ k = k + k }}\n  {use}")


@st.composite
def hostile_mutants(draw) -> str:
    """A valid program with one hostile edit at a random token, or a self-doubling program."""
    kind = draw(st.sampled_from(("number", "nesting", "control", "long line", "doubling")))
    if kind == "doubling":
        return _doubling(draw)
    text = draw(VALID)
    tokens = _TOKEN.findall(text) or [""]
    i = draw(st.integers(0, len(tokens) - 1))
    if kind == "number":
        piece = draw(st.sampled_from(HOSTILE_NUMBERS))
    elif kind == "nesting":
        piece = _nested(draw)
    elif kind == "control":
        piece = draw(st.sampled_from(CONTROLS))
    else:
        piece = draw(st.sampled_from(("1 + " * 5000 + "1", "x" * 20_000, "# " + "c" * 12_000, '"' + "s" * 15_000 + '"')))
    replace = draw(st.booleans()) and kind != "control"
    tokens[i:i + replace] = [f" {piece} " if kind != "control" else piece]
    return "".join(tokens)


def exercise_bounded(text: str, limit: float = WORK_S) -> str:
    """`exercise`, then the same input again under tracemalloc (which slows Python several
    times, so that pass has a looser time bound): also fails an input whose allocations peak
    past MEMORY_LIMIT."""
    import tracemalloc
    outcome = exercise(text, limit=limit)
    tracemalloc.start()
    try:
        assert exercise(text, limit=8 * limit, hard=8 * limit) == outcome
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, f"input allocated {peak / 2**20:.0f} MB at its peak: {_show(text)}"
    return outcome


@FAST
@given(hostile_mutants())
def test_hostile_mutants_are_bounded_through_the_api(text):
    note(_show(text))
    exercise_bounded(text)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=_HEALTH)
@given(hostile_mutants())
def test_hostile_mutants_are_bounded_through_the_api_many(text):
    exercise_bounded(text)


@FAST
@given(hostile_mutants(), st.sampled_from(("utf8", "bytes")))
def test_hostile_and_invalid_utf8_files_are_bounded_through_load(tmp_path_factory, text, how):
    """The same mutants as files, half of them with invalid UTF-8 spliced in."""
    data = text.encode("utf-8", "surrogatepass")
    if how == "bytes":
        cut = len(data) // 2
        data = data[:cut] + b"\xff\xfe\xc3\x28\x80" + data[cut:]
    path = tmp_path_factory.mktemp("hostile") / "m.nas"
    path.write_bytes(data)
    start = time.perf_counter()
    try:
        with hard_limit(HARD_S):
            nasdsl.load(path)
    except NasError as err:
        if how == "bytes":
            assert "is not UTF-8 text" in str(err)
    assert time.perf_counter() - start < HARD_S


# Runs `python -m nasdsl ARGV` and, as it exits, writes the process's own peak resident set
# (VmHWM of its address space, which exec started afresh) to the file named first. Not
# ru_maxrss: Linux carries the parent's high-water mark into a vforked child at exec, and
# RUSAGE_CHILDREN is the largest of all children, so both can report pytest's own peak.
_PEAK_WRAPPER = """\
import atexit, runpy, sys
out = sys.argv.pop(1)
def report():
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    with open(out, "w") as f:
        f.write(str(kb * 1024))
atexit.register(report)
sys.argv[0] = "nasdsl"
runpy.run_module("nasdsl", run_name="__main__", alter_sys=True)
"""


def run_cli_bounded(argv: list[str]) -> subprocess.CompletedProcess:
    """`nasdsl ARGV` in a fresh process, abandoned (and failed) after CLI_TIME seconds; the
    result's `peak_rss` is that process's own peak resident set in bytes."""
    import tempfile
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("NASDSL_DEBUG", None)
    fd, peak_file = tempfile.mkstemp(prefix="nasdsl-peak-")
    os.close(fd)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _PEAK_WRAPPER, peak_file, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        try:
            out, err = proc.communicate(timeout=CLI_TIME)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError(f"nasdsl {' '.join(argv)[:300]!r} still running after {CLI_TIME} s") from None
        result = subprocess.CompletedProcess(argv, proc.returncode, out, err)
        result.elapsed = time.perf_counter() - start
        result.peak_rss = int(Path(peak_file).read_text() or "0")
    finally:
        os.unlink(peak_file)
    return result


def _assert_cli_outcome(result, what: str) -> None:
    assert result.returncode in (0, 1), f"exit {result.returncode} for {what}: {result.stderr[-500:]}"
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr[-500:]
    assert "\x1b" not in result.stderr and "\x00" not in result.stderr


def test_the_cli_memory_bound_measures_the_child_alone():
    """With 512 MiB held (and touched) by this process, a child's measured peak is its own:
    an `info` run stays far below what this process holds, though ru_maxrss would report
    at least the 512 MiB here."""
    ballast = bytearray(512 * 2**20)
    ballast[::4096] = b"\x01" * len(ballast[::4096])
    result = run_cli_bounded(["info", "nasbench201", "--json"])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["size"] == 15625
    assert 10 * 2**20 < result.peak_rss < 400 * 2**20, result.peak_rss
    del ballast


@settings(max_examples=12, deadline=None, suppress_health_check=[*_HEALTH, HealthCheck.function_scoped_fixture])
@given(hostile_mutants())
def test_hostile_mutants_are_bounded_through_the_cli(tmp_path, text):
    path = tmp_path / "hostile.nas"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = run_cli_bounded(["info", str(path), "--json"])
    _assert_cli_outcome(result, _show(text))
    assert 0 < result.peak_rss < CLI_MEMORY, result.peak_rss
    if result.returncode == 0:
        json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"{c} in info --json"))


ARCH_NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@st.composite
def hostile_archs(draw) -> str:
    """Oversized or malformed `--arch` text: deep JSON, huge numbers and ranges, NaN, long
    strings, repeated NB201 edges, genotypes with hostile fields."""
    n = draw(st.sampled_from((10, 33, 1000, 100_000)))
    kind = draw(st.sampled_from(("deep", "number", "nan", "long", "nb201", "genotype", "range", "list")))
    if kind == "deep":
        return draw(st.sampled_from(("[", "{\"a\": "))) * n + "1" + draw(st.sampled_from(("]", "}"))) * n
    if kind == "number":
        return '{"Cell.e1_0": ' + "9" * n + "}"
    if kind == "nan":
        return '{"Cell.e1_0": ' + draw(st.sampled_from(("NaN", "Infinity", "-Infinity", "1e999"))) + "}"
    if kind == "long":
        return '{"' + "k" * n * 11 + '": 1}'
    if kind == "nb201":
        return ARCH_NB201 + "|none~0|" * draw(st.integers(1, 3)) + "+|none~0|" * draw(st.integers(0, 2))
    if kind == "genotype":
        return "Genotype(normal=" + "[" * min(n, 5000) + "]" * min(n, 5000) + ", reduce=[])"
    if kind == "range":
        return f"Genotype(normal=[], normal_concat=range(0, {10 ** draw(st.integers(3, 30))}), reduce=[])"
    return "[" + ", ".join(["1"] * min(n, 1000)) + "]"


@FAST
@given(hostile_archs())
def test_hostile_architectures_are_bounded(text):
    """Through `main` in-process (the CLI's own path), a located error or a valid architecture."""
    from nasdsl.cli import main
    start = time.perf_counter()
    with hard_limit(HARD_S):
        code = main(["info", "nasbench201", "--json", "--arch", text])
    assert code in (0, 1)
    assert time.perf_counter() - start < HARD_S


def test_hostile_architecture_files_are_bounded_through_the_cli(tmp_path):
    cases = {"dev-zero": "/dev/zero", "deep": "[" * 100_000 + "]" * 100_000, "big": '{"a": "' + "x" * 2_000_000 + '"}',
             "binary": None}
    for name, content in cases.items():
        if content == "/dev/zero":
            arch = content
        else:
            path = tmp_path / f"{name}.json"
            path.write_bytes(b"\xff\xfe\x00{}" if content is None else content.encode())
            arch = str(path)
        result = run_cli_bounded(["info", "nasbench201", "--arch", arch])
        assert result.returncode == 1, result.stderr
        _assert_cli_outcome(result, name)
        assert result.elapsed < CLI_TIME
        assert 0 < result.peak_rss < CLI_MEMORY, (name, result.peak_rss)
