"""The op catalog as a reader sees it: `nasdsl info --ops` and the editor's op hovers.

Each op is one row: its signature as a call (`Linear(in_features, out_features, bias=true)`),
the domain of every argument that has one, how a supernet shares its weights when a choice sits
in its arguments (one weight-entangled module, or one module per combination; a pure op has
none to share), and the flags
the supernet's passes read. Everything comes from the op's `OpSpec` record
(`nasdsl.ops.catalog`), so the listing cannot drift from what `check` enforces.

Example::

    >>> signature_text("Linear")
    'Linear(in_features, out_features, bias=true)'
    >>> row = op_row("Dropout")
    >>> row["domains"]["p"], row["supernet"]
    ('a probability (0 <= p <= 1)', 'one module per combination')
    >>> op_row("MaxPool2d")["supernet"], op_row("ReLU")["flags"]
    ('parameter-free', ['pure', 'elementwise'])
    >>> op_row("Conv2d")["supernet"]
    'weight-entangled (MixedConv)'
"""
from __future__ import annotations

from typing import Any

from .catalog import REQUIRED, known_ops, spec


def _literal(value: Any) -> str:
    from ..values import literal
    if value is None:
        return "none"
    return literal(list(value) if isinstance(value, tuple) else value)


def signature_text(op: str) -> str:
    """An op's signature as a call, defaults written as a `.nas` file writes them."""
    record = spec(op)
    params = record.params if record is not None else ()
    return f"{op}({', '.join(p if d is REQUIRED else f'{p}={_literal(d)}' for p, d in params)})"


def op_row(op: str) -> dict[str, Any]:
    """One op's signature, argument domains, supernet form and pass flags, as JSON-ready data."""
    record = spec(op)
    entangled = record.entangled.rpartition(":")[2] if isinstance(record.entangled, str) else None
    flags = [name for name, on in (("pure", record.pure), ("elementwise", record.elementwise)) if on]
    return {"op": op, "signature": signature_text(op),
            "domains": {name: record.domains[name].what for name, _ in record.params if name in record.domains},
            "supernet": f"weight-entangled ({entangled})" if entangled else
                        "parameter-free" if record.pure else "one module per combination",
            "flags": flags, "custom": record.custom}


def ops_rows() -> list[dict[str, Any]]:
    """Every known op's row (the catalog and custom ops), in alphabetical order."""
    return [op_row(op) for op in sorted(known_ops())]


def ops_text() -> str:
    """The listing `nasdsl info --ops` prints: per op its signature, then one indented line per
    argument domain and one for its supernet form and flags."""
    lines = []
    for row in ops_rows():
        lines.append(row["signature"] + ("   (custom)" if row["custom"] else ""))
        lines.extend(f"    {name}: {what}" for name, what in row["domains"].items())
        flags = f"; {', '.join(row['flags'])}" if row["flags"] else ""
        lines.append(f"    supernet: {row['supernet']}{flags}")
    return "\n".join(lines)
