"""Input preprocessing: how a data set's raw images become what a trained network takes.

A network trained by nasdsl never sees the images as the data set ships them: `nasdsl.data`
scales them to [0, 1] and standardises each channel with the training split's mean and
deviation. `Preprocessing` records exactly that, so that a deployed network can be fed raw
images: the shape one image has, the divisor, the per-channel mean and deviation (in the
scaled units, as `nasdsl.data` computed them, float32 values kept exactly), and how the data
set ships its images. Applied to raw `x` of shape `[batch, *shape]`:

    ``(x / divisor - mean[c]) / std[c]``   (in float32, the operations `nasdsl.data` runs)

Without `mean` and `std` the network takes the data as given (a user's own data module
standardises, or not, as it likes) and only the shape is known. The record is plain data
(`to_json` / `from_json`): a run's `run.json`, a checkpoint (`nasdsl.checkpoint`) and the
exported source (`nasdsl.lower.export`) all carry it. This module imports no torch.

Example::

    >>> p = Preprocessing(shape=(1, 8, 8), divisor=16.0, mean=(0.25,), std=(0.5,),
    ...                   raw="sklearn.datasets.load_digits().images[:, None]: floats 0..16")
    >>> Preprocessing.from_json(p.to_json()) == p
    True
    >>> p.describe()
    'x / 16 per channel minus mean (0.25) over std (0.5), input [1, 8, 8]'
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import NasError

__all__ = ["Preprocessing"]


@dataclass(frozen=True)
class Preprocessing:
    """What a network of a run takes, and how raw images of its data set become that."""
    shape: tuple[int, ...]
    divisor: float = 1.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    raw: str = ""

    @property
    def normalises(self) -> bool:
        """Whether raw images are scaled and standardised (else the network takes them as given)."""
        return self.mean is not None

    def to_json(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "divisor": self.divisor,
                "mean": None if self.mean is None else list(self.mean),
                "std": None if self.std is None else list(self.std), "raw": self.raw}

    @classmethod
    def from_json(cls, value: Any, where: str = "preprocessing") -> Preprocessing:
        """The record `to_json` wrote; anything malformed is one NasError naming `where`.

        Example::

            >>> Preprocessing.from_json({"shape": [1, 8, 8], "mean": [0.1], "std": [0.0]})
            Traceback (most recent call last):
            ...
            nasdsl.errors.NasError: preprocessing: std must be finite positive numbers, got [0.0]
        """
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise NasError(f"{where}: {what}")
        need(isinstance(value, Mapping), "not a JSON object")
        shape = value.get("shape")
        need(isinstance(shape, list) and bool(shape) and all(type(d) is int and d > 0 for d in shape),
             f"shape must be a list of positive integers, got {shape!r}")
        divisor = value.get("divisor", 1.0)
        need(_positive(divisor), f"divisor must be a finite positive number, got {divisor!r}")
        mean, std = value.get("mean"), value.get("std")
        need((mean is None) == (std is None), "mean and std go together")
        if mean is not None:
            need(isinstance(mean, list) and len(mean) == shape[0] and all(_finite(m) for m in mean),
                 f"mean must be {shape[0]} finite numbers (one per channel), got {mean!r}")
            need(isinstance(std, list) and len(std) == shape[0] and all(_positive(s) for s in std),
                 f"std must be finite positive numbers, got {std!r}")
        raw = value.get("raw", "")
        need(isinstance(raw, str), "raw must be a text")
        return cls(tuple(shape), float(divisor), None if mean is None else tuple(float(m) for m in mean),
                   None if std is None else tuple(float(s) for s in std), raw)

    def describe(self) -> str:
        """One line: what is done to a raw image, and the input shape."""
        shape = f"input {list(self.shape)}"
        if not self.normalises:
            return f"none (the data as given), {shape}"
        scale = f"x / {self.divisor:g}" if self.divisor != 1 else "x"
        return (f"{scale} per channel minus mean ({', '.join(f'{m:.6g}' for m in self.mean)}) over std "
                f"({', '.join(f'{s:.6g}' for s in self.std)}), {shape}")


def _finite(v: Any) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


def _positive(v: Any) -> bool:
    return _finite(v) and v > 0
