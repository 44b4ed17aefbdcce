"""Bounded work and checked values (issue 11): every input the probe found unbounded or
unchecked gets one located `NasError`, quickly, and the command line never prints a bare
traceback (an unexpected failure is reported as an internal error, exit 70)."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

import nasdsl
from nasdsl import ArchitectureError, NasError
from nasdsl.arch import arch_from_json, arch_json_value
from nasdsl.cli import INTERNAL_ERROR, main
from nasdsl.limits import (
    MAX_EXPR_NODES,
    MAX_INT,
    MAX_LINE_CHARS,
    MAX_SOURCE_BYTES,
    ValueTooLarge,
    check_model_fits,
    check_number,
    nesting_depth,
)
from nasdsl.text import MAX_QUOTE_CHARS

NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
NET = "network(x: [4]) = x -> ReLU()\n"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def raises_located(text: str, where: str, message: str, seconds: float = 2.0) -> NasError:
    start = time.process_time()
    with pytest.raises(NasError) as err:
        nasdsl.loads(text, "t.nas")
    assert time.process_time() - start < seconds
    assert str(err.value).startswith(f"t.nas:{where}: {message}"), str(err.value)
    return err.value


# --- numbers ---------------------------------------------------------------------------------

def test_values_are_64_bit_and_finite():
    assert check_number(MAX_INT) == MAX_INT and check_number(-MAX_INT - 1) == -MAX_INT - 1
    for bad in (MAX_INT + 1, -MAX_INT - 2, math.inf, -math.inf, math.nan):
        with pytest.raises(ValueTooLarge):
            check_number(bad)


def test_a_4301_digit_literal_is_a_located_error_not_a_traceback():
    raises_located("param a = " + "1" * 4301 + "\n" + NET, "1:11", "number too large: a literal of 4,301 characters")


def test_repeated_squaring_is_stopped_where_it_leaves_64_bits():
    text = "param a = 10 ** 18\n" + "".join(f"param a{i} = a{i - 1 if i else ''} * a{i - 1 if i else ''}\n"
                                          for i in range(40)) + NET
    raises_located(text, "2:14", "number too large: a 37-digit number is beyond the 64-bit range")


def test_infinite_literals_and_overflowing_floats():
    raises_located("param a = 1e999\n" + NET, "1:11", "number out of range: inf is not a finite number")
    raises_located("param a = 1e308 * 10\n" + NET, "1:17", "number out of range: inf")


def test_a_parameter_too_big_for_a_checkpoint_is_refused_at_load():
    raises_located("param BIG = (2 ** 64) ** 32\n" + NET, "1:16", "number too large: 2**64 is beyond the 64-bit range")


# --- self-doubling expressions ----------------------------------------------------------------

DOUBLING = "network(x: [4, 8, 8]) {{\n  k = choice[1, 2]\n  for i in range({n}) {{ k = k + k }}\n{use}\n  return y\n}}\n"
USES = {
    "constraint": "  require k < 100\n  y = x -> ReLU()",
    "repeat depth": "  y = x -> repeat(k, lambda i: ReLU())",
    "argument": "  y = x -> Conv2d(4, 4, k)",
    "argument in a domain": "  y = x -> Dropout(k)",
}


@pytest.mark.parametrize("use", USES.values(), ids=USES.keys())
def test_self_doubling_expressions_stop_at_the_size_bound(use):
    """`k = k + k` forty times is a 2**40-node tree over a 40-node DAG: refused where it passes
    MAX_EXPR_NODES, at once (it took minutes and gigabytes)."""
    err = raises_located(DOUBLING.format(n=40, use=use), "3:30", "expression too large: over 50,000 operations")
    assert MAX_EXPR_NODES == 50_000 and err.loc.line == 3


@pytest.mark.parametrize("use", USES.values(), ids=USES.keys())
def test_self_doubling_just_under_the_bound_is_quick(use):
    """14 doublings (32,767 nodes written out) stay under the bound: every pass is then over a
    DAG of 15 nodes, hashed in constant time, so all uses finish quickly either way."""
    start = time.process_time()
    try:
        space = nasdsl.loads(DOUBLING.format(n=14, use=use))
        space.size(), space.fingerprint(), space.to_json()
    except NasError as err:
        assert "t.nas" not in str(err)  # an ordinary located error (empty space, depth, domain)
    assert time.process_time() - start < 2.0


def test_a_domain_violation_behind_many_values_is_still_found():
    err = raises_located(DOUBLING.format(n=14, use=USES["argument in a domain"]), "4:12", "Dropout(p=16384)")
    assert "p must be a probability (0 <= p <= 1)" in str(err)


def test_counting_a_thousand_way_repeat_is_quick():
    start = time.process_time()
    space = nasdsl.loads("network(x: [4]) = x -> repeat(choice[range(1, 1001)], lambda i: ReLU())\n")
    assert space.size() == 1000
    space.sample(0), space.to_json()
    assert time.process_time() - start < 2.0


# --- source size, long lines, deep nesting ---------------------------------------------------

def test_source_files_have_a_size_limit(tmp_path):
    path = tmp_path / "big.nas"
    path.write_text("# " + "x" * MAX_SOURCE_BYTES + "\n" + NET)
    start = time.process_time()
    with pytest.raises(NasError, match="is too large: 1,000,0.. bytes, the limit is 1,000,000"):
        nasdsl.load(path)
    assert time.process_time() - start < 1.0


def test_a_long_line_is_refused_and_quoted_as_a_bounded_slice():
    err = raises_located("param a = " + "1 + " * 5000 + "1\n" + NET, f"1:{MAX_LINE_CHARS + 1}", "line too long: 20,011")
    quoted = str(err).splitlines()[1]
    assert len(quoted) <= MAX_QUOTE_CHARS + 20 and quoted.strip().startswith("...")


def test_deep_nesting_across_lines_is_a_located_error():
    for text in ("param a = " + "1 if true else\n" * 10000 + "1\n" + NET,
                 "param a = " + "2 **\n" * 3000 + "1\n" + NET):
        start = time.process_time()
        with pytest.raises(NasError, match=r"^t\.nas:\d+:1: expression nested too deeply"):  # the parser's refusal
            nasdsl.loads(text, "t.nas")
        assert time.process_time() - start < 3.0


def test_nul_bytes_and_invalid_utf8(tmp_path, capsys):
    raises_located("param a = 1\x00\n" + NET, "1:12", "control character U+0000")
    path = tmp_path / "latin1.nas"
    path.write_bytes(b"# caf\xe9\n" + NET.encode())
    with pytest.raises(NasError, match="is not UTF-8 text \\(byte 5\\)"):
        nasdsl.load(path)
    code, _, err = run(capsys, "fmt", "--check", str(path))
    assert code == 1 and "is not UTF-8 text (byte 5)" in err and "Traceback" not in err


# --- architectures ----------------------------------------------------------------------------

def test_architecture_json_is_bounded():
    assert nesting_depth('{"a": "[[[", "b": [[1]]}') == 3
    with pytest.raises(ArchitectureError, match="JSON nested 1000 deep, the limit is 32"):
        arch_json_value("[" * 1000 + "]" * 1000)
    with pytest.raises(ArchitectureError, match="NaN is not a finite number"):
        arch_json_value('{"a": NaN}')
    with pytest.raises(ArchitectureError, match="number too large"):
        arch_json_value('{"a": ' + "9" * 30 + "}")
    with pytest.raises(ArchitectureError, match="got a list"):
        arch_from_json("[1, 2]")


@pytest.mark.parametrize("arch, message", [
    ("[1, 2]", "not an architecture: an architecture is a JSON object of label -> value, got a list"),
    ("7", "not an architecture: an architecture is a JSON object of label -> value, got a number"),
    ("/dev/zero", "cannot read architecture file /dev/zero: not a regular file"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|none~2|", "NAS-Bench-201 string names edge 2 -> 3 twice"),
    ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", "NAS-Bench-201 string names edge 0 -> 2 twice"),
])
def test_bad_architecture_inputs(capsys, arch, message):
    code, _, err = run(capsys, "info", "nasbench201", "--arch", arch)
    assert code == 1 and message in err and "Traceback" not in err


def test_genotype_ranges_and_nesting_are_bounded(capsys):
    from nasdsl.formats import parse_genotype
    code, _, err = run(capsys, "info", "darts", "--arch",
                       "Genotype(normal=[], normal_concat=range(0, 3000000000), reduce=[])")
    assert code == 1 and "has 3,000,000,000 elements, the limit is 1,000" in err
    start = time.process_time()
    for text, message in (("Genotype(normal=[], normal_concat=range(0, 3000000000), reduce=[])", "3,000,000,000 elements"),
                          ("Genotype(normal=" + "[" * 200 + "]" * 200 + ", reduce=[])", "nested more than 32 deep"),
                          ("Genotype(normal=[" + "(1, 2), " * 200_000 + "], reduce=[])", "the limit is 1,000,000")):
        with pytest.raises(ArchitectureError, match=message):
            parse_genotype(text)
    assert time.process_time() - start < 1.0


def test_architecture_files_are_bounded(tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 1000 + "]" * 1000)
    binary = tmp_path / "arch.bin"
    binary.write_bytes(b"\xff\xfe{}")
    big = tmp_path / "big.json"
    big.write_text('{"a": "' + "x" * 1_100_000 + '"}')
    for path, message in ((deep, "JSON nested 1000 deep"), (binary, "is not UTF-8 text (byte 0)"),
                          (big, "is too large: 1,100,009 bytes, the limit is 1,000,000")):
        code, _, err = run(capsys, "info", "nasbench201", "--arch", str(path))
        assert code == 1 and message in err and "Traceback" not in err


# --- --set and op arguments -------------------------------------------------------------------

STEM = "44:15"   # nasbench201.nas: the stem's Conv2d(in_channels, C, ...), whose domain a bad C breaks
PARAM = "5:1"    # nasbench201.nas: `param C = 16`, whose kind a bad --set C breaks


@pytest.mark.parametrize("value, where, message", [
    ("-1", STEM, "out_channels must be a positive integer, got -1"),
    ("0", STEM, "out_channels must be a positive integer, got 0"),
    ("1e999", PARAM, "--set C: number out of range: inf is not a finite number"),
    ("nan", PARAM, "--set C: number out of range: nan is not a finite number"),
    ("true", PARAM, "--set C: expected an integer, as the default 16 is, got true"),
    ("2.5", PARAM, "--set C: expected an integer, as the default 16 is, got 2.5"),
    ("[1, 2]", PARAM, "--set C: expected an integer, as the default 16 is, got [1, 2]"),
])
def test_set_values_are_checked_where_they_enter(capsys, value, where, message):
    for command in ("check", "info"):
        code, out, err = run(capsys, command, "nasbench201", "--set", f"C={value}")
        assert code == 1 and message in err and "Traceback" not in err
        first = err.splitlines()[0]
        assert first.startswith(str(nasdsl.resolve_space("nasbench201")) + f":{where}: ") and first.endswith(message)


def test_set_accepts_lists(write, capsys):
    path = write("k.nas", "param ks = [3, 5]\nnetwork(x: [4, 8, 8]) = x -> Conv2d(4, 4, choice[ks], padding=1)\n")
    code, out, _ = run(capsys, "info", str(path), "--set", "ks=[3, 1]", "--json")
    data = json.loads(out)
    assert code == 0 and data["params"]["ks"] == [3, 1] and data["decisions"][0]["values"] == [3, 1]
    code, _, err = run(capsys, "info", str(path), "--set", "ks=[3, [1]]")
    assert code == 1 and "--set ks: a parameter takes a number, true/false, a string or a flat list" in err


@pytest.mark.parametrize("layer, message", [
    ("Conv2d(4, 0, 3)", "out_channels must be a positive integer, got 0"),
    ("BatchNorm2d(4, eps=-1)", "eps must be a positive finite number, got -1"),
    ("Dropout(1.5)", "p must be a probability (0 <= p <= 1), got 1.5"),
    ("Conv2d(4, 4, choice[3, -1])",
     "kernel_size must be a positive integer (or a tuple of them), got -1 (when out.kernel_size=-1)"),
    ("Conv2d(4, 4, 3, stride=0)", "stride must be a positive integer (or a tuple of them), got 0"),
    ("MaxPool2d(3, padding=-1)", "padding must be a non-negative integer"),
    ("Linear(4, true)", "out_features must be a positive integer, got true"),
])
def test_op_arguments_are_checked_against_their_domain(layer, message):
    err = raises_located(f"network(x: [4, 8, 8]) = x -> {layer}\n", "1:30", layer.split("(")[0])
    assert message in str(err)


def test_info_json_is_strict_json(capsys):
    code, out, _ = run(capsys, "info", "nasbench201", "--json", "--arch", NB201)
    assert code == 0 and "NaN" not in out and "Infinity" not in out
    json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in info --json"))


# --- compile and checkpoints ------------------------------------------------------------------

def test_compile_refuses_a_model_that_cannot_fit_in_memory(write, capsys, tmp_path):
    pytest.importorskip("torch")
    path = write("huge.nas", "param C = 100000\nnetwork(x: [3, 8, 8]) = x -> Conv2d(3, C, 3) -> Conv2d(C, C, 3)\n")
    out = tmp_path / "huge.pt"
    for strategy in ("discrete", "darts"):
        code, _, err = run(capsys, "compile", str(path), "--strategy", strategy, "-o", str(out))
        assert code == 1 and "has 90,002,900,000 parameters: its weights and gradients need 720.0 GB" in err
        assert not out.exists()
    with pytest.raises(NasError, match="more than the 1.0 GB of memory available"):
        check_model_fits(200_000_000, "model", available=10**9)
    check_model_fits(100_000_000, "model", available=10**9)


def test_compile_reports_torch_refusing_the_test_pass(write, capsys, tmp_path):
    """What the analysis cannot know (BatchNorm needs two samples to train) is one NasError
    naming the options, not a torch traceback; nothing is written."""
    pytest.importorskip("torch")
    path = write("bn.nas", "network(x: [4]) = x -> BatchNorm1d(4)\n")
    out = tmp_path / "bn.pt"
    code, _, err = run(capsys, "compile", str(path), "--strategy", "discrete", "--batch", "1", "-o", str(out))
    assert code == 1 and "(--strategy discrete, --batch 1) failed in PyTorch: ValueError: Expected more than 1 value" in err
    assert "Traceback" not in err and not out.exists()
    for batch in ("0", "-3"):
        code, _, err = run(capsys, "compile", str(path), "--strategy", "discrete", "--batch", batch, "-o", str(out))
        assert code == 1 and f"--batch must be between 1 and 65,536, got {batch}" in err


def test_oversized_files_are_refused_before_reading(tmp_path, capsys):
    """A 3 GB file (sparse: nothing is written) is refused from its size, as a source or an
    architecture, without reading it (it used to end in a MemoryError)."""
    big = tmp_path / "big.nas"
    with open(big, "wb") as handle:
        handle.truncate(3 * 2**30)
    start = time.process_time()
    with pytest.raises(NasError, match="source file .*big.nas is too large: 3,221,225,472 bytes"):
        nasdsl.load(big)
    code, _, err = run(capsys, "info", "nasbench201", "--arch", str(big))
    assert code == 1 and "architecture file" in err and "is too large: 3,221,225,472 bytes" in err
    assert time.process_time() - start < 1.0


def test_load_checkpoint_names_what_is_missing(tmp_path):
    torch = pytest.importorskip("torch")
    from nasdsl.checkpoint import FORMAT, load_checkpoint
    cases = [({"format": FORMAT}, "no 'space' record"),
             ({"format": FORMAT, "space": {"file": "a.nas", "sources": {}}}, "is not among its stored sources"),
             ({"format": FORMAT, "space": {"file": "a.nas", "sources": {"a.nas": NET}, "params": {},
                                           "fingerprint": "x"}, "strategy": "discrete", "arch": {},
               "state_dict": {"w": [1]}}, "the weights are not a mapping of names to tensors")]
    for payload, message in cases:
        path = tmp_path / "c.pt"
        torch.save(payload, str(path))
        with pytest.raises(NasError, match=message):
            load_checkpoint(path)


def test_a_checkpoint_with_weights_of_another_model_is_a_nas_error(tmp_path):
    torch = pytest.importorskip("torch")
    from nasdsl.checkpoint import load_checkpoint, save_checkpoint
    from nasdsl.lower.discrete import build
    space = nasdsl.loads("network(x: [4]) = x -> Linear(4, 2)\n", str(tmp_path / "s.nas"))
    path = tmp_path / "c.pt"
    save_checkpoint(path, space, "discrete", build(space, {}), arch={})
    payload = torch.load(str(path), weights_only=True)
    payload["state_dict"] = {"nope": torch.zeros(1)}
    torch.save(payload, str(path))
    with pytest.raises(NasError, match=r"\(discrete\): weights lack 'out.weight' \(2 missing, 1 unknown\)"):
        load_checkpoint(path).model()


# --- the last-resort handler -------------------------------------------------------------------

def _broken_command(args):
    raise RuntimeError("an unexpected failure\n\x1b[2Jwith escapes")


def test_an_internal_error_is_reported_as_such(monkeypatch, capsys):
    import nasdsl.cli as cli
    monkeypatch.setattr(cli, "cmd_info", _broken_command)
    monkeypatch.delenv("NASDSL_DEBUG", raising=False)
    code, out, err = run(capsys, "info", "nasbench201")
    assert code == INTERNAL_ERROR == 70
    assert err.startswith("nasdsl: internal error: RuntimeError: an unexpected failure\\n\\x1b[2Jwith escapes\n")
    assert "This is a bug in nasdsl" in err and "Please report it" in err and "NASDSL_DEBUG=1" in err
    assert "Traceback" not in err and "\x1b" not in err


def test_nasdsl_debug_shows_the_traceback(monkeypatch, capsys):
    import nasdsl.cli as cli
    monkeypatch.setattr(cli, "cmd_info", _broken_command)
    monkeypatch.setenv("NASDSL_DEBUG", "1")
    with pytest.raises(RuntimeError, match="an unexpected failure"):
        main(["info", "nasbench201"])


def test_a_user_error_is_never_an_internal_error(capsys, tmp_path):
    for argv in (["info", str(Path(tmp_path) / "missing.nas")], ["info", "nasbench201", "--arch", "{"],
                 ["sample", "nasbench201", "-n", "-1"], ["info", "nasbench201", "--set", "C=[1,"]):
        code, _, err = run(capsys, *argv)
        assert code == 1 and "internal error" not in err and "Traceback" not in err


# --- no state grows with the number of spaces loaded ----------------------------------------

GROWTH_SPACE = ("network(x: [4]) {{\n  a{i} = choice[1, 2, 3]\n  b = choice[1, 2, {i}]\n  require a{i} + b < 6\n"
                "  forbid a{i} == b\n  y = x -> Linear(4, a{i} + {i})\n  return y\n}}\n")


def _module_state() -> dict[str, int]:
    """Entries in every module-level dict, list and set of nasdsl's modules."""
    import sys
    out = {}
    for name, module in list(sys.modules.items()):
        if name == "nasdsl" or name.startswith("nasdsl."):
            for key, value in vars(module).items():
                if isinstance(value, (dict, list, set)) and not key.startswith("__"):
                    out[f"{name}.{key}"] = len(value)
    return out


def _load_many(start: int, stop: int) -> None:
    for i in range(start, stop):  # each space its own file name, labels and expressions
        space = nasdsl.loads(GROWTH_SPACE.format(i=i + 4), f"space{i}.nas")
        space.size(), space.sample(0), space.fingerprint()


def test_loading_many_spaces_grows_no_module_state():
    """A long search loads many spaces in one process: what a space caches must go with it.
    After 300 loads (every cache warm), 1,000 more leave every module-level container of
    nasdsl as it was (the probe saw 120,006 entries and 229 MB after 20,000 loads)."""
    import gc
    _load_many(0, 300)
    gc.collect()
    before = _module_state()
    _load_many(300, 1300)
    gc.collect()
    grown = {k: (before.get(k, 0), v) for k, v in _module_state().items() if v > before.get(k, 0)}
    assert grown == {}


_MEMORY_PROBE = """
import gc, sys, tracemalloc
import nasdsl
text = sys.argv[1]
def load_many(start, stop):
    for i in range(start, stop):
        space = nasdsl.loads(text.format(i=i + 4), f"space{i}.nas")
        space.size(), space.sample(0), space.fingerprint()
load_many(0, 500)
gc.collect()
tracemalloc.start()
load_many(500, 20_500)
gc.collect()
print(tracemalloc.get_traced_memory()[0])
"""


@pytest.mark.slow
def test_twenty_thousand_loads_keep_memory_flat():
    """In a fresh interpreter, so that no thread an earlier test left running (torch's inductor
    workers, say) allocates inside the measured window."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, GROWTH_SPACE], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr
    current = int(done.stdout.split()[-1])
    assert current < 2 * 2**20, f"{current / 2**20:.1f} MB still held after 20,000 loads"
