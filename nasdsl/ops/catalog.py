"""What nasdsl knows about each op, one record per op (`OpSpec`), without importing torch.

A record holds everything the pipeline needs of an op, from the front end to the supernet:

* `params` — its signature, (parameter, default) pairs in order: the elaborator normalises
  positional arguments to keywords with it, reports unknown keywords and wrong arity, and
  names inline choices after the parameter they sit in, long before anything is lowered;
* `rule` — its shape, parameter and FLOPs rule (`nasdsl.ops.rules`), for compile-time shape
  checks and `costs`;
* `builder` — the PyTorch module that builds it, by reference (`"torch.nn:Conv2d"`), so this
  record stays torch-free until a lowering asks for it;
* `entangled` — its weight-entangled supernet module (`"nasdsl.lower.mixed:MixedConv"`), for
  value choices in its arguments; without one a supernet keeps one module per combination;
* `domains` — the domain of every argument (`nasdsl.ops.domains`), which the shape analysis
  checks, so `nasdsl check` refuses `Conv3d(4, 0, 3)` at its line and column;
* `drop_none`, `as_tuple` — how its arguments reach the builder: those left out when none
  (torch's own default then applies: a pool's stride is its kernel size) and those passed as a
  tuple where a `.nas` list gives them (a LayerNorm shape);
* `pure`, `elementwise` — the flags the supernet's rewrite passes read (`nasdsl.lower.rewrites`): a pure
  op is parameter-free, state-free and deterministic, so a prefix of them is computed once for
  all candidates; an elementwise one is also cheap enough to recompute instead of storing.

Each catalog op is declared in one literal below (a family such as ConvNd by one function),
and `nasdsl.register_op` fills the same record for a custom op.

Names and keywords are torch's own; `Zero` and `FactorizedReduce` are nasdsl's (stride-aware,
as DARTS and NAS-Bench-201 need). Custom ops come from `nasdsl.register_op` in Python, never
from a `.nas` file, and get the same record: what they lack (`OpSpec.lacks`) is said.

Example::

    >>> conv = spec("Conv2d")
    >>> [name for name, default in conv.params[:4]]
    ['in_channels', 'out_channels', 'kernel_size', 'stride']
    >>> conv.params[0][1] is REQUIRED, conv.params[3][1]
    (True, 1)
    >>> conv.builder, conv.entangled
    ('torch.nn:Conv2d', 'nasdsl.lower.mixed:MixedConv')
    >>> conv.rule.params({"in_channels": 3, "out_channels": 8, "kernel_size": 3, "groups": 1, "bias": False})
    216
    >>> conv.domains["out_channels"].what, spec("ReLU").elementwise
    ('a positive integer', True)
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from . import rules
from .domains import (
    BOOL,
    FINITE,
    GELU_APPROXIMATE,
    INT,
    INTS,
    MOMENTUM,
    NONNEGATIVE,
    NONNEGATIVE_INT,
    NONNEGATIVE_INTS,
    NONZERO,
    OPTIONAL_BOOL,
    OPTIONAL_INT,
    OPTIONAL_POSITIVE,
    OPTIONAL_POSITIVE_INT,
    OPTIONAL_POSITIVE_INTS,
    PADDING,
    PADDING_MODE,
    POSITIVE,
    POSITIVE_INT,
    POSITIVE_INTS,
    POSITIVES_OR_NONE,
    PROBABILITY,
    SIZES,
    STRIDE_OR_NONE,
    UPSAMPLE_MODE,
    Domain,
)
from .rules import Rule

REQUIRED = object()
_R = REQUIRED


@dataclass(frozen=True)
class OpSpec:
    """Everything nasdsl knows about one op (see the module docstring). `builder` and
    `entangled` are `"module:attribute"` references resolved on first use, or, for a custom
    op, the constructor itself. `domains` maps each argument to its domain (a custom op's
    arguments take any value unless it says otherwise)."""
    name: str
    params: tuple[tuple[str, object], ...]
    rule: Rule | None = None
    builder: str | Callable[..., Any] | None = None
    entangled: str | None = None
    custom: bool = False
    domains: Mapping[str, Domain] = field(default_factory=dict, hash=False)
    pure: bool = False
    elementwise: bool = False
    drop_none: tuple[str, ...] = ()
    as_tuple: tuple[str, ...] = ()

    def builder_arguments(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments its module is constructed with, from its resolved arguments.

        Example::

            >>> spec("MaxPool2d").builder_arguments({"kernel_size": 2, "stride": None})
            {'kernel_size': 2}
            >>> spec("LayerNorm").builder_arguments({"normalized_shape": [4, 4]})
            {'normalized_shape': (4, 4)}
        """
        out = {k: v for k, v in args.items() if not (v is None and k in self.drop_none)}
        for k in self.as_tuple:
            if isinstance(out.get(k), list):
                out[k] = tuple(out[k])
        return out

    def torch_builder(self) -> Callable[..., Any] | None:
        """The callable that constructs the op's `nn.Module` (imports torch)."""
        return _deref(self.builder)

    def entangled_module(self) -> type | None:
        """The weight-entangled supernet module class, if the op has one (imports torch)."""
        return _deref(self.entangled)

    def lacks(self) -> tuple[str, ...]:
        """What the pipeline cannot do with this op, one sentence each (empty: nothing).

        Example::

            >>> OpSpec("Squeeze", (("channels", REQUIRED),), custom=True).lacks()[0]
            'no shape rule: shapes after Squeeze are not checked, and its params and FLOPs are not counted'
        """
        out = []
        if self.rule is None:
            out.append(f"no shape rule: shapes after {self.name} are not checked, "
                       "and its params and FLOPs are not counted")
        if self.builder is None:
            out.append(f"no PyTorch module: {self.name} cannot be lowered")
        if self.entangled is None:
            out.append(f"no weight-entangled version: a supernet keeps one {self.name} per combination "
                       "of the values its arguments can take")
        return tuple(out)


def _deref(ref: str | Callable[..., Any] | None) -> Any:
    if ref is None or not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


Arg = tuple[str, object, Domain]   # (parameter, default or REQUIRED, domain)


def op(name: str, *args: Arg, rule: Rule, ours: str | None = None, entangled: str | None = None,
       pure: bool = False, elementwise: bool = False, drop_none: tuple[str, ...] = (),
       as_tuple: tuple[str, ...] = ()) -> OpSpec:
    """One catalog record: `args` in order, each with its default and domain; `ours` names
    nasdsl's own module (`nasdsl.ops.modules`), else the op is `torch.nn`'s class of its name;
    `entangled` names its weight-entangled module (`nasdsl.lower.mixed`). An elementwise op is
    pure too."""
    return OpSpec(name, tuple((a, default) for a, default, _ in args), rule,
                  f"nasdsl.ops.modules:{ours}" if ours else f"torch.nn:{name}",
                  f"nasdsl.lower.mixed:{entangled}" if entangled else None,
                  domains=MappingProxyType({a: domain for a, _, domain in args}),
                  pure=pure or elementwise, elementwise=elementwise, drop_none=drop_none, as_tuple=as_tuple)


# --- families: one function each -------------------------------------------------------------

def _conv(nd: int) -> OpSpec:
    return op(f"Conv{nd}d", ("in_channels", _R, POSITIVE_INT), ("out_channels", _R, POSITIVE_INT),
              ("kernel_size", _R, POSITIVE_INTS), ("stride", 1, POSITIVE_INTS), ("padding", 0, PADDING),
              ("dilation", 1, POSITIVE_INTS), ("groups", 1, POSITIVE_INT), ("bias", True, BOOL),
              ("padding_mode", "zeros", PADDING_MODE), rule=rules.conv(nd), entangled="MixedConv")


def _conv_transpose(nd: int) -> OpSpec:
    return op(f"ConvTranspose{nd}d", ("in_channels", _R, POSITIVE_INT), ("out_channels", _R, POSITIVE_INT),
              ("kernel_size", _R, POSITIVE_INTS), ("stride", 1, POSITIVE_INTS), ("padding", 0, NONNEGATIVE_INTS),
              ("output_padding", 0, NONNEGATIVE_INTS), ("groups", 1, POSITIVE_INT), ("bias", True, BOOL),
              ("dilation", 1, POSITIVE_INTS), ("padding_mode", "zeros", PADDING_MODE),
              rule=rules.conv_transpose(nd), entangled="MixedConv")


def _batch_norm(nd: int) -> OpSpec:
    return op(f"BatchNorm{nd}d", ("num_features", _R, POSITIVE_INT), ("eps", 1e-5, POSITIVE),
              ("momentum", 0.1, MOMENTUM), ("affine", True, BOOL), ("track_running_stats", True, BOOL),
              rule=rules.batch_norm(nd), entangled="MixedBatchNorm")


def _instance_norm(nd: int) -> OpSpec:
    return op(f"InstanceNorm{nd}d", ("num_features", _R, POSITIVE_INT), ("eps", 1e-5, POSITIVE),
              ("momentum", 0.1, MOMENTUM), ("affine", False, BOOL), ("track_running_stats", False, BOOL),
              rule=rules.instance_norm(nd), entangled="MixedInstanceNorm")


def _max_pool(nd: int) -> OpSpec:
    return op(f"MaxPool{nd}d", ("kernel_size", _R, POSITIVE_INTS), ("stride", None, STRIDE_OR_NONE),
              ("padding", 0, NONNEGATIVE_INTS), ("dilation", 1, POSITIVE_INTS), ("return_indices", False, BOOL),
              ("ceil_mode", False, BOOL), rule=rules.max_pool(nd), pure=True, drop_none=("stride",))


def _avg_pool(nd: int) -> OpSpec:
    divisor = (("divisor_override", None, OPTIONAL_POSITIVE_INT),) if nd > 1 else ()
    return op(f"AvgPool{nd}d", ("kernel_size", _R, POSITIVE_INTS), ("stride", None, STRIDE_OR_NONE),
              ("padding", 0, NONNEGATIVE_INTS), ("ceil_mode", False, BOOL), ("count_include_pad", True, BOOL),
              *divisor, rule=rules.avg_pool(nd), pure=True, drop_none=("stride",))


def _adaptive_pool(kind: str, nd: int) -> OpSpec:
    return op(f"Adaptive{kind}Pool{nd}d", ("output_size", _R, POSITIVE_INTS), rule=rules.adaptive_pool(nd), pure=True)


def _dropout(name: str) -> OpSpec:
    return op(name, ("p", 0.5, PROBABILITY), ("inplace", False, BOOL), rule=rules.IDENTITY)


def _activation(name: str, *args: Arg, elementwise: bool = False) -> OpSpec:
    """A shape-preserving op without weights; `elementwise` where the passes may recompute it."""
    return op(name, *args, rule=rules.IDENTITY, elementwise=elementwise)


_INPLACE = ("inplace", False, BOOL)

# --- the catalog ---------------------------------------------------------------------------

BUILTIN: Mapping[str, OpSpec] = MappingProxyType({record.name: record for record in (
    *(_conv(nd) for nd in (1, 2, 3)),
    *(_conv_transpose(nd) for nd in (1, 2, 3)),
    op("Linear", ("in_features", _R, POSITIVE_INT), ("out_features", _R, POSITIVE_INT), ("bias", True, BOOL),
       rule=rules.LINEAR, entangled="MixedLinear"),
    *(_batch_norm(nd) for nd in (1, 2, 3)),
    *(_instance_norm(nd) for nd in (1, 2, 3)),
    op("LayerNorm", ("normalized_shape", _R, POSITIVE_INTS), ("eps", 1e-5, POSITIVE),
       ("elementwise_affine", True, BOOL), ("bias", True, BOOL), rule=rules.LAYER_NORM, entangled="MixedLayerNorm",
       as_tuple=("normalized_shape",)),
    op("GroupNorm", ("num_groups", _R, POSITIVE_INT), ("num_channels", _R, POSITIVE_INT), ("eps", 1e-5, POSITIVE),
       ("affine", True, BOOL), rule=rules.GROUP_NORM, entangled="MixedGroupNorm"),
    op("MultiheadAttention", ("embed_dim", _R, POSITIVE_INT), ("num_heads", _R, POSITIVE_INT),
       ("dropout", 0.0, PROBABILITY), ("bias", True, BOOL), ("batch_first", True, BOOL),
       rule=rules.ATTENTION, ours="SelfAttention", entangled="MixedAttention"),
    *(_activation(name, _INPLACE, elementwise=True) for name in ("ReLU", "ReLU6", "SiLU", "Hardswish", "Hardsigmoid")),
    _activation("GELU", ("approximate", "none", GELU_APPROXIMATE), elementwise=True),
    _activation("Sigmoid", elementwise=True),
    _activation("Tanh", elementwise=True),
    _activation("Identity", elementwise=True),
    _activation("LeakyReLU", ("negative_slope", 0.01, FINITE), _INPLACE, elementwise=True),
    *(_activation(name, _INPLACE) for name in ("SELU", "Mish")),
    *(_activation(name, ("alpha", 1.0, FINITE), _INPLACE) for name in ("ELU",)),
    _activation("CELU", ("alpha", 1.0, NONZERO), _INPLACE),
    _activation("Softplus", ("beta", 1.0, NONZERO), ("threshold", 20.0, FINITE)),
    _activation("Hardtanh", ("min_val", -1.0, FINITE), ("max_val", 1.0, FINITE), _INPLACE),
    *(_activation(name) for name in ("Tanhshrink", "Softsign", "LogSigmoid")),
    *(_activation(name, ("lambd", 0.5, NONNEGATIVE)) for name in ("Hardshrink", "Softshrink")),
    op("PReLU", ("num_parameters", 1, POSITIVE_INT), ("init", 0.25, FINITE), rule=rules.PRELU, entangled="MixedPReLU"),
    *(op(name, ("dim", _R, INT), rule=rules.SOFTMAX) for name in ("Softmax", "LogSoftmax", "Softmin")),
    op("GLU", ("dim", -1, INT), rule=rules.GLU),
    *(_max_pool(nd) for nd in (1, 2, 3)),
    *(_avg_pool(nd) for nd in (1, 2, 3)),
    *(_adaptive_pool(kind, nd) for kind in ("Avg", "Max") for nd in (1, 2, 3)),
    op("Flatten", ("start_dim", 1, INT), ("end_dim", -1, INT), rule=rules.FLATTEN, pure=True),
    op("Unflatten", ("dim", _R, INT), ("unflattened_size", _R, SIZES), rule=rules.UNFLATTEN,
       as_tuple=("unflattened_size",)),
    op("Reshape", ("shape", _R, SIZES), rule=rules.RESHAPE, ours="Reshape"),
    op("Permute", ("dims", _R, NONNEGATIVE_INTS), rule=rules.PERMUTE, ours="Permute"),
    *(_dropout(name) for name in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout")),
    op("Upsample", ("size", None, OPTIONAL_POSITIVE_INTS), ("scale_factor", None, POSITIVES_OR_NONE),
       ("mode", "nearest", UPSAMPLE_MODE), ("align_corners", None, OPTIONAL_BOOL),
       ("recompute_scale_factor", None, OPTIONAL_BOOL), rule=rules.UPSAMPLE),
    op("PixelShuffle", ("upscale_factor", _R, POSITIVE_INT), rule=rules.PIXEL_SHUFFLE),
    op("PixelUnshuffle", ("downscale_factor", _R, POSITIVE_INT), rule=rules.PIXEL_UNSHUFFLE),
    op("ZeroPad2d", ("padding", _R, INTS), rule=rules.ZERO_PAD_2D),
    op("Embedding", ("num_embeddings", _R, POSITIVE_INT), ("embedding_dim", _R, POSITIVE_INT),
       ("padding_idx", None, OPTIONAL_INT), ("max_norm", None, OPTIONAL_POSITIVE), ("norm_type", 2.0, POSITIVE),
       ("scale_grad_by_freq", False, BOOL), ("sparse", False, BOOL), rule=rules.EMBEDDING, entangled="MixedEmbedding"),
    # nasdsl's own (nasdsl.ops.modules)
    op("Zero", ("stride", 1, POSITIVE_INT), ("out_channels", None, OPTIONAL_POSITIVE_INT), rule=rules.ZERO,
       ours="Zero"),
    op("FactorizedReduce", ("in_channels", _R, POSITIVE_INT), ("out_channels", _R, POSITIVE_INT),
       ("affine", True, BOOL), rule=rules.FACTORIZED_REDUCE, ours="FactorizedReduce"),
    op("ChannelShuffle", ("groups", _R, POSITIVE_INT), rule=rules.CHANNEL_SHUFFLE),
    op("PadChannels", ("offset", _R, NONNEGATIVE_INT), ("channels", _R, POSITIVE_INT), rule=rules.PAD_CHANNELS,
       ours="PadChannels"),
    op("Narrow", ("dim", _R, INT), ("start", _R, NONNEGATIVE_INT), ("length", _R, POSITIVE_INT), rule=rules.NARROW,
       ours="Narrow"),
    op("Transpose", ("dim0", _R, INT), ("dim1", _R, INT), rule=rules.TRANSPOSE, ours="Transpose"),
    op("ClassToken", ("embed_dim", _R, POSITIVE_INT), rule=rules.CLASS_TOKEN, ours="ClassToken",
       entangled="MixedClassToken"),
    op("PositionEmbedding", ("length", _R, POSITIVE_INT), ("embed_dim", _R, POSITIVE_INT),
       rule=rules.POSITION_EMBEDDING, ours="PositionEmbedding", entangled="MixedPositionEmbedding"),
    op("RelPosSelfAttention", ("embed_dim", _R, POSITIVE_INT), ("num_heads", _R, POSITIVE_INT),
       ("head_dim", 64, POSITIVE_INT), ("qkv_bias", True, BOOL), ("rpe", True, BOOL), ("rpe_length", 14, POSITIVE_INT),
       rule=rules.REL_POS_ATTENTION, ours="RelPosSelfAttention", entangled="MixedRelPosAttention"),
)})

OPS: dict[str, OpSpec] = dict(BUILTIN)   # the catalog, plus custom ops (`register`)


def spec(name: str) -> OpSpec | None:
    """The record of an op (a catalog op, or a custom one that replaced it), or None."""
    return OPS.get(name)


def signature(name: str) -> tuple[tuple[str, object], ...] | None:
    """The (parameter, default) pairs of an op, or None if no such op is known."""
    found = OPS.get(name)
    return None if found is None else found.params


def known_ops() -> list[str]:
    return sorted(OPS)


def register(record: OpSpec) -> OpSpec:
    """Add or replace an op's record (used by `nasdsl.register_op` and `register_rule`)."""
    if not record.name.isidentifier():
        raise ValueError(f"op name must be an identifier, got {record.name!r}")
    OPS[record.name] = record
    return record


def unregister(name: str) -> None:
    """Forget a custom op, restoring the catalog's record of that name if there is one."""
    if name in BUILTIN:
        OPS[name] = BUILTIN[name]
    else:
        OPS.pop(name, None)


def customised() -> bool:
    """Whether the op registry differs from the built-in catalog (custom ops, custom rules)."""
    return len(OPS) != len(BUILTIN) or any(OPS.get(name) is not record for name, record in BUILTIN.items())
