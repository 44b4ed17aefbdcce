"""What every one-shot strategy shares: a LightningModule with manual optimization around a supernet.

`OneShot` owns the weight optimizer (DARTS's SGD: lr 0.025, momentum 0.9, weight decay 3e-4,
cosine to 0.001, gradient norm clipped at 5 with `self.clip_gradients`, since Lightning never
clips under manual optimization), the image-classification task (cross-entropy, accuracy), the
optional hardware penalty, per-epoch logging (loss, accuracy, architecture entropy), the
history of architecture weights, and search state in checkpoints as tensors and plain data
only (so Lightning's `weights_only=True` loading reads them). It also holds the architecture
optimizer of the alpha strategies (`alpha_adam`, with `default_arch_lr` scaling DARTS's rate to
the epoch's length) and the test of a search that left its distribution near uniform
(`near_uniform`, which `nasdsl search` reports at the end).

Each training batch is a pair `(weight_batch, arch_batch)`: one half of the training data
trains the weights, the other the architecture (the DARTS protocol; `nasdsl.data.PairedDataset`).
A subclass implements `search_step(weight_batch, arch_batch)` and `export()`.

A user's own task: pass a LightningModule as `task`; its `model` attribute is set to the
supernet, its `training_step(batch, batch_idx)` must return the loss (or `{"loss": ...}`),
its `configure_optimizers()` (optimizers and LR schedulers) replaces ours for the weights and
its `gradient_clip_val` attribute replaces our clipping. Its `self.log` calls work: while its
step runs it shares this module's trainer and hook name (for architecture batches its logging
is switched off, so each metric is logged once per weight step).

Distributed data parallel (`--devices K`): gradients are averaged across processes by this
module, not by DDP's reducer (a step runs several backward passes over different subsets of
parameters), so architecture parameters, controllers and optimizer states stay identical on
every rank; path sampling uses generators seeded alike on every rank, so every rank draws the
same path and exports the same architecture. Buffers (BatchNorm running statistics, which each
rank's share of the data moves apart) are rank 0's on every rank before each validation and
each checkpoint (`sync_buffers`), so every rank validates one model and a run resumed from a
checkpoint (rank 0's) continues exactly as an uninterrupted one.

Example::

    >>> import nasdsl
    >>> from nasdsl.strategy import build_supernet
    >>> from nasdsl.strategy.darts import Darts
    >>> net = build_supernet(nasdsl.load("nasbench201", {"C": 4, "N": 1, "in_channels": 1, "resolution": 8}), "darts")
    >>> sorted(Darts(net).export())[:1]
    ['Cell.e1_0']
"""
from __future__ import annotations

import contextlib
import json
import math
import random
import warnings
from collections.abc import Iterable
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from ..arch import value_name
from ..errors import NasError


class OneShot(pl.LightningModule):
    """Base of the one-shot strategies (see the module docstring)."""

    #: Whether the search learns a distribution over architectures (architecture weights or a
    #: controller) that should move away from uniform; uniform path sampling does not.
    learns_distribution = True

    def __init__(self, supernet, *, lr: float = 0.025, momentum: float = 0.9, weight_decay: float = 3e-4,
                 lr_min: float = 1e-3, grad_clip: float | None = 5.0, penalty=None, task=None, seed: int = 0):
        super().__init__()
        self.automatic_optimization = False
        self.supernet = supernet
        self.lr, self.momentum, self.weight_decay, self.lr_min = lr, momentum, weight_decay, lr_min
        self.grad_clip = grad_clip
        self.penalty = penalty
        self.task = task
        if task is not None:
            task.model = supernet
            self.grad_clip = getattr(task, "gradient_clip_val", grad_clip)
        self.seed = seed
        self.history: list[dict[str, dict[str, float]]] = []  # export_probs() at the start, after every epoch
        self.meta: dict[str, Any] = {}   # fingerprint, strategy, options: written into checkpoints

    # -- what a strategy provides (and `search_step(weight_batch, arch_batch, batch_idx)`)

    def export(self) -> dict[str, Any]:
        """The architecture found (label -> value)."""
        return self.supernet.export()

    def export_probs(self) -> dict[str, dict[str, float]]:
        """The probability of every value of every decision, as the strategy sees it."""
        return self.supernet.export_probs()

    def arch_optimizers(self) -> list[torch.optim.Optimizer]:
        return []

    def alpha_adam(self) -> list[torch.optim.Optimizer]:
        """Adam on the supernet's architecture parameters with the strategy's `arch_lr`,
        `arch_betas` and `arch_weight_decay`: the alpha optimizer of DARTS, GumbelDARTS and
        ProxylessNAS. `arch_lr=None` (their default) is `default_arch_lr` of this search's
        architecture steps an epoch; the rate used is `self.arch_lr_used`."""
        lr = self.arch_lr if self.arch_lr is not None else default_arch_lr(self.arch_steps_per_epoch())
        self.arch_lr_used = lr
        return [torch.optim.Adam(self.supernet.arch_parameters(), lr=lr, betas=self.arch_betas,
                                 weight_decay=self.arch_weight_decay)]

    def arch_steps_per_epoch(self) -> int | None:
        """Training steps (one architecture step each) an epoch in this process; None outside a
        trainer."""
        if self._trainer is None:
            return None
        steps = self.trainer.estimated_stepping_batches
        epochs = max(self.trainer.max_epochs or 1, 1)
        return max(int(steps) // epochs, 1) if math.isfinite(steps) else None

    def stall_advice(self) -> str:
        """What to change when the distribution stays near uniform (see `near_uniform`)."""
        lr = getattr(self, "arch_lr_used", None)
        if lr is None:
            return "search more epochs (--epochs)"
        return f"search more epochs (--epochs) or raise the architecture learning rate (--option arch_lr=, " \
               f"this search {lr:.3g})"

    def gate_labels(self) -> set[str]:
        """The decisions whose `export_probs()` rows are independent gate probabilities."""
        return set(self.supernet.policy.gates)

    def validation_arch(self) -> dict[str, Any] | None:
        """The architecture validation runs (None: the supernet as it is, e.g. a mixture)."""
        return None

    def strategy_state(self) -> dict[str, Any]:
        """Search state beyond parameters and optimizers: tensors and plain data only."""
        return {}

    def load_strategy_state(self, state: dict[str, Any]) -> None:
        pass

    # -- Lightning hooks

    def forward(self, x):
        return self.supernet(x)

    def configure_optimizers(self):
        if self.task is not None:
            optimizers, schedulers = _normalise(self.task.configure_optimizers())
        else:
            weights = torch.optim.SGD(self.supernet.parameters(), lr=self.lr, momentum=self.momentum,
                                      weight_decay=self.weight_decay)
            epochs = max(1, self.trainer.max_epochs or 1) if self._trainer is not None else 1
            optimizers = [weights]
            schedulers = [torch.optim.lr_scheduler.CosineAnnealingLR(weights, T_max=epochs, eta_min=self.lr_min)]
        self.n_weight_optimizers = len(optimizers)
        return optimizers + self.arch_optimizers(), schedulers

    def training_step(self, batch, batch_idx):
        weight_batch, arch_batch = batch
        self.search_step(weight_batch, arch_batch, batch_idx)

    def configure_callbacks(self):
        return [_EpochEnd()]

    def epoch_end(self) -> None:
        """Step the LR schedulers, record and log the architecture weights. Runs from a callback
        so that it happens before Lightning's checkpoint of the epoch (which then holds it)."""
        self.sync_buffers()
        schedulers = self.lr_schedulers()
        for s in schedulers if isinstance(schedulers, list) else [schedulers] if schedulers else []:
            s.step()
        probs = self.export_probs()
        self.history.append(probs)
        if probs:
            self.log("arch_entropy", mean_entropy(probs, self.gate_labels()))

    def on_train_start(self) -> None:
        if not self.history:  # the starting point of the plot: the weights before any step
            self.history.append(self.export_probs())

    def finish(self) -> None:
        """After the last epoch (SPOS runs its evolution here)."""

    def on_train_end(self) -> None:
        self.finish()
        self.agreement = self.rank_agreement()

    def rank_agreement(self) -> list[list[float]]:
        """Per process: a hash of the exported architecture and the sums of the weights, of every
        parameter (the architecture's too) and of the buffers. Identical rows mean every rank holds
        the same search state."""
        import hashlib

        from ..arch import arch_key
        digest = int(hashlib.sha256(arch_key(self.export()).encode()).hexdigest()[:12], 16)
        row = torch.tensor([[float(digest), float(sum(p.detach().double().sum() for p in self.supernet.parameters())),
                             float(sum(p.detach().double().sum() for p in self.parameters())),
                             float(sum(b.detach().double().sum() for b in self.buffers()))]], dtype=torch.float64)
        world = self.trainer.world_size if self._trainer is not None else 1
        if world <= 1:
            return row.tolist()
        rows = [torch.zeros_like(row) for _ in range(world)]
        torch.distributed.all_gather(rows, row)
        return torch.cat(rows).tolist()

    def on_validation_epoch_start(self) -> None:
        self.sync_buffers()
        arch = self.validation_arch()
        if arch is not None:
            self.supernet.fix(arch)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        out = self.supernet(x)
        self.log("val_loss", F.cross_entropy(out, y), sync_dist=True)
        self.log("val_acc", accuracy(out, y), sync_dist=True)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["nasdsl"] = {**self.meta, "history": json.dumps(self.history),
                                "rng": json.dumps(self.supernet.policy.rng.getstate()),
                                "generator": self.supernet.policy.generator.get_state(),
                                "strategy_state": self.strategy_state()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("nasdsl", {})
        self.history = json.loads(state.get("history", "[]"))
        if "rng" in state:
            self.supernet.policy.rng.setstate(_tuples(json.loads(state["rng"])))
            self.supernet.policy.generator.set_state(state["generator"])
        self.load_strategy_state(state.get("strategy_state", {}))

    # -- pieces for the strategies

    def task_loss(self, batch, *, log: bool) -> torch.Tensor:
        """The loss of the current supernet on `batch`: our cross-entropy (logging loss and
        accuracy when `log`), or the user's task."""
        if self.task is not None:
            with self._attached(log):
                out = self.task.training_step(batch, 0)
            return out["loss"] if isinstance(out, dict) else out
        x, y = batch
        out = self.supernet(x)
        loss = F.cross_entropy(out, y)
        if log:
            self.log("train_loss", loss.detach(), on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
            self.log("train_acc", accuracy(out, y), on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
        return loss

    def penalised(self, loss: torch.Tensor, *, log: bool = False) -> torch.Tensor:
        """`loss` with the hardware penalty on the expected cost, when one is set."""
        if self.penalty is None:
            return loss
        loss, cost = self.penalty.apply(loss, self.supernet.policy.probs)
        if log:
            self.log(f"expected_{self.penalty.name}", cost.detach(), on_step=False, on_epoch=True)
        return loss

    def weight_step(self, loss: torch.Tensor, *, keep_grads: bool = False) -> None:
        """Backward, average across processes, clip, step the weight optimizer(s). With
        `keep_grads`, `loss`'s gradients add to those already there (`zero_weight_grads`, then
        one `loss.backward()` per extra path: FairNAS's step over several paths)."""
        if not keep_grads:
            self.zero_weight_grads()
        self.backward_synced(loss, list(self.supernet.parameters()))
        for opt in self.weight_optimizers():
            if self.grad_clip:
                self.clip_gradients(opt, gradient_clip_val=self.grad_clip, gradient_clip_algorithm="norm")
            opt.step()

    def weight_optimizers(self) -> list:
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        return optimizers[: self.n_weight_optimizers]

    def zero_weight_grads(self) -> None:
        for opt in self.weight_optimizers():
            opt.zero_grad()

    def arch_optimizer(self, i: int = 0):
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        return optimizers[self.n_weight_optimizers + i]

    def backward_synced(self, loss: torch.Tensor, params: Iterable[torch.nn.Parameter]) -> None:
        """`loss.backward()`, then each gradient averaged over the processes (a parameter no rank
        touched keeps no gradient, as in one process)."""
        if loss.requires_grad:
            loss.backward()
        self.sync_grads(params)

    def arch_backward(self, loss: torch.Tensor, params: Iterable[torch.nn.Parameter]) -> None:
        """The gradient of `loss` for `params` alone (architecture parameters), added to their
        `.grad` and averaged over the processes. The weights' gradients, which `loss.backward()`
        would also compute and the weight step then discards, are not computed: backward stops
        short of every weight gradient and of the layers below the first choice."""
        params = list(params)
        if loss.requires_grad:
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            for p, g in zip(params, grads):
                if g is not None:
                    p.grad = g if p.grad is None else p.grad + g
        self.sync_grads(params)

    def sync_grads(self, params: Iterable[torch.nn.Parameter]) -> None:
        world = self.trainer.world_size if self._trainer is not None else 1
        if world <= 1:
            return
        params = list(params)
        flags = torch.tensor([0.0 if p.grad is None else 1.0 for p in params])
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
        torch.distributed.all_reduce(flags)
        torch.distributed.all_reduce(flat)
        flat /= world
        offset = 0
        for p, flag in zip(params, flags.tolist()):
            n = p.numel()
            if flag:
                p.grad = flat[offset: offset + n].view_as(p).clone()
            offset += n

    def sync_buffers(self) -> None:
        """Every rank takes rank 0's buffers (BatchNorm running statistics), as DDP's own
        `broadcast_buffers` would: the weights stay equal across ranks (`sync_grads`), but each
        rank's statistics follow its own share of the data, and a checkpoint holds rank 0's."""
        world = self.trainer.world_size if self._trainer is not None else 1
        if world <= 1:
            return
        groups: dict[torch.dtype, list[torch.Tensor]] = {}
        for b in self.buffers():   # one broadcast per dtype (float statistics, int batch counts)
            groups.setdefault(b.dtype, []).append(b)
        with torch.no_grad():
            for group in groups.values():
                flat = torch.cat([b.reshape(-1) for b in group])
                torch.distributed.broadcast(flat, src=0)
                offset = 0
                for b in group:
                    b.copy_(flat[offset: offset + b.numel()].view_as(b))
                    offset += b.numel()

    def all_mean(self, value: float) -> float:
        """A number averaged across processes (rewards, so baselines agree)."""
        world = self.trainer.world_size if self._trainer is not None else 1
        if world <= 1:
            return value
        t = torch.tensor([float(value)])
        torch.distributed.all_reduce(t)
        return float(t) / world

    @contextlib.contextmanager
    def _attached(self, log: bool):
        """Let the user's task `self.log` through this module's trainer while its step runs."""
        task = self.task
        saved = (task._trainer, task._current_fx_name)
        task._trainer = self._trainer if log else None
        task._current_fx_name = self._current_fx_name
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        finally:
            task._trainer, task._current_fx_name = saved


class _EpochEnd(pl.Callback):
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        pl_module.epoch_end()


def accuracy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (out.detach().argmax(-1) == y).float().mean()


def mean_entropy(probs: dict[str, dict[str, float]], gates: Iterable[str] = ()) -> float:
    """Mean entropy (nats) of the decisions' distributions; the rows of `gates` (gated subset
    choices) hold independent Bernoulli probabilities, whose entropies add up.

    Example::

        >>> round(mean_entropy({"a": {"x": 0.5, "y": 0.5}, "g": {"0": 0.5, "1": 0.5}}, gates={"g"}), 4)
        1.0397
    """
    gates = set(gates)
    total = 0.0
    for label, row in probs.items():
        for p in row.values():
            if label in gates:
                total -= sum(q * math.log(q) for q in (p, 1 - p) if q > 0)
            elif p > 0:
                total -= p * math.log(p)
    return total / max(len(probs), 1)


def max_entropy(probs: dict[str, dict[str, float]], gates: Iterable[str] = ()) -> float:
    """The largest `mean_entropy` rows of these shapes can have: every row uniform (a gate row:
    every gate at one half)."""
    gates = set(gates)
    total = sum(len(row) * math.log(2) if label in gates else math.log(len(row)) if row else 0.0
                for label, row in probs.items())
    return total / max(len(probs), 1)


#: A distribution whose mean entropy is at least this fraction of its maximum has not moved
#: enough for its argmax to mean much: on a 5-way choice, 99% is a top probability of about 0.27
#: (from 0.2); on a gate, about 0.56 (from 0.5). Measured on NB201 / mnist5k
#: (bench/results_oneshot.md): searches that did not learn ended at 99.8-99.9% (the old quick
#: start's darts, enas), while darts at arch_lr 3e-3 for 10 epochs ended at 98.3% and exported
#: cells at the table's 95th percentile, so a lower threshold would warn about a search that worked.
NEAR_UNIFORM = 0.99
#: A gate this close to one half is a coin flip at export.
GATE_HAIR = 0.02


def near_uniform(probs: dict[str, dict[str, float]], gates: Iterable[str] = ()) -> str | None:
    """Why the distribution `probs` is still close to uniform, or None when it has moved: its
    mean entropy is at least `NEAR_UNIFORM` of the maximum, or every gate of `gates` is within
    `GATE_HAIR` of one half (the threshold export cuts them at).

    Example::

        >>> near_uniform({"op": {"a": 0.21, "b": 0.19, "c": 0.2, "d": 0.2, "e": 0.2}})
        'mean entropy 99.97% of its maximum'
        >>> near_uniform({"op": {"a": 0.6, "b": 0.1, "c": 0.1, "d": 0.1, "e": 0.1}}) is None
        True
        >>> near_uniform({"op": {"a": 0.9, "b": 0.1}, "g": {"0": 0.505, "1": 0.49}}, gates={"g"})
        'all 2 gates within 0.02 of 0.5'
    """
    gates = set(gates)
    top = max_entropy(probs, gates)
    if top > 0:
        ratio = mean_entropy(probs, gates) / top
        if ratio >= NEAR_UNIFORM:
            return f"mean entropy {100 * ratio:.2f}% of its maximum"
    values = [p for label, row in probs.items() if label in gates for p in row.values()]
    if values and all(abs(p - 0.5) < GATE_HAIR for p in values):
        return f"all {len(values)} gates within {GATE_HAIR} of 0.5"
    return None


def default_arch_lr(steps_per_epoch: int | None) -> float:
    """The architecture learning rate of darts, gumbel and proxyless when none is given, for a
    search of `steps_per_epoch` architecture steps an epoch. DARTS's Adam rate, 3e-4, was set for
    its CIFAR-10 search, 391 architecture steps an epoch (25,000 images a half, batch 64); Adam
    moves a parameter at most about `lr` a step, so an epoch of DARTS moves each alpha up to
    3e-4 * 391 = 0.117. This rate gives an epoch of any search that same reach: an epoch is the
    unit in which the weights learn, and the architecture should not outrun them (on mnist5k, 27
    steps an epoch: 0.0043; DARTS's own setting keeps 3e-4). Measured on NB201 / mnist5k at 10
    epochs (bench/results_oneshot.md): this rule's cells at the table's 90th percentile on
    average, arch_lr 3e-3 at the 95th, while a rate that gave 10 epochs the reach of DARTS's
    whole 50-epoch search (0.0217) committed to pooling early and did no better than random
    search at the same compute (84th). Outside a trainer (`steps_per_epoch` None): 3e-4.

    Example::

        >>> default_arch_lr(391), round(default_arch_lr(27), 4), round(default_arch_lr(1), 4)
        (0.0003, 0.0043, 0.1173)
    """
    if not steps_per_epoch:
        return DARTS_ARCH_LR
    return DARTS_ARCH_LR * DARTS_STEPS_PER_EPOCH / steps_per_epoch


DARTS_ARCH_LR = 3e-4
DARTS_STEPS_PER_EPOCH = 391


def uniform_probs(space) -> dict[str, dict[str, float]]:
    """Each decision's values, equally likely: the distribution uniform path sampling draws from."""
    return {d.label: {value_name(v): 1.0 / len(d.values) for v in d.values} for d in space.decisions}



def uniform_chooser(rng: random.Random):
    """`choose(decision)` drawing each active decision uniformly from `rng` (SPOS, random)."""
    return lambda d: d.values[rng.randrange(len(d.values))]


def _normalise(config) -> tuple[list, list]:
    """The optimizers and schedulers of any `configure_optimizers()` return form."""
    if isinstance(config, torch.optim.Optimizer):
        return [config], []
    if isinstance(config, dict):
        sched = config.get("lr_scheduler")
        sched = sched["scheduler"] if isinstance(sched, dict) else sched
        return [config["optimizer"]], [sched] if sched is not None else []
    if isinstance(config, tuple) and len(config) == 2 and isinstance(config[0], (list, tuple)):
        scheds = [s["scheduler"] if isinstance(s, dict) else s for s in config[1]]
        return list(config[0]), scheds
    if isinstance(config, (list, tuple)):
        return list(config), []
    raise NasError(f"the task's configure_optimizers() returned {type(config).__name__}; expected an optimizer, "
                   "a list, (optimizers, schedulers) or a dict")


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
