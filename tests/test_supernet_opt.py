"""The supernet as an optimised program: fidelity to the published supernets, the binary
gates' batch-norm bookkeeping, and the rewrite passes (each switchable off, each leaving
outputs, weight gradients and architecture gradients unchanged)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import nasdsl
from nasdsl.lower.supernet import SuperCell, build_supernet


def weights(net) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("mode", ["mixture", "gated", "path"])
def test_darts_cell_supernet_shares_candidates_per_edge_as_the_paper(mode):
    # DARTS's mixed op lives on an edge (node, input): both op slots of a node that read the
    # same input share its 7 candidates. NNI 3.0's DARTS one-shot supernet at C=16, 8 cells
    # holds 1,987,194 weights; building candidates per slot would give 3.87M.
    net = build_supernet(nasdsl.load("darts", {"C": 16, "layers": 8}), mode, seed=0)
    assert weights(net) == 1_987_194
    cell = next(m for m in net.modules() if isinstance(m, SuperCell))
    assert sorted(cell.edges) == sorted(f"{n}_{j}" for n in range(2, 6) for j in range(n))
