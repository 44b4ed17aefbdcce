"""One DARTS cell case shared by tests/test_darts_cell.py and NNI's side of it
(tests/nni_hub/_nni_cell.py): the cell's shape, its ops (the same modules on both sides), and a
seeded rule for every weight, input and architecture parameter, so two implementations get
identical numbers without copying state dicts between their layouts. Double precision."""
from __future__ import annotations

import torch

CASE = {"C": 3, "nodes": 3, "ops_per_node": 2, "predecessors": 2, "label": "normal", "batch": 2, "size": 6,
        "ops": ["conv3", "conv1", "maxpool", "avgpool", "skip"]}


def ops(nn, c: int) -> dict:
    """The candidate ops of every edge (`nn`: torch.nn)."""
    return {
        "conv3": nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)),
        "conv1": nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 1, 1, 0, bias=False), nn.BatchNorm2d(c)),
        "maxpool": nn.MaxPool2d(3, 1, 1),
        "avgpool": nn.AvgPool2d(3, 1, 1, count_include_pad=False),
        "skip": nn.Identity(),
    }


def _seed(*parts) -> int:
    """A seed from ints and strings, the same in every process (unlike `hash`)."""
    text = "/".join(map(str, parts))
    return sum(ord(ch) * 131**n for n, ch in enumerate(text)) % (2**31)


def weights_of(i: int, j: int, name: str, k: int, shape) -> torch.Tensor:
    """Parameter `k` of op `name` on edge (i, j)."""
    g = torch.Generator().manual_seed(_seed(i, j, name, k))
    return 1.0 + 0.5 * torch.randn(tuple(shape), generator=g, dtype=torch.float64)


def alpha_of(i: int, j: int) -> torch.Tensor:
    """The architecture parameters of edge (i, j): its ops, then the zero op. Normalised (each
    edge's logsumexp is 0, alpha = log softmax(alpha)): NNI 3.0's export ranks edges by raw
    alpha where DARTS ranks them by softmax weight, and on normalised alphas the two agree."""
    g = torch.Generator().manual_seed(_seed(i, j, "alpha"))
    return torch.log_softmax(torch.randn(len(CASE["ops"]) + 1, generator=g, dtype=torch.float64), -1)


def inputs() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    shape = (CASE["batch"], CASE["C"], CASE["size"], CASE["size"])
    return [torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(CASE["predecessors"])]


def loss_weights(shape) -> torch.Tensor:
    """The fixed linear loss `(out * w).sum()` whose alpha gradients are compared."""
    g = torch.Generator().manual_seed(11)
    return torch.randn(tuple(shape), generator=g, dtype=torch.float64)
