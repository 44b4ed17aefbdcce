"""`nasdsl check` catches what would fail later (issue 12): warnings for choices with one
candidate, `--strategy` refusals located in the source, and errors that say what is wrong."""
from __future__ import annotations

import pytest

import nasdsl
from nasdsl.analysis.lint import lint
from nasdsl.cli import main
from nasdsl.errors import NasSyntaxError, UndefinedNameError


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_choice_with_one_candidate_is_a_warning(tmp_path, capsys):
    path = tmp_path / "one.nas"
    path.write_text("network(x: [4]) {\n  w = choice[8]\n  return x -> Linear(4, w) -> Linear(w, choice[2, 3])\n}\n")
    code, out, err = run(capsys, "check", str(path))
    assert code == 0
    assert out == f"{path}: ok (2 decisions, 2 architectures)\n"
    assert err == (f"{path}:2:7: warning: choice 'w' has one candidate (8): it is not a decision\n"
                   "      w = choice[8]\n          ^\nhint: add a candidate, or write the value itself\n")


def test_library_spaces_have_no_warnings():
    for name in nasdsl.builtin_spaces():
        assert lint(nasdsl.load(name)) == [], name


PAD = """network(x: [8, 8, 8]) {
  k = choice[3, 5]
  y = x -> Conv2d(8, 8, k, padding=2 if k == 3 else 1, dilation=2 if k == 3 else 1)
  return y
}
"""


def test_check_strategy_reports_what_compile_would_refuse(tmp_path, capsys):
    pytest.importorskip("torch")
    path = tmp_path / "pad.nas"
    path.write_text(PAD)
    assert run(capsys, "check", str(path))[0] == 0  # the space itself is fine
    code, out, err = run(capsys, "check", str(path), "--strategy", "darts")
    assert code == 1 and out == ""
    first = err.splitlines()[0]
    assert first == (f"{path}:3:12: Conv2d dilation depends on k: darts and gumbel average the outputs of all values, "
                     "which differ in shape; search dilation with spos, enas, random_oneshot or proxyless")
    code, compile_out, compile_err = run(capsys, "compile", str(path), "--strategy", "darts",
                                         "-o", str(tmp_path / "x.pt"))
    assert code == 1 and compile_err.splitlines()[0] == first  # the same refusal, the same place
    code, out, err = run(capsys, "check", str(path), "--strategy", "spos")
    assert (code, out) == (0, f"{path}: ok (1 decision, 2 architectures, builds for spos)\n")


@pytest.mark.parametrize(("text", "where", "name"), [
    ("network(x: [3, 8, 8]) {\n  y = x -> Conv2d(3, 8, 3) BatchNorm2d(8)\n  return y\n}", (2, 27), "BatchNorm2d"),
    ("block B(c) = Conv2d(c, c, 3) BatchNorm2d(c)\nnetwork(x: [3, 8, 8]) = x -> B(3)", (1, 29), "BatchNorm2d"),
    ("network(x: [3, 8, 8]) {\n  y = x -> ReLU() z\n  return y\n}", (2, 18), "z"),
])
def test_a_missing_arrow_is_named_with_the_caret_between_the_layers(text, where, name):
    with pytest.raises(NasSyntaxError) as err:
        nasdsl.loads(text)
    assert err.value.message == f"'->' is missing before {name!r}: two layers stand side by side"
    assert (err.value.loc.line, err.value.loc.col) == where
    line = text.splitlines()[where[0] - 1]
    assert line[where[1] - 2] == ")"  # the caret sits right after the first layer (and the space after it)
    assert line[where[1] - 1] == " "


def test_a_statement_without_a_name_keeps_its_own_message():
    with pytest.raises(NasSyntaxError) as err:
        nasdsl.loads("network(x: [3, 8, 8]) {\n  x -> ReLU()\n  return x\n}")
    assert err.value.message == "a statement must bind a name, return or state a constraint"


def test_a_bad_set_names_the_option_not_a_line(capsys):
    with pytest.raises(UndefinedNameError) as err:
        nasdsl.load("nasbench201", params={"c": 3})
    assert err.value.loc == nasdsl.errors.UNKNOWN
    code, out, err_text = run(capsys, "info", "nasbench201", "--set", "c=3")
    assert code == 1
    assert err_text.startswith("--set c: ")
    assert "has no parameter 'c' (parameters: C, N, in_channels, num_classes, resolution)" in err_text
    assert err_text.endswith("hint: did you mean --set C=...?\n")
    assert ":1:1:" not in err_text


def test_counts_are_singular_when_one(tmp_path, capsys):
    path = tmp_path / "one.nas"
    path.write_text("network(x: [4]) = x -> Linear(4, choice[2, 3])\n")
    assert run(capsys, "check", str(path))[1] == f"{path}: ok (1 decision, 2 architectures)\n"
    fixed = tmp_path / "fixed.nas"
    fixed.write_text("network(x: [4]) = x -> Linear(4, 2)\n")
    assert run(capsys, "check", str(fixed))[1] == f"{fixed}: ok (0 decisions, 1 architecture)\n"
    code, _, err = run(capsys, "sample", str(fixed), "-n", "2", "--unique")
    assert code == 1 and err == "--unique: the space has only 1 architecture, 2 were asked for\n"
    assert "1 decision, size 2 " in run(capsys, "info", str(path))[1]
