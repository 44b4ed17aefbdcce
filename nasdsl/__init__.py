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

from pathlib import Path
from typing import Any, Mapping

from .errors import ArchitectureError, Loc, NasError, NasSyntaxError
from .space import Space

__all__ = ["load", "loads", "Space", "NasError", "NasSyntaxError", "ArchitectureError",
           "builtin_spaces", "resolve_space"]
__version__ = "0.1.0"


def spaces_dir() -> Path:
    """The built-in space library: inside the installed package, or `spaces/` of a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "spaces", here.parent / "spaces"):
        if candidate.is_dir():
            return candidate
    return here / "spaces"


def builtin_spaces() -> list[str]:
    """Names of the spaces that ship with nasdsl (`nasdsl info NAME` accepts them)."""
    return sorted(p.stem for p in spaces_dir().glob("*.nas"))


def resolve_space(name_or_path: str | Path) -> Path:
    """A path as given if it exists, else a built-in space of that name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    builtin = spaces_dir() / (path.name if path.suffix == ".nas" else f"{path.name}.nas")
    if builtin.is_file() and len(path.parts) == 1:
        return builtin
    raise NasError(f"no such file: {name_or_path} (built-in spaces: {', '.join(builtin_spaces())})")


def _loader(path: str, loc: Loc) -> tuple[str, str]:
    """Find an imported file: next to the importing file, then in the built-in library."""
    base = Path(loc.file).parent if loc.file and not loc.file.startswith("<") else Path.cwd()
    for candidate in (base / path, spaces_dir() / path):
        if candidate.is_file():
            return str(candidate), candidate.read_text()
    raise NasError(f"cannot import {path!r}: no such file next to {loc.file} or in the built-in library", loc)


def loads(text: str, file: str = "<string>", params: Mapping[str, Any] | None = None) -> Space:
    """Compile `.nas` source text into a `Space`; `params` override its `param` defaults."""
    from .elaborate import Elaborator
    elaborator = Elaborator(_loader, dict(params or {}))
    try:
        root = elaborator.load_unit(file, text, None)
        template, resolved = elaborator.elaborate(root)
    except RecursionError:
        raise NasError("the program nests too deeply to compile", Loc(file, 1, 1)) from None
    decisions, constraints = elaborator.finish()
    sources = {u.file: _source_text(u.file, text, file) for u in elaborator.units.values()}
    space = Space(decisions, constraints, template, resolved, sources, file)
    space.check_not_empty()
    return space


def _source_text(unit_file: str, root_text: str, root_file: str) -> str:
    if unit_file == root_file:
        return root_text
    return Path(unit_file).read_text()


def load(path: str | Path, params: Mapping[str, Any] | None = None) -> Space:
    """Compile a `.nas` file (or a built-in space by name) into a `Space`."""
    resolved = resolve_space(path)
    return loads(resolved.read_text(), str(resolved if Path(path).is_file() else resolved), params)
