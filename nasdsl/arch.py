"""The architecture: one canonical encoding, its JSON form and a stable key.

An architecture is a plain mapping `label -> value` over a space's *active* decisions, as
`Space.validate` returns it: layer choices give the candidate's name, value choices their
value, input choices a list of the chosen inputs, depths an int. That mapping is what
strategies propose, what `arch.json` holds, what the experiment store keeps and what
`validate` accepts. Its JSON text, with sorted keys and no spaces, is also its key: two
architectures are the same architecture exactly when their keys are equal.

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
from collections.abc import Mapping
from typing import Any

from .errors import ArchitectureError

__all__ = ["arch_key", "arch_digest", "arch_to_json", "arch_from_json"]


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


def arch_from_json(text: str) -> dict[str, Any]:
    """Parse an architecture's JSON text; anything but an object of labels is an error.

    Example::

        >>> arch_from_json('[1, 2]')
        Traceback (most recent call last):
        ...
        nasdsl.errors.ArchitectureError: an architecture is a JSON object of label -> value, got a list
    """
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise ArchitectureError(f"not an architecture: invalid JSON ({err})") from None
    if not isinstance(value, dict):
        raise ArchitectureError(f"an architecture is a JSON object of label -> value, got a {type(value).__name__}")
    return value
