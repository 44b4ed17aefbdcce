"""Checkpoints: a model's weights together with the space that defines it.

A checkpoint stores the space's source files (the root and every import), the parameter
overrides, its fingerprint, the strategy (`discrete` or a one-shot strategy), the
architecture for discrete models, the `state_dict`, metadata and, for a model trained on
data, the input preprocessing (`nasdsl.preprocessing`: input shape, divisor, per-channel
mean and std of the training split, as plain numbers). It holds only plain data and
tensors, so `torch.load(path, weights_only=True)` reads it; `load_checkpoint` turns it back
into a model, recompiling the stored source and refusing a fingerprint mismatch.

Example::

    >>> import os, tempfile
    >>> from nasdsl.lower.discrete import build
    >>> space = nasdsl.load("nasbench201", {"C": 8, "N": 1})
    >>> arch = space.sample(seed=0)
    >>> model = build(space, arch)
    >>> path = os.path.join(tempfile.mkdtemp(), "nb201.pt")
    >>> save_checkpoint(path, space, "discrete", model, arch=arch)
    >>> restored = load_checkpoint(path).model()   # the same nn.Module, weights loaded strictly
    >>> all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), restored.state_dict().values()))
    True
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import NasError
from .limits import os_reason, show_path
from .preprocessing import Preprocessing
from .space import Space

FORMAT = "nasdsl-checkpoint/1"


def save_checkpoint(path: str | Path, space: Space, strategy: str, model: nn.Module,
                    arch: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None,
                    preprocessing: Preprocessing | None = None) -> None:
    """Write `model` (a discrete model or a supernet of `space`) with everything needed to rebuild
    it, and `preprocessing`: how raw images of its data become its input."""
    from . import __version__
    payload = {
        "format": FORMAT,
        "space": {"file": space.root_file, "sources": dict(space.sources), "params": dict(space.params),
                  "fingerprint": space.fingerprint()},
        "strategy": strategy,
        "arch": dict(arch) if arch is not None else None,
        "state_dict": model.state_dict(),
        "metadata": {"nasdsl": __version__, "torch": str(torch.__version__), "saved": time.time(),
                     **dict(metadata or {})},
        "preprocessing": None if preprocessing is None else preprocessing.to_json(),
    }
    try:
        with open(path, "wb") as handle:  # torch.save on a path hides the reason in a RuntimeError
            torch.save(payload, handle)
    except OSError as err:
        raise NasError(f"cannot write checkpoint {show_path(path)}: {os_reason(err)}") from None


@dataclass
class Checkpoint:
    """A loaded checkpoint; `space()` recompiles the stored source, `model()` rebuilds the module;
    `preprocessing` says how raw images become the model's input (None where not recorded)."""
    strategy: str
    arch: dict[str, Any] | None
    state_dict: dict[str, torch.Tensor]
    space_file: str
    sources: dict[str, str]
    params: dict[str, Any]
    fingerprint: str
    metadata: dict[str, Any] = field(default_factory=dict)
    preprocessing: Preprocessing | None = None

    def space(self) -> Space:
        from . import loads
        space = loads(self.sources[self.space_file], self.space_file, self.params, sources=self.sources)
        if space.fingerprint() != self.fingerprint:
            raise NasError(f"checkpoint space fingerprint {self.fingerprint} does not match the recompiled "
                           f"space {space.fingerprint()} (was it saved by another nasdsl version?)")
        return space

    def model(self, **options) -> nn.Module:
        """The discrete model or supernet, with the stored weights loaded strictly."""
        space = self.space()
        if self.strategy == "discrete":
            from .lower.discrete import build
            module = build(space, self.arch or {})
        else:
            from .strategy import build_supernet
            if isinstance(self.metadata.get("cells"), str):   # how its mixture relaxed cells
                options = {"cells": self.metadata["cells"], **options}
            module = build_supernet(space, self.strategy, **options)
        try:
            module.load_state_dict(self.state_dict, strict=True)
        except RuntimeError as err:  # keys or shapes that do not match the rebuilt model
            raise NasError(f"checkpoint weights do not fit the {self.strategy} model of {self.space_file}: "
                           f"{str(err)[:300]}") from None
        return module


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint` (with `weights_only=True`: no code runs)."""
    try:
        payload = torch.load(str(path), weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise NasError(f"no such checkpoint: {path}") from None
    except Exception as err:  # a corrupt or foreign file: say so, don't dump pickle internals
        raise NasError(f"{path} is not a readable nasdsl checkpoint: {type(err).__name__}: {str(err)[:200]}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise NasError(f"{path} is not a nasdsl checkpoint (expected format {FORMAT})")
    _check_payload(path, payload)
    space = payload["space"]
    pre = payload.get("preprocessing")
    return Checkpoint(payload["strategy"], payload["arch"], payload["state_dict"], space["file"],
                      space["sources"], space["params"], space["fingerprint"], payload.get("metadata") or {},
                      None if pre is None else Preprocessing.from_json(pre, f"{path} is not a usable nasdsl "
                                                                             "checkpoint: its preprocessing"))


def _check_payload(path: str | Path, payload: dict) -> None:
    """Every field `Checkpoint` reads, present and of its type; else one NasError naming it."""
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise NasError(f"{path} is not a usable nasdsl checkpoint: {what}")
    space = payload.get("space")
    need(isinstance(space, dict), "no 'space' record")
    need(isinstance(space.get("file"), str), "no space file name")
    sources = space.get("sources")
    need(isinstance(sources, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in sources.items()),
         "the space sources are not a mapping of file names to texts")
    need(space["file"] in sources, f"the space file {space['file']!r} is not among its stored sources")
    need(isinstance(space.get("params"), dict), "the space parameters are not a mapping")
    need(isinstance(space.get("fingerprint"), str), "no space fingerprint")
    need(isinstance(payload.get("strategy"), str), "no strategy")
    need(payload.get("arch") is None or isinstance(payload.get("arch"), dict), "the architecture is not a mapping")
    state = payload.get("state_dict")
    need(isinstance(state, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()),
         "the weights are not a mapping of names to tensors")
    need(payload.get("metadata") is None or isinstance(payload.get("metadata"), dict), "the metadata is not a mapping")
