"""`nasdsl export`: standalone PyTorch source that rebuilds the discrete model exactly.

Every exported file is written to a temporary folder and imported from there (or run in a
subprocess that cannot import nasdsl). It must hold the discrete model's `state_dict()`
keys, shapes and order, load its weights with `strict=True`, and then compute the same
outputs (eval and train mode), gradients and batch-norm statistics. The discrete model
itself must trace, compile and export to ONNX.
"""
from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import nasdsl  # noqa: E402
from nasdsl.cli import main  # noqa: E402
from nasdsl.formats import genotype_to_arch, nb201_to_arch  # noqa: E402
from nasdsl.lower.discrete import build  # noqa: E402
from nasdsl.lower.export import export_source  # noqa: E402
from nasdsl.ops.modules import register_op  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

NB201_ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
]
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
            "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
            "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))")

# Input choices (n="any" with concat, n=1 with mean, n=2 with sum), repeats down to depth 0,
# a repeat of a two-tensor block (a multi-tensor chain), mean / product / cat, nasdsl's own
# Zero and FactorizedReduce, a nested choice and several outputs.
EDGE_SPACE = """
param C = 4

block ConvBN(c_in, c_out, stride=1) =
  Conv2d(c_in, c_out, 3, stride, 1, bias=false) -> BatchNorm2d(c_out) -> ReLU()

block Pair(c)(a, b) {
  x = a -> ConvBN(c, c)
  y = b -> ConvBN(c, c)
  return y, mean(x, y) * a
}

network(x: [3, 8, 8]) {
  stem = x -> ConvBN(3, C)
  body = stem -> repeat(choice[0, 1, 2], lambda i: ConvBN(C, C))
  pool = body -> MaxPool2d(3, 1, 1)
  s0, s1 = (stem, body) -> repeat(choice[0, 1, 2], lambda i: Pair(C))
  both = pick(stem, body, pool, n="any", reduce="concat")
  one = pick(s0, s1, n=1, reduce="mean")
  two = pick(stem, s0, s1, n=2, reduce="sum")
  down = one -> choice {
    zero: Zero(2),
    fr: FactorizedReduce(C, C),
    conv: ConvBN(C, C, stride=choice[2]),
    wide: ConvBN(C, C * choice "width" [1, 2], stride=2) -> Conv2d(C * choice "width" [1, 2], C, 1),
  }
  joined = cat(two, pool, dim=1)
  head = down -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(C, 10)
  return head, both, joined
}
"""

# A sequence model: nasdsl's SelfAttention, LayerNorm, and dropout, whose masks only agree in
# train mode if both models draw random numbers in the same order.
ATTENTION_SPACE = """
block Layer(d)(x) {
  att = x -> LayerNorm(d) -> MultiheadAttention(d, choice[1, 2])
  h = x + att
  mlp = h -> LayerNorm(d) -> Linear(d, d * choice "ratio" [2, 4]) -> GELU() -> Dropout(0.25)
           -> Linear(d * choice "ratio" [2, 4], d)
  return h + mlp
}

network(tokens: [5, 8]) {
  layers = tokens -> repeat(choice[1, 2], lambda i: Layer(8))
  out = layers -> Flatten() -> Dropout(0.5) -> Linear(40, 3)
  return out
}
"""

# One layer in several places: the discrete model holds one module there (shared weights).
SHARED_SPACE = """
block Twice(layer)(x) {
  y = x -> layer -> layer
  return y
}

network(x: [4]) {
  l = Linear(4, 4)
  a = x -> l
  b = a -> Twice(l)
  c = b -> (l -> l) -> Tanh()
  return c
}
"""

_counter = itertools.count()
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # for subprocesses, as `one_thread` below


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: these models are tiny, and on a busy machine torch's thread pool
    makes each forward pass tens of times slower. Restored after this file's tests."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def import_file(path: Path):
    """Import a generated file as a fresh module, as a user of it would."""
    spec = importlib.util.spec_from_file_location(f"exported_model_{next(_counter)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def export_to(tmp_path: Path, space, arch, name: str = "model.py"):
    source = export_source(space, arch)
    assert not re.search(r"^\s*(from|import)\s+nasdsl\b", source, re.M), "the exported file imports nasdsl"
    path = tmp_path / name
    path.write_text(source)
    return import_file(path), source


def randomize(model: torch.nn.Module, seed: int = 0) -> None:
    """Move batch-norm statistics and affine parameters away from their identity defaults, so
    eval mode is not trivially the same for any two models."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith(("running_mean", "bias")):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif t.dim() == 1 and name.endswith("weight"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)


def make_inputs(space, arch, batch: int = 2, seed: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = space.input_shapes.values()
    return [torch.randn((batch, *(nasdsl.values.evaluate(d, arch) for d in shape)), generator=g) for shape in shapes]


def as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


def assert_close(a, b, what: str) -> None:
    a, b = as_tuple(a), as_tuple(b)
    assert len(a) == len(b), what
    for x, y in zip(a, b):
        assert x.shape == y.shape, what
        assert torch.allclose(x, y, atol=1e-6), f"{what}: max difference {(x - y).abs().max().item()}"


def assert_same_model(space, arch, tmp_path: Path, batch: int = 2) -> str:
    """The exported model is the discrete one: keys, shapes, outputs, gradients, statistics."""
    arch = space.validate(arch)
    ref = build(space, arch)
    randomize(ref)
    module, source = export_to(tmp_path, space, arch)
    net = module.build()
    assert isinstance(net, module.Network)
    ref_sd, sd = ref.state_dict(), net.state_dict()
    assert list(sd) == list(ref_sd)
    assert [v.shape for v in sd.values()] == [v.shape for v in ref_sd.values()]
    assert [n for n, _ in net.named_modules()] == [n for n, _ in ref.named_modules()]
    net.load_state_dict(ref_sd, strict=True)

    inputs = make_inputs(space, arch, batch)
    ref.eval(), net.eval()
    with torch.no_grad():
        assert_close(net(*inputs), ref(*inputs), "eval-mode outputs")

    ref.train(), net.train()
    xs_ref = [x.clone().requires_grad_() for x in inputs]
    xs = [x.clone().requires_grad_() for x in inputs]
    torch.manual_seed(123)
    out_ref = as_tuple(ref(*xs_ref))
    torch.manual_seed(123)
    out = as_tuple(net(*xs))
    assert_close(out, out_ref, "train-mode outputs")
    g = torch.Generator().manual_seed(2)
    weights = [torch.randn(o.shape, generator=g) for o in out_ref]
    sum((o * w).sum() for o, w in zip(out_ref, weights)).backward()
    sum((o * w).sum() for o, w in zip(out, weights)).backward()
    ref_params, params = dict(ref.named_parameters()), dict(net.named_parameters())
    assert list(params) == list(ref_params)
    for name, p in ref_params.items():
        if p.grad is None:
            assert params[name].grad is None, name
        else:
            assert torch.allclose(params[name].grad, p.grad, atol=1e-6), f"gradient of {name}"
    for x, x_ref in zip(xs, xs_ref):
        assert torch.allclose(x.grad, x_ref.grad, atol=1e-6), "gradient of the input"
    for (name, a), b in zip(net.state_dict().items(), ref.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), f"{name} after a train-mode step"
    return source


# --- equivalence ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nb201():
    return nasdsl.load("nasbench201")


@pytest.mark.parametrize("string", NB201_ARCHS)
def test_nb201_reference_architectures(nb201, string, tmp_path):
    source = assert_same_model(nb201, nb201_to_arch(nb201, string), tmp_path)
    assert "class Cell(nn.Module)" in source and "class ResidualBlock(nn.Module)" in source
    # one class for all cells, the width a parameter (an all-"none" cell has no width to take)
    assert ("Cell(channels=16)" if "conv" in string else "Cell()") in source
    assert ("class Zero(nn.Module)" in source) == ("none" in string)  # copied only when used


def test_darts_v2_with_auxiliary_head(tmp_path):
    space = nasdsl.load("darts", {"C": 8, "layers": 5, "auxiliary": True})
    source = assert_same_model(space, genotype_to_arch(space, DARTS_V2), tmp_path)
    assert "class NormalCell(nn.Module)" in source and "class ReduceCell(nn.Module)" in source
    assert "class FactorizedReduce(nn.Module)" in source


def test_darts_full_size_state_dict_keys(tmp_path):
    space = nasdsl.load("darts", {"auxiliary": True})
    arch = genotype_to_arch(space, DARTS_V2)
    module, _ = export_to(tmp_path, space, arch)
    ref_sd, sd = build(space, arch).state_dict(), module.build().state_dict()
    assert list(sd) == list(ref_sd)
    assert [v.shape for v in sd.values()] == [v.shape for v in ref_sd.values()]


@pytest.mark.parametrize("seed", range(4))
def test_mobile_example(seed, tmp_path):
    space = nasdsl.load(ROOT / "examples" / "mobile.nas")
    assert_same_model(space, space.sample(seed), tmp_path)


@pytest.mark.parametrize("seed", range(4))
def test_cell_example(seed, tmp_path):
    space = nasdsl.load(ROOT / "examples" / "cell.nas")
    assert_same_model(space, space.sample(seed), tmp_path)


def test_edge_space_covers_picks_and_repeats():
    """The samples below reach what the edge tests are for."""
    space = nasdsl.loads(EDGE_SPACE)
    archs = [space.sample(seed) for seed in range(12)]
    assert {a["body.depth"] for a in archs} == {0, 1, 2} and {a["s0_s1.depth"] for a in archs} == {0, 1, 2}
    assert {len(a["both"]) for a in archs} == {1, 2, 3}
    assert {a["down"] for a in archs} == {"zero", "fr", "conv", "wide"}


@pytest.mark.parametrize("seed", range(12))
def test_edge_space(seed, tmp_path):
    space = nasdsl.loads(EDGE_SPACE, "edge.nas")
    assert_same_model(space, space.sample(seed), tmp_path)


@pytest.mark.parametrize("seed", range(3))
def test_attention_and_dropout(seed, tmp_path):
    space = nasdsl.loads(ATTENTION_SPACE, "attention.nas")
    arch = space.sample(seed)
    source = assert_same_model(space, arch, tmp_path, batch=3)
    assert "class SelfAttention(nn.MultiheadAttention)" in source


def test_shared_layer_stays_one_module(tmp_path):
    space = nasdsl.loads(SHARED_SPACE, "shared.nas")
    source = assert_same_model(space, {}, tmp_path)
    module = import_file(tmp_path / "model.py")
    net = module.build()
    assert net.l is net.b.l is net.l_2[0] is net.l_2[1]
    assert "self.b.l = self.l" in source


def test_custom_op_is_imported_from_its_module(tmp_path, monkeypatch):
    (tmp_path / "exportops_custom.py").write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Scale(nn.Module):\n"
        "    def __init__(self, channels, init=1.0, act=nn.Identity):  # a default with no literal form\n"
        "        super().__init__()\n"
        "        self.weight = nn.Parameter(torch.full((channels, 1, 1), float(init)))\n"
        "        self.act = act()\n\n"
        "    def forward(self, x):\n"
        "        return self.act(x * self.weight)\n\n"
        "class Zero(nn.Module):  # takes the name of nasdsl's own Zero, which is then renamed\n"
        "    def forward(self, x):\n"
        "        return x * 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from exportops_custom import Scale, Zero
    register_op("ExportTestScale", Scale)
    register_op("ExportTestZero", Zero)
    space = nasdsl.loads("network(x: [3, 4, 4]) = x -> Conv2d(3, 4, 1) -> ExportTestScale(4, choice[0.5, 2.0]) "
                         "-> ExportTestZero() -> Zero()", "custom.nas")
    source = assert_same_model(space, space.sample(0), tmp_path)
    assert "from exportops_custom import Scale" in source and "from exportops_custom import Zero" in source
    assert "class Zero2(nn.Module)" in source and "Zero2()" in source
    assert "exportops_custom" in source.split("import torch")[0]  # the header says so
    assert "act=" not in source


def test_custom_op_defined_in_main_is_an_error(tmp_path):
    class Local(torch.nn.Identity):
        pass
    register_op("ExportTestLocal", Local)
    space = nasdsl.loads("network(x: [3]) = x -> ExportTestLocal()", "local.nas")
    with pytest.raises(nasdsl.NasError, match="ExportTestLocal"):
        export_source(space, {})


def test_arguments_torch_rejects_are_user_errors(tmp_path, capsys):
    """The discrete model is built once before writing, so a bad argument names its place."""
    path = tmp_path / "bad.nas"
    path.write_text('network(x: [4, 8, 8]) = x -> Conv2d(4, 4, 3, padding_mode="bogus")\n')
    with pytest.raises(nasdsl.NasError, match="padding_mode must be one of"):
        export_source(nasdsl.load(path), {})
    assert main(["export", str(path), "--arch", "{}", "-o", str(tmp_path / "model.py")]) == 1
    assert "bad.nas:1:30" in capsys.readouterr().err
    assert not (tmp_path / "model.py").exists()


def test_arguments_outside_their_domain_are_refused_when_the_space_loads(tmp_path, capsys):
    """`ops.domains`: the shape analysis checks each argument, so even `check` refuses it."""
    path = tmp_path / "bad.nas"
    path.write_text("network(x: [4]) = x -> Dropout(1.5)\n")
    with pytest.raises(nasdsl.NasError, match=r"bad.nas:1:24: Dropout\(p=1.5\) on input \[4\]: p must be a probability"):
        nasdsl.load(path)
    assert main(["export", str(path), "--arch", "{}", "-o", str(tmp_path / "model.py")]) == 1
    assert main(["check", str(path)]) == 1
    assert "bad.nas:1:24" in capsys.readouterr().err
    assert not (tmp_path / "model.py").exists()


# --- the file itself ----------------------------------------------------------------------

def test_source_reads_like_pytorch(nb201):
    arch = nb201_to_arch(nb201, NB201_ARCHS[0])
    source = export_source(nb201, arch)
    compile(source, "model.py", "exec")
    assert nb201.fingerprint() in source
    assert json.dumps(arch)[1:40] in source.replace("\n#    ", " ")
    assert "self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16))" in source
    assert "stem = self.stem(x)" in source
    forward = source.split("class Network")[1].split("def forward")[1].split("\n\n")[0]
    assert "for " not in forward and "%" not in forward
    assert "def build() -> Network:" in source
    assert export_source(nb201, arch) == source  # deterministic


def test_header_lines_hold_the_architecture_json():
    space = nasdsl.load("darts", {"C": 8, "layers": 5})
    arch = genotype_to_arch(space, DARTS_V2)
    source = export_source(space, arch)
    header = source.split("# Architecture (JSON):\n")[1].split("\n\n")[0]
    lines = [line[4:] for line in header.splitlines()]
    assert all(len(line) <= 100 for line in header.splitlines())
    assert json.loads("".join(lines)) == arch


def test_runs_where_nasdsl_cannot_be_imported(nb201, tmp_path):
    path = tmp_path / "model.py"
    path.write_text(export_source(nb201, nb201_to_arch(nb201, NB201_ARCHS[0])))
    code = ("import sys, runpy; sys.modules['nasdsl'] = None; "
            f"runpy.run_path({str(path)!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=ONE_THREAD)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(2, 10)"


# --- command line -------------------------------------------------------------------------

def test_cli_writes_the_file(tmp_path, capsys):
    out = tmp_path / "model.py"
    assert main(["export", "nasbench201", "--arch", NB201_ARCHS[0], "--set", "C=8", "-o", str(out)]) == 0
    module = import_file(out)
    space = nasdsl.load("nasbench201", {"C": 8})
    assert list(module.build().state_dict()) == list(build(space, nb201_to_arch(space, NB201_ARCHS[0])).state_dict())
    assert capsys.readouterr().out == ""


def test_cli_prints_to_stdout_and_reads_arch_files(tmp_path, capsys):
    space = nasdsl.load(ROOT / "examples" / "mobile.nas")
    arch_file = tmp_path / "arch.json"
    arch_file.write_text(json.dumps(space.sample(0)))
    assert main(["export", str(ROOT / "examples" / "mobile.nas"), "--arch", str(arch_file)]) == 0
    assert capsys.readouterr().out == export_source(space, space.sample(0))


def test_cli_genotype_file(tmp_path):
    genotype = tmp_path / "genotype.txt"
    genotype.write_text(DARTS_V2)
    out = tmp_path / "darts.py"
    assert main(["export", "darts", "--set", "C=8", "--set", "layers=5", "--arch", str(genotype), "-o", str(out)]) == 0
    assert "class NormalCell" in out.read_text()


def test_cli_inline_genotype(tmp_path):
    out = tmp_path / "darts.py"
    assert main(["export", "darts", "--set", "C=8", "--set", "layers=5", "--arch", DARTS_V2, "-o", str(out)]) == 0


def test_cli_imports_modules_that_register_ops(tmp_path, monkeypatch):
    (tmp_path / "exportops_cli.py").write_text(
        "from torch import nn\nfrom nasdsl.ops.modules import register_op\n\n"
        "class Halve(nn.Module):\n"
        "    def forward(self, x):\n"
        "        return x / 2\n\n"
        "register_op('ExportTestHalve', Halve)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    space_file = tmp_path / "halve.nas"
    space_file.write_text("network(x: [4]) = x -> Linear(4, 4) -> ExportTestHalve()\n")
    out = tmp_path / "model.py"
    assert main(["export", str(space_file), "--ops", "exportops_cli", "--arch", "{}", "-o", str(out)]) == 0
    assert "from exportops_cli import Halve" in out.read_text()
    assert main(["export", str(space_file), "--ops", "no_such_module_here", "--arch", "{}"]) == 1


def test_cli_bad_arch_exits_1_naming_the_label(tmp_path):
    done = subprocess.run([sys.executable, "-m", "nasdsl", "export", "nasbench201", "--arch",
                           json.dumps({**nb201_to_arch(nasdsl.load("nasbench201"), NB201_ARCHS[0]), "Cell.e2_1": "conv"}),
                           "-o", str(tmp_path / "model.py")], capture_output=True, text=True, cwd=ROOT, env=ONE_THREAD)
    assert done.returncode == 1
    assert "Cell.e2_1" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "model.py").exists()


def test_cli_missing_decision_and_unwritable_output(tmp_path, capsys):
    assert main(["export", "nasbench201", "--arch", '{"Cell.e1_0": "none"}']) == 1
    assert "Cell.e2_0" in capsys.readouterr().err
    assert main(["export", "nasbench201", "--arch", NB201_ARCHS[0], "-o", str(tmp_path / "no" / "such" / "m.py")]) == 1
    assert "cannot write" in capsys.readouterr().err


# --- the discrete model traces, compiles and exports --------------------------------------

def _small_models():
    nb = nasdsl.load("nasbench201", {"C": 8, "N": 1})
    darts = nasdsl.load("darts", {"C": 8, "layers": 5, "auxiliary": True})
    cell = nasdsl.load(ROOT / "examples" / "cell.nas")
    return {
        "nb201": (nb, nb201_to_arch(nb, NB201_ARCHS[0])),
        "darts": (darts, genotype_to_arch(darts, DARTS_V2)),
        "cell": (cell, cell.sample(1)),
    }


@pytest.mark.parametrize("name", ["nb201", "darts", "cell"])
def test_discrete_model_exports_with_torch_export(name):
    """`torch.export` captures the whole model as one graph (no choice logic left to break it)."""
    space, arch = _small_models()[name]
    model = build(space, arch).eval()
    inputs = make_inputs(space, arch)
    with torch.no_grad():
        exported = torch.export.export(model, tuple(inputs))
        assert_close(exported.module()(*inputs), model(*inputs), "exported output")


@pytest.mark.parametrize("name", ["nb201", "cell"])
def test_discrete_model_compiles(name):
    space, arch = _small_models()[name]
    model = build(space, arch).eval()
    inputs = make_inputs(space, arch)
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    with torch.no_grad():
        assert_close(compiled(*inputs), model(*inputs), "compiled output")


@pytest.mark.slow
def test_discrete_model_compiles_with_inductor():
    space, arch = _small_models()["nb201"]
    model = build(space, arch).eval()
    inputs = make_inputs(space, arch)
    compiled = torch.compile(model)
    with torch.no_grad():
        a, b = compiled(*inputs), model(*inputs)
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("name", ["nb201", "darts"])
def test_discrete_model_exports_to_onnx(name, tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")  # torch.onnx.export's default (dynamo) exporter needs it
    space, arch = _small_models()[name]
    model = build(space, arch).eval()
    inputs = make_inputs(space, arch)
    path = tmp_path / "model.onnx"
    torch.onnx.export(model, tuple(inputs), str(path))
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert len(proto.graph.output) == len(as_tuple(model(*inputs)))
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(str(path))
    feeds = {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs)}
    with torch.no_grad():
        expected = as_tuple(model(*inputs))
    for got, want in zip(session.run(None, feeds), expected):
        assert torch.allclose(torch.from_numpy(got), want, atol=1e-4)


# --- input preprocessing (a run's `run.json`): the network takes raw images ------------------------

def test_preprocessing_normalises_raw_images_then_computes_the_discrete_model(tmp_path):
    from nasdsl.preprocessing import Preprocessing
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    arch = space.validate(nb201_to_arch(space, NB201_ARCHS[0]))
    pre = Preprocessing((3, 32, 32), 255.0, (0.49, 0.48, 0.45), (0.25, 0.24, 0.26), "uint8 images 0..255")
    ref = build(space, arch)
    randomize(ref)
    path = tmp_path / "model.py"
    path.write_text(export_source(space, arch, preprocessing=pre))
    module = import_file(path)
    assert module.INPUT_SHAPE == (3, 32, 32) and module.INPUT_DIVISOR == 255.0
    assert module.INPUT_MEAN == pre.mean and module.INPUT_STD == pre.std
    net = module.build()
    assert list(net.state_dict()) == list(ref.state_dict())  # the constants are not weights
    net.load_state_dict(ref.state_dict(), strict=True)
    raw = torch.randint(0, 256, (2, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    mean, std = torch.tensor(pre.mean).view(1, 3, 1, 1), torch.tensor(pre.std).view(1, 3, 1, 1)
    net.eval(), ref.eval()
    with torch.no_grad():
        assert torch.equal(net(raw), ref((raw.float() / 255.0 - mean) / std))
        net.normalize = torch.nn.Identity()  # as the file says: for inputs already standardised
        standardised = torch.randn(2, 3, 32, 32)
        assert torch.equal(net(standardised), ref(standardised))
    with pytest.raises(ValueError, match=r"expected a batch of inputs of shape \[3, 32, 32\], got \[2, 1, 32, 32\]"):
        module.build()(torch.zeros(2, 1, 32, 32))


def test_preprocessing_names_avoid_the_spaces_own(tmp_path):
    from nasdsl.preprocessing import Preprocessing
    space = nasdsl.loads("block Normalize(c)(t) {\n  y = t -> Linear(c, c)\n  return y\n}\n"
                         "network(x: [4]) {\n  normalize = Normalize(4)(x)\n  return normalize\n}\n")
    arch = {}
    pre = Preprocessing((4,), 2.0, (1.0,) * 4, (2.0,) * 4)
    ref = build(space, arch)
    source = export_source(space, arch, preprocessing=pre)
    path = tmp_path / "model.py"
    path.write_text(source)
    net = import_file(path).build()
    net.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(3, 4)
    with torch.no_grad():
        assert torch.equal(net(x), ref((x / 2.0 - 1.0) / 2.0))
    # the input's class and attribute take names the space's block and layer leave free
    assert "class Normalize2(nn.Module):\n    \"\"\"Block `Normalize`" in source
    assert "self.normalize_2 = Normalize()" in source and "`model.normalize_2 = nn.Identity()`" in source


def test_preprocessing_without_normalisation_and_of_another_shape(tmp_path):
    from nasdsl.errors import NasError
    from nasdsl.preprocessing import Preprocessing
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    arch = nb201_to_arch(space, NB201_ARCHS[0])
    source = export_source(space, arch, preprocessing=Preprocessing((3, 32, 32), raw="a factory's tensors"))
    block = ("\n\n# The input: a factory's tensors.\n# The network takes them as given: the run recorded no "
             "normalisation.\nINPUT_SHAPE = (3, 32, 32)  # one sample, as the network takes it\n")
    assert block in source and "Normalize" not in source
    assert source.replace(block, "") == export_source(space, arch)  # the shape, and nothing else changes
    with pytest.raises(NasError, match=r"takes input \[\[3, 32, 32\]\], its preprocessing gives \[1, 8, 8\]"):
        export_source(space, arch, preprocessing=Preprocessing((1, 8, 8), 16.0, (0.3,), (0.4,)))
