"""Every user mistake is one NasError with file:line:col, the source line and a caret."""
from __future__ import annotations

import pytest

import nasdsl
from nasdsl import errors


def compile_error(text: str, file: str = "bad.nas", **params) -> errors.NasError:
    with pytest.raises(errors.NasError) as info:
        nasdsl.loads(text, file, params or None)
    return info.value


def assert_at(err: errors.NasError, kind: type, line: int, col: int, *words: str) -> None:
    assert isinstance(err, kind), f"{type(err).__name__}: {err}"
    text = str(err)
    first = text.splitlines()[0]
    assert first.startswith(f"bad.nas:{line}:{col}: "), text
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"
    lines = text.splitlines()
    assert lines[2].strip() == "^" and lines[2].index("^") == 4 + col - 1, text  # caret under the column


NET = "network(x: [3, 8, 8]) {{\n{}\n  return y\n}}\n"


def test_syntax_error_points_at_the_token():
    err = compile_error("param C = 16\nblock A(c) = Conv2d(c, c 3)\n")
    assert_at(err, errors.NasSyntaxError, 2, 26, "unexpected")


def test_assignment_in_a_constraint_gets_a_hint():
    err = compile_error(NET.format("  k = choice[1, 2]\n  y = x -> Conv2d(3, k, 1)\n  forbid k = 1"))
    assert isinstance(err, errors.NasSyntaxError)
    assert "hint: use '=='" in str(err)


def test_unknown_block_or_op():
    err = compile_error(NET.format("  y = x -> Conv2D(3, 8, 3)"))
    assert_at(err, errors.UndefinedNameError, 2, 12, "'Conv2D' is not defined", "did you mean 'Conv2d'?")


def test_wrong_arity():
    err = compile_error(NET.format("  y = x -> Conv2d(3, 8)"))
    assert_at(err, errors.ArityError, 2, 12, "missing its argument 'kernel_size'")
    err = compile_error("block B(c) = Conv2d(c, c, 1)\n" + NET.format("  y = x -> B(3, 4)"))
    assert_at(err, errors.ArityError, 3, 12, "B takes at most 1 positional argument")


def test_unknown_keyword():
    err = compile_error(NET.format("  y = x -> Conv2d(3, 8, 3, padd=1)"))
    assert_at(err, errors.ArityError, 2, 28, "no parameter 'padd'", "did you mean 'padding'?")


def test_duplicate_candidate_name():
    err = compile_error(NET.format("  y = x -> choice { a: Identity(), a: Conv2d(3, 3, 1) }"))
    assert_at(err, errors.DuplicateError, 2, 36, "candidate 'a' is named twice")


def test_label_reused_with_a_different_domain_names_both_places():
    err = compile_error(NET.format('  y = x -> Conv2d(3, choice "w" [8, 16], 1) -> Conv2d(choice "w" [8, 32], 3, 1)'))
    assert_at(err, errors.DuplicateError, 2, 55, "label 'w' is reused with a different domain")
    assert "bad.nas:2:22: note: first declared here" in str(err)


def test_type_error_in_an_expression():
    err = compile_error(NET.format("  y = x -> Conv2d(3, 8 + Identity(), 1)"))
    assert_at(err, errors.NasTypeError, 2, 26, "cannot use a layer with '+'")


def test_undefined_tensor_name():
    err = compile_error(NET.format("  y = z -> Identity()"))
    assert_at(err, errors.UndefinedNameError, 2, 7, "'z' is not defined")


def test_cyclic_import(tmp_path):
    (tmp_path / "a.nas").write_text('import "b.nas"\nnetwork(x: [3]) = x -> Identity()\n')
    (tmp_path / "b.nas").write_text('import "a.nas"\n')
    with pytest.raises(errors.ImportCycleError) as info:
        nasdsl.load(tmp_path / "a.nas")
    assert "import cycle" in str(info.value) and "b.nas:1:1" in str(info.value)


def test_empty_space_after_constraints():
    err = compile_error(NET.format("  k = choice[1, 2]\n  y = x -> Conv2d(3, k, 1)\n  forbid k == 1\n  forbid k == 2"))
    assert_at(err, errors.EmptySpaceError, 4, 3, "rule out every architecture")


def test_unknown_parameter_override():
    err = compile_error("param C = 4\n" + NET.format("  y = x -> Conv2d(3, C, 1)"), D=3)
    assert "no parameter 'D'" in str(err) and "parameters: C" in str(err)


def test_conditional_between_layers_on_a_choice_is_rejected_with_a_hint():
    err = compile_error(NET.format("  k = choice[1, 2]\n  y = x -> (Identity() if k == 1 else Conv2d(3, 3, 1))"))
    assert_at(err, errors.NasTypeError, 3, 13, "use choice { ... } to choose between layers")


def test_candidates_with_different_arity():
    text = "block Two(c)(a, b) { return a + b }\n" + NET.format("  y = x -> choice { one: Identity(), two: Two(3) }")
    err = compile_error(text)
    assert_at(err, errors.ArityError, 3, 38, "candidate 'two'")


def test_missing_network_and_missing_shape():
    err = compile_error("block A(c) = Identity()\n")
    assert isinstance(err, errors.UndefinedNameError) and "no `network`" in str(err)
    err = compile_error("network(x) = x -> Identity()\n")
    assert_at(err, errors.NasTypeError, 1, 9, "needs a shape")


def test_a_nas_file_cannot_name_python():
    err = compile_error(NET.format('  y = x -> __import__("os")'))
    assert isinstance(err, errors.UndefinedNameError)
    err = compile_error(NET.format('  y = x -> Identity().__class__'))
    assert isinstance(err, errors.NasTypeError)


def test_recursion_and_huge_loops_are_caught():
    err = compile_error("block A(c) = A(c)\n" + NET.format("  y = x -> A(3)"))
    assert "recursive" in str(err)
    err = compile_error(NET.format("  for i in range(10 ** 9) { x = x -> Identity() }\n  y = x"))
    assert "longer than" in str(err)
    err = compile_error(NET.format("  y = x -> Conv2d(3, 2 ** 10 ** 9, 1)"))
    assert "too large" in str(err)
