"""A per-user cache of compiled spaces, stored as data (JSON), never as code.

Compiling a space (parse, elaborate, shape check) and counting it takes from 0.1 s to
seconds; `nasdsl.load` therefore keeps what it built in a cache directory and reuses it
while nothing it depends on has changed. An entry is keyed by a SHA-256 of

* the root file's name and text, the `param` overrides and the import paths given,
* nasdsl's version and a digest of its own source files and grammar (their sizes and
  modification times, as Python's bytecode cache judges staleness: an edit of nasdsl
  invalidates every entry);

and it lists the files the space imported, with a SHA-256 of each text: a hit replays every
import through the loader (the import rule of `nasdsl.load`) and is used only when each
resolves to the same file with the same text. Spaces compiled while custom ops are
registered (`nasdsl.register_op`) are neither stored nor looked up: the registry is program
state, not data.

Safety. The directory is `$NASDSL_CACHE_DIR`, else `$XDG_CACHE_HOME/nasdsl`, else
`~/.cache/nasdsl`; `NASDSL_NO_CACHE=1` turns the cache off. It is created with mode 0700,
and a directory or entry owned by another user, or writable by group or others, is ignored
(never read, never written). Entries are JSON read through a size bound: loading one builds
only the IR's own frozen dataclasses from a fixed list (`nasdsl.cache_codec`, the entry
format), so no entry, however crafted, can make nasdsl import a module or run code (there is
no pickle or marshal here). Writes go to a new
file in the directory that is then renamed over the entry, so a reader sees the old entry or
the new one, never half of one. The cache keeps the 256 most recently written entries (a
write deletes older ones, and temporary files a killed write left). An entry that is truncated, corrupt (its SHA-256 line does not
match) or of another format is ignored and rebuilt: a cache never causes an error.

The same directory keeps the data sets nasdsl parses from text files (mnist5k, digits) as
NumPy arrays (`read_arrays`, `write_arrays`): numeric arrays only, read with
`allow_pickle=False`, under the same ownership, size and atomic-write rules.

Source locations survive the round trip: every `Loc` keeps its file, line, column and the
file's text, so an error raised from a cached space quotes its line as a fresh one does.

Example::

    >>> import tempfile
    >>> store = SpaceCache(Path(tempfile.mkdtemp()))
    >>> space = nasdsl.load("nasbench201")
    >>> store.put("0" * 64, space, imports=[])       # what `nasdsl.load` does after compiling
    >>> again = store.get("0" * 64, loader=None)      # ... and before, on the next load
    >>> again.fingerprint() == space.fingerprint(), again.size()
    (True, 15625)
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from .cache_codec import Uncacheable, decode_space, encode_space, fingerprint_of, paused_gc

FORMAT = "nasdsl-space-cache/1"
MAX_ENTRY_BYTES = 256 * 2**20   # an entry larger than this is not read
MAX_ENTRIES = 256               # compiled spaces kept; writing one more deletes the oldest


# --- where -----------------------------------------------------------------------------------

def cache_dir() -> Path | None:
    """The cache directory, created 0700 if missing; None when the cache is off
    (`NASDSL_NO_CACHE`), cannot be created, or is not safe to use (another owner, or
    writable by group or others)."""
    if os.environ.get("NASDSL_NO_CACHE", "") not in ("", "0"):
        return None
    given = os.environ.get("NASDSL_CACHE_DIR")
    if given:
        path = Path(given)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = Path(base) / "nasdsl"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISDIR(info.st_mode) or not _ours(info):
        return None
    return path


def _ours(info: os.stat_result) -> bool:
    """Owned by this user and writable by nobody else."""
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return False
    getuid = getattr(os, "getuid", None)
    return getuid is None or info.st_uid == getuid()


def custom_ops_registered() -> bool:
    """Whether the op registry differs from the built-in catalog (custom ops, custom rules)."""
    catalog = sys.modules.get("nasdsl.ops.catalog")
    if catalog is None:
        return False
    return catalog.customised()


# --- keys ------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def code_digest() -> str:
    """A digest of nasdsl's own source files and grammar, what compilation depends on: each
    file's path, size and modification time in nanoseconds (as Python's own bytecode cache
    decides staleness; reading and hashing every file would cost a cold load 8 ms)."""
    from .syntax import grammar_path
    package = Path(__file__).resolve().parent
    found: list[str] = []
    stack = [package]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        stack.append(Path(entry.path))
                elif entry.name.endswith(".py"):
                    info = entry.stat()
                    found.append(f"{os.path.relpath(entry.path, package)}\0{info.st_size}\0{info.st_mtime_ns}")
    grammar = grammar_path().stat()
    found.append(f"grammar\0{grammar.st_size}\0{grammar.st_mtime_ns}")
    return hashlib.sha256("\n".join(sorted(found)).encode()).hexdigest()


def entry_key(text: str, file: str, params: Mapping[str, Any], import_paths: Sequence[str | Path]) -> str | None:
    """The key of a space compiled from `text` (None if the parameters are not JSON data)."""
    from .version import __version__
    try:
        described = json.dumps([FORMAT, __version__, code_digest(), file, _sha(text), _typed(params),
                                [str(Path(p).resolve()) for p in import_paths]], sort_keys=True, allow_nan=False)
    except (TypeError, ValueError, OSError):
        return None
    return hashlib.sha256(described.encode()).hexdigest()


def _typed(value: Any) -> Any:
    """JSON that keeps 1, 1.0 and true apart, and tuples apart from lists."""
    if isinstance(value, Mapping):
        return {str(k): _typed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [_typed(v) for v in value]]
    if value is None or isinstance(value, (str, int, float, bool)):
        return [type(value).__name__, value]
    raise TypeError(type(value).__name__)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# --- reading and writing entries -------------------------------------------------------------

def _read(path: Path) -> dict | None:
    """An entry's JSON object, or None if it is missing, not ours, too big or damaged."""
    data = _read_bytes(path)
    if data is None:
        return None
    digest, sep, payload = data.partition(b"\n")
    if not sep or hashlib.sha256(payload).hexdigest().encode() != digest:
        return None
    try:
        record = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) and record.get("format") == FORMAT else None


def _read_bytes(path: Path) -> bytes | None:
    """A file's bytes, or None if it is missing, not a regular file of ours (a symbolic link is
    not followed), or larger than `MAX_ENTRY_BYTES`."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or not _ours(info) or info.st_size > MAX_ENTRY_BYTES:
            return None
        chunks, left = [], info.st_size + 1  # one byte more than stat says: a file that grew is damaged
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _write(path: Path, record: dict) -> None:
    """Write `record` to `path` atomically (a new 0600 file renamed over it); failures are
    silent: the cache is an optimisation."""
    try:
        payload = json.dumps(record, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError):  # a fact that is not JSON data is not kept
        return
    data = hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    _write_file(path, lambda f: f.write(data))


def _write_file(path: Path, fill: Callable[[Any], Any]) -> None:
    """Atomically replace `path` by a new 0600 file that `fill(binary file)` writes; failures
    are silent."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
        os.replace(tmp, path)
    except (OSError, ValueError):
        try:
            os.unlink(tmp)
        except OSError:
            pass


# --- parsed data sets as arrays ------------------------------------------------------------------
#
# A data set nasdsl parses from a text file on every run (mnist5k: a 5,000-row CSV that takes
# seconds) is kept as the arrays the parse produced, in a `.arrays.npz` entry of this directory.
# The key is `arrays_key(...)`: the name, the files the arrays were parsed from (path, size and
# modification time) and nasdsl's version and code digest, as for spaces. An entry is an
# uncompressed NumPy archive read with `allow_pickle=False` (only plain numeric arrays, no
# objects: nothing in it can run code); each array carries the zip format's CRC-32, so a
# damaged entry fails to load and is parsed again. Entries are written atomically, 0600, and
# the `MAX_ARRAY_ENTRIES` most recently written are kept.

ARRAYS_FORMAT = "nasdsl-arrays/1"
MAX_ARRAY_ENTRIES = 8


def arrays_key(name: str, sources: Sequence[str | Path]) -> str | None:
    """The key of the arrays data set `name` parses from the files `sources` (None if one of
    them cannot be read: such data is not cached).

    Example::

        >>> arrays_key("demo", [__file__]) == arrays_key("demo", [__file__]), arrays_key("demo", ["/no/such"])
        (True, None)
    """
    from .version import __version__
    described = [ARRAYS_FORMAT, __version__, code_digest(), name]
    for source in sources:
        try:
            info = os.stat(source)
        except (OSError, ValueError):
            return None
        described.append([str(source), info.st_size, info.st_mtime_ns])
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()


def read_arrays(directory: Path, key: str, names: Sequence[str]) -> dict[str, Any] | None:
    """The arrays `names` stored under `key`, or None (no entry; one not ours, too big, damaged,
    holding objects or other arrays).

    Example::

        >>> import numpy as np, tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> write_arrays(d, "0" * 64, {"y": np.arange(3)})
        >>> read_arrays(d, "0" * 64, ["y"])["y"].tolist(), read_arrays(d, "0" * 64, ["x"])
        ([0, 1, 2], None)
    """
    import io

    import numpy as np
    data = _read_bytes(directory / f"{key}.arrays.npz")
    if data is None:
        return None
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            if sorted(archive.files) != sorted(names):
                return None
            return {name: archive[name] for name in names}
    except Exception:  # noqa: BLE001 - a damaged or foreign entry is a miss, never an error
        return None


def write_arrays(directory: Path, key: str, arrays: Mapping[str, Any]) -> None:
    """Store `arrays` (name -> numeric NumPy array) under `key`, then keep the newest
    `MAX_ARRAY_ENTRIES` entries."""
    import numpy as np
    if any(np.asarray(a).dtype.hasobject for a in arrays.values()):
        return
    _write_file(directory / f"{key}.arrays.npz", lambda f: np.savez(f, **arrays))
    prune(directory, MAX_ARRAY_ENTRIES, kind="arrays")


# --- the cache as `nasdsl.load` uses it ---------------------------------------------------------

Loader = Callable[[str, Any], tuple[str, str]]


class SpaceCache:
    """The entries of one cache directory.

    Example::

        >>> import tempfile
        >>> SpaceCache(Path(tempfile.mkdtemp())).get("0" * 64, None) is None
        True
    """

    def __init__(self, directory: Path):
        self.directory = directory

    def _path(self, key: str, kind: str = "space") -> Path:
        return self.directory / f"{key}.{kind}.json"

    def get(self, key: str, loader: Loader | None, rebuild: Callable[[], Any] | None = None):
        """The cached `Space` under `key`, or None (no entry, a damaged one, or an import that
        now resolves to another file or text). `loader` resolves imports as the compile did;
        `rebuild` compiles the space, should its template turn out damaged when first used."""
        try:
            with paused_gc():
                record = _read(self._path(key))
                if record is None or record.get("key") != key or not _imports_unchanged(record["imports"], loader):
                    return None
                space = decode_space(record["space"], rebuild)
        except Exception:  # noqa: BLE001 - a damaged or foreign entry is a miss, never an error
            return None
        facts = _read(self._path(key, "facts"))
        if facts is not None and facts.get("key") == key:
            known = {k: v for k, v in facts.items() if k not in ("format", "key")}
            size = known.get("size", 0)
            if size.__class__ is int and size >= 0 and isinstance(known.get("fingerprint", ""), str):
                space.know(known)
        self.watch(key, space)
        return space

    def put(self, key: str, space, imports: Sequence[tuple[str, str, str, str]]) -> None:
        """Store a freshly compiled space (if its IR is of the kinds an entry holds)."""
        try:
            encoded = encode_space(space)
        except (Uncacheable, RecursionError):
            return
        if "fingerprint" not in space.facts():  # cheaper from the entry's table than from the objects
            space.know({"fingerprint": fingerprint_of(encoded, len(space.constraints))})
        _write(self._path(key), {"format": FORMAT, "key": key, "imports": [list(i) for i in imports],
                                 "space": encoded})
        prune(self.directory)
        self.watch(key, space)(space.facts())

    def watch(self, key: str, space) -> Callable[[dict], None]:
        """Record the space's facts (size, fingerprint, `Space.remembered` values) under `key`
        as it computes them; returns the recorder."""
        def record(facts: dict) -> None:
            _write(self._path(key, "facts"), {"format": FORMAT, "key": key,
                                              **{k: v for k, v in facts.items() if _is_json(v)}})
        space.report_facts(record)
        return record


def prune(directory: Path, keep: int | None = None, stale_after: float = 3600.0, kind: str = "space") -> list[str]:
    """Bound the cache: keep the `keep` most recently written entries of `kind` (`"space"`,
    each with its facts, or `"arrays"`), delete the older ones and any temporary file a killed
    write left behind `stale_after` seconds ago. Only this cache's own file names are touched.
    Returns the names deleted.

    Example::

        >>> import tempfile, time
        >>> d = Path(tempfile.mkdtemp())
        >>> for i in range(3):
        ...     _ = (d / f"{i:064x}.space.json").write_text("{}"); os.utime(d / f"{i:064x}.space.json", (i, i))
        >>> [name[62:] for name in prune(d, keep=1)]
        ['00.space.json', '01.space.json']
    """
    keep = MAX_ENTRIES if keep is None else keep
    suffix = {"space": ".space.json", "arrays": ".arrays.npz"}[kind]
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    entries, removed, now = [], [], time.time()
    for name in names:
        path = directory / name
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if name.endswith(suffix):
            entries.append((info.st_mtime, name))
        elif name.startswith(".") and name.endswith(".tmp") and now - info.st_mtime > stale_after:
            removed.append(name)
    entries.sort(reverse=True)
    for _, name in entries[keep:]:
        removed += [name, name[: -len(".space.json")] + ".facts.json"] if kind == "space" else [name]
    done = []
    for name in sorted(removed):
        try:
            os.unlink(directory / name)
            done.append(name)
        except OSError:
            pass
    return done


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _imports_unchanged(imports: list, loader: Loader | None) -> bool:
    if imports and loader is None:
        return False
    from .errors import Loc, NasError
    for path, importer, name, digest in imports:
        try:
            found, text = loader(path, Loc(importer, 1, 1))
        except NasError:
            return False
        if found != name or _sha(text) != digest:
            return False
    return True


def recording(loader: Loader, imports: list) -> Loader:
    """`loader`, noting each import it resolves as (path, importing file, file found, SHA-256)."""
    def load_import(path: str, loc) -> tuple[str, str]:
        found, text = loader(path, loc)
        imports.append((path, loc.file, found, _sha(text)))
        return found, text
    return load_import
