"""A search's output folder (`--out DIR`): checked before anything runs, held while the search runs.

`prepare(out)` creates the folder, and turns what the user can fix (`--out` names a file, its
parent is read-only) into one line (`NasError`, exit 1). `claim(out, shared)` takes an
`fcntl.flock` on `DIR/.nasdsl.lock` for as long as the search's process runs (`hold`: for a
block): exclusive for a one-shot
search, shared for multi-trial search, whose processes (workers, machines, a job array) may
all run into one `--out` and one store. A second search into a busy folder is refused in one
line. The lock belongs to the open file, so it dies with its process: a killed search leaves
nothing to clean up (the file stays, unlocked).

Example::

    >>> import tempfile
    >>> from pathlib import Path
    >>> out = prepare(Path(tempfile.mkdtemp()) / "run")
    >>> with hold(out, shared=False):
    ...     try:
    ...         with hold(out, shared=True):
    ...             pass
    ...     except NasError as err:
    ...         print(str(err).split(" (")[0])
    another search is running in this --out
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import NasError
from ..limits import os_reason, show_path

LOCK = ".nasdsl.lock"


def prepare(out: Path) -> Path:
    """Create `out` (and its parents); one clear error where that cannot be done, or where a
    symbolic link inside it would send a write elsewhere (`nasdsl.run.check_run_dir`)."""
    from ..run import check_run_dir
    check_run_dir(out)
    shown = show_path(out)
    try:
        if out.exists() and not out.is_dir():
            raise NasError(f"--out {shown} is a file, not a folder: give a folder for the search's outputs")
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NasError(f"--out {shown}: a file stands where a folder of its path should be") from None
    except OSError as err:
        raise NasError(f"--out {shown}: cannot create it ({os_reason(err)})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise NasError(f"--out {shown}: the folder is not writable")
    return out


_HELD: dict[str, int] = {}   # folder -> the open lock file this process holds for its lifetime


def claim(out: Path, shared: bool) -> None:
    """Lock `out` until this process ends (see the module docstring); a folder this process
    holds already is not locked again."""
    key = str(out.resolve())
    if key not in _HELD:
        _HELD[key] = _lock(out, shared)


@contextlib.contextmanager
def hold(out: Path, shared: bool) -> Iterator[None]:
    """Lock `out` while the block runs."""
    fd = _lock(out, shared)
    try:
        yield
    finally:
        os.close(fd)


def _lock(out: Path, shared: bool) -> int:
    try:
        fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise NasError(f"--out {out}: cannot write in it ({err.strerror or err})") from None
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise NasError(f"--out {out}: cannot lock it ({err.strerror or err})") from None
        raise NasError(f"another search is running in this --out ({out}): wait for it to end or give another "
                       "--out") from None
    return fd
