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


# --- proxyless: the binary gates restore only their own candidates' statistics -------------------

GATED = {"nasbench201": {"C": 4, "N": 1}, "darts": {"C": 4, "layers": 3}, "examples/mobile.nas": {}}


def gated_step(net, x, steps: int = 3):
    """Three binary-gate steps on fresh paths: alpha grads, weight grads, every buffer."""
    results = []
    for _ in range(steps):
        net.resample()
        net.zero_grad()
        for p in net.arch_parameters():
            p.grad = None
        net(x).square().mean().backward()
        results.append(({n: p.grad.clone() for n, p in net.arch.items() if p.grad is not None},
                        {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None},
                        {n: b.clone() for n, b in net.named_buffers()}))
    return results


@pytest.mark.parametrize("name", sorted(GATED))
def test_binary_gates_restore_only_their_candidates_statistics(name, monkeypatch):
    import nasdsl.lower.policy as policy
    space = nasdsl.load(name, GATED[name])
    x = torch.randn(2, *space.template.inputs[0].shape, generator=torch.Generator().manual_seed(1))
    restored: list[int] = []
    keep = policy.keep_statistics

    def counting(buffers):
        restored.append(len(buffers))
        return keep(buffers)

    monkeypatch.setattr(policy, "keep_statistics", counting)
    torch.manual_seed(0)
    net = build_supernet(space, "gated", seed=0)
    net.train()
    own = gated_step(net, x)
    everything = len(net.policy.statistics)
    assert restored and max(restored) < everything   # each gate restores a part of the network
    assert sum(restored) > 0

    # reference: every gate restores every statistic of the network (the former behaviour)
    monkeypatch.setattr(policy, "keep_statistics", lambda buffers: keep(ref.policy.statistics))
    torch.manual_seed(0)
    ref = build_supernet(space, "gated", seed=0)
    ref.train()
    whole = gated_step(ref, x)
    for (a1, w1, b1), (a2, w2, b2) in zip(own, whole):
        for group1, group2 in ((a1, a2), (w1, w2), (b1, b2)):
            assert group1.keys() == group2.keys()
            for key in group1:
                assert torch.equal(group1[key], group2[key]), key
    assert any(bool(g.abs().sum() > 0) for g in own[-1][0].values())
