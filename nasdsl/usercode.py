"""The user code nasdsl imports by design, and the one check every such name passes first.

Python from outside nasdsl runs only where a user names it explicitly: `--ops MODULE` and
`register_op` (custom ops), `--evaluator python:MODULE:FUNCTION` (a multi-trial evaluator),
`--data MODULE:FACTORY` (a data set) and `--task MODULE:FACTORY` (a one-shot task). Each
name must be an absolute dotted module name and an identifier: a path, a relative name
(`.evil`, `..`) or an empty part is refused before anything is imported, and a module that
fails to import (or raises while importing) is one NasError naming the option, never an
internal error.

Example::

    >>> import_attribute("json:dumps", "--data").__name__
    'dumps'
    >>> import_attribute(".evil:f", "--data")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nasdsl.errors.NasError: --data '.evil:f': '.evil' is not a module name (expected dotted Python identifiers ...
"""
from __future__ import annotations

import importlib
import keyword
from types import ModuleType
from typing import Any

from .errors import NasError
from .text import printable


def is_module_name(name: str) -> bool:
    """Whether `name` is an absolute dotted module name.

    Example::

        >>> is_module_name("mypkg.ops"), is_module_name("../evil"), is_module_name(".hidden"), is_module_name("")
        (True, False, False, False)
    """
    parts = name.split(".")
    return bool(name) and all(p.isidentifier() and not keyword.iskeyword(p) for p in parts)


def _shown(text: str) -> str:
    return printable(text, one_line=True)[:120]


def import_module(name: str, option: str, spec: str | None = None) -> ModuleType:
    """The module `name` that `option` (`--ops`, `--data`...) names, checked and imported;
    `spec` is the whole text the option was given, shown in errors (default `name`)."""
    given = _shown(spec if spec is not None else name)
    if not is_module_name(name):
        raise NasError(f"{option} {given!r}: {_shown(name)!r} is not a module name (expected dotted Python "
                       "identifiers such as mypkg.module; a path or a relative name is not accepted)")
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise NasError(f"{option} {given}: cannot import {_shown(name)!r} ({_shown(str(err))})") from None
    except Exception as err:  # noqa: BLE001 - the user's module failed while importing
        raise NasError(f"{option} {given}: importing it failed: {type(err).__name__}: {_shown(str(err))}") from None


def import_attribute(spec: str, option: str, prefix: str = "") -> Any:
    """`attr` of module `pkg.module` for the `pkg.module:attr` spec that `option` names (shown
    as `prefix + spec`): both parts checked before anything is imported."""
    given = prefix + spec
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not attr.isidentifier() or keyword.iskeyword(attr):
        raise NasError(f"{option} {_shown(given)!r}: expected pkg.module:name, with a Python identifier after ':'")
    module = import_module(module_name, option, given)
    if not hasattr(module, attr):
        raise NasError(f"{option} {_shown(given)!r}: cannot import {attr} from {_shown(module_name)}: it has no "
                       "such name")
    return getattr(module, attr)
