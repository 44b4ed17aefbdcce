"""ProxylessNAS's binary gates (Cai et al. 2019) and the running statistics they leave alone.

The gated execution mode (`nasdsl.lower.modes.Gated`) runs one sampled path and learns alpha
through `BinaryGate`: identity on that path's output, and in backward
dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i), with dL/dg_j the inner product of the output
gradient with path j's output. Running the other paths must not move any batch-norm statistic:
`norm_buffers` names those a gate can reach, `keep_statistics` restores them.

Example::

    >>> import torch
    >>> out, alpha = torch.ones(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    >>> y = BinaryGate.apply(out, alpha, 0, lambda j: torch.full((2,), 3.0), [])
    >>> y.sum().backward()
    >>> alpha.grad.tolist()   # g = (2, 6), p = (1/2, 1/2): p_i (g_i - sum_j g_j p_j)
    [-1.0, 1.0]
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


@contextlib.contextmanager
def keep_statistics(buffers: list[torch.Tensor]):
    """Restore `buffers` (running statistics) when the block ends."""
    saved = [(b, b.clone()) for b in buffers]
    try:
        yield
    finally:
        for buffer, value in saved:
            buffer.data.copy_(value)  # .data: restoring is not an autograd-visible change


def norm_buffers(*modules: nn.Module) -> list[torch.Tensor]:
    """The running statistics of every normalisation layer inside `modules`: what running
    other paths for a binary gate may change, hence all it has to restore."""
    seen: set[int] = set()
    out = []
    for module in modules:
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._NormBase):
                for b in m.buffers(recurse=False):
                    if id(b) not in seen:
                        seen.add(id(b))
                        out.append(b)
    return out


class BinaryGate(torch.autograd.Function):
    """Identity on the sampled path's output; in backward, ProxylessNAS's gradient for alpha.

    `others(j)` computes path j's output (without gradient) only when backward needs it;
    `statistics` are the running statistics those paths can reach (`norm_buffers` of the
    gate's own candidates), restored afterwards so that the gates leave them as the sampled
    path's forward left them.
    """

    @staticmethod
    def forward(ctx, out: torch.Tensor, alpha: torch.Tensor, index: int,
                others: Callable[[int], torch.Tensor], statistics: list[torch.Tensor]) -> torch.Tensor:
        ctx.save_for_backward(out.detach(), alpha.detach())
        ctx.index = index
        ctx.others = others
        ctx.statistics = statistics
        return out.view_as(out)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        out, alpha = ctx.saved_tensors
        p = F.softmax(alpha, dim=-1)
        g = torch.zeros_like(p)
        with torch.no_grad(), keep_statistics(ctx.statistics):
            for j in range(len(p)):
                o = out if j == ctx.index else ctx.others(j)
                g[j] = inner(grad, o)
        dalpha = p * (g - (g * p).sum())   # sum_j g_j p_j (delta_ij - p_i)
        return grad, dalpha, None, None, None


def inner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Inner product over the overlap of two tensors (paths may differ in width)."""
    if a.shape != b.shape:
        slices = tuple(slice(0, min(x, y)) for x, y in zip(a.shape, b.shape))
        a, b = a[slices], b[slices]
    return (a * b).sum()
