"""ENAS (Pham et al. 2018): an LSTM controller samples paths, trained by REINFORCE on validation reward.

The controller walks the space's decisions in `Space.order` through
`Space.sample(choose=..., feasible=True)`, so it decides every kind of decision the space has —
layer, value, depth, cell ops and inputs, input choices n-of-k (one softmax over the subsets)
and any-subset ones (one sigmoid per candidate, NNI's form) — a conditional decision only when
it is active, and only among the values that still complete to an architecture satisfying the
space's constraints (its distribution restricted to them and renormalised: an any-subset
choice draws from the product of its sigmoids conditioned on an offered, non-empty subset), so
every draw keeps the constraints over decisions. Budgets over params/FLOPs are checked on the
whole draw and a draw that breaks one is drawn again (`Controller.rollout`). Each step feeds the
embedding of the previous choice to the LSTM; logits are divided by `temperature` (when set)
and squashed as `tanh_constant * tanh(logits)`.

Per training step: the weights train on the path the controller samples (no gradient into
the controller); then the controller samples a path with gradient, its reward is the
supernet's accuracy on an architecture batch (plus `entropy_weight` times the sample's
entropy), the baseline moves as `baseline_decay * baseline + (1 - baseline_decay) * reward`,
and the loss `-log p(path) * (reward - baseline) + skip_weight * KL(skip rate || skip_target)`
accumulates over `ctrl_steps_aggregate` steps before an Adam step (lr 3.5e-4, gradient norm
clipped at `ctrl_grad_clip` when positive).

Defaults are the documented ones NNI deleted upstream (#5466): lstm_size 64, one layer,
tanh_constant 1.5, skip_target 0.4, temperature none, entropy_weight 1e-4, skip_weight 0.8,
baseline_decay 0.999, ctrl_steps_aggregate 20, ctrl_grad_clip 0. The exported architecture is
the controller's greedy path; where that breaks a budget, the most probable under the
controller of 64 seeded draws within the budgets.

Under budgets, `log p(path)` is the log-probability of the rollout's whole sequence of draws,
`sum_i log q(a_i)`: the draws a_1 .. a_{N-1} that broke a budget, then the path a_N (without
budgets N = 1). The path's own probability, `q(a_N) / Z` with `Z` the probability that a draw
keeps the budgets, has no tractable `Z`; the sequence's is exact, and REINFORCE with it is
unbiased for the expected reward of the paths returned, `J = E[R(a_N)]`: the sequence has
probability `prod_{i<N} q(a_i) * q(a_N)` and its reward depends on a_N alone, so
`grad J = E[(R(a_N) - b) grad sum_i log q(a_i)]` for a baseline b fixed before the draws (the
moving average before this step's reward; updating it with the reward first, as the step does,
scales the estimate by `baseline_decay`). The rejected draws' term has expectation
`-grad log Z`: leaving them out, as `log q(a_N)` alone would, biases the update by
`-(J - b) grad log Z`.

Example::

    >>> import nasdsl
    >>> space = nasdsl.load("examples/cell.nas")
    >>> controller = Controller(space)
    >>> arch, log_prob, entropy, skip = controller.rollout(torch.Generator().manual_seed(0))
    >>> space.contains(arch), bool(log_prob < 0)
    (True, True)
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..arch import json_value, value_name
from .oneshot import OneShot, accuracy


def _key(label: str) -> str:
    return label.replace(".", "__")


class Controller(nn.Module):
    """The ENAS LSTM controller over a space's decisions."""

    def __init__(self, space, *, lstm_size: int = 64, lstm_num_layers: int = 1, tanh_constant: float | None = 1.5,
                 temperature: float | None = None, skip_target: float = 0.4, entropy_reduction: str = "sum"):
        super().__init__()
        self.space = space
        self.tanh_constant, self.temperature = tanh_constant, temperature
        self.skip_target, self.entropy_reduction = skip_target, entropy_reduction
        self.lstm = nn.LSTM(lstm_size, lstm_size, lstm_num_layers)
        self.g_emb = nn.Parameter(torch.empty(1, 1, lstm_size).uniform_(-0.1, 0.1))
        self.heads = nn.ModuleDict()
        self.embeddings = nn.ModuleDict()
        for d in space.decisions:
            width = d.n_candidates if _any_subset(d) else len(d.values)
            self.heads[_key(d.label)] = nn.Linear(lstm_size, width, bias=False)
            self.embeddings[_key(d.label)] = nn.Linear(width, lstm_size, bias=False)

    def _logits(self, h: torch.Tensor, label: str) -> torch.Tensor:
        logits = self.heads[_key(label)](h)
        if self.temperature:
            logits = logits / self.temperature
        if self.tanh_constant:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

    def rollout(self, generator: torch.Generator, greedy: bool = False, draws: int = 64):
        """One architecture (label -> value), a log-probability, its entropy and the skip
        penalty. The space offers, per decision, only the values that still complete to an
        architecture satisfying its constraints (`Space.sample(feasible=True)`): the controller's
        distribution q is restricted to them and renormalised, so a draw keeps every constraint.
        Budgets over params/FLOPs are checked on the whole draw, and a draw that breaks one is
        drawn again, so the architecture returned has the distribution q conditioned on the
        budgets, `q(a) / Z` with `Z` the probability that a draw keeps them (a sum over the
        space: not tractable). The log-probability returned is that of everything the rollout
        drew: `log q(a_1) + ... + log q(a_N)`, the draws that broke a budget and then the one
        returned (`last_draws` lists them, `last_log_q` is `log q(a_N)`; N = 1 without budgets).
        In a space too entangled to count completions, the space draws without restricting the
        values and a draw that breaks a constraint is abandoned where it breaks it and drawn
        again: it counts in the sum as far as it went (`last_draws` holds it that far).
        Its gradient is what REINFORCE needs for the expected reward of the returned
        architecture (see `Enas.search_step`). Entropy and skip penalty are the returned draw's.

        With `greedy`: each decision's most probable value, and the log-probability is
        `log q(a)`; where that path breaks a budget, the architecture is the most probable
        under q of `draws` rollouts (drawn with `generator`)."""
        if not greedy:
            return self._rollout(generator, greedy=False)
        try:
            return self._rollout(generator, greedy=True)
        except _Redraw:
            pass
        found = [(self._rollout(generator, greedy=False), self.last_log_q, self.last_probs) for _ in range(draws)]
        (arch, _, entropy, skip), log_q, probs = max(found, key=lambda f: float(f[1].detach()))
        self.last_probs, self.last_log_q, self.last_draws = probs, log_q, [arch]
        return arch, log_q, entropy, skip

    def _rollout(self, generator: torch.Generator, greedy: bool):
        """One rollout as `rollout` describes it; a greedy path that breaks a budget raises `_Redraw`."""
        state: dict[str, Any] = {}
        probs: dict[str, list[float]] = {}
        rejected: list[dict[str, Any]] = []

        def reset() -> None:
            state.update(seen={}, log_q=torch.zeros(()), entropy=torch.zeros(()), skip=torch.zeros(()),
                         hidden=None, x=self.g_emb)
            probs.clear()

        def choose(offered):
            if offered.label in state["seen"]:  # a redraw (the last draw broke a budget): start afresh
                if greedy:
                    raise _Redraw()
                rejected.append(dict(state["seen"]))
                state["log_prob"] = state["log_prob"] + state["log_q"]
                reset()
            d = self.space.decision(offered.label)
            allowed = list(offered.values)
            out, state["hidden"] = self.lstm(state["x"], state["hidden"])
            logits = self._logits(out[0, 0], d.label)
            if _any_subset(d):
                p = torch.sigmoid(logits)
                log_on, log_off = torch.log(p + 1e-10), torch.log(1 - p + 1e-10)
                scores = torch.stack([sum((log_on[i] if i in s else log_off[i]) for i in range(len(p)))
                                      for s in allowed])
                q = F.softmax(scores, dim=-1)  # the independent sigmoids, conditioned on an offered subset
                index = int(q.argmax()) if greedy else int(torch.multinomial(q.detach(), 1, generator=generator))
                value = tuple(allowed[index])
                log_p = torch.log(q[index] + 1e-10)
                ent = -(p * log_on + (1 - p) * log_off)
                ent = ent.sum() if self.entropy_reduction == "sum" else ent.mean()
                rate, t = p.mean(), self.skip_target
                state["skip"] = state["skip"] + rate * torch.log(rate / t + 1e-10) \
                    + (1 - rate) * torch.log((1 - rate) / (1 - t) + 1e-10)
                feed = torch.zeros_like(p)
                feed[list(value)] = 1.0
                probs[d.label] = p.tolist()
            else:
                mask = torch.tensor([any(v == a for a in allowed) for v in d.values])
                p = F.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)
                index = int(p.argmax()) if greedy else int(torch.multinomial(p.detach(), 1, generator=generator))
                value = d.values[index]
                log_p = torch.log(p[index] + 1e-10)
                ent = -(p * torch.log(p + 1e-10)).sum()
                feed = F.one_hot(torch.tensor(index), len(d.values)).float()
                probs[d.label] = p.tolist()
            state["seen"][d.label] = json_value(value)
            state["log_q"] = state["log_q"] + log_p
            state["entropy"] = state["entropy"] + ent
            state["x"] = self.embeddings[_key(d.label)](feed).view(1, 1, -1)
            return value

        reset()
        state["log_prob"] = torch.zeros(())   # the draws that broke a budget, summed
        arch = self.space.sample(choose=choose, feasible=True)
        self.last_probs = probs
        self.last_log_q = state["log_q"]
        self.last_draws = [*rejected, arch]
        return arch, state["log_prob"] + state["log_q"], state["entropy"], state["skip"]


class _Redraw(Exception):
    """A greedy path broke a budget (drawing it again would give the same path)."""


def _any_subset(d) -> bool:
    return d.kind == "input" and d.n_chosen is None


class Enas(OneShot):
    """ENAS (see the module docstring)."""

    def __init__(self, supernet, *, lstm_size: int = 64, lstm_num_layers: int = 1, tanh_constant: float = 1.5,
                 skip_target: float = 0.4, temperature: float | None = None, entropy_reduction: str = "sum",
                 entropy_weight: float = 1e-4, skip_weight: float = 0.8, baseline_decay: float = 0.999,
                 ctrl_lr: float = 3.5e-4, ctrl_steps_aggregate: int = 20, ctrl_grad_clip: float = 0.0, **options):
        super().__init__(supernet, **options)
        torch.manual_seed(self.seed)  # the controller's initial weights (seeded like the supernet's)
        self.controller = Controller(supernet.space, lstm_size=lstm_size, lstm_num_layers=lstm_num_layers,
                                     tanh_constant=tanh_constant, temperature=temperature, skip_target=skip_target,
                                     entropy_reduction=entropy_reduction)
        self.entropy_weight, self.skip_weight, self.baseline_decay = entropy_weight, skip_weight, baseline_decay
        self.ctrl_lr, self.ctrl_steps_aggregate, self.ctrl_grad_clip = ctrl_lr, ctrl_steps_aggregate, ctrl_grad_clip
        self.generator = torch.Generator().manual_seed(self.seed)
        self.baseline = 0.0
        self.ctrl_step = 0

    def arch_optimizers(self):
        return [torch.optim.Adam(self.controller.parameters(), lr=self.ctrl_lr)]

    def search_step(self, weight_batch, arch_batch, batch_idx: int) -> None:
        with torch.no_grad():
            arch, *_ = self.controller.rollout(self.generator)
        self.supernet.fix(arch)
        self.weight_step(self.task_loss(weight_batch, log=True))

        arch, log_prob, entropy, skip = self.controller.rollout(self.generator)
        self.supernet.fix(arch)
        x, y = arch_batch
        with torch.no_grad(), self.supernet.policy.statistics_kept():
            reward = float(accuracy(self.supernet(x), y))
        entropy_value = float(entropy.detach())  # a bonus in the reward, not a path for gradients
        reward = self.all_mean(reward) + self.entropy_weight * entropy_value
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward
        loss = -log_prob * (reward - self.baseline)
        if self.skip_weight:
            loss = loss + self.skip_weight * skip
        loss = loss / self.ctrl_steps_aggregate
        self.backward_synced(loss, list(self.controller.parameters()))
        self.log("reward", reward, on_step=False, on_epoch=True)
        self.log("controller_entropy", entropy_value, on_step=False, on_epoch=True)
        self.ctrl_step += 1
        if self.ctrl_step % self.ctrl_steps_aggregate == 0:
            opt = self.arch_optimizer()
            if self.ctrl_grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.controller.parameters(), self.ctrl_grad_clip)
            opt.step()
            opt.zero_grad()

    def export(self) -> dict[str, Any]:
        with torch.no_grad():
            arch, *_ = self.controller.rollout(torch.Generator().manual_seed(0), greedy=True)
        return arch

    def export_probs(self) -> dict[str, dict[str, float]]:
        """The controller's distributions along its greedy path (any-subset decisions: the
        probability of each candidate input)."""
        self.export()
        out = {}
        for label, p in self.controller.last_probs.items():
            d = self.supernet.space.decision(label)
            names = range(d.n_candidates) if _any_subset(d) else d.values
            out[label] = {value_name(v): w for v, w in zip(names, p)}
        return out

    def validation_arch(self):
        return self.export()

    def gate_labels(self) -> set[str]:
        return {d.label for d in self.supernet.space.decisions if _any_subset(d)}

    def stall_advice(self) -> str:
        return (f"search more epochs (--epochs), raise --option ctrl_lr (now {self.ctrl_lr:.3g}) or lower "
                f"--option ctrl_steps_aggregate (now {self.ctrl_steps_aggregate}: "
                f"{self.ctrl_step // self.ctrl_steps_aggregate} controller updates in this search)")

    def strategy_state(self):
        return {"generator": self.generator.get_state(), "baseline": self.baseline, "ctrl_step": self.ctrl_step}

    def load_strategy_state(self, state):
        if state:
            self.generator.set_state(state["generator"])
            self.baseline, self.ctrl_step = float(state["baseline"]), int(state["ctrl_step"])



Strategy = Enas
