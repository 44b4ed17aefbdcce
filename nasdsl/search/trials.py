"""`nasdsl trials STORAGE`: the best architectures of a multi-trial search, from its store alone.

The store keeps the space's source text, so the architectures print as NAS-Bench-201 strings
or DARTS genotypes where the space has them (recompiled from that text, which is data: it is
never executed as code).

Example::

    $ nasdsl trials runs/nasbench201-evolution --top 5
    $ nasdsl trials postgresql://user@host/db --json
    $ nasdsl trials runs/nasbench201-nsga2 --pareto     # a multi-objective search's front
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import NasError
from ..limits import os_reason, show_path
from .feasibility import counts as feasibility_counts
from .store import Store, default_url


def storage_url(text: str) -> str:
    """A search's output folder, its `exp.db`, a journal file or a URL, as a storage URL."""
    if "://" in text or text.startswith("journal:"):
        return text
    path = Path(text)
    try:
        if path.is_dir():
            if (path / "exp.db").is_file():
                return default_url(path)
            raise NasError(f"{show_path(text)} holds no exp.db (a multi-trial search's store)")
        if path.is_file():
            return f"sqlite:///{path}"
    except OSError as err:  # a name over the file-name limit, a loop of links
        raise NasError(f"cannot read store {show_path(text)}: {os_reason(err)}") from None
    raise NasError(f"no such store: {show_path(text)} (give a search's --out DIR, its exp.db or a storage URL)")


def stored_space(attrs: dict[str, Any]):
    """The space an experiment was run on, compiled from the sources stored with it."""
    import nasdsl
    sources, root = attrs.get("sources"), attrs.get("space")
    if not sources or root not in sources:
        return None
    try:
        return nasdsl.loads(sources[root], root, attrs.get("params") or {}, sources=sources)
    except NasError:
        return None


def show_trials(storage: str, top: int = 10, as_json: bool = False, study: str = "nasdsl",
                pareto: bool = False) -> int:
    """Print the best trials of a store (`pareto`, or a multi-objective store: its Pareto front)."""
    from ..formats import arch_text
    url = storage_url(storage)
    store = Store(url, study, read_only=True)   # a store on a read-only mount reads too
    store.open(None, {}, create=False)
    trials = store.trials()
    space = stored_space(store.attrs)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    if pareto or len(store.directions) > 1:
        return _show_front(url, study, store, trials, space, counts, as_json)
    complete = sorted((t for t in trials if t.state == "complete"), key=lambda t: (-t.value, t.number))
    shown = complete if top <= 0 else complete[:top]
    objective = store.attrs.get("objective", "value")
    rejected = feasibility_counts(trials)
    rows = []
    for rank, t in enumerate(shown, 1):
        row = {"rank": rank, **t.to_json()}
        if space is not None:
            row["text"] = arch_text(space, t.arch)
        rows.append(row)
    retries = [(t.number, t.retry_of) for t in trials if t.retry_of is not None]   # a dead worker's trial re-run
    if as_json:
        print(json.dumps({"storage": url, "study": study, "objective": objective,
                          "fingerprint": store.attrs.get("fingerprint"), "space": store.attrs.get("space"),
                          "strategy": store.attrs.get("strategy"), "counts": counts, "rejected": rejected,
                          "retries": [{"trial": n, "retry_of": of} for n, of in retries], "top": rows}, indent=2))
        return 0
    _print_summary(url, study, store.attrs, counts, rejected, retries)
    _print_table(rows, objective)
    return 0


def _show_front(url: str, study: str, store: Store, trials, space, counts: dict[str, int], as_json: bool) -> int:
    """`--pareto`: the front of a multi-objective experiment, best first in its first objective."""
    from .fronts import front_rows
    from .objectives import parse_objectives
    texts = store.attrs.get("objectives")
    if len(store.directions) < 2 or not isinstance(texts, list) or len(texts) != len(store.directions):
        raise NasError(f"--pareto: {url} (study {study}) is a single-objective search "
                       f"({store.attrs.get('objective', 'value')}); it has no Pareto front")
    objectives = parse_objectives(texts)
    rows = front_rows(trials, objectives, space)
    rejected = feasibility_counts(trials)
    if as_json:
        print(json.dumps({"storage": url, "study": study, "objectives": texts,
                          "fingerprint": store.attrs.get("fingerprint"), "space": store.attrs.get("space"),
                          "strategy": store.attrs.get("strategy"), "counts": counts, "rejected": rejected,
                          "front": rows}, indent=2))
        return 0
    retries = [(t.number, t.retry_of) for t in trials if t.retry_of is not None]
    _print_summary(url, study, store.attrs, counts, rejected, retries)
    print(f"Pareto front: {len(rows)} trials ({', '.join(texts)})")
    if rows:
        header = ("trial", *(o.name for o in objectives), "architecture")
        table = [(str(r["number"]), *(f"{v:.6g}" for v in r["values"]),
                  r.get("text") or json.dumps(r["arch"], sort_keys=True)) for r in rows]
        widths = [max(len(x[i]) for x in table + [header]) for i in range(len(header) - 1)]
        for line in [header] + table:
            print("  ".join(c.rjust(w) for c, w in zip(line[:-1], widths)) + "  " + line[-1])
    return 0


def _print_summary(url: str, study: str, attrs: dict[str, Any], counts: dict[str, int],
                   rejected: dict[str, int], retries: list[tuple[int, int]]) -> None:
    """The experiment's header lines: what ran on what, trials by state, proposals rejected by
    each cheap constraint, and the trials re-run after a dead worker."""
    print(f"{url}  study {study}: {attrs.get('strategy', '?')} on {attrs.get('space', '?')} "
          f"(fingerprint {attrs.get('fingerprint', '?')})")
    counted = {state: n for state, n in counts.items() if state != "infeasible"}
    print("trials: " + ", ".join(f"{n} {state}" for state, n in sorted(counted.items())) if counted else "no trials")
    if rejected:
        print(f"infeasible proposals (checked before evaluation, no trial): {sum(rejected.values())} ("
              + ", ".join(f"{name} rejected {n}" for name, n in rejected.items()) + ")")
    if retries:
        print("retries: " + ", ".join(f"trial {n} re-ran trial {of}" for n, of in retries[:10])
              + (f", and {len(retries) - 10} more" if len(retries) > 10 else ""))


def _print_table(rows: list[dict[str, Any]], objective: str) -> None:
    """The best trials as aligned columns: rank, trial, objective, params, flops, architecture."""
    if not rows:
        return
    header = ("rank", "trial", objective, "params", "flops", "architecture")
    table = [(str(r["rank"]), str(r["number"]), f"{r['value']:.4f}", _num(r["metrics"].get("params")),
              _num(r["metrics"].get("flops")), r.get("text") or json.dumps(r["arch"], sort_keys=True)) for r in rows]
    widths = [max(len(x[i]) for x in table + [header]) for i in range(5)]
    for line in [header] + table:
        print("  ".join(c.rjust(w) for c, w in zip(line[:5], widths)) + "  " + line[5])


def _num(value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.2f}{unit}"
    return f"{value:g}"
