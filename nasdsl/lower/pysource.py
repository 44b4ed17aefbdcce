"""Python source as data and as text, for the generated files of `nasdsl export`
(`nasdsl.lower.export`): expressions before they are text (`Call`, `ListOf`, `DictOf` over
`Slot`s, the literals a generated class may turn into constructor parameters), literals that
evaluate to equal values of the same type, formatting to `WIDTH` columns, fresh identifiers,
and text made safe for comments and docstrings. Torch-free.

Example::

    >>> call = Call("nn.Conv2d", [(None, Slot(3)), (None, Slot(8)), ("bias", Slot(False))])
    >>> fmt(call, lambda slot: literal(slot.value), indent=0, lead=0)
    'nn.Conv2d(3, 8, bias=False)'
    >>> names = Names(["x"])
    >>> names.fresh("x"), names.fresh("class"), identifier("stem.0")
    ('x_2', 'class_', 'stem_0')
"""
from __future__ import annotations

import builtins
import json
import keyword
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import NasError

WIDTH = 100  # lines of generated code are wrapped to stay within this many characters

# --- generated code, before it is text --------------------------------------------------------

NO_DEFAULT = object()


@dataclass(eq=False)
class Slot:
    """A literal in generated code. Within a class it may turn into a constructor parameter
    (when instances differ) or vanish (when it equals the constructor's default)."""
    value: Any
    keyword: str | None = None
    default: Any = NO_DEFAULT


@dataclass(eq=False)
class Call:
    func: str
    args: list[tuple[str | None, Any]]  # (keyword or None, expression)


@dataclass(eq=False)
class ListOf:
    items: list


@dataclass(eq=False)
class DictOf:
    items: list[tuple[str, Any]]


def slots_of(expr: Any, out: list) -> list:
    """The slots of an expression in the order they are written."""
    if isinstance(expr, Slot):
        out.append(expr)
    elif isinstance(expr, Call):
        for _, a in expr.args:
            slots_of(a, out)
    elif isinstance(expr, ListOf):
        for a in expr.items:
            slots_of(a, out)
    elif isinstance(expr, DictOf):
        for _, a in expr.items:
            slots_of(a, out)
    return out


def shape_of(expr: Any) -> str:
    """The expression with its slots blanked: equal shapes can share a class."""
    if isinstance(expr, Slot):
        return "?"
    if isinstance(expr, Call):
        return f"{expr.func}({','.join(f'{k}={shape_of(a)}' for k, a in expr.args)})"
    if isinstance(expr, ListOf):
        return f"[{','.join(shape_of(a) for a in expr.items)}]"
    return "{" + ",".join(f"{k!r}:{shape_of(a)}" for k, a in expr.items) + "}"


def literal(v: Any) -> str:
    """`v` as Python source that evaluates to an equal value of the same type."""
    if isinstance(v, str):
        text = repr(v)
        return f'"{text[1:-1]}"' if text[0] == "'" and '"' not in v and "\\'" not in text else text
    if v is None or isinstance(v, (bool, int)):
        return repr(v)
    if isinstance(v, float):
        if math.isnan(v):
            return 'float("nan")'
        if math.isinf(v):
            return 'float("inf")' if v > 0 else '-float("inf")'
        return repr(v)
    if isinstance(v, tuple):
        inner = ", ".join(literal(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, list):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(x)}" for k, x in v.items()) + "}"
    raise NasError(f"cannot write the op argument {v!r} as a Python literal")


def same(a: Any, b: Any) -> bool:
    """Equal and of the same type all the way down (1, 1.0 and True differ in source). A value
    with no literal form (a custom op's default `act=nn.ReLU`) is only the same as itself."""
    return a is b or literal_key(a) == literal_key(b)


def literal_key(v: Any) -> str:
    """`literal(v)`, or a key only `v` itself has where it has no literal form."""
    try:
        return literal(v)
    except NasError:
        return f"<object {id(v)}>"


OMIT = object()


def fmt(expr: Any, resolve: Callable[[Slot], Any], indent: int, lead: int) -> str:
    """Source for `expr`, on one line if `lead` characters plus it fit in WIDTH, else with one
    argument per line, indented by `indent` + 4."""
    if isinstance(expr, Slot):
        return resolve(expr)
    if isinstance(expr, Call):
        parts = []
        for k, a in expr.args:
            text = resolve(a) if isinstance(a, Slot) else None
            if text is OMIT:
                continue
            parts.append((k, a))
        opener, closer = f"{expr.func}(", ")"
        items = [(f"{k}=" if k else "", a) for k, a in parts]
    elif isinstance(expr, ListOf):
        opener, closer, items = "[", "]", [("", a) for a in expr.items]
    else:
        opener, closer, items = "{", "}", [(f"{literal(k)}: ", a) for k, a in expr.items]
    flat = [pre + fmt(a, resolve, indent, 0) for pre, a in items]
    one_line = opener + ", ".join(flat) + closer
    if lead + len(one_line) <= WIDTH and "\n" not in one_line:
        return one_line
    if isinstance(expr, Call) and len(items) == 1 and not items[0][0] and isinstance(items[0][1], (ListOf, DictOf)):
        # `nn.ModuleDict({` ... `})`: a lone list or dict argument hugs the call's parentheses
        return opener + fmt(items[0][1], resolve, indent, lead + len(opener)) + closer
    inner = " " * (indent + 4)
    lines = [inner + pre + fmt(a, resolve, indent + 4, indent + 4 + len(pre) + 1) + ","
             for pre, a in items]
    return opener + "\n" + "\n".join(lines) + "\n" + " " * indent + closer


# --- names --------------------------------------------------------------------------------------

_BUILTINS = frozenset(dir(builtins))


def identifier(text: str) -> str:
    """A valid Python identifier close to `text` that shadows no keyword or builtin."""
    name = re.sub(r"[^0-9A-Za-z_]", "_", text) or "t"  # ASCII: not every Unicode word character is one
    if name[0].isdigit():
        name = "t" + name
    if keyword.iskeyword(name) or name in _BUILTINS:
        name += "_"
    return name


def plain_attr(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def camel(text: str) -> str:
    words = [w for w in re.split(r"[^0-9A-Za-z]+", text) if w]
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Block"
    return name if name[0].isalpha() else "Block" + name


class Names:
    """Hands out fresh identifiers, keeping the hint when it is free (`x`, then `x_2`, ...)."""

    def __init__(self, taken=()):
        self.taken = set(taken)

    def fresh(self, hint: str, sep: str = "_") -> str:
        base = hint if hint.isidentifier() and not keyword.iskeyword(hint) else identifier(hint)
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}{sep}{n}"
        self.taken.add(name)
        return name


def wrap_json(value: Mapping[str, Any], width: int) -> list[str]:
    """`json.dumps(value)` broken between entries into lines of at most `width` characters
    (longer only when one entry is); the lines joined are the JSON again."""
    entries = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in value.items()]
    if not entries:
        return ["{}"]
    lines, line = [], "{"
    for i, entry in enumerate(entries):
        piece = entry + ("}" if i == len(entries) - 1 else ",")
        if len(line) > 1 and len(line) + 1 + len(piece) > width:
            lines.append(line)
            line = " " + piece
        else:
            line += ("" if line in ("{", " ") else " ") + piece
    lines.append(line)
    return lines


def inert(text: str) -> str:
    r"""`text` made safe to place in a `#` comment or a triple-quoted docstring of generated
    code, whatever it holds (a file name with a newline, quotes, backslashes, escape
    sequences): control and non-ASCII characters and backslashes are written as escapes,
    double quotes become single ones. (A docstring doubles the backslashes once more.)

    Example::

        >>> inert('say "hi"')
        "say 'hi'"
        >>> inert("x.nas\nimport os")
        'x.nas\\nimport os'
    """
    return text.encode("unicode_escape").decode("ascii").replace('"', "'")
