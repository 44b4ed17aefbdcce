"""GumbelDARTS (SNAS, FBNet): DARTS with Gumbel-softmax weights whose temperature anneals.

Each forward pass while training the architecture weighs the candidates by
`softmax((alpha + g) / tau)`, `g` Gumbel noise drawn from the supernet's seeded generator (every
candidate runs, as in NNI); `hard=True` makes the forward weights one-hot with the soft
gradient (straight-through). `tau` goes linearly from `tau_max` at the first epoch to
`tau_min` at the last (NNI's GumbelDARTS: 1.0 and 0.33). An any-subset input choice has one
gate per candidate (`nasdsl.lower.policy`); its gates are relaxed Bernoulli (binary concrete,
Maddison et al. 2017) with the same temperature: logits `(a_i + log u - log(1 - u)) / tau`,
and with `hard=True` the forward pass uses the hard subset (gates above one half, topped up to
`min` by the strongest) with the relaxed gradient. The rest is DARTS (`darts.py`).

Example::

    >>> import torch
    >>> weigh = GumbelWeights(tau=0.5, hard=True, generator=torch.Generator().manual_seed(0))
    >>> weigh(torch.zeros(4)).tolist().count(1.0)
    1
    >>> weigh.gates(torch.zeros(3)).shape   # binary-concrete gate logits, one per candidate
    torch.Size([3])
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .darts import Darts

MODE = "mixture"


class GumbelWeights:
    """alpha -> Gumbel-softmax weights, noise from `generator`."""

    def __init__(self, tau: float = 1.0, hard: bool = False, generator: torch.Generator | None = None):
        self.tau, self.hard = tau, hard
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)

    def __call__(self, alpha: torch.Tensor) -> torch.Tensor:
        u = torch.rand(alpha.shape, generator=self.generator).clamp_(1e-10, 1 - 1e-10)
        soft = F.softmax((alpha - torch.log(-torch.log(u))) / self.tau, dim=-1)
        if not self.hard:
            return soft
        hard = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
        return hard - soft.detach() + soft

    def gates(self, alpha: torch.Tensor) -> torch.Tensor:
        """alpha -> logits of relaxed Bernoulli gates (binary concrete) at this temperature."""
        u = torch.rand(alpha.shape, generator=self.generator).clamp_(1e-10, 1 - 1e-10)
        return (alpha + torch.log(u) - torch.log1p(-u)) / self.tau


def configure(net, *, tau: float = 1.0, hard: bool = False) -> None:
    """Install Gumbel-softmax weighting and binary-concrete gates on a mixture supernet (noise
    from its own generator)."""
    weigh = GumbelWeights(tau, hard, net.policy.generator)
    net.policy.weigh, net.policy.weigh_gates, net.policy.hard_gates = weigh, weigh.gates, hard


class Gumbel(Darts):
    """DARTS with annealed Gumbel-softmax weights (see the module docstring)."""

    def __init__(self, supernet, *, tau_max: float = 1.0, tau_min: float = 0.33, hard: bool = False, **options):
        super().__init__(supernet, **options)
        self.tau_max, self.tau_min, self.hard = tau_max, tau_min, hard
        configure(supernet, tau=tau_max, hard=hard)

    def tau(self, epoch: int, epochs: int) -> float:
        """The temperature of `epoch` (0-based) of `epochs`."""
        if epochs <= 1:
            return self.tau_max
        return self.tau_max - (self.tau_max - self.tau_min) * epoch / (epochs - 1)

    def on_train_epoch_start(self) -> None:
        tau = self.tau(self.current_epoch, self.trainer.max_epochs)
        self.supernet.policy.weigh.tau = tau
        self.log("tau", tau)


Strategy = Gumbel
