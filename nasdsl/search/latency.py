"""A latency lookup table fitted from measured latencies: an additive per-decision model.

`latency(arch) ~ base + sum over the active decisions d of w_d[arch[d]]`, the model of
ProxylessNAS's and FBNet's per-block lookup tables, fitted by least squares to a benchmark
table of measured latencies (rows keyed by NAS-Bench-201 string, as `--evaluator table:`
reads them). Each decision value is one indicator column; the system is rank-deficient (one
value per decision is redundant with `base`) and `numpy.linalg.lstsq` takes its minimum-norm
solution, which predicts the same. The fit's error on the table (RMSE, mean and largest
absolute error, R^2, Spearman's rank correlation) is stored with it.

The JSON it writes is what `--penalty LUT.json` reads (`{"base": c, label: {value: cost}}`,
plus `"fit"`: how it was fitted) and what `--constraint LUT.json<=X` predicts with.

`nasdsl fit-latency TABLE --column latency_pixel3 -o lut.json` runs it.

Example::

    >>> import nasdsl, pathlib, tempfile
    >>> space = nasdsl.load("nasbench201")
    >>> from nasdsl.formats import arch_to_nb201
    >>> rows = {}
    >>> for seed in range(40):   # a latency that is exactly additive: 1 + 2 per conv3x3
    ...     arch = space.sample(seed)
    ...     rows[arch_to_nb201(space, arch)] = {"lat": 1.0 + 2.0 * list(arch.values()).count("nor_conv_3x3")}
    >>> model = LatencyModel.fit(space, rows, "lat")
    >>> round(model.fit_info["rmse"], 9), round(model.predict(space.sample(choose=lambda d: "nor_conv_3x3")), 6)
    (0.0, 13.0)
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..arch import value_name
from ..errors import NasError


class LatencyModel:
    """`base` plus one cost per (decision, value); `fit_info` says how it was fitted."""

    def __init__(self, base: float, table: Mapping[str, Mapping[str, float]], fit_info: Mapping[str, Any] | None = None):
        self.base, self.table, self.fit_info = float(base), {k: dict(v) for k, v in table.items()}, dict(fit_info or {})

    def predict(self, arch: Mapping[str, Any]) -> float:
        return self.base + sum(self.table.get(label, {}).get(value_name(v), 0.0) for label, v in arch.items())

    @classmethod
    def fit(cls, space, rows: Mapping[str, Mapping[str, float]], column: str) -> LatencyModel:
        """Least squares over the rows (NB201 string -> metrics) that have `column`."""
        import numpy as np

        from ..formats import nb201_to_arch
        columns = [(d.label, value_name(v)) for d in space.order for v in d.values]
        index = {c: i for i, c in enumerate(columns)}
        archs, ys = [], []
        for key, metrics in rows.items():
            value = metrics.get(column)
            if value is None or not math.isfinite(value):
                continue
            archs.append(nb201_to_arch(space, key))
            ys.append(float(value))
        if len(archs) < 2:
            raise NasError(f"fit-latency: {len(archs)} rows have a value in column {column!r}; at least 2 are needed")
        x = np.zeros((len(archs), len(columns) + 1))
        x[:, -1] = 1.0
        for r, arch in enumerate(archs):
            for label, v in arch.items():
                x[r, index[(label, value_name(v))]] = 1.0
        y = np.array(ys)
        w, *_ = np.linalg.lstsq(x, y, rcond=None)
        predicted = x @ w
        table: dict[str, dict[str, float]] = {}
        for (label, shown), cost in zip(columns, w[:-1]):
            table.setdefault(label, {})[shown] = round(float(cost), 9)
        err = predicted - y
        total = float(((y - y.mean()) ** 2).sum())
        info = {"column": column, "rows": len(ys), "rmse": float(np.sqrt((err ** 2).mean())),
                "mae": float(np.abs(err).mean()), "max_abs": float(np.abs(err).max()),
                "r2": 1.0 - float((err ** 2).sum()) / total if total > 0 else 1.0,
                "spearman": _spearman(predicted, y), "mean": float(y.mean())}
        return cls(round(float(w[-1]), 9), table, info)

    def to_json(self) -> dict[str, Any]:
        return {"base": self.base, **self.table, "fit": self.fit_info}

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def read(cls, space, path: str | Path) -> LatencyModel:
        """A lookup table from JSON, every label and value checked against `space`."""
        try:
            data = json.loads(Path(path).read_text())
        except OSError as err:
            raise NasError(f"cannot read latency table {path}: {err.strerror}") from None
        except ValueError as err:
            raise NasError(f"latency table {path} is not JSON: {err}") from None
        if not isinstance(data, Mapping):
            raise NasError(f"latency table {path} must be a JSON object, got {type(data).__name__}")
        labels = {d.label: {value_name(v) for v in d.values} for d in space.decisions}
        table = {}
        for label, row in data.items():
            if label in ("base", "fit"):
                continue
            if label not in labels:
                raise NasError(f"latency table {path}: no decision {label!r} in the space")
            if not isinstance(row, Mapping) or not all(isinstance(c, (int, float)) for c in row.values()):
                raise NasError(f"latency table {path}: {label!r} must map each value to a number")
            unknown = sorted(set(row) - labels[label])
            if unknown:
                raise NasError(f"latency table {path}: {label!r} has no value {unknown[0]!r}")
            table[label] = row
        return cls(float(data.get("base", 0.0)), table, data.get("fit"))

    def report(self) -> str:
        f = self.fit_info
        return (f"fitted {f['rows']:,} rows of {f['column']} (mean {f['mean']:.4g}): RMSE {f['rmse']:.4g}, "
                f"mean abs error {f['mae']:.4g}, max abs error {f['max_abs']:.4g}, R^2 {f['r2']:.4f}, "
                f"Spearman rho {f['spearman']:.4f}")


def _spearman(a, b) -> float:
    """Spearman's rank correlation (tied values share their mean rank)."""
    import numpy as np

    def ranks(x):
        values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
        ends = np.cumsum(counts)
        return ((ends - counts + ends - 1) / 2.0)[inverse]
    ra, rb = ranks(np.asarray(a)), ranks(np.asarray(b))
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def fit_latency(table_path: str, column: str, out: str, space_name: str = "nasbench201") -> int:
    """`nasdsl fit-latency TABLE --column C -o OUT`: fit, write, print the error on the table."""
    import nasdsl

    from .tables import read_table
    space = nasdsl.load(space_name)
    rows, columns = read_table(Path(table_path))
    if column not in columns:
        raise NasError(f"table {table_path} has no column {column!r} (its columns: {', '.join(columns)})")
    model = LatencyModel.fit(space, rows, column)
    model.write(out)
    print(model.report())
    print(f"wrote {out}: base + one cost per decision value ({sum(map(len, model.table.values()))} values); "
          f"use it as --penalty {out} or --constraint {out}<=X")
    return 0

