"""Where each submodule of a discrete model sits, for `nasdsl export` (`nasdsl.lower.export`):
the container tree `discrete.attach` builds for a graph's dotted module names (`stem.0`,
`stem.1` under an `nn.Sequential` `stem`), laid out with attach itself so the generated file
registers every module under the discrete model's `state_dict` key, and the Python that
reads or sets a submodule at a path of steps (`self.stem[0]`, `self.ops['op_2_0']`).

Example::

    >>> member_path((("attr", "stem"), ("index", 0))), member_path((("key", "keys"),))
    ('self.stem[0]', "self['keys']")
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..resolve import Cell, Graph
from . import discrete
from .pysource import plain_attr

# --- where each submodule sits ----------------------------------------------------------------

@dataclass(eq=False)
class Box:
    """A container holding submodules: one the discrete model creates for a dotted-name prefix
    (`stem` of `stem.0`), or a cell's `preprocess` / `ops`. `style` is the torch container
    that reproduces it: `seq` (children `0..n-1`), `list`, `dict`, or `ns` (the generated
    `Container`, for names an `nn.ModuleDict` reserves, such as `keys`)."""
    style: str
    children: dict[str, Any]
    name: str = ""                                            # the dotted prefix, for a graph's boxes
    graph_names: dict[str, str] = field(default_factory=dict)  # child key -> graph module name


class _Placeholder(nn.Module):
    """Stands for one graph submodule while `discrete.attach` lays out the dotted names, so the
    layout is attach's own, odd cases (a name under a real module gets flattened) included."""

    def __init__(self, name: str, spec: Any):
        super().__init__()
        self.graph_name = name
        self.spec = spec


MODULEDICT_ATTRS = frozenset(name for name in dir(nn.ModuleDict) if not name.startswith("_"))


def _box_style(keys: list[str]) -> str:
    if keys == [str(i) for i in range(len(keys))]:
        return "seq"
    if any(k in MODULEDICT_ATTRS for k in keys):
        return "ns"
    return "dict"


def graph_layout(g: Graph) -> Box:
    """The module tree `discrete.GraphModule` registers for `g`, leaves being records."""
    root = nn.Module()
    for name, spec in g.modules.items():
        discrete.attach(root, name, _Placeholder(name, spec))

    def convert(module: nn.Module, prefix: str) -> Box:
        children: dict[str, Any] = {}
        graph_names: dict[str, str] = {}
        for key, child in module._modules.items():
            if isinstance(child, _Placeholder):
                children[key] = child.spec
                graph_names[key] = child.graph_name
            else:
                children[key] = convert(child, f"{prefix}.{key}" if prefix else key)
        return Box(_box_style(list(children)), children, prefix, graph_names)

    return convert(root, "")


def class_members(spec: Any, layouts: dict[int, Box]) -> list[tuple[tuple, Any]]:
    """(step, child) for the attributes a generated class sets on `self`, in registration order."""
    if isinstance(spec, Graph):
        return [(("attr", k), child) for k, child in layouts[id(spec)].children.items()]
    return [(("attr", "preprocess"), layouts[id(spec)].children["preprocess"]),
            (("attr", "ops"), layouts[id(spec)].children["ops"]),
            (("attr", "postprocess"), spec.postprocess)]


def box_members(box: Box) -> list[tuple[tuple, Any]]:
    kind = {"seq": "index", "list": "index", "dict": "key", "ns": "attr"}[box.style]
    return [((kind, int(k) if kind == "index" else k), child) for k, child in box.children.items()]


def is_class(spec: Any) -> bool:
    return isinstance(spec, (Graph, Cell))


def member_path(steps: tuple, base: str = "self") -> str:
    """Python that reads the submodule at `steps` below `base`."""
    text = base
    for kind, key in steps:
        if kind == "index":
            text += f"[{key}]"
        elif plain_attr(key) and (kind == "attr" or key not in MODULEDICT_ATTRS):
            text += f".{key}"
        elif kind == "key":
            text += f"[{key!r}]"
        else:
            text = f"getattr({text}, {key!r})"
    return text


def member_assign(steps: tuple, value: str) -> str:
    """A statement that puts `value` at `steps` below `self`."""
    *head, (kind, key) = steps
    owner = member_path(tuple(head))
    if kind == "index":
        return f"{owner}[{key}] = {value}"
    if plain_attr(key) and (kind == "attr" or key not in MODULEDICT_ATTRS):
        return f"{owner}.{key} = {value}"
    if kind == "key":
        return f"{owner}[{key!r}] = {value}"
    return f"setattr({owner}, {key!r}, {value})"


def module_paths(layout: Box) -> dict[str, tuple]:
    """Graph module name -> steps from `self` to where attach put it."""
    out: dict[str, tuple] = {}

    def walk(box: Box, steps: tuple) -> None:
        members = box_members(box) if steps else [(("attr", k), c) for k, c in box.children.items()]
        for key, (step, child) in zip(box.children, members):
            if isinstance(child, Box):
                walk(child, steps + (step,))
            else:
                out[box.graph_names[key]] = steps + (step,)
    walk(layout, ())
    return out


def sequential_boxes(layout: Box) -> dict[str, tuple[tuple, Box]]:
    """First member's graph name -> (steps, box) for containers that can run as one Sequential."""
    out: dict[str, tuple[tuple, Box]] = {}

    def walk(box: Box, steps: tuple) -> None:
        members = box_members(box) if steps else [(("attr", k), c) for k, c in box.children.items()]
        for step, child in members:
            if not isinstance(child, Box):
                continue
            leaves = child.children and not any(isinstance(c, Box) for c in child.children.values())
            if child.style == "seq" and leaves:
                first = child.graph_names[next(iter(child.children))]
                out[first] = (steps + (step,), child)
            walk(child, steps + (step,))
    walk(layout, ())
    return out
