"""The forward counting DP (`nasdsl.counting.Counter.forward`, positional, with per-projection
memos) against the backward DP (`Counter.suffix`, which evaluates each step on a view through
`Counter.holds`): two independent statements of the same count, on random programs and on the
library spaces."""
from __future__ import annotations

import pytest

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

import nasdsl  # noqa: E402
from nasdsl.conditions import Memo  # noqa: E402
from nasdsl.counting import Counter  # noqa: E402
from nasdsl.testing import programs  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def backward_count(space) -> int:
    """The count by a fresh counter of the space's plan (nothing shared with `space.size()`)."""
    counter = Counter(space.plan, Memo(), {d.label: d for d in space.decisions})
    return counter.suffix[0][()] if space.decisions else 1


@SETTINGS
@given(programs())
def test_forward_and_backward_counts_agree(text):
    space = nasdsl.loads(text)
    assert space.size() == backward_count(space)


SUMS = '''network(x: [4]) {
  a = choice "a" [1, 2, 3]
  b = choice "b" [1, 2, 3]
  c = choice "c" [true, 1, 2]
  y = x -> Linear(4, a * 4) -> Linear(a * 4, b * 4) -> choice "d" { p: Identity(), q: Linear(b * 4, b * 4) }
  z = y -> Linear(b * 4, 2 + (1 if c == true else 0))
  require a + b + (2 if decision("d") == "q" else 0) <= 5
  forbid c == true and a == 3
  require c != 1 or b == 1
  return z
}
'''


def test_sums_conditions_and_mixed_types_count_exactly():
    """A running sum with a conditional term, and a domain holding both true
    and 1 (which Python's equality would merge) against the enumeration."""
    space = nasdsl.loads(SUMS)
    assert space.size() == len(list(space.enumerate())) == backward_count(space)
    assert space.size() == 19


@pytest.mark.parametrize("name", ["nasbench201", "darts", "enas_macro", "autoformer", "mobilenetv3", "proxylessnas"])
def test_library_counts_agree(name):
    space = nasdsl.load(name)
    assert space.size() == backward_count(space)
