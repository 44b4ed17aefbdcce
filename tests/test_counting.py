"""Exact sizes: conditional sub-spaces, repeat depths, input choices and constraints."""
from __future__ import annotations

import json
import math

import pytest

import nasdsl
from nasdsl.errors import EmptySpaceError


def size_by_enumeration(space) -> int:
    archs = [json.dumps(a, sort_keys=True) for a in space.enumerate()]
    assert len(archs) == len(set(archs)), "enumerate() yielded an architecture twice"
    return len(archs)


def test_nasbench201_has_15625_architectures():
    space = nasdsl.load("nasbench201")
    assert space.size() == 15625 == 5 ** 6
    assert size_by_enumeration(space) == 15625


def test_darts_size_is_the_product_over_nodes_for_both_cells():
    space = nasdsl.load("darts")
    per_cell = math.prod((7 * n) ** 2 for n in (2, 3, 4, 5))
    assert space.size() == per_cell ** 2 == 6_891_180_482_912_463_360_000
    assert len(space.decisions) == 32


def test_choice_inside_an_unchosen_candidate_does_not_multiply():
    space = nasdsl.loads("""
network(x: [4, 8]) {
  y = x -> choice { small: Linear(8, 8), big: Linear(8, choice[16, 32, 64]) -> ReLU() -> AdaptiveAvgPool1d(8) }
  return y
}""")
    assert space.size() == 1 + 3
    assert size_by_enumeration(space) == 4
    inner = space.decision("y.big.0.out_features")
    assert inner.condition is not True


def test_repeat_counts_choices_only_in_blocks_that_run():
    space = nasdsl.loads("""
network(x: [8]) {
  y = x -> repeat(choice[1, 2, 3], lambda i: Linear(8, 8, bias=choice[true, false]) -> Dropout(choice[0.0, 0.5]))
  return y
}""")
    # depth d runs d blocks with 4 combinations each
    assert space.size() == 4 + 4 ** 2 + 4 ** 3
    assert size_by_enumeration(space) == space.size()


def test_input_choice_domains():
    space = nasdsl.loads("""
network(x: [8]) {
  a = x -> Linear(8, 8)
  b = x -> Linear(8, 8)
  c = x -> Linear(8, 8)
  one = pick(a, b, c)
  two = pick(a, b, c, n=2, reduce="concat")
  any = pick(a, b, c, n="any", reduce="mean")
  return one + any
}""")
    assert space.decision("one").values == (0, 1, 2)
    assert space.decision("two").values == ((0, 1), (0, 2), (1, 2))
    assert len(space.decision("any").values) == 2 ** 3 - 1
    assert space.size() == 3 * 3 * 7


def test_constraints_over_decisions_are_counted_exactly():
    space = nasdsl.loads("""
network(x: [8]) {
  k = choice[1, 3, 5, 7]
  e = choice[1, 2, 4, 6]
  y = x -> Linear(8, k * e)
  forbid k == 7 and e == 6
  require k * e <= 20
  return y
}""")
    expected = sum(1 for k in (1, 3, 5, 7) for e in (1, 2, 4, 6) if not (k == 7 and e == 6) and k * e <= 20)
    assert space.size() == expected
    assert size_by_enumeration(space) == expected
    for seed in range(20):
        arch = space.sample(seed)
        assert arch["k"] * arch["e"] <= 20


def test_constraint_over_an_inactive_decision_does_not_apply():
    space = nasdsl.loads("""
network(x: [8]) {
  y = x -> choice { a: Linear(8, 8), b: Linear(8, 8, bias=choice[true, false]) -> Dropout(choice[0.0, 0.5]) }
  forbid decision("y.b.1.p") == 0.5 and decision("y") == "a"
  return y
}""")
    assert space.size() == 1 + 4


def test_empty_space_is_an_error_with_location():
    with pytest.raises(EmptySpaceError) as err:
        nasdsl.loads("""network(x: [8]) {
  k = choice[1, 2]
  y = x -> Linear(8, k)
  require k > 5
  return y
}""", "empty.nas")
    assert "empty.nas:4:3" in str(err.value)


def test_uniform_sampling_is_uniform_over_architectures():
    space = nasdsl.loads("""
network(x: [8]) {
  y = x -> choice { a: Linear(8, 8), b: Dropout(choice[0.1, 0.2, 0.3]) -> LeakyReLU(choice[0.1, 0.2, 0.3]) }
  return y
}""")
    import random
    rng = random.Random(0)
    counts = {}
    for _ in range(2000):
        key = json.dumps(space.sample(rng, uniform=True), sort_keys=True)
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == space.size() == 10
    assert min(counts.values()) > 2000 / 10 * 0.6   # each near 200; per-decision sampling gives 'a' 1000


def test_shared_labels_in_several_conditional_places_count_once():
    space = nasdsl.loads("""
network(x: [8]) {
  y = x -> repeat(choice[1, 2], lambda i: Linear(8, choice "w" [4, 8]) -> Linear(choice "w" [4, 8], 8))
  return y
}""")
    assert space.size() == 2 * 2
    assert space.labels() == ["y.depth", "w"]


def test_size_of_a_space_with_ten_thousand_decisions_is_fast_and_exact():
    body = "\n".join(f"  h{i} = x -> Linear(4, choice[1, 2, 3])" for i in range(10000))
    space = nasdsl.loads(f"network(x: [4]) {{\n{body}\n  return x\n}}")
    assert space.size() == 3 ** 10000
