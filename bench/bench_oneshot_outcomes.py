"""What each one-shot strategy finds: searches placed in the ground-truth table of `nb201_mnist5k.py`.

    python bench/bench_oneshot_outcomes.py [--epochs 3] [--seeds 0,1,2,3,4] [--strategies darts,...]
                                           [--tau-archs 100] [--results FILE.jsonl] [--report]

Every one-shot strategy searches the table's space (NB201 at `C=8, N=1`, fitted to mnist5k) with
`nasdsl search` run as a user runs it, one process at a time, one torch thread, on the table's
own data split (`--data bench_oneshot_outcomes:table_data`: mnist5k split with seed 0, so no
search ever trains on, or selects by, an image that is in the table's test split; the search's
`--seed` still draws its weights, batch order, halves and paths). The budget, every option
spelled out so a later change of a default does not change the benchmark silently:

* all: `--epochs E` (default 3; 27 steps an epoch), `--batch-size 64`, `--arch-data half`, `--passes default`, weight
  SGD lr 0.025, momentum 0.9, weight decay 3e-4, cosine to 1e-3, gradient clip 5;
* darts / darts2 (`--order 2`) / gumbel / proxyless: Adam on the architecture, `arch_lr=1e-2`
  (DARTS's 3e-4 leaves the distribution uniform at this many steps; Adam moves each alpha by
  about `arch_lr` a step, so 81 steps at 1e-2 move it as far as the first measurement's 270
  steps at 3e-3, and 3e-3 at 3 epochs still ended at 99% of the maximum entropy), betas
  (0.5, 0.999), weight decay 1e-3; darts2 `unrolled_eps=0.01`; gumbel tau 1.0 -> 0.33, soft;
* darts_lr3e-3, gumbel_lr3e-3: darts and gumbel at the first measurement's `arch_lr=3e-3`, run
  with `--epochs 10`;
* enas: the documented defaults (lstm 64x1, tanh 1.5, skip target 0.4, entropy weight 1e-4,
  skip weight 0.8, baseline decay 0.999, controller Adam 3.5e-4 every 20 steps, no clip; the
  temperature stays unset, the default, which `--option` cannot spell);
* spos: population 20, generations 5, topk 10, mutation 0.1, batch norm recalibrated on 10
  training batches; random_oneshot: no options (it exports a uniform draw).

Tau is measured on the first `--tau-archs` (100) of the table's architectures, for the search
seeds in `TAU_SEEDS` (spos 0 and 1, enas 0): about a minute of CPU per supernet.

Each exported architecture is retrained with the table's `RECIPE` (seeds 0 and 1, mean) and placed
as a percentile of the table's 2-seed mean test accuracies (the share of the table's
architectures below it, ties counting half). Random search given the same compute: a search's
CPU seconds (user + system of its process, start-up included) buy `k = cpu / s` standalone
trainings, `s` the mean CPU seconds of one `RECIPE` training (measured on the retrainings,
so both are CPU time under the same load); random search draws `k` table architectures,
one seed's row each, keeps the best by validation accuracy and scores its 2-seed mean test
accuracy (averaged over 2,000 simulated searches). Weight-sharing ranking quality for the path
strategies (spos, enas; random_oneshot trains exactly SPOS's stage 1 at the same seed, so
its supernet and tau are SPOS's): each of the table's architectures inherits the trained
supernet's weights, its batch norm is recalibrated on 10 training batches as SPOS's
evolution does (`Spos.score`), its validation accuracy is measured, and Kendall's tau-b
(written here: scipy is not a dependency) between it and the table's mean test accuracy
is reported.

Results are appended, one JSON line per search (with its retraining and its tau), to `--results`;
an interrupted run picks up where it stopped, and `--report` prints the table from the file.
Cost measured on this machine (2 shared cores, load 2-7, one process at 1 thread, nice 5), in CPU
seconds per search at 3 epochs (start-up of ~6 s included): darts 39, darts2 74, gumbel 38,
proxyless 33, enas 16, spos 61 (evolution ~45), random_oneshot 18; darts_lr3e-3 at 10 epochs
111; one `RECIPE` retraining ~9 (two per search); tau ~57 per supernet (100 architectures). The
default run (7 strategies x 5 seeds at 3 epochs) is ~2,200 CPU seconds, 55 minutes of wall
clock under that load; darts_lr3e-3 x 5 seeds at 10 epochs ~650 CPU seconds, 11 minutes.
`bench/results_oneshot.md` has the measured tables and the exact commands.

Example::

    >>> kendall_tau([1, 2, 3, 4], [1, 3, 2, 4])
    0.6666666666666666
    >>> percentile(0.5, [0.1, 0.5, 0.9, 0.95])
    37.5
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from nb201_mnist5k import RECIPE, TABLE, load_space_and_data, mean_accuracy, read_table, standalone, table_archs  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "oneshot_outcomes.jsonl"
RUNS = ROOT / "runs" / "oneshot_outcomes"
DATA_SPEC = "bench_oneshot_outcomes:table_data"

WEIGHTS = {"lr": 0.025, "momentum": 0.9, "weight_decay": 3e-4, "lr_min": 1e-3, "grad_clip": 5.0}
ALPHA = {"arch_lr": 1e-2, "arch_betas": (0.5, 0.999), "arch_weight_decay": 1e-3}
# name -> (CLI strategy, extra CLI arguments, --option values)
STRATEGIES = {
    "darts": ("darts", ["--order", "1"], {**WEIGHTS, **ALPHA, "unrolled_eps": 0.01}),
    "darts2": ("darts", ["--order", "2"], {**WEIGHTS, **ALPHA, "unrolled_eps": 0.01}),
    "gumbel": ("gumbel", [], {**WEIGHTS, **ALPHA, "tau_max": 1.0, "tau_min": 0.33, "hard": False}),
    "proxyless": ("proxyless", [], {**WEIGHTS, **ALPHA}),
    "enas": ("enas", [], {**WEIGHTS, "lstm_size": 64, "lstm_num_layers": 1, "tanh_constant": 1.5,
                          "skip_target": 0.4, "entropy_reduction": "sum",
                          "entropy_weight": 1e-4, "skip_weight": 0.8, "baseline_decay": 0.999,
                          "ctrl_lr": 3.5e-4, "ctrl_steps_aggregate": 20, "ctrl_grad_clip": 0.0}),
    "spos": ("spos", [], {**WEIGHTS, "population": 20, "generations": 5, "topk": 10, "mutation_prob": 0.1,
                          "bn_batches": 10}),
    "random_oneshot": ("random_oneshot", [], dict(WEIGHTS)),
    # FairNAS's sampling (`fair=True`): an epoch costs 5 uniform ones, so run it at a fifth of the epochs
    "spos_fair": ("spos", [], {**WEIGHTS, "population": 20, "generations": 5, "topk": 10, "mutation_prob": 0.1,
                               "bn_batches": 10, "fair": True}),
    # the first measurement's darts (issue 18): arch_lr 3e-3, run at --epochs 10
    "darts_lr3e-3": ("darts", ["--order", "1"], {**WEIGHTS, **ALPHA, "arch_lr": 3e-3, "unrolled_eps": 0.01}),
    # the default arch_lr on this data (3e-4 * 391 / 27 steps an epoch) and the earlier default (the reach of
    # DARTS's whole 50-epoch search in 270 steps: 3e-4 * 19,550 / 270), both at --epochs 10
    "darts_lr4.3e-3": ("darts", ["--order", "1"], {**WEIGHTS, **ALPHA, "arch_lr": 3e-4 * 391 / 27, "unrolled_eps": 0.01}),
    "darts_lr2.2e-2": ("darts", ["--order", "1"], {**WEIGHTS, **ALPHA, "arch_lr": 3e-4 * 19550 / 270,
                                                   "unrolled_eps": 0.01}),
    "gumbel_lr3e-3": ("gumbel", [], {**WEIGHTS, **ALPHA, "arch_lr": 3e-3, "tau_max": 1.0, "tau_min": 0.33,
                                     "hard": False}),
}
TAU_SEEDS = {"spos": (0, 1), "enas": (0,), "spos_fair": (0, 1)}  # strategy -> search seeds whose supernet is ranked
TAU_BN_BATCHES = 10
PARAMETER_FREE = ("none", "skip_connect", "avg_pool_3x3")


def table_data():
    """The table's data split (mnist5k, seed 0) as `(train, val, test)`: `--data` for every search."""
    from nasdsl.data import load_data
    data = load_data(RECIPE["data"], RECIPE["data_seed"])
    return data.train, data.val, data.test


# --- statistics ----------------------------------------------------------------------------------

def kendall_tau(x, y) -> float:
    """Kendall's tau-b of two equally long sequences (ties in either count as neither)."""
    n = len(x)
    concordant = discordant = ties_x = ties_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denom = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denom if denom else 0.0


def seed_noise(rows: list[dict]) -> float:
    """The standard deviation of one standalone run's test accuracy, from the table's seed pairs
    (`sqrt(mean((a - b)^2) / 2)`); nan before any architecture has two seeds."""
    by: dict[str, list[float]] = {}
    for row in rows:
        by.setdefault(row["arch"], []).append(row["test_acc"])
    pairs = [v for v in by.values() if len(v) == 2]
    return math.sqrt(sum((a - b) ** 2 for a, b in pairs) / (2 * len(pairs))) if pairs else float("nan")


def percentile(acc: float, table: list[float]) -> float:
    """Percentile of `acc` among `table` (share below, ties counting half), 0-100."""
    below = sum(a < acc for a in table)
    equal = sum(a == acc for a in table)
    return 100.0 * (below + 0.5 * equal) / len(table)


def random_search(rows: list[dict], k: int, repeats: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Random search with `k` standalone trainings drawn from the table: mean (test accuracy,
    percentile) of the architecture it keeps by validation accuracy, and the effective `k`."""
    mean = mean_accuracy(rows)
    table = sorted(mean.values())
    by_arch: dict[str, list[dict]] = {}
    for row in rows:
        by_arch.setdefault(row["arch"], []).append(row)
    archs = sorted(by_arch)
    k = max(1, min(k, len(archs)))
    rng = random.Random(seed)
    accs, pcts = [], []
    for _ in range(repeats):
        drawn = [rng.choice(by_arch[a]) for a in rng.sample(archs, k)]
        best = max(drawn, key=lambda r: r["val_acc"])["arch"]
        accs.append(mean[best])
        pcts.append(percentile(mean[best], table))
    return sum(accs) / repeats, sum(pcts) / repeats, k


# --- one search ----------------------------------------------------------------------------------

def search_command(name: str, seed: int, epochs: int, out: Path) -> list[str]:
    """The `nasdsl search` command line of strategy `name` (a key of STRATEGIES)."""
    strategy, extra, options = STRATEGIES[name]
    sets = [f"{k}={v}" for k, v in RECIPE["space_params"].items()]
    cmd = [sys.executable, "-m", "nasdsl", "search", RECIPE["space"], *[a for s in sets for a in ("--set", s)],
           "--data", DATA_SPEC, "--strategy", strategy, "--seed", str(seed), "--epochs", str(epochs),
           "--batch-size", "64", "--arch-data", "half", "--passes", "default", *extra, "--out", str(out)]
    for key, value in options.items():
        cmd += ["--option", f"{key}={_literal(value)}"]
    return cmd


def _literal(value) -> str:
    """`value` as `nasdsl.options.parse_literal` reads it back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    return str(value)


def run_search(name: str, seed: int, epochs: int, runs: Path) -> dict:
    """Run one search as a subprocess; its architecture, final entropy and CPU seconds."""
    out = runs / f"{name}-e{epochs}-s{seed}"
    if out.exists():
        shutil.rmtree(out)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "bench"), os.environ.get("PYTHONPATH", "")])}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(search_command(name, seed, epochs, out), env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{name} seed {seed} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    arch = json.loads((out / "arch.json").read_text())
    entropy = None
    import csv
    with open(out / "logs" / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row.get("arch_entropy"):
                entropy = float(row["arch_entropy"])
    return {"strategy": name, "seed": seed, "epochs": epochs, "arch": arch,
            "command": " ".join(search_command(name, seed, epochs, out)[1:]).replace(f"{ROOT}/", ""),
            "nb201": (out / "arch.nb201").read_text().strip(), "entropy": entropy,
            "probs": json.loads((out / "probs.json").read_text()),
            "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2),
            "wall_s": round(wall, 2), "run_dir": str(out)}   # absolute while running; stored relative (`run`)


def inherited_accuracies(space, data, name: str, seed: int, run_dir: Path, archs: list[dict]) -> list[float]:
    """Validation accuracy of each of `archs` with the searched supernet's weights, batch norm
    recalibrated on `TAU_BN_BATCHES` training batches (`Spos.score`)."""
    import torch

    from nasdsl.checkpoint import load_search_checkpoint
    from nasdsl.strategy import build_supernet
    from nasdsl.strategy.spos import Spos
    torch.set_num_threads(1)
    strategy = STRATEGIES[name][0]
    supernet = build_supernet(space, strategy, seed=seed)
    state = load_search_checkpoint(run_dir / "last.ckpt")["state_dict"]
    weights = {k[len("supernet."):]: v for k, v in state.items() if k.startswith("supernet.")}
    supernet.load_state_dict(weights)
    scorer = Spos(supernet, population=2, bn_batches=TAU_BN_BATCHES, seed=seed)
    train = data.loader("train", 64, shuffle=True, seed=seed)
    val = data.loader("val", 256)
    return [scorer.score(arch, train, val) for arch in archs]


# --- the benchmark -------------------------------------------------------------------------------

def read_results(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run(args) -> None:
    from nasdsl.formats.nb201 import arch_to_nb201
    space, data = load_space_and_data()
    tau_archs = table_archs(space, args.tau_archs)
    earlier = read_results(args.results)
    done = {(r["strategy"], r["seed"], r["epochs"]) for r in earlier}
    retrained = {r["nb201"]: r["retrain"] for r in earlier}  # RECIPE is deterministic: train each cell once
    args.results.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:            # every strategy once before any twice: a partial run is still a table
        for name in args.strategies:
            if (name, seed, args.epochs) in done:
                continue
            record = run_search(name, seed, args.epochs, args.runs)
            if record["nb201"] not in retrained:
                arch = space.validate(record["arch"])
                retrained[record["nb201"]] = {str(s): _timed(standalone, space, data, arch, s) for s in (0, 1)}
            record["retrain"] = retrained[record["nb201"]]
            if seed in TAU_SEEDS.get(name, ()) and args.tau_archs:
                start = time.process_time()
                accs = inherited_accuracies(space, data, name, seed, Path(record["run_dir"]), tau_archs)
                record["inherited"] = {arch_to_nb201(space, a): acc for a, acc in zip(tau_archs, accs)}
                record["tau_cpu_s"] = round(time.process_time() - start, 2)
            record["run_dir"] = os.path.relpath(record["run_dir"], ROOT)   # the repository's results name no machine
            with open(args.results, "a") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")
            test = [record["retrain"][s]["test_acc"] for s in ("0", "1")]
            print(f"{name:15s} seed {seed} {record['nb201']} retrained {sum(test) / 2:.4f} "
                  f"cpu {record['cpu_s']:.0f} s entropy {record['entropy']}", flush=True)


def _timed(fn, *args) -> dict:
    """`fn(*args)` (a dict) with the CPU seconds it took as `cpu_s`."""
    start = time.process_time()
    out = fn(*args)
    return {**out, "cpu_s": round(time.process_time() - start, 2)}


def report(results: list[dict], table_path: Path, epochs: int | None = None) -> str:
    """The result table (markdown) of `results` placed in the table at `table_path`."""
    rows = read_table(table_path)
    mean = mean_accuracy(rows)
    table = sorted(mean.values())
    # the price of one standalone training: CPU seconds of the retrainings measured here (CPU time,
    # as the searches'); the table's own wall seconds where none were measured
    cpus = [t["cpu_s"] for r in results for t in r["retrain"].values() if "cpu_s" in t]
    seconds = sum(cpus) / len(cpus) if cpus else sum(r["seconds"] for r in rows) / len(rows)
    noise = seed_noise(rows)
    median = table[len(table) // 2]
    pairs = {}
    for row in rows:
        pairs.setdefault(row["arch"], {})[row["seed"]] = row["test_acc"]
    both = [p for p in pairs.values() if len(p) == 2]
    ceiling = kendall_tau([p[0] for p in both], [p[1] for p in both]) if both else float("nan")
    lines = [f"table: {len(mean)} architectures, {len(rows)} rows, median {median:.4f}, 90th percentile "
             f"{table[int(0.9 * len(table))]:.4f}, best {table[-1]:.4f}; seed noise (std of one run) {noise:.4f}; "
             f"{seconds:.1f} s per standalone training; Kendall tau between the table's two seeds {ceiling:.3f} "
             f"({len(both)} architectures: the ceiling of any ranking against the table)", "",
             "| strategy | seeds | epochs | mean pct | mean acc | std acc | conv ops | entropy/max | cpu s "
             "| random@cpu: k | pct | acc | tau |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    max_entropy = math.log(5)  # the logged arch_entropy is the mean over NB201's six 5-way decisions
    order = list(STRATEGIES)
    for name in order:
        rs = [r for r in results if r["strategy"] == name and (epochs is None or r["epochs"] == epochs)]
        if not rs:
            continue
        accs = [sum(r["retrain"][s]["test_acc"] for s in ("0", "1")) / 2 for r in rs]
        pcts = [percentile(a, table) for a in accs]
        m = sum(accs) / len(accs)
        sd = math.sqrt(sum((a - m) ** 2 for a in accs) / max(1, len(accs) - 1))
        convs = [sum(v not in PARAMETER_FREE for v in r["arch"].values()) for r in rs]
        ents = [r["entropy"] / max_entropy for r in rs if r.get("entropy") is not None]
        cpu = sum(r["cpu_s"] for r in rs) / len(rs)
        rand = [random_search(rows, int(r["cpu_s"] / seconds), seed=r["seed"]) for r in rs]
        taus = []
        for r in (r for r in rs if r.get("inherited")):
            common = [a for a in r["inherited"] if a in mean]
            taus.append(kendall_tau([r["inherited"][a] for a in common], [mean[a] for a in common]))
        if name == "random_oneshot" and not taus:
            taus = _taus_of([r for r in results if r["strategy"] == "spos"], mean, epochs)
        lines.append(
            f"| {name} | {len(rs)} | {rs[0]['epochs']} | {sum(pcts) / len(pcts):.1f} | {m:.4f} | {sd:.4f} "
            f"| {sum(convs) / len(convs):.1f} | {(sum(ents) / len(ents)) if ents else float('nan'):.3f} "
            f"| {cpu:.0f} | {sum(r[2] for r in rand) / len(rand):.0f} | {sum(r[1] for r in rand) / len(rand):.1f} "
            f"| {sum(r[0] for r in rand) / len(rand):.4f} "
            f"| {(f'{sum(taus) / len(taus):.3f}' + (' (= spos)' if name == 'random_oneshot' else '')) if taus else '-'} |")
    lines += ["", "per run: strategy seed: found architecture, retrained (2-seed mean), percentile"]
    for r in results:
        if epochs is None or r["epochs"] == epochs:
            acc = sum(r["retrain"][s]["test_acc"] for s in ("0", "1")) / 2
            lines.append(f"    {r['strategy']:15s} {r['seed']}: {r['nb201']}  {acc:.4f}  {percentile(acc, table):5.1f}")
    return "\n".join(lines)


def _taus_of(rs: list[dict], mean: dict, epochs) -> list[float]:
    out = []
    for r in rs:
        if r.get("inherited") and (epochs is None or r["epochs"] == epochs):
            common = [a for a in r["inherited"] if a in mean]
            out.append(kendall_tau([r["inherited"][a] for a in common], [mean[a] for a in common]))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--tau-archs", type=int, default=100, help="table architectures scored for tau (0: none)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--runs", type=Path, default=RUNS)
    parser.add_argument("--table", type=Path, default=TABLE)
    parser.add_argument("--report", action="store_true", help="only print the table from --results")
    args = parser.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.strategies = [s.strip() for s in args.strategies.split(",")]
    unknown = [s for s in args.strategies if s not in STRATEGIES]
    if unknown:
        parser.error(f"unknown strategy {unknown[0]!r}; known: {', '.join(STRATEGIES)}")
    if not args.report:
        run(args)
    print(report(read_results(args.results), args.table, args.epochs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
