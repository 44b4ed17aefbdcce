"""Values given as text on the command line that the library reads too: `--set NAME=VALUE`
(a space's parameters) and `--option NAME=VALUE` (a strategy's options).

The command line parses its flags with argparse and hands the pairs on; the search drivers,
which also run from Python, read them with the same rules, so the rules live here, below both.

Example::

    >>> parse_set(["width=16", "act=\\"relu\\"", "ks=[3, 5]", "deep=true"])
    {'width': 16, 'act': 'relu', 'ks': [3, 5], 'deep': True}
    >>> parse_literal("0.5")
    0.5
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .arch import arch_json_value
from .errors import NasError

__all__ = ["parse_set", "parse_literal"]


def parse_set(items: Sequence[str] | None) -> dict[str, Any]:
    """`--set NAME=VALUE` pairs; values are .nas literals (numbers, true/false, strings)."""
    return parse_pairs(items, "--set")


def parse_pairs(items: Sequence[str] | None, option: str) -> dict[str, Any]:
    """`NAME=VALUE` pairs given to `option` (`--set`, `--option`), values read by `parse_literal`."""
    out: dict[str, Any] = {}
    for item in items or ():
        name, sep, raw = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise NasError(f"{option} expects NAME=VALUE, got {item!r}")
        out[name.strip()] = parse_literal(raw.strip())
    return out


def parse_literal(raw: str) -> Any:
    """A `--set` value: true/false, a "string", a number, a JSON list (`[1, 2]`), else the text."""
    if raw.startswith("["):
        try:
            value = arch_json_value(raw)
        except NasError as err:
            raise NasError(f"--set: {raw[:60]!r} is not a list: {err.message}") from None
        if not isinstance(value, list):
            raise NasError(f"--set: {raw[:60]!r} is not a list")
        return value
    if raw in ("true", "false"):
        return raw == "true"
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1]
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            pass
    return raw
