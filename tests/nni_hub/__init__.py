"""Side-by-side comparison of library spaces with NNI 3.0's hub.

One module per space in this package says how ours and NNI's relate:

* `SPACE`, `PARAMS`: our space (a built-in name or path) and its `param` overrides;
* `NNI`: the hub constructor call, e.g. ``"NasBench201()"``;
* `nni_label(label)`: NNI's label for one of ours (the label mapping);
* optional `nni_value(label, value)`: NNI's form of one of our values (default: unchanged);
* optional `ONLY_OURS` / `ONLY_NNI`: ``{label: why}`` for decisions one side has and the other
  does not (both empty for a like-for-like pair);
* optional `to_nni(space, arch)`: NNI's sample for one of our architectures, where the mapping
  is not label by label (default: map labels and values);
* optional `nni_extra_params(space, arch)`: parameters NNI's model has beyond ours, where it
  is known to build more than the original (default 0).

`compare(module)` checks that the decisions correspond one to one with the same domains and
that sampled architectures have the same parameter count on both sides. NNI cannot share our
environment (it needs an older Lightning), so it runs in its own venv as a subprocess:
`../shared/baselines/nni-venv.sh` builds one at /tmp/nni-venv; `NASDSL_NNI_PYTHON` points
elsewhere. `python bench/compare_nni.py` prints the table.
"""
from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import nasdsl
from nasdsl.analysis.shapes import costs

HERE = Path(__file__).resolve().parent
DEFAULT_NNI_PYTHON = Path("/tmp/nni-venv/bin/python")
SAMPLES = 3


def nni_python() -> str | None:
    """The Python of a venv with NNI 3.0, or None when there is none here."""
    path = os.environ.get("NASDSL_NNI_PYTHON") or (str(DEFAULT_NNI_PYTHON) if DEFAULT_NNI_PYTHON.exists() else None)
    return path if path and Path(path).exists() else None


def modules() -> list[ModuleType]:
    """Every comparison module of this package, by name."""
    names = sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if not m.name.startswith("_"))
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


def run_nni(expr: str, samples: list[dict], python: str) -> dict:
    """Decisions, parameter counts of `samples` and size of NNI's space `expr`."""
    request = json.dumps({"expr": expr, "samples": samples})
    done = subprocess.run([python, str(HERE / "_nni_side.py")], input=request, capture_output=True, text=True,
                          timeout=1200)
    if done.returncode:
        raise RuntimeError(f"NNI side failed for {expr}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def plain(value):
    """A JSON form of a value, as the NNI side writes it (tuples become lists)."""
    return json.loads(json.dumps(value))


def default_to_nni(module: ModuleType, space, arch: dict) -> dict:
    value = getattr(module, "nni_value", lambda label, v: v)
    return {module.nni_label(label): plain(value(label, v)) for label, v in arch.items()
            if label not in getattr(module, "ONLY_OURS", {})}


@dataclass
class Comparison:
    """What one module's comparison found; `problems` is empty when the spaces agree."""
    name: str
    ours_size: int
    ours_upper_bound: int  # product of our domain sizes, as NNI counts
    nni_size: int
    decisions: int
    nni_decisions: int
    params: list[tuple[int, int]] = field(default_factory=list)  # (ours, NNI) per sampled arch
    problems: list[str] = field(default_factory=list)


def compare(module: ModuleType, python: str) -> Comparison:
    space = nasdsl.load(module.SPACE, params=getattr(module, "PARAMS", {}))
    only_ours, only_nni = getattr(module, "ONLY_OURS", {}), getattr(module, "ONLY_NNI", {})
    value = getattr(module, "nni_value", lambda label, v: v)
    to_nni = getattr(module, "to_nni", None) or (lambda s, a: default_to_nni(module, s, a))
    archs = [space.sample(seed=seed) for seed in range(SAMPLES)]
    nni = run_nni(module.NNI, [to_nni(space, a) for a in archs], python)
    upper = 1
    for d in space.decisions:
        upper *= len(d.values)
    result = Comparison(module.__name__.rsplit(".", 1)[1], space.size(), upper, nni["size"],
                        len(space.decisions), len(nni["decisions"]))
    ours = {module.nni_label(d.label): d for d in space.decisions if d.label not in only_ours}
    theirs = {label: values for label, values in nni["decisions"].items() if label not in only_nni}
    for label in sorted(set(ours) - set(theirs)):
        result.problems.append(f"ours only: {ours[label].label} (NNI label {label})")
    for label in sorted(set(theirs) - set(ours)):
        result.problems.append(f"NNI only: {label} {theirs[label]}")
    for label in sorted(set(ours) & set(theirs)):
        d = ours[label]
        mine = sorted(json.dumps(plain(value(d.label, v))) for v in d.values)
        if mine != sorted(json.dumps(v) for v in theirs[label]):
            result.problems.append(f"{d.label} / {label}: ours {[json.loads(v) for v in mine]}, NNI {theirs[label]}")
    extra = getattr(module, "nni_extra_params", lambda s, a: 0)
    for arch, nni_params in zip(archs, nni["params"]):
        own = costs(space, arch)["params"] + extra(space, arch)
        result.params.append((own, nni_params))  # ours plus NNI's known extras
        if own != nni_params:
            result.problems.append(f"params of {arch}: ours {own:,}, NNI {nni_params:,}")
    result.problems += [f"NNI decision without domain: {o}" for o in nni["others"] if o.split(":")[0] not in only_nni]
    return result
