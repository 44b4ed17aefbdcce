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

import os
import time
import warnings
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
from .text import printable

FORMAT = "nasdsl-checkpoint/1"
MAX_EXPANSION = 4                # declared (decompressed) bytes per byte on disk: torch.save stores
MIN_ALLOWANCE = 64 * 2**20       # its members uncompressed, so a bigger ratio is a zip bomb
MAX_MEMBERS = 100_000            # files in one checkpoint archive


def load_search_checkpoint(path: Path) -> dict[str, Any]:
    """A search's `last.ckpt`, read with `weights_only=True`; a missing, corrupt or foreign file,
    or one whose metadata or weights are not of the expected types, is one NasError."""
    try:
        exists = Path(path).exists()
    except OSError as err:  # a name over the file-name limit, a loop of links
        raise NasError(f"cannot read {show_path(path)}: {os_reason(err)}") from None
    if not exists:
        raise NasError(f"--resume: no checkpoint at {show_path(path)} (a search writes last.ckpt after its first epoch)")
    ckpt = read_torch_file(path, "search checkpoint", "a corrupt checkpoint")
    if not isinstance(ckpt, dict) or "nasdsl" not in ckpt or "state_dict" not in ckpt:
        raise NasError(f"{show_path(path)} is not a nasdsl search checkpoint")
    meta, state = ckpt["nasdsl"], ckpt["state_dict"]
    if not isinstance(meta, dict) or not all(isinstance(meta.get(k), str) for k in ("fingerprint", "strategy")) \
            or not all(isinstance(meta.get(k, ""), str) for k in ("cells", "options", "space", "params")):
        raise NasError(f"{show_path(path)} is not a usable search checkpoint: its metadata is "
                       f"{'not a mapping' if not isinstance(meta, dict) else 'missing a field or of the wrong type'}")
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise NasError(f"{show_path(path)} is not a usable search checkpoint: its weights are not a mapping of "
                       "names to tensors")
    return ckpt


def save_checkpoint(path: str | Path, space: Space, strategy: str, model: nn.Module,
                    arch: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None,
                    preprocessing: Preprocessing | None = None) -> None:
    """Write `model` (a discrete model or a supernet of `space`) with everything needed to rebuild
    it, and `preprocessing`: how raw images of its data become its input."""
    from .version import __version__
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
        check_weights(self.state_dict, module, f"checkpoint of {show_path(self.space_file)} ({self.strategy})")
        try:
            module.load_state_dict(self.state_dict, strict=True)
        except RuntimeError as err:  # keys or shapes that do not match the rebuilt model
            raise NasError(f"checkpoint weights do not fit the {self.strategy} model of {self.space_file}: "
                           f"{str(err)[:300]}") from None
        return module


def read_torch_file(path: str | Path, what: str, corrupt: str) -> Any:
    """What `torch.save` wrote at `path`, read with `weights_only=True` (no code runs), bounded
    before any tensor is materialised: a regular file (never a FIFO or a device), a zip archive
    of at most `MAX_MEMBERS` members whose declared decompressed sizes add up to at most
    `MAX_EXPANSION` times the file's size (or `MIN_ALLOWANCE`) and to no more than the memory
    available. Anything else is one NasError: `{path} is {corrupt}: why`."""
    import zipfile

    from .limits import available_memory, byte_size, open_regular
    shown = show_path(path)
    with open_regular(path, what) as handle:
        size = os.fstat(handle.fileno()).st_size
        try:
            with zipfile.ZipFile(handle) as archive:
                members = archive.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as err:
            raise NasError(f"{shown} is {corrupt}: not a zip archive as torch.save writes ({str(err)[:100]})") from None
        if len(members) > MAX_MEMBERS:
            raise NasError(f"{shown} is {corrupt}: {len(members):,} files in its archive, the limit is {MAX_MEMBERS:,}")
        declared = sum(m.file_size for m in members)
        bound = max(MAX_EXPANSION * size, MIN_ALLOWANCE)
        available = available_memory()
        if available is not None:
            bound = min(bound, available)
        if declared > bound:
            raise NasError(f"{shown} is {corrupt}: its archive declares {byte_size(declared)} once decompressed from "
                           f"{byte_size(size)} on disk; the limit is {byte_size(bound)} (torch.save stores tensors "
                           "uncompressed; the memory available bounds it too)")
        handle.seek(0)
        try:
            with warnings.catch_warnings():   # torch's note on a corrupt file's protocol byte is not the user's
                warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
                return torch.load(handle, weights_only=True, map_location="cpu")
        except Exception as err:  # a corrupt or foreign file: say so, don't dump pickle internals
            raise NasError(f"{shown} is {corrupt}: {type(err).__name__}: "
                           f"{printable(str(err), one_line=True)[:160]}") from None


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint` (with `weights_only=True`: no code runs;
    bounded as `read_torch_file` says)."""
    if not os.path.lexists(path):
        raise NasError(f"no such checkpoint: {show_path(path)}")
    payload = read_torch_file(path, "checkpoint", "not a readable nasdsl checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise NasError(f"{path} is not a nasdsl checkpoint (expected format {FORMAT})")
    _check_payload(path, payload)
    space = payload["space"]
    pre = payload.get("preprocessing")
    return Checkpoint(payload["strategy"], payload["arch"], payload["state_dict"], space["file"],
                      space["sources"], space["params"], space["fingerprint"], payload.get("metadata") or {},
                      None if pre is None else Preprocessing.from_json(pre, f"{path} is not a usable nasdsl "
                                                                             "checkpoint: its preprocessing"))


def check_weights(state: Mapping[str, Any], module: nn.Module, where: str) -> None:
    """Refuse weights `state` that `module.load_state_dict(state, strict=True)` would not take:
    a missing or extra name, or a tensor of another shape, each named (the first one found),
    before torch fails somewhere less clear."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        name = printable(str((missing or extra)[0]), one_line=True)[:100]
        raise NasError(f"{where}: weights {'lack' if missing else 'hold an unknown'} {name!r} "
                       f"({len(missing)} missing, {len(extra)} unknown)")
    for key, tensor in own.items():
        value = state[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(tensor.shape):
            got = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise NasError(f"{where}: weight {printable(key, one_line=True)[:100]!r} is {got}, the model's is "
                           f"{list(tensor.shape)}")


def _check_payload(path: str | Path, payload: dict) -> None:
    """Every field `Checkpoint` reads, present and of its type; else one NasError naming it."""
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise NasError(f"{show_path(path)} is not a usable nasdsl checkpoint: {what}")
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
