"""Hypothesis strategies for property-testing `.nas` programs and the spaces they define.

Two strategies:

* `programs()` draws random, *valid* `.nas` programs that exercise the whole language:
  parameters, layer-, graph- and expression-bodied blocks (some `shared`, some with default
  arguments), `->` chains, named dataflow with `+`, `*`, `cat`, `sum`, `mean`, nested layer
  choices with `Zero()` / `Identity()` candidates, value choices in op arguments, arithmetic,
  comparisons and conditionals over choices, `repeat`, `cell`, `pick`, explicit labels,
  `for` loops, imports and `require` / `forbid` constraints. Every program compiles with
  `nasdsl.loads`; with `max_size` its space is small enough to enumerate.
* `architectures(space)` draws architectures of a compiled `Space`, valid by construction,
  so a strategy, a lowering or an evaluator can be checked on every part of a space and
  shrink to the smallest failing architecture.

hypothesis is an optional dependency of nasdsl (`pip install 'nasdsl[test]'`); only this
module and the program writer it uses (`nasdsl.program_writer`) import it.

Example::

    import nasdsl
    from hypothesis import given
    from nasdsl.testing import architectures, programs

    SPACE = nasdsl.load("nasbench201")

    @given(architectures(SPACE))
    def test_my_encoder_round_trips(arch):
        assert my_decode(SPACE, my_encode(SPACE, arch)) == arch

    @given(programs(max_size=2000))
    def test_every_small_space_enumerates_its_size(text):
        space = nasdsl.loads(text)
        assert sum(1 for _ in space.enumerate()) == space.size()
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    from hypothesis import assume
    from hypothesis import strategies as st
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("nasdsl.testing needs hypothesis: pip install 'nasdsl[test]'") from err

from .arch import json_value
from .program_writer import ProgramWriter
from .space import Space

__all__ = ["programs", "small_programs", "architectures", "SMALL_SIZE"]

SMALL_SIZE = 2000          # the size `small_programs()` stays under: enumerable in well under a second
_LARGE_BUDGET = 10 ** 7    # `programs()` without max_size: big, but each part still bounded


# --- architectures --------------------------------------------------------------------------

def architectures(space: Space) -> st.SearchStrategy[dict[str, Any]]:
    """Architectures of `space`, each drawn decision by decision, valid by construction.

    Decisions are drawn by `space.next_choice` (the public hook for building an architecture
    step by step): in `space.order`, each after those its activation condition reads,
    inactive ones skipped, and only values that keep at least one completion satisfying
    every constraint offered, so nothing is filtered away. Architectures come
    out canonical (keys in decision order, multi-input picks as sorted lists), exactly as
    `space.validate` returns them, and shrink towards the first value of every decision.

    Example::

        >>> import nasdsl
        >>> from hypothesis import given
        >>> from nasdsl.testing import architectures
        >>> SPACE = nasdsl.load("nasbench201")
        >>> @given(architectures(SPACE))
        ... def test_in_space(arch):
        ...     assert SPACE.validate(arch) == arch
        >>> test_in_space()
    """
    if not isinstance(space, Space):
        raise TypeError(f"architectures() takes a nasdsl.Space, got {type(space).__name__}")

    @st.composite
    def draw_architecture(draw: Callable) -> dict[str, Any]:
        arch: dict[str, Any] = {}
        while (step := space.next_choice(arch)) is not None:
            decision, options = step
            assume(options)  # only reachable if the space's own counting is inconsistent
            value = draw(st.sampled_from(options))
            arch[decision.label] = json_value(value)
        return arch

    return draw_architecture()


# --- programs: public strategies ------------------------------------------------------------

def programs(max_size: int | None = None, *, imports: bool = True) -> st.SearchStrategy[str]:
    """Random valid `.nas` program texts covering every construct of the language.

    `max_size` bounds the number of architectures of the program's space (the generator
    counts an upper bound while it writes, so nothing is filtered); leave it `None` for
    larger spaces that are still quick to compile. `imports=False` leaves out
    `import "nasbench201.nas"`, for programs that must stand alone.

    Programs are shape-correct (`nasdsl.shapes` checks them at compile time): every layer
    keeps a `[c, h, w]` tensor as it is (odd kernels with matching padding, stride 1),
    concatenations and multi-node cells are projected back to `c` with a 1x1 convolution,
    and integer expressions over choices go only where no shape depends on them.

    Example::

        >>> import nasdsl
        >>> from hypothesis import given, settings
        >>> from nasdsl.testing import programs
        >>> @settings(max_examples=20, deadline=None)
        ... @given(programs(max_size=500))
        ... def test_sampling_stays_in_space(text):
        ...     space = nasdsl.loads(text)
        ...     assert space.validate(space.sample(0)) == space.sample(0)
        >>> test_sampling_stays_in_space()
    """
    if max_size is not None and (not isinstance(max_size, int) or max_size < 1):
        raise ValueError(f"max_size must be a positive integer or None, got {max_size!r}")
    budget = _LARGE_BUDGET if max_size is None else max_size

    @st.composite
    def draw_program(draw: Callable) -> str:
        return ProgramWriter(draw, budget, imports and _library_has_edge()).program()

    return draw_program()


def small_programs(max_size: int = SMALL_SIZE) -> st.SearchStrategy[str]:
    """`programs(max_size=2000)`: spaces small enough to enumerate in a test.

    Example::

        >>> import nasdsl
        >>> from hypothesis import given
        >>> from nasdsl.testing import small_programs
        >>> @given(small_programs())
        ... def test_size_is_exact(text):
        ...     space = nasdsl.loads(text)
        ...     assert sum(1 for _ in space.enumerate()) == space.size()
    """
    return programs(max_size=max_size)


def _library_has_edge() -> bool:
    """Whether the built-in NAS-Bench-201 file (imported by generated programs) is usable."""
    from . import spaces_dir
    path = spaces_dir() / "nasbench201.nas"
    try:
        return "block Edge(c)" in path.read_text()
    except OSError:
        return False
