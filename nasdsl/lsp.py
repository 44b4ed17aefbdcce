"""`nasdsl lsp`: a Language Server Protocol server for `.nas` files, over stdio (pygls).

Every question is answered by `nasdsl.editor`; this module only speaks the protocol:

* diagnostics as you type (on open, change and save): every error `nasdsl check` reports, at
  its token, with its hint and related places, and the lint warnings as warnings; an error
  inside an imported file is shown on the `import` that brings it in;
* hover, go to definition, document symbols, completion (ops with their signatures, blocks,
  parameters, builtins, keywords) and formatting (`nasdsl fmt`).

A document is analysed off the event loop, a short pause after the last change, so typing
never waits for a large space to compile; an analysis overtaken by a newer change is
dropped. The server never runs code from a document: `.nas` is evaluated statically, imports
follow the import rule (README, "Safety") relative to the document's file, and no `--ops`
module is ever imported. `--import-path DIR` admits more import directories, as for `check`.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from . import __version__, editor

DEBOUNCE_S = 0.25   # pause after the last change before a document is analysed

_SEVERITY = {"error": types.DiagnosticSeverity.Error, "warning": types.DiagnosticSeverity.Warning}
_SYMBOL = {"block": types.SymbolKind.Function, "param": types.SymbolKind.Constant, "import": types.SymbolKind.Module,
           "network": types.SymbolKind.Class, "name": types.SymbolKind.Variable}
_COMPLETION = {"op": types.CompletionItemKind.Class, "block": types.CompletionItemKind.Function,
               "builtin": types.CompletionItemKind.Function, "param": types.CompletionItemKind.Constant,
               "keyword": types.CompletionItemKind.Keyword, "module": types.CompletionItemKind.Module}


class NasServer(LanguageServer):
    """The server: the latest analysis of each open document, by URI."""

    def __init__(self, import_paths: tuple[str, ...] = ()):
        super().__init__("nasdsl", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.import_paths = import_paths
        self.docs: dict[str, editor.Document] = {}
        self.pending: dict[str, asyncio.Task] = {}

    def file_of(self, uri: str) -> str:
        """The file name a document is compiled under: its path, or `<uri>` for an unsaved one."""
        path = to_fs_path(uri) if uri.startswith("file:") else None
        return path if path else f"<{uri}>"

    def schedule(self, uri: str, delay: float) -> None:
        """Analyse the document `delay` seconds from now, replacing an analysis not yet started."""
        previous = self.pending.pop(uri, None)
        if previous is not None:
            previous.cancel()
        self.pending[uri] = asyncio.get_running_loop().create_task(self._analyse(uri, delay))

    async def _analyse(self, uri: str, delay: float) -> None:
        await asyncio.sleep(delay)
        document = self.workspace.get_text_document(uri)
        text, version = document.source, document.version
        file = self.file_of(uri)
        try:
            doc = await asyncio.to_thread(editor.analyse, text, file, self.import_paths)
        except Exception as err:  # noqa: BLE001 - a bug in nasdsl: said in the editor, as the command line says it
            from .errors import internal_error_message
            doc = editor.Document(file, text, problems=[editor.Problem(
                file, editor.Span(0, 0, 0), "error", internal_error_message(err, ["check", file]))])
        current = self.workspace.text_documents.get(uri)
        if current is None or current.version != version:
            return  # closed or changed meanwhile: a newer analysis is on its way
        if doc.module is not None or uri not in self.docs:
            self.docs[uri] = doc
        else:  # a syntax error: keep the last parsed module for navigation, with the new problems
            kept = self.docs[uri]
            kept.problems = doc.problems
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, version=version, diagnostics=self.diagnostics(doc)))

    def diagnostics(self, doc: editor.Document) -> list[types.Diagnostic]:
        """The document's problems as diagnostics; one in an imported file is shown at the
        `import` of this document that brings it in (the first, when it comes through several)."""
        out = []
        for problem in doc.problems:
            span, message = problem.span, problem.text()
            if not editor.same_file(problem.file, doc.file):
                span = _import_span(doc, problem.file)
                message = f"in {problem.file}:{problem.span.line + 1}:{problem.span.start + 1}: {message}"
            related = [types.DiagnosticRelatedInformation(
                location=types.Location(uri=_uri(file), range=self.range(doc, where, file)), message=note)
                for note, file, where in problem.related]
            if not editor.same_file(problem.file, doc.file):
                related.insert(0, types.DiagnosticRelatedInformation(
                    location=types.Location(uri=_uri(problem.file), range=_plain_range(problem.span)),
                    message=problem.message))
            out.append(types.Diagnostic(range=self.range(doc, span, doc.file), message=message,
                                        severity=_SEVERITY[problem.severity], source="nasdsl",
                                        related_information=related or None))
        return out

    def range(self, doc: editor.Document, span: editor.Span, file: str) -> types.Range:
        """A span in client code units (UTF-16 by default) where the span is in this document."""
        if not editor.same_file(file, doc.file):
            return _plain_range(span)
        lines = doc.lines
        codec = self.workspace.position_codec
        start = codec.position_to_client_units(lines, types.Position(span.line, span.start))
        end = codec.position_to_client_units(lines, types.Position(span.line, span.end))
        return types.Range(start=start, end=end)

    def position(self, uri: str, position: types.Position) -> tuple[editor.Document, int, int] | None:
        """The latest analysis of a document and a client position in its characters."""
        doc = self.docs.get(uri)
        if doc is None:
            return None
        found = self.workspace.position_codec.position_from_client_units(doc.lines, position)
        return doc, found.line, found.character


def _uri(file: str) -> str:
    return from_fs_path(str(Path(file).resolve())) or file


def _plain_range(span: editor.Span) -> types.Range:
    return types.Range(start=types.Position(span.line, span.start), end=types.Position(span.line, span.end))


def _import_span(doc: editor.Document, file: str) -> editor.Span:
    """The `import` of `doc` that loads `file` (directly, else the first import), or the first line."""
    from .syntax import ast
    imports = [i for i in (doc.module.items if doc.module is not None else ()) if isinstance(i, ast.Import)]
    if not imports:
        return editor.Span(0, 0, 0)
    direct = [i for i in imports if doc.unit is not None and _loads(doc, i, file)]
    chosen = (direct or imports)[0]
    line = doc.lines[chosen.loc.line - 1]
    return editor.Span(chosen.loc.line - 1, chosen.loc.col - 1, len(line.rstrip()))


def _loads(doc: editor.Document, item, file: str) -> bool:
    """Whether `item` (an import of `doc`) names `file`, by the import rule."""
    from . import import_loader
    from .errors import NasError
    try:
        resolved, _ = import_loader(doc.file, None, doc.import_paths)(item.path, item.loc)
    except NasError:
        return False
    return editor.same_file(resolved, file)


def build_server(import_paths: tuple[str, ...] = ()) -> NasServer:
    """A server with every feature registered (`serve` runs it over stdio)."""
    server = NasServer(import_paths)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: NasServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: NasServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, DEBOUNCE_S)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: NasServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, 0)   # an imported file may have changed on disk

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: NasServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        task = ls.pending.pop(uri, None)
        if task is not None:
            task.cancel()
        ls.docs.pop(uri, None)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: NasServer, params: types.HoverParams) -> types.Hover | None:
        found = ls.position(params.text_document.uri, params.position)
        # off the event loop: the first hover on an op or block prices the space's ops
        text = await asyncio.to_thread(editor.hover, *found) if found is not None else None
        if text is None:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: NasServer, params: types.DefinitionParams) -> types.Location | None:
        found = ls.position(params.text_document.uri, params.position)
        where = editor.definition(*found) if found is not None else None
        if where is None:
            return None
        file, span = where
        return types.Location(uri=_uri(file), range=ls.range(found[0], span, file))

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbol(ls: NasServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
        doc = ls.docs.get(params.text_document.uri)
        if doc is None:
            return []

        def convert(symbol: editor.Symbol) -> types.DocumentSymbol:
            return types.DocumentSymbol(name=symbol.name, kind=_SYMBOL[symbol.kind], detail=symbol.detail or None,
                                        range=ls.range(doc, symbol.span, doc.file),
                                        selection_range=ls.range(doc, symbol.selection, doc.file),
                                        children=[convert(c) for c in symbol.children] or None)
        return [convert(s) for s in editor.symbols(doc)]

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["."]))
    def completion(ls: NasServer, params: types.CompletionParams) -> types.CompletionList:
        found = ls.position(params.text_document.uri, params.position)
        items = editor.completions(*found) if found is not None else []
        return types.CompletionList(is_incomplete=False, items=[
            types.CompletionItem(label=c.label, kind=_COMPLETION[c.kind], detail=c.detail,
                                 documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=c.documentation)
                                 if c.documentation else None)
            for c in items])

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: NasServer, params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
        document = ls.workspace.get_text_document(params.text_document.uri)
        text = document.source
        new = editor.formatted(text, ls.file_of(params.text_document.uri))
        if new is None or new == text:
            return None if new is None else []
        lines = text.split("\n")
        end = ls.workspace.position_codec.position_to_client_units(lines, types.Position(len(lines) - 1, len(lines[-1])))
        return [types.TextEdit(range=types.Range(start=types.Position(0, 0), end=end), new_text=new)]

    return server


def serve(import_paths: tuple[str, ...] = ()) -> int:
    """Run the server over stdin/stdout until the client says exit."""
    build_server(import_paths).start_io()
    return 0
