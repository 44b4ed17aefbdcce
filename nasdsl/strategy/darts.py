"""DARTS (Liu et al. 2019): softmax-weighted mixtures, architecture and weights trained in turn.

Each step first updates the architecture parameters on a batch of the architecture half of
the data, then the weights on a batch of the weight half. `order=1` uses the architecture
gradient at the current weights; `order=2` the unrolled gradient of the paper: the gradient
of the validation loss after one virtual SGD step of the weights, `w' = w - xi * dw` (xi: the
weights' current learning rate, with their momentum and weight decay), whose second-order
term `xi * d2L_train/(dalpha dw) . dL_val/dw'` is the finite-difference Hessian-vector product
`(dL_train(w+)/dalpha - dL_train(w-)/dalpha) / (2 eps)`, `w+- = w +- eps * dL_val/dw'`,
`eps = 0.01 / |dL_val/dw'|`. Architecture optimizer as NNI and DARTS: Adam, betas (0.5, 0.999),
weight decay 1e-3, and DARTS's lr 3e-4 scaled to the epoch's length (`arch_lr=None`, the
default: an epoch moves alpha as far as an epoch of DARTS's CIFAR-10 search, 391 steps, so 3e-4
there and 0.0043 for mnist5k's 27 steps; `nasdsl.strategy.oneshot.default_arch_lr`);
`arch_lr=` sets it outright.

Example::

    >>> import nasdsl
    >>> from nasdsl.strategy import build_supernet
    >>> space = nasdsl.load("nasbench201", {"C": 4, "N": 1, "in_channels": 1, "resolution": 8})
    >>> module = Darts(build_supernet(space, "darts"), order=2)
    >>> module.order, module.arch_lr, module.alpha_adam()[0].defaults["lr"]   # outside a trainer: 3e-4
    (2, None, 0.0003)
"""
from __future__ import annotations

import torch

from ..errors import NasError
from .oneshot import OneShot


class Darts(OneShot):
    """DARTS, first or second order (see the module docstring)."""

    def __init__(self, supernet, *, order: int = 1, arch_lr: float | None = None, arch_betas=(0.5, 0.999),
                 arch_weight_decay: float = 1e-3, unrolled_eps: float = 0.01, **options):
        super().__init__(supernet, **options)
        if order not in (1, 2):
            raise NasError(f"darts order must be 1 or 2, got {order}")
        self.order = order
        self.arch_lr, self.arch_betas, self.arch_weight_decay = arch_lr, tuple(arch_betas), arch_weight_decay
        self.unrolled_eps = unrolled_eps

    def arch_optimizers(self):
        return self.alpha_adam()

    def search_step(self, weight_batch, arch_batch, batch_idx: int) -> None:
        opt = self.arch_optimizer()
        opt.zero_grad()
        alphas = self.supernet.arch_parameters()
        if self.order == 2:
            for a, g in zip(alphas, self.unrolled_gradient(weight_batch, arch_batch)):
                a.grad = g
            self.sync_grads(alphas)
        else:
            loss = self.penalised(self.task_loss(arch_batch, log=False), log=True)
            self.arch_backward(loss, alphas)
        opt.step()
        self.weight_step(self.task_loss(weight_batch, log=True))

    def unrolled_gradient(self, weight_batch, arch_batch) -> list[torch.Tensor]:
        """The second-order architecture gradient (batch-norm statistics left untouched)."""
        net = self.supernet
        weights = list(net.parameters())
        alphas = net.arch_parameters()
        optimizer = self._weight_optimizer()
        group = optimizer.param_groups[0]
        xi, momentum, decay = group["lr"], group.get("momentum", 0.0), group.get("weight_decay", 0.0)
        backup = [w.detach().clone() for w in weights]
        with net.policy.statistics_kept():
            train = self.task_loss(weight_batch, log=False)
            dw = self._grads(train, weights)
            with torch.no_grad():
                for w, g in zip(weights, dw):
                    step = g + decay * w
                    buf = optimizer.state.get(w, {}).get("momentum_buffer") if momentum else None
                    if buf is not None:
                        step = step + momentum * buf
                    w.sub_(xi * step)
            val = self.penalised(self.task_loss(arch_batch, log=False), log=True)
            grads = self._grads(val, alphas + weights)
            d_alpha, d_w = grads[: len(alphas)], grads[len(alphas):]
            norm = torch.sqrt(sum((g * g).sum() for g in d_w))
            eps = self.unrolled_eps / float(norm) if float(norm) > 0 else 0.0
            if eps == 0.0:
                self._restore(weights, backup)
                return d_alpha
            hessian = []
            for sign in (1.0, -1.0):
                self._restore(weights, backup)
                with torch.no_grad():
                    for w, g in zip(weights, d_w):
                        w.add_(sign * eps * g)
                hessian.append(self._grads(self.task_loss(weight_batch, log=False), alphas))
            self._restore(weights, backup)
        return [a - xi * (p - m) / (2 * eps) for a, p, m in zip(d_alpha, *hessian)]

    def _weight_optimizer(self) -> torch.optim.Optimizer:
        if self._trainer is None:  # outside a trainer (tests of the gradient): plain SGD settings
            return torch.optim.SGD(self.supernet.parameters(), lr=self.lr, momentum=self.momentum,
                                   weight_decay=self.weight_decay)
        opt = self.optimizers()
        opt = opt[0] if isinstance(opt, list) else opt
        return opt.optimizer

    def _grads(self, loss: torch.Tensor, params: list[torch.Tensor]) -> list[torch.Tensor]:
        if not loss.requires_grad:
            return [torch.zeros_like(p) for p in params]
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]

    @staticmethod
    def _restore(weights, backup) -> None:
        with torch.no_grad():
            for w, b in zip(weights, backup):
                w.copy_(b)


Strategy = Darts
