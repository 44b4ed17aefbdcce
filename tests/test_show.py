"""Pictures of spaces and architectures (`nasdsl show`, `nasdsl.show`): the DOT text they are
made of, the files `dot` writes from it, and the `arch.png` every search leaves."""
from __future__ import annotations

import html
import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest.importorskip("graphviz")

import nasdsl  # noqa: E402
from nasdsl import show  # noqa: E402
from nasdsl.cli import main  # noqa: E402
from nasdsl.formats import genotype_to_arch, nb201_to_arch  # noqa: E402
from nasdsl.formats.genotype import parse_genotype  # noqa: E402
from nasdsl.show import arch_graph, space_graph  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")

SMALL = '''
block Body(h) = Linear(4, h) -> ReLU() -> Linear(h, 4)
network(x: [4]) {
  y = x -> Linear(4, 4)
  z = y -> choice { small: Linear(4, 4), big: Body(h=choice[8, 16]) }
  s = y -> choice { off: Zero(), on: Identity() }
  t = z + s
  return t -> repeat(choice[1, 2], lambda i: Tanh())
}
'''

GENOTYPE = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), "
            "('skip_connect', 0), ('dil_conv_3x3', 2), ('max_pool_3x3', 1), ('sep_conv_5x5', 3)], "
            "normal_concat=[2, 3, 4, 5], "
            "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
            "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], "
            "reduce_concat=[2, 3, 4, 5])")


def parse_dot(source: str):
    """(node id -> label, [(tail, head, attributes)]) of a DOT text as the graphviz package writes it."""
    nodes = {m[1]: m[2] for m in re.finditer(r'^\t+(\w+) \[label=(<.*>|"[^"]*"|\S+) ', source, re.M)}
    edges = [(m[1], m[2], m[3] or "") for m in re.finditer(r"^\t+(\w+) -> (\w+)(?: \[(.*)\])?$", source, re.M)]
    return nodes, edges


def texts(label: str) -> list[str]:
    """The text of an HTML-like label's cells, in order."""
    return [html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<TD[^>]*>(.*?)</TD>", label)]


def test_a_small_space_draws_its_modules_choices_repeat_and_optional_connection():
    nodes, edges = parse_dot(space_graph(nasdsl.loads(SMALL)).source)
    assert {k: texts(v) if v.startswith("<") else v for k, v in nodes.items()} == {
        "s1": '"x [4]"',
        "s2": ["y", "Linear"],
        "s3": ["z", "z choice", "small: Linear", "big (z.big.h ∈ {8, 16})"],
        "s4": '"+"',
        "s5": ["out", "repeat", "depth out.depth ∈ {1, 2}", "2 × Tanh"],
        "s6": "output"}
    # the choice between Zero and Identity is no box: a dashed edge into the sum
    assert edges == [("s1", "s2", "style=solid"), ("s2", "s3", "style=solid"), ("s3", "s4", "style=solid"),
                     ("s2", "s4", "style=dashed"), ("s4", "s5", "style=solid"), ("s5", "s6", "style=solid")]


def test_an_architecture_of_the_small_space_draws_what_it_chose():
    space = nasdsl.loads(SMALL)
    nodes, edges = parse_dot(arch_graph(space, {"z": "big", "z.big.h": 16, "s": "off", "out.depth": 2}).source)
    assert texts(nodes["a3"]) == ["z", "z = big", "Linear (out_features=16)", "ReLU", "Linear (in_features=16)"]
    # the skip is off: no edge from y to the sum, and a sum of one tensor is no node
    assert texts(nodes["a4"]) == ["out", "Tanh ×2"]   # the repeat cut to its depth
    assert nodes["a5"] == "output" and len(nodes) == 5
    assert [(a, b) for a, b, _ in edges] == [("a1", "a2"), ("a2", "a3"), ("a3", "a4"), ("a4", "a5")]
    _, edges = parse_dot(arch_graph(space, {"z": "small", "s": "on", "out.depth": 1}).source)
    assert ("a2", "a4") in [(a, b) for a, b, _ in edges]


def cell_edges(source: str) -> dict[str, set[tuple[str, str, str]]]:
    """Per cell cluster of a DOT text: its edges as (tail label, head label, edge label)."""
    out = {}
    for block in re.findall(r"subgraph cluster_\w+ \{(.*?)\n\t\}", source, re.S):
        title = re.search(r'label=("[^"]*"|\S+)', block)[1].strip('"')
        nodes, edges = parse_dot(block.replace("\t\t", "\t"))
        name = {k: v.strip('"') for k, v in nodes.items()}
        out[title] = {(name[a], name[b], (re.search(r"label=(\S+)", attrs) or [None, ""])[1])
                      for a, b, attrs in edges if "invis" not in attrs}
    return out


def test_a_darts_architecture_draws_two_cells_with_the_genotypes_edges():
    space = nasdsl.load("darts", {"C": 8, "layers": 8})
    graph = arch_graph(space, genotype_to_arch(space, GENOTYPE))
    cells = cell_edges(graph.source)
    assert sorted(cells) == ["cell normal", "cell reduce"]
    states = ["c_{k-2}", "c_{k-1}", "0", "1", "2", "3"]
    fields = parse_genotype(GENOTYPE)
    for kind in ("normal", "reduce"):
        pairs = fields[kind]
        expected = {(states[j], str(k // 2), op) for k, (op, j) in enumerate(pairs)}
        expected |= {(str(i), "c_{k}", "") for i in range(4)}   # all four nodes concatenated
        assert cells[f"cell {kind}"] == expected, kind
    # 8 cells collapse into runs: normal ×2, reduce, normal ×2, reduce, normal ×2
    nodes, _ = parse_dot(graph.source)
    runs = [texts(v)[1] for v in nodes.values() if v.startswith("<") and "cell" in v]
    assert runs == ["cell normal ×2", "cell reduce", "cell normal ×2", "cell reduce", "cell normal ×2"]


def test_the_darts_space_draws_each_cell_once_with_every_input_it_may_read():
    graph = space_graph(nasdsl.load("darts"))   # 20 cells: the network stays a handful of boxes
    nodes, edges = parse_dot(graph.source)
    assert len(nodes) < 40
    cells = cell_edges(graph.source)
    assert len(cells) == 2 and all(title.startswith(("cell normal:", "cell reduce:")) for title in cells)
    for edges_of_cell in cells.values():
        reads = {(a, b) for a, b, _ in edges_of_cell if b != "c_{k}"}
        assert len(reads) == 2 + 3 + 4 + 5   # node i may read the two inputs and every earlier node


def test_a_nasbench201_architecture_draws_its_cell_with_the_chosen_ops():
    space = nasdsl.load("nasbench201")
    arch = nb201_to_arch(space, "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    (edges,) = cell_edges(arch_graph(space, arch).source).values()
    assert edges == {("n0", "1", "nor_conv_3x3"), ("n0", "2", "none"), ("1", "2", "avg_pool_3x3"),
                     ("n0", "3", "skip_connect"), ("1", "3", "nor_conv_1x1"), ("2", "3", "nor_conv_3x3")}


@needs_dot
@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_show_writes_png_and_svg(tmp_path, capsys, suffix):
    out = tmp_path / f"space.{suffix}"
    assert main(["show", "nasbench201", "-o", str(out)]) == 0
    data = out.read_bytes()
    if suffix == "png":
        assert data[:8] == PNG
    else:
        assert ET.fromstring(data).tag == "{http://www.w3.org/2000/svg}svg"
    assert capsys.readouterr().out == f"wrote {out}\n"


def test_show_refuses_an_architecture_outside_the_space_in_one_line(tmp_path, capsys):
    code = main(["show", "nasbench201", "--arch", '{"Cell.e1_0": "conv_7x7"}', "-o", str(tmp_path / "a.png")])
    first = capsys.readouterr().err.splitlines()[0]
    assert code == 1 and "'Cell.e1_0'" in first and '"conv_7x7" is not a value' in first
    assert not (tmp_path / "a.png").exists()


def test_show_refuses_another_format(tmp_path, capsys):
    assert main(["show", "nasbench201", "-o", str(tmp_path / "a.pdf")]) == 1
    assert capsys.readouterr().err.strip() == f"cannot draw {tmp_path / 'a.pdf'}: the picture's name must end in .svg or .png"


def tiny_search(out, space="darts", *sets):
    return main(["search", space, *sets, "--strategy", "random", "--trials", "2", "--seed", "0",
                 "--evaluator", "python:nasdsl.search.evaluators:count_decisions", "--out", str(out)])


@needs_dot
def test_a_search_writes_arch_png_and_show_draws_its_run_directory(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert tiny_search(run, "darts", "--set", "layers=5") == 0
    assert (run / "arch.png").read_bytes()[:8] == PNG and not (run / "arch.dot").exists()
    assert f"{run / 'arch.png'}" in capsys.readouterr().out
    space = nasdsl.load("darts", {"layers": 5})
    expected = arch_graph(space, json.loads((run / "arch.json").read_text())).source
    seen = []
    real = show.render

    def spy(graph, path):
        seen.append(graph.source)
        return real(graph, path)
    monkeypatch.setattr(show, "render", spy)
    for argv in (["show", str(run)], ["show", "darts", "--arch", str(run)]):
        out = tmp_path / "found.svg"
        assert main([*argv, "-o", str(out)]) == 0, argv
        assert ET.fromstring(out.read_bytes()).tag.endswith("svg")
    # both draw the run's architecture in the run's space (its --set layers=5 included)
    assert seen == [expected, expected]


def test_without_dot_a_search_writes_arch_dot_and_says_how_to_draw_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))   # no dot on the way
    run = tmp_path / "run"
    assert tiny_search(run, "nasbench201") == 0
    assert not (run / "arch.png").exists()
    source = (run / "arch.dot").read_text()
    space = nasdsl.load("nasbench201")
    assert source == arch_graph(space, json.loads((run / "arch.json").read_text())).source
    err = capsys.readouterr().err
    assert (f"Graphviz's dot is not installed: wrote {run / 'arch.dot'} instead of arch.png; "
            f"draw it with `dot -Tpng {run / 'arch.dot'} -o {run / 'arch.png'}`") in err
    # and `nasdsl show` itself says what is missing, in one line
    assert main(["show", "nasbench201", "-o", str(tmp_path / "s.png")]) == 1
    assert capsys.readouterr().err.startswith(f"cannot draw {tmp_path / 's.png'}: Graphviz's `dot` is not installed")


def test_the_readmes_layout_picture_is_drawn_from_its_source():
    """docs/layout.svg has exactly the nodes and edges of docs/layout.dot (regenerate it with the
    command in that file's header; a byte comparison would depend on Graphviz's version)."""
    root = Path(__file__).resolve().parents[1] / "docs"
    source = re.sub(r"//[^\n]*", "", (root / "layout.dot").read_text())
    nodes = set(re.findall(r"^\s*(\w+) \[label=", source, re.M))
    edges = {(a, b) for a, b in re.findall(r"^\s*(\w+) -> (\w+)", source, re.M)}
    svg = ET.fromstring((root / "layout.svg").read_bytes())
    ns = "{http://www.w3.org/2000/svg}"
    titles: dict[str, set[str]] = {}
    for g in svg.iter(f"{ns}g"):
        title = g.find(f"{ns}title")
        if title is not None:
            titles.setdefault(g.get("class"), set()).add(title.text)
    assert titles["node"] == nodes
    assert titles["edge"] == {f"{a}->{b}" for a, b in edges}
    assert len(nodes) == 12 and ("oneshot", "supernet") in edges
