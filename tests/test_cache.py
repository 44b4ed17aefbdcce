"""The cache of compiled spaces (`nasdsl.cache`): a round trip gives the same space (IR,
fingerprint, sizes, locations, sharing of modules); damaged, foreign or world-writable entries
are ignored; any change of a source, an import, a parameter or nasdsl's code misses; entries
are data only."""
from __future__ import annotations

import ast
import json
import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nasdsl
from nasdsl import cache, cache_codec, ir
from nasdsl.errors import ArchitectureError, Loc
from nasdsl.space import LazyTemplate
from nasdsl.testing import programs
from nasdsl.values import Binary, Func, IfElse, Ref, Unary

ROOT = Path(__file__).resolve().parents[1]

# Spaces that cover every IR node kind: cells (darts), conditions and constraints (nasbench101),
# input choices with the empty subset (enas_macro), repeats and value expressions (autoformer).
SPACES = ["nasbench201", "darts", "nasbench101", "enas_macro", "autoformer", "mobilenetv3"]

IMPORTING = '''import "ops.nas"
param W = 8
network(x: [3, 8, 8]) {
  y = x -> Conv2d(3, W, 3, padding=1) -> Act(W)
  z = x -> choice "stem" { a: Conv2d(3, W, 1), b: Conv2d(3, W, 3, padding=1) }
  s = y + z
  return s
}
forbid decision("stem") == "b" and decision("act.k") == 5
'''
OPS = '''block Act(c, k=choice "act.k" [3, 5]) = choice "act.op" { relu: ReLU(), conv: Conv2d(c, c, k, padding=k // 2) }
'''


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """The cache switched on, in a fresh directory of this test's own."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("NASDSL_CACHE_DIR", str(directory))
    monkeypatch.delenv("NASDSL_NO_CACHE", raising=False)
    return directory


@pytest.fixture
def no_compile(monkeypatch):
    """Make compiling fail: a load that still succeeds came from the cache."""
    def refuse(*args, **kwargs):
        raise AssertionError("compiled although the cache holds the space")

    def arm():
        monkeypatch.setattr(nasdsl, "_compile", refuse)
    return arm


def sharing(root) -> list[int]:
    """Every module reference of a template in traversal order, as the index of the first time
    its object was met: equal for two templates exactly when they share modules alike."""
    first: dict[int, int] = {}
    out: list[int] = []
    stack = [root]
    while stack:
        m = stack.pop()
        out.append(first.setdefault(id(m), len(first)))
        stack.extend(reversed(m.children()))
    return out


def locations(space) -> list[tuple]:
    """Every location the space's decisions, constraints and modules carry, with its text."""
    locs = [loc for d in space.decisions for loc in d.locs] + [c.loc for c in space.constraints + space.budgets]
    locs += [m.loc for m in ir.walk(space.template)]
    return [(loc.file, loc.line, loc.col, loc.text) for loc in locs]


def round_trip(space):
    data = json.loads(json.dumps(cache_codec.encode_space(space), allow_nan=False))
    return cache_codec.decode_space(data)


@pytest.mark.parametrize("name", SPACES)
def test_round_trip_is_the_same_space(name):
    space = nasdsl.load(name)
    again = round_trip(space)
    assert again.facts() == {}  # nothing carried over: both are computed afresh below
    assert again.fingerprint() == space.fingerprint()
    assert again.size() == space.size()
    assert again.decisions == space.decisions and again.constraints == space.constraints
    assert again.template == space.template
    assert sharing(again.template) == sharing(space.template)
    assert locations(again) == locations(space)
    assert again.sources == space.sources and again.params == space.params and again.root_file == space.root_file
    assert again.size_report().to_json() == space.size_report().to_json()
    assert [again.sample(seed=s) for s in range(5)] == [space.sample(seed=s) for s in range(5)]


def test_op_arguments_keep_their_types():
    """Ops whose arguments are equal in Python but not in type (1, 1.0, True; 0.0, -0.0;
    (1, 1) and (True, 1)) each keep their own."""
    loc = Loc("f.nas", 1, 1)
    values = [1, 1.0, True, 0.0, -0.0, (1, 1), (True, 1), (1.0, 1), None, "1"]
    template = ir.Sequential(tuple(ir.Op("Dropout", (("p", v),), loc) for v in values), loc)
    again = cache_codec.decode(json.loads(json.dumps(cache_codec.encode(template))))
    assert [typed(op.args) for op in again.items] == [typed(op.args) for op in template.items]


def test_zero_and_negative_zero_stay_apart():
    value = (0.0, -0.0, (0.0,), (-0.0,), 0, False)
    assert typed(cache_codec.decode(json.loads(json.dumps(cache_codec.encode(value))))) == typed(value)


@pytest.mark.parametrize("name", [*SPACES, "nasnet", "pnas", "amoebanet", "enas", "proxylessnas", "shufflenet",
                                  "mobilenetv2"])
def test_fingerprint_from_the_entry_is_the_fingerprint(name):
    """A cold load takes the fingerprint from the entry's node table (`fingerprint_of`): the
    same text hashed as `repr` of the objects, for every library space."""
    space = nasdsl.load(name)
    assert cache_codec.fingerprint_of(cache_codec.encode_space(space), len(space.constraints)) == space.fingerprint()


def test_round_trip_keeps_distinct_equal_modules_distinct():
    """Equal modules built twice get weights of their own; the entry must not merge them."""
    space = nasdsl.loads("network(x: [4]) = x -> Linear(4, 4) -> Linear(4, 4)")
    again = round_trip(space)
    first, second = [m for m in ir.walk(again.template) if isinstance(m, ir.Op)]
    assert first == second and first is not second
    assert len(list(ir.walk(again.template))) == len(list(ir.walk(space.template)))


def test_load_stores_then_reads_back(cache_dir, no_compile):
    space = nasdsl.load("nasbench201")
    assert sorted(p.name.split(".", 1)[1] for p in cache_dir.iterdir()) == ["facts.json", "space.json"]
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in cache_dir.iterdir()} == {0o600}
    assert json.loads(next(cache_dir.glob("*.facts.json")).read_bytes().partition(b"\n")[2]).keys() == \
        {"format", "key", "fingerprint"}
    fingerprint, size = space.fingerprint(), space.size()  # the facts entry gains the size now
    assert json.loads(next(cache_dir.glob("*.facts.json")).read_bytes().partition(b"\n")[2])["size"] == size
    no_compile()
    again = nasdsl.load("nasbench201")
    assert again.facts() == {"size": size, "fingerprint": fingerprint}
    assert again.size() == 15625 and round_trip(again).fingerprint() == fingerprint
    assert not [p for p in cache_dir.iterdir() if p.name.endswith(".tmp")]


def test_remembered_facts_come_back_with_the_space(cache_dir, no_compile):
    space = nasdsl.load("nasbench201")
    calls = []
    bounds = {"params": {"min": 1, "max": 2}}
    assert space.remembered("cost_bounds", lambda: calls.append(1) or bounds) == bounds
    assert space.remembered("cost_bounds", lambda: calls.append(1) or bounds) == bounds and calls == [1]
    assert math.isnan(space.remembered("not json", lambda: float("nan")))
    assert space.size() == 15625  # learnt after the NaN: still written
    no_compile()
    again = nasdsl.load("nasbench201")
    assert again.remembered("cost_bounds", lambda: calls.append(1)) == bounds and calls == [1]
    assert "not json" not in again.facts() and again.facts()["size"] == 15625  # NaN is not JSON: never written


def test_errors_from_a_cached_space_point_into_the_source(cache_dir, no_compile):
    fresh = nasdsl.load("nasbench101")
    no_compile()
    cached = nasdsl.load("nasbench101")
    arch = fresh.sample(seed=0)
    bad = dict(arch, **{"cell.op1": "conv5x5"})
    messages = []
    for space in (fresh, cached):
        with pytest.raises(ArchitectureError) as err:
            space.validate(bad)
        messages.append(err.value.render())
    assert messages[0] == messages[1]
    assert "nasbench101.nas:" in messages[0] and "^" in messages[0]  # file:line:col, the line and a caret
    assert str(cached.decision("cell.op1").loc) == str(fresh.decision("cell.op1").loc)


def test_params_and_imports_are_part_of_the_key(cache_dir, tmp_path, no_compile):
    (tmp_path / "ops.nas").write_text(OPS)
    main = tmp_path / "main.nas"
    main.write_text(IMPORTING)
    narrow = nasdsl.load(main)
    wide = nasdsl.load(main, {"W": 16})
    assert narrow.fingerprint() != wide.fingerprint()
    no_compile()
    assert nasdsl.load(main).fingerprint() == narrow.fingerprint()
    assert nasdsl.load(main, {"W": 16}).fingerprint() == wide.fingerprint()
    with pytest.raises(AssertionError, match="compiled although"):
        nasdsl.load(main, {"W": 16.0})  # a float is another parameter than the int 16


def test_a_changed_import_misses(cache_dir, tmp_path):
    (tmp_path / "ops.nas").write_text(OPS)
    main = tmp_path / "main.nas"
    main.write_text(IMPORTING)
    before = nasdsl.load(main)
    (tmp_path / "ops.nas").write_text(OPS.replace("[3, 5]", "[3, 5, 7]"))
    after = nasdsl.load(main)
    assert after.decision("act.k").values == (3, 5, 7) and before.decision("act.k").values == (3, 5)
    assert after.size() > before.size()


def test_an_import_resolving_elsewhere_misses(cache_dir, tmp_path):
    """`import "mobile_ops.nas"` finds the library's file until one appears next to the root."""
    main = tmp_path / "main.nas"
    main.write_text('import "mobile_ops.nas"\nnetwork(x: [3, 8, 8]) = x -> Conv2d(3, 4, 1)\n')
    library = nasdsl.load(main)
    assert any(name.endswith("spaces/mobile_ops.nas") for name in library.sources)
    (tmp_path / "mobile_ops.nas").write_text("block Unused() = ReLU()\n")
    local = nasdsl.load(main)
    assert str(tmp_path / "mobile_ops.nas") in local.sources


def test_a_changed_source_or_nasdsl_misses(cache_dir, tmp_path, monkeypatch):
    main = tmp_path / "main.nas"
    main.write_text("network(x: [4]) = x -> Linear(4, choice[2, 3])\n")
    assert nasdsl.load(main).size() == 2
    main.write_text("network(x: [4]) = x -> Linear(4, choice[2, 3, 4])\n")
    assert nasdsl.load(main).size() == 3
    key = cache.entry_key(main.read_text(), str(main), {}, ())
    monkeypatch.setattr(cache, "code_digest", lambda: "another nasdsl")
    assert cache.entry_key(main.read_text(), str(main), {}, ()) != key


def test_an_edited_nasdsl_file_changes_the_code_digest():
    """An edit changes a file's modification time (and mostly its size): the digest follows."""
    path = ROOT / "nasdsl" / "values.py"
    before = path.stat()
    cache.code_digest.cache_clear()
    digest = cache.code_digest()
    try:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1))
        cache.code_digest.cache_clear()
        assert cache.code_digest() != digest
    finally:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        cache.code_digest.cache_clear()
    assert cache.code_digest() == digest


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "flipped":  # one byte of the payload changed: the SHA-256 line no longer matches
        i = len(data) // 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 1]) + data[i + 1:])
    elif how == "garbage":
        path.write_bytes(os.urandom(4096))


@pytest.mark.parametrize("how", ["truncated", "empty", "flipped", "garbage"])
def test_a_damaged_entry_is_ignored_and_rebuilt(cache_dir, how):
    space = nasdsl.load("nasbench201")
    fingerprint, size = space.fingerprint(), space.size()
    for path in cache_dir.iterdir():
        damage(path, how)
    again = nasdsl.load("nasbench201")
    assert "size" not in again.facts()  # nothing read from the damaged entries: compiled and stored afresh
    assert again.fingerprint() == fingerprint and again.size() == size
    third = nasdsl.load("nasbench201")  # rebuilt: read back whole
    assert third.facts() == {"size": size, "fingerprint": fingerprint}


def forge(path: Path, record: dict) -> None:
    """Write an entry with a valid SHA-256 line: only its content is wrong."""
    import hashlib
    payload = json.dumps(record).encode()
    path.write_bytes(hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)


@pytest.mark.parametrize(("nodes", "refusal"), [
    ([["os.system", "echo hacked"]], KeyError),     # not an IR class: refused, never looked up
    ([["__import__", "os"]], KeyError),
    ([["Path", "/etc/passwd"]], KeyError),
    ([["t", [5]]], ValueError),                     # a reference to a node not built yet
    ([["Op", "Conv2d"]], ValueError),               # a wrong number of fields
    ([["f", "1e999999"]], ValueError),              # only inf, -inf and nan are spelled out
    ([["L", ["x"], 1, 1, None]], ValueError),       # a location whose file is not a string
    ([["d", 1, 2]], ValueError),                    # a dict key that is not a string
])
def test_a_forged_entry_builds_nothing_but_ir_data(cache_dir, nodes, refusal):
    space = nasdsl.load("nasbench201")
    entry = next(cache_dir.glob("*.space.json"))
    record = json.loads(entry.read_bytes().partition(b"\n")[2])
    record["space"] = {"nodes": nodes, "root": [0], "texts": []}
    forge(entry, record)
    again = nasdsl.load("nasbench201")  # the forged entry is a miss, then replaced
    assert again.fingerprint() == space.fingerprint()
    with pytest.raises(refusal) as err:  # an unknown tag is never looked up; a malformed node refused
        cache_codec.decode({"nodes": nodes, "root": [0], "texts": []})
    assert type(err.value) is refusal
    if refusal is KeyError:
        assert err.value.args == (nodes[0][0],)   # the unknown tag itself


def test_the_template_is_built_only_when_used(cache_dir, no_compile):
    """What `nasdsl info` needs (decisions, size, fingerprint, input shapes) comes without
    building the module template; walking the template builds it, once."""
    fresh = nasdsl.load("nasnet")
    fresh.size()
    no_compile()
    cached = nasdsl.load("nasnet")
    data = cached.to_json()
    assert isinstance(cached._template, LazyTemplate)
    assert data == fresh.to_json() and cached.input_shapes == fresh.input_shapes
    template = cached.template
    assert not isinstance(cached._template, LazyTemplate) and cached.template is template
    assert template == fresh.template and sharing(template) == sharing(fresh.template)


def test_a_template_forged_past_the_head_is_compiled_again(cache_dir):
    fresh = nasdsl.load("nasbench201")
    entry = next(cache_dir.glob("*.space.json"))
    record = json.loads(entry.read_bytes().partition(b"\n")[2])
    space = record["space"]
    space["nodes"] = space["nodes"][:space["head"]] + [["__import__", "os"]]
    space["template"] = [space["head"]]
    forge(entry, record)
    cached = nasdsl.load("nasbench201")
    assert isinstance(cached._template, LazyTemplate)  # the decisions decoded; the template waits
    assert cached.template == fresh.template  # ... and is compiled afresh: the forged node built nothing
    assert cached.fingerprint() == fresh.fingerprint()


def test_entries_build_only_listed_types():
    """Every object a decoded space is made of is a constant, a container, a Loc or an IR class."""
    space = round_trip(nasdsl.load("darts"))
    allowed = {str, int, float, bool, type(None), tuple, list, dict, Loc, *cache_codec.entry_classes().values()}
    seen, stack = set(), [(space.decisions, space.constraints, space.template, space.params, space.sources)]
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        assert type(x) in allowed, type(x)
        if isinstance(x, (tuple, list)):
            stack.extend(x)
        elif isinstance(x, dict):
            stack.extend(x.values())
        elif hasattr(x, "__dataclass_fields__") and not isinstance(x, Loc):
            stack.extend(getattr(x, f) for f in x.__dataclass_fields__)


@pytest.mark.parametrize("module", ["cache.py", "cache_codec.py"])
def test_the_cache_module_cannot_run_code_from_an_entry(module):
    """No pickle, marshal, eval, exec or dynamic import in the cache's code or its entry format's."""
    tree = ast.parse((ROOT / "nasdsl" / module).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names} | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                                            and node.module}
    assert not imported & {"pickle", "marshal", "shelve", "importlib", "dill", "cloudpickle"}
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not called & {"eval", "exec", "compile", "__import__"}  # (getattr reads only IR field names)


def test_a_world_writable_directory_is_not_used(cache_dir):
    cache_dir.mkdir(mode=0o700)
    os.chmod(cache_dir, 0o777)
    assert cache.cache_dir() is None
    nasdsl.load("nasbench201")
    assert list(cache_dir.iterdir()) == []
    os.chmod(cache_dir, 0o720)  # group-writable
    assert cache.cache_dir() is None


def test_a_directory_or_entry_of_another_user_is_not_used(cache_dir, monkeypatch):
    nasdsl.load("nasbench201")
    entry = next(cache_dir.glob("*.space.json"))
    assert cache._read(entry) is not None
    monkeypatch.setattr(os, "getuid", lambda: os.stat(cache_dir).st_uid + 1)  # everything here is someone else's
    assert cache.cache_dir() is None
    assert cache._read(entry) is None


def test_a_foreign_entry_is_not_read(cache_dir):
    space = nasdsl.load("nasbench201")
    entry = next(cache_dir.glob("*.space.json"))
    if os.getuid() == 0:  # root can hand the file to another user, as an attacker's own file would be
        os.chown(entry, 12345, 12345)
        assert cache._read(entry) is None
        os.chown(entry, 0, 0)
    os.chmod(entry, 0o620)  # writable by the group
    assert cache._read(entry) is None
    link = cache_dir / "link.space.json"
    link.symlink_to(entry)
    os.chmod(entry, 0o600)
    assert cache._read(link) is None  # symbolic links are not followed
    assert nasdsl.load("nasbench201").fingerprint() == space.fingerprint()


def test_switched_off_or_with_custom_ops_nothing_is_stored(cache_dir, monkeypatch):
    monkeypatch.setenv("NASDSL_NO_CACHE", "1")
    nasdsl.load("nasbench201")
    assert not cache_dir.exists()
    monkeypatch.delenv("NASDSL_NO_CACHE")
    from nasdsl.ops import catalog
    catalog.register(catalog.OpSpec("Squeeze", (("channels", catalog.REQUIRED),), custom=True))
    try:
        assert cache.custom_ops_registered()
        nasdsl.load("nasbench201")
        assert not cache_dir.exists()   # nothing stored, not even the directory
    finally:
        catalog.unregister("Squeeze")
    assert not cache.custom_ops_registered()


def test_cli_output_is_the_same_cold_and_warm(cache_dir):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = [sys.executable, "-m", "nasdsl", "info", "nasbench101", "--json"]
    cold = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
    warm = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
    off = subprocess.run(run, env=dict(env, NASDSL_NO_CACHE="1"), capture_output=True, text=True, check=True).stdout
    assert cold == warm == off
    assert json.loads(warm)["size"] == 1824025 and json.loads(warm)["cost_bounds"]["params"] is not None
    assert len(list(cache_dir.glob("*.facts.json"))) == 1
    text = run[:-1]
    assert subprocess.run(text, env=env, capture_output=True, text=True, check=True).stdout == \
        subprocess.run(text, env=dict(env, NASDSL_NO_CACHE="1"), capture_output=True, text=True, check=True).stdout


def test_info_on_a_cached_space_compiles_nothing(cache_dir):
    """A warm `nasdsl info` imports neither the parser, the elaborator, the shape check nor the
    cost analysis: everything it shows comes from the entry."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    probe = ("import sys, io, contextlib\nfrom nasdsl.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()): main(['info', 'darts'])\n"
             "print(sorted(m for m in ('lark', 'nasdsl.elaborate', 'nasdsl.analysis.shapes', 'nasdsl.analysis.costs',"
             " 'nasdsl.analysis.bounds', 'nasdsl.search.multitrial') if m in sys.modules))")
    first = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    again = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    assert "nasdsl.elaborate" in first and again.strip() == "[]"


# --- the encoding, as a property ---------------------------------------------------------------

constants = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=8),
                      st.floats(allow_nan=False), st.sampled_from([float("inf"), float("-inf"), -0.0, 0.0, 1.0, 1]))
labels = st.sampled_from(["a", "b", "c.d"])
def compound(inner: st.SearchStrategy) -> st.SearchStrategy:
    """Expressions and containers over `inner`."""
    binaries = st.tuples(st.sampled_from(["+", "*", "==", "and"]), inner, inner)
    return st.one_of(binaries.map(lambda t: Binary(*t)), inner.map(lambda v: Unary("-", v)),
                     st.tuples(inner, inner, inner).map(lambda t: IfElse(*t)),
                     st.lists(inner, max_size=3).map(lambda xs: Func("max", tuple(xs))),
                     st.lists(inner, max_size=4).map(tuple), st.lists(inner, max_size=4),
                     st.dictionaries(st.text(max_size=4), inner, max_size=3))


values = st.recursive(st.one_of(constants, labels.map(Ref)), compound, max_leaves=20)


def typed(x):
    """A value with every constant's type spelled out (so 1, 1.0 and True differ)."""
    if isinstance(x, (tuple, list)):
        return (type(x).__name__, [typed(v) for v in x])
    if isinstance(x, dict):
        return ("dict", [(k, typed(v)) for k, v in x.items()])
    if hasattr(x, "__dataclass_fields__"):
        return (type(x).__name__, [typed(getattr(x, f)) for f in x.__dataclass_fields__ if f not in ("size", "_hash")])
    if isinstance(x, float):
        return ("float", repr(x))
    return (type(x).__name__, x)


@settings(max_examples=300, deadline=None)
@given(values)
def test_any_ir_value_survives_json_with_its_types(value):
    data = json.loads(json.dumps(cache_codec.encode(value), allow_nan=False))
    assert typed(cache_codec.decode(data)) == typed(value)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 3)), min_size=1, max_size=8))
def test_shared_and_equal_modules_keep_their_identities(plan):
    """Whatever mix of shared and merely equal modules a template holds survives the trip."""
    loc = Loc("f.nas", 1, 1)
    made: list[ir.Op] = []
    for reuse, k in plan:
        if reuse and made:
            made.append(made[k % len(made)])          # the same module again: shared weights
        else:
            made.append(ir.Op("ReLU", (), loc))        # an equal module of its own
    template = ir.Sequential(tuple(made), loc)
    again = cache_codec.decode(json.loads(json.dumps(cache_codec.encode(template))))
    assert sharing(again) == sharing(template)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(programs())
def test_any_generated_space_survives_its_entry(text):
    """Every space `nasdsl.testing` generates comes back from its entry the same: its IR with
    every constant's type, its sharing of modules, its locations, fingerprint and size; and
    written again it gives the same entry."""
    space = nasdsl.loads(text)
    data = json.loads(json.dumps(cache_codec.encode_space(space), allow_nan=False))
    again = cache_codec.decode_space(data)
    assert typed((again.decisions, again.constraints, again.budgets)) == \
        typed((space.decisions, space.constraints, space.budgets))
    assert typed(again.template) == typed(space.template) and sharing(again.template) == sharing(space.template)
    assert locations(again) == locations(space)
    assert again.params == space.params and again.sources == space.sources
    assert cache_codec.fingerprint_of(data, len(space.constraints)) == space.fingerprint() == again.fingerprint()
    assert again.size() == space.size()
    assert json.loads(json.dumps(cache_codec.encode_space(again), allow_nan=False)) == data


def test_the_cache_keeps_the_newest_entries_and_clears_stale_temporary_files(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "MAX_ENTRIES", 2)
    store = cache.SpaceCache(tmp_path)
    stale = tmp_path / ".x.space.json.1.abc.tmp"
    fresh = tmp_path / ".y.space.json.2.def.tmp"
    stale.write_text("")
    fresh.write_text("")
    os.utime(stale, (0, 0))
    space = nasdsl.load("nasbench201")
    for i in range(3):
        store.put(f"{i:064x}", space, imports=[])
        os.utime(tmp_path / f"{i:064x}.space.json", (1000 + i, 1000 + i))
    store.put(f"{3:064x}", space, imports=[])
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == [fresh.name] + [f"{i:064x}.{kind}.json" for i in (2, 3) for kind in ("facts", "space")]
    assert store.get(f"{3:064x}", loader=None).size() == 15625


def test_a_template_that_does_not_decode_is_compiled_again_and_replaced(cache_dir):
    # the decisions decode at load, the template only when first used: if it is damaged then,
    # the space is compiled again and the entry rewritten, so later loads hit a sound entry
    space = nasdsl.load("nasbench201")
    entry = next(cache_dir.glob("*.space.json"))
    record = json.loads(entry.read_bytes().partition(b"\n")[2])
    record["space"]["template"] = [10**9]   # a reference to no node
    forge(entry, record)
    again = nasdsl.load("nasbench201")
    assert again.template == space.template
    rewritten = json.loads(entry.read_bytes().partition(b"\n")[2])
    assert rewritten["space"]["template"] != [10**9]
    assert nasdsl.load("nasbench201").template == space.template
