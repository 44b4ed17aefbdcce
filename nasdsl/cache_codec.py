"""The IR as JSON: how `nasdsl.cache` stores a compiled space, as data that decoding only
ever turns back into the IR's own frozen dataclasses (no pickle, no code).

An encoded value is a flat table of nodes, children before parents, plus the index of the
root. A field is a JSON scalar (str, int, float, bool, null) or `[i]`, a reference to node i.
Nodes: ["t", f...] a tuple, ["l", f...] a list, ["d", k, f, k, f...] a dict with str keys,
["f", "inf"|"-inf"|"nan"] a float JSON cannot spell, ["L", file, line, col, text] a Loc
(text: an index into "texts" or null), [class, f...] an IR dataclass built from its init
fields, and ["CellOp*", op_label, input_label, first, n] a cell op whose n candidates are
`first` and n - 1 fresh copies of it (as the elaborator built them). Modules keep their
identity (a module used twice is one node: shared weights stay shared, distinct modules stay
distinct); values, tuples and locations equal in type and content become one node.

How it is written. The module template is walked with the IR's own traversal,
`ir.transform`: each module is written after its children, and `with_children` puts the
table references of its children where the modules were, so the node itself is written as
any other dataclass, field by field (`_Encoder.layouts`: per class, its init fields, each
with its encoding, from `dataclasses.fields`). Every other value is written by its class
(`_Encoder.kinds`). Reading is the same table the other way (`_Decoder.builders`: per tag,
what it builds).

Example::

    >>> from nasdsl.values import Ref, binary
    >>> data = encode((binary("+", Ref("k"), 1), 2.5))
    >>> data["nodes"], data["root"]
    ([['Ref', 'k'], ['Binary', '+', [0], 1], ['t', [1], 2.5]], [2])
    >>> decode(data)
    (Binary(op='+', left=Ref(label='k'), right=1), 2.5)
"""
from __future__ import annotations

import dataclasses
import gc
import hashlib
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from functools import lru_cache, partial
from operator import attrgetter
from typing import Any

from . import ir, values
from .errors import Loc


@contextmanager
def paused_gc():
    """The cyclic garbage collector paused for a burst of allocation (compiling a space,
    reading or writing an entry: tens of thousands of small objects that live on, none of
    them garbage). Collection passes over a growing heap cost 20-40% of compiling a large
    space; cycles made meanwhile are collected once it resumes."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


class Uncacheable(Exception):
    """The space holds something the entry format does not store (it is then not cached)."""


def entry_classes() -> dict[str, type]:
    """The dataclasses an entry may build, by the tag that names them: the IR's and the values'."""
    out = {cls.__name__: cls for cls in (ir.Decision, ir.Constraint, ir.Op, ir.Sequential, ir.TensorIn, ir.Apply,
                                         ir.Combine, ir.Pick, ir.Graph, ir.LayerChoice, ir.Repeat, ir.CellOp,
                                         ir.Cell, values.Ref, values.Binary, values.Unary, values.IfElse,
                                         values.Func)}
    assert not {"t", "l", "d", "f", "L", "CellOp*"} & set(out)
    return out


MODULES = frozenset({ir.Op, ir.Sequential, ir.Graph, ir.LayerChoice, ir.Repeat, ir.Cell})


@lru_cache(maxsize=1)
def _schema() -> dict[type, tuple[str, tuple[str, ...]]]:
    """Per entry class: its tag and the names of its init fields, in order."""
    return {cls: (name, tuple(f.name for f in dataclasses.fields(cls) if f.init))
            for name, cls in entry_classes().items()}


# --- writing ---------------------------------------------------------------------------------

_PLAIN = frozenset({int, str, bool, type(None)})


def _plain_args_key(args: tuple) -> tuple | None:
    """An op's `(name, value)` arguments as a key that keeps 1, 1.0, True and 0.0, -0.0 apart,
    when every value is a constant or a tuple of constants; None otherwise. The key is the
    arguments (equal as Python compares them) and, per value, what tells equal ones apart:
    its class (a zero's `repr`), the classes of a tuple's items."""
    apart = []
    for _, v in args:
        cls = v.__class__
        if cls in _PLAIN:
            apart.append(cls)
        elif cls is float:
            apart.append(float if v else repr(v))   # equal floats differ only as 0.0 and -0.0
        elif cls is tuple and all(i.__class__ in _PLAIN for i in v):
            apart.append(tuple([i.__class__ for i in v]))
        else:
            return None
    return args, tuple(apart)


class _Written:
    """A module already in the table, as `ir.transform` hands it to its parent: the parent is
    rebuilt around these (`with_children`), and each is written as its reference."""
    __slots__ = ("ref",)

    def __init__(self, ref: list):
        self.ref = ref


class _Copied:
    """Stands for a cell op's candidate that copies its first: never written (the op is
    written as "CellOp*"); met anywhere else, it is a value of no kind (`Uncacheable`)."""
    __slots__ = ()


_COPY = _Copied()


class _Encoder:
    """One table being written: `field(x)` adds what `x` needs and returns x's field."""

    def __init__(self, copies: Mapping[int, Any] | None = None):
        self.nodes: list[list] = []
        self.by_id: dict[int, list] = {}      # object -> its node (objects stay alive: the value holds them)
        self.by_value: dict[tuple, list] = {}  # a node's content -> the node, for values
        self.by_args: dict[tuple, list] = {}   # an op's constant arguments -> their node
        self.texts: dict[str, int] = {}
        self.rebuilt: list = []                # modules rebuilt around references: kept alive while ids are held
        # modules written, by id (`ir.transform`'s memo), starting with the candidates after the first of a
        # cell op that copied them: those are left out, and the op written as "CellOp*"
        self.written: dict[int, _Written | _Copied] = {
            id(c): _COPY for op in (copies or {}).values() for c in op.candidates[1:]}
        self.kinds, self.layouts = _writers()   # (tables of plain functions: no cycle keeps an encoder alive)

    def field(self, x: Any) -> Any:
        cls = x.__class__
        if cls is str or cls is int or cls is bool or x is None:
            return x
        hit = self.by_id.get(id(x))
        if hit is not None:
            return hit
        kind = self.kinds.get(cls)
        if kind is None:
            raise Uncacheable(f"a value of type {cls.__name__}")
        return kind(self, x)

    def shared(self, x: Any, node: list) -> list:
        """Add the node of value `x`, unless an equal one is there (equal in type and content:
        the key keeps 1, 1.0 and True apart, and 0.0 and -0.0); `x`'s reference either way."""
        key = tuple([v if v.__class__ is str else (v.__class__, v[0] if v.__class__ is list else
                                                   repr(v) if v.__class__ is float else v) for v in node])
        ref = self.by_value.get(key)
        if ref is None:
            self.nodes.append(node)
            ref = self.by_value[key] = [len(self.nodes) - 1]
        self.by_id[id(x)] = ref
        return ref

    def node_of(self, x: Any) -> list:
        """A dataclass's node: its tag, then each init field as its layout writes it."""
        tag, read, encodings = self.layouts[x.__class__]
        node = [tag]
        for v, encode in zip(read(x), encodings):
            c = v.__class__
            node.append(v if c is str or c is int else encode(self, v))
        return node

    # values, by kind

    def tuple_(self, x: tuple) -> list:
        node = ["t"]
        for v in x:
            c = v.__class__
            node.append(v if c is str or c is int else self.field(v))
        return self.shared(x, node)

    def list_(self, x: list) -> list:
        return self.shared(x, ["l", *map(self.field, x)])

    def dict_(self, x: dict) -> list:
        node = ["d"]
        for k, v in x.items():
            if k.__class__ is not str:
                raise Uncacheable(f"a dict key of type {type(k).__name__}")
            node += [k, self.field(v)]
        return self.shared(x, node)

    def float_(self, x: float) -> Any:
        if x == x and x not in (float("inf"), float("-inf")):
            return x
        return self.shared(x, ["f", repr(x)])

    def loc(self, x: Loc) -> list:
        text = None if x.text is None else self.texts.setdefault(x.text, len(self.texts))
        return self.shared(x, ["L", x.file, x.line, x.col, text])

    def record(self, x: Any) -> list:
        return self.shared(x, self.node_of(x))

    def cell_op(self, x: ir.CellOp) -> list:
        first, *rest = x.candidates or (None,)
        if rest and all(c is _COPY for c in rest):
            field = self.field
            return self.shared(x, ["CellOp*", field(x.op_label), field(x.input_label), field(first), len(rest) + 1])
        return self.record(x)

    def unshared(self, x: Any) -> Any:
        """A field that holds modules (each only itself): its tuples, of modules, of (name,
        module) pairs, are written without looking for an equal one."""
        if x.__class__ is not tuple:
            return self.field(x)
        node = ["t"]
        for v in x:
            node.append(self.unshared(v) if v.__class__ is tuple else self.field(v))
        self.nodes.append(node)
        return [len(self.nodes) - 1]

    def op_args(self, args: tuple) -> Any:
        """An op's arguments: when all are constants, found by a key made at once, not item by item."""
        key = _plain_args_key(args)
        if key is None:
            return self.field(args)
        ref = self.by_args.get(key)
        if ref is None:
            ref = self.by_args[key] = self.field(args)
        return ref

    # modules

    def module(self, root: ir.Module) -> list:
        """A template, by the IR's traversal: children first, each module once."""
        return self.field(ir.transform(root, self.module_node, self.written))

    def module_node(self, m: ir.Module, children: tuple[_Written, ...]) -> _Written:
        """Write module `m` (its children are written): never merged with an equal module."""
        if children:   # the module around its children's references: then a dataclass like any other
            m = m.with_children(children)
            self.rebuilt.append(m)
        tag, read, encodings = self.layouts[m.__class__]
        node = [tag]
        for v, encode in zip(read(m), encodings):   # (`node_of`, spelled out for the commonest node)
            c = v.__class__
            node.append(v if c is str or c is int else encode(self, v))
        self.nodes.append(node)
        return _Written([len(self.nodes) - 1])

    def reference(self, x: _Written) -> list:
        return x.ref


@lru_cache(maxsize=1)
def _writers() -> tuple[dict[type, Callable], dict[type, tuple[str, Callable, tuple]]]:
    """How the encoder writes: per class, its writer (`_Encoder.kinds`), and per dataclass its
    layout (`_Encoder.layouts`): its tag, a reader of its init fields, and each field's writer."""
    kinds: dict[type, Callable] = {tuple: _Encoder.tuple_, list: _Encoder.list_, dict: _Encoder.dict_,
                                   float: _Encoder.float_, Loc: _Encoder.loc, _Written: _Encoder.reference,
                                   ir.CellOp: _Encoder.cell_op}
    layouts = {}
    for cls, (tag, names) in _schema().items():
        kinds.setdefault(cls, _Encoder.module if cls in MODULES else _Encoder.record)
        layouts[cls] = (tag, attrgetter(*names) if len(names) > 1 else lambda x, n=names[0]: (getattr(x, n),),
                        tuple(_encoding(cls, f) for f in dataclasses.fields(cls) if f.init))
    return kinds, layouts


def _encoding(cls: type, f: dataclasses.Field) -> Callable:
    """How field `f` of `cls` is written, from its declaration: a field that holds modules as
    itself (`unshared`), an op's arguments by their constants at once (the commonest field),
    any other field as a value."""
    if "Module" in str(f.type):
        return _Encoder.unshared
    return _Encoder.op_args if (cls, f.name) == (ir.Op, "args") else _Encoder.field


def encode(value: Any, copies: Mapping[int, Any] | None = None) -> dict:
    """The JSON form of IR data: a space's parts, or any value made of constants, tuples,
    lists, dicts, locations and IR dataclasses (`decode` inverts it). `copies` holds cell ops
    (by id) whose candidates after the first are fresh copies of it: those are written once."""
    enc = _Encoder(copies)
    with paused_gc():
        root = enc.field(value)
    return {"nodes": enc.nodes, "root": root, "texts": list(enc.texts)}


def encode_space(space) -> dict:
    """The JSON form of a space's IR: first (`"root"`, nodes up to `"head"`) the decisions,
    constraints, network inputs, parameters and sources, then (`"template"`) the template,
    which a reader can build later, on first use."""
    enc = _Encoder(space.fresh_copies)
    template = space.template
    with paused_gc():
        root = enc.field((space.decisions, space.constraints + space.budgets, template.inputs, space.params,
                          space.sources, space.root_file))
        head = len(enc.nodes)
        built = enc.field(template)
    return {"nodes": enc.nodes, "root": root, "head": head, "template": built, "texts": list(enc.texts)}


LONG_TEXT = 1 << 14  # a node whose text is longer is kept as its pieces, not joined (`fingerprint_of`)


def fingerprint_of(data: dict, constraints: int) -> str:
    """`Space.fingerprint()` of the space `encode_space` wrote as `data` (of whose constraints
    the first `constraints` are not budgets), worked out from the entry's node table: the text
    hashed is `repr((decisions, constraints, budgets, template))`, written once per node, so a
    node met many times (a cell op's copied candidates, shared values) costs one `repr`.

    A node's text is joined into one string while it is at most `LONG_TEXT` characters; a
    longer one is kept as its pieces (strings, and the indices of long children), and the hash
    is fed by walking those. The texts of shared nodes repeat, so the whole text can be far
    longer than the table (7.6 MB for NAS-Bench-101's 3,205 nodes): joining it level by level
    would copy it once per level of nesting.

    Example::

        >>> space = nasdsl.load("darts")
        >>> fingerprint_of(encode_space(space), len(space.constraints)) == space.fingerprint()
        True
    """
    fields = _schema()
    shown = {name: tuple(f.name for f in dataclasses.fields(cls) if f.init and f.repr)
             for cls, (name, _) in fields.items()}
    positions = {name: [i for i, f in enumerate(names) if f in shown[name]] for _, (name, names) in fields.items()}
    classes = {name: (cls.__qualname__ + "(", [(f"{', ' if k else ''}{shown[name][k]}=", i)
                                               for k, i in enumerate(positions[name])])
               for cls, (name, _) in fields.items()}
    texts: list[Any] = []   # per node: its text (a str), or its pieces (a list of str and node indices)
    sizes: list[int] = []   # per node: the length of its text

    def part(v: Any) -> Any:
        """A field's text (a str), or the index of its node when that node's text is long."""
        if v.__class__ is list:
            t = texts[v[0]]
            return t if t.__class__ is str else v[0]
        return repr(v)

    for node in data["nodes"]:
        text, size = _joined(_node_pieces(node, part, classes), sizes)
        texts.append(text)
        sizes.append(size)
    decisions, everything = (data["nodes"][data["root"][0]][i] for i in (1, 2))
    rules = [part(v) for v in data["nodes"][everything[0]][1:]]
    payload = ["(", part(decisions), ", ", *(_tupled(rules[:constraints]) if constraints else ["()"]), ", ",
               *(_tupled(rules[constraints:]) if len(rules) > constraints else ["()"]), ", ",
               part(data["template"]), ")"]
    return _sha256_of_pieces(payload, texts).hexdigest()[:16]


def _joined(pieces: list, sizes: list[int]) -> tuple[Any, int]:
    """A node's text, joined if it is at most `LONG_TEXT` characters, else its pieces; and its
    length (`sizes`: the lengths of the nodes before it)."""
    try:
        text = "".join(pieces)
    except TypeError:   # a piece stands for a long child: the text is long
        return pieces, sum([len(p) if p.__class__ is str else sizes[p] for p in pieces])
    return (text if len(text) <= LONG_TEXT else pieces), len(text)


def _listed(opening: str, items: list, closing: str) -> list:
    """`opening`, the items separated by ", ", `closing`: as a list of pieces."""
    pieces: list[Any] = [opening]
    for k, item in enumerate(items):
        if k:
            pieces.append(", ")
        pieces.append(item)
    pieces.append(closing)
    return pieces


def _tupled(items: list) -> list:
    """The pieces of a tuple's `repr`, given its items' texts."""
    return _listed("(", items, ",)" if len(items) == 1 else ")")


def _node_pieces(node: list, part: Callable[[Any], Any], classes: Mapping[str, tuple]) -> list:
    """The `repr` of the value an entry's node stands for, as pieces (`fingerprint_of`): strings,
    and node indices standing for their (long) texts; `part(v)` gives a field's piece and
    `classes` maps a tag to the opening of its class's `repr` and, per field shown, its text
    up to the value and the value's position in the node."""
    tag = node[0]
    if tag == "t":
        return _tupled([part(v) for v in node[1:]])
    if tag == "l":
        return _listed("[", [part(v) for v in node[1:]], "]")
    if tag == "d":
        pieces = ["{"]
        for k, (key, v) in enumerate(zip(node[1::2], node[2::2])):
            pieces += [f"{', ' if k else ''}{key!r}: ", part(v)]
        pieces.append("}")
        return pieces
    if tag == "f":
        return [repr(float(node[1]))]
    if tag == "L":
        return [f"Loc(file={node[1]!r}, line={node[2]!r}, col={node[3]!r})"]
    if tag == "CellOp*":
        _, op_label, input_label, first, count = node
        return ["CellOp(op_label=", part(op_label), ", input_label=", part(input_label), ", candidates=",
                *_tupled([part(first)] * count), ")"]
    opening, shown = classes[tag]
    pieces = [opening]
    for name, i in shown:
        pieces += [name, part(node[i + 1])]
    pieces.append(")")
    return pieces


def _sha256_of_pieces(pieces: list, texts: list) -> Any:
    """SHA-256 of the UTF-8 text that `pieces` spell out, a node index standing for its text
    in `texts` (a str, or pieces again), fed to the hash in batches of about `LONG_TEXT`."""
    digest, buffer, held = hashlib.sha256(), [], 0
    stack = [iter(pieces)]
    while stack:
        for piece in stack[-1]:
            if piece.__class__ is not str:
                stack.append(iter(texts[piece]))
                break
            buffer.append(piece)
            held += len(piece)
            if held > LONG_TEXT:
                digest.update("".join(buffer).encode())
                buffer, held = [], 0
        else:
            stack.pop()
    digest.update("".join(buffer).encode())
    return digest



# --- reading ---------------------------------------------------------------------------------

def decode_space(data: dict, rebuild: Callable[[], Any] | None = None):
    """A `Space` from `encode_space`'s form; raises on anything malformed in the decisions and
    constraints (the caller treats that as a miss). The template is decoded on first use; if it
    is malformed then, `rebuild()` (compiling the space again) supplies it."""
    from .space import LazyTemplate, Space
    copies: dict[int, Any] = {}
    head = data["head"]
    if head.__class__ is not int or data["template"].__class__ is not list:
        raise ValueError("entry")
    reader = _Decoder(data, copies)
    decisions, constraints, inputs, params, sources, root_file = reader.read(data["root"], stop=head)

    def build():
        try:
            with paused_gc():
                return reader.read(data["template"])
        except Exception:  # noqa: BLE001 - a template that does not decode: compile it again
            if rebuild is None:
                raise
            return rebuild().template

    return Space(decisions, constraints, LazyTemplate(inputs, build), params, sources, root_file, copies)


def decode(data: dict, copies: dict[int, Any] | None = None) -> Any:
    """The value `encode` wrote; raises on anything malformed. Builds only tuples, lists,
    dicts, floats, locations and the IR dataclasses of a fixed list, with data as fields:
    nothing in `data` names a module to import or a function to call. `copies` gains the cell
    ops whose candidates were copied from their first (by id), as the elaborator records them.

    Example::

        >>> import json
        >>> from nasdsl.values import Ref, binary
        >>> value = (binary("*", Ref("k"), 2), [1, 1.0, True], float("inf"))
        >>> decode(json.loads(json.dumps(encode(value)))) == value
        True
    """
    return _Decoder(data, copies).read(data["root"])


class _Decoder:
    """The objects of one table, built node by node in order: `read` builds the nodes up to
    `stop` (all of them by default) that are not built yet, then returns field `root`."""

    def __init__(self, data: dict, copies: dict[int, Any] | None = None):
        texts = data["texts"]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ValueError("texts")
        self.nodes, self.texts, self.copies = data["nodes"], texts, copies
        self.objs: list = []
        self.builders = _builders()   # (a table of plain functions: no cycle keeps a decoder alive)

    def read(self, root: Any, stop: int | None = None) -> Any:
        nodes, builders, append = self.nodes, self.builders, self.objs.append
        for node in nodes[len(self.objs):len(nodes) if stop is None else stop]:
            append(builders[node[0]](self, node))
        return self.field(root)

    def field(self, v: Any) -> Any:
        if v.__class__ is list:
            (i,) = v
            if i.__class__ is not int or not 0 <= i < len(self.objs):
                raise ValueError("reference")
            return self.objs[i]
        if v is None or v.__class__ in (str, int, float, bool):
            return v
        raise ValueError("field")

    def tuple_(self, node: list) -> tuple:
        field = self.field
        return tuple([field(v) for v in node[1:]])

    def list_(self, node: list) -> list:
        field = self.field
        return [field(v) for v in node[1:]]

    def dict_(self, node: list) -> dict:
        keys = node[1::2]
        if not all(isinstance(k, str) for k in keys):
            raise ValueError("dict")
        return dict(zip(keys, map(self.field, node[2::2])))

    def loc(self, node: list) -> Loc:
        _, file, line, col, text = node
        if not (isinstance(file, str) and isinstance(line, int) and isinstance(col, int)):
            raise ValueError("loc")
        return Loc(file, line, col, None if text is None else self.texts[text])

    def copied_cell_op(self, node: list) -> ir.CellOp:
        _, op_label, input_label, first, count = node
        first = self.field(first)
        if first.__class__ not in MODULES or count.__class__ is not int or not 1 <= count <= 64:
            raise ValueError("cell op")
        op = ir.CellOp(self.field(op_label), self.field(input_label),
                       (first, *[ir.fresh(first) for _ in range(count - 1)]))
        if self.copies is not None:
            self.copies[id(op)] = op
        return op


@lru_cache(maxsize=1)
def _builders() -> dict[str, Callable[[_Decoder, list], Any]]:
    """What the decoder builds, by tag (an unknown tag is a KeyError): containers, floats,
    locations, copied cell ops, and each entry class from its init fields."""
    builders: dict[str, Callable[[_Decoder, list], Any]] = {
        "t": _Decoder.tuple_, "l": _Decoder.list_, "d": _Decoder.dict_, "f": _float, "L": _Decoder.loc,
        "CellOp*": _Decoder.copied_cell_op}
    for cls, (tag, names) in _schema().items():
        builders[tag] = partial(_record, cls, len(names))
    return builders


def _record(cls: type, arity: int, decoder: _Decoder, node: list) -> Any:
    field = decoder.field
    args = [field(v) for v in node[1:]]
    if len(args) != arity:
        raise ValueError("arity")
    return cls(*args)


def _float(decoder: _Decoder, node: list) -> float:
    if node[1] not in ("inf", "-inf", "nan"):
        raise ValueError("float")
    return float(node[1])
