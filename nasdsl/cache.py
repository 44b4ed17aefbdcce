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
only the IR's own frozen dataclasses from a fixed list, so no entry, however crafted, can make
nasdsl import a module or run code (there is no pickle or marshal here). Writes go to a new
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

import dataclasses
import gc
import hashlib
import json
import os
import stat
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

FORMAT = "nasdsl-space-cache/1"
MAX_ENTRY_BYTES = 256 * 2**20   # an entry larger than this is not read
MAX_ENTRIES = 256               # compiled spaces kept; writing one more deletes the oldest


@contextmanager
def paused_gc():
    """The cyclic garbage collector paused for a burst of allocation (compiling a space,
    reading or writing an entry: tens of thousands of small objects that live on, none of
    them garbage). Collection passes over a growing heap cost 20-40% of compiling a large
    space; cycles made meanwhile are collected once it resumes."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


class Uncacheable(Exception):
    """The space holds something the entry format does not store (it is then not cached)."""


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
                space._facts.update(known)
        self.watch(key, space)
        return space

    def put(self, key: str, space, imports: Sequence[tuple[str, str, str, str]]) -> None:
        """Store a freshly compiled space (if its IR is of the kinds an entry holds)."""
        try:
            encoded = encode_space(space)
        except (Uncacheable, RecursionError):
            return
        if "fingerprint" not in space._facts:  # cheaper from the entry's table than from the objects
            space._facts["fingerprint"] = fingerprint_of(encoded, len(space.constraints))
        _write(self._path(key), {"format": FORMAT, "key": key, "imports": [list(i) for i in imports],
                                 "space": encoded})
        prune(self.directory)
        self.watch(key, space)
        space._facts_sink(dict(space._facts))

    def watch(self, key: str, space) -> None:
        """Record the space's facts (size, fingerprint, `Space.remembered` values) under `key`
        as it computes them."""
        def record(facts: dict) -> None:
            _write(self._path(key, "facts"), {"format": FORMAT, "key": key,
                                              **{k: v for k, v in facts.items() if _is_json(v)}})
        space._facts_sink = record


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


# --- the IR as JSON ------------------------------------------------------------------------------
#
# An encoded space is a flat table of nodes, children before parents, plus the index of the
# root. A field is a JSON scalar (str, int, float, bool, null) or `[i]`, a reference to node i.
# Nodes: ["t", f...] a tuple, ["l", f...] a list, ["d", k, f, k, f...] a dict with str keys,
# ["f", "inf"|"-inf"|"nan"] a float JSON cannot spell, ["L", file, line, col, text] a Loc
# (text: an index into "texts" or null), [class, f...] an IR dataclass built from its
# init fields, and ["CellOp*", op_label, input_label, first, n] a cell op whose n candidates
# are `first` and n - 1 fresh copies of it (as the elaborator built them). Modules keep their
# identity (a module used twice is one node: shared weights stay shared, distinct modules stay
# distinct); values, tuples and locations equal in type and content become one node.

def _classes() -> dict[str, type]:
    from . import ir, values
    out = {cls.__name__: cls for cls in (ir.Decision, ir.Constraint, ir.Op, ir.Sequential, ir.TensorIn, ir.Apply,
                                         ir.Combine, ir.Pick, ir.Graph, ir.LayerChoice, ir.Repeat, ir.CellOp,
                                         ir.Cell, values.Ref, values.Binary, values.Unary, values.IfElse,
                                         values.Func)}
    assert not {"t", "l", "d", "f", "L"} & set(out)
    return out


@lru_cache(maxsize=1)
def _schema() -> tuple[dict[str, type], dict[type, tuple[str, tuple[str, ...]]], frozenset]:
    from . import ir
    classes = _classes()
    fields = {cls: (name, tuple(f.name for f in dataclasses.fields(cls) if f.init)) for name, cls in classes.items()}
    modules = frozenset({ir.Op, ir.Sequential, ir.Graph, ir.LayerChoice, ir.Repeat, ir.Cell})
    return classes, fields, modules


_PLAIN = frozenset({int, str, bool, type(None)})


def _plain_args_key(args: tuple) -> tuple | None:
    """An op's `(name, value)` arguments as a key that keeps 1, 1.0, True and 0.0, -0.0 apart,
    when every value is a constant or a tuple of constants; None otherwise."""
    key = []
    for name, v in args:
        cls = v.__class__
        if cls in _PLAIN:
            key.append((name, cls, v))
        elif cls is float:
            key.append((name, cls, repr(v)))
        elif cls is tuple and all(i.__class__ in _PLAIN for i in v):
            key.append((name, cls, tuple([(i.__class__, i) for i in v])))
        else:
            return None
    return tuple(key)


class _Encoder:
    def __init__(self, copies: Mapping[int, Any] | None = None):
        self.copies = copies or {}
        from .errors import Loc
        _, self.fields, self.modules = _schema()
        self.loc = Loc
        self.nodes: list[list] = []
        self.by_id: dict[int, list] = {}
        self.by_value: dict[tuple, list] = {}
        self.by_args: dict[tuple, list] = {}
        self.texts: dict[str, int] = {}
        from .ir import LayerChoice, Op, Sequential
        self.op, self.sequential, self.choice = Op, Sequential, LayerChoice

    def field(self, x: Any) -> Any:
        cls = x.__class__
        if cls is str or cls is int or cls is bool or x is None:
            return x
        hit = self.by_id.get(id(x))
        if hit is not None:
            return hit
        field = self.field
        if cls is self.op:  # the commonest node, spelled out
            args = x.args
            ref = self.by_id.get(id(args))
            if ref is None:  # arguments of constants: found by a key made at once, not item by item
                key = _plain_args_key(args)
                ref = None if key is None else self.by_args.get(key)
                if ref is None:
                    ref = field(args)
                    if key is not None:
                        self.by_args[key] = ref
                self.by_id[id(args)] = ref
            node = ["Op", x.name, ref, field(x.loc)]
            self.nodes.append(node)
            ref = self.by_id[id(x)] = [len(self.nodes) - 1]
            return ref
        if cls is self.sequential or cls is self.choice:  # their tuples hold modules: never equal to another
            node = [cls.__name__, x.label] if cls is self.choice else [cls.__name__]
            members = x.candidates if cls is self.choice else x.items
            node.append(self.unshared(members, cls is self.choice))
            node.append(field(x.loc))
            self.nodes.append(node)
            ref = self.by_id[id(x)] = [len(self.nodes) - 1]
            return ref
        if cls is tuple:
            node = ["t"]
            for v in x:
                c = v.__class__
                node.append(v if c is str or c is int else field(v))
        elif cls is float:
            if x == x and x not in (float("inf"), float("-inf")):
                return x
            node = ["f", repr(x)]
        elif id(x) in self.copies and self.copies[id(x)] is x:  # a cell op whose later candidates copy the first
            node = ["CellOp*", x.op_label, x.input_label, field(x.candidates[0]), len(x.candidates)]
        elif cls in self.fields:
            name, names = self.fields[cls]
            node = [name]
            for f in names:
                node.append(field(getattr(x, f)))
            if cls in self.modules:  # identity is meaning here: never merged with an equal module
                self.nodes.append(node)
                ref = self.by_id[id(x)] = [len(self.nodes) - 1]
                return ref
        elif cls is self.loc:
            text = None if x.text is None else self.texts.setdefault(x.text, len(self.texts))
            node = ["L", x.file, x.line, x.col, text]
        elif cls is list:
            node = ["l", *map(field, x)]
        elif cls is dict:
            node = ["d"]
            for k, v in x.items():
                if k.__class__ is not str:
                    raise Uncacheable(f"a dict key of type {type(k).__name__}")
                node += [k, field(v)]
        else:
            raise Uncacheable(f"a value of type {cls.__name__}")
        # equal values become one node: the key keeps 1, 1.0 and True apart
        key = tuple([v if v.__class__ is str else (v.__class__, v[0] if v.__class__ is list else
                                                   repr(v) if v.__class__ is float else v) for v in node])  # 0.0, -0.0
        ref = self.by_value.get(key)
        if ref is None:
            self.nodes.append(node)
            ref = self.by_value[key] = [len(self.nodes) - 1]
        self.by_id[id(x)] = ref  # (every object encoded stays alive: the value holds it)
        return ref

    def unshared(self, members: tuple, named: bool) -> list:
        """A tuple of modules (or of (name, module) pairs), written without looking for an
        equal one: it holds modules, each of which is only itself."""
        hit = self.by_id.get(id(members))
        if hit is not None:
            return hit
        field, node = self.field, ["t"]
        for m in members:
            if named:
                pair = self.by_id.get(id(m))
                if pair is None:
                    self.nodes.append(["t", m[0], field(m[1])])
                    pair = self.by_id[id(m)] = [len(self.nodes) - 1]
                node.append(pair)
            else:
                node.append(field(m))
        self.nodes.append(node)
        ref = self.by_id[id(members)] = [len(self.nodes) - 1]
        return ref


def encode(value: Any, copies: Mapping[int, Any] | None = None) -> dict:
    """The JSON form of IR data: a space's parts, or any value made of constants, tuples,
    lists, dicts, locations and IR dataclasses (`decode` inverts it). `copies` holds cell ops
    (by id) whose candidates after the first are fresh copies of it: those are written once."""
    enc = _Encoder(copies)
    with paused_gc():
        root = enc.field(value)
    return {"nodes": enc.nodes, "root": root, "texts": list(enc.texts)}


def encode_space(space) -> dict:
    """The JSON form of a space's IR: first (`"root"`, nodes up to `"head"`) the decisions,
    constraints, network inputs, parameters and sources, then (`"template"`) the template,
    which a reader can build later, on first use."""
    enc = _Encoder(space._fresh_copies)
    template = space.template
    with paused_gc():
        root = enc.field((space.decisions, space.constraints + space.budgets, template.inputs, space.params,
                          space.sources, space.root_file))
        head = len(enc.nodes)
        built = enc.field(template)
    return {"nodes": enc.nodes, "root": root, "head": head, "template": built, "texts": list(enc.texts)}


LONG_TEXT = 1 << 14  # a node whose text is longer is kept as its pieces, not joined (`fingerprint_of`)


def fingerprint_of(data: dict, constraints: int) -> str:
    """`Space.fingerprint()` of the space `encode_space` wrote as `data` (of whose constraints
    the first `constraints` are not budgets), worked out from the entry's node table: the text
    hashed is `repr((decisions, constraints, budgets, template))`, written once per node, so a
    node met many times (a cell op's copied candidates, shared values) costs one `repr`.

    A node's text is joined into one string while it is at most `LONG_TEXT` characters; a
    longer one is kept as its pieces (strings, and the indices of long children), and the hash
    is fed by walking those. The texts of shared nodes repeat, so the whole text can be far
    longer than the table (7.6 MB for NAS-Bench-101's 3,205 nodes): joining it level by level
    would copy it once per level of nesting.

    Example::

        >>> space = nasdsl.load("darts")
        >>> fingerprint_of(encode_space(space), len(space.constraints)) == space.fingerprint()
        True
    """
    _, fields, _ = _schema()
    shown = {name: tuple(f.name for f in dataclasses.fields(cls) if f.init and f.repr)
             for cls, (name, _) in fields.items()}
    positions = {name: [i for i, f in enumerate(names) if f in shown[name]] for _, (name, names) in fields.items()}
    classes = {name: (cls.__qualname__ + "(", [(f"{', ' if k else ''}{shown[name][k]}=", i)
                                               for k, i in enumerate(positions[name])])
               for cls, (name, _) in fields.items()}
    texts: list[Any] = []   # per node: its text (a str), or its pieces (a list of str and node indices)
    sizes: list[int] = []   # per node: the length of its text

    def part(v: Any) -> Any:
        """A field's text (a str), or the index of its node when that node's text is long."""
        if v.__class__ is list:
            t = texts[v[0]]
            return t if t.__class__ is str else v[0]
        return repr(v)

    for node in data["nodes"]:
        pieces = _node_pieces(node, part, classes)
        size = 0
        for piece in pieces:
            size += len(piece) if piece.__class__ is str else sizes[piece]
        sizes.append(size)
        texts.append("".join(pieces) if size <= LONG_TEXT else pieces)  # short: every piece is a str
    decisions, everything = (data["nodes"][data["root"][0]][i] for i in (1, 2))
    rules = [part(v) for v in data["nodes"][everything[0]][1:]]
    payload = ["(", part(decisions), ", ", *(_tupled(rules[:constraints]) if constraints else ["()"]), ", ",
               *(_tupled(rules[constraints:]) if len(rules) > constraints else ["()"]), ", ",
               part(data["template"]), ")"]
    return _sha256_of_pieces(payload, texts).hexdigest()[:16]


def _listed(opening: str, items: list, closing: str) -> list:
    """`opening`, the items separated by ", ", `closing`: as a list of pieces."""
    pieces: list[Any] = [opening]
    for k, item in enumerate(items):
        if k:
            pieces.append(", ")
        pieces.append(item)
    pieces.append(closing)
    return pieces


def _tupled(items: list) -> list:
    """The pieces of a tuple's `repr`, given its items' texts."""
    return _listed("(", items, ",)" if len(items) == 1 else ")")


def _node_pieces(node: list, part: Callable[[Any], Any], classes: Mapping[str, tuple]) -> list:
    """The `repr` of the value an entry's node stands for, as pieces (`fingerprint_of`): strings,
    and node indices standing for their (long) texts; `part(v)` gives a field's piece and
    `classes` maps a tag to the opening of its class's `repr` and, per field shown, its text
    up to the value and the value's position in the node."""
    tag = node[0]
    if tag == "t":
        return _tupled([part(v) for v in node[1:]])
    if tag == "l":
        return _listed("[", [part(v) for v in node[1:]], "]")
    if tag == "d":
        pieces = ["{"]
        for k, (key, v) in enumerate(zip(node[1::2], node[2::2])):
            pieces += [f"{', ' if k else ''}{key!r}: ", part(v)]
        pieces.append("}")
        return pieces
    if tag == "f":
        return [repr(float(node[1]))]
    if tag == "L":
        return [f"Loc(file={node[1]!r}, line={node[2]!r}, col={node[3]!r})"]
    if tag == "CellOp*":
        _, op_label, input_label, first, count = node
        return ["CellOp(op_label=", part(op_label), ", input_label=", part(input_label), ", candidates=",
                *_tupled([part(first)] * count), ")"]
    opening, shown = classes[tag]
    pieces = [opening]
    for name, i in shown:
        pieces += [name, part(node[i + 1])]
    pieces.append(")")
    return pieces


def _sha256_of_pieces(pieces: list, texts: list) -> Any:
    """SHA-256 of the UTF-8 text that `pieces` spell out, a node index standing for its text
    in `texts` (a str, or pieces again), fed to the hash in batches of about `LONG_TEXT`."""
    digest, buffer, held = hashlib.sha256(), [], 0
    stack = [iter(pieces)]
    while stack:
        for piece in stack[-1]:
            if piece.__class__ is not str:
                stack.append(iter(texts[piece]))
                break
            buffer.append(piece)
            held += len(piece)
            if held > LONG_TEXT:
                digest.update("".join(buffer).encode())
                buffer, held = [], 0
        else:
            stack.pop()
    digest.update("".join(buffer).encode())
    return digest


def decode_space(data: dict, rebuild: Callable[[], Any] | None = None):
    """A `Space` from `encode_space`'s form; raises on anything malformed in the decisions and
    constraints (the caller treats that as a miss). The template is decoded on first use; if it
    is malformed then, `rebuild()` (compiling the space again) supplies it."""
    from .space import LazyTemplate, Space
    copies: dict[int, Any] = {}
    head, objs = data["head"], []
    if head.__class__ is not int or data["template"].__class__ is not list:
        raise ValueError("entry")
    decisions, constraints, inputs, params, sources, root_file = decode(data, copies, objs, stop=head)

    def build():
        try:
            with paused_gc():
                return decode(data, copies, objs, root=data["template"])
        except Exception:  # noqa: BLE001 - a template that does not decode: compile it again
            if rebuild is None:
                raise
            return rebuild().template

    space = Space(decisions, constraints, LazyTemplate(inputs, build), params, sources, root_file)
    space._fresh_copies = copies
    return space


def decode(data: dict, copies: dict[int, Any] | None = None, objs: list | None = None, stop: int | None = None,
           root: Any = None) -> Any:
    """The value `encode` wrote; raises on anything malformed. Builds only tuples, lists,
    dicts, floats, locations and the IR dataclasses of a fixed list, with data as fields:
    nothing in `data` names a module to import or a function to call.

    Example::

        >>> from nasdsl.values import Ref, binary
        >>> value = (binary("*", Ref("k"), 2), [1, 1.0, True], float("inf"))
        >>> decode(json.loads(json.dumps(encode(value)))) == value
        True

    With `objs` (the nodes built so far) and `stop`, it builds the nodes up to `stop` only;
    called again with the same `objs`, it goes on from there (`root`: the field to return).
    """
    from . import ir
    from .errors import Loc
    classes, fields, modules = _schema()
    texts = data["texts"]
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ValueError("texts")
    objs = [] if objs is None else objs
    append = objs.append

    def field(v: Any) -> Any:
        if v.__class__ is list:
            (i,) = v
            if i.__class__ is not int or not 0 <= i < len(objs):
                raise ValueError("reference")
            return objs[i]
        if v is None or v.__class__ in (str, int, float, bool):
            return v
        raise ValueError("field")

    nodes = data["nodes"]
    for node in nodes[len(objs):len(nodes) if stop is None else stop]:
        tag = node[0]
        if tag == "t":
            append(tuple([field(v) for v in node[1:]]))
        elif tag == "L":
            _, file, line, col, text = node
            if not (isinstance(file, str) and isinstance(line, int) and isinstance(col, int)):
                raise ValueError("loc")
            append(Loc(file, line, col, None if text is None else texts[text]))
        elif tag == "l":
            append([field(v) for v in node[1:]])
        elif tag == "d":
            keys = node[1::2]
            if not all(isinstance(k, str) for k in keys):
                raise ValueError("dict")
            append(dict(zip(keys, map(field, node[2::2]))))
        elif tag == "CellOp*":
            _, op_label, input_label, first, count = node
            first = field(first)
            if first.__class__ not in modules or count.__class__ is not int or not 1 <= count <= 64:
                raise ValueError("cell op")
            op = classes["CellOp"](field(op_label), field(input_label),
                                   (first, *[ir.fresh(first) for _ in range(count - 1)]))
            if copies is not None:
                copies[id(op)] = op
            append(op)
        elif tag == "f":
            if node[1] not in ("inf", "-inf", "nan"):
                raise ValueError("float")
            append(float(node[1]))
        else:
            cls = classes[tag]
            args = [field(v) for v in node[1:]]
            if len(args) != len(fields[cls][1]):
                raise ValueError("arity")
            append(cls(*args))
    return field(data["root"] if root is None else root)
