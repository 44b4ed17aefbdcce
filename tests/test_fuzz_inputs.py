"""Robustness of the inputs that arrived with search (issue 24): benchmark tables, cifar10
batch files, checkpoints, stores' attributes, architecture files and run directories are
mutated as `.nas` text is in `test_fuzz.py`, and whatever arrives ends in a `NasError` or
works: nothing else escapes, no input takes `LIMIT_S` of CPU time or allocates past
`MEMORY_LIMIT`.

Each class has a strategy (`tables()`, `cifar_batches()`, ...) and a runner
(`run_table`, ...) that takes one drawn input and returns "ok" or "error"; the default
suite draws a fast sample of each, and `bench/fuzz_census.py` draws many (its docstring has
the command for the full census).
"""
from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import tempfile
import time
import tracemalloc
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nasdsl import NasError  # noqa: E402

LIMIT_S = 5.0                  # CPU seconds per input (the bound)
MEMORY_LIMIT = 256 * 2**20     # bytes allocated at the peak, per input (under tracemalloc)
FAST = settings(max_examples=25, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def bounded(run, value) -> str:
    """`run(value)` under tracemalloc: "ok" or "error" (a NasError); anything else, more than
    LIMIT_S of CPU time or MEMORY_LIMIT bytes at the peak is an AssertionError."""
    start = time.process_time()
    tracemalloc.start()
    try:
        try:
            run(value)
            outcome = "ok"
        except NasError as err:
            assert "\n" not in err.message, f"a multi-line message: {err.message!r}"
            outcome = "error"
        except Exception as err:  # noqa: BLE001 - the point: nothing else may escape
            raise AssertionError(f"{type(err).__name__} escaped instead of a NasError: {str(err)[:300]}\n"
                                 f"input: {repr(value)[:300]}") from err
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    elapsed = time.process_time() - start
    assert elapsed < LIMIT_S, f"input took {elapsed:.2f} s of CPU time: {repr(value)[:300]}"
    assert peak < MEMORY_LIMIT, f"input allocated {peak / 2**20:.0f} MB at its peak: {repr(value)[:300]}"
    return outcome


@st.composite
def mutated(draw, base: bytes) -> bytes:
    """`base` with a few byte edits: flips, insertions, deletions, truncation, duplication."""
    data = bytearray(base)
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "repeat"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete" and data:
            del data[at:at + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[at:]
        elif kind == "repeat" and data:
            piece = bytes(data[at:at + draw(st.integers(1, 64))])
            data[at:at] = piece * draw(st.integers(1, 200))
    return bytes(data)


def _in_file(data: bytes, name: str, run) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        run(path)


# --- tables ----------------------------------------------------------------------------------------

_NB201 = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"
TABLE = f"arch,index,acc,latency\n{_NB201},0,91.5,1.25\n{_NB201.replace('none', 'skip_connect')},1,88.0,\n".encode()


@st.composite
def tables(draw) -> tuple[bytes, bool]:
    """A mutated CSV table, gzipped or not; sometimes a header or a row grown very wide."""
    data = draw(mutated(TABLE))
    if draw(st.booleans()):
        data = data.replace(b"\n", b"," * draw(st.sampled_from([1, 10**3, 10**5])) + b"\n", 1)
    zipped = draw(st.booleans())
    return (gzip.compress(data, compresslevel=1) if zipped else data), zipped


def run_table(case: tuple[bytes, bool]) -> None:
    from nasdsl.search.tables import read_table
    data, zipped = case
    if zipped and data:   # mutate the compressed stream as well, half the time
        data = data[:10] + data[10:]
    _in_file(data, "t.csv.gz" if zipped else "t.csv", read_table)


# --- cifar10 batches -------------------------------------------------------------------------------

_LABEL = st.one_of(st.integers(-3, 12), st.integers(), st.floats(allow_nan=True), st.text(max_size=3),
                   st.lists(st.integers(0, 9), max_size=2), st.none(), st.booleans())


@st.composite
def cifar_batches(draw) -> bytes:
    """A pickled batch dict whose labels and data vary in type, dtype and shape, then mutated."""
    np = pytest.importorskip("numpy")
    n = draw(st.integers(0, 4))
    labels = draw(st.one_of(st.lists(st.integers(0, 9), min_size=n, max_size=n), st.lists(_LABEL, max_size=5),
                            _LABEL))
    dtype = draw(st.sampled_from(["u1", "u1", "i8", "f4", "O", "V1", [("a", "u1")]]))
    width = draw(st.sampled_from([3072, 3072, 3071, 1]))
    data = np.zeros((n, width), dtype=dtype) if dtype != "O" else np.array([[1] * width] * n, dtype=object)
    if draw(st.booleans()):
        data = data.ravel()
    batch = {b"labels": labels, b"data": data} if draw(st.integers(0, 5)) else draw(
        st.sampled_from([[1, 2], "batch", {b"data": data}, {"labels": labels, "data": data}]))
    return draw(mutated(pickle.dumps(batch, protocol=draw(st.sampled_from([2, 4]))))) if draw(st.booleans()) \
        else pickle.dumps(batch, protocol=2)


def run_cifar_batch(data: bytes) -> None:
    from nasdsl.data import read_cifar_batch
    _in_file(data, "test_batch", read_cifar_batch)


# --- checkpoints ---------------------------------------------------------------------------------------

def _checkpoint_bytes() -> bytes:
    torch = pytest.importorskip("torch")
    import nasdsl
    from nasdsl.checkpoint import save_checkpoint
    from nasdsl.lower.discrete import build
    space = nasdsl.loads("network(x: [4]) { w = choice[2, 3]  return x -> Linear(4, w) }")
    arch = space.sample(0)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.pt"
        save_checkpoint(path, space, "discrete", build(space, arch), arch=arch)
        return path.read_bytes()


_CHECKPOINT: list[bytes] = []


@st.composite
def checkpoints(draw) -> bytes:
    """A small valid checkpoint, mutated byte-wise, or a zip whose members are rewritten."""
    import zipfile
    if not _CHECKPOINT:
        _CHECKPOINT.append(_checkpoint_bytes())
    base = _CHECKPOINT[0]
    if draw(st.booleans()):
        return draw(mutated(base))
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = src.read(info)
            if draw(st.integers(0, 3)) == 0:
                content = draw(mutated(content))
            dst.writestr(info.filename, content, compress_type=draw(st.sampled_from(
                [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])))
        if draw(st.integers(0, 4)) == 0:
            dst.writestr("m/data/99", bytes(draw(st.sampled_from([10, 10**6, 70 * 2**20]))),
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def run_checkpoint(data: bytes) -> None:
    from nasdsl.checkpoint import load_checkpoint, load_search_checkpoint

    def both(path):
        try:
            load_checkpoint(path).model()
        finally:
            load_search_checkpoint(path)
    _in_file(data, "last.ckpt", both)


# --- stores' attributes ---------------------------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=8)
_TRIAL_KEYS = st.sampled_from(["nasdsl", "result", "error", "yielded", "other"])
_OWN_KEYS = st.sampled_from(["arch", "key", "fingerprint", "worker", "retry_of"])


@st.composite
def store_attributes(draw) -> tuple[dict, dict]:
    """The study's and one trial's user attributes, of nasdsl's keys with any JSON values."""
    study = draw(st.dictionaries(st.sampled_from(["fingerprint", "previous_fingerprints", "space", "sources",
                                                  "params", "objective", "strategy"]), JSON, max_size=4))
    trial = draw(st.dictionaries(_TRIAL_KEYS, JSON, max_size=4))
    if draw(st.booleans()):
        trial["nasdsl"] = draw(st.dictionaries(_OWN_KEYS, JSON, max_size=5))
    if draw(st.booleans()):
        trial["result"] = {"metrics": draw(st.dictionaries(st.text(max_size=3), JSON, max_size=3)),
                           "seconds": draw(JSON)}
    return study, trial


def run_store_attributes(case: tuple[dict, dict]) -> None:
    from types import SimpleNamespace

    from nasdsl.search.store import Store, _study_attrs
    study, trial = case
    _study_attrs(study, "exp.db")
    optuna = pytest.importorskip("optuna")
    frozen = SimpleNamespace(user_attrs=trial, number=0, _trial_id=1, state=optuna.trial.TrialState.COMPLETE,
                             value=1.0)
    store = Store.__new__(Store)
    store.url = "exp.db"
    record = store._record(frozen)
    json.dumps(record.to_json())


# --- architecture files -----------------------------------------------------------------------------------

ARCH = json.dumps({"Cell.e1_0": "none", "Cell.e2_0": "skip_connect", "Cell.e2_1": "nor_conv_1x1",
                   "Cell.e3_0": "nor_conv_3x3", "Cell.e3_1": "avg_pool_3x3", "Cell.e3_2": "none"}).encode()


def arch_files() -> st.SearchStrategy[bytes]:
    return st.one_of(mutated(ARCH), mutated(_NB201.encode()), st.binary(max_size=200))


def run_arch_file(data: bytes) -> None:
    import nasdsl
    from nasdsl.cli import load_arch  # what --arch FILE does: read, parse (JSON or genotype), validate
    space = nasdsl.load("nasbench201")
    _in_file(data, "arch.json", lambda path: space.validate(load_arch(space, str(path))))


# --- run directories ---------------------------------------------------------------------------------------

_ENTRY = st.sampled_from(["exp.db", "logs", "logs/version_0", "logs/version_0/metrics.csv", "arch.json",
                          "last.ckpt", "run.json"])


@st.composite
def run_dirs(draw) -> list[tuple[str, str]]:
    """Entries of an output folder: files, folders and links (dangling, to files, to folders)."""
    return draw(st.lists(st.tuples(_ENTRY, st.sampled_from(["file", "dir", "link", "dangling", "fifo"])),
                         max_size=5))


def run_run_dir(entries: list[tuple[str, str]]) -> None:
    from nasdsl.run import check_run_dir
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out"
        out.mkdir()
        outside = Path(folder) / "outside"
        for name, kind in entries:
            path = out / name
            if os.path.lexists(path):   # one entry a name (writing "x" into an earlier FIFO would block)
                continue
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                {"file": lambda p: p.write_text("x"), "dir": lambda p: p.mkdir(exist_ok=True),
                 "link": lambda p: p.symlink_to(folder), "dangling": lambda p: p.symlink_to(outside / "x"),
                 "fifo": os.mkfifo}[kind](path)
            except OSError:   # the entry cannot be made over an earlier one: skip it
                continue
        links = any(p.is_symlink() for p in out.rglob("*"))
        try:
            check_run_dir(out)
        except NasError:
            assert links, "refused a folder without links"
            raise
        assert not links, "accepted a folder holding a link"


def warm() -> None:
    """Import what the runners use and load the space they read, outside any timed input."""
    import nasdsl
    import nasdsl.run
    import nasdsl.search.evaluators
    import nasdsl.search.store  # noqa: F401
    nasdsl.load("nasbench201")
    try:
        import nasdsl.checkpoint
        import nasdsl.data
        import nasdsl.search.oneshot  # noqa: F401
    except ImportError:  # no torch: those classes are skipped
        pass


CLASSES = {
    "tables": (tables(), run_table),
    "cifar10 batches": (cifar_batches(), run_cifar_batch),
    "checkpoints": (checkpoints(), run_checkpoint),
    "store attributes": (store_attributes(), run_store_attributes),
    "architecture files": (arch_files(), run_arch_file),
    "run directories": (run_dirs(), run_run_dir),
}


@pytest.mark.parametrize("name", list(CLASSES))
def test_each_input_class_raises_only_nas_error_within_bounds(name):
    strategy, run = CLASSES[name]
    if name in ("cifar10 batches", "checkpoints"):
        pytest.importorskip("torch")
    if name == "store attributes":
        pytest.importorskip("optuna")
    warm()

    @FAST
    @given(strategy)
    def check(value):
        note(repr(value)[:300])
        bounded(run, value)

    check()
