"""Properties of compiled spaces, checked on random valid programs from `nasdsl.testing`.

Each property is one promise of `Space` (exact `size`, canonical `sample`, `mutate` staying
inside, `validate` naming the offending label, a formatting-blind `fingerprint`) stated
for every program the language admits rather than for the two hand-written spaces. The
default run keeps each test to a few seconds; `-m slow` runs the same properties on many
more programs.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import itertools
import json
import os
import random
import re
import tempfile

import pytest

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import nasdsl  # noqa: E402
from nasdsl import ArchitectureError, NasError  # noqa: E402
from nasdsl.arch import arch_key  # noqa: E402
from nasdsl.testing import SMALL_SIZE, architectures, programs, small_programs  # noqa: E402

try:  # nasdsl/fmt.py is being written alongside these tests; its properties wait for it
    from nasdsl.syntax.fmt import format_source
except Exception as _fmt_error:  # noqa: BLE001 - any failure to import means "not ready"
    format_source = None
    _FMT_MISSING = f"nasdsl.syntax.fmt.format_source is not available ({type(_fmt_error).__name__}: {_fmt_error})"
else:
    _FMT_MISSING = ""

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
FAST = settings(max_examples=40, deadline=None, suppress_health_check=_HEALTH)
SLOW = settings(max_examples=500, deadline=None, suppress_health_check=_HEALTH)
SEEDS = st.integers(0, 2 ** 32 - 1)
OUTSIDE = ("__not_a_value__", 10 ** 9 + 7)   # no generated or built-in domain holds these


def _key(arch) -> str:
    """An architecture as a canonical string, to compare and count them."""
    return json.dumps(arch, sort_keys=True)


def _cli_check(text: str) -> None:
    """`nasdsl check FILE` on the program, when the command line exists."""
    try:
        cli = importlib.import_module("nasdsl.cli")
    except ImportError:
        return
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "generated.nas")
        with open(path, "w") as f:
            f.write(text)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = cli.main(["check", path])
    assert status == 0, err.getvalue()


# --- compiling ------------------------------------------------------------------------------

def check_compiles(text: str) -> None:
    space = nasdsl.loads(text)
    labels = space.labels()
    assert len(labels) == len(set(labels)), "labels must be unique"
    for d in space.decisions:
        assert d.values, f"{d.label} has an empty domain"
        assert len({_key(v if not isinstance(v, tuple) else list(v)) for v in d.values}) == len(d.values)
    assert space.size() >= 1
    json.dumps(space.to_json(), allow_nan=False)  # the `info --json` contract is strict JSON
    _cli_check(text)


@FAST
@given(programs())
def test_generated_programs_compile_and_check(text):
    check_compiles(text)


@pytest.mark.slow
@SLOW
@given(programs())
def test_generated_programs_compile_and_check_many(text):
    check_compiles(text)


@FAST
@given(small_programs())
def test_small_programs_stay_small(text):
    """The generator's promise: enumeration-based properties can afford every small space."""
    assert nasdsl.loads(text).size() <= SMALL_SIZE


# --- counting and enumerating ---------------------------------------------------------------

def check_size_is_enumeration(text: str) -> None:
    space = nasdsl.loads(text)
    keys = [_key(a) for a in space.enumerate()]
    assert len(keys) == len(set(keys)), "enumerate() yielded an architecture twice"
    assert len(keys) == space.size()
    for arch in itertools.islice(space.enumerate(), 50):
        assert space.validate(arch) == arch, "enumerated architectures must be canonical members"


@FAST
@given(small_programs())
def test_size_equals_number_of_enumerated_architectures(text):
    check_size_is_enumeration(text)


@pytest.mark.slow
@SLOW
@given(small_programs())
def test_size_equals_number_of_enumerated_architectures_many(text):
    check_size_is_enumeration(text)


# --- sampling -------------------------------------------------------------------------------

def check_samples(text: str, seed: int) -> None:
    space = nasdsl.loads(text)
    for uniform in (False, True):
        arch = space.sample(seed, uniform=uniform)
        note(f"uniform={uniform}: {arch}")
        assert space.validate(arch) == arch, "a sample must already be canonical"
        assert arch_key(space.validate(dict(reversed(arch.items())))) == arch_key(arch), "one key, any key order"
        assert space.sample(seed, uniform=uniform) == arch, "the same seed must give the same sample"
        again = json.loads(json.dumps(arch))
        assert space.validate(again) == arch, "a sample must survive a JSON round trip"


@FAST
@given(programs(), SEEDS)
def test_samples_are_canonical_members_and_round_trip_json(text, seed):
    check_samples(text, seed)


@pytest.mark.slow
@SLOW
@given(programs(), SEEDS)
def test_samples_are_canonical_members_and_round_trip_json_many(text, seed):
    check_samples(text, seed)


@FAST
@given(st.data(), programs())
def test_architectures_strategy_draws_canonical_members(data, text):
    """`nasdsl.testing.architectures` is public: its draws must be members, already canonical."""
    space = nasdsl.loads(text)
    arch = data.draw(architectures(space))
    assert space.validate(arch) == arch


# --- mutating -------------------------------------------------------------------------------

def check_mutate(text: str, data) -> None:
    space = nasdsl.loads(text)
    arch = data.draw(architectures(space))
    seed = data.draw(SEEDS)
    for prob in (0.0, 0.5, 1.0):
        child = space.mutate(arch, random.Random(seed), prob=prob)
        note(f"prob={prob}: {child}")
        assert space.validate(child) == child, "a mutant must be a canonical member"
        if prob == 0.0:
            assert child == arch, "prob=0 redraws nothing"


@FAST
@given(programs(), st.data())
def test_mutate_stays_in_space(text, data):
    check_mutate(text, data)


@pytest.mark.slow
@SLOW
@given(programs(), st.data())
def test_mutate_stays_in_space_many(text, data):
    check_mutate(text, data)


# --- validate rejects, naming the label -----------------------------------------------------

def _rejects(space, arch, label: str) -> None:
    with pytest.raises(ArchitectureError) as info:
        space.validate(arch)
    assert label in info.value.message, f"the error must name {label!r}: {info.value.message}"


@FAST
@given(programs(), st.data())
def test_validate_rejects_an_unknown_label(text, data):
    space = nasdsl.loads(text)
    arch = data.draw(architectures(space))
    label = data.draw(st.sampled_from(["typo", "stage9.op", "x.y.z"]).filter(lambda s: s not in space.labels()))
    _rejects(space, {**arch, label: 1}, label)


@FAST
@given(programs(), st.data())
def test_validate_rejects_a_value_outside_the_domain(text, data):
    space = nasdsl.loads(text)
    arch = data.draw(architectures(space))
    assume(arch)
    label = data.draw(st.sampled_from(sorted(arch)))
    value = data.draw(st.sampled_from(OUTSIDE))
    _rejects(space, {**arch, label: value}, label)


@FAST
@given(programs(), st.data())
def test_validate_rejects_a_missing_active_decision(text, data):
    space = nasdsl.loads(text)
    arch = data.draw(architectures(space))
    assume(arch)
    label = data.draw(st.sampled_from(sorted(arch)))
    _rejects(space, {k: v for k, v in arch.items() if k != label}, label)


@settings(FAST, max_examples=25)  # only about a third of the programs have conditional decisions
@given(programs(), st.data())
def test_validate_rejects_an_inactive_decision_given(text, data):
    space = nasdsl.loads(text)
    arch = data.draw(architectures(space))
    inactive = [d for d in space.decisions if d.label not in arch]
    assume(inactive)
    d = data.draw(st.sampled_from(inactive))
    value = d.values[0]
    _rejects(space, {**arch, d.label: list(value) if isinstance(value, tuple) else value}, d.label)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-3, 40) | st.floats() | st.text(max_size=4),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                       max_size=2),
                           max_leaves=6)


@FAST
@given(programs(), st.data())
def test_validate_is_total_on_json_architectures(text, data):
    """Whatever JSON an architecture file holds, `validate` returns a canonical member or
    raises ArchitectureError (the command line turns only NasError into a clean message)."""
    space = nasdsl.loads(text)
    arch = dict(data.draw(architectures(space)))
    labels = st.sampled_from(space.labels()) if space.labels() else st.text(max_size=5)
    for _ in range(data.draw(st.integers(1, 3))):
        label = data.draw(st.one_of(labels, st.text(max_size=5)))
        if data.draw(st.booleans()) and label in arch:
            del arch[label]
        else:
            arch[label] = data.draw(JSON_VALUES)
    try:
        result = space.validate(arch)
    except ArchitectureError:
        return
    assert space.validate(result) == result


def test_validate_rejects_a_pick_value_mixing_types():
    """`[0, "a"]` for a several-tensor pick comes straight from a JSON file."""
    space = nasdsl.loads('network(x: [4, 8, 8]) {\n  y = pick(x, x, x, n="any")\n  return y\n}\n')
    _rejects(space, {"y": [0, "a"]}, "y")


def test_validate_rejects_a_non_string_label():
    space = nasdsl.load("nasbench201")
    with pytest.raises(ArchitectureError, match="unknown label"):
        space.validate({**space.sample(0), 1: "none"})


# --- fingerprints ---------------------------------------------------------------------------

_TOKEN = re.compile(r'"[^"\n]*"|#[^\n]*|\d+\.\d*(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?|[A-Za-z_]\w*'
                    r"|->|\*\*|//|==|!=|<=|>=|\s+|.", re.S)
_GAPS = (" ", "  ", "\t", "\n", "\n\n", "  # a comment\n", "\n# a whole-line comment\n\n", " #\n")


def relayout(text: str, rng: random.Random) -> str:
    """The same program with every gap between tokens replaced by random blanks and comments."""
    tokens = [t for t in _TOKEN.findall(text) if not t.isspace() and not t.startswith("#")]
    return rng.choice(_GAPS[3:]) + "".join(t + rng.choice(_GAPS) for t in tokens)


def check_fingerprint_ignores_layout(text: str, rng: random.Random) -> None:
    other = relayout(text, rng)
    note(other)
    assert nasdsl.loads(other).fingerprint() == nasdsl.loads(text).fingerprint()


@FAST
@given(programs(), st.randoms(use_true_random=False))
def test_fingerprint_ignores_whitespace_and_comments(text, rng):
    check_fingerprint_ignores_layout(text, rng)


@pytest.mark.slow
@SLOW
@given(programs(), st.randoms(use_true_random=False))
def test_fingerprint_ignores_whitespace_and_comments_many(text, rng):
    check_fingerprint_ignores_layout(text, rng)


def choice_edits(text: str) -> list[str]:
    """Variants of the program with one choice's options changed: a candidate added to an
    unlabelled layer choice, or the last option of an unlabelled value choice replaced."""
    out = []
    for m in re.finditer(r"choice \{ ?", text):
        out.append(text[:m.end()] + "extra_candidate: Identity(), " + text[m.end():])
    for m in re.finditer(r"choice\[([^\[\]()]*)\]", text):
        options = [o.strip() for o in m.group(1).split(",") if o.strip()]
        new = _other_option(options)
        if new is not None:
            out.append(text[:m.start()] + "choice[" + ", ".join(options[:-1] + [new]) + "]" + text[m.end():])
    return out


def _other_option(options: list[str]) -> str | None:
    """A new last option, unlike the others and valid where they are: integers grow by 2
    (odd kernels stay odd), floats take the midpoint of the last two (a probability stays one)."""
    last = options[-1]
    if last.startswith('"'):
        return last[:-1] + '_changed"'
    if re.fullmatch(r"\d+", last):
        return str(max(int(o) for o in options if re.fullmatch(r"\d+", o)) + 2)
    if re.fullmatch(r"\d+\.\d*", last) and len(options) >= 2:
        return repr((float(options[-2]) + float(last)) / 2)
    return None  # booleans cannot change without repeating an option


def _domains(space) -> dict:
    return {d.label: d.values for d in space.decisions}


@FAST
@given(programs(), st.data())
def test_fingerprint_changes_when_a_choice_changes(text, data):
    edits = choice_edits(text)
    assume(edits)
    edited = data.draw(st.sampled_from(edits))
    note(edited)
    before = nasdsl.loads(text)
    try:
        after = nasdsl.loads(edited)
    except NasError:  # an option the op refuses (a string it does not know): not this property
        assume(False)
    assume(_domains(before) != _domains(after))  # the edit hit code that is elaborated
    assert before.fingerprint() != after.fingerprint()


def test_fingerprint_changes_when_a_builtin_space_loses_a_candidate():
    text = (nasdsl.spaces_dir() / "nasbench201.nas").read_text()
    edited = text.replace("  avg_pool_3x3: AvgPool2d(3, 1, 1, count_include_pad=false),\n", "")
    assert edited != text, "the NAS-Bench-201 file changed; update this test"
    assert nasdsl.loads(edited).fingerprint() != nasdsl.loads(text).fingerprint()


# --- the formatter (nasdsl.syntax.fmt), once it exists ---------------------------------------------

needs_fmt = pytest.mark.skipif(format_source is None, reason=_FMT_MISSING)


@needs_fmt
@FAST
@given(programs())
def test_format_is_idempotent(text):
    once = format_source(text)
    assert format_source(once) == once


@needs_fmt
@FAST
@given(programs())
def test_format_keeps_the_fingerprint(text):
    assert nasdsl.loads(format_source(text)).fingerprint() == nasdsl.loads(text).fingerprint()


# --- edge cases found by the properties above -----------------------------------------------

NET = "network(x: [4, 8, 8]) {{\n{}\n  y = x -> Conv2d(4, 4, 3, padding=1)\n  return y\n}}\n"


def test_nan_option_is_rejected_at_compile():
    """A NaN option (`inf - inf`) is refused by the compiler at the option, since NaN != NaN
    would make a sample that `validate` then rejects."""
    with pytest.raises(NasError, match=r"^<string>:2:25: choice options must be finite numbers, got nan"):
        nasdsl.loads(NET.format("  k = choice[1e308 * 10 - 1e308 * 10]"))


def test_infinite_option_is_rejected_at_compile():
    """An infinite option is refused too, so `nasdsl info --json` stays strict JSON."""
    with pytest.raises(NasError, match=r"^<string>:2:20: choice options must be finite numbers, got inf"):
        nasdsl.loads(NET.format("  k = choice[1e308 * 10, 1.0]\n  z = x -> Dropout(k)"))


def test_label_shared_by_domains_of_different_types_is_an_error():
    """`[1, 2]` and `[true, 2]` are equal to Python but not to `validate` (which keeps True
    apart from 1): sharing one label between them must be refused, not silently merged."""
    with pytest.raises(NasError, match="different domain"):
        nasdsl.loads(NET.format('  a = choice "L" [1, 2]\n  b = choice "L" [true, 2]\n'
                                '  z = x -> Conv2d(4, 4, 3, bias=b) -> Dropout(a)'))
