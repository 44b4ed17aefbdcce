"""Security: nothing from outside runs code, imports read only what the rule admits, and
nothing a file holds drives the terminal (issue 11).

* the grammar: no pickle cache exists, so a file planted where the old cache lived is never
  loaded; the parser's tables ship as JSON next to the grammar, and match it;
* imports: `.nas` files only, relative to the importing file, inside the root file's tree, the
  built-in library or an explicit import path; a refused file is never opened, so its content
  never appears in an error (from a file or from a tampered checkpoint);
* export: hostile file names cannot inject code into the generated module;
* `--ops`: only dotted module names are imported;
* control characters from source text or file names are escaped in every error.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import lark
import pytest

import nasdsl
from nasdsl import NasError
from nasdsl.cli import main
from nasdsl.syntax import tables
from nasdsl.syntax.parser import grammar_path

ROOT = Path(__file__).resolve().parents[1]
NET = "network(x: [4]) = x -> ReLU()\n"
SECRET = "SECRET-FIRST-LINE do not echo"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cli(*argv, cwd=None, env=None):
    """The command line in a fresh process (as a user runs it)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "nasdsl", *argv], capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=120)


# --- the grammar: no pickle anywhere ---------------------------------------------------------

class _Planted:
    """Unpickling this writes a marker file: proof that a planted pickle was loaded."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path(self.marker).write_text, ("planted pickle ran",))


def test_a_pickle_planted_where_a_grammar_cache_could_live_is_never_loaded(tmp_path):
    """The old parser unpickled `$XDG_CACHE_HOME/nasdsl/grammar-<key>.lark` (or a predictable
    name under the shared temp directory) before checking anything. Plant a pickle at both
    places, and in every file of those folders: a fresh `nasdsl check` must not run it."""
    marker = tmp_path / "marker"
    cache_home, temp = tmp_path / "cache", tmp_path / "tmp"
    key = hashlib.sha256((grammar_path().read_text() + lark.__version__).encode()).hexdigest()[:16]
    payload = pickle.dumps(_Planted(str(marker)))
    for folder in (cache_home / "nasdsl", temp / "nasdsl-cache"):
        folder.mkdir(parents=True)
        (folder / f"grammar-{key}.lark").write_bytes(payload)
    space = tmp_path / "s.nas"
    space.write_text(NET)
    result = cli("check", str(space), env={"XDG_CACHE_HOME": str(cache_home), "TMPDIR": str(temp)})
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    # nothing new was written to either folder either: there is no cache
    assert sorted(p.name for p in (cache_home / "nasdsl").iterdir()) == [f"grammar-{key}.lark"]
    assert sorted(p.name for p in (temp / "nasdsl-cache").iterdir()) == [f"grammar-{key}.lark"]


def test_shipped_parser_tables_match_the_grammar_and_are_plain_json():
    """`grammar/nas.tables.json` is regenerated with `python -m nasdsl.syntax.tables`."""
    path = tables.tables_path(grammar_path())
    record = json.loads(path.read_text())
    assert record["format"] == tables.FORMAT
    assert record["grammar"] == tables.grammar_digest(grammar_path().read_text()), \
        "stale tables: run python -m nasdsl.syntax.tables"
    if record["lark"] == lark.__version__:
        parser = tables.load_tables(grammar_path().read_text())
        assert parser is not None
        source = (ROOT / "spaces" / "darts.nas").read_text()
        assert parser.parse(source) == tables.build(grammar_path().read_text()).parse(source)


def test_stale_or_damaged_tables_are_ignored_not_trusted(tmp_path):
    text = grammar_path().read_text()
    good = tmp_path / "nas.tables.json"
    tables.write_tables(text, good)
    assert tables.load_tables(text, good) is not None
    assert tables.load_tables(text + "\n// edited", good) is None          # another grammar
    record = json.loads(good.read_text())
    record["tables"] = {"__tuple__": [1]}
    good.write_text(json.dumps(record))
    assert tables.load_tables(text, good) is None                          # damaged
    good.write_bytes(pickle.dumps({"format": tables.FORMAT}))
    assert tables.load_tables(text, good) is None                          # not JSON at all


# --- imports ---------------------------------------------------------------------------------

@pytest.fixture
def tree(tmp_path):
    """project/ holds the root space; outside/ a .nas file and a plain file with a secret."""
    project, outside = tmp_path / "project", tmp_path / "outside"
    (project / "lib").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.nas").write_text(SECRET + "\n")
    (outside / "secret.txt").write_text(SECRET + "\n")
    (outside / "ops.nas").write_text("block Act() = ReLU()\n")
    (project / "lib" / "ops.nas").write_text("block Act() = ReLU()\n")
    return project, outside


def _root(project: Path, import_line: str) -> Path:
    path = project / "space.nas"
    path.write_text(import_line + "\n" + NET)
    return path


@pytest.mark.parametrize("target, why", [
    ("/etc/passwd", "only .nas files can be imported"),
    ("/etc/shadow", "only .nas files can be imported"),
    ("../../../../etc/passwd", "only .nas files can be imported"),
    ("../outside/secret.txt", "only .nas files can be imported"),
    ("../outside/secret.nas", "outside the directory of"),
    ("../../../../../../etc/passwd.nas", "outside the directory of"),
    ("{outside}/secret.nas", "absolute import paths are refused"),
])
def test_imports_outside_the_rule_are_refused_without_reading_them(tree, capsys, target, why):
    project, outside = tree
    path = _root(project, f'import "{target.format(outside=outside)}"')
    with pytest.raises(NasError, match=why) as err:
        nasdsl.load(path)
    assert SECRET not in str(err.value)
    assert err.value.loc.file == str(path) and err.value.loc.line == 1
    code, out, err_text = run(capsys, "check", str(path))
    assert code == 1 and SECRET not in out + err_text and "Traceback" not in err_text


def test_a_symlink_inside_the_tree_to_a_file_outside_is_refused(tree):
    project, outside = tree
    (project / "link.nas").symlink_to(outside / "secret.nas")
    with pytest.raises(NasError, match="outside the directory of") as err:
        nasdsl.load(_root(project, 'import "link.nas"'))
    assert SECRET not in str(err.value)


def test_imports_the_rule_admits(tree):
    project, outside = tree
    assert nasdsl.load(_root(project, 'import "lib/ops.nas"')).size() == 1          # inside the tree
    assert nasdsl.load(_root(project, 'import "nds_ops.nas"')).size() == 1          # the built-in library
    # an explicit import path admits another directory, relative or absolute
    assert nasdsl.load(_root(project, 'import "../outside/ops.nas"'), import_paths=[outside]).size() == 1
    assert nasdsl.load(_root(project, f'import "{outside}/ops.nas"'), import_paths=[outside]).size() == 1


def test_the_command_line_admits_an_import_path(tree, capsys):
    project, outside = tree
    path = _root(project, f'import "{outside}/ops.nas"')
    assert run(capsys, "check", str(path))[0] == 1
    code, out, _ = run(capsys, "check", str(path), "--import-path", str(outside))
    assert code == 0 and "ok" in out


def test_a_tampered_checkpoint_reads_no_file_from_disk(tree, tmp_path):
    """A checkpoint's stored source that imports files on disk is refused at `model()`: its
    imports come from the checkpoint's own sources and the built-in library only."""
    torch = pytest.importorskip("torch")
    from nasdsl.checkpoint import load_checkpoint, save_checkpoint
    from nasdsl.lower.discrete import build
    project, outside = tree
    space = nasdsl.load(_root(project, 'import "lib/ops.nas"'))
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, space, "discrete", build(space, {}), arch={})
    assert load_checkpoint(ckpt).model() is not None
    for target in ("/etc/passwd", str(outside / "secret.nas"), "../outside/secret.nas", "../../outside/secret.nas"):
        payload = torch.load(str(ckpt), weights_only=True)
        payload["space"]["sources"][payload["space"]["file"]] = f'import "{target}"\n' + NET
        tampered = tmp_path / "tampered.pt"
        torch.save(payload, str(tampered))
        with pytest.raises(NasError) as err:
            load_checkpoint(tampered).model()
        assert SECRET not in str(err.value) and "root:" not in str(err.value)


# --- export ----------------------------------------------------------------------------------

HOSTILE_NAMES = [
    'x\nimport os; open("PWNED", "w").write("x")\n#.nas',
    'a"""; import os; open("PWNED", "w").write("x"); """b.nas',
    "c\\\\x\\.nas",
    "\u00e9\u2028\x1b[2J\r.nas",
    "it's \\N{.nas",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=["newline", "triple-quotes", "backslashes", "controls", "escape"])
def test_export_from_a_hostile_file_name_imports_without_side_effects(tmp_path, monkeypatch, name):
    pytest.importorskip("torch")
    text = (ROOT / "spaces" / "nasbench201.nas").read_text().replace("param C = 16", "param C = 4")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / name).write_text(text)
    out = tmp_path / "model.py"
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(folder / name), "--arch", arch, "-o", str(out)]) == 0
    source = out.read_text()
    compile(source, str(out), "exec")
    assert all(not line.lstrip().startswith("import os") for line in source.splitlines())
    assert "\x1b" not in source and "\r" not in source and "\u2028" not in source
    spec = importlib.util.spec_from_file_location("exported_hostile", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert not (tmp_path / "PWNED").exists()
    assert sum(p.numel() for p in module.build().parameters()) > 0
    assert "\x1b" not in module.Network.__doc__


# --- --ops ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../evil", ".hidden", "", "evil/../x", "a..b", "os.path.", "class", "x-y", "/tmp/evil"])
def test_ops_takes_module_names_only(capsys, tmp_path, name):
    pytest.importorskip("torch")
    out = tmp_path / "never-written.pt"
    code, _, err = run(capsys, "compile", "nasbench201", "--strategy", "discrete", "--ops", name, "-o", str(out))
    assert code == 1
    assert f"--ops {name!r}: not a module name" in err and "Traceback" not in err
    assert not out.exists()


def test_ops_reports_a_module_that_fails_to_import(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    (tmp_path / "broken_ops_mod.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = run(capsys, "export", "nasbench201", "--arch", "{}", "--ops", "broken_ops_mod")
    assert code == 1 and "--ops broken_ops_mod: importing it failed: RuntimeError: boom" in err


# --- the terminal -----------------------------------------------------------------------------

def test_escape_sequences_in_source_are_refused_and_never_printed_raw(write, capsys):
    path = write("esc.nas", "network(x: [4]) = x -> \x1b[2J\x1b]0;owned\x07ReLU()\n")
    code, _, err = run(capsys, "check", str(path))
    assert code == 1
    assert "esc.nas:1:24: control character U+001B is not allowed in source text" in err
    assert "\x1b" not in err and "\x07" not in err and "\\x1b[2J" in err


def test_bidirectional_overrides_are_refused(write):
    with pytest.raises(NasError, match="control character U\\+202E"):
        nasdsl.load(write("bidi.nas", 'param s = "\u202eabc"\n' + NET))


def test_file_names_with_escape_sequences_are_escaped_in_errors(tmp_path, capsys):
    path = tmp_path / "a\x1b[31mred.nas"
    path.write_text("network(x: [4]) = x -> Nope()\n")
    code, _, err = run(capsys, "check", str(path))
    assert code == 1 and "\x1b" not in err and "a\\x1b[31mred.nas:1:24" in err
