"""How a one-shot strategy weighs a mixture supernet's candidates, the weights its mixture mode is
built with: torch only, no Lightning, so `build_supernet` (and `nasdsl compile`) never import the
training loop.

DARTS weighs by `softmax(alpha)`, the execution mode's default (`nasdsl.lower.modes.Softmax`).
GumbelDARTS (SNAS, FBNet) weighs each forward pass by `softmax((alpha + g) / tau)`, `g` Gumbel noise drawn
from the supernet's seeded generator (every candidate runs, as in NNI); `hard=True` makes the
forward weights one-hot with the soft gradient (straight-through). An any-subset input choice
has one gate per candidate (`nasdsl.lower.policy`); its gates are relaxed Bernoulli (binary
concrete, Maddison et al. 2017) with the same temperature: logits
`(a_i + log u - log(1 - u)) / tau`, and with `hard=True` the forward pass uses the hard subset
(gates above one half, topped up to `min` by the strongest) with the relaxed gradient. The
strategy that anneals `tau` over a search is `nasdsl.strategy.gumbel`.

Example::

    >>> import torch
    >>> weigh = GumbelWeights(tau=0.5, hard=True, generator=torch.Generator().manual_seed(0))
    >>> weigh(torch.zeros(4)).tolist().count(1.0)
    1
    >>> weigh.gates(torch.zeros(3)).shape   # binary-concrete gate logits, one per candidate
    torch.Size([3])
    >>> sorted(WEIGHTS)
    ['gumbel']
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F


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


def gumbel_weights(*, tau: float = 1.0, hard: bool = False) -> Callable[[torch.Generator], GumbelWeights]:
    """A mixture mode's `weights` for GumbelDARTS: Gumbel-softmax weights and binary-concrete
    gates at temperature `tau`, drawing from the supernet's own generator."""
    return partial(GumbelWeights, tau, hard)


# the `weights` a one-shot strategy declares (`nasdsl.strategy.Declared`) -> the factory of its
# mixture's weights; the keyword options the factory takes are the strategy's supernet options
WEIGHTS = {"gumbel": gumbel_weights}
