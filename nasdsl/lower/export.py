"""Export one architecture as standalone PyTorch source: `nasdsl export FILE --arch ARCH`.

`export_source(space, arch)` writes a Python file that needs only torch. It builds the very
model `nasdsl.lower.discrete.build(space, arch)` builds: the same submodules under the same
names (so the same `state_dict()` keys, shapes and order, and weights load with
`strict=True`) running the same computation. But it reads like hand-written PyTorch:

* submodules are constructed in `__init__` under their source names, op arguments written as
  Python literals; dotted names (`stem.0`, `stem.1`) become an `nn.Sequential` (or an
  `nn.ModuleDict`) named `stem`, exactly where the discrete model puts its containers;
* `forward` is straight-line code over named tensors (`stem = self.stem(x)`), with no
  interpreter loop and no choice logic;
* each block with tensor inputs and each cell becomes a class. Instances with the same
  structure share one class, and the arguments that differ between them (a stage's channel
  count, say) become its constructor parameters;
* nasdsl's own ops (`Zero`, `FactorizedReduce`, `SelfAttention`) are copied in only when
  used; custom ops (`register_op`) are imported from the module that defines them;
* given the run's input `preprocessing` (`nasdsl.preprocessing`, from a run directory's
  `run.json`), the file states the input shape and the normalisation constants, and the
  network's first step is a generated `Normalize` module: the network takes the data set's
  raw images. Its constants are non-persistent buffers, outside the `state_dict`, so the
  run's `model.pt` still loads strictly, and the file stays the one place they are written.

The file is written from data: where each submodule sits (`nasdsl.lower.placement`) and the
generated code as expressions before it is text (`nasdsl.lower.pysource`).

Example::

    >>> space = nasdsl.load("nasbench201", {"C": 8, "N": 1})
    >>> source = export_source(space, space.sample(seed=0))
    >>> namespace = {}
    >>> exec(compile(source, "model.py", "exec"), namespace)
    >>> namespace["build"]()(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 10])

    $ nasdsl export nasbench201 -o model.py --arch \\
        '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|'
"""
from __future__ import annotations

import inspect
import json
import re
import textwrap
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from .. import resolve
from ..errors import NasError
from ..ops import catalog
from ..ops.modules import builder_arguments
from ..preprocessing import Preprocessing
from ..space import Space
from ..values import evaluate
from . import discrete
from .passes import layout_safe
from .placement import (
    Box,
    box_members,
    class_members,
    graph_layout,
    is_class,
    member_assign,
    member_path,
    module_paths,
    sequential_boxes,
)
from .pysource import (
    NO_DEFAULT,
    OMIT,
    WIDTH,
    Call,
    DictOf,
    ListOf,
    Names,
    Slot,
    camel,
    fmt,
    identifier,
    inert,
    literal,
    literal_key,
    same,
    shape_of,
    slots_of,
    wrap_json,
)


def export_source(space: Space, arch: Mapping[str, Any], check: bool = True,
                  channels_last: bool | None = None, preprocessing: Preprocessing | None = None) -> str:
    """Standalone PyTorch source for one architecture of `space`.

    The architecture is validated first. With `check` the discrete model is also built once,
    so that op arguments torch rejects surface here as a `NasError` naming the place in the
    `.nas` file, not later as a traceback from the generated file. `channels_last`: the
    network's forward puts image (4-d) CPU inputs in the channels-last layout first (default:
    where `discrete.build` does, `passes.layout_safe`). `preprocessing`: the network takes raw
    images and normalises them first (`Network(raw) == discrete model((raw / divisor - mean)
    / std)`); without it, it takes what the discrete model takes.
    """
    if channels_last is None:
        channels_last = layout_safe(space.template)
    arch = space.validate(arch)
    if preprocessing is not None:
        shapes = list(space.input_shapes.values())
        if len(shapes) != 1 or shapes[0] is None or tuple(shapes[0]) != tuple(preprocessing.shape):
            raise NasError(f"{space.root_file}: the network takes input {[list(s) if s else s for s in shapes]}, "
                           f"its preprocessing gives {list(preprocessing.shape)}")
    root = resolve.resolve(space, arch, validate=False)
    if check:
        discrete.build_resolved(root)
    return _Writer(space, arch, root, channels_last, preprocessing).source()


# --- what the discrete model holds, as data -------------------------------------------------
# The architecture resolved once (`nasdsl.resolve`), the very records `discrete.build` makes
# modules of: a layer the source uses in two places is one record in two places, as it is one
# module there.

_Op, _Chain, _Graph, _Cell = resolve.Op, resolve.Chain, resolve.Graph, resolve.Cell


# --- the ops a file uses ----------------------------------------------------------------------

_HELPERS = {"Chain": discrete.Chain}

_CONTAINER_SOURCE = '''class Container(nn.Module):
    """A plain container: submodules under the names the source gave them."""

    def __init__(self, modules):
        super().__init__()
        for name, module in modules.items():
            self.add_module(name, module)
'''


class _Library:
    """What the generated file must define or import to construct its ops.

    torch's own ops are `nn.X`; nasdsl's (`Zero`, `FactorizedReduce`, `SelfAttention`) are
    copied in, since the file may not import nasdsl; custom ops are imported from the module
    that defines them, which is all the file can know of them.
    """

    def __init__(self, names: Names):
        self.names = names
        self.refs: dict[str, str] = {}           # op name -> constructor expression
        self.copied: dict[str, str] = {}         # class name in the file -> source
        self.defined: dict[str, str] = {}        # original class name -> its name in the file
        self.imports: list[tuple[str, str, str, str]] = []  # (module, imported, alias, op name)
        self.signatures: dict[str, inspect.Signature | None] = {}

    def constructor(self, op_name: str) -> str:
        if op_name not in self.refs:
            self.refs[op_name] = self._resolve(op_name)
        return self.refs[op_name]

    def _resolve(self, op_name: str) -> str:
        record = catalog.spec(op_name)
        builder = None if record is None else record.torch_builder()
        if builder is None:
            raise NasError(f"op {op_name!r} has no PyTorch implementation registered")
        self.signatures[op_name] = _signature(builder)
        name = getattr(builder, "__name__", None)
        if name and getattr(nn, name, None) is builder:
            return f"nn.{name}"
        module = getattr(builder, "__module__", None) or ""
        qualname = getattr(builder, "__qualname__", None) or ""
        if module.split(".")[0] == "nasdsl" and inspect.isclass(builder):
            return self._copy(builder)
        if not qualname or "<" in qualname or module in ("", "__main__"):
            raise NasError(f"custom op {op_name!r} ({builder!r}) cannot be exported: the generated file imports "
                           f"custom ops from their module, so define it at the top level of an importable module")
        top, _, rest = qualname.partition(".")
        alias = self.names.fresh(top)
        self.imports.append((module, top, alias, op_name))
        return alias + ("." + rest if rest else "")

    def _copy(self, cls: type) -> str:
        return self._define(cls.__name__, lambda: inspect.getsource(cls))

    def helper(self, which: str) -> str:
        """`Chain` (a Sequential of multi-tensor steps) or `Container`, defined once if used."""
        return self._define(which, lambda: inspect.getsource(_HELPERS[which]) if which in _HELPERS
                            else _CONTAINER_SOURCE)

    def _define(self, name: str, source: Callable[[], str]) -> str:
        """Copy a class into the file once, renamed if a custom op took its name first."""
        if name not in self.defined:
            fresh = self.names.fresh(name, sep="")
            text = re.sub(rf"^class {name}\b", f"class {fresh}", source(), count=1, flags=re.M)
            self.defined[name] = fresh
            self.copied[fresh] = text
        return self.defined[name]

    def signature(self, op_name: str) -> inspect.Signature | None:
        self.constructor(op_name)
        return self.signatures[op_name]


def _signature(builder: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(builder)
    except (TypeError, ValueError):
        return None


# --- classes ----------------------------------------------------------------------------------

@dataclass(eq=False)
class _Draft:
    """One class instance's code, before its class is named and its parameters chosen."""
    spec: Any
    base_name: str
    doc: str
    init: list[tuple]            # ("set", steps, expr) | ("tie", target steps, source steps)
    args: list[str]
    forward: list[str]
    slots: list[Slot] = field(default_factory=list)
    key: str = ""


@dataclass(eq=False)
class _Class:
    name: str
    drafts: list[_Draft]
    params: list[str]
    resolution: list[Any]  # per slot index: a parameter name, or ("const", value)


class _Writer:
    """Turns the records of one architecture into the text of a module."""

    def __init__(self, space: Space, arch: Mapping[str, Any], root: _Graph, channels_last: bool,
                 preprocessing: Preprocessing | None = None):
        self.space, self.arch, self.root = space, arch, root
        self.channels_last = channels_last
        self.preprocessing = preprocessing
        self.names = Names({"torch", "nn", "Network", "build"})
        self.lib = _Library(self.names)
        self.layouts: dict[int, Box] = {}
        self.instantiation: dict[int, Call] = {}
        self.ties: dict[int, list[tuple[tuple, tuple]]] = {}
        self.first_seen: list[Any] = []  # class records in the order they appear

    # -- structure

    def source(self) -> str:
        self._lay_out(self.root)
        inputs = self._input_names() if self.preprocessing is not None else None
        self._reserve_library(self.root, set())
        self._find_ties()
        classes = self._make_classes()
        network = self._draft(self.root, "Network", self._network_doc())
        network.forward[:0] = self._layout_lines(network.args)
        preamble = []
        if inputs is not None:
            attr = self._free_attr("normalize")
            preamble = self._input_blocks(inputs, attr)
            if self.preprocessing.normalises:
                network.init.insert(0, ("set", (("attr", attr),), Call(inputs["class"], [])))
                network.forward[:0] = [f"{network.args[0]} = self.{attr}({network.args[0]})  # raw images in"]
        network_class = _Class("Network", [network], [], [("const", s.value) for s in network.slots])
        head = self._header() + "\nimport torch\nfrom torch import nn\n"
        for module, top, alias, _ in self.lib.imports:
            head += f"from {module} import {top}" + (f" as {alias}\n" if alias != top else "\n")
        blocks = [*preamble, *self.lib.copied.values(),
                  *(self._render_class(c) for c in classes + [network_class]), self._footer()]
        return head + "".join("\n\n" + b.rstrip("\n") + "\n" for b in blocks)

    # -- the input: shape and normalisation of raw images

    def _input_names(self) -> dict[str, str]:
        """Module-level names of the input constants and the Normalize class, taken first."""
        names = {"shape": self.names.fresh("INPUT_SHAPE")}
        if self.preprocessing.normalises:
            names.update(divisor=self.names.fresh("INPUT_DIVISOR"), mean=self.names.fresh("INPUT_MEAN"),
                         std=self.names.fresh("INPUT_STD"), **{"class": self.names.fresh("Normalize")})
        return names

    def _free_attr(self, hint: str) -> str:
        """An attribute name of the network that no submodule of it uses."""
        taken = Names(self.layouts[id(self.root)].children)
        return taken.fresh(hint)

    def _input_blocks(self, names: dict[str, str], attr: str) -> list[str]:
        """The input constants and, where the run normalised its data, the Normalize class."""
        p = self.preprocessing
        shape = tuple(p.shape)
        lines = [f"# The input: {inert(p.raw) or 'images'}.",
                 f"{names['shape']} = {literal(shape)}  # one sample, as the network takes it"]
        if not p.normalises:
            lines.insert(1, "# The network takes them as given: the run recorded no normalisation.")
            return ["\n".join(lines) + "\n"]
        lines[1:1] = [f"# Network normalises them itself (`{names['class']}`, its first step), with the constants the run",
                      "# computed on its training split: feed raw images, as the data set ships them. To feed",
                      f"# images already standardised, set `model.{attr} = nn.Identity()`."]
        lines += [f"{names['divisor']} = {literal(float(p.divisor))}  # raw values are divided by this first",
                  f"{names['mean']} = {literal(tuple(p.mean))}  # then, per channel, minus this",
                  f"{names['std']} = {literal(tuple(p.std))}  # and over this"]
        cls = (f"class {names['class']}(nn.Module):\n"
               '    """Raw images to the network\'s input: (x / divisor - mean) / std per channel, in float32 as\n'
               "    nasdsl's data pipeline computed it in training. The constants are buffers outside the\n"
               '    state_dict, so the weights of the network (nasdsl\'s model.pt) load with strict=True."""\n\n'
               f"    def __init__(self, divisor={names['divisor']}, mean={names['mean']}, std={names['std']}):\n"
               "        super().__init__()\n"
               "        self.divisor = divisor\n"
               f"        view = (1, len(mean)) + (1,) * (len({names['shape']}) - 1)\n"
               '        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(view), persistent=False)\n'
               '        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(view), persistent=False)\n\n'
               "    def forward(self, x):\n"
               f"        if tuple(x.shape[1:]) != {names['shape']}:\n"
               f'            raise ValueError(f"expected a batch of inputs of shape {{list({names["shape"]})}}, '
               'got {list(x.shape)}")\n'
               "        return (x.to(self.mean.dtype) / self.divisor - self.mean) / self.std\n")
        return ["\n".join(lines) + "\n", cls]

    def _lay_out(self, spec: Any, seen: set | None = None) -> None:
        """Compute every class record's member layout (once per record)."""
        seen = set() if seen is None else seen
        if id(spec) in seen:
            return
        seen.add(id(spec))
        if isinstance(spec, _Graph):
            self.layouts[id(spec)] = graph_layout(spec)
        elif isinstance(spec, _Cell):
            pre = Box("list", {str(i): p for i, p in enumerate(spec.preprocess)})
            self.layouts[id(spec)] = Box("dict", {"preprocess": pre, "ops": Box("dict", dict(spec.ops))})
        if is_class(spec) and spec is not self.root:
            self.first_seen.append(spec)
        for child in self._children(spec):
            self._lay_out(child, seen)

    def _children(self, node: Any) -> list:
        if isinstance(node, Box):
            return list(node.children.values())
        if isinstance(node, _Chain):
            return list(node.items)
        if is_class(node):
            return [child for _, child in class_members(node, self.layouts)]
        return []

    def _members(self, node: Any) -> list[tuple[tuple, Any]]:
        if isinstance(node, Box):
            return box_members(node)
        if isinstance(node, _Chain):
            return [(("index", i), item) for i, item in enumerate(node.items)]
        if is_class(node):
            return class_members(node, self.layouts)
        return []

    def _reserve_library(self, node: Any, seen: set) -> None:
        """Name every op constructor and helper before any class, so copied classes keep their names."""
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, _Op):
            self.lib.constructor(node.name)
        elif isinstance(node, _Chain) and node.multi:
            self.lib.helper("Chain")
        elif isinstance(node, Box) and node.style == "ns":
            self.lib.helper("Container")
        for child in self._children(node):
            self._reserve_library(child, seen)

    def _find_ties(self) -> None:
        """Where the discrete model holds one module in several places (a layer used twice),
        construct it once and assign it to the others, in the innermost class holding both."""
        first: dict[int, tuple[tuple, tuple]] = {}  # id(record) -> (frames, steps)

        def visit(node: Any, frames: tuple, steps: tuple) -> None:
            for step, child in self._members(node):
                here = steps + (step,)
                if id(child) in first:
                    self._tie(frames, here, *first[id(child)])
                    continue
                if not isinstance(child, Box):
                    first[id(child)] = (frames, here)
                inner = frames + ((len(here), child),) if is_class(child) else frames
                visit(child, inner, here)

        visit(self.root, ((0, self.root),), ())

    def _tie(self, frames: tuple, steps: tuple, first_frames: tuple, first_steps: tuple) -> None:
        common = 0
        while (common < min(len(frames), len(first_frames)) and frames[common][1] is first_frames[common][1]
               and frames[common][0] == first_frames[common][0]
               and steps[:frames[common][0]] == first_steps[:frames[common][0]]):
            common += 1
        start, owner = frames[common - 1]
        self.ties.setdefault(id(owner), []).append((steps[start:], first_steps[start:]))

    # -- classes

    def _make_classes(self) -> list[_Class]:
        """Draft every block and cell instance bottom-up, group drafts of equal shape into one
        class each, and choose the parameters that tell the instances apart."""
        heights: dict[int, int] = {}
        for spec in self.first_seen:
            self._height(spec, heights)
        classes: list[_Class] = []
        for level in sorted(set(heights.values())):
            groups: dict[str, list[_Draft]] = {}
            for spec in self.first_seen:
                if heights[id(spec)] == level:
                    draft = self._draft(spec, *self._naming(spec))
                    groups.setdefault(draft.key, []).append(draft)
            for drafts in groups.values():
                cls = self._group_class(drafts)
                classes.append(cls)
                for draft in drafts:
                    self.instantiation[id(draft.spec)] = self._instantiate(cls, draft)
        return classes

    def _height(self, spec: Any, heights: dict[int, int]) -> int:
        if id(spec) not in heights:
            inner = self._inner_classes(spec, set())
            heights[id(spec)] = 1 + max((self._height(c, heights) for c in inner), default=-1)
        return heights[id(spec)]

    def _inner_classes(self, node: Any, seen: set) -> list:
        out = []
        for child in self._children(node):
            if id(child) in seen:
                continue
            seen.add(id(child))
            out += [child] if is_class(child) else self._inner_classes(child, seen)
        return out

    def _naming(self, spec: Any) -> tuple[str, str]:
        """A class name and docstring: the block's name in the source, or the cell's label."""
        file = _show_path(spec.source.loc.file)
        if isinstance(spec, _Cell):
            label = spec.source.label
            base = camel(label) + ("" if label.lower().endswith("cell") else "Cell")
            nodes, per = len(spec.source.nodes), len(spec.source.nodes[0]) if spec.source.nodes else 0
            return base, (f'Cell "{label}" of {file}: {nodes} nodes, each the sum of {per} op(s) on earlier '
                          f'states; the output {"concatenates" if len(spec.merge) > 1 else "is"} node(s) '
                          f'{", ".join(map(str, spec.merge))}.')
        block = spec.source.block
        if block:
            return camel(block) if block[:1].islower() else block, f"Block `{block}` of {file}."
        return "Block", f"The block at {file}:{spec.source.loc.line}."

    def _draft(self, spec: Any, base_name: str, doc: str) -> _Draft:
        init: list[tuple] = [("set", (step,), self._expr(child)) for step, child in class_members(spec, self.layouts)]
        init += [("tie", target, source) for target, source in self.ties.get(id(spec), [])]
        args, forward = (self._graph_forward(spec) if isinstance(spec, _Graph) else _cell_forward(spec))
        draft = _Draft(spec, base_name, doc, init, args, forward)
        for item in init:
            if item[0] == "set":
                slots_of(item[2], draft.slots)
        draft.key = "\n".join([base_name, doc, *args, *forward] + [
            f"{member_path(i[1])}={shape_of(i[2])}" if i[0] == "set" else f"{member_path(i[1])}<-{member_path(i[2])}"
            for i in init])
        return draft

    def _expr(self, node: Any) -> Any:
        """The constructor expression of a record, a container, or a class instance."""
        if isinstance(node, _Op):
            return self._op_call(node)
        if isinstance(node, _Chain):
            func = self.lib.helper("Chain") if node.multi else "nn.Sequential"
            return Call(func, [(None, self._expr(item)) for item in node.items])
        if isinstance(node, Box):
            if node.style == "seq":
                return Call("nn.Sequential", [(None, self._expr(c)) for c in node.children.values()])
            if node.style == "list":
                return Call("nn.ModuleList", [(None, ListOf([self._expr(c) for c in node.children.values()]))])
            items = DictOf([(k, self._expr(c)) for k, c in node.children.items()])
            return Call("nn.ModuleDict" if node.style == "dict" else self.lib.helper("Container"), [(None, items)])
        return self.instantiation[id(node)]

    def _op_call(self, op: _Op) -> Call:
        """`nn.Conv2d(3, 16, 3, padding=1, bias=False)`: leading required arguments positional,
        the rest by keyword, each a slot that knows its default."""
        func = self.lib.constructor(op.name)
        sig = self.lib.signature(op.name)
        params = list(sig.parameters.values()) if sig is not None else []
        args: list[tuple[str | None, Any]] = []
        positional = True
        for i, (k, v) in enumerate(builder_arguments(op.name, op.args).items()):
            p = sig.parameters.get(k) if sig is not None else None
            default = NO_DEFAULT if p is None or p.default is inspect.Parameter.empty else p.default
            positional = (positional and i < len(params) and params[i].name == k and default is NO_DEFAULT
                          and params[i].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD)
            args.append((None if positional else k, Slot(v, k, default)))
        return Call(func, args)

    def _group_class(self, drafts: list[_Draft]) -> _Class:
        """One class for drafts of equal shape: a slot equal in all of them stays a literal, the
        others become parameters (slots that always agree share one)."""
        first = drafts[0]
        resolution: list[Any] = []
        by_vector: dict[tuple, str] = {}
        keywords: dict[tuple, list[str]] = {}
        vectors = []
        for i, slot in enumerate(first.slots):
            vector = tuple(literal_key(d.slots[i].value) for d in drafts)
            vectors.append(vector)
            if len(set(vector)) > 1:
                keywords.setdefault(vector, []).append(slot.keyword or "value")
        params: list[str] = []
        local = Names({"self", *self.names.taken})
        for vector, kws in keywords.items():
            by_vector[vector] = local.fresh(_param_name(kws))
            params.append(by_vector[vector])
        for i, slot in enumerate(first.slots):
            resolution.append(by_vector.get(vectors[i], ("const", slot.value)))
        return _Class(self.names.fresh(first.base_name, sep=""), drafts, params, resolution)

    def _instantiate(self, cls: _Class, draft: _Draft) -> Call:
        values = {}
        for slot, how in zip(draft.slots, cls.resolution):
            if isinstance(how, str):
                values.setdefault(how, slot.value)
        return Call(cls.name, [(p, Slot(values[p], p)) for p in cls.params])

    def _layout_lines(self, args: list[str]) -> list[str]:
        """The network's first lines: image inputs into the layout `discrete.build` gives them."""
        shapes = list(self.space.input_shapes.values())
        images = [a for a, shape in zip(args, shapes) if shape is not None and len(shape) == 3]
        if not self.channels_last or not images:
            return []
        lines = ["# CPU images in the channels-last layout, as in nasdsl: same values, faster convolutions"]
        for a in images:
            lines += [f'if {a}.is_floating_point() and {a}.device.type == "cpu":',
                      f"    {a} = {a}.contiguous(memory_format=torch.channels_last)"]
        return lines

    # -- forward of a block

    def _graph_forward(self, g: _Graph) -> tuple[list[str], list[str]]:
        """Straight-line code over named tensors; a dotted-name container whose members run one
        after another, each feeding the next, is called as one `nn.Sequential`."""
        layout = self.layouts[id(g)]
        where = module_paths(layout)
        chains = sequential_boxes(layout)
        names = Names({"self", "torch", "nn"})
        tensor = {t: names.fresh(identifier(t)) for t in g.inputs}
        reads = Counter(t for step in g.steps for t in step.inputs) + Counter(g.outputs)
        lines: list[str] = []
        i = 0
        while i < len(g.steps):
            kind, target, ins, outs, extra, _ = g.steps[i]
            run = self._chain_run(g.steps, i, chains.get(target), reads, g.outputs) if kind == "apply" else 0
            if run:
                box_steps, box = chains[target]
                out = names.fresh(identifier(box.name.replace(".", "_")))
                lines.append(f"{out} = {member_path(box_steps)}({tensor[ins[0]]})")
                tensor[g.steps[i + run - 1][3][0]] = out
                i += run
                continue
            args = [tensor[t] for t in ins]
            if kind == "apply":
                hint = identifier(target.replace(".", "_"))
                made = [names.fresh(hint if len(outs) == 1 else f"{hint}_out{j}") for j in range(len(outs))]
                lines.append(f"{', '.join(made)} = {member_path(where[target])}({', '.join(args)})")
            elif kind == "pick":
                reduce, total = extra
                made = [names.fresh(identifier(target.split(".")[-1]))]
                lines.append(f'# input choice "{inert(target)}": {len(args)} of {total} input(s), '
                             f'reduce="{inert(str(reduce))}"')
                how = {"concat": "cat", "mean": "mean"}.get(reduce, "sum")  # as `discrete.reduce_inputs`
                lines.append(f"{made[0]} = {_merge(args, how, 1)}")
            else:
                made = [names.fresh(identifier(outs[0].replace("%", "_")))]
                lines.append(f"{made[0]} = {_merge(args, kind, extra)}")
            for o, name in zip(outs, made):
                tensor[o] = name
            i += 1
        lines.append("return " + ", ".join(tensor[o] for o in g.outputs))
        return [tensor[t] for t in g.inputs], lines

    @staticmethod
    def _chain_run(steps: list, i: int, chain: tuple | None, reads: Counter, outputs: tuple) -> int:
        """How many steps from `i` are one call of the container `chain` (0: not a chain)."""
        if chain is None:
            return 0
        box = chain[1]
        members = [box.graph_names[k] for k in box.children]
        if steps[i][1] != members[0] or len(steps) < i + len(members):
            return 0
        prev = None
        for k, name in enumerate(members):
            kind, target, ins, outs, _, _ = steps[i + k]
            if kind != "apply" or target != name or len(ins) != 1 or len(outs) != 1:
                return 0
            if prev is not None and (ins[0] != prev or reads[prev] != 1 or prev in outputs):
                return 0
            prev = outs[0]
        return len(members)

    # -- text

    def _render_class(self, cls: _Class) -> str:
        draft = cls.drafts[0]
        index = {id(s): i for i, s in enumerate(draft.slots)}

        def resolve(slot: Slot) -> Any:
            how = cls.resolution[index[id(slot)]]
            if isinstance(how, str):
                return how
            if slot.default is not NO_DEFAULT and same(how[1], slot.default):
                return OMIT
            return literal(how[1])

        doc = "\n    ".join(textwrap.wrap(inert(draft.doc).replace("\\", "\\\\"), WIDTH - 10,
                                               break_long_words=False, break_on_hyphens=False))
        body = [f"class {cls.name}(nn.Module):", f'    """{doc}"""', "",
                f"    def __init__({', '.join(['self', *cls.params])}):", "        super().__init__()"]
        tied = False
        for item in draft.init:
            if item[0] == "set":
                target = member_assign(item[1], "")
                body.append("        " + target + fmt(item[2], resolve, 8, 8 + len(target)))
            else:
                if not tied:
                    body.append("        # one module in several places, as in the source: its weights are shared")
                    tied = True
                body.append("        " + member_assign(item[1], member_path(item[2])))
        body += ["", f"    def forward({', '.join(['self', *draft.args])}):"]
        body += ["        " + line for line in draft.forward]
        return "\n".join(body) + "\n"

    def _network_doc(self) -> str:
        return f"The network of {_show_path(self.space.root_file)} for the architecture in this file's header."

    def _header(self) -> str:
        params = ", ".join(f"{k}={json.dumps(v)}" for k, v in self.space.params.items())
        lines = [
            f"# Generated by `nasdsl export` from {inert(_show_path(self.space.root_file))}",
            f"# (space fingerprint {self.space.fingerprint()}" + (f"; parameters {params})." if params else ")."),
            "# Standalone PyTorch: this file does not import nasdsl. It builds the same modules, under the",
            "# same state_dict keys, as nasdsl.lower.discrete.build(space, arch), so its weights load here.",
        ]
        if self.lib.imports:
            shown = inert(", ".join(f"{op} from {module}" for module, _, _, op in self.lib.imports))
            lines += ["# Custom ops are imported from the modules that define them (they must be importable",
                      f"# where this file runs): {shown}."]
        lines.append("# Architecture (JSON):")
        lines += ["#   " + line for line in wrap_json(self.arch, WIDTH - 4)]
        return "\n".join(lines) + "\n"

    def _footer(self) -> str:
        text = ('def build() -> Network:\n    """The network of this architecture, freshly initialised."""\n'
                "    return Network()\n")
        shapes = self.space.input_shapes
        if not shapes or any(s is None for s in shapes.values()):
            return text
        inputs = [f"torch.randn({', '.join(map(str, (2, *(evaluate(d, self.arch) for d in shape))))})"
                  for shape in shapes.values()]
        many = len(self.root.outputs) > 1
        show = "[tuple(o.shape) for o in out]" if many else "tuple(out.shape)"
        return text + ('\n\nif __name__ == "__main__":\n    model = build().eval()\n'
                       f"    with torch.no_grad():\n        out = model({', '.join(inputs)})\n"
                       f"    print({show})\n")


def _cell_forward(cell: _Cell) -> tuple[list[str], list[str]]:
    """`s0 = self.preprocess[0](s0)`, then one line per node: `s2 = self.ops.op_2_0(s0) + ...`."""
    npred = len(cell.preprocess)
    args = [f"s{i}" for i in range(npred)]
    lines = [f"s{i} = self.preprocess[{i}](s{i})" for i in range(npred)]
    for ni, node in enumerate(cell.wiring, start=npred):
        lines.append(f"s{ni} = " + " + ".join(f"{member_path((('attr', 'ops'), ('key', name)))}(s{j})" for name, j in node))
    merged = [f"s{i}" for i in cell.merge]
    out = merged[0] if len(merged) == 1 else f"torch.cat([{', '.join(merged)}], dim={cell.source.concat_dim})"
    lines.append(f"return self.postprocess({out})")
    return args, lines


def _merge(args: list[str], fn: str, dim: int) -> str:
    """What `discrete.combine` computes, as an expression (same operations, same order)."""
    if fn == "zeros":
        return f"torch.zeros_like({args[0]})"
    if fn == "cat":
        return f"torch.cat([{', '.join(args)}], dim={dim})"
    total = (" * " if fn == "mul" else " + ").join(args)
    if fn == "mean":
        return f"({total}) / {len(args)}" if len(args) > 1 else f"{total} / 1"
    return total


def _param_name(keywords: list[str]) -> str:
    """Name a class parameter after the arguments it fills: `channels` when it is both an
    `in_channels` and an `out_channels`, else the most common one."""
    counts = Counter(keywords)
    for stem in ("channels", "features"):
        if f"in_{stem}" in counts and f"out_{stem}" in counts:
            return stem
    return counts.most_common(1)[0][0]


def _show_path(file: str) -> str:
    """The space file as a reader would name it: relative to the working directory when inside it."""
    path = Path(file)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return path.name if path.is_absolute() else file
