"""The parser's LALR tables, shipped in the package as JSON data (no pickle, no cache file).

Building the LALR tables from `grammar/nas.lark` takes about 190 ms, a noticeable part of a
command-line call. They are therefore generated once, when the grammar changes, into
`grammar/nas.tables.json` (shipped with the grammar), and loaded from there in about 40 ms.
The file is plain JSON: loading it cannot run code, unlike a pickled cache that another
user could plant in a shared temporary directory. It records the grammar's SHA-256 and the
Lark version it was made with; if either differs from what is installed, the tables are
built from the grammar instead (slower, equally correct). `tests/test_security.py` checks
that the shipped file matches the grammar.

Regenerate after editing the grammar::

    python -m nasdsl.syntax.tables

Example::

    >>> from nasdsl.syntax.parser import grammar_path
    >>> parser = load_tables(grammar_path().read_text())
    >>> parser is None or parser.parse("param C = 16").data == "start"
    True
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import lark
from lark import Lark

from .postlex import StatementIf

OPTIONS = dict(parser="lalr", propagate_positions=True, maybe_placeholders=True)
FORMAT = "nasdsl-lark-tables/1"


def tables_path(grammar: Path) -> Path:
    return grammar.with_name("nas.tables.json")


def grammar_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def build(text: str) -> Lark:
    """The parser built from the grammar text (no tables file)."""
    return Lark(text, postlex=StatementIf(), **OPTIONS)


def load_tables(text: str, path: Path | None = None) -> Lark | None:
    """The parser from the shipped tables, or None when they are missing, stale (another
    grammar or Lark version) or unreadable."""
    from . import grammar_path
    path = path or tables_path(grammar_path())
    try:
        record = json.loads(path.read_text(encoding="utf-8"), object_hook=_decode_object)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != FORMAT or record.get("lark") != lark.__version__ \
            or record.get("grammar") != grammar_digest(text):
        return None
    try:
        data, memo = record["tables"]
        return Lark._load_from_dict(data, memo, propagate_positions=OPTIONS["propagate_positions"],
                                    postlex=StatementIf())
    except Exception:  # noqa: BLE001 - a damaged file: build from the grammar instead
        return None


def write_tables(text: str, path: Path) -> None:
    """Build the parser from `text` and write its tables to `path` as JSON."""
    parser = build(text)
    data, memo = parser.memo_serialize([lark.lexer.TerminalDef, lark.grammar.Rule])
    data["options"]["postlex"] = None  # code, not data: `load_tables` passes a fresh one
    record = {"format": FORMAT, "lark": lark.__version__, "grammar": grammar_digest(text),
              "tables": _encode((data, memo))}
    path.write_text(json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n", encoding="utf-8")


# JSON has no tuples and only string keys: both are spelled out, everything else is JSON.

def _encode(x: Any) -> Any:
    if isinstance(x, dict):
        if all(isinstance(k, str) for k in x):
            return {k: _encode(v) for k, v in x.items()}
        return {"__pairs__": [[_encode(k), _encode(v)] for k, v in x.items()]}
    if isinstance(x, tuple):
        return {"__tuple__": [_encode(v) for v in x]}
    if isinstance(x, list):
        return [_encode(v) for v in x]
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    raise TypeError(f"cannot store {type(x).__name__} in the tables file")


def _decode_object(x: dict) -> Any:
    """`_encode` undone for one JSON object, as `json.loads` reads it (its members are decoded
    already, innermost first): so only objects, not every list and constant, cost a call."""
    if "__pairs__" in x:
        return {k: v for k, v in x["__pairs__"]}
    if "__tuple__" in x:
        return tuple(x["__tuple__"])
    return x


if __name__ == "__main__":
    from . import grammar_path
    grammar = grammar_path()
    write_tables(grammar.read_text(), tables_path(grammar))
    print(f"wrote {tables_path(grammar)}")
