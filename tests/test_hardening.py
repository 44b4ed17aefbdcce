"""Hardening, second round (issue 24): every hostile input that arrived with search ends in
one located or named `NasError` (exit 1, no traceback, quoted text bounded), never in an
internal error (exit 70), a hang or unbounded memory.

Each test reproduces one defect of the issue through the command line (in process, through
`cli.main`) or the API and asserts the exact first line of the error.
"""
from __future__ import annotations

import pytest

import nasdsl
from nasdsl import NasError
from nasdsl.cli import main


def fails(capsys, *argv) -> str:
    """Run the command line; it must exit 1 with a NasError and no traceback. The first line."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 1, (code, out, err)
    assert "Traceback" not in err and "internal error" not in err
    assert all(len(line) <= 400 for line in err.splitlines()), err
    return err.splitlines()[0]


def space(tmp_path, expr: str, extra: str = "", name: str = "t.nas"):
    path = tmp_path / name
    path.write_text(f"network(x: [4]) {{\n  k = choice[3, 4, 5]\n  return x -> Linear(4, {expr})\n}}\n{extra}")
    return path


# --- 1. division and modulo by zero over a choice --------------------------------------------

@pytest.mark.parametrize("expr, col, message", [
    ("4 + k // 0", 31, "division by zero: k // 0 divides by zero for every choice of k"),
    ("4 + k % 0", 31, "division by zero: k % 0 divides by zero for every choice of k"),
    ("4 + int(k // 0.0)", 35, "division by zero: k // 0.0 divides by zero for every choice of k"),
    ("4 + 4 // (k - 3)", 31, "division by zero: 4 // (k - 3) divides by zero when k = 3"),
    ("4 + 12 % (k - 4)", 32, "division by zero: 12 % (k - 4) divides by zero when k = 4"),
    ("4 + int((k - 3) ** (2 - k))", 41,
     "division by zero: (k - 3) ** (2 - k) raises zero to a negative power when k = 3"),
])
def test_check_finds_a_division_by_zero_over_a_choice_at_the_expression(tmp_path, capsys, expr, col, message):
    path = space(tmp_path, expr)
    assert fails(capsys, "check", path) == f"{path}:3:{col}: {message}"
    for command in (["compile", path, "--strategy", "discrete"], ["info", path], ["sample", path]):
        assert fails(capsys, *command) == f"{path}:3:{col}: {message}"


def test_a_division_by_zero_with_a_budget_is_found_by_every_command(tmp_path, capsys):
    path = space(tmp_path, "4 + 4 // (k - 5)", "require params <= 100000\n")
    for command in ("check", "info", "sample"):
        assert fails(capsys, command, path) == \
            f"{path}:3:31: division by zero: 4 // (k - 5) divides by zero when k = 5"


def test_the_values_that_divide_by_zero_are_named_jointly(tmp_path):
    src = "network(x: [4]) {\n  a = choice[1, 2]\n  b = choice[1, 2]\n  return x -> Linear(4, 8 // (a - b) + 4)\n}\n"
    with pytest.raises(NasError) as err:
        nasdsl.loads(src)
    assert err.value.message == "division by zero: 8 // (a - b) divides by zero when a = 1 and b = 1"
    assert (err.value.loc.line, err.value.loc.col) == (4, 27)


@pytest.mark.parametrize("expr", [
    "4 + (4 // (k - 3) if k != 3 else 1)",     # the value `if` guards its branches
    "4 + (1 if k == 3 else 4 // (k - 3))",
    "4 + 4 // max(k - 3, 1)",
    "4 + k // 2",
])
def test_a_divisor_kept_away_from_zero_is_accepted(tmp_path, expr):
    assert nasdsl.load(space(tmp_path, expr)).size() == 3


def test_a_divisor_zero_only_where_the_expression_does_not_exist_is_accepted():
    # the block exists only when k // 3 > 0, that is k in (3, 4), where k - 2 is never zero
    src = ("network(x: [4]) {\n  k = choice[2, 3, 4]\n"
           "  return x -> repeat(k // 3, lambda i: Linear(4, 4 + 0 * (8 // (k - 2)))) -> Linear(4, 4)\n}\n")
    assert nasdsl.loads(src).size() == 3
    with pytest.raises(NasError) as err:
        nasdsl.loads(src.replace("(k - 2)", "(k - 3)"))
    assert err.value.message == "division by zero: 8 // (k - 3) divides by zero when k = 3"


def test_a_division_by_zero_past_what_check_enumerates_is_still_a_nas_error():
    from nasdsl.values import DivisionByZero, Ref, binary, evaluate
    expr = binary("//", 8, binary("-", Ref("k"), 3))
    with pytest.raises(DivisionByZero) as err:
        evaluate(expr, {"k": 3})
    assert isinstance(err.value, NasError) and isinstance(err.value, ZeroDivisionError)
    assert err.value.message == "division by zero: 8 // 0"


# --- 2. cifar10 folders ------------------------------------------------------------------------

def cifar_folder(tmp_path, labels=None, data=None, n=4):
    """A cifar-10-batches-py folder whose test_batch holds `labels` / `data` when given."""
    import pickle

    import numpy as np
    folder = tmp_path / "cifar"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("data_batch_1", "test_batch"):
        batch = {b"labels": rng.integers(0, 10, n).tolist(), b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}
        if name == "test_batch":
            batch[b"labels"] = batch[b"labels"] if labels is None else labels
            batch[b"data"] = batch[b"data"] if data is None else data
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder


def _np():
    return pytest.importorskip("numpy")


@pytest.mark.parametrize("labels, message", [
    (["cat", "dog", "cat", "dog"], "label 0 is 'cat', expected an integer 0..9"),
    ([[1], [2], [3], [4]], "label 0 is [1], expected an integer 0..9"),
    ([1, 2, 10**40, 3], "label 2 is a huge integer, expected an integer 0..9"),
    ([1, 2, 3, 10**9], "label 3 is 1000000000, expected an integer 0..9"),
    ([1, -5, 3, 4], "label 1 is -5, expected an integer 0..9"),
    ([1.0, 2.0, 3.0, 4.0], "label 0 is 1.0, expected an integer 0..9"),
    ([True, 2, 3, 4], "label 0 is True, expected an integer 0..9"),
    ([1, 2, 3], "3 labels for 4 images"),
    ("0123", "'labels' must be a list of 4 integers, got str"),
])
def test_cifar10_labels_that_are_not_classes_are_refused(tmp_path, capsys, labels, message):
    pytest.importorskip("torch")
    from nasdsl.data import load_data
    folder = cifar_folder(tmp_path, labels=labels)
    with pytest.raises(NasError) as err:
        load_data(f"cifar10:{folder}")
    assert err.value.message == f"cifar10: {folder / 'test_batch'}: {message}"
    assert fails(capsys, "train", "nasbench201", "--data", f"cifar10:{folder}", "--arch", "{}",
                 "--out", tmp_path / "run") == f"cifar10: {folder / 'test_batch'}: {message}"


@pytest.mark.parametrize("make, got", [
    (lambda np: np.array([[1] * 3072] * 4, dtype=object), "a |O array of shape [4, 3072]"),
    # structured and void dtypes are refused as they are unpickled: their pickled state can declare
    # an item size that makes a 3 kB file allocate gigabytes (found by tests/test_fuzz_inputs.py)
    (lambda np: np.zeros((4, 3072), dtype=[("a", "u1")]), None),
    (lambda np: np.zeros((4, 3072), dtype="V1"), None),
    (lambda np: np.zeros((4, 3072), dtype=np.float64), "a <f8 array of shape [4, 3072]"),
    (lambda np: np.zeros((4, 3071), dtype=np.uint8), "a |u1 array of shape [4, 3071]"),
    (lambda np: [0] * 3072, "list"),
])
def test_cifar10_data_that_is_not_uint8_images_is_refused(tmp_path, make, got):
    pytest.importorskip("torch")
    from nasdsl.data import load_data
    folder = cifar_folder(tmp_path, data=make(_np()))
    with pytest.raises(NasError) as err:
        load_data(f"cifar10:{folder}")
    if got is None:
        assert err.value.message.startswith(f"cifar10: {folder / 'test_batch'} is not a CIFAR-10 batch: refusing dtype ")
    else:
        assert err.value.message == \
            f"cifar10: {folder / 'test_batch'}: 'data' must be an N x 3072 uint8 array, got {got}"


def test_a_cifar10_object_array_whose_shape_outgrows_its_list_is_refused_not_built(tmp_path):
    """An object array of 4 pickled with the shape (8,): numpy's own `ndarray.__setstate__`
    wrote past the list and crashed the process (SIGSEGV, found by bench/fuzz_census.py). The
    reader keeps a pickled array as data and builds it only from bytes that fill a plain dtype;
    the reading runs in a child so that a crash fails this one test."""
    import pickle
    import subprocess
    import sys
    np = _np()
    raw = pickle.dumps({b"data": np.array([1, 1, 1, 1], dtype=object), b"labels": [1]}, protocol=2)
    assert raw.count(b"K\x04\x85") == 1
    path = tmp_path / "test_batch"
    path.write_bytes(raw.replace(b"K\x04\x85", b"K\x08\x85"))
    child = ("import sys; from pathlib import Path; from nasdsl import NasError; from nasdsl.data import "
             "read_cifar_batch\ntry:\n    read_cifar_batch(Path(sys.argv[1]))\nexcept NasError as err:\n"
             "    print(err.message)")
    done = subprocess.run([sys.executable, "-c", child, str(path)], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip()) == \
        (0, f"cifar10: {path}: 'data' must be an N x 3072 uint8 array, got a |O array of shape [8]")


def test_a_cifar10_batch_that_stores_far_into_its_memo_is_refused_before_allocating(tmp_path):
    """`LONG_BINPUT 175726962` in a 60-byte pickle: the unpickler grew its memo table to that
    index (2.7 GB; found by bench/fuzz_census.py). Refused before loading, in a few kB."""
    import pickle
    import tracemalloc
    raw = pickle.dumps({b"labels": [1]}, protocol=2)
    assert raw.count(b"q\x00") == 1
    path = tmp_path / "test_batch"
    path.write_bytes(raw.replace(b"q\x00", b"r" + (175726962).to_bytes(4, "little")))
    from nasdsl.data import read_cifar_batch
    tracemalloc.start()
    try:
        with pytest.raises(NasError) as err:
            read_cifar_batch(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.value.message == (f"cifar10: {path} is not a CIFAR-10 batch: memo index 175,726,962 at byte 3")
    assert peak < 2**20


def test_a_cifar10_array_whose_bytes_do_not_fill_its_shape_is_refused(tmp_path):
    import pickle
    np = _np()
    raw = pickle.dumps({b"data": np.zeros((1, 3072), dtype=np.uint8), b"labels": [1]}, protocol=2)
    path = tmp_path / "test_batch"
    path.write_bytes(raw.replace(b"K\x01M\x00\x0c\x86", b"K\x02M\x00\x0c\x86"))   # shape (1, 3072) -> (2, 3072)
    from nasdsl.data import read_cifar_batch
    with pytest.raises(NasError) as err:
        read_cifar_batch(path)
    assert err.value.message == (f"cifar10: {path}: 'data' is a |u1 array of shape [2, 3072] whose pickled data "
                                 "(3,072 bytes) does not fill it")


def test_a_cifar10_batch_with_big_endian_labels_reads_their_values(tmp_path):
    import pickle
    np = _np()
    path = tmp_path / "test_batch"
    images = np.arange(2 * 3072, dtype=np.uint64).astype(np.uint8).reshape(2, 3072)
    path.write_bytes(pickle.dumps({b"data": images, b"labels": np.array([3, 9], dtype=">i8")}, protocol=2))
    from nasdsl.data import read_cifar_batch
    x, y = read_cifar_batch(path)
    assert x.shape == (2, 3, 32, 32) and (x.reshape(2, 3072) == images).all() and y.tolist() == [3, 9]


@pytest.mark.parametrize("kind", ["fifo", "directory", "symlink to /dev/zero"])
def test_a_cifar10_batch_that_is_not_a_regular_file_is_refused_unopened(tmp_path, kind):
    import os
    pytest.importorskip("torch")
    from nasdsl.data import load_data
    folder = cifar_folder(tmp_path)
    (folder / "test_batch").unlink()
    {"fifo": lambda p: os.mkfifo(p), "directory": lambda p: p.mkdir(),
     "symlink to /dev/zero": lambda p: p.symlink_to("/dev/zero")}[kind](folder / "test_batch")
    with pytest.raises(NasError) as err:   # a FIFO would block the reader for ever if opened
        load_data(f"cifar10:{folder}")
    assert err.value.message == f"cannot read cifar10 batch {folder / 'test_batch'}: not a regular file"


def test_a_cifar10_batch_over_the_bound_is_refused_before_reading(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from nasdsl import data
    folder = cifar_folder(tmp_path)
    monkeypatch.setattr(data, "MAX_CIFAR_BATCH_BYTES", 1000)
    size = (folder / "data_batch_1").stat().st_size
    with pytest.raises(NasError) as err:
        data.load_data(f"cifar10:{folder}")
    assert err.value.message == f"cifar10 batch {folder / 'data_batch_1'} is too large: {size:,} bytes, the limit is 1,000"


# --- 3. path lengths -----------------------------------------------------------------------------

LONG = "a" * 300
SHOWN = "a" * 47 + " ... " + "a" * 47   # limits.show_path: start and end, 99 characters


@pytest.mark.parametrize("argv, first", [
    (["check", f"{LONG}.nas"], f"cannot read {'a' * 47} ... {'a' * 43}.nas: File name too long"),
    (["check", LONG], f"cannot read {SHOWN}: File name too long"),
    (["trials", LONG], f"cannot read store {SHOWN}: File name too long"),
    (["search", "nasbench201", "--out", LONG, "--strategy", "random", "--trials", "1",
      "--evaluator", "python:nasdsl.search.evaluators:count_decisions"],
     f"--out {SHOWN}: cannot create it (File name too long)"),
    (["search", "nasbench201", "--storage", f"sqlite:///{LONG}/exp.db", "--strategy", "random", "--trials", "1",
      "--evaluator", "python:nasdsl.search.evaluators:count_decisions"], f"cannot create {SHOWN}: File name too long"),
])
def test_a_name_over_the_file_name_limit_is_a_nas_error_with_the_path_capped(tmp_path, monkeypatch, capsys,
                                                                              argv, first):
    monkeypatch.chdir(tmp_path)
    assert fails(capsys, *argv) == first


def test_an_import_over_the_file_name_limit_is_located_and_capped(tmp_path, capsys):
    path = tmp_path / "imp.nas"
    path.write_text(f'import "{LONG}.nas"\nnetwork(x: [4]) = x -> ReLU()\n')
    assert fails(capsys, "check", path) == \
        f"{path}:1:1: cannot import '{'a' * 47} ... {'a' * 43}.nas': File name too long"


def test_a_checkpoint_path_over_the_file_name_limit_is_a_nas_error(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.nas").write_text("network(x: [4]) = x -> Linear(4, 2)\n")
    assert fails(capsys, "compile", "net.nas", "--strategy", "discrete", "--arch", "{}", "-o", f"{LONG}.pt") == \
        f"cannot write checkpoint {'a' * 47} ... {'a' * 44}.pt: File name too long"


# --- 4. stores -----------------------------------------------------------------------------------

SEARCH = ["--strategy", "random", "--evaluator", "python:nasdsl.search.evaluators:count_decisions"]


@pytest.fixture(scope="module")
def store_run(tmp_path_factory):
    pytest.importorskip("optuna")
    out = tmp_path_factory.mktemp("store") / "run"
    assert main(["search", "nasbench201", "--out", str(out), "--trials", "2", *SEARCH]) == 0
    return out


def _edited_store(store_run, tmp_path, sql: str):
    import shutil
    import sqlite3
    out = tmp_path / "run"
    shutil.copytree(store_run, out)
    with sqlite3.connect(out / "exp.db") as db:
        assert db.execute(sql).rowcount == 1
    return out


@pytest.mark.parametrize("sql, message", [
    ("update trial_user_attributes set value_json='[1, 2]' where key='nasdsl' and trial_id=1",
     "trial 0's attribute 'nasdsl' is a list, not an object"),
    ("update trial_user_attributes set value_json='\"x\"' where key='result' and trial_id=2",
     "trial 1's attribute 'result' is a string, not an object"),
    ("update trial_user_attributes set value_json='{\"metrics\": {\"value\": \"high\"}}' where key='result' "
     "and trial_id=1", "trial 0's metric 'value' is a string, not a number"),
    ("update trial_user_attributes set value_json='{\"arch\": [1], \"key\": \"k\"}' where key='nasdsl' and trial_id=1",
     "trial 0's nasdsl.arch is a list, not an object"),
    ("update study_user_attributes set value_json='[\"a\"]' where key='sources'",
     "the experiment's attribute 'sources' is a list, not an object"),
    ("update study_user_attributes set value_json='7' where key='fingerprint'",
     "the experiment's attribute 'fingerprint' is a number, not a string"),
])
def test_a_store_with_attributes_nasdsl_did_not_write_is_a_nas_error_naming_them(store_run, tmp_path, capsys,
                                                                                 sql, message):
    out = _edited_store(store_run, tmp_path, sql)
    first = (f"store sqlite:///{out / 'exp.db'}: {message} as nasdsl writes it; "
             "the store was edited or written by something else")
    assert fails(capsys, "trials", out) == first
    assert fails(capsys, "trials", out, "--json") == first
    assert fails(capsys, "search", "nasbench201", "--out", out, "--trials", "3", *SEARCH) == first


# --- 5. checkpoints --------------------------------------------------------------------------------

SMALL = ["nasbench201", "--set", "C=2", "--set", "N=1"]


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A one-epoch random_oneshot search of a tiny NAS-Bench-201 (its last.ckpt and arch.json)."""
    pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("searched") / "run"
    assert main(["search", *SMALL, "--strategy", "random_oneshot", "--epochs", "1", "--data", "digits",
                 "--out", str(out)]) == 0
    return out


def _edited_checkpoint(searched, tmp_path, edit):
    import shutil

    import torch
    out = tmp_path / "run"
    shutil.copytree(searched, out)
    ckpt = torch.load(out / "last.ckpt", weights_only=True)
    edit(ckpt)
    torch.save(ckpt, out / "last.ckpt")
    return out


def _reshape(ckpt):
    import torch
    ckpt["state_dict"]["supernet.net.stem.0.weight"] = torch.zeros(7, 7)


@pytest.mark.parametrize("edit, inherit, resume", [
    (_reshape, "weight 'net.stem.0.weight' is [7, 7], the model's is [2, 1, 3, 3]",
     "weight 'supernet.net.stem.0.weight' is [7, 7], the model's is [2, 1, 3, 3]"),
    (lambda c: c.__setitem__("nasdsl", [1, 2]), None, "is not a usable search checkpoint: its metadata is not a mapping"),
    (lambda c: c.__setitem__("state_dict", "weights"), None,
     "is not a usable search checkpoint: its weights are not a mapping of names to tensors"),
    (lambda c: c["state_dict"].pop("supernet.net.stem.0.weight"), "weights lack 'net.stem.0.weight' (1 missing, 0 unknown)",
     "weights lack 'supernet.net.stem.0.weight' (1 missing, 0 unknown)"),
])
def test_a_search_checkpoint_that_does_not_fit_is_a_nas_error_under_inherit_and_resume(searched, tmp_path, capsys,
                                                                                       edit, inherit, resume):
    out = _edited_checkpoint(searched, tmp_path, edit)
    ckpt = out / "last.ckpt"
    if inherit is None:   # refused as it is read, the same for both commands
        inherit = resume = f"{ckpt} {resume}"
    else:
        inherit, resume = f"--inherit: {ckpt}: {inherit}", f"--resume: {ckpt}: {resume}"
    assert fails(capsys, "train", *SMALL, "--data", "digits", "--epochs", "0", "--arch", out / "arch.json",
                 "--inherit", ckpt, "--out", tmp_path / "train") == inherit
    assert fails(capsys, "search", *SMALL, "--strategy", "random_oneshot", "--epochs", "2", "--data", "digits",
                 "--out", out, "--resume") == resume


def _zip_bomb(path, megabytes=20):
    import zipfile
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("archive/data/0", bytes(megabytes * 2**20))


def test_a_checkpoint_that_decompresses_past_its_bound_is_refused_before_loading(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from nasdsl import checkpoint
    from nasdsl.checkpoint import load_search_checkpoint
    bomb = tmp_path / "last.ckpt"
    _zip_bomb(bomb)
    size = bomb.stat().st_size
    assert size < 100_000
    monkeypatch.setattr(checkpoint, "MIN_ALLOWANCE", 2**20)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load reached"))
    why = (f"its archive declares 21.0 MB once decompressed from {size:,} bytes on disk; the limit is 1.0 MB "
           "(torch.save stores tensors uncompressed; the memory available bounds it too)")
    with pytest.raises(NasError) as err:
        checkpoint.load_checkpoint(bomb)
    assert err.value.message == f"{bomb} is not a readable nasdsl checkpoint: {why}"
    with pytest.raises(NasError) as err:
        load_search_checkpoint(bomb)
    assert err.value.message == f"{bomb} is a corrupt checkpoint: {why}"


def test_a_checkpoint_with_a_foreign_pickle_protocol_is_a_nas_error_and_no_torch_warning(tmp_path):
    """A corrupt protocol byte made torch warn "Detected pickle protocol 110 ..." on stderr
    before the NasError (found by bench/fuzz_census.py); the warning is torch's, not the user's."""
    import warnings
    pytest.importorskip("torch")
    from test_fuzz_inputs import _checkpoint_bytes

    from nasdsl.checkpoint import load_search_checkpoint
    data = bytearray(_checkpoint_bytes())
    at = data.find(b"\x80\x02")   # the pickle's PROTO opcode inside the archive
    data[at + 1] = 110
    path = tmp_path / "last.ckpt"
    path.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NasError) as err:
            load_search_checkpoint(path)
    assert err.value.message == f"{path} is not a nasdsl search checkpoint"


def test_a_checkpoint_that_is_a_fifo_is_refused_unopened(tmp_path):
    import os
    pytest.importorskip("torch")
    from nasdsl.checkpoint import load_checkpoint
    os.mkfifo(tmp_path / "model.pt")
    with pytest.raises(NasError) as err:
        load_checkpoint(tmp_path / "model.pt")
    assert err.value.message == f"cannot read checkpoint {tmp_path / 'model.pt'}: not a regular file"


# --- 6. tables ---------------------------------------------------------------------------------------

def _table_error(path) -> str:
    from nasdsl.search.evaluators import TableEvaluator
    with pytest.raises(NasError) as err:
        TableEvaluator(nasdsl.load("nasbench201"), path, metric="acc")
    return err.value.message


def test_a_million_column_gzipped_header_fails_fast_and_small(tmp_path):
    import gzip
    import resource
    import tracemalloc
    path = tmp_path / "wide.csv.gz"
    path.write_bytes(gzip.compress(("arch" + ",c" * 10**6 + "\n" + ("x" + ",1" * 10**6 + "\n") * 3).encode()))
    tracemalloc.start()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    message = _table_error(path)
    seconds = resource.getrusage(resource.RUSAGE_SELF).ru_utime - before
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert message == f"table {path} has a line over 65,536 characters"
    assert seconds < 0.5 and peak < 2 * 2**20, (seconds, peak)


def test_a_table_is_bounded_in_columns_rows_and_decompressed_bytes(tmp_path, monkeypatch):
    import gzip

    from nasdsl.search import tables
    wide = tmp_path / "wide.csv"
    wide.write_text("arch" + ",c" * 1000 + "\n")
    assert _table_error(wide) == f"table {wide} has 1,001 columns, the limit is 1,000"
    long = tmp_path / "long.csv.gz"
    long.write_bytes(gzip.compress(("arch,acc\n" + "x,1\n" * 200).encode()))
    monkeypatch.setattr(tables, "MAX_TABLE_ROWS", 100)
    assert _table_error(long) == f"table {long} has over 100 rows (limits: 100 rows, 20,000,000 cells)"
    monkeypatch.setattr(tables, "MAX_TABLE_BYTES", 300)
    assert _table_error(long) == f"table {long} is over 300 characters once decompressed"


@pytest.mark.parametrize("content, why", [
    (b"\x1f\x8b\x08\x00garbage", "is not a readable CSV file"),
    (b"arch,acc\n\xff\xfe,1\n", "is not a readable CSV file"),
])
def test_a_damaged_table_is_a_nas_error(tmp_path, content, why):
    path = tmp_path / "t.csv.gz" if content.startswith(b"\x1f") else tmp_path / "t.csv"
    path.write_bytes(content)
    assert _table_error(path).startswith(f"table {path} {why} (")


def test_a_table_that_is_a_fifo_is_refused_unopened(tmp_path):
    import os
    os.mkfifo(tmp_path / "t.csv")
    assert _table_error(tmp_path / "t.csv") == f"cannot read table {tmp_path / 't.csv'}: not a regular file"


# --- 7. module names ----------------------------------------------------------------------------------

NOT_A_MODULE = "is not a module name (expected dotted Python identifiers such as mypkg.module; a path or a " \
               "relative name is not accepted)"


@pytest.mark.parametrize("spec, module", [(".evil:f", ".evil"), ("..:f", ".."), ("a/b:f", "a/b"), (":f", "")])
def test_evaluator_data_and_task_module_names_are_checked_before_importing(tmp_path, capsys, spec, module):
    pytest.importorskip("torch")
    assert fails(capsys, "search", "nasbench201", "--strategy", "random", "--trials", "1", "--out", tmp_path / "a",
                 "--evaluator", f"python:{spec}") == f"--evaluator 'python:{spec}': {module!r} {NOT_A_MODULE}"
    assert fails(capsys, "train", "nasbench201", "--data", spec, "--arch", "{}", "--out", tmp_path / "b") == \
        f"--data {spec!r}: {module!r} {NOT_A_MODULE}"
    assert fails(capsys, "search", "nasbench201", "--strategy", "darts", "--task", spec, "--data", "digits",
                 "--out", tmp_path / "c") == f"--task {spec!r}: {module!r} {NOT_A_MODULE}"


def test_a_user_module_that_raises_while_importing_is_a_nas_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "boom_eval.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert fails(capsys, "search", "nasbench201", "--strategy", "random", "--trials", "1", "--out", tmp_path / "a",
                 "--evaluator", "python:boom_eval:f") == \
        "--evaluator python:boom_eval:f: importing it failed: RuntimeError: boom"


# --- 8. unbounded loops and constraint names -------------------------------------------------------

FEW_WITHIN_BUDGET = """network(x: [8]) {
  a = choice[1, 2, 3, 4, 5, 6]
  b = choice[1, 2, 3, 4, 5, 6]
  c = choice[1, 2, 3, 4, 5, 6]
  d = choice[1, 2, 3, 4, 5, 6]
  return x -> Linear(8, a) -> Linear(a, b) -> Linear(b, c) -> Linear(c, d) -> Linear(d, 2)
}
require params <= 30
"""


def test_sample_unique_stops_when_a_budget_keeps_fewer_architectures_than_asked(tmp_path, capsys):
    import json

    from nasdsl.analysis.shapes import costs
    path = tmp_path / "few.nas"
    path.write_text(FEW_WITHIN_BUDGET)      # 1,296 architectures: too many to count the budget exactly
    space = nasdsl.load(path)
    within = sum(1 for arch in space.enumerate() if costs(space, arch, validate=False)["params"] <= 30)
    code = main(["sample", str(path), "-n", "40", "--unique"])
    out, err = capsys.readouterr()
    assert code == 1 and len(set(out.splitlines())) == len(out.splitlines()) == within < 40
    assert all(costs(space, json.loads(line))["params"] <= 30 for line in out.splitlines())
    assert err.splitlines()[0] == (f"--unique: found {within} distinct architectures of the 40 asked for; 2,000 draws "
                                   "in a row gave only those, so the space (within its budgets) likely holds no more")


def test_sample_unique_refuses_up_front_when_the_budgets_are_counted_exactly(tmp_path, capsys):
    path = tmp_path / "small.nas"
    path.write_text("network(x: [8]) {\n  w = choice[4, 8, 400]\n  return x -> Linear(8, w) -> Linear(w, 2)\n}\n"
                    "require params <= 1000\n")
    assert fails(capsys, "sample", path, "-n", "3", "--unique") == \
        "--unique: the space has only 2 architectures within its budgets, 3 were asked for"


def test_a_top_level_constraint_over_a_network_name_hints_at_the_decision_label(tmp_path):
    src = ('network(x: [8]) {\n  e = choice "embed" [4, 8]\n  h = choice[2, 3]\n  return x -> Linear(8, e * h)\n}\n'
           "forbid e % h != 0\n")
    with pytest.raises(NasError) as err:
        nasdsl.loads(src)
    assert (err.value.message, err.value.loc.line, err.value.loc.col) == ("'e' is not defined", 6, 8)
    assert err.value.hint == ("a top-level constraint names decisions by label, not by the names bound inside a "
                              'network: decision("embed")')
    assert nasdsl.loads(src.replace("forbid e % h", 'forbid decision("embed") % decision("h")')).size() == 2


# --- 9. run directories ----------------------------------------------------------------------------

LINK = "is a symbolic link; nasdsl writes only inside its output folder and never through a link " \
       "(remove the link or use another --out)"


@pytest.mark.parametrize("name, target", [("exp.db", "elsewhere.db"), ("logs", "no/such/dir"),
                                          ("arch.json", "elsewhere.json")])
def test_a_link_inside_out_is_refused_and_nothing_is_written_through_it(tmp_path, capsys, name, target):
    out = tmp_path / "run"
    out.mkdir()
    (out / name).symlink_to(tmp_path / target)
    assert fails(capsys, "search", "nasbench201", "--out", out, "--trials", "1", *SEARCH) == f"--out {out}: {name} {LINK}"
    assert not (tmp_path / target).exists() and sorted(p.name for p in out.iterdir()) == [name]


def test_a_link_deep_inside_a_one_shot_or_train_out_is_refused(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "run"
    (out / "logs" / "version_0").mkdir(parents=True)
    (out / "logs" / "version_0" / "metrics.csv").symlink_to(tmp_path / "outside.csv")
    assert fails(capsys, "search", *SMALL, "--strategy", "random_oneshot", "--epochs", "1", "--data", "digits",
                 "--out", out) == f"--out {out}: logs/version_0/metrics.csv {LINK}"
    import json
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(nasdsl.load("nasbench201", {"C": 2, "N": 1}).sample(0)))
    assert fails(capsys, "train", *SMALL, "--data", "digits", "--epochs", "0", "--arch", arch, "--out", out) == \
        f"--out {out}: logs/version_0/metrics.csv {LINK}"
    assert not (tmp_path / "outside.csv").exists()


# --- 10. activation memory ------------------------------------------------------------------------

def test_compile_refuses_a_model_whose_activations_do_not_fit_naming_the_estimate(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    from nasdsl import limits
    monkeypatch.setattr(limits, "available_memory", lambda: 20 * 10**9)
    path = tmp_path / "big.nas"
    path.write_text("network(x: [3, 100000, 100000]) = x -> Conv2d(3, 64, 3)\n")
    values = 64 * 99998 * 99998
    assert fails(capsys, "compile", path, "--strategy", "discrete", "--arch", "{}") == (
        f"the model needs about 41.0 TB for one step on a batch of 8: 14,336 bytes of weights and gradients, "
        f"41.0 TB of activations ({values:,} values a sample, from the shape analysis), more than the 20.0 GB of "
        "memory available; use a smaller --batch or input, or --force to try anyway")


def test_compile_force_builds_past_the_estimate_with_a_warning(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    from nasdsl import limits
    monkeypatch.setattr(limits, "available_memory", lambda: 100_000)
    path = tmp_path / "net.nas"
    path.write_text("network(x: [4, 16, 16]) = x -> Conv2d(4, 8, 3, padding=1) -> Flatten() -> Linear(2048, 2)\n")
    argv = ["compile", str(path), "--strategy", "discrete", "--arch", "{}", "-o", str(tmp_path / "m.pt")]
    # weights 4,394 x 8 bytes; activations (2,048 conv + 2,048 flatten + 2 linear) x 8 samples x 8 bytes
    assert fails(capsys, *argv).startswith("the model needs about 297,424 bytes for one step on a batch of 8: "
                                           "35,152 bytes of weights and gradients, 262,272 bytes of activations "
                                           "(4,098 values a sample")
    assert main([*argv, "--force"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: the model needs about 297,424 bytes") and err.rstrip().endswith("(--force)")


def test_a_latency_table_that_is_a_fifo_is_refused_unopened(tmp_path):
    import os
    pytest.importorskip("torch")
    from nasdsl.strategy.penalty import _read_table
    os.mkfifo(tmp_path / "lat.json")
    with pytest.raises(NasError) as err:
        _read_table(str(tmp_path / "lat.json"))
    assert err.value.message == f"cannot read latency table {tmp_path / 'lat.json'}: not a regular file"


def test_a_value_not_in_the_domain_is_quoted_on_one_line_and_capped(capsys):
    """An architecture file's value holding a newline made a two-line message (found by
    bench/fuzz_census.py); a long one was quoted whole."""
    space = nasdsl.load("nasbench201")
    arch = space.sample(0)
    domain = '(one of "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")'
    with pytest.raises(NasError) as err:
        space.validate({**arch, "Cell.e2_1": "skip_conne\nct"})
    assert err.value.message == f"\"skip_conne\\nct\" is not a value of 'Cell.e2_1' {domain}"
    with pytest.raises(NasError) as err:
        space.validate({**arch, "Cell.e2_1": "x" * 500})
    assert err.value.message == f"\"{'x' * 156}... is not a value of 'Cell.e2_1' {domain}"
