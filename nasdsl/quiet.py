"""What nasdsl's own runs print: their progress and results, not their dependencies' chatter.

Within `quiet()` (the command line wraps every command in it unless `--verbose` is given):

* deprecation warnings raised inside third-party packages (torch's `LeafSpec` deprecation as
  Lightning trips over it, and the like) are not shown; a warning from nasdsl's own code still is;
* Lightning's info lines (its litlogger tip, the GPU/TPU summary, "`Trainer.fit` stopped") are
  not printed: the one-shot driver calls `lightning()` after it imports Lightning, which sets the
  level of Lightning's loggers on import. Its warnings still are.

Everything is put back when the block ends.

Example::

    >>> import warnings
    >>> with quiet(), warnings.catch_warnings(record=True) as seen:
    ...     warnings.warn_explicit("old", FutureWarning, "_pytree.py", 21, module="pytorch_lightning.utilities._pytree")
    ...     warnings.warn_explicit("ours", FutureWarning, "space.py", 1, module="nasdsl.space")
    >>> [str(w.message) for w in seen]
    ['ours']
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

THIRD_PARTY = r"(torch|pytorch_lightning|lightning|lightning_fabric|lightning_utilities|torchmetrics|optuna|matplotlib" \
              r"|sklearn|mlxtend|numpy|pygls|lsprotocol)(\.|$)"
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric")

_active = 0                                          # nesting depth of `quiet()` blocks
_levels: list[tuple[logging.Logger, int]] = []       # loggers `lightning()` changed, with their levels before


@contextmanager
def quiet(verbose: bool = False) -> Iterator[None]:
    """Third-party deprecation warnings and Lightning's info lines off for the block (see the
    module docstring); with `verbose`, nothing changes."""
    global _active
    if verbose:
        yield
        return
    start = len(_levels)
    with warnings.catch_warnings():
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category, module=THIRD_PARTY)
        _active += 1
        try:
            yield
        finally:
            _active -= 1
            while len(_levels) > start:
                logger, level = _levels.pop()
                logger.setLevel(level)


def lightning() -> None:
    """Inside `quiet()`, Lightning's loggers print warnings and errors only (call it after
    Lightning is imported: its import sets them to INFO); outside, nothing."""
    if not _active:
        return
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        _levels.append((logger, logger.level))
        logger.setLevel(logging.WARNING)
