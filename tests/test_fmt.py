"""The formatter: exact output on a messy program, and on every shipped `.nas` file the
three promises of `nasdsl fmt`: same space (fingerprint and syntax tree), idempotent, every
comment kept. Randomised round trips check precedence (parentheses exactly where needed)
and comment placement from arbitrary whitespace."""
from __future__ import annotations

import dataclasses
import doctest
import random
from collections import Counter
from pathlib import Path

import pytest

import nasdsl
import nasdsl.syntax.fmt
from nasdsl import NasSyntaxError
from nasdsl.syntax.fmt import format_source
from nasdsl.syntax.parser import parse

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(ROOT.glob("spaces/*.nas")) + sorted(ROOT.glob("examples/*.nas"))


def shape(node):
    """A syntax tree without source positions: what must survive formatting unchanged."""
    if dataclasses.is_dataclass(node):
        return (type(node).__name__,) + tuple(
            shape(getattr(node, f.name)) for f in dataclasses.fields(node)
            if f.name not in ("loc", "comments", "file"))
    if isinstance(node, tuple):
        return tuple(shape(n) for n in node)
    return node


def comments(text: str) -> Counter:
    return Counter(c.rstrip() for _line, _col, c in parse(text).comments)


def assert_round_trip(text: str) -> str:
    """Formatting keeps the tree and the comments and is a fixed point; returns the result."""
    out = format_source(text)
    assert shape(parse(out)) == shape(parse(text))
    assert comments(out) == comments(text)
    assert format_source(out) == out
    return out


MESSY = '''\
# A messy program.
param C=16# width
param   N = 2


  # conv block
block ConvBN( c_in , c_out , k = 3 ) = Conv2d( c_in, c_out, k ,padding=k//2,bias=false)->BatchNorm2d(c_out)->ReLU()   # conv
block Op(c) = choice{conv:ConvBN(c,c),skip:Identity(),zero:Zero()}
shared block Cell(c)(x) { a = Op(c) b = Op(c)  return a(x) + b(x) }
block Head(c, n) = AdaptiveAvgPool2d(1)->Flatten()->Linear(c,
    # inside the call
    n)
network(x:[3,32,32]){ # the network
  # stem
  h = x->ConvBN(3,C,k=choice "stem_k"[3,5])  # stem
  w = choice [1, 2]   # two
  d = -(w+1)**2  # math


  for i in range( N ) {
     h = h -> Cell(C)   # a cell
     # end of loop body
  }  # after loop
  require N*C<=64 and not (w==2 and d < 0) , "too wide"
  forbid(w == 1 and C > 100)
  return h->Head(C, 10) # head
} # end
'''

GOLDEN = '''\
# A messy program.
param C = 16  # width
param N = 2

# conv block
block ConvBN(c_in, c_out, k=3) =
  Conv2d(c_in, c_out, k, padding=k // 2, bias=false) -> BatchNorm2d(c_out) -> ReLU()  # conv

block Op(c) = choice {
  conv: ConvBN(c, c),
  skip: Identity(),
  zero: Zero(),
}

shared block Cell(c)(x) {
  a = Op(c)
  b = Op(c)
  return a(x) + b(x)
}

# inside the call
block Head(c, n) = AdaptiveAvgPool2d(1) -> Flatten() -> Linear(c, n)

network(x: [3, 32, 32]) {  # the network
  # stem
  h = x -> ConvBN(3, C, k=choice "stem_k" [3, 5])  # stem
  w = choice[1, 2]                                 # two
  d = -(w + 1) ** 2                                # math

  for i in range(N) {
    h = h -> Cell(C)  # a cell
    # end of loop body
  }  # after loop
  require N * C <= 64 and not (w == 2 and d < 0), "too wide"
  forbid w == 1 and C > 100
  return h -> Head(C, 10)  # head
}  # end
'''


def test_messy_program_gives_golden_text():
    assert format_source(MESSY) == GOLDEN


def test_golden_text_is_a_fixed_point_and_the_same_space():
    assert format_source(GOLDEN) == GOLDEN
    assert nasdsl.loads(GOLDEN).fingerprint() == nasdsl.loads(MESSY).fingerprint()
    assert comments(GOLDEN) == comments(MESSY)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_files_round_trip(path):
    text = path.read_text()
    out = assert_round_trip(text)
    if not nasdsl.is_library(path):  # an op library has no space: its tree (checked above) is all
        assert nasdsl.loads(out, str(path)).fingerprint() == nasdsl.loads(text, str(path)).fingerprint()
    code = [line for line in out.splitlines() if "#" not in line]
    assert all(len(line) <= nasdsl.syntax.fmt.WIDTH for line in code)


def test_module_docstring_example():
    assert doctest.testmod(nasdsl.syntax.fmt, optionflags=doctest.ELLIPSIS).failed == 0


# --- layout ------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("import   'x'".replace("'", '"'), 'import "x"\n'),
    ('import "ops.nas"  as  ops', 'import "ops.nas" as ops\n'),
    ("param k=choice   'k'[3,5,7]".replace("'", '"'), 'param k = choice "k" [3, 5, 7]\n'),
    ("param t=(1,)", "param t = (1,)\n"),
    ("param t=(1,2,)", "param t = (1, 2)\n"),
    ("param e=[ ]", "param e = []\n"),
    ("param f=lambda a,b:a*b", "param f = lambda a, b: a * b\n"),
    ("param f=lambda:1", "param f = lambda: 1\n"),
    ("param s=f(x,k = 1)", "param s = f(x, k=1)\n"),
    ("param p=(3).x", "param p = (3).x\n"),
    ("require C>1,'m'".replace("'", '"'), 'require C > 1, "m"\n'),
    ("network(x:[4])=x->Linear(4,2)", "network(x: [4]) = x -> Linear(4, 2)\n"),
    ("network=Identity()", "network = Identity()\n"),
    ("block A(c)(x){}", "block A(c)(x) {}\n"),
    ("block A()=choice{a:X(),b:Y()}", "block A() = choice { a: X(), b: Y() }\n"),
])
def test_small_forms(source, expected):
    assert format_source(source) == expected
    assert format_source(expected) == expected


@pytest.mark.parametrize("source, expected", [
    ("param x = (a -> b) -> (c -> d)", "param x = a -> b -> (c -> d)\n"),
    ("param x = a - (b - c) + (d + e)", "param x = a - (b - c) + (d + e)\n"),
    ("param x = (a * b) * c / (d // e)", "param x = a * b * c / (d // e)\n"),
    ("param x = (-a) ** -b ** (c ** d)", "param x = (-a) ** -b ** c ** d\n"),
    ("param x = -(a ** b)", "param x = -a ** b\n"),
    ("param x = (a == b) == (c < d)", "param x = (a == b) == (c < d)\n"),
    ("param x = (a or b) and not (c and d)", "param x = (a or b) and not (c and d)\n"),
    ("param x = (a if b else c) if d else (e if f else g)", "param x = (a if b else c) if d else e if f else g\n"),
    ("param x = (lambda: a) if (lambda: b) else (lambda: c)", "param x = (lambda: a) if (lambda: b) else lambda: c\n"),
    ("param x = (a -> b)(c).d[(e)]", "param x = (a -> b)(c).d[e]\n"),
    ("param x = a -> (b if c else d)", "param x = a -> (b if c else d)\n"),
])
def test_parentheses_exactly_where_needed(source, expected):
    assert format_source(source) == expected
    assert shape(parse(expected)) == shape(parse(source))


def test_long_call_breaks_one_argument_per_line():
    args = ", ".join(f"argument_{i}" for i in range(10))
    out = format_source(f"network(x: [4]) {{ y = x -> Layer({args}, flag=true) return y }}")
    assert out == "network(x: [4]) {\n  y = x -> Layer(\n" + "".join(
        f"    argument_{i},\n" for i in range(10)) + "    flag=true,\n  )\n  return y\n}\n"


def test_long_pipe_statement_breaks_before_arrow():
    stages = " -> ".join(f"Linear({i}, {i + 1})" for i in range(1, 12))
    out = format_source(f"network(x: [1]) {{ y = x -> {stages} return y }}")
    lines = out.splitlines()
    assert lines[1].startswith("  y = x -> Linear(1, 2)")
    assert lines[2].startswith("    -> ") and all(len(line) <= 100 for line in lines)
    assert_round_trip(out)


def test_long_layer_block_breaks_after_equals_then_before_arrow():
    stages = " -> ".join(f"Conv2d(channels, channels, {i}, padding={i})" for i in range(1, 6))
    out = format_source(f"block Deep(channels) = {stages}")
    lines = out.splitlines()
    assert lines[0] == "block Deep(channels) ="
    assert lines[1].startswith("  Conv2d(") and lines[2].startswith("  -> Conv2d(")
    assert all(len(line) <= 100 for line in lines)


def test_layer_choice_candidates_aligned_one_per_line():
    out = format_source("block E(c)=choice 'op' {none:Zero(),skip_connect:Identity(),conv:Conv2d(c,c,3)}"
                        .replace("'", '"'))
    assert out == ('block E(c) = choice "op" {\n'
                   "  none:         Zero(),\n"
                   "  skip_connect: Identity(),\n"
                   "  conv:         Conv2d(c, c, 3),\n"
                   "}\n")


def test_blank_lines_collapse_to_one_and_blocks_are_set_apart():
    out = format_source("param a = 1\n\n\n\nparam b = 2\nparam c = 3\nblock A() = X()\nblock B() = Y()\n")
    assert out == "param a = 1\n\nparam b = 2\nparam c = 3\n\nblock A() = X()\n\nblock B() = Y()\n"


def test_comment_places():
    source = """\
block A(c)  # in the header
  (x)
{  # after the brace
  # before y
  y = f(x,  # inside the call
        c)  # after y

  # last in the block
}  # after the block
# end of file
"""
    assert format_source(source) == """\
# in the header
block A(c)(x) {  # after the brace
  # before y
  # inside the call
  y = f(x, c)  # after y

  # last in the block
}  # after the block

# end of file
"""
    assert_round_trip(source)


def test_empty_and_comment_only_sources():
    assert format_source("") == ""
    assert format_source("  \n\n") == ""
    assert format_source("# only\n\n\n# comments  \n") == "# only\n\n# comments\n"


def test_syntax_error_raises():
    with pytest.raises(NasSyntaxError):
        format_source("block A(c)")


def test_long_sums_do_not_recurse_deeply():
    text = "param C = " + " + ".join(["1"] * 400) + "\n"
    out = format_source(text)
    assert shape(parse(out)) == shape(parse(text))


def test_calls_nested_150_deep_format_to_a_fixed_point():
    """Well within the parser's depth (it gives up near 350 on a bare stack)."""
    text = "param C = " + "f(" * 150 + "1" + ")" * 150
    out = format_source(text)
    assert shape(parse(out)) == shape(parse(text))
    assert format_source(out) == out


def test_too_deep_is_a_nas_error_not_a_crash():
    """A sum of 2,000 terms nests far deeper than the parser goes (it gives up near 450 terms
    on a bare stack): one located NasSyntaxError, not a RecursionError."""
    with pytest.raises(NasSyntaxError, match=r"^<string>:1:1: expression nested too deeply"):
        format_source("param C = " + " + ".join(["1"] * 2000))


# --- randomised round trips --------------------------------------------------------------

_LABEL = '"lab"'
_OPS = ["or", "and", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "//", "%", "**"]


def _random_expr(rng: random.Random, depth: int) -> str:
    """A random expression with every compound part in parentheses: the formatter must
    drop exactly the parentheses the grammar does not need."""
    if depth == 0 or rng.random() < 0.15:
        return rng.choice(["x", "y", "1", "2.50", "1e3", '"s"', "true", "false"])

    def sub() -> str:
        return _random_expr(rng, depth - 1)

    def several(lo: int) -> str:
        return ", ".join(sub() for _ in range(rng.randint(lo, 3)))

    return rng.choice([
        lambda: f"({sub()} {rng.choice(_OPS)} {sub()})",
        lambda: f"(-{sub()})",
        lambda: f"(not {sub()})",
        lambda: f"({sub()} if {sub()} else {sub()})",
        lambda: f"({sub()} -> {sub()})",
        lambda: f"(lambda {rng.choice(['', 'a', 'a, b'])}: {sub()})",
        lambda: f"({sub()})({', '.join([several(0)] + rng.choice([[], ['k=' + sub()]])).strip(', ')})",
        lambda: f"({sub()})[{sub()}]",
        lambda: f"({sub()}).name",
        lambda: f"[{several(0)}]",
        lambda: f"({sub()},)",
        lambda: f"({sub()}, {several(1)})",
        lambda: f"choice{rng.choice(['', _LABEL + ' '])}[{several(1)}]",
        lambda: (f"choice{rng.choice(['', ' ' + _LABEL])} {{ a: {sub()}, bb: {sub()}"
                 f"{rng.choice(['', ', c: ' + sub()])} }}"),
    ])()


@pytest.mark.parametrize("seed", range(8))
def test_random_expressions_keep_their_tree(seed):
    rng = random.Random(seed)
    for _ in range(40):
        expr = _random_expr(rng, 4)
        assert_round_trip(f"param p = {expr}\nnetwork(x: [1]) {{ y = {expr}  # c\n return y }}")


def _mangle(text: str, rng: random.Random) -> str:
    """The same tokens with random whitespace, newlines and comments between them."""
    out, n = [], 0
    for tok in nasdsl.syntax.fmt._tokens(text):
        out.append(tok.value)
        roll = rng.random()
        if roll < 0.15:
            n += 1
            out.append(f"  # c{n}\n" + rng.choice(["", "\n", "   ", "\n\n"]))
        elif roll < 0.3:
            out.append(rng.choice(["\n", "\n\n", "\n\n\n"]))
        else:
            word = tok.value[-1].isalnum() or tok.value[-1] in "_."
            out.append(rng.choice([" ", "  ", "\t"] if word else ["", " "]))
    return "".join(out)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_random_layouts_and_comments(path, seed):
    mangled = _mangle(path.read_text(), random.Random(seed))
    out = assert_round_trip(mangled)
    assert shape(parse(out)) == shape(parse(path.read_text()))
