"""The experiment store: every trial of a multi-trial search, kept in an Optuna storage.

Backbone: Optuna's storages. An experiment is one Optuna study; each trial carries, as user
attributes, `nasdsl` = the architecture (`arch`, JSON), its key (`key`), the space's
fingerprint, the worker that ran it (and `retry_of`), and once finished `result` = every metric
(`metrics`: the objective, params, FLOPs, ...) and its duration; the objective is the trial's
value (a multi-objective search's study has one direction per `--objective`, and each trial
their values, `TrialRecord.values`). (One attribute each, not one per field: Optuna's RDB storage writes every attribute
with its own queries.) Each active decision is also an Optuna parameter, a categorical over its
domain (an input subset shown as its JSON list), so `optuna-dashboard URL` shows our
experiments with their parameter plots and importances, and nothing in the store is ever
executed (JSON only, no pickle).

URLs (`--storage`):

* `sqlite:///PATH` (the default, `DIR/exp.db` in `--out DIR`): Optuna's RDB storage on SQLite in
  WAL mode with `synchronous=NORMAL`: a commit is a write to the log, not an fsync, so a
  trial costs a few milliseconds instead of Optuna's default ~200 ms. A `kill -9` loses
  nothing (the log is in the OS's hands); a power cut may lose the last commits.
* `postgresql://...` (or any SQLAlchemy URL): one experiment shared by several machines.
* `journal:PATH`: Optuna's journal file storage.
* `memory` (or `None` from Python): in-process only, for tests and benchmarks.

Trial states as the search sees them (`TrialRecord.state`): `running`, `complete`, `failed`
(the evaluator raised, or the architecture broke an evaluator's constraint: it counts as a
trial and is never retried), `interrupted` (its worker died: the architecture is run again,
recorded as a new trial with `retry_of`), `yielded` (a worker found after starting it that
another worker holds the same architecture or that the budget was already full; never
evaluated), and `infeasible` (a proposal that broke a constraint checked before evaluation,
`nasdsl.search.feasibility`: never evaluated, no trial of the budget). Optuna's own states:
running is RUNNING, complete COMPLETE, the rest FAIL with an attribute saying which.

A worker that dies is found by its trial's heartbeat: the time of the trial's last beat, a
system attribute (`nasdsl:beat`) written with the trial itself and then every
`heartbeat_interval` seconds while it runs, on every store alike. A running trial whose beat is
older than `grace_period` seconds is taken as dead and failed ("interrupted": its architecture is
run again), whatever host or process id the rerun has. Two shortcuts reap sooner: a trial of a
dead process on this host, and a trial recorded under this very process's `host:pid` that this
process is not running (a restarted container whose search is PID 1 again). Beats are compared
with this machine's clock: machines sharing a store need clocks within a few seconds of each
other (NTP), well inside the grace period.

Processes started at one instant on a fresh store all run: a SQLite or journal store is created
and joined under `creation_lock` (an `fcntl.flock` beside the file), a server's tables and
experiment are created with retries (`_retrying`). A worker reads only what changed since its
last read (`changes()`: new trials and those running at that read), so a query costs the same
at trial 10,000 as at trial 100; `trials()` reads everything.

Example::

    >>> store = Store(None)
    >>> store.open("0123abcd", {"space": "nasbench201"})
    >>> rec = store.start({"Cell.e1_0": "none"})
    >>> store.complete(rec, 91.0, {"cifar10_test": 91.0})
    >>> [(t.number, t.state, t.value) for t in store.trials()]
    [(0, 'complete', 91.0)]
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import random
import socket
import sqlite3
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..arch import arch_key
from ..errors import NasError
from ..limits import os_reason, show_path
from ..text import printable

STUDY = "nasdsl"
WORKERS = "nasdsl:workers"   # how many processes have joined the experiment, a study system attribute
BEAT = "nasdsl:beat"   # a running trial's last heartbeat (time.time()), a system attribute
_MINE: set[tuple[str, str, int]] = set()   # (store URL, worker, trial id) of the trials this process runs


@dataclass
class TrialRecord:
    """One trial as the search driver sees it."""

    number: int
    trial_id: int
    state: str
    arch: dict[str, Any]
    key: str
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    worker: str = ""
    fingerprint: str = ""
    retry_of: int | None = None
    seconds: float | None = None
    beat: float | None = None   # time.time() of a running trial's last heartbeat
    values: list[float] | None = None   # a multi-objective trial's objectives (its `value` is None)

    @property
    def counts(self) -> bool:
        """Whether the trial spends one unit of the trial budget (finished, success or not)."""
        return self.state in ("complete", "failed")

    def to_json(self) -> dict[str, Any]:
        out = {"number": self.number, "state": self.state, "value": self.value, "arch": self.arch,
               "metrics": self.metrics, "error": self.error, "retry_of": self.retry_of,
               "seconds": self.seconds, "fingerprint": self.fingerprint, "worker": self.worker}
        if self.values is not None:
            out["values"] = self.values
        return out


def worker_id() -> str:
    """`host:pid` of this process, stored with each trial it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (dead child not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def default_url(out: str | Path) -> str:
    return f"sqlite:///{Path(out) / 'exp.db'}"


def _sqlite_creator(path: str, read_only: bool = False) -> Callable[[], sqlite3.Connection]:
    """Connections to the SQLite file `path`: WAL and synchronous=NORMAL to write; to read only,
    `mode=ro`, or `immutable=1` on a read-only mount where the WAL's side files are absent (the
    log was checkpointed into the file; SQLite could not create them there)."""
    def connect() -> sqlite3.Connection:
        if read_only:
            sides = all(Path(path + side).exists() for side in ("-wal", "-shm"))
            flags = "mode=ro" if sides or os.access(Path(path).parent, os.W_OK) else "immutable=1"
            uri = f"{Path(path).absolute().as_uri()}?{flags}"
            return sqlite3.connect(uri, uri=True, timeout=120, check_same_thread=False)
        conn = sqlite3.connect(path, timeout=120, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn
    return connect


def store_file(url: str | None) -> Path | None:
    """The file of a SQLite or journal store's URL (None for a server or memory)."""
    if not url:
        return None
    if url.startswith("journal:"):
        path = url[len("journal:"):]
        return Path(path[2:] if path.startswith("///") else path)
    if url.startswith("sqlite:///") and url[len("sqlite:///"):] not in ("", ":memory:"):
        return Path(url[len("sqlite:///"):])
    return None


@contextlib.contextmanager
def creation_lock(url: str | None) -> Iterator[None]:
    """Held while a process creates or joins a SQLite or journal store: an exclusive
    `fcntl.flock` on `FILE.nasdsl-lock` beside it, so processes started at the same instant on
    a fresh store create it one after the other (the lock dies with its process). Where no
    lock file can be made (a read-only place, nothing is created there) it holds nothing;
    servers (PostgreSQL) are retried instead (`_retrying`)."""
    path = store_file(url)
    fd = None
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(f"{path}.nasdsl-lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            fd = None
    try:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        if fd is not None:
            os.close(fd)


def _retrying(func: Callable[[], Any], tries: int = 8) -> Any:
    """`func()`, again after a short random pause when a database reports a conflict that a
    concurrent creator causes (PostgreSQL: a duplicate key in its catalog while two processes
    create the tables; SQLite: a table that appeared meanwhile, a locked database)."""
    import sqlalchemy.exc
    transient = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError)
    for attempt in range(tries):
        try:
            return func()
        except transient:
            if attempt == tries - 1:
                raise
            time.sleep(random.uniform(0.05, 0.1) * 2 ** min(attempt, 4))


def open_storage(url: str | None, read_only: bool = False):
    """The Optuna storage a `--storage` URL names (see the module docstring); `read_only` opens
    a SQLite file without writing to it or beside it."""
    import optuna
    from optuna.storages import RDBStorage
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if url is None or url == "memory":
        return optuna.storages.InMemoryStorage()
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend
        path = url[len("journal:"):]
        if path.startswith("///"):
            path = path[2:]
        _make_parent(path)
        try:
            return optuna.storages.JournalStorage(JournalFileBackend(path))
        except OSError as err:
            raise NasError(f"--storage {show_path(url)}: cannot open: {os_reason(err)}") from None
    kwargs: dict[str, Any] = {}
    url = _postgres_driver(url)
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            if read_only and not Path(path).is_file():
                raise NasError(f"no such store: {show_path(path)}")
            if not read_only:
                _make_parent(path)
            kwargs = {"creator": _sqlite_creator(path, read_only)}
    try:
        rdb = _retrying(lambda: RDBStorage(url, engine_kwargs=kwargs, skip_table_creation=read_only))
    except ImportError as err:
        raise NasError(f"--storage {show_path(url)}: its database driver is not installed ({err}); "
                       "for PostgreSQL: pip install 'nasdsl[postgres]'") from None
    except Exception as err:  # sqlalchemy's errors: a bad URL, an unreachable server
        first = (str(err).splitlines() or [""])[0]
        raise NasError(f"--storage {show_path(url)}: cannot open ({type(err).__name__}: "
                       f"{printable(first, one_line=True)[:200]})") from None
    return optuna.storages.get_storage(rdb)


def _make_parent(path: str) -> None:
    """Create the folder a store file goes in, or say (path capped) why it cannot be."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a name over the file-name limit, a file in the way, no permission
        raise NasError(f"cannot create {show_path(Path(path).parent)}: {os_reason(err)}") from None


# What nasdsl writes in a store, attribute by attribute: a store read back (a copied or edited
# `exp.db`, a shared database) is input like any file, so each value is checked against its
# type before it is used, and a wrong one is a NasError naming the trial and the attribute.
_NUMBER = (int, float)
_STUDY_ATTRS: dict[str, tuple[type, ...]] = {
    "fingerprint": (str,), "previous_fingerprints": (list,), "space": (str,), "sources": (dict,),
    "params": (dict,), "objective": (str,), "strategy": (str,),
}
_TRIAL_ATTRS: dict[str, tuple[type, ...]] = {"nasdsl": (dict,), "result": (dict,), "error": (str,), "yielded": (str,),
                                             "infeasible": (str,)}
_OWN_FIELDS: dict[str, tuple[type, ...]] = {"arch": (dict,), "key": (str,), "fingerprint": (str,), "worker": (str,),
                                            "retry_of": (int, type(None))}
_RESULT_FIELDS: dict[str, tuple[type, ...]] = {"metrics": (dict,), "seconds": (*_NUMBER, type(None))}


def _kind(value: Any) -> str:
    return "null" if value is None else {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
                                         int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _expect(value: Any, types: tuple[type, ...], what: str, where: str) -> None:
    if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
        wanted = " or ".join(dict.fromkeys(_kind(t()) if t is not type(None) else "null" for t in types))
        raise NasError(f"store {show_path(where)}: {what} is {_kind(value)}, not {wanted} as nasdsl writes it; "
                       "the store was edited or written by something else")


def _name_metrics(study, names: Sequence[str]) -> None:
    """Record the objectives' metric names in the study (Optuna marks this experimental)."""
    import optuna
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(names))


def _study_attrs(attrs: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The experiment's attributes, each of the type nasdsl writes (else a NasError naming it)."""
    for name, types in _STUDY_ATTRS.items():
        if name in attrs:
            _expect(attrs[name], types, f"the experiment's attribute {name!r}", where)
    for name, text in (attrs.get("sources") or {}).items():
        _expect(text, (str,), f"the experiment's source {printable(str(name), one_line=True)[:80]!r}", where)
    for old in attrs.get("previous_fingerprints") or []:
        _expect(old, (str,), "an entry of the experiment's attribute 'previous_fingerprints'", where)
    return dict(attrs)


def _trial_attrs(t, where: str) -> dict[str, Any]:
    """Trial `t`'s attributes, each of the type nasdsl writes (else a NasError naming the trial)."""
    attrs = t.user_attrs
    for name, types in _TRIAL_ATTRS.items():
        if name in attrs:
            _expect(attrs[name], types, f"trial {t.number}'s attribute {name!r}", where)
    own, result = attrs.get("nasdsl") or {}, attrs.get("result") or {}
    for fields, part, value in ((_OWN_FIELDS, "nasdsl", own), (_RESULT_FIELDS, "result", result)):
        for name, types in fields.items():
            if value.get(name) is not None:
                _expect(value[name], types, f"trial {t.number}'s {part}.{name}", where)
    for label in own.get("arch") or {}:
        _expect(label, (str,), f"a decision label in trial {t.number}'s architecture", where)
    for name, metric in (result.get("metrics") or {}).items():
        _expect(metric, _NUMBER, f"trial {t.number}'s metric {printable(str(name), one_line=True)[:60]!r}", where)
    return attrs


def _postgres_driver(url: str) -> str:
    """`postgresql://` names SQLAlchemy's default driver (psycopg 3 in SQLAlchemy 2.1); where
    only psycopg2 (the `postgres` extra) is installed, use that one."""
    scheme, sep, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres") or not sep:
        return url
    import importlib.util
    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return f"postgresql+psycopg2://{rest}"
    return url


class Store:
    """One experiment (an Optuna study) in one storage; see the module docstring."""

    directions: tuple[str, ...] = ("maximize",)   # the study's, read when it is opened

    def __init__(self, url: str | None, study: str = STUDY, heartbeat_interval: float = 10, grace_period: float = 30,
                 read_only: bool = False):
        self.url = url or "memory"
        self.study_name = study
        with contextlib.nullcontext() if read_only else creation_lock(url):
            self.storage = open_storage(url, read_only)
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.shared = not (url is None or url == "memory")
        self.study = None
        self.attrs: dict[str, Any] = {}
        self._finished: dict[int, TrialRecord] = {}
        self._seen = 0              # `changes()` has read the trials numbered below this
        self._unfinished: list[int] = []  # ... and these of them were running then
        self.distributions: dict[str, Any] = {}
        self.worker = worker_id()

    # -- the experiment

    def open(self, fingerprint: str | None, meta: Mapping[str, Any], allow_changed_space: bool = False,
             create: bool = True, domains: Mapping[str, Sequence[Any]] | None = None,
             directions: Sequence[str] | None = None, names: Sequence[str] | None = None) -> None:
        """Create the experiment or open the one stored; a stored experiment on a different
        space (fingerprint) is refused unless `allow_changed_space`; `fingerprint=None` opens
        it to read. `domains` (decision label -> values) makes each trial's decisions Optuna
        parameters. `directions` (default one, `maximize`) are the study's objectives: several
        make a multi-objective study; a stored experiment with other directions is refused.
        `names` are the objectives' metric names, recorded in a new experiment for Optuna's
        tools (optuna-dashboard labels its plots with them)."""
        self.distributions = _distributions(domains or {})
        wanted = tuple(directions or ("maximize",))
        if create:
            with creation_lock(self.url):
                _retrying(lambda: self._open(fingerprint, meta, allow_changed_space, create, wanted, names))
        else:
            self._open(fingerprint, meta, allow_changed_space, create, wanted)

    def _open(self, fingerprint: str | None, meta: Mapping[str, Any], allow_changed_space: bool,
              create: bool, directions: tuple[str, ...] = ("maximize",), names: Sequence[str] | None = None) -> None:
        import optuna
        try:
            if create:
                self.study = optuna.create_study(storage=self.storage, study_name=self.study_name,
                                                 directions=list(directions), load_if_exists=True)
            else:
                self.study = optuna.load_study(storage=self.storage, study_name=self.study_name)
        except KeyError:
            raise NasError(f"{self.url} holds no experiment named {self.study_name!r}") from None
        attrs = _study_attrs(self.study.user_attrs, self.url)
        old = attrs.get("fingerprint")
        self.directions = tuple(d.name.lower() for d in self.study.directions)
        if fingerprint is not None and self.directions != directions:
            raise NasError(f"{self.url} holds an experiment with objectives {_shown(self.directions, attrs)}, but "
                           f"this search has {_shown(directions, meta)}; use another --out/--storage or --study")
        if fingerprint is None:
            pass   # reading only (`nasdsl trials`)
        elif old is None:
            self._describe(fingerprint, meta, names)
        elif old != fingerprint:
            if not allow_changed_space:
                raise NasError(f"{self.url} holds an experiment on a space with fingerprint {old}, but "
                               f"{meta.get('space', 'the space')} now has fingerprint {fingerprint}; "
                               "use --allow-changed-space to continue with the trials that are still valid "
                               "architectures of the new space, or another --out/--storage")
            self.study.set_user_attr("fingerprint", fingerprint)
            self.study.set_user_attr("previous_fingerprints", list(attrs.get("previous_fingerprints", [])) + [old])
            for k, v in meta.items():
                self.study.set_user_attr(k, v)
        self.attrs = _study_attrs(self.study.user_attrs, self.url)
        self.study_id = self.storage.get_study_id_from_name(self.study_name)
        if self.distributions and old is not None and (old != fingerprint or self.attrs.get("previous_fingerprints")):
            # Optuna fixes a parameter's domain for the whole study: a decision whose domain the
            # changed space altered is not recorded as a parameter any more (its value stays in `arch`).
            for t in self.study.get_trials(deepcopy=False):
                for label, dist in t.distributions.items():
                    if self.distributions.get(label, dist) != dist:
                        del self.distributions[label]

    def _describe(self, fingerprint: str, meta: Mapping[str, Any], names: Sequence[str] | None) -> None:
        """Record a new experiment's space, its description and its objectives' names."""
        for k, v in {"fingerprint": fingerprint, **meta}.items():
            self.study.set_user_attr(k, v)
        if names and len(names) == len(self.study.directions):
            _name_metrics(self.study, names)

    def join(self) -> int:
        """This worker's number among the processes that have worked on the experiment (0 for
        the first), to seed its own random stream: on a SQLite or journal store a counter kept
        in the study and raised under `creation_lock`; on a server, where machines differ by
        host, a hash of `host:pid`."""
        if not self.shared:
            return 0
        if store_file(self.url) is None:
            return zlib.crc32(self.worker.encode())
        with creation_lock(self.url):
            slot = int(self.storage.get_study_system_attrs(self.study_id).get(WORKERS, 0))
            self.storage.set_study_system_attr(self.study_id, WORKERS, slot + 1)
        return slot

    @staticmethod
    def studies(url: str) -> list[str]:
        import optuna
        storage = open_storage(url)
        return [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]

    # -- reading

    def trials(self) -> list[TrialRecord]:
        """Every trial in trial order (finished ones are converted once and cached)."""
        with self._reading():
            return [self._converted(t) for t in self.study.get_trials(deepcopy=False)]

    def _converted(self, t) -> TrialRecord:
        rec = self._finished.get(t._trial_id)
        if rec is None:
            rec = self._record(t)
            if rec.state != "running":
                self._finished[t._trial_id] = rec
        return rec

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """A trial entry that cannot be read (damaged JSON, a field of the wrong type) is the
        store's problem, told in one line, not a crash."""
        try:
            yield
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise NasError(f"{self.url}: a damaged trial entry in experiment {self.study_name!r} "
                           f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else err!r}); "
                           "the store cannot be read as it is") from None

    def changes(self) -> list[TrialRecord]:
        """The trials that are new or were running at the previous call (all of them at the first
        call), in trial order: what a worker folds into its `Ledger`. It reads only those: the
        cost stays the same at trial 10,000 as at trial 100."""
        with self._reading():
            out = [self._converted(t) for t in self._changed_frozen()]
        self._unfinished = [r.number for r in out if r.state == "running"]
        return out

    def _changed_frozen(self) -> list:
        """Optuna's trials numbered from `_seen` on, and those numbered in `_unfinished` (running when
        last read). Optuna's RDB cache and journal replay already read only what is new or
        unfinished from the database or log; their trials are then taken by number from the
        cache (and from the in-memory storage's own list), not copied out and sorted whole
        (`get_all_trials`, the fallback), which costs O(trials)."""
        from optuna.storages import InMemoryStorage, JournalStorage
        storage, sid = self.storage, self.study_id
        if hasattr(storage, "_read_trials_from_remote_storage") and hasattr(storage, "_studies"):
            storage._read_trials_from_remote_storage(sid)
            with storage._lock:
                by_number = storage._studies[sid].trials
                frozen = [by_number[n] for n in self._unfinished if n < self._seen]
                total = self._seen
                while total in by_number:   # up to a gap (a trial numbered but not yet committed)
                    frozen.append(by_number[total])
                    total += 1
        elif isinstance(storage, JournalStorage) and hasattr(storage, "_replay_result"):
            with storage._thread_lock:
                storage._sync_with_backend()
                replay = storage._replay_result
                ids = replay._study_id_to_trial_ids[sid]
                total = len(ids)
                wanted = [n for n in self._unfinished if n < self._seen] + list(range(self._seen, total))
                frozen = [replay._trials[ids[n]] for n in wanted]
        elif isinstance(storage, InMemoryStorage) and hasattr(storage, "_studies"):
            with storage._lock:
                every = storage._studies[sid].trials   # the list itself (get_all_trials copies it)
                frozen = [every[n] for n in self._unfinished if n < self._seen] + every[self._seen:]
                total = len(every)
        else:
            every = storage.get_all_trials(sid, deepcopy=False)
            total = len(every)
            frozen = [every[n] for n in self._unfinished if n < self._seen] + every[self._seen:]
        self._seen = total
        return frozen

    def _record(self, t) -> TrialRecord:
        from optuna.trial import TrialState
        a = _trial_attrs(t, self.url)
        if t.state == TrialState.COMPLETE:
            state = "complete"
        elif t.state in (TrialState.RUNNING, TrialState.WAITING):
            state = "running"
        elif "yielded" in a:
            state = "yielded"
        elif "infeasible" in a:
            state = "infeasible"
        elif "error" in a:
            state = "failed"
        else:
            state = "interrupted"
        result = a.get("result") or {}
        own = a.get("nasdsl") or {}
        beat = None
        if state == "running":
            beat = t.system_attrs.get(BEAT)
            if beat is None and t.datetime_start is not None:   # a trial stored before beats were written
                beat = t.datetime_start.timestamp()
        several = state == "complete" and len(self.directions) > 1
        return TrialRecord(number=t.number, trial_id=t._trial_id, state=state, arch=own.get("arch") or {},
                           key=own.get("key", ""), value=t.value if state == "complete" and not several else None,
                           values=list(t.values) if several else None,
                           metrics=result.get("metrics", {}),
                           error=a.get("error") or a.get("yielded") or a.get("infeasible"),
                           worker=own.get("worker", ""), fingerprint=own.get("fingerprint", ""),
                           retry_of=own.get("retry_of"), seconds=result.get("seconds"), beat=beat)

    # -- writing

    def start(self, arch: Mapping[str, Any], retry_of: int | None = None) -> TrialRecord:
        """A new running trial for `arch`: one transaction writes its state and one attribute,
        `nasdsl` = {arch, key, fingerprint, worker, retry_of}, and its first heartbeat. On a shared store the trial's
        number is -1 until the caller reads the table again (saving a query a trial)."""
        from optuna.trial import FrozenTrial, TrialState
        own = {"arch": dict(arch), "key": arch_key(arch), "fingerprint": self.attrs.get("fingerprint", ""),
               "worker": self.worker}
        if retry_of is not None:
            own["retry_of"] = retry_of
        params = {label: _choice(v) for label, v in arch.items()
                  if label in self.distributions and _choice(v) in self.distributions[label].choices}
        template = FrozenTrial(number=-1, state=TrialState.RUNNING, value=None,
                               datetime_start=datetime.datetime.now(), datetime_complete=None, params=params,
                               distributions={k: self.distributions[k] for k in params},
                               user_attrs={"nasdsl": own}, system_attrs={BEAT: time.time()},
                               intermediate_values={}, trial_id=-1)
        trial_id = self.storage.create_new_trial(self.study_id, template_trial=template)
        number = -1 if self.shared else self.storage.get_trial_number_from_id(trial_id)
        _MINE.add((self.url, self.worker, trial_id))
        return TrialRecord(number=number, trial_id=trial_id, state="running", arch=dict(arch), key=own["key"],
                           worker=self.worker, fingerprint=own["fingerprint"], retry_of=retry_of)

    def infeasible(self, arch: Mapping[str, Any], constraint: str, metrics: Mapping[str, float],
                   violation: float) -> None:
        """Record a proposal that broke `constraint` (a cheap one, checked before evaluation):
        one write, never evaluated, not a trial of the budget."""
        from optuna.trial import FrozenTrial, TrialState
        own = {"arch": dict(arch), "key": arch_key(arch), "fingerprint": self.attrs.get("fingerprint", ""),
               "worker": self.worker}
        now = datetime.datetime.now()
        template = FrozenTrial(number=-1, state=TrialState.FAIL, value=None, datetime_start=now,
                               datetime_complete=now, params={}, distributions={},
                               user_attrs={"nasdsl": own, "infeasible": constraint,
                                           "result": {"metrics": dict(metrics), "violation": violation}},
                               system_attrs={}, intermediate_values={}, trial_id=-1)
        self.storage.create_new_trial(self.study_id, template_trial=template)

    def complete(self, rec: TrialRecord, value: float | Sequence[float], metrics: Mapping[str, float],
                 seconds: float | None = None) -> None:
        """Record a finished trial: its objective `value` (a multi-objective study's: the
        values of its objectives, in order) and metrics."""
        from optuna.trial import TrialState
        storage = self.storage
        values = [float(v) for v in value] if isinstance(value, Sequence) else [float(value)]
        storage.set_trial_user_attr(rec.trial_id, "result", {"metrics": dict(metrics), "seconds": seconds})
        storage.set_trial_state_values(rec.trial_id, TrialState.COMPLETE, values)
        _MINE.discard((self.url, self.worker, rec.trial_id))
        if len(values) > 1:
            rec.value, rec.values = None, values
        else:
            rec.value = values[0]
        rec.state, rec.metrics, rec.seconds = "complete", dict(metrics), seconds

    def fail(self, rec: TrialRecord, error: str, seconds: float | None = None) -> None:
        """The evaluator raised: record the error; the trial counts and is not retried."""
        self._finish_failed(rec, "error", error)
        rec.state, rec.error, rec.seconds = "failed", error, seconds

    def yield_(self, rec: TrialRecord, reason: str) -> None:
        """Give up a trial never evaluated (a duplicate of another worker's, or over budget)."""
        self._finish_failed(rec, "yielded", reason)
        rec.state, rec.error = "yielded", reason

    def interrupt(self, rec: TrialRecord) -> None:
        """The worker is stopping mid-trial (Ctrl-C): the architecture will be run again."""
        import optuna
        try:
            self.storage.set_trial_state_values(rec.trial_id, optuna.trial.TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass
        _MINE.discard((self.url, self.worker, rec.trial_id))
        rec.state = "interrupted"

    def _finish_failed(self, rec: TrialRecord, attr: str, text: str) -> None:
        import optuna
        from optuna.trial import TrialState
        storage = self.storage
        try:
            storage.set_trial_user_attr(rec.trial_id, attr, text)
            storage.set_trial_state_values(rec.trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another process found it stale and failed it first
        _MINE.discard((self.url, self.worker, rec.trial_id))

    def heartbeat(self, trial_id: int) -> None:
        """Record that the trial's worker is alive (now)."""
        self.storage.set_trial_system_attr(trial_id, BEAT, time.time())

    def ours(self, rec: TrialRecord) -> bool:
        """Whether this process is running trial `rec`."""
        return rec.worker == self.worker and (self.url, self.worker, rec.trial_id) in _MINE

    def dead(self, rec: TrialRecord, now: float | None = None) -> bool:
        """Whether running trial `rec`'s worker is gone: no beat for `grace_period` seconds, a
        dead process of this host, or this process's own `host:pid` on a trial it is not running."""
        if self.ours(rec):
            return False
        whose, _, pid = rec.worker.rpartition(":")
        if whose == socket.gethostname() and pid.isdigit():
            if int(pid) == os.getpid() or not _alive(int(pid)):
                return True
        return self.silence(rec, now) > self.grace_period

    @staticmethod
    def silence(rec: TrialRecord, now: float | None = None) -> float:
        """Seconds since running trial `rec`'s last heartbeat."""
        return (now or time.time()) - (rec.beat if rec.beat is not None else float("-inf"))

    def reap(self, running: Sequence[TrialRecord] | None = None) -> list[int]:
        """Fail the running trials whose worker is gone (`dead`), of `running` or else of the
        whole table. Returns their trial numbers."""
        import optuna
        if running is None:
            running = [r for r in self.trials() if r.state == "running"]
        now = time.time()
        reaped = []
        for rec in running:
            if rec.state == "running" and self.dead(rec, now):
                try:
                    self.storage.set_trial_state_values(rec.trial_id, optuna.trial.TrialState.FAIL)
                    reaped.append(rec.number)
                except optuna.exceptions.UpdateFinishedTrialError:
                    pass   # another worker reaped it, or it finished meanwhile
        return sorted(reaped)


class Heartbeat:
    """A daemon thread that records a heartbeat for the worker's current trial every
    `interval` seconds (Optuna records heartbeats only inside `optimize()`), and ends the
    process when its parent search died (an orphaned worker must not run on unseen)."""

    def __init__(self, store: Store, parent: int | None = None):
        self.store, self.parent = store, parent
        self.trial_id: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = max(1, self.store.heartbeat_interval)
        tick = 0.0
        while not self._stop.wait(0.5):
            if self.parent is not None and os.getppid() != self.parent:
                os._exit(3)
            tick += 0.5
            if tick >= interval and self.trial_id is not None:
                tick = 0.0
                try:
                    self.store.heartbeat(self.trial_id)
                except Exception:  # a transient database error: the next beat tries again
                    pass

    def stop(self) -> None:
        self._stop.set()


def _shown(directions: Sequence[str], attrs: Mapping[str, Any]) -> str:
    """An experiment's objectives as its attributes name them, else its directions."""
    if len(directions) > 1 and attrs.get("objectives"):
        return ", ".join(attrs["objectives"])
    if len(directions) == 1:
        return f"{attrs.get('objective', 'value')} (maximize)"
    return ", ".join(directions)


def _choice(value: Any) -> Any:
    """A decision value as an Optuna categorical choice: an input subset as its JSON list."""
    return json.dumps(list(value)) if isinstance(value, (list, tuple)) else value


def _distributions(domains: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    if not domains:
        return {}
    from optuna.distributions import CategoricalDistribution
    return {label: CategoricalDistribution([_choice(v) for v in values]) for label, values in domains.items()}


def elapsed(start: float) -> float:
    return round(time.perf_counter() - start, 6)
