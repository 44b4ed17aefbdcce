"""Real data without downloads: bundled digits and MNIST-5k, CIFAR-10's pickle format read
safely, fixed seeded splits, and spaces fitted to the data through their parameters."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import nasdsl  # noqa: E402
from nasdsl.data import fit_space, load_data  # noqa: E402
from nasdsl.errors import NasError  # noqa: E402


def test_digits_splits_are_fixed_by_the_seed_and_disjoint():
    a, b, c = load_data("digits", 0), load_data("digits", 0), load_data("digits", 1)
    assert (len(a.train), len(a.val), len(a.test)) == (1258, 270, 269)
    assert torch.equal(a.train.tensors[0], b.train.tensors[0])
    assert not torch.equal(a.train.tensors[0], c.train.tensors[0])
    rows = {tuple(x.flatten().tolist()) for split in (a.train, a.val, a.test) for x in split.tensors[0]}
    assert len(rows) > 1700   # the digits set has a few duplicate images; the splits don't repeat rows
    mean = a.train.tensors[0].mean().item()
    assert abs(mean) < 1e-4 and abs(a.train.tensors[0].std().item() - 1) < 1e-2  # standardised on train
    assert sorted(set(a.train.tensors[1].tolist())) == list(range(10))


def test_mnist5k_is_mlxtends_bundled_file():
    data = load_data("mnist5k")
    assert data.shape == (1, 28, 28) and data.num_classes == 10
    assert (len(data.train), len(data.val), len(data.test)) == (3500, 750, 750)


@pytest.fixture
def array_cache(tmp_path, monkeypatch):
    """The cache on, in a fresh directory; the in-process memo of parsed data sets emptied."""
    from nasdsl import data as data_module
    directory = tmp_path / "cache"
    monkeypatch.setenv("NASDSL_CACHE_DIR", str(directory))
    monkeypatch.delenv("NASDSL_NO_CACHE", raising=False)
    data_module.bundled_arrays.cache_clear()
    yield directory
    data_module.bundled_arrays.cache_clear()


def parses(monkeypatch) -> list[str]:
    """Count the parses of bundled data sets (each one's name is appended)."""
    from nasdsl import data as data_module
    seen: list[str] = []
    for name, parse in list(data_module._PARSERS.items()):
        def counted(name=name, parse=parse):
            seen.append(name)
            return parse()
        monkeypatch.setitem(data_module._PARSERS, name, counted)
    return seen


@pytest.mark.parametrize("name", ["digits", "mnist5k"])
def test_a_parsed_data_set_is_cached_as_arrays(array_cache, monkeypatch, name):
    from nasdsl.data import bundled_arrays
    seen = parses(monkeypatch)
    x, y = bundled_arrays(name)
    entries = sorted(p.name for p in array_cache.iterdir())
    assert seen == [name] and len(entries) == 1 and entries[0].endswith(".arrays.npz")
    assert (array_cache / entries[0]).stat().st_mode & 0o777 == 0o600
    bundled_arrays.cache_clear()                       # as a new process would
    x2, y2 = bundled_arrays(name)
    assert seen == [name]                              # read back, not parsed again
    assert x2.dtype == x.dtype and np.array_equal(x2, x) and np.array_equal(y2, y)
    first, again = load_data(name, 3), load_data(name, 3)
    assert torch.equal(first.train.tensors[0], again.train.tensors[0])


def test_cached_split_is_the_parsed_split(array_cache, monkeypatch):
    """The same seed gives the same tensors whether the arrays came from the parse or the cache."""
    from nasdsl.data import bundled_arrays
    monkeypatch.setenv("NASDSL_NO_CACHE", "1")
    parsed = load_data("digits", 1)
    monkeypatch.delenv("NASDSL_NO_CACHE")
    bundled_arrays.cache_clear()
    bundled_arrays("digits")
    bundled_arrays.cache_clear()
    cached = load_data("digits", 1)
    for split in ("train", "val", "test"):
        for a, b in zip(getattr(parsed, split).tensors, getattr(cached, split).tensors):
            assert torch.equal(a, b)
    assert parsed.preprocessing == cached.preprocessing and parsed.test_indices == cached.test_indices


def damage_flip(path):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF          # inside the image array: its CRC-32 no longer matches
    path.write_bytes(bytes(raw))


def damage_truncate(path):
    path.write_bytes(path.read_bytes()[:1000])


def damage_objects(path):
    np.savez(path.with_suffix(""), x=np.array([{"a": 1}], dtype=object), y=np.arange(1))  # a pickled object array


def damage_shared(path):
    path.chmod(0o664)                   # writable by the group: not ours alone, never read


@pytest.mark.parametrize("damage", [damage_flip, damage_truncate, damage_objects, damage_shared])
def test_a_damaged_or_foreign_entry_is_parsed_again(array_cache, monkeypatch, damage):
    from nasdsl.data import bundled_arrays
    seen = parses(monkeypatch)
    x, y = bundled_arrays("digits")
    [entry] = list(array_cache.iterdir())
    damage(entry)
    bundled_arrays.cache_clear()
    x2, y2 = bundled_arrays("digits")
    assert seen == ["digits", "digits"]
    assert np.array_equal(x2, x) and np.array_equal(y2, y)


def test_no_cache_parses_every_time_and_writes_nothing(array_cache, monkeypatch):
    from nasdsl.data import bundled_arrays
    monkeypatch.setenv("NASDSL_NO_CACHE", "1")
    seen = parses(monkeypatch)
    bundled_arrays("digits")
    bundled_arrays.cache_clear()
    bundled_arrays("digits")
    assert seen == ["digits", "digits"] and not array_cache.exists()


def test_the_key_follows_the_source_files(tmp_path):
    """A reinstalled package (another size or modification time of a source file) misses."""
    import os

    from nasdsl.cache import arrays_key, prune
    source = tmp_path / "data.csv"
    source.write_text("1,2\n")
    key = arrays_key("demo", [source])
    assert key == arrays_key("demo", [source]) and key != arrays_key("other", [source])
    os.utime(source, ns=(1, 1))
    assert arrays_key("demo", [source]) != key
    assert arrays_key("demo", [tmp_path / "missing.csv"]) is None
    for i in range(3):
        (tmp_path / f"{i:064x}.arrays.npz").write_bytes(b"")
        os.utime(tmp_path / f"{i:064x}.arrays.npz", (i, i))
    assert [n[60:] for n in prune(tmp_path, keep=1, kind="arrays")] == ["0000.arrays.npz", "0001.arrays.npz"]
    assert source.exists()


def write_cifar(folder, n=20, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for name in ("data_batch_1", "data_batch_2", "test_batch"):
        batch = {b"batch_label": name.encode(), b"labels": rng.integers(0, 10, n).tolist(),
                 b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"filenames": [f"{i}.png".encode() for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)


def test_cifar10_folder_in_its_pickle_format(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")
    data = load_data(f"cifar10:{tmp_path / 'cifar-10-batches-py'}")
    assert data.shape == (3, 32, 32) and data.num_classes == 10
    assert (len(data.train), len(data.val), len(data.test)) == (36, 4, 20)
    raw = pickle.load(open(tmp_path / "cifar-10-batches-py" / "test_batch", "rb"), encoding="bytes")  # noqa: S301
    assert data.test.tensors[1].tolist() == raw[b"labels"]


class Hostile:
    def __reduce__(self):
        import os
        return (os.system, ("touch HACKED",))


def test_cifar10_reader_refuses_anything_but_arrays(tmp_path, monkeypatch):
    folder = tmp_path / "cifar"
    write_cifar(folder)
    with open(folder / "data_batch_2", "wb") as f:
        pickle.dump({b"data": Hostile(), b"labels": []}, f, protocol=2)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NasError, match=r"cifar10: .*data_batch_2 is not a CIFAR-10 batch: refusing (posix|os)\.system"):
        load_data(f"cifar10:{folder}")
    assert not (tmp_path / "HACKED").exists()
    with pytest.raises(NasError, match="is not a directory"):
        load_data(f"cifar10:{tmp_path / 'missing'}")


def test_unknown_data_and_a_bad_factory():
    with pytest.raises(NasError, match="unknown data 'imagenet': use digits, mnist5k, cifar10:DIR or pkg.module:factory"):
        load_data("imagenet")
    with pytest.raises(NasError, match="cannot import nothing from json"):
        load_data("json:nothing")
    with pytest.raises(NasError, match="must return a LightningDataModule or \\(train, val, test\\) datasets, got str"):
        load_data("os:getcwd")


def test_fit_space_sets_channels_resolution_and_classes():
    data = load_data("digits")
    space = fit_space(lambda p: nasdsl.load("nasbench201", {"C": 4, "N": 1, **p}), data)
    assert space.params["in_channels"] == 1 and space.params["resolution"] == 8 and space.input_shapes["x"] == (1, 8, 8)
    small = fit_space(lambda p: nasdsl.load("examples/small_cell.nas", p), load_data("mnist5k"))
    assert small.input_shapes["x"] == (1, 28, 28)
    with pytest.raises(NasError, match=r"takes input \[3, 8, 8\], digits gives \[1, 8, 8\]; --set in_channels=1"):
        fit_space(lambda p: nasdsl.load("nasbench201", {**p}), data, {"in_channels": 3})
    with pytest.raises(NasError, match=r"declare `param in_channels = 3` and use it in the network's input shape "
                                       r"and declare `param resolution = 32`"):
        fit_space(lambda p: nasdsl.loads(FIXED_INPUT, "fixed.nas", p), data)


FIXED_INPUT = """
param num_classes = 10
network(x: [3, 32, 32]) = x -> Conv2d(3, 8, 3) -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(8, num_classes)
"""


@pytest.mark.parametrize("name", nasdsl.builtin_spaces())
def test_every_library_space_fits_mnist_images(name):
    """Every library network declares its input channels and resolution, so `--data mnist5k`
    (1 x 28 x 28, 10 classes) adapts it without editing the file; the whole space shape-checks."""
    data = load_data("mnist5k")
    space = fit_space(lambda p: nasdsl.load(name, p), data)
    assert list(space.input_shapes.values()) == [(1, 28, 28)]
    assert space.params.get("num_classes", 10) == 10
