"""TPE: Optuna's Tree-structured Parzen Estimator, asked define-by-run over the active decisions.

Each proposal is one trial of an in-memory Optuna study: `Space.sample(choose=...)` asks
`suggest_categorical` for each decision the decisions before it make active, so a conditional
decision is asked only when it exists, and Optuna's grouped multivariate TPE
(`multivariate=True, group=True`) models each set of decisions that occur together. Values
Optuna cannot take as categorical choices (input-choice subsets) are encoded as JSON text.
Results come back through `tell`: an architecture proposed here completes its Optuna trial, one
from elsewhere (another worker, a resumed store, a repeat) is added as a finished trial, so the
study is a function of the trial table. An architecture that breaks a `--constraint`
(`infeasible`) completes its trial with an Optuna constraint value > 0 (Optuna's
constrained TPE: infeasible trials rank below every feasible one, by how far they break it).
With several objectives (`directions`, `nasdsl.search.objectives`) the study is multi-objective
and the sampler is Optuna's multi-objective TPE (MOTPE: the good trials are the best
non-dominated ones); each result is the tuple of the objectives' values.

Options (Optuna's `TPESampler` names; NNI's TPE wraps hyperopt with 20 startup trials and
minimises by default):

* `n_startup_trials` (default 10, Optuna's): random trials before the model is used;
* `n_ei_candidates` (default 24, Optuna's);
* `multivariate` (default true), `group` (default true);
* `constant_liar` (default false; set true with several workers so pending trials repel).

Example::

    >>> import nasdsl
    >>> from nasdsl.strategy.tpe import TPE
    >>> space = nasdsl.load("nasbench201")
    >>> s = TPE(space, seed=0)
    >>> a = s.ask(); s.tell(a, 90.0)
    >>> len(s.study.trials)
    1
"""
from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any

from ..arch import arch_key
from ..errors import ArchitectureError, EmptySpaceError
from .base import Strategy, Value, check

CONSTRAINT = "nasdsl"     # the Optuna constraint an infeasible proposal sets
INFEASIBLE_VALUE = 0.0    # the value told with it (Optuna ranks infeasible trials by their constraint alone)


class TPE(Strategy):
    name = "tpe"
    multi_objective = True

    def __init__(self, space, seed: int = 0, budget: int | None = None, *, n_startup_trials: int = 10,
                 n_ei_candidates: int = 24, multivariate: bool = True, group: bool = True,
                 constant_liar: bool = False, directions: tuple[str, ...] = ("maximize",)):
        super().__init__(space, seed, budget)
        import optuna
        check(n_startup_trials >= 0, f"`n_startup_trials` must be at least 0, got {n_startup_trials}")
        check(n_ei_candidates >= 1, f"`n_ei_candidates` must be at least 1, got {n_ei_candidates}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # multivariate/group are flagged experimental
            sampler = optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=n_startup_trials, n_ei_candidates=n_ei_candidates,
                multivariate=multivariate, group=group and multivariate, constant_liar=constant_liar)
        self._open(sampler, directions)

    def _open(self, sampler, directions: tuple[str, ...]) -> None:
        """The in-memory study `sampler` drives, with one objective per direction, and each
        decision's Optuna distribution."""
        import optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.directions = tuple(directions)
        self.study = optuna.create_study(directions=list(self.directions), sampler=sampler)
        self._choices = {d.label: tuple(_encode(v) for v in d.values) for d in self.space.order}
        self._distributions = {label: optuna.distributions.CategoricalDistribution(c)
                               for label, c in self._choices.items()}
        self._pending: dict[str, Any] = {}

    def _ask(self) -> dict[str, Any] | None:
        for _ in range(100):
            trial = self.study.ask()
            try:
                arch = self.space.sample(choose=self._chooser(trial), attempts=1)
            except (ArchitectureError, EmptySpaceError):  # a constraint or budget failed: TPE learns nothing from it; ask again
                self._fail(trial)
                continue
            key = arch_key(arch)
            if key in self._pending:   # already out: only one Optuna trial per architecture
                self._fail(trial)
                return arch
            self._pending[key] = trial
            return arch
        # TPE's samples keep breaking the constraints (a tightly constrained space such as
        # NAS-Bench-101's): take a valid random architecture, learned from when it is told
        return self.random_unseen()

    def _chooser(self, trial):
        return lambda d: _decode(trial.suggest_categorical(d.label, self._choices[d.label]))

    def _fail(self, trial) -> None:
        import optuna
        self.study.tell(trial, state=optuna.trial.TrialState.FAIL)

    def reject(self, arch: Mapping[str, Any]) -> None:
        trial = self._pending.pop(arch_key(arch), None)
        if trial is not None:
            self._fail(trial)

    def infeasible(self, arch: Mapping[str, Any], violation: float = 1.0) -> None:
        """An infeasible Optuna trial (`Trial.set_constraint`, constraint value `violation` > 0):
        TPE ranks it below every feasible trial, so its region is sampled less."""
        super().infeasible(arch, violation)
        trial = self._pending.pop(arch_key(arch), None)
        if trial is not None:
            trial.set_constraint(CONSTRAINT, violation)
            self.study.tell(trial, self._told(INFEASIBLE_VALUE))
            return
        import optuna
        params = {label: _encode(v) for label, v in arch.items()}
        self.study.add_trial(optuna.trial.create_trial(
            params=params, distributions={k: self._distributions[k] for k in params},
            values=self._values(self._told(INFEASIBLE_VALUE)), constraints={CONSTRAINT: violation}))

    def _told(self, value: float | tuple[float, ...]) -> float | list[float]:
        """A result as the study takes it: a number, or one value per direction (a single
        number, the infeasible placeholder, repeated)."""
        if len(self.directions) == 1:
            return value[0] if isinstance(value, tuple) else value
        return list(value) if isinstance(value, tuple) else [value] * len(self.directions)

    @staticmethod
    def _values(told: float | list[float]) -> list[float]:
        return told if isinstance(told, list) else [told]

    def tell(self, arch: Mapping[str, Any], value: Value) -> None:
        super().tell(arch, value)
        import optuna
        trial = self._pending.pop(arch_key(arch), None)
        if trial is not None:
            if value is None:
                self._fail(trial)
            else:
                self.study.tell(trial, self._told(value))
            return
        if value is None:
            return
        params = {label: _encode(v) for label, v in arch.items()}
        self.study.add_trial(optuna.trial.create_trial(
            params=params, distributions={k: self._distributions[k] for k in params},
            values=self._values(self._told(value))))


def _encode(value: Any) -> Any:
    """A decision value as an Optuna categorical choice (None/bool/int/float/str)."""
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    return value


def _decode(choice: Any) -> Any:
    if isinstance(choice, str) and choice.startswith("["):
        return json.loads(choice)
    return choice


STRATEGY = TPE
