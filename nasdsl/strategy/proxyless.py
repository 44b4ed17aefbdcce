"""ProxylessNAS (Cai et al. 2019): one sampled path, architecture learned through binary gates.

Each step draws a path from `softmax(alpha)` (the supernet's seeded generator; a path that
breaks the space's constraints is redrawn, and a space whose constraints the weights keep
breaking is an error, never a silent uniform draw), updates alpha on an architecture batch
through the binary gates' gradient (`nasdsl.lower.gates.BinaryGate`), then draws again and
updates the weights on a weight batch. With a hardware penalty (`nasdsl.strategy.penalty`)
the architecture loss is `CE * (E[latency] / target) ** beta` or its additive form, with the
expectation under `softmax(alpha)` (ProxylessNAS's latency loss; NNI issue #4699). The
exported architecture is the argmax of alpha (NNI's export returns a random draw).
Architecture optimizer as NNI's: Adam, betas (0.5, 0.999), weight decay 1e-3, and its lr 3e-4
scaled to the epoch's length as darts's (`arch_lr=None`, the default;
`nasdsl.strategy.oneshot.default_arch_lr`); `arch_lr=` sets it outright.

Example::

    >>> import nasdsl
    >>> from nasdsl.strategy import build_supernet
    >>> space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    >>> module = Proxyless(build_supernet(space, "proxyless", seed=0))
    >>> space.contains(module.export())
    True
"""
from __future__ import annotations

from .oneshot import OneShot


class Proxyless(OneShot):
    """ProxylessNAS (see the module docstring)."""

    def __init__(self, supernet, *, arch_lr: float | None = None, arch_betas=(0.5, 0.999), arch_weight_decay: float = 1e-3,
                 **options):
        super().__init__(supernet, **options)
        self.arch_lr, self.arch_betas, self.arch_weight_decay = arch_lr, tuple(arch_betas), arch_weight_decay

    def arch_optimizers(self):
        return self.alpha_adam()

    def search_step(self, weight_batch, arch_batch, batch_idx: int) -> None:
        opt = self.arch_optimizer()
        opt.zero_grad()
        self.supernet.resample()
        loss = self.penalised(self.task_loss(arch_batch, log=False), log=True)
        self.arch_backward(loss, self.supernet.arch_parameters())
        opt.step()
        self.supernet.resample()
        self.weight_step(self.task_loss(weight_batch, log=True))

    def validation_arch(self):
        return self.supernet.export()


Strategy = Proxyless
