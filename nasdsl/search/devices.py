"""Which accelerator a search trains on, and which GPUs each multi-trial worker gets.

`--workers N` on a machine with GPUs gives each worker its own: worker `i` sees (through
`CUDA_VISIBLE_DEVICES`, set in the worker before it touches CUDA) the `--gpus-per-trial` devices
that follow those of worker `i - 1`, round robin over the visible ones, so four workers on four
GPUs train on four devices, and more workers than devices share them evenly. Without GPUs
nothing is set. `torch_device(accelerator)` is the device the `train` evaluator trains on
(`--accelerator auto`: CUDA where available, as Lightning picks it for one-shot search).

Example::

    >>> plan(4, 1, ["0", "1", "2"])
    ['0', '1', '2', '0']
    >>> plan(2, 2, ["0", "1", "2", "3"])
    ['0,1', '2,3']
    >>> plan(2, 1, [])
    [None, None]
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from ..errors import NasError

ACCELERATORS = ("auto", "cpu", "gpu", "cuda")


def visible_gpus() -> list[str]:
    """The GPUs this process may use: `CUDA_VISIBLE_DEVICES` where set, else the CUDA devices
    torch counts (where torch is loaded already) or `nvidia-smi` lists (a torch-free search does
    not import torch to ask)."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        ids = [d.strip() for d in given.split(",") if d.strip()]
        return [] if ids[:1] == ["-1"] else ids
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        return [str(i) for i in range(torch.cuda.device_count())]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(listing.stdout.splitlines()) if line.startswith("GPU ")]


def plan(workers: int, per_trial: int, visible: list[str]) -> list[str | None]:
    """Each worker's `CUDA_VISIBLE_DEVICES` (None: leave it as it is)."""
    if not visible:
        return [None] * workers
    if per_trial > len(visible):
        raise NasError(f"--gpus-per-trial {per_trial}: only {len(visible)} GPU(s) visible ({','.join(visible)})")
    return [",".join(visible[(i * per_trial + k) % len(visible)] for k in range(per_trial)) for i in range(workers)]


def torch_device(accelerator: str) -> str:
    """The torch device the `train` evaluator uses for `--accelerator`."""
    import torch
    if accelerator not in ACCELERATORS:
        raise NasError(f"--accelerator {accelerator!r}: one of {', '.join(ACCELERATORS)}")
    if accelerator == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if accelerator == "auto":
        return "cpu"
    raise NasError(f"--accelerator {accelerator}: no CUDA device is visible")
