"""An architecture has one JSON form and one conversion to its decisions' domains (`nasdsl.arch`):
its JSON text reads back as the same architecture, which `Space.validate` accepts as it is, and
`arch_values` / `json_value` take it to the domains' form (input subsets as tuples) and back."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

import nasdsl  # noqa: E402
from nasdsl.arch import arch_from_json, arch_key, arch_to_json, arch_values, domain_value, json_value  # noqa: E402
from nasdsl.cli import main  # noqa: E402
from nasdsl.testing import architectures  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# macro.nas and cell.nas have input choices of several tensors (lists in JSON, tuples in domains)
SPACES = {name: nasdsl.load(name) for name in
          ("nasbench201", "darts", str(ROOT / "examples" / "macro.nas"), str(ROOT / "examples" / "cell.nas"))}
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", sorted(SPACES))
def test_json_form_round_trips_and_validates(name):
    space = SPACES[name]

    @SETTINGS
    @given(architectures(space))
    def check(arch):
        text = arch_to_json(arch)
        back = arch_from_json(text)
        assert back == arch and list(back) == sorted(arch)   # arch.json holds its labels sorted
        assert arch_key(back) == arch_key(arch)
        assert space.validate(back) == arch
        internal = arch_values(back)
        assert all(internal[d.label] in d.values for d in space.decisions if d.label in internal)
        assert {label: json_value(v) for label, v in internal.items()} == arch

    check()


def test_the_spaces_above_have_input_subsets_to_convert():
    subsets = {name: [d.label for d in space.decisions if any(isinstance(v, tuple) for v in d.values)]
               for name, space in SPACES.items()}
    assert len(subsets[str(ROOT / "examples" / "macro.nas")]) == 3
    assert len(subsets[str(ROOT / "examples" / "cell.nas")]) == 1
    assert subsets["nasbench201"] == subsets["darts"] == []


def test_one_value_converts_both_ways():
    assert domain_value([0, 2]) == (0, 2) and json_value((0, 2)) == [0, 2]
    assert domain_value("conv") == json_value("conv") == "conv"
    assert domain_value(3) == json_value(3) == 3
    assert arch_values({"in": [1], "op": "conv", "k": 3}) == {"in": (1,), "op": "conv", "k": 3}


@pytest.mark.parametrize("content, message", [
    ('{"Cell.e1_0": [1, 2', "not an architecture: invalid JSON (Expecting ',' delimiter: line 1 column 20 (char 19))"),
    ('[["Cell.e1_0", "none"]]', "not an architecture: an architecture is a JSON object of label -> value, got a list"),
    ('{"Cell.e1_0": "conv"}', '{file}:14:17: "conv" is not a value of \'Cell.e1_0\' (one of "none", "skip_connect", '
                              '"nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")'),
])
def test_a_malformed_arch_file_is_one_message(tmp_path, capsys, content, message):
    path = tmp_path / "arch.json"
    path.write_text(content)
    code = main(["info", "nasbench201", "--arch", str(path)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert err.splitlines()[0] == message.replace("{file}", str(nasdsl.spaces_dir() / "nasbench201.nas"))
