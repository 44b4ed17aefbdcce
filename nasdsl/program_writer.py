"""The writer behind `nasdsl.testing.programs()`: random `.nas` program texts that compile,
drawn construct by construct from a Hypothesis `draw` while an upper bound on the size of
their space stays within a budget.

`ProgramWriter(draw, budget, imports).program()` writes one program (parameters, maybe an
import, blocks, the network, maybe a constraint; the top-level items in a drawn order). Values in
scope (`_Var`) carry a *witness*, their value when every choice takes its first option, so
that every generated constraint holds somewhere, and a *role*, so that integers go only where
no shape depends on them.

hypothesis is an optional dependency: `nasdsl.testing` imports this module after checking
that it is installed.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

__all__ = ["ProgramWriter"]


@dataclass
class _Var:
    """A value in scope: a choice (`options` set), a value derived from choices, a block
    parameter, or a loop or repeat index.

    `witness` is its value when every choice takes its first option; every generated
    constraint holds there, so no constraint set can empty the space. `role` says where the
    value may go without breaking shapes: "kernel" (odd: a kernel size with padding k // 2),
    "depth" (a repeat depth), "width" (a Linear width); anything else only where shapes
    do not depend on it.
    """
    name: str
    kind: str                      # "int" | "float" | "str" | "bool"
    witness: Any
    options: tuple | None = None   # a choice of its own (None: derived, parameter or index)
    role: str = ""                 # "kernel" | "depth" | "width" | ""
    constrainable: bool = True     # False for block parameters and indices (may be constants)


@dataclass
class _Block:
    name: str
    n_in: int          # tensor inputs (1 for layer-bodied blocks)
    size: int          # upper bound on the architectures one call adds
    extra: str | None  # name of an optional keyword parameter (a kernel size), if any


@dataclass
class _Scope:
    """What an expression may refer to where it is written."""
    c: str                                          # the channel count, as text
    vars: list[_Var] = field(default_factory=list)
    tensors: list[str] = field(default_factory=list)
    blocks: list[_Block] = field(default_factory=list)


_PLAIN_LAYERS = (
    "Conv2d({c}, {c}, 3, padding=1)",
    "Conv2d({c}, {c}, 1, bias=false)",
    "Conv2d({c}, {c}, 3, 1, 1, groups={c}, bias=false)",
    "BatchNorm2d({c})",
    "GroupNorm(1, {c})",
    "ReLU()",
    "ReLU(inplace=true)",
    "GELU()",
    "Sigmoid()",
    "Identity()",
    "MaxPool2d(3, 1, 1)",
    "AvgPool2d(3, stride=1, padding=1, count_include_pad=false)",
    "Dropout2d(0.1)",
    "ChannelShuffle(1)",
)

# (layer text with a `{v}` slot for an inline value choice, option pool for that choice);
# a pool of None marks a text with its own two choices (4 architectures). All keep shapes.
_CHOICE_LAYERS = (
    ("Conv2d({c}, {c}, {v}, padding=\"same\")", (1, 3, 5, 7)),
    ("Conv2d({c}, {c}, 3, padding=1, bias={v})", (True, False)),
    ("Dropout(p={v})", (0.0, 0.25, 0.5)),
    ("LeakyReLU({v})", (0.01, 0.1, 0.2)),
    ("GELU(approximate={v})", ("none", "tanh")),
    ("BatchNorm2d({c}, affine={v})", (True, False)),
    ("AvgPool2d(3, 1, 1, count_include_pad=choice[true, false]) -> Dropout(choice[0.0, 0.5])", None),
)

# pools for `v = choice[...]` bindings: (kind, options, role)
_VAR_POOLS = (
    ("int", (1, 3, 5), "kernel"),
    ("int", (8, 16, 32), "width"),
    ("int", (0, 1, 2), "depth"),
    ("int", (1, 2), "depth"),
    ("float", (0.0, 0.25, 0.5), ""),
    ("str", ("relu", "gelu", "silu"), ""),
    ("bool", (True, False), ""),
)


def _lit(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


class ProgramWriter:
    """Writes one program, drawing every decision from hypothesis and spending a size budget.

    Each `write_*` method takes the budget it may spend and returns `(text, size)`, where
    `size` bounds the number of architectures the text adds: value choices multiply, layer
    choices add their candidates, so the whole program's product stays under `max_size`.
    """

    def __init__(self, draw: Callable, budget: int, imports: bool):
        self.draw = draw
        self.budget = budget
        self.imports = imports
        self.counter = 0
        self.value_labels: dict[str, tuple] = {}   # explicit label -> its typed options (for reuse)
        self.block_labels: dict[str, str] = {}     # explicit block-call label -> block name

    # -- drawing helpers

    def pick(self, options):
        return self.draw(st.sampled_from(list(options)))

    def chance(self, p: float = 0.5) -> bool:
        """True with about probability `p`; shrinks to False, so minimal examples stay plain."""
        return self.draw(st.integers(0, 99)) >= 100 - int(p * 100)

    def count(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, max(lo, hi)))

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def subset(self, pool: tuple, budget: int) -> tuple:
        """A non-empty sub-list of `pool`, in pool order, no longer than `budget`."""
        most = min(len(pool), max(1, budget))
        n = 1 if most == 1 or self.chance(0.15) else self.count(2, most)
        start = self.count(0, len(pool) - n)
        return pool[start:start + n]

    def options_text(self, options: tuple) -> str:
        if self.chance(0.1) and all(isinstance(o, int) and not isinstance(o, bool) for o in options) \
                and len(options) > 1 and _is_range(options):
            step = options[1] - options[0]
            return f"[range({options[0]}, {options[-1] + 1}, {step})]"
        trailing = "," if self.chance(0.1) else ""
        return "[" + ", ".join(_lit(o) for o in options) + trailing + "]"

    def value_choice(self, options: tuple) -> str:
        """`choice[...]`, sometimes labelled, sometimes sharing an earlier label's decision."""
        if self.chance(0.15):
            key = _typed(options)
            same = [label for label, opts in self.value_labels.items() if opts == key]
            label = self.pick(same) if same and self.chance(0.5) else self.fresh("L")
            self.value_labels[label] = key
            return f'choice "{label}" {self.options_text(options)}'
        return f"choice{self.options_text(options)}"

    # -- the program

    def program(self) -> str:
        params = ["param C = " + str(self.pick((4, 8, 16)))]
        if self.chance(0.3):
            params.append("param C2 = 2 * C  # unused, like many real parameters")
        classes = "10"
        if self.chance(0.3):
            params.append("param NUM_CLASSES = 10")
            classes = "NUM_CLASSES"
        items: list[str] = []
        scope_blocks: list[_Block] = []
        if self.imports and self.chance(0.15):
            scope_blocks.append(_Block("nb.Edge", 1, 5, None))
        for _ in range(self.count(0, 3)):
            text, block = self.write_block(scope_blocks)
            items.append(text)
            scope_blocks.append(block)
        items.append(self.write_network(scope_blocks, classes))
        if self.chance(0.3):
            items.append(self.pick(("require C >= 1", 'forbid C > 4096, "too wide"', "require C % 2 == 0")))
        order = self.draw(st.permutations(list(range(len(items)))))
        head = []
        if any(b.name == "nb.Edge" for b in scope_blocks):
            head.append('import "nasbench201.nas" as nb')
        if self.chance(0.2):
            head.insert(0, "# generated by nasdsl.testing.programs()")
        return "\n".join(head + params + [items[i] for i in order]) + "\n"

    # -- blocks

    def write_block(self, earlier: list[_Block]) -> tuple[str, _Block]:
        name = self.fresh("S" if self.chance(0.25) else "B")
        shared = "shared " if name.startswith("S") else ""
        budget = max(1, int(round(self.budget ** 0.25)))
        form = self.pick(("layer", "layer", "graph", "expr"))
        extra = None
        params = "c"
        scope = _Scope("c", blocks=list(earlier))
        size = 1
        if form == "layer" and self.chance(0.5):
            extra = "k"
            if shared or budget < 2 or self.chance(0.5):
                params += ", k=3"
            else:
                params += ", k=" + self.value_choice((3, 5))
                size = 2
            scope.vars.append(_Var("k", "int", 3, role="kernel", constrainable=False))
        if form == "layer":
            body, s = self.write_chain(scope, budget // size, depth=2)
            text = f"{shared}block {name}({params}) =\n  {body}"
            return text, _Block(name, 1, size * s, extra)
        n_in = self.pick((1, 2)) if form == "graph" else 2
        inputs = ["x", "y"][:n_in]
        if form == "expr":
            body = self.pick(("x + y", "x * y", "cat(x, y, dim=1) -> Conv2d(2 * c, c, 1)",
                              "mean(x, y)", "sum(x, y) -> ReLU()"))
            return f"{shared}block {name}(c)(x, y) = {body}", _Block(name, 2, 1, None)
        scope.tensors = list(inputs)
        stmts, s = self.write_statements(scope, budget, self.count(1, 3))
        out = scope.tensors[-1]
        body = "\n".join("  " + line for line in stmts)
        text = f"{shared}block {name}(c)({', '.join(inputs)}) {{\n{body}\n  return {out}\n}}"
        return text, _Block(name, n_in, s, None)

    # -- the network

    def write_network(self, blocks: list[_Block], classes: str) -> str:
        hw = self.pick((8, 16))
        scope = _Scope("C", blocks=blocks)
        if self.chance(0.1):
            chain, _ = self.write_chain(scope, self.budget, depth=2)
            return f"network(x: [C, {hw}, {hw}]) = x -> {chain}"
        inputs = ["x"] + (["y"] if self.chance(0.2) else [])
        scope.tensors = list(inputs)
        budget = self.budget
        stmts, size = self.write_statements(scope, budget, self.count(1, 5))
        budget //= size
        head, size = self.write_head(scope, scope.tensors[-1], budget, classes)
        stmts.append(head)
        shapes = ", ".join(f"{t}: [C, {hw}, {hw}]" for t in inputs)
        body = "\n".join("  " + line for line in stmts)
        return f"network({shapes}) {{\n{body}\n  return out\n}}"

    def write_head(self, scope: _Scope, h: str, budget: int, classes: str) -> tuple[str, int]:
        widths = [v for v in scope.vars if v.role == "width"]
        pool = f"out = {h} -> AdaptiveAvgPool2d(1) -> Flatten()"
        if widths and self.chance(0.5):
            w = self.pick(widths).name
            return f"{pool} -> Linear({scope.c}, {w}) -> ReLU() -> Linear({w}, {classes})", 1
        if budget >= 2 and self.chance(0.5):
            options = self.subset((8, 16, 32), budget)
            return f"{pool} -> Linear({scope.c}, {self.value_choice(options)})", len(options)
        return f"{pool} -> Linear({scope.c}, {classes})", 1

    # -- statements of a graph body

    def write_statements(self, scope: _Scope, budget: int, n: int) -> tuple[list[str], int]:
        """`n` statements, often opening with a value choice and closing with a constraint
        over the choices in scope, so that constraints are common rather than lucky."""
        lines: list[str] = []
        total = 1
        if budget >= 2 and self.chance(0.4):
            lines, total = self.stmt_value(scope, budget)
        for _ in range(n):
            kinds = ["chain", "chain", "apply", "combine", "value", "value"]
            if len(scope.tensors) >= 2:
                kinds += ["pick", "pick", "pair"]
            if any(v.options and v.constrainable for v in scope.vars):
                kinds += ["constraint", "constraint"]
            kinds += ["cell", "for", "derived", "dag"]
            kind = self.pick(kinds)
            new, size = getattr(self, "stmt_" + kind)(scope, max(1, budget // total))
            lines += new
            total *= size
        if any(v.options and v.constrainable for v in scope.vars) and self.chance(0.5):
            new, _ = self.stmt_constraint(scope, 1)
            lines += new
        return lines, total

    def target(self, scope: _Scope) -> str:
        """A tensor name to bind: a fresh one, or the last one rebound (`h = h -> ...`)."""
        if scope.tensors and self.chance(0.3):
            return scope.tensors[-1]
        return self.fresh("t")

    def bind(self, scope: _Scope, name: str) -> None:
        if name in scope.tensors:
            scope.tensors.remove(name)
        scope.tensors.append(name)

    def stmt_chain(self, scope: _Scope, budget: int) -> tuple[list[str], int]:
        src = self.pick(scope.tensors)
        chain, size = self.write_chain(scope, budget, depth=2)
        name = self.target(scope)
        self.bind(scope, name)
        return [f"{name} = {src} -> {chain}"], size

    def stmt_apply(self, scope: _Scope, budget: int) -> tuple[list[str], int]:
        """A layer called on a tensor, directly or through a name (`op = ...; t = op(h)`)."""
        src = self.pick(scope.tensors)
        layer, size = self.write_atom(scope, budget, depth=1)
        if " -> " in layer and not layer.startswith(("choice", "repeat", "cell")):
            layer = f"({layer})"  # `A -> B(x)` would apply only B
        name = self.target(scope)
        if self.chance(0.5):
            op = self.fresh("op")
            self.bind(scope, name)
            return [f"{op} = {layer}", f"{name} = {op}({src})"], size
        self.bind(scope, name)
        return [f"{name} = {layer}({src})"], size

    def stmt_combine(self, scope: _Scope, budget: int) -> tuple[list[str], int]:
        a, b = self.pick(scope.tensors), self.pick(scope.tensors)
        c = scope.c
        form = self.pick(("{a} + {b}", "{a} * {b}", "cat({a}, {b}, dim=1) -> Conv2d(2 * {c}, {c}, 1)",
                          "sum({a}, {b})", "mean({a}, {b})", "cat([{a}, {b}]) -> Conv2d(2 * {c}, {c}, 1)"))
        name = self.target(scope)
        self.bind(scope, name)
        return [f"{name} = " + form.format(a=a, b=b, c=c)], 1

    def stmt_pick(self, scope: _Scope, budget: int) -> tuple[list[str], int]:
        k = self.count(2, min(3, len(scope.tensors)))
        tensors = self.draw(st.permutations(scope.tensors))[:k]
        mode = self.pick(("one", "all", "some", "any"))
        n = {"one": 1, "all": k, "some": max(1, k - 1), "any": None}[mode]
        size = (2 ** k - 1) if n is None else math.comb(k, n)
        if size > budget:
            n, size = k, 1
        reduces = ["sum", "mean"] + (["concat"] if n is not None else []) + (["none"] if n == 1 else [])
        reduce = self.pick(reduces)
        args = ", ".join(tensors)
        opts = "" if n == 1 and self.chance(0.3) else (', n="any"' if n is None else f", n={n}")
        if n is None and reduce != "concat" and size + 1 <= budget and self.chance(0.3):
            opts += ", min=0"  # the empty subset too: zeros
            size += 1
        if reduce != "sum" or self.chance(0.5):
            opts += f', reduce="{reduce}"'
        if self.chance(0.2):
            opts += f', label="{self.fresh("L")}"'
        text = f"pick({args}{opts})"
        if reduce == "concat":
            text += f" -> Conv2d({n} * {scope.c}, {scope.c}, 1)"
        name = self.target(scope)
        self.bind(scope, name)
        return [f"{name} = {text}"], size

    def stmt_pair(self, scope: _Scope, budget: int) -> tuple[list[str], int]:
        """A two-input block or a two-predecessor cell applied to two tensors."""
        a, b = self.draw(st.permutations(scope.tensors))[:2]
        two = [blk for blk in scope.blocks if blk.n_in == 2 and blk.size <= budget]
        name = self.target(scope)
        if two and self.chance(0.6):
            blk = self.pick(two)
            call = f"{blk.name}({scope.c})"
            text = f"({a}, {b}) -> {call}" if self.chance(0.5) else f"{call}({a}, {b})"
            self.bind(scope, name)
            return [f"{name} = {text}"], blk.size
        cell, size = self.write_cell(scope, budget, predecessors=2)
        self.bind(scope, name)
        if cell is None:
            return [f"{name} = cat({a}, {b}, dim=1) -> Conv2d(2 * {scope.c}, {scope.c}, 1)"], 1
        return [f"{name} = {cell}({a}, {b})"], size

    def stmt_cell(self, scope: _Scope, budget: int) -> tuple[list[str], int]:
        src = self.pick(scope.tensors)
        cell, size = self.write_cell(scope, budget, predecessors=1)
        if cell is None:
            cell, size = self.atom_plain(scope, budget, 0)
        name = self.target(scope)
        self.bind(scope, name)
        return [f"{name} = {src} -> {cell}"], size

    def stmt_value(self, scope: _Scope, budget: int) -> tuple[list[str], int]:
        """`v = choice[...]`: a value the following layers and constraints can use."""
        kind, pool, role = self.pick(_VAR_POOLS)
        options = self.subset(pool, budget)
        name = self.fresh("v")
        scope.vars.append(_Var(name, kind, options[0], options, role))
        return [f"{name} = {self.value_choice(options)}"], len(options)

    def stmt_derived(self, scope: _Scope, budget: int) -> tuple[list[str], int]:
        """`v = <expression over earlier values>` (no decision of its own)."""
        text, witness = self.int_expr(scope, depth=2, constrained_only=True)
        name = self.fresh("v")
        scope.vars.append(_Var(name, "int", witness))
        return [f"{name} = {text}"], 1

    def stmt_constraint(self, scope: _Scope, budget: int) -> tuple[list[str], int]:
        """`require`/`forbid` over choices, oriented so it holds at the witness."""
        text, holds = self.bool_expr(scope, depth=2, constrained_only=True)
        kind = "require" if holds else "forbid"
        message = f', "{self.fresh("rule ")}"' if self.chance(0.3) else ""
        return [f"{kind} {text}{message}"], 1

    def stmt_for(self, scope: _Scope, budget: int) -> tuple[list[str], int]:
        """A `for` loop rebinding one tensor; each iteration adds its own decisions."""
        src = self.pick(scope.tensors)
        var = self.fresh("j")
        if self.chance(0.5):
            n = self.count(1, 3)
            iterable, values = f"range({n})", list(range(n))
        else:
            values = list(self.subset((1, 3, 5), 3))
            iterable = "[" + ", ".join(map(str, values)) + "]"
        per = _root(budget, len(values))
        role = "kernel" if all(v % 2 for v in values) else ""
        inner = _Scope(scope.c, scope.vars + [_Var(var, "int", values[0], role=role, constrainable=False)],
                       blocks=scope.blocks)
        chain, size = self.write_chain(inner, per, depth=1)
        if self.chance(0.5):
            chain = f"Conv2d({scope.c}, {scope.c}, 2 * ({var} % 2) + 1, padding={var} % 2) -> " + chain
        name = src if self.chance(0.5) else self.fresh("t")
        lines = [] if name == src else [f"{name} = {src}"]
        lines.append(f"for {var} in {iterable} {{ {name} = {name} -> {chain} }}")
        self.bind(scope, name)
        return lines, size ** len(values)

    def stmt_dag(self, scope: _Scope, budget: int) -> tuple[list[str], int]:
        """An ENAS-macro-style loop: a list of outputs grown by appending, each layer reading
        the last one and, under a statement-level `if`, any subset of the earlier ones
        (`pick` over a slice of the list)."""
        n = self.count(2, 3)
        empty = self.chance(0.5)  # `min=0`: a layer may take no skip at all (ENAS)
        picks = math.prod(2 ** j - (not empty) for j in range(1, n))  # pick over outs[0:j]: 2^j (- 1) subsets
        skips = picks <= budget and self.chance(0.8)
        per = _root(max(1, budget // picks) if skips else budget, n)
        var, outs, layer = self.fresh("j"), self.fresh("outs"), self.fresh("t")
        inner = _Scope(scope.c, scope.vars + [_Var(var, "int", 0, constrainable=False)], blocks=scope.blocks)
        chain, size = self.write_chain(inner, per, depth=1)
        last = self.pick(("-1", var))  # outs[-1] and outs[j] are the same tensor
        lines = [f"{outs} = [{self.pick(scope.tensors)}]", f"for {var} in range({n}) {{",
                 f"  {layer} = {outs}[{last}] -> {chain}"]
        if skips:
            reduce = self.pick(("sum", "mean"))
            bounds = self.pick((f"0:{var}", f":{var}"))
            least = ", min=0" if empty else ""
            lines += [f"  if {var} > 0 {{", f"    skip = pick({outs}[{bounds}], n=\"any\"{least}, reduce=\"{reduce}\")",
                      f"    {layer} = {layer} + skip", "  }"]
        lines += [f"  {outs} = {outs} + [{layer}]", "}"]
        name = self.target(scope)
        lines.append(f"{name} = {outs}[{self.pick(('-1', str(n)))}]")
        self.bind(scope, name)
        return lines, size ** n * (picks if skips else 1)

    # -- layers

    def write_chain(self, scope: _Scope, budget: int, depth: int) -> tuple[str, int]:
        parts, total = [], 1
        for _ in range(self.count(1, 3)):
            text, size = self.write_atom(scope, max(1, budget // total), depth)
            parts.append(text)
            total *= size
        return " -> ".join(parts), total

    def write_atom(self, scope: _Scope, budget: int, depth: int) -> tuple[str, int]:
        """One 1-in 1-out layer on `scope.c` channels, adding at most `budget` architectures."""
        kinds = ["plain", "plain"]
        if budget >= 2:
            kinds += ["choice_arg", "choice_arg"]
        if any(v.kind == "int" for v in scope.vars):
            kinds += ["var_arg", "var_arg"]  # there is an expression to write
        if [b for b in scope.blocks if b.n_in == 1 and b.size <= budget]:
            kinds += ["block", "block"]
        if depth > 0 and budget >= 2:
            kinds += ["layer_choice", "layer_choice", "layer_choice", "repeat", "repeat", "cell"]
        kind = self.pick(kinds)
        return getattr(self, "atom_" + kind)(scope, budget, depth)

    def atom_plain(self, scope: _Scope, budget: int, depth: int) -> tuple[str, int]:
        return self.pick(_PLAIN_LAYERS).format(c=scope.c), 1

    def atom_choice_arg(self, scope: _Scope, budget: int, depth: int) -> tuple[str, int]:
        """An op with an inline value choice in an argument, e.g. `Conv2d(c, c, choice[1, 3], ...)`."""
        template, pool = self.pick(_CHOICE_LAYERS)
        if pool is None:
            if budget < 4:
                return self.atom_plain(scope, budget, depth)
            return template, 4
        options = self.subset(pool, budget)
        return template.format(c=scope.c, v=self.value_choice(options)), len(options)

    def atom_var_arg(self, scope: _Scope, budget: int, depth: int) -> tuple[str, int]:
        """An op whose arguments are expressions over values in scope: kernel-like values in
        shape-relevant places (`k`, `k // 2`, `3 if k == 1 else 5`), any integer expression
        where shapes do not depend on it (a slope, a bias flag)."""
        c = scope.c
        forms = []
        kernels = [v for v in scope.vars if v.role == "kernel"]
        if kernels:
            k = self.pick(kernels).name
            forms += [f"Conv2d({c}, {c}, {k}, padding={k} // 2)",
                      f"Conv2d({c}, {c}, 3 if {k} == 1 else 5, padding=1 if {k} == 1 else 2)",
                      f"MaxPool2d(max({k}, 1), 1, max({k}, 1) // 2)",
                      f"Conv2d({c}, {c}, 3, padding=min({k}, 1) + 0 * {k}, dilation=1)"]
        form = self.pick(forms + ["slope", "bias"])
        if form == "slope":
            text, _ = self.int_expr(scope, depth=2)
            return f"LeakyReLU(negative_slope={text})", 1
        if form == "bias":
            text, _ = self.bool_expr(scope, depth=2)
            return f"Conv2d({c}, {c}, 1, bias={text})", 1
        return form, 1

    def atom_block(self, scope: _Scope, budget: int, depth: int) -> tuple[str, int]:
        blk = self.pick([b for b in scope.blocks if b.n_in == 1 and b.size <= budget])
        args = scope.c
        if blk.extra and self.chance(0.5):
            kernels = [v.name for v in scope.vars if v.role == "kernel"]
            value = self.pick(["5", "1"] + kernels)
            args += f", {blk.extra}={value}" if self.chance(0.7) else f", {value}"
        if not blk.name.startswith("nb.") and self.chance(0.15):
            same = [lb for lb, name in self.block_labels.items() if name == blk.name]
            label = self.pick(same) if same and self.chance(0.5) else self.fresh("L")
            self.block_labels[label] = blk.name
            args += f', label="{label}"'
        return f"{blk.name}({args})", blk.size

    def atom_layer_choice(self, scope: _Scope, budget: int, depth: int) -> tuple[str, int]:
        """`choice { a: ..., b: ... }`, with nested choices, `Zero()` and `Identity()` candidates."""
        n = self.count(2, min(4, budget))
        names = self.draw(st.permutations(["conv", "pool", "skip", "zero", "deep", "alt", "op"]))[:n]
        parts, total = [], 0
        for name in names:
            if name == "zero":
                text, size = "Zero()", 1
            elif name == "skip":
                text, size = "Identity()", 1
            elif budget // n >= 2 and self.chance(0.4):  # a decision that exists only under this candidate
                text, size = self.atom_choice_arg(scope, budget // n, depth - 1)
            else:
                text, size = self.write_chain(scope, max(1, budget // n), depth - 1)
            parts.append(f"{name}: {text}")
            total += size
        label = f' "{self.fresh("L")}"' if self.chance(0.15) else ""
        sep = ",\n    " if self.chance(0.3) else ", "
        return f"choice{label} {{ {sep.join(parts)} }}", total

    def atom_repeat(self, scope: _Scope, budget: int, depth: int) -> tuple[str, int]:
        """`repeat(depth, lambda i: ...)` with a chosen (or fixed) depth; the body sees `i`."""
        depth_vars = [v for v in scope.vars if v.role == "depth"]
        form = self.pick(("choice", "choice", "const") + (("var",) if depth_vars else ()))
        if form == "const":
            depths = (self.count(0, 2),)
            depth_text = str(depths[0])
        elif form == "var":
            var = self.pick(depth_vars)
            depths, depth_text = var.options, var.name
        else:
            depths = self.subset((0, 1, 2, 3), budget)
            depth_text = self.value_choice(depths)
        top = max(depths)
        # a depth variable was counted where it was bound; a depth choice is counted here
        per = _root(budget if form != "choice" else budget // len(depths), top)
        index = self.fresh("i")
        inner = _Scope(scope.c, scope.vars + [_Var(index, "int", 0, constrainable=False)],
                       blocks=scope.blocks)
        body, s = self.write_chain(inner, per, depth - 1)
        if self.chance(0.5):
            body = f"Conv2d({scope.c}, {scope.c}, 3 if {index} % 2 == 0 else 1, padding=1 if {index} % 2 == 0 else 0) -> " + body
        size = sum(s ** d for d in depths) if form == "choice" else s ** top
        keyword = self.chance(0.3)
        args = f"depth={depth_text}, block=lambda {index}: {body}" if keyword else f"{depth_text}, lambda {index}: {body}"
        if self.chance(0.15):
            args += f', label="{self.fresh("L")}"'
        return f"repeat({args})", size

    def atom_cell(self, scope: _Scope, budget: int, depth: int) -> tuple[str, int]:
        text, size = self.write_cell(scope, budget, predecessors=1)
        return (text, size) if text is not None else self.atom_plain(scope, budget, depth)

    def write_cell(self, scope: _Scope, budget: int, predecessors: int) -> tuple[str | None, int]:
        """`cell(lambda ...: choice {...}, nodes=, ops_per_node=, ...)`, sized to the budget
        (`None` when even the smallest such cell would not fit)."""
        c = scope.c
        n_ops = self.count(2, 3)
        nodes, per_node = self.cell_shape(budget, predecessors, n_ops)
        size = _cell_size(predecessors, nodes, per_node, n_ops)
        if size > budget:
            return None, 1
        params = self.pick(("input", "node, input", "node, op, input", "", "op"))
        conv = f"Conv2d({c}, {c}, 3 if node == {predecessors} else 1, padding=1 if node == {predecessors} else 0)" \
            if "node" in params else f"Conv2d({c}, {c}, 3, padding=1)"
        cands = [f"conv: {conv}", "zero: Zero()", "pool: MaxPool2d(3, 1, 1)", "skip: Identity()"]
        cands = self.draw(st.permutations(cands))[:n_ops]
        # loose_end concatenates a varying number of nodes: a width no fixed layer after it
        # could take, so only a one-node cell (whose node is always the loose end) uses it
        merge = self.pick(("all", "loose_end")) if nodes == 1 else "all"
        args = [f"lambda {params}: choice {{ {', '.join(cands)} }}".replace("lambda :", "lambda:")]
        args.append(f"nodes={nodes}")
        args += self.cell_options(c, nodes, per_node, predecessors, merge)
        return "cell(" + ", ".join(args) + ")", size

    def cell_shape(self, budget: int, predecessors: int, n_ops: int) -> tuple[int, int]:
        """(nodes, ops per node) of a cell: from one each, grown one at a time while a coin
        says so and the cell stays within the budget, 3 nodes and 2 ops per node."""
        nodes, per_node = 1, 1
        while True:
            grow = self.chance(0.4)
            if not grow:
                break
            trial_nodes, trial_per = (nodes + 1, per_node) if self.chance(0.5) else (nodes, per_node + 1)
            if _cell_size(predecessors, trial_nodes, trial_per, n_ops) > budget or trial_nodes > 3 or trial_per > 2:
                break
            nodes, per_node = trial_nodes, trial_per
        return nodes, per_node

    def cell_options(self, c: str, nodes: int, per_node: int, predecessors: int, merge: str) -> list[str]:
        """A cell's keyword arguments after `nodes=`: those that differ from their defaults
        always, the others now and then, and the optional pre- and postprocessing, dimension
        and label at random (a multi-node cell is always projected back to `c` channels)."""
        args = []
        if per_node != 1 or self.chance(0.3):
            args.append(f"ops_per_node={per_node}")
        if predecessors != 1 or self.chance(0.3):
            args.append(f"predecessors={predecessors}")
        if merge != "all" or self.chance(0.3):
            args.append(f'merge="{merge}"')
        if self.chance(0.3):
            pre = ", ".join(self.pick((f"Conv2d({c}, {c}, 1)", "Identity()", "ReLU()")) for _ in range(predecessors))
            args.append(f"preprocess=[{pre}]")
        if nodes > 1 or self.chance(0.3):
            args.append(f"postprocess=Conv2d({nodes} * {c}, {c}, 1)")
        if self.chance(0.2):
            args.append("concat_dim=1")
        if self.chance(0.3):
            args.append(f'label="{self.fresh("L")}"')
        return args

    # -- value expressions (text, value at the witness)

    def int_expr(self, scope: _Scope, depth: int, constrained_only: bool = False) -> tuple[str, int]:
        ints = [v for v in scope.vars if v.kind == "int" and (v.constrainable or not constrained_only)]
        if depth <= 0 or self.chance(0.3):
            if ints and self.chance(0.8):
                v = self.pick(ints)
                return v.name, v.witness
            n = self.count(0, 5)
            return str(n), n
        form = self.pick(("+", "-", "*", "//", "%", "max", "min", "abs", "if", "neg"))
        a, va = self.int_expr(scope, depth - 1, constrained_only)
        if form in ("//", "%"):
            k = self.count(1, 4)
            return f"({a} {form} {k})", (va // k if form == "//" else va % k)
        if form == "neg":
            return f"-({a})", -va
        if form == "abs":
            return f"abs({a})", abs(va)
        b, vb = self.int_expr(scope, depth - 1, constrained_only)
        if form in ("max", "min"):
            return f"{form}({a}, {b})", (max(va, vb) if form == "max" else min(va, vb))
        if form == "if":
            test, holds = self.bool_expr(scope, depth - 1, constrained_only)
            return f"({a} if {test} else {b})", (va if holds else vb)
        value = {"+": va + vb, "-": va - vb, "*": va * vb}[form]
        return f"({a} {form} {b})", value

    def bool_expr(self, scope: _Scope, depth: int, constrained_only: bool = False) -> tuple[str, bool]:
        strs = [v for v in scope.vars if v.kind == "str" and v.options]
        bools = [v for v in scope.vars if v.kind == "bool" and v.options]
        forms = ["cmp", "cmp", "cmp"]
        if depth > 0:
            forms += ["and", "or", "not"]
        if strs:
            forms.append("str")
        if bools:
            forms.append("bool")
        form = self.pick(forms)
        if form == "str":
            v = self.pick(strs)
            other = self.pick(v.options)
            op = self.pick(("==", "!="))
            return f"{v.name} {op} {_lit(other)}", (v.witness == other) == (op == "==")
        if form == "bool":
            v = self.pick(bools)
            return v.name, bool(v.witness)
        if form == "not":
            text, value = self.bool_expr(scope, depth - 1, constrained_only)
            return f"not ({text})", not value
        if form in ("and", "or"):
            a, va = self.bool_expr(scope, depth - 1, constrained_only)
            b, vb = self.bool_expr(scope, depth - 1, constrained_only)
            return f"({a} {form} {b})", (va and vb) if form == "and" else (va or vb)
        a, va = self.int_expr(scope, depth - 1, constrained_only)
        b, vb = self.int_expr(scope, depth - 1, constrained_only)
        op = self.pick(("==", "!=", "<", "<=", ">", ">="))
        value = {"==": va == vb, "!=": va != vb, "<": va < vb, "<=": va <= vb, ">": va > vb, ">=": va >= vb}[op]
        return f"{a} {op} {b}", value


def _cell_size(predecessors: int, nodes: int, per_node: int, n_ops: int) -> int:
    """Architectures of a cell with fixed candidates: per op, an input and a candidate."""
    size = 1
    for ni in range(predecessors, predecessors + nodes):
        size *= (ni * n_ops) ** per_node
    return size


def _root(budget: int, n: int) -> int:
    """The largest integer r >= 1 with r ** n <= budget (float roots can overshoot)."""
    if n <= 0:
        return 1
    r = max(1, int(round(budget ** (1 / n))))
    while r > 1 and r ** n > budget:
        r -= 1
    while (r + 1) ** n <= budget:
        r += 1
    return r


def _typed(options: tuple) -> tuple:
    """Options compared with their types: Python says (1,) == (True,) and (0,) == (0.0,)."""
    return tuple((type(o).__name__, o) for o in options)


def _is_range(options: tuple) -> bool:
    step = options[1] - options[0]
    return step > 0 and all(b - a == step for a, b in zip(options, options[1:]))
