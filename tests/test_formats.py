"""NAS-Bench-201 strings and DARTS genotypes convert to and from architectures."""
from __future__ import annotations

import csv
import gzip

import pytest
from nb201 import TABLE, needs_table

import nasdsl
from nasdsl.errors import ArchitectureError
from nasdsl.formats import arch_to_genotype, arch_to_nb201, genotype_to_arch, nb201_to_arch, parse_genotype

DARTS_V1 = ("Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
            "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], "
            "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
            "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])")
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
            "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
            "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))")


@pytest.fixture(scope="module")
def nb201():
    return nasdsl.load("nasbench201")


@pytest.fixture(scope="module")
def darts():
    return nasdsl.load("darts")


def read_archs(path) -> tuple[list[str], list[str]]:
    """A table's header and its `arch` column, read with the csv module (not nasdsl's reader)."""
    with gzip.open(path, "rt", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, [row[header.index("arch")] for row in reader]


def test_all_15625_nb201_strings_round_trip(nb201, nb201_table):
    _, strings = read_archs(nb201_table)
    assert len(strings) == len(set(strings)) == 15625
    archs = set()
    for s in strings:
        arch = nb201_to_arch(nb201, s)
        assert arch_to_nb201(nb201, arch) == s
        archs.add(tuple(arch.values()))
    assert len(archs) == nb201.size()
    assert nb201_to_arch(nb201, strings[1]) == {**{label: "none" for label in nb201.labels()},
                                                "Cell.e3_2": "skip_connect"}


@needs_table
def test_the_synthetic_table_has_the_real_tables_columns_and_architectures(nb201_table):
    """The tests that read the synthetic table read a file shaped as the real one: its header
    and its set of NAS-Bench-201 strings are the real table's (its metrics are made up)."""
    header, strings = read_archs(nb201_table)
    real_header, real_strings = read_archs(TABLE)
    assert header == real_header and "latency_pixel3" in header
    assert set(strings) == set(real_strings) and len(real_strings) == 15625


def test_nb201_string_maps_edges_to_labels(nb201):
    arch = nb201_to_arch(nb201, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    assert arch == {"Cell.e1_0": "nor_conv_3x3", "Cell.e2_0": "nor_conv_3x3", "Cell.e2_1": "nor_conv_3x3",
                    "Cell.e3_0": "skip_connect", "Cell.e3_1": "nor_conv_3x3", "Cell.e3_2": "nor_conv_1x1"}


@pytest.mark.parametrize("bad, message", [
    ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "\"conv\" is not a value of 'Cell.e1_0'"),
    ("|none~0|+|none~0|none~1|", "decision 'Cell.e3_0' is missing"),
    ("|none~0|+|none~0|none~5|+|none~0|none~1|none~2|", "no edge 5 -> 2"),
    ("none~0|+|none~0", "malformed NAS-Bench-201 string"),
])
def test_bad_nb201_strings(nb201, bad, message):
    with pytest.raises(ArchitectureError, match=message.replace("|", r"\|").replace("(", r"\(")):
        nb201_to_arch(nb201, bad)


def test_nb201_string_errors_stay_on_one_line_and_take_only_ascii_digits(nb201):
    """Found by bench/fuzz_census.py: a newline in a repeated edge made a two-line message, and
    a superscript digit passed `str.isdigit` and crashed `int`."""
    with pytest.raises(ArchitectureError) as err:
        nb201_to_arch(nb201, "|none~0|+|none~0|none~1|+|none~0|\nnor_conv_3x3~0|none~2|")
    assert err.value.message == "NAS-Bench-201 string names edge 0 -> 3 twice (none~0 and \\nnor_conv_3x3~0)"
    with pytest.raises(ArchitectureError) as err:
        nb201_to_arch(nb201, "|none~\u00b2|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert err.value.message == "malformed NAS-Bench-201 edge 'none~\u00b2': expected op~j"


@pytest.mark.parametrize("genotype", [DARTS_V1, DARTS_V2])
def test_darts_genotypes_round_trip(darts, genotype):
    arch = genotype_to_arch(darts, genotype)
    assert len(arch) == 32
    again = genotype_to_arch(darts, arch_to_genotype(darts, arch))
    assert again == arch
    fields = parse_genotype(genotype)
    assert parse_genotype(arch_to_genotype(darts, arch))["normal"] == [tuple(p) for p in fields["normal"]]


def test_genotype_maps_pairs_to_nni_labels(darts):
    arch = genotype_to_arch(darts, DARTS_V2)
    assert arch["normal.op_2_0"] == "sep_conv_3x3" and arch["normal.input_2_0"] == 0
    assert arch["normal.op_5_1"] == "dil_conv_3x3" and arch["normal.input_5_1"] == 2
    assert arch["reduce.op_3_0"] == "skip_connect" and arch["reduce.input_3_0"] == 2


def test_genotype_text_is_never_evaluated(darts):
    with pytest.raises(ArchitectureError, match="malformed genotype field normal"):
        genotype_to_arch(darts, "Genotype(normal=__import__('os').system('true'), reduce=[])")


def test_genotype_with_an_input_out_of_range(darts):
    bad = DARTS_V2.replace("('sep_conv_3x3', 1), ('sep_conv_3x3', 0)", "('sep_conv_3x3', 4), ('sep_conv_3x3', 0)", 1)
    with pytest.raises(ArchitectureError, match="4 is not a value of 'normal.input_2_1'"):
        genotype_to_arch(darts, bad)
