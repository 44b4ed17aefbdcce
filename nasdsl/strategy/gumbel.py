"""GumbelDARTS (SNAS, FBNet): DARTS with Gumbel-softmax weights whose temperature anneals.

The weighting itself (Gumbel-softmax over each choice's candidates, binary-concrete gates for
an any-subset input choice, `hard=True` for straight-through) is `nasdsl.strategy.weighting`,
the weights gumbel declares for its mixture mode (`nasdsl.strategy.Declared`). This strategy
sets its temperature `tau` linearly from `tau_max` at the first epoch to `tau_min` at the last
(NNI's GumbelDARTS: 1.0 and 0.33). The rest is DARTS (`darts.py`).

Example::

    >>> import nasdsl
    >>> from nasdsl.strategy import build_supernet
    >>> search = Gumbel(build_supernet(nasdsl.load("nasbench201", {"C": 4, "N": 1}), "gumbel", seed=0))
    >>> [round(search.tau(epoch, 5), 4) for epoch in range(5)]
    [1.0, 0.8325, 0.665, 0.4975, 0.33]
"""
from __future__ import annotations

from ..errors import NasError
from .darts import Darts
from .weighting import GumbelWeights

__all__ = ["Gumbel", "GumbelWeights", "Strategy"]


class Gumbel(Darts):
    """DARTS with annealed Gumbel-softmax weights (see the module docstring)."""

    def __init__(self, supernet, *, tau_max: float = 1.0, tau_min: float = 0.33, hard: bool = False, **options):
        super().__init__(supernet, **options)
        self.tau_max, self.tau_min, self.hard = tau_max, tau_min, hard
        self.weights = supernet.policy.weigh
        if not isinstance(self.weights, GumbelWeights):
            raise NasError("gumbel anneals the temperature of Gumbel-softmax weights: build its supernet with "
                           "nasdsl.strategy.build_supernet(space, \"gumbel\")")
        self.weights.tau, self.weights.hard = tau_max, hard

    def tau(self, epoch: int, epochs: int) -> float:
        """The temperature of `epoch` (0-based) of `epochs`."""
        if epochs <= 1:
            return self.tau_max
        return self.tau_max - (self.tau_max - self.tau_min) * epoch / (epochs - 1)

    def on_train_epoch_start(self) -> None:
        tau = self.tau(self.current_epoch, self.trainer.max_epochs)
        self.weights.tau = tau
        self.log("tau", tau)


Strategy = Gumbel
