"""nasdsl: neural-architecture search spaces as declarative `.nas` files.

Example::

    >>> import nasdsl
    >>> space = nasdsl.load("nasbench201")       # a built-in space, or a path
    >>> space.size()
    15625
    >>> arch = space.sample(seed=0)
    >>> space.validate(arch) == arch
    True
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ArchitectureError, Loc, NasError, NasSyntaxError
from .space import Space

__all__ = ["load", "loads", "Space", "NasError", "NasSyntaxError", "ArchitectureError",
           "builtin_spaces", "resolve_space", "register_op"]


def __getattr__(name: str):
    """`nasdsl.register_op` imports torch, so it is looked up only when used."""
    if name == "register_op":
        from .ops.modules import register_op
        return register_op
    raise AttributeError(f"module 'nasdsl' has no attribute {name!r}")
__version__ = "0.1.0"


def spaces_dir() -> Path:
    """The built-in space library: inside the installed package, or `spaces/` of a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "spaces", here.parent / "spaces"):
        if candidate.is_dir():
            return candidate
    return here / "spaces"


_NETWORK = re.compile(r"^network\b", re.M)


def builtin_spaces() -> list[str]:
    """Names of the spaces that ship with nasdsl (`nasdsl info NAME` accepts them): the files
    that declare a network; the others are op libraries the spaces import."""
    return sorted(p.stem for p in spaces_dir().glob("*.nas") if _NETWORK.search(read_source(p)))


def resolve_space(name_or_path: str | Path) -> Path:
    """A path as given if it exists, else a built-in space of that name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    builtin = spaces_dir() / (path.name if path.suffix == ".nas" else f"{path.name}.nas")
    if builtin.is_file() and len(path.parts) == 1:
        return builtin
    raise NasError(f"no such file: {name_or_path} (built-in spaces: {', '.join(builtin_spaces())})")


def _loader(sources: Mapping[str, str] | None):
    """Find an imported file: among `sources` (a checkpoint's stored files), next to the
    importing file, then in the built-in library."""
    def load_import(path: str, loc: Loc) -> tuple[str, str]:
        base = Path(loc.file).parent if loc.file and not loc.file.startswith("<") else Path.cwd()
        candidates = (base / path, spaces_dir() / path)
        for candidate in candidates:
            if sources is not None and str(candidate) in sources:
                return str(candidate), sources[str(candidate)]
        for candidate in candidates:
            if candidate.is_file():
                return str(candidate), read_source(candidate, loc)
        raise NasError(f"cannot import {path!r}: no such file next to {loc.file} or in the built-in library", loc)
    return load_import


def read_source(path: Path, loc: Loc | None = None) -> str:
    """A `.nas` file's text; an unreadable or non-UTF-8 file is a NasError, not a crash."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise NasError(f"{path} is not UTF-8 text (byte {err.start})", loc or Loc(str(path), 1, 1)) from None
    except OSError as err:
        raise NasError(f"cannot read {path}: {err.strerror}", loc or Loc(str(path), 1, 1)) from None


def loads(text: str, file: str = "<string>", params: Mapping[str, Any] | None = None,
          sources: Mapping[str, str] | None = None) -> Space:
    """Compile `.nas` source text into a `Space`; `params` override its `param` defaults;
    `sources` maps file names to texts for imports (as stored in a checkpoint)."""
    from .elaborate import Elaborator
    elaborator = Elaborator(_loader(sources), dict(params or {}))
    try:
        root = elaborator.load_unit(file, text, None)
        template, resolved = elaborator.elaborate(root)
    except RecursionError:
        raise NasError("the program nests too deeply to compile", Loc(file, 1, 1, text)) from None
    decisions, constraints = elaborator.finish()
    texts = {u.file: u.text for u in elaborator.units.values()}
    space = Space(decisions, constraints, template, resolved, texts, file)
    space.check_not_empty()
    from .analysis.shapes import check_shapes
    check_shapes(space)
    return space


def is_library(path: str | Path) -> bool:
    """Whether a `.nas` file is an op library (blocks for others to import, no network)."""
    return not _NETWORK.search(read_source(resolve_space(path)))


def load_library(path: str | Path) -> list[str]:
    """Parse an op library and its imports; the names of the blocks it defines. (A block's body
    is checked where a space calls it: blocks are evaluated with their arguments.)"""
    from .elaborate import BlockVal, Elaborator
    resolved = resolve_space(path)
    unit = Elaborator(_loader(None), {}).load_unit(str(resolved), read_source(resolved), None)
    return sorted(name for name, value in unit.names.items() if isinstance(value, BlockVal))


def load(path: str | Path, params: Mapping[str, Any] | None = None) -> Space:
    """Compile a `.nas` file (or a built-in space by name) into a `Space`."""
    resolved = resolve_space(path)
    return loads(read_source(resolved), str(resolved), params)
