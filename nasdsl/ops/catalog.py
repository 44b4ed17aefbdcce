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
  value choices in its arguments; without one a supernet keeps one module per combination.

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
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .rules import RULES, Rule

REQUIRED = object()
_R = REQUIRED

_CONV = (("in_channels", _R), ("out_channels", _R), ("kernel_size", _R), ("stride", 1),
         ("padding", 0), ("dilation", 1), ("groups", 1), ("bias", True), ("padding_mode", "zeros"))
_BN = (("num_features", _R), ("eps", 1e-5), ("momentum", 0.1), ("affine", True),
       ("track_running_stats", True))
_INPLACE = (("inplace", False),)

SIGNATURES: dict[str, tuple[tuple[str, object], ...]] = {
    "Conv1d": _CONV,
    "Conv2d": _CONV,
    "Linear": (("in_features", _R), ("out_features", _R), ("bias", True)),
    "BatchNorm1d": _BN,
    "BatchNorm2d": _BN,
    "LayerNorm": (("normalized_shape", _R), ("eps", 1e-5), ("elementwise_affine", True), ("bias", True)),
    "GroupNorm": (("num_groups", _R), ("num_channels", _R), ("eps", 1e-5), ("affine", True)),
    "MultiheadAttention": (("embed_dim", _R), ("num_heads", _R), ("dropout", 0.0), ("bias", True),
                           ("batch_first", True)),
    "ReLU": _INPLACE,
    "ReLU6": _INPLACE,
    "SiLU": _INPLACE,
    "Hardswish": _INPLACE,
    "Hardsigmoid": _INPLACE,
    "GELU": (("approximate", "none"),),
    "Sigmoid": (),
    "Tanh": (),
    "LeakyReLU": (("negative_slope", 0.01), ("inplace", False)),
    "Softmax": (("dim", _R),),
    "MaxPool2d": (("kernel_size", _R), ("stride", None), ("padding", 0), ("dilation", 1),
                  ("return_indices", False), ("ceil_mode", False)),
    "AvgPool2d": (("kernel_size", _R), ("stride", None), ("padding", 0), ("ceil_mode", False),
                  ("count_include_pad", True), ("divisor_override", None)),
    "AdaptiveAvgPool2d": (("output_size", _R),),
    "AdaptiveMaxPool2d": (("output_size", _R),),
    "AdaptiveAvgPool1d": (("output_size", _R),),
    "Flatten": (("start_dim", 1), ("end_dim", -1)),
    "Dropout": (("p", 0.5), ("inplace", False)),
    "Dropout2d": (("p", 0.5), ("inplace", False)),
    "Identity": (),
    "Zero": (("stride", 1), ("out_channels", None)),
    "FactorizedReduce": (("in_channels", _R), ("out_channels", _R), ("affine", True)),
    "ChannelShuffle": (("groups", _R),),
    "PadChannels": (("offset", _R), ("channels", _R)),
    "Narrow": (("dim", _R), ("start", _R), ("length", _R)),
    "Transpose": (("dim0", _R), ("dim1", _R)),
    "ClassToken": (("embed_dim", _R),),
    "PositionEmbedding": (("length", _R), ("embed_dim", _R)),
    "RelPosSelfAttention": (("embed_dim", _R), ("num_heads", _R), ("head_dim", 64), ("qkv_bias", True),
                            ("rpe", True), ("rpe_length", 14)),
    # more of torch.nn (issue 12), torch's names, parameters and defaults (tests/test_ops_torch.py)
    "Conv3d": _CONV,
    **{f"ConvTranspose{nd}d": (("in_channels", _R), ("out_channels", _R), ("kernel_size", _R), ("stride", 1),
                               ("padding", 0), ("output_padding", 0), ("groups", 1), ("bias", True), ("dilation", 1),
                               ("padding_mode", "zeros")) for nd in (1, 2, 3)},
    "BatchNorm3d": _BN,
    **{f"InstanceNorm{nd}d": (("num_features", _R), ("eps", 1e-5), ("momentum", 0.1), ("affine", False),
                              ("track_running_stats", False)) for nd in (1, 2, 3)},
    "MaxPool1d": (("kernel_size", _R), ("stride", None), ("padding", 0), ("dilation", 1),
                  ("return_indices", False), ("ceil_mode", False)),
    "MaxPool3d": (("kernel_size", _R), ("stride", None), ("padding", 0), ("dilation", 1),
                  ("return_indices", False), ("ceil_mode", False)),
    "AvgPool1d": (("kernel_size", _R), ("stride", None), ("padding", 0), ("ceil_mode", False),
                  ("count_include_pad", True)),
    "AvgPool3d": (("kernel_size", _R), ("stride", None), ("padding", 0), ("ceil_mode", False),
                  ("count_include_pad", True), ("divisor_override", None)),
    "AdaptiveMaxPool1d": (("output_size", _R),),
    "AdaptiveAvgPool3d": (("output_size", _R),),
    "AdaptiveMaxPool3d": (("output_size", _R),),
    "Upsample": (("size", None), ("scale_factor", None), ("mode", "nearest"), ("align_corners", None),
                 ("recompute_scale_factor", None)),
    "PixelShuffle": (("upscale_factor", _R),),
    "PixelUnshuffle": (("downscale_factor", _R),),
    "Unflatten": (("dim", _R), ("unflattened_size", _R)),
    "Reshape": (("shape", _R),),
    "Permute": (("dims", _R),),
    "LogSoftmax": (("dim", _R),),
    "Softmin": (("dim", _R),),
    "Embedding": (("num_embeddings", _R), ("embedding_dim", _R), ("padding_idx", None), ("max_norm", None),
                  ("norm_type", 2.0), ("scale_grad_by_freq", False), ("sparse", False)),
    "ELU": (("alpha", 1.0), ("inplace", False)),
    "CELU": (("alpha", 1.0), ("inplace", False)),
    "SELU": _INPLACE,
    "Mish": _INPLACE,
    "PReLU": (("num_parameters", 1), ("init", 0.25)),
    "Softplus": (("beta", 1.0), ("threshold", 20.0)),
    "Hardtanh": (("min_val", -1.0), ("max_val", 1.0), ("inplace", False)),
    "Tanhshrink": (),
    "Softsign": (),
    "LogSigmoid": (),
    "Hardshrink": (("lambd", 0.5),),
    "Softshrink": (("lambd", 0.5),),
    "GLU": (("dim", -1),),
    "Dropout1d": (("p", 0.5), ("inplace", False)),
    "Dropout3d": (("p", 0.5), ("inplace", False)),
    "AlphaDropout": (("p", 0.5), ("inplace", False)),
    "ZeroPad2d": (("padding", _R),),
}

# nasdsl's own modules (nasdsl.ops.modules); every other op is torch.nn's class of its name
_OURS = {"Zero": "Zero", "FactorizedReduce": "FactorizedReduce", "MultiheadAttention": "SelfAttention",
         "PadChannels": "PadChannels", "Narrow": "Narrow", "Transpose": "Transpose", "ClassToken": "ClassToken",
         "PositionEmbedding": "PositionEmbedding", "RelPosSelfAttention": "RelPosSelfAttention",
         "Reshape": "Reshape", "Permute": "Permute"}
_ENTANGLED = {"Conv1d": "MixedConv", "Conv2d": "MixedConv", "Conv3d": "MixedConv",
              "ConvTranspose1d": "MixedConv", "ConvTranspose2d": "MixedConv", "ConvTranspose3d": "MixedConv",
              "Linear": "MixedLinear", "BatchNorm1d": "MixedBatchNorm", "BatchNorm2d": "MixedBatchNorm",
              "BatchNorm3d": "MixedBatchNorm", "InstanceNorm1d": "MixedInstanceNorm",
              "InstanceNorm2d": "MixedInstanceNorm", "InstanceNorm3d": "MixedInstanceNorm",
              "GroupNorm": "MixedGroupNorm", "LayerNorm": "MixedLayerNorm", "Embedding": "MixedEmbedding",
              "PReLU": "MixedPReLU", "MultiheadAttention": "MixedAttention", "ClassToken": "MixedClassToken",
              "PositionEmbedding": "MixedPositionEmbedding", "RelPosSelfAttention": "MixedRelPosAttention"}


@dataclass(frozen=True)
class OpSpec:
    """Everything nasdsl knows about one op (see the module docstring). `builder` and
    `entangled` are `"module:attribute"` references resolved on first use, or, for a custom
    op, the constructor itself."""
    name: str
    params: tuple[tuple[str, object], ...]
    rule: Rule | None = None
    builder: str | Callable[..., Any] | None = None
    entangled: str | None = None
    custom: bool = False

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


OPS: dict[str, OpSpec] = {
    name: OpSpec(name, params, RULES.get(name),
                 f"nasdsl.ops.modules:{_OURS[name]}" if name in _OURS else f"torch.nn:{name}",
                 f"nasdsl.lower.mixed:{_ENTANGLED[name]}" if name in _ENTANGLED else None)
    for name, params in SIGNATURES.items()
}


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
    if name in SIGNATURES:
        OPS[name] = _CATALOG[name]
    else:
        OPS.pop(name, None)


_CATALOG = dict(OPS)
