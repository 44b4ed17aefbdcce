"""Count the fuzz tests' inputs by class and outcome (issue 11's report).

Draws inputs with the strategies of `tests/test_fuzz.py` (random text, token soups, mutants of
generated and built-in programs, expressions over choices, parameter overrides, the probe's
hostile mutation classes, hostile architectures) and runs each exactly as the tests do:
through the API (`exercise`: compile, count, sample, validate, fingerprint; time-bounded,
hostile mutants also under tracemalloc) and, for `--cli N` of the hostile mutants, through
the command line in a fresh process. Prints, per class, how many inputs ended "ok", in a
NasError, or failed (anything else: a non-NasError, a time or memory bound broken, a traceback
or exit code other than 0/1), and the slowest input in CPU seconds (its own and its child's).

The input kinds that arrived with search (issue 24) follow, with the strategies and runners
of `tests/test_fuzz_inputs.py`: benchmark tables, cifar10 batch files, checkpoints, store
attributes, architecture files and run directories (only NasError, < 5 s CPU and < 256 MB
each, under tracemalloc).

Usage: `python bench/fuzz_census.py [--per-class 300] [--cli 40] [--only-inputs]`. The full
census (>= 100,000 inputs: 14 classes of 7,200, the 196 hostile architectures there are and
200 fresh CLI processes) is `python bench/fuzz_census.py --per-class 7200 --cli 200`: 101,196
inputs, about 16 minutes on a quiet machine. On 2026-12-08: 0 exceptions other than NasError, the slowest
input 3.15 s of CPU (a mutant of the DARTS space), 12 inputs over the tests' own 1 s bound and
none over the issue's 5 s.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import test_fuzz as fz  # noqa: E402
import test_fuzz_inputs as fi  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the CLI class runs in a child)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def census(name: str, strategy, run, n: int, table: dict) -> None:
    counts: Counter = Counter()
    slowest = [0.0]

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value):
        start = cpu_seconds()
        try:
            counts[run(value)] += 1
        except AssertionError as err:
            counts["FAILED"] += 1
            print(f"[{name}] {str(err)[:300]}", file=sys.stderr)
        slowest[0] = max(slowest[0], cpu_seconds() - start)

    collect()
    table[name] = (counts, slowest[0])
    print(f"{name:36s} {sum(counts.values()):6d}  ok {counts['ok']:5d}  error {counts['error']:5d}  "
          f"failed {counts['FAILED']:3d}  slowest {slowest[0]:.2f} s CPU", flush=True)


def run_arch(text: str) -> str:
    import contextlib
    import io

    from nasdsl.cli import main
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = main(["info", "nasbench201", "--json", "--arch", text])
    if code not in (0, 1) or "Traceback" in err.getvalue():
        raise AssertionError(f"exit {code}: {err.getvalue()[-300:]}")
    return "ok" if code == 0 else "error"


def run_cli(text: str, folder: Path) -> str:
    path = folder / "hostile.nas"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = fz.run_cli_bounded(["info", str(path), "--json"])
    fz._assert_cli_outcome(result, fz._show(text))
    return "ok" if result.returncode == 0 else "error"


def one_torch_thread() -> None:
    """One intra-op torch thread, as every test has (tests/conftest.py): the classes that load
    checkpoints start torch's thread pool, whose idle threads spin, and their CPU time was
    charged to whatever input came next (a 55-character token soup measured 2.3 s)."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


def main() -> None:
    one_torch_thread()
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--cli", type=int, default=40)
    parser.add_argument("--only-inputs", action="store_true", help="only the issue-24 input kinds")
    args = parser.parse_args()
    n = args.per_class
    fz.nasdsl.loads("network(x: [4]) = x -> ReLU()")  # the parser, outside any timed input
    table: dict = {}
    fi.warm()
    for name, (strategy, run) in fi.CLASSES.items():
        census(name, strategy, lambda value, run=run: fi.bounded(run, value), n, table)
    if args.only_inputs:
        _total(table)
        return
    census("random text", st.text(max_size=400), fz.exercise, n, table)
    census("token soups", st.one_of(fz.soups(" "), fz.soups(""), fz.soups("\n")), fz.exercise, n, table)
    census("soups inside a network", fz.soups(" ").map(fz.in_skeleton), fz.exercise, n, table)
    census("mutants of generated programs", fz.mutants(fz.GENERATED), fz.exercise, n, table)
    census("mutants of built-in spaces", fz.mutants(st.sampled_from(fz.library_texts())), fz.exercise, n, table)
    census("expressions over choices", fz.programs_with_expressions(), fz.exercise, n, table)
    census("parameter overrides", fz.programs_with_overrides(), lambda case: fz.exercise(*case), n, table)
    census("hostile mutants (API, memory)", fz.hostile_mutants(), fz.exercise_bounded, n, table)
    census("hostile architectures (CLI main)", fz.hostile_archs(), run_arch, n, table)
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        census("hostile mutants (CLI process)", fz.hostile_mutants(), lambda t: run_cli(t, Path(folder)),
               args.cli, table)
    _total(table)


def _total(table: dict) -> None:
    total = sum(sum(c.values()) for c, _ in table.values())
    failed = sum(c["FAILED"] for c, _ in table.values())
    print(f"{'total':36s} {total:6d}  failed {failed}")


if __name__ == "__main__":
    main()
