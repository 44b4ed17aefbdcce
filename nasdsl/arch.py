"""The architecture: one canonical encoding, its JSON form and a stable key.

An architecture is a plain mapping `label -> value` over a space's *active* decisions, as
`Space.validate` returns it: layer choices give the candidate's name, value choices their
value, input choices a list of the chosen inputs, depths an int. That mapping is what
strategies propose, what `arch.json` holds, what the experiment store keeps and what
`validate` accepts. Its JSON text, with sorted keys and no spaces, is also its key: two
architectures are the same architecture exactly when their keys are equal.

A decision's domain holds an input subset as a tuple: `arch_values` (`domain_value` for one
value) gives an architecture in that form and `json_value` gives a value back in the JSON
form; the rest of the package converts between the two only through them.

Example::

    >>> from nasdsl.arch import arch_key, arch_from_json, arch_to_json
    >>> arch = {"b": [1, 2], "a": "conv"}
    >>> arch_key(arch)
    '{"a":"conv","b":[1,2]}'
    >>> arch_from_json(arch_to_json(arch)) == arch
    True
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import ArchitectureError
from .limits import (
    MAX_ARCH_BYTES,
    MAX_ARCH_DEPTH,
    MAX_NUMBER_CHARS,
    ValueTooLarge,
    check_number,
    decode_utf8,
    nesting_depth,
    read_bounded,
)

__all__ = ["arch_key", "arch_digest", "arch_to_json", "arch_from_json", "arch_json_value", "arch_values",
           "domain_value", "json_value", "read_arch_text", "value_name"]


def arch_key(arch: Mapping[str, Any]) -> str:
    """The architecture's canonical JSON text: sorted labels, no spaces (a dict key, a DB key)."""
    return json.dumps(dict(arch), sort_keys=True, separators=(",", ":"), allow_nan=False)


def arch_digest(arch: Mapping[str, Any]) -> str:
    """A short fixed-length hash of `arch_key(arch)` (16 hex digits), for file names and logs.

    Example::

        >>> arch_digest({"a": "conv"})
        '658fafef10a2ee5c'
    """
    return hashlib.sha256(arch_key(arch).encode()).hexdigest()[:16]


def arch_to_json(arch: Mapping[str, Any], indent: int | None = 2) -> str:
    """The architecture as readable JSON (`arch.json`), labels sorted."""
    return json.dumps(dict(arch), sort_keys=True, indent=indent, allow_nan=False)


def arch_json_value(text: str) -> Any:
    """Parse JSON text within the architecture bounds (`nasdsl.limits`): at most
    `MAX_ARCH_BYTES`, brackets nested at most `MAX_ARCH_DEPTH` deep (checked in one pass before
    parsing, so no input reaches the parser's recursion), numbers finite and 64-bit
    (`NaN`, `Infinity` and huge literals are refused).

    Example::

        >>> arch_json_value('{"a": [1, 2]}')
        {'a': [1, 2]}
        >>> arch_json_value('[' * 1000 + ']' * 1000)
        Traceback (most recent call last):
        ...
        nasdsl.errors.ArchitectureError: not an architecture: JSON nested 1000 deep, the limit is 32
    """
    if len(text) > MAX_ARCH_BYTES:
        raise ArchitectureError(f"not an architecture: {len(text):,} characters of text, the limit is {MAX_ARCH_BYTES:,}")
    depth = nesting_depth(text)
    if depth > MAX_ARCH_DEPTH:
        raise ArchitectureError(f"not an architecture: JSON nested {depth} deep, the limit is {MAX_ARCH_DEPTH}")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_int=_bounded_int,
                          parse_float=lambda raw: check_number(float(raw)))
    except ValueTooLarge as err:
        raise ArchitectureError(f"not an architecture: {err.message}") from None
    except (ValueError, RecursionError) as err:
        raise ArchitectureError(f"not an architecture: invalid JSON ({err})") from None


def _no_constant(name: str):
    raise ValueTooLarge(f"{name} is not a finite number")


def _bounded_int(raw: str) -> int:
    if len(raw) > MAX_NUMBER_CHARS:
        raise ValueTooLarge(f"number too large: a literal of {len(raw):,} characters")
    return check_number(int(raw))


def arch_from_json(text: str) -> dict[str, Any]:
    """Parse an architecture's JSON text (within `arch_json_value`'s bounds); anything but an
    object of labels is an error.

    Example::

        >>> arch_from_json('[1, 2]')
        Traceback (most recent call last):
        ...
        nasdsl.errors.ArchitectureError: not an architecture: an architecture is a JSON object of label -> value, got a list
    """
    value = arch_json_value(text)
    if not isinstance(value, dict):
        kind = {list: "list", str: "string", bool: "boolean", int: "number", float: "number"}.get(type(value), "null")
        raise ArchitectureError(f"not an architecture: an architecture is a JSON object of label -> value, got a {kind}")
    return value


_INLINE = ("{", "[", "|", '"', "Genotype")
_JSON_SCALAR = re.compile(r"-?\d|true$|false$|null$")


def read_arch_text(text: str) -> str:
    """The text of an architecture given on a command line: `text` itself when it is inline
    (JSON, a NAS-Bench-201 string, a DARTS genotype), else the content of the file it names,
    read within `MAX_ARCH_BYTES` (a device such as /dev/zero or a pipe is refused) as UTF-8.

    Example::

        >>> read_arch_text('[1, 2]')
        '[1, 2]'
    """
    stripped = text.strip()
    if stripped.startswith(_INLINE) or _JSON_SCALAR.match(stripped):
        return text
    data = read_bounded(text, MAX_ARCH_BYTES, "architecture file")
    return decode_utf8(data, f"architecture file {text}")


def arch_values(arch: Mapping[str, Any]) -> dict[str, Any]:
    """The architecture with each value as its decision's domain holds it: an input choice of
    several tensors is a JSON list in the canonical form, a tuple in the domain. Expressions
    over decisions (`pick == (0, 2)`, a cell's loose ends) are evaluated on this form.

    Example::

        >>> arch_values({"cell.input_2_0": [0, 1], "op": "conv"})
        {'cell.input_2_0': (0, 1), 'op': 'conv'}
    """
    return {k: domain_value(v) for k, v in arch.items()}


def domain_value(value: Any) -> Any:
    """One value of an architecture's JSON form as its decision's domain holds it (a list, an
    input choice of several tensors, as a tuple); `json_value` undoes it.

    Example::

        >>> domain_value([0, 2]), domain_value("conv"), json_value(domain_value([0, 2]))
        ((0, 2), 'conv', [0, 2])
    """
    return tuple(value) if isinstance(value, list) else value


def json_value(value: Any) -> Any:
    """One value of a decision's domain in an architecture's JSON form (a tuple, an input
    choice of several tensors, as a list): what `Space.validate` returns and `arch.json` holds."""
    return list(value) if isinstance(value, tuple) else value


def value_name(value: Any) -> str:
    """The name under which a decision's value is listed where values are keys of text
    (`export_probs()`, a strategy's probabilities, a cost table): a candidate's name, a number
    as text, an input subset as its indices joined by commas.

    Example::

        >>> value_name("conv"), value_name(3), value_name((0, 2)), value_name([0, 2])
        ('conv', '3', '0,2', '0,2')
    """
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)
