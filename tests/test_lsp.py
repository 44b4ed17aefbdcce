"""`nasdsl lsp`, driven over stdio by pygls's own LSP client as an editor drives it: the
diagnostics `nasdsl check` would print (at their token, with their hints), hover, go to
definition, symbols, completion and formatting; and that the server imports no torch."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")
from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

from nasdsl.syntax.fmt import format_source

ROOT = Path(__file__).resolve().parent.parent
SPACES = ROOT / "spaces"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
       "NASDSL_NO_CACHE": "1"}
WAIT = 60  # seconds for one answer: the server shares a small machine with other tests


class Editor:
    """A client session: open, change and question documents; diagnostics arrive in a queue."""

    def __init__(self, client: LanguageClient):
        self.client = client
        self.published: asyncio.Queue = asyncio.Queue()
        self.versions: dict[str, int] = {}

    async def diagnostics(self, uri: str, version: int) -> list[types.Diagnostic]:
        """The diagnostics published for `uri` at `version` (earlier versions' are skipped)."""
        while True:
            params = await asyncio.wait_for(self.published.get(), WAIT)
            if params.uri == uri and params.version == version:
                return list(params.diagnostics)

    async def open(self, path: Path, text: str | None = None) -> tuple[str, list[types.Diagnostic]]:
        uri = from_fs_path(str(path))
        self.versions[uri] = 1
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(
            uri=uri, language_id="nas", version=1, text=path.read_text() if text is None else text)))
        return uri, await self.diagnostics(uri, 1)

    async def change(self, uri: str, text: str) -> list[types.Diagnostic]:
        self.versions[uri] += 1
        version = self.versions[uri]
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [types.TextDocumentContentChangeWholeDocument(text=text)]))
        return await self.diagnostics(uri, version)

    async def hover(self, uri: str, line: int, char: int) -> str | None:
        found = await asyncio.wait_for(self.client.text_document_hover_async(types.HoverParams(
            types.TextDocumentIdentifier(uri), types.Position(line, char))), WAIT)
        return None if found is None else found.contents.value

    async def definition(self, uri: str, line: int, char: int):
        return await asyncio.wait_for(self.client.text_document_definition_async(types.DefinitionParams(
            types.TextDocumentIdentifier(uri), types.Position(line, char))), WAIT)


def session(steps, server: tuple[str, ...] = ("-m", "nasdsl", "lsp")) -> None:
    """Start `nasdsl lsp` (or python with `server`'s arguments), initialise it, run
    `steps(editor)` and shut it down cleanly."""
    async def main():
        client = LanguageClient("nasdsl-test", "1")
        editor = Editor(client)

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params):
            editor.published.put_nowait(params)

        await client.start_io(sys.executable, *server, env=ENV, cwd=str(ROOT))
        try:
            result = await asyncio.wait_for(client.initialize_async(types.InitializeParams(
                capabilities=types.ClientCapabilities(), process_id=os.getpid())), WAIT)
            assert result.server_info.name == "nasdsl"
            client.initialized(types.InitializedParams())
            await steps(editor)
        finally:
            await asyncio.wait_for(client.shutdown_async(None), WAIT)
            client.exit(None)
            await asyncio.wait_for(client.stop(), WAIT)
        assert client._server.returncode == 0
    asyncio.run(main())


def _one(diagnostics) -> types.Diagnostic:
    assert len(diagnostics) == 1, diagnostics
    return diagnostics[0]


def _range(d: types.Diagnostic) -> tuple[int, int, int, int]:
    return d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character


def test_diagnostics_follow_the_text_as_it_is_typed(tmp_path):
    """Every kind of error `check` reports, at its token with its hint, as the text changes;
    a lint warning as a warning; a fixed text clears them."""
    path = tmp_path / "net.nas"
    shape = "network(x: [4]) = x -> Linear(4, 8) -> Linear(9, 2)\n"

    async def steps(editor: Editor):
        uri, found = await editor.open(path, shape)
        d = _one(found)
        assert _range(d) == (0, 39, 0, 45)   # the second `Linear`
        assert d.severity == types.DiagnosticSeverity.Error and d.source == "nasdsl"
        assert d.message == "Linear(in_features=9, out_features=2) on input [8]: in_features is 9 but the input's " \
                            "last dimension is 8"
        assert await editor.change(uri, "network(x: [4]) = x -> Linear(4, 8) -> Linear(8, 2)\n") == []
        d = _one(await editor.change(uri, "network(x: [4]) = x -> Lnear(4, 8)\n"))       # a name, with its hint
        assert _range(d) == (0, 23, 0, 28)
        assert d.message == "'Lnear' is not defined\nhint: did you mean 'Linear'?"
        d = _one(await editor.change(uri, "network(x: [4]) = x -> Linear(4, 8\n"))       # syntax
        assert d.message == "unexpected end of file; expected ')', ','" and _range(d) == (0, 33, 0, 34)
        d = _one(await editor.change(uri, "network(x: [4]) = x -> Linear(4, 0)\n"))      # a domain
        assert _range(d)[:2] == (0, 23) and "out_features" in d.message
        d = _one(await editor.change(uri, "network(x: [4]) = x -> Linear(4, choice[8])\n"))  # lint
        assert d.severity == types.DiagnosticSeverity.Warning
        assert d.message == "choice 'out.out_features' has one candidate (8): it is not a decision\n" \
                            "hint: add a candidate, or write the value itself"
        assert _range(d) == (0, 33, 0, 39)   # `choice`
        d = _one(await editor.change(uri, "network(x: [4]) = x -> Linear(4, choice[8, 16])\n"
                                          "require params <= 10\n"))                           # a budget
        assert d.range.start.line == 1 and d.severity == types.DiagnosticSeverity.Error and "params" in d.message
        d = _one(await editor.change(uri, 'network(x: [4]) = x -> Linear(4, choice "w" [8, 16])\n'
                                          'forbid decision("w") == 8 or decision("w") == 16\n'))  # a constraint
        assert d.range.start.line == 1
    session(steps)


def test_imports_follow_the_import_rule_and_report_their_errors(tmp_path):
    """An error inside an imported file is shown on the `import` that brings it in, with the
    real place as related information; an import the rule refuses is refused, never opened."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "ops.nas").write_text("block Broken(c) = Conv2d(c, c, 3\n")
    (tmp_path / "secret.nas").write_text("block Secret(c) = Identity()\n")
    path = project / "net.nas"

    async def steps(editor: Editor):
        uri, found = await editor.open(path, 'import "ops.nas"\nnetwork(x: [4]) = x -> Linear(4, 8)\n')
        d = _one(found)
        assert _range(d) == (0, 0, 0, 16)
        assert d.message.startswith(f"in {project / 'ops.nas'}:1:32: unexpected end of file")
        assert d.related_information[0].location.uri == from_fs_path(str(project / "ops.nas"))
        d = _one(await editor.change(uri, 'import "../secret.nas"\nnetwork(x: [4]) = x -> Linear(4, 8)\n'))
        assert _range(d) == (0, 0, 0, 6)
        assert d.message.startswith("cannot import '../secret.nas': it lies outside the directory of")
        assert await editor.hover(uri, 0, 10) == d.message.split("\nhint: ")[0] + "\n\nhint: " + \
            d.message.split("\nhint: ")[1]
        assert await editor.definition(uri, 0, 10) is None
    session(steps)


def test_hover_definition_symbols_completion_and_formatting():
    """On the library's NAS-Bench-201 and DARTS spaces, as a user would ask."""
    nb201, darts = SPACES / "nasbench201.nas", SPACES / "darts.nas"

    async def steps(editor: Editor):
        uri, found = await editor.open(nb201)
        assert found == []
        lines = nb201.read_text().split("\n")
        choice_line = next(i for i, line in enumerate(lines) if line.startswith("block Edge"))
        text = await editor.hover(uri, choice_line, lines[choice_line].index("choice") + 2)
        assert text.split("\n\n")[0] == ("**Cell.e1_0**: layer choice of 5: none, skip_connect, nor_conv_1x1, "
                                         "nor_conv_3x3, avg_pool_3x3")
        assert text.count("layer choice of 5") == 6 and text.endswith("space: 15,625 architectures")
        conv = next(i for i, line in enumerate(lines) if "stem = x -> Conv2d(" in line)
        text = await editor.hover(uri, conv, lines[conv].index("Conv2d") + 1)
        assert text.split("\n")[1] == ("Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, "
                                       "dilation=1, groups=1, bias=true, padding_mode=\"zeros\")")
        # the stem's Conv2d(3, 16, 3, bias=false): 3 * 16 * 9 weights, each used at 32 * 32 places
        assert text.endswith("in this space, this op (all uses): params 432, FLOPs 442,368 (multiply-adds per sample)")
        use = next(i for i, line in enumerate(lines) if "= Edge(c)" in line)
        where = await editor.definition(uri, use, lines[use].index("Edge") + 1)
        assert where.uri == uri and (where.range.start.line, where.range.start.character) == (choice_line, 6)
        text = await editor.hover(uri, use, lines[use].index("Edge") + 1)
        assert text.startswith("```nas\nblock Edge(c)\n```") and "defined at `nasbench201.nas:" in text
        assert "in this space" not in text   # its ops are written in ReLUConvBN, which others use too
        param_use = next(i for i, line in enumerate(lines) if "range(3 * N + 2)" in line)
        where = await editor.definition(uri, param_use, lines[param_use].index("N + 2"))
        param_line = next(i for i, line in enumerate(lines) if line.startswith("param N "))
        assert (where.range.start.line, where.range.start.character) == (param_line, 6)
        assert await editor.hover(uri, param_use, lines[param_use].index("N + 2")) == "```nas\nparam N = 5\n```"

        symbols = await asyncio.wait_for(editor.client.text_document_document_symbol_async(
            types.DocumentSymbolParams(types.TextDocumentIdentifier(uri))), WAIT)
        assert [s.name for s in symbols] == ["C", "N", "num_classes", "in_channels", "resolution", "ReLUConvBN",
                                             "Edge", "Cell", "ResidualBlock", "network"]
        assert [c.name for c in symbols[5].children] == ["c_in", "c_out", "k", "stride", "padding"]
        assert symbols[5].kind == types.SymbolKind.Function and symbols[0].kind == types.SymbolKind.Constant

        completion = await asyncio.wait_for(editor.client.text_document_completion_async(types.CompletionParams(
            types.TextDocumentIdentifier(uri), types.Position(use, 10))), WAIT)
        items = {item.label: item for item in completion.items}
        assert items["Conv2d"].detail.startswith("Conv2d(in_channels, out_channels, kernel_size, stride=1")
        assert items["ReLUConvBN"].detail == "block ReLUConvBN(c_in, c_out, k, stride, padding)"
        assert items["Cell"].detail == "shared block Cell(c)(n0)"
        assert {"repeat", "cell", "choice", "N"} <= set(items)

        uri, found = await editor.open(darts)
        assert found == []
        lines = darts.read_text().split("\n")
        imp = next(i for i, line in enumerate(lines) if line.startswith("import"))
        assert await editor.hover(uri, imp, 10) == f"imports `{SPACES / 'nds_ops.nas'}`"
        where = await editor.definition(uri, imp, 10)
        assert where.uri == from_fs_path(str(SPACES / "nds_ops.nas"))
        use = next(i for i, line in enumerate(lines) if "AvgPool(3, stride)" in line)
        where = await editor.definition(uri, use, lines[use].index("AvgPool") + 1)
        ops = (SPACES / "nds_ops.nas").read_text().split("\n")
        assert where.uri == from_fs_path(str(SPACES / "nds_ops.nas"))
        assert ops[where.range.start.line][where.range.start.character:where.range.end.character] == "AvgPool"
        assert ops[where.range.start.line].startswith("block AvgPool(")

        messy = "param   C=16\nnetwork(x:[4])=x->Linear(4,C)\n"
        uri, found = await editor.open(darts.parent / "messy.nas", messy)   # never written: the editor's text
        edits = await asyncio.wait_for(editor.client.text_document_formatting_async(types.DocumentFormattingParams(
            types.TextDocumentIdentifier(uri), types.FormattingOptions(tab_size=2, insert_spaces=True))), WAIT)
        assert len(edits) == 1 and edits[0].new_text == format_source(messy)
        assert _range(edits[0]) == (0, 0, 2, 0)
    session(steps)


def test_the_server_imports_no_torch_and_reads_no_ops_module(tmp_path):
    """What a document can make the server do is static analysis: after analysing a space,
    hovering and completing in it, neither torch nor any custom-op module is imported."""
    script = ("import sys; from nasdsl import editor, lsp; "
              "doc = editor.analyse(open(sys.argv[1]).read(), sys.argv[1]); "
              "assert doc.problems == [] and editor.hover(doc, 13, 18) and editor.completions(doc, 0, 0); "
              "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    out = subprocess.run([sys.executable, "-c", script, str(SPACES / "nasbench201.nas")], env=ENV,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_without_pygls_the_command_says_what_to_install():
    script = ("import sys; sys.modules['pygls'] = None; from nasdsl.cli import main; sys.exit(main(['lsp']))")
    out = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr == "nasdsl lsp needs pygls (pygls is not installed)\nhint: pip install 'nasdsl[lsp]'\n"


def test_an_internal_error_is_shown_as_a_diagnostic_not_lost(tmp_path):
    """A bug in the analysis (here a simulated one, in a server started with a broken
    `editor.analyse`) reaches the editor as the command line's internal-error message."""
    broken = ("import sys\nfrom nasdsl import editor, lsp\n"
              "def analyse(*args):\n    raise ZeroDivisionError('simulated')\n"
              "editor.analyse = analyse\nsys.exit(lsp.serve())\n")

    async def steps(editor: Editor):
        _, found = await editor.open(tmp_path / "a.nas", "network(x: [4]) = x\n")
        d = _one(found)
        assert _range(d) == (0, 0, 0, 0)
        assert d.message.startswith("nasdsl: internal error: ZeroDivisionError: simulated\nThis is a bug in nasdsl")
    session(steps, ("-c", broken))
