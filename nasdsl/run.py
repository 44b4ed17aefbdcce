"""A run directory's record of its space and data: `run.json`, beside `arch.json`.

`arch.json` is an architecture and nothing else (a JSON object of label -> value, what
`Space.validate`, `nasdsl train --arch`, `nasdsl export --arch`, the formats and the store
read). What else it takes to rebuild and deploy that architecture is in `run.json`, written
by `nasdsl search` (one-shot and multi-trial) into the same directory:

* the space: its file, its source texts (the root and every import, as a checkpoint keeps
  them, so a later edit of the file cannot change what the run means), its fingerprint, every
  parameter's value, and which of those the user `--set` and which the search fitted to the
  data (`nasdsl.data.fit_space_params`);
* the data: its spec, the seed of its split, the test split's positions in the data set as it
  ships, and the input preprocessing (`nasdsl.preprocessing`: input shape, divisor and the
  training split's per-channel mean and deviation).

`find_run(path)` finds the record of a run directory or of a file in one (`RUN/arch.json`).
`RunRecord.params_for(sets)` is the parameters to build the space with: the run's `--set`
and fitted values, then the user's, where a user's value that contradicts the run's is one
NasError naming both (unless `override`: another network of the same space, e.g. wider);
`RunRecord.space_from(load, ...)` builds a space the user names with them and refuses one of
another fingerprint; `RunRecord.space()` builds the run's own copy from its stored sources.
This module imports no torch.

Example::

    >>> import nasdsl, tempfile
    >>> space = nasdsl.load("nasbench201", {"C": 4, "in_channels": 1})
    >>> out = Path(tempfile.mkdtemp())
    >>> _ = write_run(out, space, sets={"C": 4}, fitted={"in_channels": 1})
    >>> run = find_run(out / "arch.json")
    >>> run.params_for({"C": 4})
    {'C': 4, 'in_channels': 1}
    >>> run.params_for({"in_channels": 3})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nasdsl.errors.NasError: --set in_channels=3 contradicts the run: ... used in_channels=1 (fitted by the search ...
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import NasError
from .limits import os_reason, show_path
from .preprocessing import Preprocessing

__all__ = ["RUN_FILE", "RunRecord", "write_run", "find_run", "read_run"]

RUN_FILE = "run.json"
FORMAT = "nasdsl-run/1"
_INDICES = "<test indices>"  # stands for the list while the rest is indented (sorted first: "data" < "space")
MAX_RUN_BYTES = 64 << 20  # sources and a test split of a few thousand indices fit with room to spare


@dataclass
class RunRecord:
    """`run.json` read back; `path` is the file it came from."""
    path: Path
    space_file: str
    sources: dict[str, str]
    fingerprint: str
    params: dict[str, Any]
    sets: dict[str, Any]
    fitted: dict[str, Any]
    data: str | None = None
    seed: int | None = None
    test_indices: list[int] | None = None
    preprocessing: Preprocessing | None = None

    @property
    def applied(self) -> dict[str, Any]:
        """The parameters the search built its space with: its `--set` values and what it fitted."""
        return {**self.sets, **self.fitted}

    def params_for(self, sets: Mapping[str, Any] | None = None, refit: bool = False,
                   override: bool = False) -> dict[str, Any]:
        """The run's parameters with the user's `sets` added; a user's value that differs from
        the one the run used (set, fitted or the space's default) is one NasError naming both,
        unless `override` (a deliberate change: a wider network for the cell a narrow search
        found). `refit` leaves out what the search fitted to its data (to fit other data)."""
        sets = dict(sets or {})
        for name, value in sets.items():
            if override or (refit and name in self.fitted):
                continue
            if name in self.params and not _same(self.params[name], value):
                raise NasError(f"--set {name}={_show(value)} contradicts the run: {self.path} used "
                               f"{name}={_show(self.params[name])} ({self._origin(name)}); drop the --set, or add "
                               f"--override to build another network of the space for this architecture")
        base = dict(self.sets) if refit else self.applied
        return {**base, **sets}

    def _origin(self, name: str) -> str:
        if name in self.fitted:
            return f"fitted by the search to its data{f' {self.data}' if self.data else ''}"
        if name in self.sets:
            return "its --set"
        return "the space's default"

    def check(self, space, given: str) -> None:
        """`space` (the one `given` names, built with `params_for`) must be the run's space."""
        if space.fingerprint() != self.fingerprint:
            raise NasError(f"{given} is not the space of the run: its fingerprint is {space.fingerprint()}, "
                           f"{self.path} searched {self.space_file} with fingerprint {self.fingerprint} "
                           f"(parameters {_show_params(self.applied)}); pass that space, or the run directory "
                           f"alone to use the run's own copy of it")

    def space_from(self, load: Callable[[Mapping[str, Any]], Any], given: str,
                   sets: Mapping[str, Any] | None = None, override: bool = False):
        """`load(params)` with the run's parameters and the user's `sets`, checked to be the run's
        space; a space that does not even take the run's parameters is the same NasError. With
        `override` the user's `sets` may change the run's values: the space `given` is checked
        with the run's own parameters, then built with the user's."""
        if override and sets:
            self.space_from(load, given)
            return load(self.params_for(sets, override=True))
        params = self.params_for(sets)
        try:
            space = load(params)
        except NasError as err:
            if any(name not in self.params for name in sets or {}) or not set(self.applied) - set(sets or {}):
                raise  # the user's own parameters failed (a name the run's space lacks), as without the run
            raise NasError(f"{given} is not the space of the run: with the run's parameters "
                           f"({_show_params(self.applied)}) it does not build ({err.message}); {self.path} "
                           f"searched {self.space_file} with fingerprint {self.fingerprint}") from None
        self.check(space, given)
        return space

    def load(self, params: Mapping[str, Any]):
        """The run's own copy of its space (the sources it stored) compiled with `params`."""
        from . import loads
        return loads(self.sources[self.space_file], self.space_file, params, sources=self.sources)

    def space(self, sets: Mapping[str, Any] | None = None, override: bool = False):
        """The run's space, from the sources it stored, with the user's `sets` (see `space_from`)."""
        return self.space_from(self.load, f"{self.space_file} as {self.path} stores it", sets, override)


def write_run(out: str | Path, space, sets: Mapping[str, Any] | None = None,
              fitted: Mapping[str, Any] | None = None, data=None, seed: int | None = None,
              data_spec: str | None = None) -> Path:
    """Write `out/run.json` for a search of `space` (built with `sets` and `fitted`) on `data`
    (a `nasdsl.data.Data`, or None where the search used none; `data_spec` is how the user
    named it, `--data`, default its name)."""
    shapes = list(space.input_shapes.values())
    if data is not None and data.preprocessing is not None:
        pre = data.preprocessing.to_json()
    elif len(shapes) == 1 and shapes[0] is not None and all(isinstance(d, int) for d in shapes[0]):
        pre = Preprocessing(tuple(shapes[0]), raw="the data as given").to_json()
    else:
        pre = None
    record = {
        "format": FORMAT,
        "space": {"file": space.root_file, "fingerprint": space.fingerprint(), "params": _jsonable(space.params),
                  "sets": _jsonable(sets or {}), "fitted": _jsonable(fitted or {}), "sources": dict(space.sources)},
        "data": None if data is None else {"spec": data_spec or data.name, "seed": seed, "num_classes": data.num_classes,
                                           "test_indices": None if data.test_indices is None else _INDICES},
        "preprocessing": pre,
    }
    path = Path(out) / RUN_FILE
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")   # processes sharing --out write side by side
    try:
        text = json.dumps(record, indent=1, sort_keys=True, allow_nan=False)
        if data is not None and data.test_indices is not None:  # one line, not one line per index
            text = text.replace(json.dumps(_INDICES), json.dumps(list(data.test_indices)), 1)
        tmp.write_text(text + "\n")
        os.replace(tmp, path)
    except OSError as err:
        raise NasError(f"cannot write {show_path(path)}: {os_reason(err)}") from None
    return path


def find_run(path: str | Path) -> RunRecord | None:
    """The record of the run directory `path`, or of the one holding the file `path` (e.g.
    `RUN/arch.json`); None when there is none (an architecture file of its own)."""
    p = Path(path)
    try:
        folder = p if p.is_dir() else p.parent
        candidate = folder / RUN_FILE
        if not candidate.is_file():
            return None
    except OSError:
        return None
    return read_run(candidate)


def read_run(path: str | Path) -> RunRecord:
    """Read a `run.json`; a missing, oversized or malformed file is one NasError naming it."""
    from .limits import decode_utf8, read_bounded
    path = Path(path)
    text = decode_utf8(read_bounded(str(path), MAX_RUN_BYTES, "run record"), f"run record {path}")
    try:
        value = json.loads(text)
    except ValueError as err:
        raise NasError(f"{path} is not a nasdsl run record: invalid JSON ({err})") from None

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise NasError(f"{path} is not a usable nasdsl run record: {what}")
    need(isinstance(value, dict) and value.get("format") == FORMAT, f"expected format {FORMAT}")
    space = value.get("space")
    need(isinstance(space, dict), "no 'space' record")
    need(isinstance(space.get("file"), str) and isinstance(space.get("fingerprint"), str), "no space file or fingerprint")
    sources = space.get("sources")
    need(isinstance(sources, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in sources.items())
         and space["file"] in sources, "the space sources are not a mapping of file names to texts with the space file")
    for key in ("params", "sets", "fitted"):
        need(isinstance(space.get(key), dict), f"the space's {key} are not a mapping")
    data = value.get("data")
    need(data is None or isinstance(data, dict), "the data record is not a mapping")
    data = data or {}
    indices = data.get("test_indices")
    need(indices is None or (isinstance(indices, list) and all(type(i) is int and i >= 0 for i in indices)),
         "the test indices are not a list of non-negative integers")
    pre = value.get("preprocessing")
    preprocessing = None if pre is None else Preprocessing.from_json(pre, f"{path}: preprocessing")
    return RunRecord(path, space["file"], sources, space["fingerprint"], space["params"], space["sets"],
                     space["fitted"], data.get("spec"), data.get("seed"), indices, preprocessing)


def _same(a: Any, b: Any) -> bool:
    """Equal as the space reads them: JSON-equal (`2 == 2.0` but `1 != true`)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return _jsonable(a) == _jsonable(b)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _show_params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_show(v)}" for k, v in sorted(params.items())) or "the defaults"


MAX_RUN_ENTRIES = 100_000   # entries of an output folder looked at for links before a run writes


def check_run_dir(out: str | Path, option: str = "--out") -> None:
    """Refuse an output folder with a symbolic link anywhere inside it (`exp.db`, `logs`,
    `last.ckpt`, a log file): nasdsl writes only inside `--out`, and a link there would send a
    write (or SQLite's database file) outside it, to wherever the link points. `out` itself
    may be a link (the user named it); a folder that does not exist yet passes. Looks at
    `MAX_RUN_ENTRIES` entries at most (a folder holding more is refused)."""
    seen = 0
    try:
        if not os.path.isdir(out):
            return
        for root, dirs, files in os.walk(out, followlinks=False):
            for name in dirs + files:
                seen += 1
                if seen > MAX_RUN_ENTRIES:
                    raise NasError(f"{option} {show_path(out)} holds over {MAX_RUN_ENTRIES:,} entries: "
                                   "not a nasdsl run folder; use another --out")
                path = os.path.join(root, name)
                if os.path.islink(path):
                    raise NasError(f"{option} {show_path(out)}: {show_path(os.path.relpath(path, out))} is a symbolic "
                                   "link; nasdsl writes only inside its output folder and never through a link "
                                   "(remove the link or use another --out)")
    except OSError as err:
        raise NasError(f"cannot read {option} {show_path(out)}: {os_reason(err)}") from None

