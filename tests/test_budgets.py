"""Budgets (`require params <= N`, `require flops <= N`) are part of the space: sampling (both
modes and the `choose` hook), mutation and enumeration yield only architectures that
`validate` accepts, and a budget that leaves nothing is one located error."""
from __future__ import annotations

import random

import pytest

import nasdsl
from nasdsl.analysis.shapes import costs
from nasdsl.errors import EmptySpaceError


def budgeted(name: str, budget: str) -> nasdsl.Space:
    """A library space with one more budget line, loaded from its own path (imports resolve)."""
    path = nasdsl.resolve_space(name)
    return nasdsl.loads(path.read_text() + f"\n{budget}\n", str(path))


# Budgets at about the median cost of a plainly sampled architecture: half the draws fail.
SPACES = {
    "mobile": ("examples/mobile.nas", "require params <= 29290"),
    "proxylessnas": ("proxylessnas", "require params <= 3190168"),
    "nasbench201": ("nasbench201", "require flops <= 80000000"),
}


@pytest.fixture(scope="module", params=sorted(SPACES))
def space(request):
    return budgeted(*SPACES[request.param])


def test_unbudgeted_draws_break_the_budget(space):
    """The budgets are tight enough to matter: plain draws from the space without them fail often."""
    loose = nasdsl.loads(space.sources[space.root_file].rsplit("\nrequire", 1)[0], space.root_file)
    over = sum(not space.within_budgets(loose.sample(seed=i)) for i in range(100))
    assert 20 <= over <= 80


@pytest.mark.parametrize("uniform", [False, True])
def test_every_sample_keeps_the_budgets(space, uniform):
    rng = random.Random(0)
    # Uniform draws favour deep, wide proxylessnas architectures: most are redrawn (~0.3 s each).
    n = 1000 if not uniform else 20 if "proxyless" in space.root_file else 200
    for _ in range(n):
        arch = space.sample(rng, uniform=uniform)
        assert space.validate(arch) == arch


def test_choose_hook_and_mutation_keep_the_budgets(space):
    rng = random.Random(1)
    for _ in range(200):
        arch = space.sample(choose=lambda d: rng.choice(d.values))
        assert space.validate(arch) == arch
        child = space.mutate(arch, rng=rng, prob=0.3)
        assert space.validate(child) == child


def test_enumerate_yields_exactly_the_architectures_within_budget():
    text = """network(x: [8]) {
  a = choice[4, 8, 16, 32]
  b = choice[4, 8, 16, 32]
  z = x -> Linear(8, a) -> ReLU() -> Linear(a, b) -> Linear(b, 2)
  return z -> choice { plain: Identity(), more: Linear(2, 64) -> Linear(64, 2) }
}
"""
    loose = nasdsl.loads(text)
    space = nasdsl.loads(text + "require params <= 400\n")
    expected = [a for a in loose.enumerate() if costs(loose, a)["params"] <= 400]
    assert 0 < len(expected) < loose.size()
    assert list(space.enumerate()) == expected


def test_a_budget_that_leaves_nothing_is_a_located_error():
    space = budgeted("nasbench201", "require params <= 10")
    with pytest.raises(EmptySpaceError) as err:
        space.sample(seed=0, attempts=50)
    text = err.value.render()
    assert "no architecture within the space's budgets in 50 draws" in text
    assert "`require params <= 10`" in text
    assert f"{space.root_file}:" in text
