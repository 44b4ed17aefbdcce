"""The package's structure: the torch-free boundary, one traversal of the IR, one resolved form
of an architecture shared by every consumer, and no state that outlives its space."""
from __future__ import annotations

import gc
import importlib.util
import json
import re
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

import nasdsl
from nasdsl import ir, resolve, strategy
from nasdsl.analysis.shapes import costs
from nasdsl.errors import ArchitectureError, Loc, NasError
from nasdsl.values import is_expr

ROOT = Path(__file__).resolve().parents[1]

# Everything a multi-trial search, `nasdsl info`, sampling, counting and validation need.
TORCH_FREE = [
    "nasdsl", "nasdsl.syntax.parser", "nasdsl.syntax.ast", "nasdsl.syntax.fmt", "nasdsl.elaborate",
    "nasdsl.ir", "nasdsl.values", "nasdsl.space", "nasdsl.resolve", "nasdsl.arch", "nasdsl.errors",
    "nasdsl.analysis.shapes", "nasdsl.ops.catalog", "nasdsl.ops.rules", "nasdsl.formats", "nasdsl.formats.nb201",
    "nasdsl.formats.genotype", "nasdsl.formats.nb101",
    "nasdsl.strategy", "nasdsl.search.multitrial",
]


def _multi_trial_strategy_modules() -> list[str]:
    """The multi-trial strategies that exist (each is a module named after the strategy)."""
    names = [f"nasdsl.strategy.{name}" for name in strategy.MULTI_TRIAL]
    return [name for name in names if importlib.util.find_spec(name) is not None]


def test_front_end_ir_space_analysis_formats_and_multi_trial_import_no_torch():
    modules = TORCH_FREE + _multi_trial_strategy_modules()
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "space = importlib.import_module('nasdsl').load('nasbench201')\n"
        "arch = space.sample(seed=0)\n"
        "importlib.import_module('nasdsl.analysis.shapes').costs(space, arch)\n"
        "importlib.import_module('nasdsl.resolve').resolve(space, arch)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_lowering_imports_torch():
    """The other side of the boundary, so the test above cannot pass by importing nothing."""
    code = "import sys, nasdsl.lower.discrete; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


# --- one traversal ---------------------------------------------------------------------------

KINDS_IN_DARTS = {"Graph", "Sequential", "Op", "LayerChoice", "Cell"}


def test_children_rebuild_every_node_kind():
    space = nasdsl.load("darts", {"C": 8, "layers": 5, "auxiliary": True})
    kinds = set()
    for node in ir.walk(space.template):
        kinds.add(type(node).__name__)
        again = node.with_children(node.children())
        assert again == node and again is not node
    assert kinds == KINDS_IN_DARTS
    repeat = nasdsl.loads("network(x: [4]) = x -> repeat(choice[1, 2], lambda i: Linear(4, 4) -> ReLU())").template
    found = [m for m in ir.walk(repeat) if isinstance(m, ir.Repeat)]
    assert len(found) == 1 and len(found[0].children()) == 2
    assert found[0].with_children(found[0].children()[::-1]).blocks == found[0].blocks[::-1]


def test_walk_visits_a_shared_module_once_and_transform_keeps_it_shared():
    shared = ir.Op("ReLU", (("inplace", False),), Loc("t", 1, 1))
    seq = ir.Sequential((shared, ir.Op("Tanh", (), Loc("t", 1, 2)), shared), Loc("t", 1, 3))
    assert [type(m).__name__ for m in ir.walk(seq)] == ["Sequential", "Op", "Op"]
    copy = ir.transform(seq, lambda node, kids: node.with_children(kids))
    assert copy == seq and copy.items[0] is copy.items[2] and copy.items[0] is not shared


def test_transform_with_a_memo_given_skips_what_it_holds_and_keeps_nothing_alive():
    """A memo given beforehand stands for the nodes it holds (nothing below them is visited),
    is filled in place, and once `transform` returns nothing holds `fn`: with the collector
    off (as `nasdsl info` runs), a writer's tables are freed at once, not at exit."""
    leaf, other = ir.Op("ReLU", (), Loc("t", 1, 1)), ir.Op("Tanh", (), Loc("t", 1, 2))
    seq = ir.Sequential((leaf, other), Loc("t", 1, 3))
    seen = []

    class Rebuild:
        def __call__(self, node, kids):
            seen.append(node)
            return node.with_children(kids)

    fn = Rebuild()
    alive = weakref.ref(fn)
    memo = {id(leaf): "given"}
    collecting = gc.isenabled()
    gc.disable()
    try:
        out = ir.transform(seq, fn, memo)
        del fn
        assert alive() is None
    finally:
        if collecting:
            gc.enable()
    assert out.items[0] == "given" and out.items[1] == other and seen == [other, seq]
    assert memo[id(seq)] is out and memo[id(other)] is out.items[1]


def test_every_cell_op_candidate_is_a_child():
    space = nasdsl.load("nasbench201", {"C": 8, "N": 1})
    cell_space = nasdsl.load(ROOT / "examples" / "cell.nas")
    cells = [m for m in ir.walk(cell_space.template) if isinstance(m, ir.Cell)]
    assert cells
    for cell in cells:
        expected = sum(len(op.candidates) for node in cell.nodes for op in node)
        expected += sum(p is not None for p in cell.preprocess) + (cell.postprocess is not None)
        assert len(cell.children()) == expected
    # 6 edges in each stage's cell (N=1: 3 cells, one template each: their widths differ)
    assert sum(isinstance(m, ir.LayerChoice) for m in ir.walk(space.template)) == 3 * 6


# --- resolve once ---------------------------------------------------------------------------

def test_resolved_architecture_has_no_choice_and_shares_what_the_template_shares():
    space = nasdsl.load("nasbench201", {"C": 8, "N": 1})
    arch = space.sample(seed=3)
    root = resolve.resolve(space, arch)
    seen, stack = set(), [root]
    while stack:
        r = stack.pop()
        if id(r) in seen:
            continue
        seen.add(id(r))
        assert isinstance(r, (resolve.Op, resolve.Chain, resolve.Graph, resolve.Cell))
        if isinstance(r, resolve.Op):
            assert not any(is_expr(v) for v in r.args.values()), "every argument is a constant"
        stack += (r.items if isinstance(r, resolve.Chain) else list(r.modules.values()) if isinstance(r, resolve.Graph)
                  else [*r.preprocess, *r.ops.values(), r.postprocess] if isinstance(r, resolve.Cell) else [])
    from nasdsl.lower.discrete import build
    model = build(space, arch)
    assert sum(p.numel() for p in model.parameters()) == costs(space, arch)["params"]


def test_resolve_reports_a_missing_decision():
    space = nasdsl.load("nasbench201", {"C": 8, "N": 1})
    arch = dict(space.sample(seed=0))
    arch.pop("Cell.e1_0")
    with pytest.raises(ArchitectureError, match="decision 'Cell.e1_0' is missing"):
        resolve.resolve(space, arch, validate=False)


def test_cell_merge_rule_is_one_rule():
    """Loose ends: the states no op reads, whatever consumer asks."""
    space = nasdsl.load(ROOT / "examples" / "cell.nas")
    for seed in range(20):
        arch = space.validate(space.sample(seed=seed))
        for cell in (m for m in ir.walk(space.template) if isinstance(m, ir.Cell)):
            merged = ir.merged_nodes(cell, arch.__getitem__)
            first = cell.num_predecessors
            symbolic = [i for i in range(first, first + len(cell.nodes))
                        if nasdsl.values.evaluate(ir.is_loose_end(cell, i), arch)] if cell.merge != "all" else \
                list(range(first, first + len(cell.nodes)))
            assert merged == symbolic
            assert len(merged) == nasdsl.values.evaluate(ir.merged_count(cell), arch)


# --- no state outlives its space -------------------------------------------------------------

def test_error_quotes_the_line_of_its_own_space_when_file_names_collide():
    first = nasdsl.loads("network(x: [4]) {\n  return x -> Linear(4, choice[8, 16])\n}\n")
    nasdsl.loads("# another program, same file name\nnetwork(x: [4]) = x -> ReLU()\n")
    with pytest.raises(ArchitectureError) as err:
        first.validate({"out.out_features": 12})
    assert str(err.value).splitlines()[1].strip() == "return x -> Linear(4, choice[8, 16])"


def test_a_space_is_freed_with_everything_it_computed():
    refs = []
    for i in range(5):
        space = nasdsl.loads(f"network(x: [4]) {{\n  w = choice[4, 8, {16 + i}]\n  forbid w == 4\n"
                             "  return x -> Linear(4, w)\n}\n")
        assert space.size() == 2 and space.next_choice({})[1] == [8, 16 + i]
        costs(space, space.sample(seed=0))
        refs.append(weakref.ref(space))
    del space
    gc.collect()
    assert [r() for r in refs] == [None] * 5


# --- public hooks instead of privates --------------------------------------------------------

def test_next_choice_builds_exactly_the_architectures_of_a_constrained_space():
    space = nasdsl.loads(
        "network(x: [4]) {\n  a = choice[1, 2, 3]\n  b = choice[1, 2, 3]\n  require a + b <= 4\n"
        "  return x -> Linear(4, a * 4) -> Linear(a * 4, b)\n}\n")

    def complete(partial):
        step = space.next_choice(partial)
        if step is None:
            return [dict(partial)]
        decision, values = step
        assert values, "next_choice never offers a dead end"
        return [arch for v in values for arch in complete({**partial, decision.label: v})]

    found = complete({})
    assert len(found) == space.size() == 6
    assert sorted(map(json.dumps, found)) == sorted(map(json.dumps, space.enumerate()))


def test_testing_module_uses_the_public_space_api_only():
    text = (ROOT / "nasdsl" / "testing.py").read_text()
    writer = (ROOT / "nasdsl" / "program_writer.py").read_text()
    assert re.findall(r"space\._\w+", text + writer) == []
    assert re.findall(r"from \.space import (.*)", text) == ["Space"]
    assert re.findall(r"^from \.(\w*) import", writer, re.M) == []   # the writer needs no part of nasdsl


def test_genotype_needs_a_choice_of_op_on_every_edge():
    from nasdsl.formats import genotype_to_arch
    space = nasdsl.loads(
        "network(x: [4, 8, 8]) {\n"
        "  nodes = cell(lambda input: Identity(), nodes=2, ops_per_node=2, predecessors=2, label=\"normal\")\n"
        "  return nodes(x, x)\n}\n")
    with pytest.raises(NasError, match="cell 'normal' has fixed ops"):
        genotype_to_arch(space, "Genotype(normal=[('skip_connect', 0), ('skip_connect', 1)], normal_concat=[2, 3], "
                                "reduce=[], reduce_concat=[])")


# --- one record per op ------------------------------------------------------------------------

def test_every_catalog_op_has_one_complete_record():
    from nasdsl.lower.mixed import MixedOp
    from nasdsl.ops import catalog
    records = [r for r in catalog.OPS.values() if not r.custom]
    assert len(records) == len(catalog.BUILTIN) == 77  # 36 + the 41 torch.nn layers of issue 12
    for record in records:
        assert record.rule is not None, record.name
        assert callable(record.torch_builder()), record.name
        cls = record.entangled_module()
        assert cls is None or issubclass(cls, MixedOp)
    assert {r.name for r in records if r.entangled} == {
        "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Linear",
        "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
        "GroupNorm", "LayerNorm", "Embedding", "PReLU", "MultiheadAttention", "ClassToken", "PositionEmbedding",
        "RelPosSelfAttention"}
    assert [r.lacks() for r in records if r.entangled] == [()] * 21
    # every op with weights has a weight-entangled version; the others have nothing to share
    import torch

    from nasdsl.ops.modules import build_op
    weighted = set()
    for record in records:
        args = {name: default for name, default in record.params}
        required = {"in_channels": 4, "out_channels": 4, "kernel_size": 1, "num_features": 4, "in_features": 4,
                    "out_features": 4, "normalized_shape": 4, "num_groups": 2, "num_channels": 4, "embed_dim": 4,
                    "num_heads": 2, "length": 3, "num_embeddings": 5, "embedding_dim": 4}
        args.update({k: required[k] for k, v in args.items() if v is catalog.REQUIRED and k in required})
        if any(v is catalog.REQUIRED for v in args.values()):
            continue  # weightless ops with required shapes (Reshape, Softmax's dim, ...)
        if record.name.startswith("InstanceNorm"):
            args["affine"] = True
        module = build_op(record.name, args)
        if any(isinstance(p, torch.nn.Parameter) for p in module.parameters()):
            weighted.add(record.name)
    # but FactorizedReduce: two half-width convolutions concatenated, so a narrower one's output is
    # not a channel prefix of the wider one's (a supernet keeps one per width, as for a custom op)
    assert weighted - {"FactorizedReduce"} == {r.name for r in records if r.entangled}


def test_every_argument_of_every_op_has_a_domain_in_its_record():
    """One record per op: the domains sit in `OpSpec` beside the signature, argument for argument,
    and every default but `REQUIRED` lies in its own domain."""
    from nasdsl.ops import catalog
    from nasdsl.ops.domains import ANY
    for record in catalog.BUILTIN.values():
        assert [name for name, _ in record.params] == list(record.domains), record.name
        for name, default in record.params:
            domain = record.domains[name]
            assert domain is not ANY, (record.name, name)
            assert default is catalog.REQUIRED or domain.ok(default), (record.name, name, default)
    assert catalog.spec("Conv3d").domains["out_channels"].what == "a positive integer"
    assert catalog.spec("ConvTranspose2d").domains["kernel_size"].what == "a positive integer (or a tuple of them)"
    assert catalog.spec("Dropout1d").domains["p"].what == "a probability (0 <= p <= 1)"
    assert catalog.spec("InstanceNorm2d").domains["eps"].what == "a positive finite number"
    # the passes' flags live in the same record
    assert catalog.spec("ReLU").elementwise and catalog.spec("ReLU").pure
    assert catalog.spec("MaxPool2d").pure and not catalog.spec("MaxPool2d").elementwise
    assert not catalog.spec("Dropout").pure and not catalog.spec("Conv2d").pure
    # and so does how the arguments reach the builder
    assert catalog.spec("AvgPool3d").builder_arguments({"kernel_size": 2, "stride": None}) == {"kernel_size": 2}
    assert catalog.spec("Unflatten").builder_arguments({"dim": 1, "unflattened_size": [2, -1]}) == {
        "dim": 1, "unflattened_size": (2, -1)}
    assert catalog.spec("Conv2d").builder_arguments({"stride": None}) == {"stride": None}


@pytest.mark.parametrize(("shape", "call", "message"), [
    ("[4, 6, 6, 6]", "Conv3d(4, 0, 3)", "out_channels must be a positive integer, got 0"),
    ("[4, 6, 6]", "ConvTranspose2d(4, 8, 0)", "kernel_size must be a positive integer (or a tuple of them), got 0"),
    ("[4, 6]", "Dropout1d(p=1.5)", "p must be a probability (0 <= p <= 1), got 1.5"),
    ("[4, 6, 6]", "InstanceNorm2d(4, eps=-1.0)", "eps must be a positive finite number, got -1.0"),
    ("[4, 6]", "Dropout1d(p=choice[0.5, 1.5])", "p must be a probability (0 <= p <= 1), got 1.5 (when y.p=1.5)"),
    ("[4, 6, 6]", 'Conv2d(4, 4, 3, padding_mode="bogus")',
     'padding_mode must be one of "zeros", "reflect", "replicate", "circular", got "bogus"'),
])
def test_check_refuses_an_argument_outside_its_domain_at_its_line_and_column(tmp_path, capsys, shape, call, message):
    from nasdsl.cli import main
    path = tmp_path / "bad.nas"
    path.write_text(f"network(x: {shape}) {{\n  y = x -> {call}\n  return y\n}}\n")
    assert main(["check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    first = err.splitlines()[0]
    assert first.startswith(f"{path}:2:12: ") and first.endswith(f": {message}"), first
    assert "Traceback" not in err


def test_a_custom_op_declares_its_domains_in_the_same_record():
    import torch

    from nasdsl.ops import catalog
    from nasdsl.ops.domains import ANY, POSITIVE_INT
    from nasdsl.ops.modules import register_op
    from nasdsl.ops.rules import IDENTITY

    class Scale(torch.nn.Module):
        def __init__(self, channels, factor=2.0):
            super().__init__()

        def forward(self, x):
            return x

    record = register_op("DomainScale", Scale, rule=IDENTITY, domains={"channels": POSITIVE_INT})
    try:
        assert record.domains == {"channels": POSITIVE_INT, "factor": ANY}
        nasdsl.loads("network(x: [4]) = x -> DomainScale(4, factor=-1.0)")   # any factor
        with pytest.raises(NasError, match=r"DomainScale\(channels=0\) on input \[4\]: channels must be a positive integer"):
            nasdsl.loads("network(x: [4]) = x -> DomainScale(0)")
        with pytest.raises(ValueError, match="domains name 'scale', which is not one of its parameters"):
            register_op("DomainScale2", Scale, domains={"scale": POSITIVE_INT})
    finally:
        catalog.unregister("DomainScale")


def test_a_custom_op_registered_with_a_rule_is_shape_checked_and_costed():
    import torch

    from nasdsl.errors import ShapeError
    from nasdsl.lower.discrete import build
    from nasdsl.ops import catalog
    from nasdsl.ops.modules import register_op
    from nasdsl.ops.rules import Rule

    class Scale(torch.nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(channels, 1, 1))

        def forward(self, x):
            return x * self.w

    record = register_op("StructureScale", Scale, rule=Rule(lambda call, x: x, params=lambda a: a["channels"]))
    try:
        assert record.lacks() == ("no weight-entangled version: a supernet keeps one StructureScale per "
                                  "combination of the values its arguments can take",)
        space = nasdsl.loads("network(x: [4, 8, 8]) = x -> StructureScale(4) -> Conv2d(4, 2, 1)")
        assert costs(space, {}) == {"params": 4 + 4 * 2 + 2, "flops": 2 * 8 * 8 * 4}
        assert sum(p.numel() for p in build(space, {}).parameters()) == 14
        with pytest.raises(ShapeError, match="in_channels is 3 but the input has 4 channels"):
            nasdsl.loads("network(x: [4, 8, 8]) = x -> StructureScale(4) -> Conv2d(3, 2, 1)")
    finally:
        catalog.unregister("StructureScale")
    assert catalog.spec("StructureScale") is None
