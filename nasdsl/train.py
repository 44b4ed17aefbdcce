"""Retraining one architecture from scratch (or from a supernet's weights) and testing it.

`train_architecture` builds the discrete model of `arch` (`nasdsl.lower.discrete.build`),
trains it on the data's training split with SGD (momentum 0.9, Nesterov, weight decay 3e-4,
cosine learning rate, gradient norm clipped at 5, as DARTS retrains) and reports validation
and test accuracy with the model's parameters and FLOPs. It is a plain loop, not Lightning:
multi-trial search calls it once per trial and pays no trainer start-up.

Example::

    >>> import nasdsl
    >>> from nasdsl.data import fit_space, load_data
    >>> data = load_data("digits")
    >>> space = fit_space(lambda p: nasdsl.load("nasbench201", {"C": 4, "N": 1, **p}), data)
    >>> arch = space.sample(0)
    >>> result = train_architecture(space, arch, data, epochs=1, seed=0)
    >>> sorted(result)
    ['arch', 'epochs', 'flops', 'params', 'seconds', 'test_acc', 'train_loss', 'val_acc']
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .data import Data, check_classes, load_data
from .errors import NasError
from .limits import os_reason, show_path

__all__ = ["train_architecture", "evaluate", "inherited_weights"]


def train_architecture(space, arch: Mapping[str, Any], data: Data | str, epochs: int, seed: int = 0, *,
                       batch_size: int = 64, lr: float = 0.05, weight_decay: float = 3e-4,
                       grad_clip: float = 5.0, inherit: Mapping[str, torch.Tensor] | str | Path | None = None,
                       out: str | Path | None = None,
                       progress: Callable[[int, dict], None] | None = None,
                       device: str | torch.device = "cpu") -> dict[str, Any]:
    """Train `arch` of `space` for `epochs` epochs on `data` (a `Data` or a spec such as
    `"mnist5k"`) and return `{"val_acc", "test_acc", "params", "flops", "train_loss",
    "epochs", "seconds", "arch"}` (accuracies in [0, 1], FLOPs as multiply-adds per sample).

    `inherit` starts from a supernet's weights: a state dict, or a search's `last.ckpt`
    (its supernet's `sub_state_dict(arch)`). `out` writes `model.pt` (a nasdsl checkpoint
    that also records the data's input preprocessing, `Data.preprocessing`) and
    `result.json` there. `progress(epoch, metrics)` is called after every epoch. `device`:
    where it trains (`"cuda"`); the model written is on the CPU either way.
    The space must already fit the data (`nasdsl.data.fit_space`).
    """
    from .analysis.shapes import costs
    from .lower.discrete import build
    if epochs < 0:
        raise NasError(f"epochs must be at least 0, got {epochs}")
    if isinstance(data, str):
        data = load_data(data, seed)
    arch = space.validate(arch)
    torch.manual_seed(seed)
    model = build(space, arch)
    if inherit is not None:
        state = inherited_weights(space, arch, inherit) if not isinstance(inherit, Mapping) else inherit
        model.load_state_dict(state, strict=True)
    model.to(device)
    cost = costs(space, arch, validate=False)
    start = time.perf_counter()
    loader = data.loader("train", batch_size, shuffle=True, seed=seed, drop_last=len(data.train) > batch_size)
    steps = max(1, epochs * len(loader))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay) \
        if any(True for _ in model.parameters()) else None
    train_loss = math.nan
    step = 0
    for epoch in range(epochs):
        model.train()
        loader.sampler.set_epoch(epoch)
        total, count = 0.0, 0
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            out_ = model(x)
            if step == 0:
                check_classes(space, data, out_.shape[-1])
            loss = F.cross_entropy(out_, y)
            if optimizer is not None and loss.requires_grad:
                for group in optimizer.param_groups:  # cosine schedule per step
                    group["lr"] = 0.5 * lr * (1 + math.cos(math.pi * step / steps))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
            step += 1
            total += float(loss.detach()) * len(y)
            count += len(y)
        train_loss = total / max(count, 1)
        if progress is not None:
            progress(epoch, {"train_loss": train_loss})
    val_acc = evaluate(model, data.loader("val", 256))
    test_acc = evaluate(model, data.loader("test", 256))
    result = {"val_acc": val_acc, "test_acc": test_acc, "params": cost["params"], "flops": cost["flops"],
              "train_loss": train_loss, "epochs": epochs, "seconds": round(time.perf_counter() - start, 3),
              "arch": dict(arch)}
    if out is not None:
        _write(Path(out), space, model.cpu(), arch, result, data.preprocessing)
    return result


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader) -> float:
    """Top-1 accuracy of `model` (in eval mode) over a loader of (images, labels)."""
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    correct = total = 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        correct += int((model(x).argmax(-1) == y).sum())
        total += len(y)
    return correct / max(total, 1)


def inherited_weights(space, arch: Mapping[str, Any], checkpoint: str | Path) -> dict[str, torch.Tensor]:
    """The weights of `arch` cut out of a search's supernet checkpoint (`DIR/last.ckpt`)."""
    from .checkpoint import load_search_checkpoint
    from .strategy import build_supernet
    ckpt = load_search_checkpoint(Path(checkpoint))
    from .checkpoint import check_weights
    meta = ckpt["nasdsl"]
    if meta["fingerprint"] != space.fingerprint():
        raise NasError(f"{show_path(checkpoint)}: its supernet was searched on another space (fingerprint "
                       f"{meta['fingerprint']}, this space {space.fingerprint()}); use the same space and --set")
    net = build_supernet(space, meta["strategy"], seed=0, cells=meta.get("cells", "slot"))
    prefix = "supernet."
    state = {k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    check_weights(state, net, f"--inherit: {show_path(checkpoint)}")
    net.load_state_dict(state, strict=True)
    return net.sub_state_dict(arch)


def _write(out: Path, space, model, arch, result, preprocessing=None) -> None:
    from .checkpoint import save_checkpoint
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise NasError(f"cannot create {show_path(out)}: {os_reason(err)}") from None
    save_checkpoint(out / "model.pt", space, "discrete", model, arch=arch, metadata={"result": json.dumps(result)},
                    preprocessing=preprocessing)
    tmp = out / "result.json.tmp"
    tmp.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    tmp.replace(out / "result.json")
