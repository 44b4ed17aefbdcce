"""The command line: exit codes, no tracebacks for user errors, stable JSON."""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

from nasdsl.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_accepts_op_libraries_and_reports_their_errors(capsys, write):
    lib = write("ops.nas", "block Conv(c) = Conv2d(c, c, 3, padding=1)\nblock Pair(c) = Conv(c) -> Conv(c)\n")
    broken = write("broken.nas", "block Conv(c) = Conv2d(c, c, 3\n")
    code, out, err = run(capsys, "check", str(lib), str(broken))
    assert code == 1
    assert f"{lib}: ok (op library: 2 blocks)" in out
    assert err.startswith(f"{broken}:1:30: unexpected end of file")
    assert "Traceback" not in err


def test_check_ok_and_failure(capsys, write):
    good = write("good.nas", "network(x: [4]) = x -> Linear(4, choice[2, 3])\n")
    bad = write("bad.nas", "network(x: [4]) = x -> Linear(4, choice[2, 3)\n")
    code, out, err = run(capsys, "check", str(good), str(bad))
    assert code == 1
    assert f"{good}: ok (1 decision, 2 architectures)" in out
    assert err.startswith(f"{bad}:1:45: unexpected ')'")
    assert "Traceback" not in err


def test_info_json_contract(capsys):
    code, out, _ = run(capsys, "info", "nasbench201", "--json")
    data = json.loads(out)
    assert code == 0 and data["size"] == 15625 and len(data["fingerprint"]) == 16
    assert [d["label"] for d in data["decisions"]][:2] == ["Cell.e1_0", "Cell.e2_0"]
    assert all(set(d) >= {"label", "kind", "values"} for d in data["decisions"])


def test_info_as_a_process_runs_without_the_collector_and_prints_what_main_prints(capsys):
    """`nasdsl info` run as its own process turns the cyclic garbage collector off (its heap is
    the space it prints); called in a program, `main` leaves that program's collector on. The
    output is the same either way."""
    root = Path(__file__).resolve().parent.parent
    code, out, _ = run(capsys, "info", "darts", "--set", "C=8")
    assert code == 0 and gc.isenabled()
    probe = ("import gc, sys\nfrom nasdsl.cli import main\nsys.argv = ['nasdsl', 'info', 'darts', '--set', 'C=8']\n"
             "code = main()\nprint(code, gc.isenabled())")
    env = {**os.environ, "PYTHONPATH": str(root), "NASDSL_NO_CACHE": "1"}
    shown = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    assert shown == out + "0 False\n"


def test_info_table_and_set(capsys):
    code, out, _ = run(capsys, "info", "darts", "--set", "C=16", "--set", "layers=8")
    assert code == 0
    assert "parameters: C=16, layers=8, num_classes=10, in_channels=3, resolution=32, auxiliary=false" in out
    assert "32 decisions, size 6,891,180,482,912,463,360,000" in out


def test_info_with_arch_validates_it(capsys):
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    code, out, _ = run(capsys, "info", "nasbench201", "--arch", arch, "--json")
    data = json.loads(out)
    assert code == 0 and data["arch"]["Cell.e3_0"] == "skip_connect"
    assert data["params"] == 1_073_466 and data["flops"] > 0
    code, _, err = run(capsys, "info", "nasbench201", "--arch", '{"Cell.e1_0": "conv"}')
    assert code == 1 and "\"conv\" is not a value of 'Cell.e1_0'" in err


def test_sample_json_lines_unique_and_seeded(capsys):
    code, out, _ = run(capsys, "sample", "nasbench201", "-n", "50", "--seed", "3", "--unique")
    lines = out.splitlines()
    assert code == 0 and len(lines) == len(set(lines)) == 50
    _, again, _ = run(capsys, "sample", "nasbench201", "-n", "50", "--seed", "3", "--unique")
    assert again == out
    code, _, err = run(capsys, "sample", "nasbench201", "-n", "20000", "--unique")
    assert code == 1 and "only 15,625 architectures" in err


def test_set_unknown_parameter_is_a_user_error(capsys):
    code, _, err = run(capsys, "info", "nasbench201", "--set", "width=3")
    assert code == 1 and "no parameter 'width'" in err


def test_missing_file(capsys):
    code, _, err = run(capsys, "info", "no/such.nas")
    assert code == 1 and "no such file: no/such.nas" in err


def test_usage_errors_exit_2():
    result = subprocess.run([sys.executable, "-m", "nasdsl", "info"], capture_output=True, text=True)
    assert result.returncode == 2 and "usage:" in result.stderr


def test_user_error_in_a_subprocess_has_no_traceback(tmp_path):
    bad = tmp_path / "bad.nas"
    bad.write_text("block A(c) = Conv2d(c, c, 3)\nnetwork(x: [3]) = x -> A(3, 4)\n")
    result = subprocess.run([sys.executable, "-m", "nasdsl", "check", str(bad)], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"{bad}:2:24: A takes at most 1 positional argument(s), got 2"
    assert "Traceback" not in result.stderr


def test_the_library_is_canonically_formatted(capsys):
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    files = sorted(str(p) for p in [*root.glob("spaces/*.nas"), *root.glob("examples/*.nas")])
    code, _, err = run(capsys, "fmt", "--check", *files)
    assert code == 0, err


def test_info_ops_lists_every_op_record_with_its_signature_domains_and_supernet_form(capsys):
    from nasdsl.ops.catalog import REQUIRED, known_ops, spec
    code, out, err = run(capsys, "info", "--ops", "--json")
    assert (code, err) == (0, "")
    rows = json.loads(out)
    assert [r["op"] for r in rows] == sorted(known_ops())
    by_op = {r["op"]: r for r in rows}
    for op in known_ops():
        record = spec(op)
        assert by_op[op]["domains"] == {name: record.domains[name].what for name, _ in record.params
                                        if name in record.domains}
        required = [name for name, default in record.params if default is REQUIRED]
        assert by_op[op]["signature"].startswith(f"{op}({', '.join(required)}")
    assert by_op["Linear"]["signature"] == "Linear(in_features, out_features, bias=true)"
    assert by_op["Conv2d"]["supernet"] == "weight-entangled (MixedConv)"
    assert (by_op["MaxPool2d"]["supernet"], by_op["Dropout"]["supernet"]) == \
        ("parameter-free", "one module per combination")
    code, text, _ = run(capsys, "info", "--ops")
    assert code == 0
    lines = text.splitlines()
    at = lines.index("Linear(in_features, out_features, bias=true)")
    assert lines[at + 1:at + 5] == ["    in_features: a positive integer", "    out_features: a positive integer",
                                    "    bias: true or false", "    supernet: weight-entangled (MixedLinear)"]


def test_info_without_a_space_or_with_one_and_ops_is_a_usage_error(capsys):
    import pytest
    for argv, message in ((["info"], "needs a .nas file or a built-in space name (or --ops for the op list)"),
                          (["info", "nasbench201", "--ops"], "--ops lists every op and takes no space")):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.startswith("usage: nasdsl info") and \
            err.endswith(f"nasdsl info: error: {message}\n")
