"""Policy-based reinforcement learning: a policy over the decisions trained by REINFORCE.

The policy holds one vector of logits per decision. An architecture is drawn decision by
decision in the space's order (`Space.sample(choose=...)`), so a conditional decision is drawn
only when the decisions before it make it active, and its log-probability counts only then.
After each evaluated architecture the policy takes a REINFORCE step: the gradient of the
sampled decisions' log-probability scaled by the advantage (reward minus a moving-average
baseline, divided by a moving standard deviation), with Adam on the logits and an entropy
bonus that keeps it exploring. Failed trials give no reward.

NNI's `PolicyBasedRL(max_collect=100, trial_per_collect=20, policy_fn=None)` runs tianshou's
PPO over an LSTM; this policy is small enough to learn in the tens of trials that a NAS budget
allows, and it is pure Python (no RL framework, no torch).

Options: `learning_rate` (default 0.2), `baseline_decay` (0.9; NNI's ENAS default 0.999 is for
thousands of steps), `entropy_weight` (0.0), `trial_per_collect` (trials per update, default 1:
update after every trial; NNI collects 20).

The policy is a deterministic function of the ordered trial table (updates replay in order).

Example::

    >>> import nasdsl
    >>> from nasdsl.strategy.rl import PolicyBasedRL
    >>> space = nasdsl.load("nasbench201")
    >>> s = PolicyBasedRL(space, seed=0)
    >>> for _ in range(30):
    ...     a = s.ask(); s.tell(a, 1.0 if a["Cell.e1_0"] == "nor_conv_3x3" else 0.0)
    >>> s.probabilities()["Cell.e1_0"]["nor_conv_3x3"] > 0.5
    True
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import ArchitectureError, EmptySpaceError
from .base import Strategy, Value, check


class PolicyBasedRL(Strategy):
    name = "rl"

    def __init__(self, space, seed: int = 0, budget: int | None = None, *, learning_rate: float = 0.2,
                 baseline_decay: float = 0.9, entropy_weight: float = 0.0, trial_per_collect: int = 1):
        super().__init__(space, seed, budget)
        check(learning_rate > 0, f"`learning_rate` must be positive, got {learning_rate}")
        check(0.0 <= baseline_decay < 1.0, f"`baseline_decay` must be in [0, 1), got {baseline_decay}")
        check(entropy_weight >= 0, f"`entropy_weight` must be at least 0, got {entropy_weight}")
        check(trial_per_collect >= 1, f"`trial_per_collect` must be at least 1, got {trial_per_collect}")
        self.learning_rate, self.baseline_decay = learning_rate, baseline_decay
        self.entropy_weight, self.trial_per_collect = entropy_weight, trial_per_collect
        self.logits = {d.label: [0.0] * len(d.values) for d in space.order}
        self._index = {d.label: {_key(v): i for i, v in enumerate(d.values)} for d in space.order}
        self._adam = {label: ([0.0] * len(v), [0.0] * len(v)) for label, v in self.logits.items()}
        self._steps = 0
        self.baseline: float | None = None
        self.scale = 1.0
        self._batch: list[tuple[dict[str, Any], float]] = []

    def probabilities(self) -> dict[str, dict[Any, float]]:
        """The policy's distribution over each decision's values."""
        return {d.label: dict(zip([_key(v) for v in d.values], _softmax(self.logits[d.label])))
                for d in self.space.order}

    def _ask(self) -> dict[str, Any] | None:
        def choose(d):
            probs = _softmax(self.logits[d.label])
            r, acc = self.rng.random(), 0.0
            for value, p in zip(d.values, probs):
                acc += p
                if r < acc:
                    return value
            return d.values[-1]
        try:
            return self.space.sample(choose=choose, attempts=100)
        except (ArchitectureError, EmptySpaceError):
            # the policy's draws keep breaking the constraints: a valid random architecture
            # (its result still updates the policy when it is told)
            return self.random_unseen()

    def tell(self, arch: Mapping[str, Any], value: Value) -> None:
        super().tell(arch, value)
        if value is None or not math.isfinite(value):
            return
        if self.baseline is None:
            self.baseline = value
        self._batch.append((dict(arch), value))
        if len(self._batch) >= self.trial_per_collect:
            self._update()

    def _update(self) -> None:
        grads = {label: [0.0] * len(v) for label, v in self.logits.items()}
        for arch, reward in self._batch:
            advantage = (reward - self.baseline) / self.scale
            d2 = (reward - self.baseline) ** 2
            self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward
            self.scale = math.sqrt(self.baseline_decay * self.scale ** 2 + (1 - self.baseline_decay) * d2) or 1.0
            for label, chosen in arch.items():
                probs = _softmax(self.logits[label])
                i = self._index[label][_key(chosen)]
                g = grads[label]
                entropy = -sum(p * math.log(p) for p in probs if p > 0)
                for j, p in enumerate(probs):
                    # ascent direction: advantage * d log p(i) + entropy_weight * d H
                    g[j] += advantage * ((1.0 if j == i else 0.0) - p) / len(self._batch)
                    if self.entropy_weight and p > 0:
                        g[j] += self.entropy_weight * (-p * (math.log(p) + entropy)) / len(self._batch)
        self._batch = []
        self._steps += 1
        b1, b2, eps, t = 0.9, 0.999, 1e-8, self._steps
        for label, g in grads.items():
            m, v = self._adam[label]
            logits = self.logits[label]
            for j, gj in enumerate(g):
                m[j] = b1 * m[j] + (1 - b1) * gj
                v[j] = b2 * v[j] + (1 - b2) * gj * gj
                logits[j] += self.learning_rate * (m[j] / (1 - b1 ** t)) / (math.sqrt(v[j] / (1 - b2 ** t)) + eps)


def _key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _softmax(logits: list[float]) -> list[float]:
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = sum(exps)
    return [e / total for e in exps]


STRATEGY = PolicyBasedRL
