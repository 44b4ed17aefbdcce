"""A worker's tally of the experiment's trials, kept current from what changed since its last read.

The search loop needs, before every query: how many trials count against the budget, which
architectures are done or running, which were interrupted (and may be run again), the best
value, and which finished trials the strategy has not been told. Re-reading the whole table for
that makes a trial's cost grow with the number of trials; the `Ledger` instead folds in only
the trials that are new or changed (`Store.changes()`), taking back a trial's previous
contribution before adding its current one, so that reading a trial twice changes nothing.

Example::

    >>> from nasdsl.search.store import TrialRecord
    >>> ledger = Ledger(lambda rec: True)
    >>> a = TrialRecord(0, 10, "running", {"x": 1}, '{"x":1}')
    >>> ledger.update([a]); (ledger.counted, sorted(ledger.running_keys()))
    (0, ['{"x":1}'])
    >>> b = TrialRecord(0, 10, "complete", {"x": 1}, '{"x":1}', value=0.5)
    >>> ledger.update([b]); ledger.update([b]); (ledger.counted, ledger.best, ledger.running_keys())
    (1, 0.5, set())
    >>> [r.number for r in ledger.newly_counted()]
    [0]
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

from .store import TrialRecord

ACTIVE = ("complete", "failed", "running")   # the states that hold an architecture and a budget unit


class Ledger:
    """The tallies `work()` reads, over the trials `usable` accepts (see the module docstring)."""

    def __init__(self, usable: Callable[[TrialRecord], bool]):
        self.usable = usable
        self.counted = 0               # trials that spend the budget (complete or failed)
        self.active = 0                # trials in ACTIVE states
        self.best: float | None = None
        self._trials: dict[int, TrialRecord] = {}        # trial id -> its latest record
        self._done: dict[str, int] = {}                  # key -> counted trials holding it
        self._running: dict[int, TrialRecord] = {}       # trial id -> running trial
        self._holders: dict[str, set[int]] = {}          # key -> numbers of the ACTIVE trials holding it
        self._interrupted: dict[str, list[TrialRecord]] = {}   # key -> its interrupted trials, in order
        self._untold: list[TrialRecord] = []
        self._infeasible: list[TrialRecord] = []        # infeasible proposals read, not yet replayed

    def update(self, changed: Iterable[TrialRecord]) -> None:
        """Fold in new and changed trials (in trial order)."""
        for rec in sorted(changed, key=lambda r: r.number):
            if not self.usable(rec):
                continue
            rec = copy.copy(rec)   # the caller's record may change in place (Store.complete)
            old = self._trials.get(rec.trial_id)
            if old is not None:
                if old.state == rec.state and old.number == rec.number:
                    self._trials[rec.trial_id] = rec
                    if rec.state == "running":
                        self._running[rec.trial_id] = rec   # a newer heartbeat
                    continue
                self._apply(old, -1)
            self._trials[rec.trial_id] = rec
            self._apply(rec, +1)

    def _apply(self, rec: TrialRecord, sign: int) -> None:
        state, key = rec.state, rec.key
        if rec.counts:
            self.counted += sign
            self._done[key] = self._done.get(key, 0) + sign
            if sign > 0:
                self._untold.append(rec)
                if state == "complete" and rec.value is not None and (self.best is None or rec.value > self.best):
                    self.best = rec.value
        if state in ACTIVE:
            self.active += sign
            holders = self._holders.setdefault(key, set())
            (holders.add if sign > 0 else holders.discard)(rec.number)
        if state == "infeasible" and sign > 0:
            self._infeasible.append(rec)
        if state == "running":
            if sign > 0:
                self._running[rec.trial_id] = rec
            else:
                self._running.pop(rec.trial_id, None)
        elif state == "interrupted":
            tries = self._interrupted.setdefault(key, [])
            if sign > 0:
                tries.append(rec)
            else:
                tries[:] = [r for r in tries if r.trial_id != rec.trial_id]

    # -- what the loop asks

    def newly_counted(self) -> list[TrialRecord]:
        """The counted trials added since the last call, in the order they were read."""
        out, self._untold = self._untold, []
        return out

    def newly_infeasible(self) -> list[TrialRecord]:
        """The infeasible proposals (`nasdsl.search.feasibility`) read since the last call: a
        resumed search's, another worker's, to tell the strategy."""
        out, self._infeasible = self._infeasible, []
        return out

    def running(self) -> list[TrialRecord]:
        return list(self._running.values())

    def running_keys(self) -> set[str]:
        return {r.key for r in self._running.values()}

    def retry(self, max_retries: int) -> tuple[TrialRecord | None, list[TrialRecord]]:
        """The interrupted trial to run again (the latest try of the first architecture neither
        done nor running with at most `max_retries` tries so far), and the architectures given up
        since the last call (interrupted `max_retries` + 1 times: their latest try). Done and
        given-up architectures leave the list, so this costs nothing once they are settled."""
        running = self.running_keys()
        given_up = []
        for key in list(self._interrupted):
            tries = self._interrupted[key]
            if not tries or self._done.get(key, 0) > 0:
                del self._interrupted[key]
            elif len(tries) > max_retries:
                given_up.append(tries[-1])
                del self._interrupted[key]
            elif key not in running:
                return tries[-1], given_up
        return None, given_up

    def taken(self, rec: TrialRecord, batch: Iterable[TrialRecord], budget: int) -> str | None:
        """Why `rec`, just recorded (and folded in with `batch`, the trials read right after),
        must be given up: an earlier trial holds its architecture, or the earlier trials fill the
        budget. Every trial numbered after `rec` was created after the previous read, so it is in
        `batch`."""
        twin = min((n for n in self._holders.get(rec.key, ()) if n < rec.number), default=None)
        if twin is not None:
            return f"trial {twin} holds the same architecture"
        later = sum(1 for r in batch if r.number > rec.number and r.state in ACTIVE and self.usable(r))
        if self.active - 1 - later >= budget:
            return f"the budget of {budget} trials was full"
        return None
