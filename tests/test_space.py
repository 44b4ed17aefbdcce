"""Architectures: validation with one precise error, canonical form, mutation, fingerprints."""
from __future__ import annotations

import json
import random

import pytest

import nasdsl
from nasdsl.errors import ArchitectureError

COND = """
network(x: [4, 8]) {
  y = x -> choice { small: Linear(8, 8), big: Linear(8, choice[16, 32]) -> ReLU() -> AdaptiveAvgPool1d(8) }
  z = pick(x, y, n="any", reduce="sum")
  return z
}"""


@pytest.fixture(scope="module")
def space():
    return nasdsl.loads(COND, "cond.nas")


def test_validate_accepts_and_canonicalises(space):
    arch = {"z": [1, 0], "y": "big", "y.big.0.out_features": 32}
    assert space.validate(arch) == {"y": "big", "y.big.0.out_features": 32, "z": [0, 1]}
    assert list(space.validate(arch)) == ["y", "y.big.0.out_features", "z"]


def test_unknown_label(space):
    with pytest.raises(ArchitectureError, match=r"unknown label 'yy'") as err:
        space.validate({"yy": "small", "y": "small", "z": [0]})
    assert "did you mean 'y'" in str(err.value)


def test_value_outside_the_domain_names_label_and_place(space):
    with pytest.raises(ArchitectureError) as err:
        space.validate({"y": "huge", "z": [0]})
    assert str(err.value).startswith("cond.nas:3:12: \"huge\" is not a value of 'y' (one of \"small\", \"big\")")


def test_missing_decision(space):
    with pytest.raises(ArchitectureError, match=r"decision 'y.big.0.out_features' is missing"):
        space.validate({"y": "big", "z": [0]})


def test_inactive_decision_given(space):
    with pytest.raises(ArchitectureError, match=r"'y.big.0.out_features' is inactive .* exists only when y == \"big\""):
        space.validate({"y": "small", "y.big.0.out_features": 16, "z": [0]})


def test_true_is_not_one():
    space = nasdsl.loads('network(x: [4]) = x -> Linear(4, 4, bias=choice[true, false])')
    with pytest.raises(ArchitectureError):
        space.validate({"out.bias": 1})
    assert space.validate({"out.bias": True}) == {"out.bias": True}


def test_json_round_trip_and_sample_determinism(space):
    for seed in range(10):
        arch = space.sample(seed)
        assert arch == space.sample(seed)
        assert space.validate(json.loads(json.dumps(arch))) == arch


def test_mutate_stays_in_space_and_changes_with_probability_one():
    space = nasdsl.load("nasbench201")
    rng = random.Random(0)
    arch = space.sample(0)
    for prob in (0.0, 0.3, 1.0):
        child = space.mutate(arch, rng, prob)
        assert space.validate(child) == child
    assert space.mutate(arch, rng, 0.0) == arch
    assert all(space.mutate(arch, rng, 1.0)[k] != v for k, v in arch.items())


def test_mutate_activates_and_drops_nested_decisions(space):
    rng = random.Random(1)
    arch = {"y": "small", "z": [0]}
    seen = {space.mutate(arch, rng, 1.0)["y"] for _ in range(5)}
    assert seen == {"big"}
    child = space.mutate(arch, rng, 1.0)
    assert "y.big.0.out_features" in child


def test_enumerate_is_lazy_and_ordered():
    space = nasdsl.load("darts")
    it = space.enumerate()
    first = next(it)
    assert first["normal.op_2_0"] == "max_pool_3x3" and first["normal.input_2_0"] == 0
    assert space.validate(first) == first


def test_fingerprint_ignores_formatting_and_comments_but_not_content():
    a = nasdsl.loads("network(x: [4]) = x -> Linear(4, choice[8, 16])")
    b = nasdsl.loads("# a comment\nnetwork( x : [ 4 ] ) =\n   x -> Linear(4,   choice[8,16])   # trailing\n", "other.nas")
    c = nasdsl.loads("network(x: [4]) = x -> Linear(4, choice[8, 32])")
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_to_json_contract():
    data = nasdsl.load("nasbench201").to_json()
    assert data["size"] == 15625 and isinstance(data["fingerprint"], str)
    assert data["decisions"][0] == {"label": "Cell.e1_0", "kind": "layer",
                                    "values": ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"],
                                    "condition": None, "where": data["decisions"][0]["where"]}
    json.dumps(data)


def test_expressions_are_shared_and_their_possible_values_cover_every_assignment():
    import itertools

    from nasdsl import ir
    from nasdsl.values import Ref, binary, evaluate, func, possible_values
    k = Ref("k")
    # building the same expression twice gives one object (hash-consing), so nesting stays a DAG
    assert binary("+", func("max", (8, binary("//", k, 2))), 1) is binary("+", func("max", (8, binary("//", k, 2))), 1)
    space = nasdsl.loads("""
block Op(c) = choice { conv: Conv2d(c, c, 3, padding=1), pool: MaxPool2d(3, 1, 1) }
network(x: [4, 8, 8]) {
  nodes = cell(lambda: Op(4), nodes=3, ops_per_node=2, predecessors=2, merge="loose_end")
  y = nodes(x, x)
  return y -> Conv2d(4 * merged_nodes(nodes), 4, 1)
}
""")
    cell = next(m for _, m in space.template.modules if isinstance(m, ir.Cell))
    count = ir.merged_count(cell)
    domains = {d.label: d.values for d in space.decisions}
    labels = sorted(domains)
    exact = {evaluate(count, dict(zip(labels, combo))) for combo in itertools.product(*(domains[lab] for lab in labels))}
    assert exact == {1, 2, 3}  # node 4 is always a loose end; nodes 2 and 3 may be read
    assert possible_values(count, domains) >= exact
    assert possible_values(count, domains) == {1, 2, 3}
