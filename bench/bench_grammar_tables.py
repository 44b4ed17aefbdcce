"""Start-up cost of the parser, three ways, side by side (issue 11: the grammar cache).

1. build: LALR tables built from `grammar/nas.lark` on every start (no cache at all);
2. tables: the JSON tables shipped next to the grammar (`nasdsl.syntax.tables`, the choice);
3. pickle: Lark's own cache file in a private 0700 per-user directory (the other safe option).

Each round runs the three in a fresh process (so nothing is warm), in alternating order, and
reports per way the median and range of the in-process construction time and the ratio of
medians to `build`. Usage: `python bench/bench_grammar_tables.py [--rounds 15]`.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import sys, time, json
sys.path.insert(0, {root!r})
from nasdsl.syntax.parser import grammar_path
from nasdsl.syntax import tables
text = grammar_path().read_text()
way = {way!r}
start = time.perf_counter()
if way == "build":
    parser = tables.build(text)
elif way == "tables":
    parser = tables.load_tables(text)
    assert parser is not None, "shipped tables are stale: python -m nasdsl.syntax.tables"
else:
    from lark import Lark
    parser = Lark(text, cache={cache!r}, **tables.OPTIONS)
parser.parse("param C = 16")
print(json.dumps(time.perf_counter() - start))
"""


def run(way: str, cache: str) -> float:
    code = CHILD.format(root=str(ROOT), way=way, cache=cache)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    private = tempfile.mkdtemp(prefix="nasdsl-bench-")
    os.chmod(private, 0o700)
    cache = os.path.join(private, "grammar.lark")
    run("pickle", cache)  # write the cache once
    ways = ["build", "tables", "pickle"]
    times: dict[str, list[float]] = {w: [] for w in ways}
    for r in range(args.rounds):
        order = ways if r % 2 == 0 else ways[::-1]
        for way in order:
            times[way].append(run(way, cache))
    base = statistics.median(times["build"])
    for way in ways:
        t = times[way]
        print(f"{way:7s} median {statistics.median(t) * 1000:6.1f} ms  range {min(t) * 1000:6.1f}-{max(t) * 1000:6.1f} ms  "
              f"ratio to build {statistics.median(t) / base:.2f}")


if __name__ == "__main__":
    main()
