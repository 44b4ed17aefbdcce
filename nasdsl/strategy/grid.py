"""Grid search: every architecture of the space exactly once, conditional decisions respected.

Options (NNI's `GridSearch(shuffle=True)`):

* `shuffle` (default true, as NNI): visit the architectures in a random order; false visits them
  in the space's enumeration order (domain order, decision by decision). Shuffling holds the
  list of architectures in memory: spaces larger than `max_shuffle` (default 100,000) are
  shuffled within consecutive windows of that many architectures of the enumeration order
  (so the first window varies the last decisions only: grid search over a space that large
  is a walk, not a search; use random or evolution there).

The search ends when every architecture has been evaluated or told infeasible (`--constraint`).
Architectures already in the store (a resumed search) are skipped.

Example::

    >>> import nasdsl
    >>> from nasdsl.strategy.grid import GridSearch
    >>> space = nasdsl.loads('network(x: [4]) = x -> Linear(4, choice[8, 16]) -> choice{a: ReLU(), b: Tanh()}')
    >>> s = GridSearch(space, shuffle=False)
    >>> archs = []
    >>> while (a := s.ask()) is not None:
    ...     archs.append(a); s.tell(a, 0.0)
    >>> len(archs), space.size()
    (4, 4)
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..arch import arch_key
from .base import Strategy, check


class GridSearch(Strategy):
    name = "grid"
    multi_objective = True   # it never reads the values

    def __init__(self, space, seed: int = 0, budget: int | None = None, *, shuffle: bool = True,
                 max_shuffle: int = 100_000):
        super().__init__(space, seed, budget)
        check(max_shuffle >= 1, f"`max_shuffle` must be at least 1, got {max_shuffle}")
        self.shuffle, self.max_shuffle = shuffle, max_shuffle
        self._order: Iterator[dict[str, Any]] | None = None

    def _walk(self) -> Iterator[dict[str, Any]]:
        if not self.shuffle:
            yield from self.space.enumerate()
            return
        window: list[dict[str, Any]] = []
        for arch in self.space.enumerate():
            window.append(arch)
            if len(window) == self.max_shuffle:
                self.rng.shuffle(window)
                yield from window
                window = []
        self.rng.shuffle(window)
        yield from window

    def _ask(self) -> dict[str, Any] | None:
        if self._order is None:
            self._order = self._walk()
        for arch in self._order:
            if arch_key(arch) not in self.seen and arch_key(arch) not in self.rejected:
                return arch
        return None


STRATEGY = GridSearch
