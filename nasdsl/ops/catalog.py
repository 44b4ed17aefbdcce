"""Signatures of the ops a `.nas` file may call, without importing torch.

The elaborator needs each op's parameter names (to normalise positional arguments to
keywords, report unknown keywords and wrong arity, and name inline choices after the
parameter they sit in) long before anything is lowered. Names and keywords are torch's
own; `Zero` and `FactorizedReduce` are nasdsl's (stride-aware, as DARTS and NAS-Bench-201
need). Custom ops are added by `register_op` from Python, never from a `.nas` file.

Example::

    >>> [name for name, default in signature("Conv2d")[:4]]
    ['in_channels', 'out_channels', 'kernel_size', 'stride']
    >>> signature("Conv2d")[0][1] is REQUIRED, signature("Conv2d")[3][1]
    (True, 1)
"""
from __future__ import annotations

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
}

_CUSTOM: dict[str, tuple[tuple[str, object], ...]] = {}


def signature(name: str) -> tuple[tuple[str, object], ...] | None:
    """The (parameter, default) pairs of an op, or None if no such op is known."""
    return _CUSTOM.get(name, SIGNATURES.get(name))


def known_ops() -> list[str]:
    return sorted({*SIGNATURES, *_CUSTOM})


def register_signature(name: str, params: tuple[tuple[str, object], ...]) -> None:
    """Make a custom op callable from `.nas` files (used by `nasdsl.register_op`)."""
    if not name.isidentifier():
        raise ValueError(f"op name must be an identifier, got {name!r}")
    _CUSTOM[name] = params
