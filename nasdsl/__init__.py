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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ArchitectureError, Loc, NasError, NasSyntaxError
from .limits import MAX_SOURCE_BYTES, decode_utf8, os_reason, read_bounded, show_path
from .space import Space
from .text import printable
from .version import __version__ as __version__

__all__ = ["load", "loads", "Space", "NasError", "NasSyntaxError", "ArchitectureError",
           "builtin_spaces", "resolve_space", "register_op", "search"]


def __getattr__(name: str):
    """`nasdsl.register_op` imports torch, so it is looked up only when used; `nasdsl.search`
    (the package, callable as `nasdsl.search.api.search`) is imported on first use."""
    if name == "search":
        import importlib
        return importlib.import_module(f"{__name__}.search")
    if name == "register_op":
        from .ops.modules import register_op
        return register_op
    raise AttributeError(f"module 'nasdsl' has no attribute {name!r}")


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
    try:
        if path.is_file():
            return path
        builtin = spaces_dir() / (path.name if path.suffix == ".nas" else f"{path.name}.nas")
        if builtin.is_file() and len(path.parts) == 1:
            return builtin
    except OSError as err:  # a name over the file-name limit, a loop of links
        raise NasError(f"cannot read {show_path(name_or_path)}: {os_reason(err)}") from None
    raise NasError(f"no such file: {show_path(name_or_path)} (built-in spaces: {', '.join(builtin_spaces())})")


def _import_roots(root_file: str, import_paths: Sequence[str | Path]) -> tuple[Path, ...]:
    """The directories imports may read from: the root file's directory tree (the current
    directory for source text without a file), the built-in library, and any `import_paths`."""
    home = Path(root_file).parent if root_file and not root_file.startswith("<") else Path.cwd()
    return tuple(p.resolve() for p in (home, spaces_dir(), *map(Path, import_paths)))


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def import_loader(root_file: str, sources: Mapping[str, str] | None, import_paths: Sequence[str | Path] = ()):
    """Find an imported file by the import rule (README, "Imports"): a `.nas` path, relative to
    the importing file (or, failing that, the built-in library), that resolves (symbolic links
    followed) inside the root file's directory tree, the built-in library or an explicit
    `import_paths` directory; an absolute path only inside an `import_paths` directory. A file
    the rule does not admit is never opened, so no error can quote it. With `sources` (a
    checkpoint's stored files) imports come from those and the built-in library only."""
    roots = _import_roots(root_file, import_paths)
    explicit = roots[2:]
    library = (roots[1],)

    def load_import(path: str, loc: Loc) -> tuple[str, str]:
        shown = show_path(path)
        if not path.endswith(".nas"):
            raise NasError(f"cannot import {shown!r}: only .nas files can be imported", loc)
        given = Path(path)
        if given.is_absolute():
            try:
                inside = _inside(given.resolve(), explicit)
            except OSError as err:
                raise NasError(f"cannot import {shown!r}: {os_reason(err)}", loc) from None
            if not inside:
                raise NasError(f"cannot import {shown!r}: absolute import paths are refused unless they lie in an "
                               f"import path given explicitly (--import-path DIR, import_paths=[...])", loc)
            candidates = [given]
        else:
            base = Path(loc.file).parent if loc.file and not loc.file.startswith("<") else roots[0]
            candidates = [base / given, spaces_dir() / given]
        if sources is not None:
            for candidate in candidates:
                if str(candidate) in sources:
                    return str(candidate), sources[str(candidate)]
        admitted = library if sources is not None else roots
        outside = False
        for candidate in candidates:
            try:
                real = candidate.resolve()
                if not _inside(real, admitted):
                    outside = True
                    continue
                found = real.is_file()
            except OSError as err:  # a name over the file-name limit, a loop of links
                raise NasError(f"cannot import {shown!r}: {os_reason(err)}", loc) from None
            if found:
                return str(candidate), read_source(real, loc)
        if outside and sources is None:
            raise NasError(f"cannot import {shown!r}: it lies outside the directory of {printable(root_file)}, "
                           f"the built-in library and the import paths given", loc,
                           hint="pass the directory with --import-path DIR (import_paths=[...] in Python)")
        where = "in the checkpoint or the built-in library" if sources is not None else \
            f"next to {printable(loc.file)} or in the built-in library"
        raise NasError(f"cannot import {shown!r}: no such file {where}", loc)
    return load_import


def read_source(path: Path, loc: Loc | None = None) -> str:
    """A `.nas` file's text, read through the size limit (`nasdsl.limits`); an unreadable,
    oversized or non-UTF-8 file (or a device, a pipe) is a NasError, not a crash."""
    where = loc or Loc(str(path), 1, 1)
    return decode_utf8(read_bounded(path, MAX_SOURCE_BYTES, "source file", where), str(path), where)


def loads(text: str, file: str = "<string>", params: Mapping[str, Any] | None = None,
          sources: Mapping[str, str] | None = None, import_paths: Sequence[str | Path] = ()) -> Space:
    """Compile `.nas` source text into a `Space`; `params` override its `param` defaults;
    `sources` maps file names to texts for imports (as stored in a checkpoint);
    `import_paths` admits more directories to import from (see `import_loader` for the rule)."""
    return _compile(text, file, params, import_loader(file, sources, import_paths))


def _compile(text: str, file: str, params: Mapping[str, Any] | None, loader) -> Space:
    from .cache import paused_gc
    with paused_gc():
        return _compile_now(text, file, params, loader)


def _compile_now(text: str, file: str, params: Mapping[str, Any] | None, loader) -> Space:
    from .elaborate import Elaborator
    elaborator = Elaborator(loader, dict(params or {}))
    try:
        root = elaborator.load_unit(file, text, None)
        template, resolved = elaborator.elaborate(root)
    except RecursionError:
        raise NasError("the program nests too deeply to compile", Loc(file, 1, 1, text)) from None
    decisions, constraints = elaborator.finish()
    texts = {u.file: u.text for u in elaborator.units.values()}
    space = Space(decisions, constraints, template, resolved, texts, file, elaborator.fresh_copies)
    space.check_not_empty()
    from .analysis.shapes import check_shapes
    check_shapes(space)
    return space


def is_library(path: str | Path) -> bool:
    """Whether a `.nas` file is an op library (blocks for others to import, no network)."""
    return not _NETWORK.search(read_source(resolve_space(path)))


def load_library(path: str | Path, import_paths: Sequence[str | Path] = ()) -> list[str]:
    """Parse an op library and its imports; the names of the blocks it defines. (A block's body
    is checked where a space calls it: blocks are evaluated with their arguments.)"""
    from .elaborate import BlockVal, Elaborator
    resolved = resolve_space(path)
    unit = Elaborator(import_loader(str(resolved), None, import_paths), {}).load_unit(str(resolved), read_source(resolved), None)
    return sorted(name for name, value in unit.names.items() if isinstance(value, BlockVal))


def load(path: str | Path, params: Mapping[str, Any] | None = None,
         import_paths: Sequence[str | Path] = ()) -> Space:
    """Compile a `.nas` file (or a built-in space by name) into a `Space`, through the per-user
    cache of compiled spaces (`nasdsl.cache`: JSON data, keyed by the source texts, imports,
    parameters and nasdsl's own code; `NASDSL_NO_CACHE=1` turns it off)."""
    resolved = resolve_space(path)
    text, file = read_source(resolved), str(resolved)
    loader = import_loader(file, None, import_paths)
    from . import cache
    directory = None if cache.custom_ops_registered() else cache.cache_dir()
    key = None if directory is None else cache.entry_key(text, file, params or {}, import_paths)
    if key is None:
        return _compile(text, file, params, loader)
    store = cache.SpaceCache(directory)

    def compile_and_store() -> Space:   # on a miss, and when a hit's template turns out damaged
        imports: list[tuple[str, str, str, str]] = []
        fresh = _compile(text, file, params, cache.recording(loader, imports))
        store.put(key, fresh, imports)
        return fresh

    space = store.get(key, loader, rebuild=compile_and_store)
    return compile_and_store() if space is None else space
