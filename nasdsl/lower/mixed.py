"""Mixed operations: one op whose arguments depend on decisions, with entangled weights.

A `Conv2d(c, choice[16, 32], choice[3, 5, 7], padding=k // 2)` in a supernet holds one
weight of the largest shape; every architecture uses a slice of it (channel prefixes,
centre-cropped kernels), so all architectures share weights as in OFA / AutoFormer / NNI.

* the path mode runs the slice the current path picks (exactly the discrete op);
* the mixture mode runs one op at the largest shape with FBNetV2-style weighted masks: the
  weight is multiplied by sum_a w(a) * mask(a) over the joint values `a` of the decisions it
  depends on (channel masks, kernel windows), so one-hot weights give exactly the discrete
  op (its extra output channels are zero);
* the gated mode runs the sampled slice and learns alpha through binary gates.

Entangled: Conv1d/2d/3d and ConvTranspose1d/2d/3d (in/out channels, kernel size, depthwise
groups; stride, dilation, padding and output_padding in sampling mode), Linear (features),
BatchNorm1d/2d/3d and InstanceNorm1d/2d/3d (features), GroupNorm (channels, groups),
LayerNorm (normalized size), Embedding (vocabulary, dim), PReLU (num_parameters),
MultiheadAttention (embed dim; heads), ClassToken and PositionEmbedding (embed dim),
RelPosSelfAttention (embed dim; heads). An argument these cannot share (a bias switched by a
decision, a momentum) is refused in one line naming it, its decisions and the op's location.
Every other op with choices in its arguments has no weights to share (pools, activations,
reshapes, Upsample, PixelShuffle ...) and keeps one module per distinct argument combination
(`SeparateOps`); under darts/gumbel its values must give one output shape.

Example::

    >>> import nasdsl
    >>> from nasdsl.lower.supernet import build_supernet
    >>> space = nasdsl.loads("network(x: [8, 6, 6]) { return x -> Conv2d(8, choice[8, 16], choice[3, 5], padding=2) }")
    >>> conv = [m for m in build_supernet(space, "path").modules() if isinstance(m, MixedConv)][0]
    >>> conv.state_for(dict(zip(conv.labels, (5, 16))))["weight"].shape
    torch.Size([16, 8, 5, 5])
"""
from __future__ import annotations

import abc
import itertools
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import ir
from ..errors import NasError
from ..ops import catalog
from ..ops.modules import build_op
from ..values import evaluate, free_labels, possible_values
from .gates import BinaryGate, norm_buffers
from .policy import ArchState

MAX_ASSIGNMENTS = 4096


class MixedOp(nn.Module, metaclass=abc.ABCMeta):
    """Shared machinery: the joint values of the op's decisions and how to weigh them.
    Subclasses say how to run the op for one set of arguments and how to slice its weights."""

    @classmethod
    def entangles(cls, op: ir.Op, policy: ArchState) -> bool:
        """Whether this module can hold every value `op`'s arguments take with one set of
        weights (`mixed_op` keeps one module per combination where it cannot)."""
        return True

    def __init__(self, op: ir.Op, policy: ArchState):
        super().__init__()
        self.op = op
        self.policy = policy
        self.labels = sorted(set().union(*(free_labels(v) for _, v in op.args)))
        domains = [policy.space.decision(lab).values for lab in self.labels]
        count = 1
        for d in domains:
            count *= len(d)
        if count <= MAX_ASSIGNMENTS:
            self.assignments = [dict(zip(self.labels, combo)) for combo in itertools.product(*domains)]
            self.resolved = [self.resolve(a) for a in self.assignments]
            return
        resolved = policy.mode.wide_arguments(lambda: _possible_args(op, policy))
        if resolved is None:
            raise NasError(f"{op.name}'s arguments depend on {count:,} joint values of {len(self.labels)} decisions "
                           f"({', '.join(self.labels)}): too many for {policy.name} to {policy.mode.too_many}", op.loc)
        # the path mode needs no weight per assignment, only each argument's largest value
        # (the weights to allocate) and the current one: a superset of the arguments is enough
        self.assignments = None
        self.resolved = resolved

    def resolve(self, assignment: dict[str, Any]) -> dict[str, Any]:
        return {k: evaluate(v, assignment) for k, v in self.op.args}

    def require_shared(self, *names: str) -> None:
        """Refuse (one line naming it and its decisions) an argument whose value varies between
        the choices: only sizes are shared through one weight of the largest shape."""
        for name in names:
            if len({repr(r[name]) for r in self.resolved}) > 1:
                raise _unsupported(self.op, name)

    def maximum(self, name: str) -> Any:
        return max(r[name] for r in self.resolved)

    def current(self) -> dict[str, Any]:
        return {lab: self.policy.value(lab) for lab in self.labels}

    def weights(self) -> list[torch.Tensor]:
        """The weight of each joint assignment: the product of its decisions' probabilities."""
        probs = [self.policy.probs(lab) for lab in self.labels]
        out = []
        for a in self.assignments:
            w = None
            for lab, p in zip(self.labels, probs):
                term = p[self.policy.index(lab, a[lab])]
                w = term if w is None else w * term
            out.append(w)
        return out

    def grouped(self) -> list[tuple[dict[str, Any], torch.Tensor]]:
        """Distinct resolved arguments with the summed weight of the assignments giving them."""
        groups: dict[tuple, list] = {}
        for args, w in zip(self.resolved, self.weights()):
            key = tuple(sorted((k, repr(v)) for k, v in args.items()))
            if key in groups:
                groups[key][1] = groups[key][1] + w
            else:
                groups[key] = [args, w]
        return [(a, w) for a, w in groups.values()]

    # -- forward per execution mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.policy.mode.run_op(self, x)   # forward_mixed, forward_fixed, gate: `modes.py`

    def gate(self, x: torch.Tensor, out: torch.Tensor, assignment: dict[str, Any]) -> torch.Tensor:
        """`out`, the op at `assignment`, through one binary gate per decision."""
        xd = x.detach()
        for label in self.labels:
            values = self.policy.space.decision(label).values

            def others(j: int, label=label, values=values) -> torch.Tensor:
                return self.forward_fixed(xd, self.resolve({**assignment, label: values[j]}))

            index = self.policy.index(label, assignment[label])
            out = BinaryGate.apply(out, self.policy.alphas[label], index, others, norm_buffers(self))
        return out

    @abc.abstractmethod
    def forward_fixed(self, x: torch.Tensor, args: dict[str, Any]) -> torch.Tensor:
        """The op with one set of resolved arguments (exactly the discrete op)."""

    def forward_mixed(self, x: torch.Tensor, groups) -> torch.Tensor:
        """Default differentiable forward: weighted sum of each distinct op, padded to the
        largest output (zero channels), the same as masking."""
        total = None
        for args, w in groups:
            y = self.forward_fixed(x[self.input_slice(x, args)], args) * w
            total = y if total is None else add_padded(total, y)
        return total

    def input_slice(self, x: torch.Tensor, args: dict[str, Any]):
        return (slice(None),) * x.dim()

    @abc.abstractmethod
    def state_for(self, assignment: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The weights of one assignment, named as the discrete op's state_dict."""


def add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a + b where one may be narrower in some dimensions (zero-padded at the end)."""
    if a.shape == b.shape:
        return a + b
    shape = [max(x, y) for x, y in zip(a.shape, b.shape)]
    out = a.new_zeros(shape)
    out[tuple(slice(0, s) for s in a.shape)] += a
    out[tuple(slice(0, s) for s in b.shape)] += b
    return out


def fit(x: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    """`x` cut or zero-padded to size `n` along `dim`. On a sampled path widths always match;
    proxyless's gates also run other widths of a decision that upstream ops share, whose
    missing input channels count as zeros (as under FBNetV2's masks)."""
    size = x.shape[dim]
    if size == n:
        return x
    if size > n:
        return x.narrow(dim, 0, n)
    pad = list(x.shape)
    pad[dim] = n - size
    return torch.cat([x, x.new_zeros(pad)], dim=dim)


def _mask(n: int, size: int, like: torch.Tensor) -> torch.Tensor:
    m = like.new_zeros(size)
    m[:n] = 1
    return m


def _window(k: int, kmax: int, like: torch.Tensor, dims: int) -> torch.Tensor:
    start = (kmax - k) // 2
    m = like.new_zeros((kmax,) * dims)
    m[(slice(start, start + k),) * dims] = 1
    return m


class MixedConv(MixedOp):
    """Conv1d/2d/3d and ConvTranspose1d/2d/3d with choices in channels, kernel size, depthwise
    groups, stride, dilation, padding and output_padding (the last four in sampling mode only).
    One weight of the largest shape: a convolution's is [out, in, k...], a transposed one's
    [in, out, k...]; every architecture uses channel prefixes and a centre-cropped kernel."""

    @classmethod
    def entangles(cls, op: ir.Op, policy: ArchState) -> bool:
        """Square kernels, and groups 1 or depthwise (in = out = groups) for every value: other
        groupings share no weight prefix, and a supernet keeps one module per combination."""
        return not any(not isinstance(r["kernel_size"], int) or r["groups"] not in (1, r["in_channels"])
                       or (r["groups"] != 1 and r["in_channels"] != r["out_channels"])
                       for r in _resolved_args(op, policy))

    def __init__(self, op: ir.Op, policy: ArchState):
        super().__init__(op, policy)
        self.transposed = op.name.startswith("ConvTranspose")
        self.dims = int(op.name[-2])
        self.depthwise = any(r["groups"] != 1 for r in self.resolved)
        self.require_shared("bias", "padding_mode")
        self.in_max, self.out_max = self.maximum("in_channels"), self.maximum("out_channels")
        self.k_max = self.maximum("kernel_size")
        largest = {**self.resolved[0], "in_channels": self.in_max, "out_channels": self.out_max,
                   "kernel_size": self.k_max, "groups": self.in_max if self.depthwise else 1,
                   "stride": 1, "padding": 0, "dilation": 1}
        if self.transposed:
            largest["output_padding"] = 0
        template = build_op(op.name, largest)
        self.weight = template.weight
        self.bias = template.bias
        policy.mode.check_op(self)

    def check_differentiable(self) -> None:
        """Refuse what a mixture cannot run: shape-changing arguments that depend on decisions,
        kernel sizes whose padding does not follow them."""
        for name in ("stride", "dilation") + (("output_padding",) if self.transposed else ()):
            if len({repr(r[name]) for r in self.resolved}) > 1:
                raise NasError(f"{self.op.name} {name} depends on {', '.join(self.labels)}: darts and gumbel average "
                               f"the outputs of all values, which differ in shape; search {name} with spos, enas, "
                               "random_oneshot or proxyless", self.op.loc)
        offsets = set()
        for r in self.resolved:
            k, pad, dil = r["kernel_size"], r["padding"], r["dilation"]
            if not isinstance(pad, int) or (self.k_max - k) % 2:
                raise _kernel_padding(self.op)
            offsets.add(pad + dil * (self.k_max - k) // 2)
        if len(offsets) > 1:
            raise _kernel_padding(self.op)
        self.pad_max = offsets.pop()

    def _channel_dims(self, r: dict[str, Any]) -> tuple[int, int]:
        """The widths of the weight's first two dimensions for resolved arguments `r`."""
        if self.depthwise:  # [channels, 1, k...] in either layout
            return r["out_channels"], 1
        if self.transposed:
            return r["in_channels"], r["out_channels"]
        return r["out_channels"], r["in_channels"]

    def weight_slice(self, r: dict[str, Any]) -> torch.Tensor:
        k, start = r["kernel_size"], (self.k_max - r["kernel_size"]) // 2
        first, second = self._channel_dims(r)
        w = self.weight[:first, :second]
        return w[(Ellipsis,) + (slice(start, start + k),) * self.dims]

    def _conv(self, x, weight, bias, r, padding, groups):
        if self.transposed:
            fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[self.dims - 1]
            return fn(x, weight, bias, r["stride"], padding, r["output_padding"], groups, r["dilation"])
        fn = (F.conv1d, F.conv2d, F.conv3d)[self.dims - 1]
        return fn(x, weight, bias, r["stride"], padding, r["dilation"], groups)

    def forward_fixed(self, x, r):
        bias = None if self.bias is None else self.bias[: r["out_channels"]]
        groups = r["in_channels"] if self.depthwise else 1
        x = fit(x, r["in_channels"], 1)
        return self._conv(x, self.weight_slice(r), bias, r, r["padding"], groups)

    def forward_mixed(self, x, groups):
        mask = None
        bias_mask = None
        size = self.weight.shape
        for r, w in groups:
            first, second = self._channel_dims(r)
            window = _window(r["kernel_size"], self.k_max, self.weight, self.dims)
            m = (_mask(first, size[0], self.weight).view(-1, *([1] * (self.dims + 1)))
                 * _mask(second, size[1], self.weight).view(1, -1, *([1] * self.dims)) * window * w)
            mask = m if mask is None else mask + m
            bm = _mask(r["out_channels"], self.out_max, self.weight) * w
            bias_mask = bm if bias_mask is None else bias_mask + bm
        bias = None if self.bias is None else self.bias * bias_mask
        return self._conv(x, self.weight * mask, bias, groups[0][0], self.pad_max,
                          self.in_max if self.depthwise else 1)

    def state_for(self, assignment):
        r = self.resolve(assignment)
        out = {"weight": self.weight_slice(r)}
        if self.bias is not None:
            out["bias"] = self.bias[: r["out_channels"]]
        return out


class MixedLinear(MixedOp):
    """Linear with choices in in_features / out_features."""

    def __init__(self, op: ir.Op, policy: ArchState):
        super().__init__(op, policy)
        self.require_shared("bias")
        self.in_max, self.out_max = self.maximum("in_features"), self.maximum("out_features")
        template = nn.Linear(self.in_max, self.out_max, bias=self.resolved[0]["bias"])
        self.weight, self.bias = template.weight, template.bias

    def forward_fixed(self, x, r):
        x = fit(x, r["in_features"], x.dim() - 1)
        bias = None if self.bias is None else self.bias[: r["out_features"]]
        return F.linear(x, self.weight[: r["out_features"], : r["in_features"]], bias)

    def forward_mixed(self, x, groups):
        mask, bias_mask = None, None
        for r, w in groups:
            m_out = _mask(r["out_features"], self.out_max, self.weight)
            m = m_out[:, None] * _mask(r["in_features"], self.in_max, self.weight)[None, :] * w
            mask = m if mask is None else mask + m
            bias_mask = m_out * w if bias_mask is None else bias_mask + m_out * w
        return F.linear(x, self.weight * mask, None if self.bias is None else self.bias * bias_mask)

    def state_for(self, assignment):
        r = self.resolve(assignment)
        out = {"weight": self.weight[: r["out_features"], : r["in_features"]]}
        if self.bias is not None:
            out["bias"] = self.bias[: r["out_features"]]
        return out


class MixedBatchNorm(MixedOp):
    """BatchNorm1d/2d/3d with a choice of num_features (statistics are per channel, so every
    width uses a prefix of the affine weights and of the running statistics)."""

    def __init__(self, op: ir.Op, policy: ArchState):
        super().__init__(op, policy)
        self.require_shared("eps", "momentum", "affine", "track_running_stats")
        self.c_max = self.maximum("num_features")
        self.bn = build_op(op.name, {**self.resolved[0], "num_features": self.c_max})

    def _norm(self, x: torch.Tensor, c: int) -> torch.Tensor:
        bn = self.bn
        factor = 0.0 if bn.momentum is None else bn.momentum
        if bn.training and bn.track_running_stats:
            bn.num_batches_tracked.add_(1)
            factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
        use_batch = bn.training or bn.running_mean is None
        running = (None, None) if bn.running_mean is None else (bn.running_mean[:c], bn.running_var[:c])
        weight = None if bn.weight is None else bn.weight[:c]
        bias = None if bn.bias is None else bn.bias[:c]
        return F.batch_norm(x, running[0] if not bn.training or bn.track_running_stats else None,
                            running[1] if not bn.training or bn.track_running_stats else None,
                            weight, bias, use_batch, factor, bn.eps)

    def forward_fixed(self, x, r):
        return self._norm(fit(x, r["num_features"], 1), r["num_features"])

    def forward_mixed(self, x, groups):
        mask = None
        for r, w in groups:
            m = _mask(r["num_features"], self.c_max, x) * w
            mask = m if mask is None else mask + m
        return self._norm(x, self.c_max) * mask.view(1, -1, *([1] * (x.dim() - 2)))

    def state_for(self, assignment):
        c = self.resolve(assignment)["num_features"]
        out = {}
        for name, t in list(self.bn.named_parameters()) + list(self.bn.named_buffers()):
            out[name] = t if name == "num_batches_tracked" else t[:c]
        return out


class MixedInstanceNorm(MixedBatchNorm):
    """InstanceNorm1d/2d/3d with a choice of num_features: the same prefixes as BatchNorm
    (affine weights, running statistics when tracked); each channel is normalised alone."""

    def _norm(self, x: torch.Tensor, c: int) -> torch.Tensor:
        n = self.bn
        tracked = n.running_mean is not None
        return F.instance_norm(x, n.running_mean[:c] if tracked else None, n.running_var[:c] if tracked else None,
                               None if n.weight is None else n.weight[:c], None if n.bias is None else n.bias[:c],
                               n.training or not n.track_running_stats, 0.0 if n.momentum is None else n.momentum,
                               n.eps)


class MixedGroupNorm(MixedOp):
    """GroupNorm with choices of num_channels and num_groups: the affine weight and bias are
    prefixes of the widest. Under darts/gumbel each distinct (groups, channels) runs on the
    input's first channels and the zero-padded results are weighed."""

    def __init__(self, op: ir.Op, policy: ArchState):
        super().__init__(op, policy)
        self.require_shared("eps", "affine")
        self.c_max = self.maximum("num_channels")
        self.gn = build_op("GroupNorm", {**self.resolved[0], "num_channels": self.c_max, "num_groups": 1})

    def forward_fixed(self, x, r):
        c, gn = r["num_channels"], self.gn
        return F.group_norm(fit(x, c, 1), r["num_groups"], None if gn.weight is None else gn.weight[:c],
                            None if gn.bias is None else gn.bias[:c], gn.eps)

    def state_for(self, assignment):
        c = self.resolve(assignment)["num_channels"]
        return {name: t[:c] for name, t in self.gn.named_parameters()}


class MixedPReLU(MixedOp):
    """PReLU with a choice of num_parameters (1, or one slope per channel): a prefix of the
    widest slope vector, so the single slope is the first channel's."""

    def __init__(self, op: ir.Op, policy: ArchState):
        super().__init__(op, policy)
        self.require_shared("init")
        self.prelu = build_op("PReLU", {"num_parameters": self.maximum("num_parameters"),
                                        "init": self.resolved[0]["init"]})

    def forward_fixed(self, x, r):
        n = r["num_parameters"]
        return F.prelu(x if n == 1 else fit(x, n, 1), self.prelu.weight[:n])

    def state_for(self, assignment):
        return {"weight": self.prelu.weight[: self.resolve(assignment)["num_parameters"]]}


class MixedEmbedding(MixedOp):
    """Embedding with choices of num_embeddings and embedding_dim: rows and columns are
    prefixes of the largest table (a smaller vocabulary is its first rows)."""

    def __init__(self, op: ir.Op, policy: ArchState):
        super().__init__(op, policy)
        self.require_shared("max_norm", "norm_type", "scale_grad_by_freq", "sparse")
        if self.resolved[0]["sparse"]:
            raise NasError(f"Embedding: sparse=true is not weight-entangled (a sparse gradient cannot flow "
                           f"through slices of one table; it depends on {', '.join(map(repr, self.labels))})", op.loc)
        pads = {self._padding_idx(r) for r in self.resolved}
        if len(pads) > 1:
            raise _unsupported(op, "padding_idx", "a negative index counts from a vocabulary size that varies")
        self.n_max, self.d_max = self.maximum("num_embeddings"), self.maximum("embedding_dim")
        self.embedding = build_op("Embedding", {**self.resolved[0], "num_embeddings": self.n_max,
                                                "embedding_dim": self.d_max, "padding_idx": pads.pop()})

    @staticmethod
    def _padding_idx(r: dict[str, Any]) -> int | None:
        p = r["padding_idx"]
        return p + r["num_embeddings"] if p is not None and p < 0 else p

    def forward_fixed(self, x, r):
        e = self.embedding
        return F.embedding(x, e.weight[: r["num_embeddings"], : r["embedding_dim"]], self._padding_idx(r),
                           e.max_norm, e.norm_type, e.scale_grad_by_freq, False)

    def state_for(self, assignment):
        r = self.resolve(assignment)
        return {"weight": self.embedding.weight[: r["num_embeddings"], : r["embedding_dim"]]}


class MixedLayerNorm(MixedOp):
    """LayerNorm over the last dimension with a choice of its size."""

    def __init__(self, op: ir.Op, policy: ArchState):
        super().__init__(op, policy)
        for r in self.resolved:
            if not isinstance(r["normalized_shape"], int):
                raise _unsupported(op, "normalized_shape", "only a single last dimension is entangled")
        self.require_shared("eps", "elementwise_affine", "bias")
        self.c_max = self.maximum("normalized_shape")
        self.ln = build_op("LayerNorm", {**self.resolved[0], "normalized_shape": self.c_max})

    def forward_fixed(self, x, r):
        c = r["normalized_shape"]
        ln = self.ln
        return F.layer_norm(fit(x, c, x.dim() - 1), (c,), None if ln.weight is None else ln.weight[:c],
                            None if ln.bias is None else ln.bias[:c], ln.eps)

    def state_for(self, assignment):
        c = self.resolve(assignment)["normalized_shape"]
        return {name: t[:c] for name, t in self.ln.named_parameters()}


class MixedAttention(MixedOp):
    """Self-attention with a choice of embedding size and number of heads."""

    def __init__(self, op: ir.Op, policy: ArchState):
        super().__init__(op, policy)
        self.require_shared("dropout", "bias", "batch_first")
        self.e_max = self.maximum("embed_dim")
        heads = [r["num_heads"] for r in self.resolved if r["embed_dim"] == self.e_max]
        self.mha = build_op("MultiheadAttention", {**self.resolved[0], "embed_dim": self.e_max,
                                                   "num_heads": max(heads)})

    def _in_proj(self, e: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        E = self.e_max
        w = self.mha.in_proj_weight
        weight = torch.cat([w[0:e, :e], w[E:E + e, :e], w[2 * E:2 * E + e, :e]])
        b = self.mha.in_proj_bias
        bias = None if b is None else torch.cat([b[0:e], b[E:E + e], b[2 * E:2 * E + e]])
        return weight, bias

    def forward_fixed(self, x, r):
        e, h = r["embed_dim"], r["num_heads"]
        x = fit(x, e, x.dim() - 1)
        batch_first = r["batch_first"]
        q = x.transpose(0, 1) if batch_first else x
        w_in, b_in = self._in_proj(e)
        out_b = self.mha.out_proj.bias
        y, _ = F.multi_head_attention_forward(
            q, q, q, e, h, w_in, b_in, None, None, False, self.mha.dropout,
            self.mha.out_proj.weight[:e, :e], None if out_b is None else out_b[:e],
            training=self.training, need_weights=False)
        return y.transpose(0, 1) if batch_first else y

    def state_for(self, assignment):
        e = self.resolve(assignment)["embed_dim"]
        w_in, b_in = self._in_proj(e)
        out = {"in_proj_weight": w_in, "out_proj.weight": self.mha.out_proj.weight[:e, :e]}
        if b_in is not None:
            out["in_proj_bias"] = b_in
            out["out_proj.bias"] = self.mha.out_proj.bias[:e]
        return out


class MixedClassToken(MixedOp):
    """ClassToken with a choice of embed_dim: every size uses a prefix of one token."""

    def __init__(self, op: ir.Op, policy: ArchState):
        super().__init__(op, policy)
        self.cls_token = build_op("ClassToken", {"embed_dim": self.maximum("embed_dim")}).cls_token

    def forward_fixed(self, x, r):
        e = r["embed_dim"]
        x = fit(x, e, x.dim() - 1)
        return torch.cat([self.cls_token[..., :e].expand(x.shape[0], -1, -1), x], dim=1)

    def state_for(self, assignment):
        return {"cls_token": self.cls_token[..., : self.resolve(assignment)["embed_dim"]]}


class MixedPositionEmbedding(MixedOp):
    """PositionEmbedding with a choice of embed_dim (a prefix of each position's embedding)."""

    def __init__(self, op: ir.Op, policy: ArchState):
        super().__init__(op, policy)
        if len({r["length"] for r in self.resolved}) > 1:
            raise _unsupported(op, "length")
        self.pos_embed = build_op("PositionEmbedding", {"length": self.resolved[0]["length"],
                                                        "embed_dim": self.maximum("embed_dim")}).pos_embed

    def forward_fixed(self, x, r):
        e = r["embed_dim"]
        return fit(x, e, x.dim() - 1) + self.pos_embed[..., :e]

    def state_for(self, assignment):
        return {"pos_embed": self.pos_embed[..., : self.resolve(assignment)["embed_dim"]]}


class MixedRelPosAttention(MixedOp):
    """RelPosSelfAttention with choices of embed_dim and num_heads: q/k/v/proj use the first
    num_heads * head_dim rows (columns) and the first embed_dim columns (rows) of the largest;
    the relative position tables (per head_dim) are shared whole."""

    TABLES = ("rpe_k_vertical", "rpe_k_horizontal", "rpe_v_vertical", "rpe_v_horizontal")

    def __init__(self, op: ir.Op, policy: ArchState):
        super().__init__(op, policy)
        self.require_shared("head_dim", "qkv_bias", "rpe", "rpe_length")
        self.attn = build_op("RelPosSelfAttention", {**self.resolved[0], "embed_dim": self.maximum("embed_dim"),
                                                     "num_heads": self.maximum("num_heads")})

    def _weights(self, r: dict[str, Any]) -> dict[str, torch.Tensor]:
        e, inner, out = r["embed_dim"], r["num_heads"] * r["head_dim"], {}
        for name in ("q", "k", "v"):
            linear = getattr(self.attn, name)
            out[f"{name}.weight"] = linear.weight[:inner, :e]
            if linear.bias is not None:
                out[f"{name}.bias"] = linear.bias[:inner]
        out["proj.weight"], out["proj.bias"] = self.attn.proj.weight[:e, :inner], self.attn.proj.bias[:e]
        return out

    def forward_fixed(self, x, r):
        w = self._weights(r)
        return self.attn.attend(fit(x, r["embed_dim"], x.dim() - 1), r["num_heads"],
                                *(w.get(f"{n}.{p}") for n in ("q", "k", "v", "proj") for p in ("weight", "bias")))

    def state_for(self, assignment):
        r = self.resolve(assignment)
        out = self._weights(r)
        if r["rpe"]:
            out.update({name: getattr(self.attn, name) for name in self.TABLES})
        return out


class SeparateOps(MixedOp):
    """Any other op with choices in its arguments: one module per distinct argument set."""

    def __init__(self, op: ir.Op, policy: ArchState):
        super().__init__(op, policy)
        self.keys: list[str] = []
        modules = {}
        for r in self.resolved:
            key = self.key(r)
            if key not in modules:
                try:
                    modules[key] = build_op(op.name, r)
                except (TypeError, ValueError, RuntimeError) as err:
                    raise NasError(f"{op.name}({r}): {err}", op.loc) from None
        self.keys = list(modules)
        self.choices = nn.ModuleDict({str(i): m for i, m in enumerate(modules.values())})

    def key(self, r: dict[str, Any]) -> str:
        return repr(sorted((k, repr(v)) for k, v in r.items()))

    def module_for(self, r: dict[str, Any]) -> nn.Module:
        return self.choices[str(self.keys.index(self.key(r)))]

    def forward_fixed(self, x, r):
        return self.module_for(r)(x)

    def forward_mixed(self, x, groups):
        total = None
        for r, w in groups:
            y = self.forward_fixed(x, r)
            if total is not None and y.shape != total.shape:
                raise NasError(f"{self.op.name}: the values of {', '.join(self.labels)} give outputs of different "
                               f"shapes ({tuple(total.shape)} and {tuple(y.shape)}), which darts and gumbel "
                               "cannot average; use a sampling strategy", self.op.loc)
            total = y * w if total is None else total + y * w
        return total

    def state_for(self, assignment):
        return dict(self.module_for(self.resolve(assignment)).state_dict(keep_vars=True))


def mixed_op(op: ir.Op, policy: ArchState) -> MixedOp:
    """The mixed module for an op whose arguments depend on decisions: the weight-entangled
    version its record names (`nasdsl.ops.catalog.OpSpec.entangled`), else one module per
    argument combination."""
    record = catalog.spec(op.name)
    cls = None if record is None else record.entangled_module()
    if cls is None or not cls.entangles(op, policy):
        cls = SeparateOps
    return cls(op, policy)


def _resolved_args(op: ir.Op, policy: ArchState) -> list[dict[str, Any]]:
    labels = sorted(set().union(*(free_labels(v) for _, v in op.args)))
    domains = [policy.space.decision(lab).values for lab in labels]
    if math.prod(len(d) for d in domains) > MAX_ASSIGNMENTS:
        return policy.mode.wide_arguments(lambda: _possible_args(op, policy)) or []  # [] : MixedOp refuses
    return [{k: evaluate(v, dict(zip(labels, combo))) for k, v in op.args} for combo in itertools.product(*domains)]


def _possible_args(op: ir.Op, policy: ArchState) -> list[dict[str, Any]] | None:
    """A superset of the op's argument sets (each argument's possible values, combined), for
    ops over more joint assignments than enumerating allows — e.g. a loose-end cell's width,
    `c * merged_nodes(cell)`, over its 8 input decisions: 129,600 assignments, 5 widths."""
    domains = {d.label: d.values for d in policy.space.decisions}
    names, sets = [], []
    for name, value in op.args:
        found = possible_values(value, domains, MAX_ASSIGNMENTS)
        if found is None:
            return None
        names.append(name)
        sets.append(sorted(found, key=repr))
    if math.prod(len(s) for s in sets) > MAX_ASSIGNMENTS:
        return None
    return [dict(zip(names, combo)) for combo in itertools.product(*sets)]


def _unsupported(op: ir.Op, name: str, why: str = "only sizes are shared between choices") -> NasError:
    """One line naming the argument, the decisions it depends on and where the op is."""
    labels = sorted(free_labels(dict(op.args).get(name)))
    on = f" (it depends on {', '.join(repr(lab) for lab in labels)})" if labels else ""
    return NasError(f"{op.name}: {name} must not depend on a decision{on} for a weight-entangled supernet: {why}",
                    op.loc)


def _kernel_padding(op: ir.Op) -> NasError:
    return NasError(f"{op.name}: darts and gumbel mix kernel sizes by centre-cropping one kernel, which needs "
                    "'same' padding that follows the kernel (padding = dilation * (k - 1) // 2, odd sizes)", op.loc)
