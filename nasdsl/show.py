"""Pictures of a space and of one architecture: Graphviz graphs built from the IR, no torch.

`space_graph(space)` draws the network of a space: each module it applies is a box (a choice
lists its candidates, a repeat its depths, an op the value choices of its arguments), runs of
alike modules collapse into one box `×N`, and every cell and every block that holds choices
is drawn once more, on its own, beside the network: an `ir.Cell` as the DARTS paper draws one
(states c_{k-2}, c_{k-1}, nodes 0..n-1, c_{k}), a block whose steps are all layer choices (the
NAS-Bench-201 cell) with its choices on the edges between its states.

`arch_graph(space, arch)` draws the network one architecture chooses (`nasdsl.resolve`): the
chosen candidates, repeats cut to their depth, and each cell with its chosen op on every edge.
An edge whose choice is `Zero` is left out of the network and dotted in a cell; a choice
between `Zero` and `Identity` (an optional connection) is a dashed edge in the space.

`render(graph, path)` writes `.svg` or `.png` with Graphviz's `dot`; `save_arch_picture` is
what a search calls: `arch.png`, or `arch.dot` and a line saying how to render it where `dot`
is not installed.

Example::

    >>> from nasdsl import loads
    >>> space = loads('network(x: [4]) = x -> Linear(4, 8) -> choice { a: ReLU(), b: Tanh() }')
    >>> print(space_graph(space).source)  # doctest: +ELLIPSIS
    digraph network {
    ...
    ...<B>out.1 choice</B>...<TD ALIGN="LEFT">a: ReLU</TD>...<TD ALIGN="LEFT">b: Tanh</TD>...
    ...
"""
from __future__ import annotations

import html
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphviz

from . import ir
from . import resolve as rs
from .arch import arch_values
from .errors import NasError
from .limits import os_reason, show_path
from .values import Ref, free_labels, literal, to_text

__all__ = ["space_graph", "arch_graph", "render", "save_arch_picture", "FORMATS"]

FORMATS = ("svg", "png")
MAX_ROWS = 10   # rows of one box; more are summarised as "... (N more)"
_PASS = ("Zero", "Identity")
_FONT = "Helvetica"


# --- what a box says ----------------------------------------------------------------------

@dataclass
class Box:
    """One drawn module: a title, rows under it, and the key that runs of alike boxes share."""
    title: str
    rows: list[str] = field(default_factory=list)
    key: str = ""
    fill: str = "white"


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html(box: Box, name: str | None, count: int) -> str:
    head = f"<B>{_esc(box.title)}</B>" + (f" ×{count}" if count > 1 else "")
    rows = box.rows if len(box.rows) <= MAX_ROWS else [*box.rows[:MAX_ROWS - 1], f"... ({len(box.rows) - MAX_ROWS + 1} more)"]
    cells = [f'<TR><TD BGCOLOR="{box.fill}">{head}</TD></TR>']
    cells += [f'<TR><TD ALIGN="LEFT">{_esc(r)}</TD></TR>' for r in rows]
    if name:
        cells.insert(0, f'<TR><TD BORDER="0"><FONT POINT-SIZE="9" COLOR="gray40">{_esc(name)}</FONT></TD></TR>')
    return '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">' + "".join(cells) + "</TABLE>>"


def _domain(space, label: str) -> str:
    values = space.decision(label).values if _has(space, label) else ()
    shown = ", ".join(literal(v) if not isinstance(v, tuple) else literal(list(v)) for v in values[:6])
    return "{" + shown + (", ..." if len(values) > 6 else "") + "}"


def _has(space, label: str) -> bool:
    return label in space.labels()


def _is_pass_choice(m: ir.Module) -> bool:
    """A layer choice between `Zero` and `Identity` only: an optional connection."""
    return (isinstance(m, ir.LayerChoice)
            and all(isinstance(c, ir.Op) and c.name in _PASS for _, c in m.candidates))


def _is_cell_graph(g: ir.Graph) -> bool:
    """A block whose every step applies a layer choice to one tensor (NAS-Bench-201's cell):
    drawn with its choices on the edges between its states."""
    applies = [n for n in g.nodes if isinstance(n, ir.Apply)]
    modules = dict(g.modules)
    return (g.block is not None and len(applies) >= 2
            and all(len(n.inputs) == 1 and len(n.outs) == 1 and isinstance(modules[n.module], ir.LayerChoice)
                    for n in applies))


def _instance(g: ir.Graph) -> str:
    """Which instance of a block a drawing shows: its first, named by its decisions."""
    labels = sorted(_labels_in(g))
    return "the first, with " + ", ".join(labels[:4]) + (", ..." if len(labels) > 4 else "")


def _labels_in(m: ir.Module) -> set[str]:
    """The labels of the decisions a template module reads (choices, depths, argument values,
    input choices, cell ops and inputs)."""
    labels: set[str] = set()
    for node in ir.walk(m):
        if isinstance(node, ir.LayerChoice):
            labels.add(node.label)
        elif isinstance(node, ir.Repeat):
            labels |= free_labels(node.depth)
        elif isinstance(node, ir.Op):
            for _, v in node.args:
                labels |= free_labels(v)
        elif isinstance(node, ir.Graph):
            labels |= {n.label for n in node.nodes if isinstance(n, ir.Pick)}
        elif isinstance(node, ir.Cell):
            labels |= {label for cell_node in node.nodes for op in cell_node
                       for label in (op.op_label, op.input_label) if label is not None}
    return {label for label in labels if not label.startswith("@")}


def _choice_count(m: ir.Module) -> int:
    return sum(1 for n in ir.walk(m) if isinstance(n, ir.LayerChoice))


def _has_choices(m: ir.Module) -> bool:
    for node in ir.walk(m):
        if isinstance(node, (ir.LayerChoice, ir.Cell)) or (isinstance(node, ir.Repeat) and free_labels(node.depth)):
            return True
        if isinstance(node, ir.Graph) and any(isinstance(n, ir.Pick) for n in node.nodes):
            return True
        if isinstance(node, ir.Op) and any(free_labels(v) for _, v in node.args):
            return True
    return False


class _SpaceBoxes:
    """Boxes for the modules of a space (template level), and the blocks to detail."""

    def __init__(self, space):
        self.space = space
        self.details: dict[str, ir.Module] = {}   # title -> the first cell / block with choices
        self.choices: dict[str, str] = {}         # candidate names -> the first choice listing them

    def box(self, m: ir.Module) -> Box:
        if isinstance(m, ir.Op):
            return Box(m.name, self.op_rows(m), key=f"op:{m.name}:{self.op_rows(m)}")
        if isinstance(m, ir.Sequential):
            return self.sequence([self.box(item) for item in m.items])
        if isinstance(m, ir.LayerChoice):
            names = ",".join(n for n, _ in m.candidates)
            first = self.choices.setdefault(names, m.label)
            rows = ([self.candidate(name, c) for name, c in m.candidates] if first == m.label
                    else [f"the {len(m.candidates)} candidates of {first}"])
            return Box(f"{m.label} choice", rows, key=f"choice:{m.label}", fill="lightyellow")
        if isinstance(m, ir.Repeat):
            depth = (f"depth {to_text(m.depth)} ∈ {_domain(self.space, m.depth.label)}" if isinstance(m.depth, Ref)
                     else f"depth {to_text(m.depth)}")
            inner = self.sequence([self.box(b) for b in m.blocks[:1]]) if m.blocks else Box("empty")
            return Box("repeat", [depth, f"{len(m.blocks)} × {inner.title}", *inner.rows],
                       key=f"repeat:{depth}:{inner.title}", fill="lightcyan")
        if isinstance(m, ir.Cell):
            self.details.setdefault(f"cell {m.label}", m)
            return Box(f"cell {m.label}", [f"{len(m.nodes)} nodes, {len(m.nodes[0]) if m.nodes else 0} ops each"],
                       key=f"cell:{m.label}", fill="lavender")
        return self.graph(m)

    def graph(self, g: ir.Graph) -> Box:
        title = g.block or "graph"
        if _has_choices(g):
            count = _choice_count(g)
            # one drawing per block and number of choices: instances that differ in them get their own
            shown = next((t for t, m in self.details.items() if isinstance(m, ir.Graph) and m.block == g.block
                          and _choice_count(m) == count), None)
            what = f"{count} choice{'s' if count != 1 else ''}" if count else "value choices"
            if shown is None:
                shown = title if title not in self.details else f"{title} with {what}"
                self.details[shown] = g
            # alike blocks collapse where they share their decisions (NAS-Bench-201's shared cell)
            return Box(title, [f"{what}: see {shown}"],
                       key=f"block:{title}:{sorted(_labels_in(g))}", fill="honeydew")
        return Box(title, [], key=f"block:{title}")

    def sequence(self, boxes: list[Box]) -> Box:
        """Boxes in sequence as one: plain op names joined by arrows, choices as rows."""
        rows: list[str] = []
        plain = False   # whether the last row lists plain ops
        for b in boxes:
            if not b.rows and plain:
                rows[-1] += f" → {b.title}"
            elif not b.rows:
                rows.append(b.title)
            else:
                rows += [f"• {b.title}", *(f"   {r}" for r in b.rows)]
            plain = not b.rows
        if len(rows) == 1 and not any(b.rows for b in boxes):
            return Box(rows[0], [], key="seq:" + rows[0])
        return Box(boxes[0].title if len(boxes) == 1 else "sequence", rows if len(boxes) > 1 else boxes[0].rows,
                   key="seq:" + "|".join(rows), fill=next((b.fill for b in boxes if b.fill != "white"), "white"))

    def candidate(self, name: str, m: ir.Module) -> str:
        """A candidate's name; a single op, or a block, under another name also says which, and
        the choices inside it follow with their domains."""
        text = name
        if isinstance(m, ir.Op) and m.name != name:
            text = f"{name}: {m.name}"
        elif isinstance(m, ir.Graph) and m.block and m.block != name:
            text = f"{name}: {m.block}"
        inner = [label for label in self.space.labels() if label in _labels_in(m)]
        if inner:
            shown = ", ".join(f"{label} ∈ {_domain(self.space, label)}" for label in inner[:2])
            text += f" ({shown}{', ...' if len(inner) > 2 else ''})"
        return text

    def op_rows(self, m: ir.Op) -> list[str]:
        rows = []
        for key, v in m.args:
            if not free_labels(v):
                continue
            text = to_text(v)
            if isinstance(v, Ref):
                rows.append(f"{key} = {v.label} ∈ {_domain(self.space, v.label)}")
            elif len(text) <= 40:
                rows.append(f"{key} = {text}")
            else:   # a long expression: what it depends on
                rows.append(f"{key}: a function of {', '.join(sorted(free_labels(v)))}")
        return rows


class _ArchBoxes:
    """Boxes for the records of one resolved architecture."""

    def __init__(self, space, arch: Mapping[str, Any]):
        self.space, self.arch = space, arch_values(arch)
        self.details: dict[str, Any] = {}

    def box(self, node: rs.Node, template: ir.Module | None = None) -> Box:
        if isinstance(template, ir.LayerChoice):
            chosen = self.arch[template.label]
            inner = self.box(node)
            rows = inner.rows if inner.title in (chosen, "sequence") else [inner.title, *inner.rows]
            return Box(f"{template.label} = {chosen}", rows, key=f"chosen:{chosen}:{rows}", fill="lightyellow")
        if isinstance(node, rs.Op):
            rows = self.op_rows(node)
            return Box(node.name, rows, key=f"op:{node.name}:{rows}")
        if isinstance(node, rs.Chain):
            return self.chain([self.box(item) for item in node.items])
        if isinstance(node, rs.Cell):
            self.details.setdefault(f"cell {node.source.label}", node)
            return Box(f"cell {node.source.label}", [], key=f"cell:{node.source.label}", fill="lavender")
        return self.graph(node)

    def graph(self, g: rs.Graph) -> Box:
        title = g.source.block or "graph"
        if _is_cell_graph(g.source):
            choices = self.chosen_in(g.source)
            self.details.setdefault(f"{title} " + ",".join(f"{v}" for _, v in choices), g)
            return Box(title, ["drawn on its own"], key=f"cellgraph:{choices}", fill="lavender")
        chosen = self.chosen_in(g.source)
        rows = [f"{name} = {literal(v) if not isinstance(v, list) else v}"
                for name, (_, v) in zip(_short([label for label, _ in chosen]), chosen)]
        return Box(title, rows, key=f"block:{title}:{rows}", fill="honeydew" if rows else "white")

    def chosen_in(self, m: ir.Module) -> list[tuple[str, Any]]:
        """The decisions inside a template module that this architecture sets, in space order."""
        labels = _labels_in(m)
        return [(label, self.arch[label]) for label in self.space.labels() if label in labels and label in self.arch]

    def chain(self, boxes: list[Box]) -> Box:
        rows: list[str] = []
        keys: list[str] = []
        for b in boxes:   # alike boxes in a row: one row with a count
            text = b.title + (" (" + ", ".join(b.rows) + ")" if b.rows else "")
            if keys and keys[-1] == b.key:
                base, _, n = rows[-1].rpartition(" ×")
                rows[-1] = f"{base} ×{int(n) + 1}" if n.isdigit() else f"{rows[-1]} ×2"
                continue
            keys.append(b.key)
            rows.append(text)
        if len(rows) == 1 and len(boxes) == 1:
            return boxes[0]
        plain = all(not b.rows for b in boxes)
        if plain:
            return Box(" → ".join(rows), [], key="seq:" + "|".join(rows))
        fill = next((b.fill for b in boxes if b.fill != "white"), "white")
        return Box("sequence", rows, key="seq:" + "|".join(rows), fill=fill)

    def op_rows(self, node: rs.Op) -> list[str]:
        if node.source is None:
            return []
        return [f"{key}={literal(node.args[key])}" for key, v in node.source.args if free_labels(v) and key in node.args]


def _short(labels: list[str]) -> list[str]:
    """Labels inside one block, without the path all of them share (`s1.0.k` and `s1.0.e`
    read `k` and `e`); labels that share none stay whole."""
    parts = [label.split(".") for label in labels]
    common = 0
    while parts and all(len(p) > common + 1 and p[common] == parts[0][common] for p in parts):
        common += 1
    return [".".join(p[common:]) for p in parts]


# --- the network: a graph's dataflow ------------------------------------------------------

@dataclass
class _Step:
    kind: str                  # "box" | "sum" | "cat" | "mul" | "mean" | "pass" | "none" | "pick"
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    box: Box | None = None
    name: str = ""
    label: str = ""            # a "pass" or "pick": its decision label


class _Flow:
    """Draws a list of steps into a graph: runs of alike boxes become one node, chains of sums
    one `+`, optional connections dashed edges."""

    def __init__(self, g: graphviz.Digraph, prefix: str):
        self.g, self.prefix, self.count = g, prefix, 0
        self.dashed = False   # whether some edge is an optional connection
        self.src: dict[str, list[tuple[str, str]]] = {}   # tensor -> [(node, style)] it comes from
        self.edges: dict[tuple[str, str], str] = {}       # (tail, head) -> style, in drawing order
        self.readers: dict[str, int] = {}

    def node_id(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count}"

    def draw(self, inputs: list[tuple[str, str]], steps: list[_Step], outputs: tuple[str, ...]) -> None:
        for tensor, text in inputs:
            nid = self.node_id()
            self.g.node(nid, text, shape="ellipse", style="filled", fillcolor="gray92")
            self.src[tensor] = [(nid, "solid")]
        for s in steps:
            for t in s.inputs:
                self.readers[t] = self.readers.get(t, 0) + 1
        i = 0
        while i < len(steps):
            if steps[i].kind == "box":
                i += self.run(steps, i)
                continue
            alias = self.alias(steps[i], steps[i + 1:])
            if alias is None:
                self.combine(steps[i])
            else:
                self.src[steps[i].outputs[0]] = alias
            i += 1
        out = self.node_id()
        self.g.node(out, "output", shape="ellipse", style="filled", fillcolor="gray92")
        self.connect(outputs, out)
        for (a, b), style in self.edges.items():
            self.g.edge(a, b, style=style)

    def connect(self, tensors, target: str) -> None:
        for t in tensors:
            for origin, how in self.src.get(t, []):
                if origin != target and self.edges.get((origin, target)) != "solid":
                    self.edges[(origin, target)] = how

    def run(self, steps: list[_Step], i: int) -> int:
        """Boxes from `steps[i]` on with its key, as one node; how many."""
        first = steps[i]
        run = [first]
        while (i + len(run) < len(steps) and steps[i + len(run)].kind == "box" and first.box.key
               and steps[i + len(run)].box.key == first.box.key):
            run.append(steps[i + len(run)])
        nid = self.node_id()
        name = first.name if len(run) == 1 else f"{first.name} … {run[-1].name}"
        self.g.node(nid, _html(first.box, name, len(run)), shape="plain")
        produced = {t for r in run for t in r.outputs}
        for r in run:
            self.connect([t for t in r.inputs if t not in produced], nid)
        for t in produced:
            self.src[t] = [(nid, "solid")]
        return len(run)

    def alias(self, s: _Step, rest: list[_Step]) -> list[tuple[str, str]] | None:
        """Where a step that draws no node takes its tensor from (None: it draws one)."""
        merged = [x for t in s.inputs for x in self.src.get(t, [])]
        if s.kind == "pass":     # an optional connection: its input, dashed
            self.dashed = True
            return [(o, "dashed") for o, _ in merged]
        if s.kind == "none":     # a connection not taken
            return []
        if s.kind == "pick" and len(s.inputs) == 1 and not s.label:
            return merged
        if s.kind == "sum" and (len(merged) <= 1 or self.fuses(s, rest)):
            return merged        # a sum of one tensor, or one that adds into the next sum
        return None

    def combine(self, s: _Step) -> None:
        nid = self.node_id()
        text = {"sum": "+", "mul": "×", "cat": "concat", "mean": "mean"}.get(s.kind, s.kind)
        if s.kind == "pick":
            self.g.node(nid, _esc(s.label.replace(": ", "\\n", 1)) if s.label else text, shape="diamond",
                        style="filled", fillcolor="lightyellow", fontsize="10")
        else:
            self.g.node(nid, text, shape="circle" if len(text) == 1 else "box", style="rounded", fontsize="10",
                        width="0.3", height="0.3", margin="0.02")
        self.connect(s.inputs, nid)
        self.src[s.outputs[0]] = [(nid, "solid")]

    def fuses(self, s: _Step, rest: list[_Step]) -> bool:
        """A sum read only by one later sum adds into it: `a + b + c` is one `+`."""
        t = s.outputs[0]
        return self.readers.get(t, 0) == 1 and any(r.kind == "sum" and t in r.inputs for r in rest)


def _space_steps(g: ir.Graph, boxes: _SpaceBoxes) -> list[_Step]:
    modules = dict(g.modules)
    steps = []
    for n in g.nodes:
        if isinstance(n, ir.Apply):
            m = modules[n.module]
            if _is_pass_choice(m) and len(n.inputs) == 1:
                steps.append(_Step("pass", n.inputs, n.outs, label=m.label))
            else:
                steps.append(_Step("box", n.inputs, n.outs, boxes.box(m), name=n.module))
        elif isinstance(n, ir.Combine):
            steps.append(_Step(n.fn, n.inputs, (n.out,)))
        else:
            count = "any" if n.n is None else n.n
            steps.append(_Step("pick", n.inputs, (n.out,), label=f"{n.label}: {count} of {len(n.inputs)}, {n.reduce}"))
    return steps


def _arch_steps(g: rs.Graph, boxes: _ArchBoxes) -> list[_Step]:
    templates = dict(g.source.modules)
    steps = []
    for s in g.steps:
        if s.kind == "apply":
            node, template = g.modules[s.target], templates[s.target]
            if isinstance(node, rs.Op) and node.name in _PASS and len(s.inputs) == 1 and _is_pass_choice(template):
                # an optional connection: taken, a plain edge (a pick of one tensor); not taken, none
                steps.append(_Step("pick" if node.name == "Identity" else "none", s.inputs, s.outputs))
            else:
                steps.append(_Step("box", s.inputs, s.outputs, boxes.box(node, template), name=s.target))
        elif s.kind == "zeros":
            steps.append(_Step("none", s.inputs, s.outputs))
        elif s.kind == "pick":
            reduce, _ = s.extra
            steps.append(_Step("pick" if len(s.inputs) == 1 else {"none": "cat", "concat": "cat"}.get(reduce, reduce),
                               s.inputs, s.outputs))
        else:
            steps.append(_Step(s.kind, s.inputs, s.outputs))
    return steps


def _unwrap(g, is_ir: bool):
    """The network a wrapper graph applies (`network(x) { return Net(...)(x) }` draws `Net`)."""
    while True:
        if is_ir:
            applies = [n for n in g.nodes if isinstance(n, ir.Apply)]
            inner = dict(g.modules).get(applies[0].module) if len(applies) == 1 and len(g.nodes) == 1 else None
            if not isinstance(inner, ir.Graph):
                return g
        else:
            inner = g.modules.get(g.steps[0].target) if len(g.steps) == 1 and g.steps[0].kind == "apply" else None
            if not isinstance(inner, rs.Graph):
                return g
        g = inner


def _new_graph(title: str) -> graphviz.Digraph:
    g = graphviz.Digraph("network")
    g.attr(rankdir="TB", fontname=_FONT, labelloc="t", label=title, fontsize="16", newrank="true",
           nodesep="0.25", ranksep="0.3")
    g.attr("node", fontname=_FONT, fontsize="11")
    g.attr("edge", fontname=_FONT, fontsize="10", arrowsize="0.6")
    return g


def _inputs(space) -> list[tuple[str, str]]:
    out = []
    for t in space.template.inputs:
        shape = "" if t.shape is None else " [" + ", ".join(to_text(d) for d in t.shape) + "]"
        out.append((t.name, t.name + shape))
    return out


def space_graph(space) -> graphviz.Digraph:
    """The space as a graph: its network, then each cell and each block with choices."""
    boxes = _SpaceBoxes(space)
    title = f"{Path(space.root_file).name}: {len(space.decisions)} decisions, {space.size():,} architectures"
    g = _new_graph(title)
    top = _unwrap(space.template, True)
    flow = _Flow(g, "s")
    flow.draw(_inputs(space) if top is space.template else [(t.name, t.name) for t in top.inputs],
              _space_steps(top, boxes), top.outputs)
    if flow.dashed:
        g.attr(label=f"{title}\\ndashed: an optional connection (a choice of Zero or Identity)")
    done: set[str] = set()
    k = 0
    while len(done) < len(boxes.details):   # details may find more details
        for title, m in list(boxes.details.items()):
            if title in done:
                continue
            done.add(title)
            k += 1
            with g.subgraph(name=f"cluster_d{k}") as sub:
                sub.attr(style="rounded", color="gray60")
                if isinstance(m, ir.Cell):
                    _space_cell(sub, f"d{k}_", m)
                elif _is_cell_graph(m):
                    sub.attr(label=_esc(f"{title}: every edge one of {_candidates(m)}"))
                    _cell_graph(sub, f"d{k}_", m, None)
                else:
                    sub.attr(label=_esc(f"{title}: {_instance(m)}"))
                    _Flow(sub, f"d{k}_").draw([(t.name, t.name) for t in m.inputs], _space_steps(m, boxes), m.outputs)
    return g


def arch_graph(space, arch: Mapping[str, Any]) -> graphviz.Digraph:
    """The network one architecture of `space` chooses, each cell drawn once beside it."""
    arch = space.validate(arch)
    root = rs.resolve(space, arch, validate=False)
    boxes = _ArchBoxes(space, arch)
    g = _new_graph(f"{Path(space.root_file).name}: one architecture")
    top = _unwrap(root, False)
    _Flow(g, "a").draw(_inputs(space) if top is root else [(t, t) for t in top.inputs], _arch_steps(top, boxes),
                       top.outputs)
    for k, node in enumerate(boxes.details.values(), start=1):
        with g.subgraph(name=f"cluster_d{k}") as sub:
            sub.attr(style="rounded", color="gray60")
            if isinstance(node, rs.Cell):
                _arch_cell(sub, f"d{k}_", node, boxes.arch)
            else:
                sub.attr(label=_esc(node.source.block or "graph"))
                _cell_graph(sub, f"d{k}_", node.source, boxes.arch)
    return g


# --- cells --------------------------------------------------------------------------------

def _state_names(cell: ir.Cell) -> list[str]:
    p = cell.num_predecessors
    return [f"c_{{k-{p - i}}}" for i in range(p)] + [str(i) for i in range(len(cell.nodes))]


def _cell_frame(sub, prefix: str, cell: ir.Cell) -> list[str]:
    """The states of a cell (inputs, nodes) and its output, as nodes; their ids."""
    ids = []
    for i, name in enumerate(_state_names(cell)):
        nid = f"{prefix}{i}"
        is_input = i < cell.num_predecessors
        sub.node(nid, name, shape="box" if is_input else "circle", style="filled",
                 fillcolor="lightblue" if is_input else "white", width="0.4", fixedsize="false")
        ids.append(nid)
    sub.node(f"{prefix}out", "c_{k}", shape="box", style="filled", fillcolor="palegoldenrod")
    with sub.subgraph() as rank:   # the cell's inputs side by side, c_{k-2} left of c_{k-1}
        rank.attr(rank="same")
        for a, b in zip(ids[:cell.num_predecessors - 1], ids[1:cell.num_predecessors]):
            rank.edge(a, b, style="invis")
    return ids


def _op_names(op: ir.CellOp) -> list[str]:
    first = op.candidates[0] if op.candidates else None
    if isinstance(first, ir.LayerChoice):
        return [name for name, _ in first.candidates]
    return [first.name] if isinstance(first, ir.Op) else ["op"]


def _space_cell(sub, prefix: str, cell: ir.Cell) -> None:
    """A cell of the space: every edge a node may read, dashed; the ops in the caption."""
    ops = sorted({name for node in cell.nodes for op in node for name in _op_names(op)},
                 key=[n for node in cell.nodes for op in node for n in _op_names(op)].index)
    per = len(cell.nodes[0]) if cell.nodes else 0
    lines = [f"cell {cell.label}: each node sums {per} ops, each op reads one earlier state and is one of"]
    lines += [", ".join(ops[i:i + 4]) + ("," if i + 4 < len(ops) else "") for i in range(0, len(ops), 4)]
    sub.attr(label="\\n".join(lines))
    ids = _cell_frame(sub, prefix, cell)
    for i, node in enumerate(cell.nodes, start=cell.num_predecessors):
        reads = sorted({j for op in node for j in range(len(op.candidates))})
        for j in reads:
            sub.edge(ids[j], ids[i], style="dashed", color="gray40")
    _cell_merge(sub, prefix, cell, ids, None)


def _cell_merge(sub, prefix: str, cell: ir.Cell, ids: list[str], merged: list[int] | None) -> None:
    if merged is None:
        loose = cell.merge != "all"
        for i in range(cell.num_predecessors, len(ids)):
            sub.edge(ids[i], f"{prefix}out", style="dashed" if loose else "solid",
                     label="if unused" if loose and i == len(ids) - 1 else "")
    else:
        for i in merged:
            sub.edge(ids[i], f"{prefix}out")


def _arch_cell(sub, prefix: str, node: rs.Cell, arch: Mapping[str, Any]) -> None:
    """A chosen cell as the DARTS paper draws it: each edge its op, the merged nodes to c_{k}."""
    cell = node.source
    sub.attr(label=_esc(f"cell {cell.label}"))
    ids = _cell_frame(sub, prefix, cell)
    for i, (entries, ops) in enumerate(zip(node.wiring, cell.nodes), start=cell.num_predecessors):
        for (key, j), op in zip(entries, ops):
            name = str(arch[op.op_label]) if op.op_label is not None else _op_names(op)[0]
            record = node.ops[key]
            zero = isinstance(record, rs.Op) and record.name == "Zero"
            sub.edge(ids[j], ids[i], label=_esc(name), style="dotted" if zero else "solid",
                     color="gray50" if zero else _edge_color(name))
    _cell_merge(sub, prefix, cell, ids, node.merge)


_COLORS = ("firebrick", "darkgreen", "navy", "darkorange3", "purple4", "teal", "saddlebrown", "deeppink4")


def _edge_color(name: str) -> str:
    """One colour per op name (the same op has the same colour in every picture)."""
    return _COLORS[sum(name.encode()) % len(_COLORS)]


def _candidates(g: ir.Graph) -> str:
    modules = dict(g.modules)
    names: list[str] = []
    for n in g.nodes:
        if isinstance(n, ir.Apply):
            for name, _ in modules[n.module].candidates:
                if name not in names:
                    names.append(name)
    return "{" + ", ".join(names) + "}"


def _cell_graph(sub, prefix: str, g: ir.Graph, arch: Mapping[str, Any] | None) -> None:
    """A block of layer choices drawn as a cell: its states are its inputs, its sums and the
    outputs that steps read; each choice an edge, labelled with its label (space) or its choice."""
    modules = dict(g.modules)
    readers: dict[str, int] = {}
    for n in g.nodes:
        for t in n.inputs:
            readers[t] = readers.get(t, 0) + 1
    state: dict[str, str] = {}           # tensor -> state node
    pending: dict[str, list[tuple[str, ir.Apply]]] = {}  # tensor -> edges into whoever consumes it
    count = 0

    def new_state(text: str, fill: str = "white") -> str:
        nonlocal count
        nid = f"{prefix}{count}"
        sub.node(nid, text, shape="circle", style="filled", fillcolor=fill, width="0.4")
        count += 1
        return nid

    for t in g.inputs:
        state[t.name] = new_state(t.name, "lightblue")
    number = len(g.inputs)

    def edges_into(tensor: str, target: str) -> None:
        if tensor in state:
            return
        for origin, apply in pending.pop(tensor, []):
            m = modules[apply.module]
            if arch is None:
                sub.edge(origin, target, label=_esc(m.label), style="dashed", color="gray30")
            else:
                chosen = str(arch[m.label])
                zero = isinstance(dict(m.candidates)[chosen], ir.Op) and dict(m.candidates)[chosen].name == "Zero"
                sub.edge(origin, target, label=_esc(chosen), style="dotted" if zero else "solid",
                         color="gray50" if zero else _edge_color(chosen))

    for n in g.nodes:
        if isinstance(n, ir.Apply):
            source = n.inputs[0]
            if source not in state:   # an edge's output read by another edge: it becomes a state
                state[source] = new_state(str(number))
                number += 1
                edges_into(source, state[source])
            pending[n.outs[0]] = [(state[source], n)]
            if readers.get(n.outs[0], 0) > 1 or n.outs[0] in g.outputs:
                state[n.outs[0]] = new_state(str(number))
                number += 1
                for origin, apply in pending.pop(n.outs[0]):
                    pending.setdefault(n.outs[0] + "#", []).append((origin, apply))
                edges_into(n.outs[0] + "#", state[n.outs[0]])
        else:
            fuse = readers.get(n.out, 0) == 1 and n.out not in g.outputs and any(
                isinstance(m, ir.Combine) and n.out in m.inputs for m in g.nodes)
            if fuse:
                pending[n.out] = [x for t in n.inputs for x in pending.pop(t, [])]
                continue
            state[n.out] = new_state(str(number), "palegoldenrod" if n.out in g.outputs else "white")
            number += 1
            for t in n.inputs:
                if t in state:
                    sub.edge(state[t], state[n.out])
                else:
                    edges_into(t, state[n.out])


# --- files --------------------------------------------------------------------------------

def render(graph: graphviz.Digraph, path: str | Path) -> Path:
    """Write `graph` as `path` (`.svg` or `.png`, by its suffix) with Graphviz's `dot`."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise NasError(f"cannot draw {show_path(path)}: the picture's name must end in .svg or .png")
    if shutil.which("dot") is None:
        raise NasError(f"cannot draw {show_path(path)}: Graphviz's `dot` is not installed "
                       f"(apt-get install graphviz, brew install graphviz or conda install graphviz)")
    try:
        data = graph.pipe(format=fmt)
    except graphviz.CalledProcessError as err:
        raise NasError(f"Graphviz's dot failed on {show_path(path)}: {err.stderr.decode(errors='replace').strip()[:300]}") \
            from None
    try:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")   # processes sharing a search's --out
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as err:
        raise NasError(f"cannot write {show_path(path)}: {os_reason(err)}") from None
    return path


def save_arch_picture(space, arch: Mapping[str, Any], out: str | Path) -> tuple[Path, str | None]:
    """`OUT/arch.png`, the architecture a search found, and None; where Graphviz's `dot` is
    not installed (or fails), `OUT/arch.dot`, its source, and the line to print about it: a
    search never fails for want of a picture."""
    graph = arch_graph(space, arch)
    png, dot = Path(out) / "arch.png", Path(out) / "arch.dot"
    if shutil.which("dot") is not None:
        try:
            return render(graph, png), None
        except NasError as err:
            why = err.message
    else:
        why = "Graphviz's dot is not installed"
    try:
        tmp = dot.with_name(f"{dot.name}.{os.getpid()}.tmp")
        tmp.write_text(graph.source)
        tmp.replace(dot)
    except OSError as err:
        raise NasError(f"cannot write {show_path(dot)}: {os_reason(err)}") from None
    return dot, f"{why}: wrote {dot} instead of {png.name}; draw it with `dot -Tpng {dot} -o {png}`"
