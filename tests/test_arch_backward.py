"""The architecture step of DARTS-style strategies computes the architecture gradient alone
(`OneShot.arch_backward`, issue 22): the same gradient `loss.backward()` gives the architecture
parameters, no weight gradient (the weight step would discard it), and less backward work."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pytorch_lightning")

import nasdsl  # noqa: E402
from nasdsl.strategy import build_supernet  # noqa: E402
from nasdsl.strategy.darts import Darts  # noqa: E402


@pytest.mark.parametrize("name", ["darts", "gumbel", "proxyless"])
def test_arch_backward_is_the_architecture_part_of_backward(name):
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1, "in_channels": 1, "resolution": 8})
    net = build_supernet(space, name, seed=0)
    module = Darts(net)
    alphas = net.arch_parameters()
    weights = list(net.parameters())
    x, y = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 10

    def loss():
        net.policy.generator.manual_seed(1)       # the same Gumbel noise / sampled gates both times
        return torch.nn.functional.cross_entropy(net(x), y)

    loss().backward()
    expected = [a.grad.clone() for a in alphas]
    assert any(w.grad is not None for w in weights)   # backward() computes weight gradients too
    net.zero_grad(set_to_none=True)
    for a in alphas:
        a.grad = None
    module.arch_backward(loss(), alphas)
    for a, g in zip(alphas, expected):
        torch.testing.assert_close(a.grad, g, rtol=1e-5, atol=1e-7)
    assert all(w.grad is None for w in weights)     # no weight gradient was computed
    module.arch_backward(loss(), alphas)              # accumulates, as backward() does
    for a, g in zip(alphas, expected):
        torch.testing.assert_close(a.grad, 2 * g, rtol=1e-5, atol=1e-7)
