"""The VS Code extension under editors/vscode: its manifest and language configuration, and its
TextMate grammar, which must give every token of every library space (spaces/*.nas) the scope
its kind calls for. The tokens and their kinds come from nasdsl's own lexer (the grammar's
Lark lexer), written out as a syntax test for `vscode-tmgrammar-test` (npm; .ci/run installs
it): keywords, op names, builtins, strings, numbers and comments."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nasdsl.elaborate import BUILTINS
from nasdsl.ops.catalog import known_ops
from nasdsl.syntax.parser import lex

ROOT = Path(__file__).resolve().parent.parent
VSCODE = ROOT / "editors" / "vscode"
GRAMMAR = VSCODE / "syntaxes" / "nas.tmLanguage.json"

KEYWORDS = {
    **dict.fromkeys(("block", "network", "param"), "storage.type.nas"),
    "shared": "storage.modifier.nas",
    **dict.fromkeys(("import", "as"), "keyword.control.import.nas"),
    **dict.fromkeys(("for", "in", "if", "else", "return", "lambda"), "keyword.control.nas"),
    **dict.fromkeys(("require", "forbid"), "keyword.other.constraint.nas"),
    "choice": "keyword.other.choice.nas",
    **dict.fromkeys(("and", "or", "not"), "keyword.operator.logical.nas"),
    **dict.fromkeys(("true", "false"), "constant.language.boolean.nas"),
}
KINDS = {"STRING": "string.quoted.double.nas", "NUMBER": "constant.numeric.nas", "COMMENT": "comment.line.number-sign.nas"}


def _alternatives(pattern: str) -> set[str]:
    return set(re.fullmatch(r"\\b\((.*?)\)\\b.*", pattern).group(1).split("|"))


def test_the_grammar_knows_every_op_and_builtin_and_keyword():
    grammar = json.loads(GRAMMAR.read_text())
    repository = grammar["repository"]
    assert _alternatives(repository["op"]["match"]) == set(known_ops())
    assert _alternatives(repository["builtin"]["match"]) == BUILTINS
    named = {word for rule in repository["keyword"]["patterns"]
             for word in re.sub(r"\\b\(?|\)?\\b", "", rule["match"]).split("|")}
    assert named == set(KEYWORDS)
    assert {rule["name"] for rule in repository["keyword"]["patterns"]} == set(KEYWORDS.values())


def test_the_manifest_declares_the_language_its_grammar_and_the_server():
    manifest = json.loads((VSCODE / "package.json").read_text())
    [language] = manifest["contributes"]["languages"]
    assert (language["id"], language["extensions"]) == ("nas", [".nas"])
    [grammar] = manifest["contributes"]["grammars"]
    assert (grammar["language"], grammar["scopeName"]) == ("nas", json.loads(GRAMMAR.read_text())["scopeName"])
    assert (VSCODE / grammar["path"]).resolve() == GRAMMAR
    assert manifest["contributes"]["configuration"]["properties"]["nasdsl.server.command"]["default"] == ["nasdsl", "lsp"]
    assert "vscode-languageclient" in manifest["dependencies"] and (VSCODE / manifest["main"]).is_file()
    config = json.loads((VSCODE / language["configuration"]).read_text())
    assert config["comments"] == {"lineComment": "#"}
    assert config["brackets"] == [["{", "}"], ["[", "]"], ["(", ")"]]


def syntax_test(space: Path) -> str:
    """`space` as a syntax test: after each line, one assertion line per token of a kind the
    grammar must scope (column 0 written `<---`, the others `^^^` under the token)."""
    tokens = [t for t in lex(space.read_text()) if t.type != "WS" or "\n" not in t.value]
    lines = space.read_text().split("\n")
    asserted: dict[int, list[str]] = {}
    for i, tok in enumerate(tokens):
        after = next((t for t in tokens[i + 1:] if t.type != "WS"), None)
        before = next((t for t in reversed(tokens[:i]) if t.type != "WS"), None)
        if tok.type in KINDS:
            scope = KINDS[tok.type]
        elif tok.type == "NAME" and tok.value in known_ops():
            scope = "support.class.op.nas"
        elif tok.type == "NAME" and tok.value in BUILTINS and after is not None and after.value == "(":
            scope = "support.function.builtin.nas"
        elif tok.type == "NAME" and before is not None and before.value == "block":
            scope = "entity.name.function.nas"
        elif tok.type != "NAME" and tok.value.isidentifier():
            scope = KEYWORDS[tok.value]
        else:
            continue
        col, size = tok.column - 1, len(tok.value)
        marks = "<" + "-" * size if col == 0 else " " * (col - 1) + "^" * size
        asserted.setdefault(tok.line, []).append(f"#{marks} {scope}")
    out = [f'# SYNTAX TEST "source.nas" "{space.name}"']
    for number, line in enumerate(lines, 1):
        out.append(line)
        out += asserted.get(number, [])
    return "\n".join(out) + "\n"


def _tool() -> str:
    found = shutil.which("vscode-tmgrammar-test")
    if found is None:
        message = "vscode-tmgrammar-test is absent (npm install vscode-tmgrammar-test)"
        pytest.skip(message)   # a failure under CI (tests/conftest.py)
    return found


def test_the_grammar_scopes_every_token_of_every_library_space(tmp_path):
    tool = _tool()
    spaces = sorted((ROOT / "spaces").glob("*.nas"))
    assert len(spaces) >= 15
    count = 0
    for space in spaces:
        text = syntax_test(space)
        count += text.count("\n#") - 1
        (tmp_path / space.name).write_text(text)
    assert count > 1000   # every library space's keywords, ops, strings, numbers and comments
    done = subprocess.run([tool, "--compact", "-g", str(GRAMMAR), str(tmp_path / "*.nas")], cwd=VSCODE,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "ERROR" not in done.stdout


def test_a_wrong_scope_fails_the_grammar_test(tmp_path):
    """The syntax test can fail: a comment asserted as a string is reported."""
    tool = _tool()
    (tmp_path / "wrong.nas").write_text('# SYNTAX TEST "source.nas" "wrong"\nparam C = 16  # width\n'
                                        "#             ^^^^^^^ string.quoted.double.nas\n")
    done = subprocess.run([tool, "--compact", "-g", str(GRAMMAR), str(tmp_path / "*.nas")], cwd=VSCODE,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "string.quoted.double.nas" in done.stdout + done.stderr
