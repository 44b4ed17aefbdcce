"""The `nasdsl` command line.

User errors (a malformed `.nas` file, an architecture outside the space, a missing file)
print `file:line:col: message` with the offending line and exit 1; usage errors exit 2.
No user error prints a Python traceback. `--json` outputs are a stable contract.

Example::

    $ nasdsl info nasbench201
    $ nasdsl sample spaces/darts.nas -n 3 --seed 0
    $ nasdsl check spaces/*.nas
    $ nasdsl show darts -o darts.svg
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__, is_library, load_library, read_source, strategy
from .arch import arch_from_json, read_arch_text
from .errors import ArchitectureError, NasError, internal_error_message
from .limits import os_reason, show_path
from .options import parse_set
from .text import count_text, size_text


def load_space(path: str, sets: Sequence[str] | None = None, import_paths: Sequence[str] | None = None):
    from . import load
    return load(path, parse_set(sets), import_paths=import_paths or ())


def load_arch(space, text: str) -> dict[str, Any]:
    """An architecture given as a JSON file, inline JSON, a NAS-Bench-201 string or a DARTS
    genotype, read and parsed within the bounds of `nasdsl.limits` (`nasdsl.arch`)."""
    from .formats import genotype_to_arch, is_genotype, is_nb201_string, nb201_to_arch
    source = read_arch_text(text)
    if is_nb201_string(source):
        return nb201_to_arch(space, source)
    if is_genotype(source):
        return genotype_to_arch(space, source)
    if not source.lstrip().startswith(("{", "[", '"')) and not source.strip()[:1].isdigit():
        raise ArchitectureError(f"not an architecture: {source.strip()[:60]!r} is not JSON, a NAS-Bench-201 string "
                                f"or a DARTS genotype")
    return space.validate(arch_from_json(source))


# --- commands -------------------------------------------------------------------------------

def cmd_check(args) -> int:
    """Load each file (shapes, constraints, budgets), print its warnings, and with `--strategy`
    build that supernet and run one forward pass, so that what `compile` would refuse is
    reported here, at its place in the source."""
    from .analysis.lint import lint
    failed = 0
    for file in args.files:
        try:
            if not args.set and is_library(file):
                blocks = load_library(file, args.import_path or ())
                print(f"{file}: ok (op library: {count_text(len(blocks), 'block')})")
                continue
            space = load_space(file, args.set, args.import_path)
            report = space.check_budgets_feasible()
            for warning in lint(space):
                print(warning.render(), file=sys.stderr)
            if args.strategy is not None:
                _check_strategy(space, args.strategy)
            via = f", builds for {args.strategy}" if args.strategy is not None else ""
            print(f"{file}: ok ({count_text(len(space.decisions), 'decision')}, {size_text(report)}{via})")
        except NasError as err:
            failed += 1
            print(err.render(), file=sys.stderr)
    return 1 if failed else 0


def _check_strategy(space, strategy: str) -> None:
    """What `compile --strategy STRATEGY` does short of training and saving: build the
    supernet (or a sampled discrete model) and run one forward pass on a batch of the
    declared input shape; its refusals are `NasError`s located in the source."""
    _torch_modules()
    import random

    import torch
    inputs = []
    for t in space.template.inputs:
        if t.shape is None or any(not isinstance(d, int) for d in t.shape):
            raise NasError(f"input {t.name!r} needs a constant shape to run a pass", t.loc)
        inputs.append(torch.zeros(2, *t.shape))
    torch.manual_seed(0)
    sampled = space.sample(random.Random(0))
    _check_fits(space, sampled, strategy)  # as compile: refuse a model too large to build
    model = _build_model(space, strategy, sampled if strategy == "discrete" else None, 0)
    with torch.no_grad():
        model(*inputs)


def _build_model(space, strategy: str, arch, seed: int):
    """What `compile` builds (and `check --strategy` tries): the discrete model of `arch`, or
    the strategy's supernet, fixed to `arch` when one is given."""
    if strategy == "discrete":
        from .lower.discrete import build
        return build(space, arch)
    from .strategy import build_supernet
    model = build_supernet(space, strategy, seed=seed)
    if arch is not None:
        model.fix(arch)
    return model


def _list_ops(args) -> int:
    """`info --ops`: the op catalog (`nasdsl.ops.listing`), with any op registered in this process."""
    from .ops.listing import ops_rows, ops_text
    if args.file is not None:
        args.usage_error("--ops lists every op and takes no space")
    print(json.dumps(ops_rows(), indent=2) if args.json else ops_text())
    return 0


def cmd_info(args) -> int:
    if args.ops:
        return _list_ops(args)
    if args.file is None:
        args.usage_error("needs a .nas file or a built-in space name (or --ops for the op list)")
    space = load_space(args.file, args.set, args.import_path)
    report = space.check_budgets_feasible()
    data = space.to_json()
    data["budgets_counted"] = report.budgets_counted
    data["size_report"] = report.to_json()
    # the cheapest and dearest params and flops (MACs per sample): the analysis costs more than
    # the rest of a cold `info` together, so the text shows it only with --bounds (--json always
    # has it); worked out once per space and kept with its cache entry (`Space.remembered`)
    bounds = None
    if args.bounds or args.json:
        bounds = data["cost_bounds"] = space.remembered("cost_bounds", lambda: _cost_bounds_json(space))
    if args.arch is not None:
        from .analysis.shapes import costs
        data["arch"] = load_arch(space, args.arch)
        data.update(costs(space, data["arch"]))  # params (as torch counts them) and flops (MACs per sample)
    if args.json:
        print(json.dumps(data, indent=2, allow_nan=False))  # inputs are finite; NaN would not be JSON
        return 0
    _print_info(space, data, report, bounds)
    return 0


def _print_info(space, data: dict, report, bounds: dict | None) -> None:
    """`info`'s text: the space's inputs, its decisions as a table, constraints, size, and the
    bounds and the architecture where they were asked for."""
    print(f"{space.root_file}   fingerprint {data['fingerprint']}")
    if space.params:
        print("parameters: " + ", ".join(f"{k}={_show(v)}" for k, v in space.params.items()))
    shapes = ", ".join(f"{k}: {list(v) if v else '?'}" for k, v in space.input_shapes.items())
    print(f"inputs:     {shapes}")
    rows = [(d["label"], d["kind"], str(len(d["values"])), _values(d["values"]),
             d["condition"] or "") for d in data["decisions"]]
    header = ("label", "kind", "n", "values", "active when")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(5)]
    widths[3] = min(widths[3], 60)
    print()
    for r in [header] + rows:
        print("  ".join(c[:60].ljust(w) for c, w in zip(r, widths)).rstrip())
    for c in data["constraints"]:
        print(f"{c['kind']} {c['expr']}   ({c['where']})")
    print(f"\n{count_text(len(rows), 'decision')}, size {report} ({report.size:.3e})")
    if bounds is None:
        pass
    elif bounds["params"] is None:
        print(f"cheapest .. dearest: not known ({bounds.get('note', '')})")
    else:
        print(f"cheapest .. dearest: {_bound_text(bounds, 'params')}, {_bound_text(bounds, 'flops')} "
              f"(multiply-adds per sample)")
    if "arch" in data:
        print("\narchitecture: " + json.dumps(data["arch"]))
        print(f"params {data['params']:,}, flops (multiply-adds per sample) {data['flops']:,}")


def _cost_bounds_json(space) -> dict[str, Any]:
    from .analysis.bounds import cost_bounds
    return cost_bounds(space).to_json()


def _bound_text(bounds: dict[str, Any], metric: str) -> str:
    """`CostBounds.text` from its JSON form (`info` shows bounds a cached space remembers
    without importing the cost analysis): `params 73,306 .. 1,531,546`, an inexact end
    marked `>=` / `<=`."""
    pair = bounds[metric]
    if pair is None:
        return f"{metric} not bounded ({bounds.get('note', '')})"
    return (f"{metric} {'' if pair['min_exact'] else '>= '}{pair['min']:,} .. "
            f"{'' if pair['max_exact'] else '<= '}{pair['max']:,}")


def _show(v: Any) -> str:
    return json.dumps(v) if not isinstance(v, str) else v


def _values(values: list) -> str:
    text = ", ".join(json.dumps(v) if not isinstance(v, str) else v for v in values)
    return text if len(text) <= 60 else text[:56] + " ..."


MIN_UNIQUE_PATIENCE = 2_000  # draws in a row with nothing new before `sample --unique` gives up


def cmd_sample(args) -> int:
    import random
    space = load_space(args.file, args.set, args.import_path)
    if args.n < 0:
        raise NasError(f"-n must be at least 0, got {args.n}")
    rng = random.Random(args.seed)
    if args.unique:
        report = space.size_report()   # with budgets, counted exactly where the space is small
        if report.exact and args.n > report.size:
            within = " within its budgets" if report.budgets_counted and report.budgets else ""
            raise NasError(f"--unique: the space has only {count_text(report.size, 'architecture')}{within}, "
                           f"{args.n:,} were asked for")
    seen: set[str] = set()
    produced = stale = 0
    # budgets not counted exactly may keep fewer architectures than asked for: stop when this
    # many draws in a row found nothing new, rather than draw for ever
    patience = max(MIN_UNIQUE_PATIENCE, 20 * args.n)
    while produced < args.n:
        text = json.dumps(space.sample(rng, uniform=args.uniform), sort_keys=False)
        if args.unique:
            if text in seen:
                stale += 1
                if stale >= patience:
                    raise NasError(f"--unique: found {count_text(produced, 'distinct architecture')} of the {args.n:,} "
                                   f"asked for; {stale:,} draws in a row gave only those, so the space (within "
                                   f"its budgets) likely holds no more")
                continue
            seen.add(text)
            stale = 0
        print(text)
        produced += 1
    return 0


def cmd_fmt(args) -> int:
    from .syntax.fmt import format_source
    changed = 0
    for file in args.files:
        path = Path(file)
        text = read_source(path)
        formatted = format_source(text, file)
        if formatted != text:
            changed += 1
            if args.check:
                print(f"{file}: would reformat", file=sys.stderr)
            elif args.stdout:
                sys.stdout.write(formatted)
            else:
                path.write_text(formatted)
                print(f"{file}: reformatted", file=sys.stderr)
        elif args.stdout:
            sys.stdout.write(formatted)
    return 1 if (args.check and changed) else 0


def cmd_export(args) -> int:
    """Standalone PyTorch source for one architecture (`nasdsl.lower.export`); from a run
    directory (or an `--arch` in one) with the run's space parameters and input preprocessing."""
    try:
        from .lower.export import export_source
        from .ops.modules import import_ops
    except ModuleNotFoundError as err:
        if err.name != "torch":
            raise
        raise NasError("nasdsl export needs PyTorch: pip install 'nasdsl[torch]'") from None
    import_ops(args.ops or ())
    run, arch_text = _run_and_arch(args, "export")
    space = _run_space(args, run)
    source = export_source(space, load_arch(space, arch_text), preprocessing=run.preprocessing if run else None)
    if args.output is None:
        sys.stdout.write(source)
        return 0
    try:
        Path(args.output).write_text(source)
    except OSError as err:
        raise NasError(f"cannot write {show_path(args.output)}: {os_reason(err)}") from None
    return 0


def _run_space(args, run):
    """The space of `export` / `show`: SPACE with `--set`, or (from a run) the run's space."""
    if run is None:
        return load_space(args.file, args.set, args.import_path)
    if _is_dir(args.file):
        return run.space(parse_set(args.set), args.override)
    return run.space_from(lambda p: _load(args.file, p, args.import_path), args.file, parse_set(args.set),
                          args.override)


def cmd_show(args) -> int:
    """A picture of a space, or with `--arch` (or a run directory) of one architecture
    (`nasdsl.show`), as SVG or PNG by the name of `-o`."""
    from .show import arch_graph, render, space_graph
    if args.arch is None and not _is_dir(args.file):
        graph = space_graph(load_space(args.file, args.set, args.import_path))
    else:
        run, arch_text = _run_and_arch(args, "show")
        space = _run_space(args, run)
        graph = arch_graph(space, load_arch(space, arch_text))
    print(f"wrote {render(graph, args.output)}")
    return 0


def _load(file: str, params, import_paths):
    from . import load
    return load(file, params, import_paths=import_paths or ())


def _is_dir(text: str) -> bool:
    try:
        return Path(text).is_dir()
    except (OSError, ValueError):  # a name too long or with a NUL byte is no directory
        return False


def _run_and_arch(args, command: str):
    """(the run record or None, the architecture text) of `export` / `train`: `SPACE` may be a
    run directory (its `arch.json` unless `--arch` says otherwise), and an `--arch` file or
    directory inside a run brings that run's `run.json` (`nasdsl.run`)."""
    from .run import RUN_FILE, find_run
    arch = args.arch
    if arch is not None and _is_dir(arch):
        arch = str(Path(arch) / "arch.json")
    if _is_dir(args.file):
        run = find_run(args.file)
        if run is None:
            raise NasError(f"{args.file} is a directory without {RUN_FILE}: name a space (a .nas file or a built-in "
                           f"name) and --arch, or a run directory that `nasdsl search` wrote")
        return run, arch if arch is not None else str(Path(args.file) / "arch.json")
    if arch is None:
        raise NasError(f"nasdsl {command} {args.file} needs --arch ARCH (JSON, a file such as RUN/arch.json, an "
                       f"NB201 string or a genotype), or a run directory in place of {args.file}")
    try:
        is_file = Path(arch).is_file()
    except (OSError, ValueError):
        is_file = False
    return (find_run(arch) if is_file else None), arch


def _torch_modules():
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        raise NasError("this command needs PyTorch: pip install torch==2.13.0 'nasdsl[torch]'") from None


def _check_fits(space, arch, strategy: str, batch: int | None = None, force: bool = False) -> None:
    """Refuse, before building, a model whose weights would not fit in memory: from `costs()`
    of the architecture built (for a supernet, of one architecture: a lower bound). With
    `batch`, also one training step's activations from the shape analysis (refused, or with
    `force` a warning)."""
    from .analysis.shapes import activation_elements, costs
    from .limits import check_model_fits, check_step_fits
    what = "the model" if strategy == "discrete" else f"the {strategy} supernet (at least one architecture of it)"
    arch = space.validate(arch)
    params = costs(space, arch, validate=False)["params"]
    check_model_fits(params, what)
    if batch is None:
        return
    why = check_step_fits(params, activation_elements(space, arch), batch, what)
    if why is None:
        return
    if not force:
        raise NasError(f"{why}; use a smaller --batch or input, or --force to try anyway")
    print(f"warning: {why}; going on (--force)", file=sys.stderr)


def _test_batch(space, batch: int) -> list:
    """A random batch of `batch` samples for each input of `space`, of its declared shape."""
    import torch
    inputs = []
    for t in space.template.inputs:
        if t.shape is None or any(not isinstance(d, int) for d in t.shape):
            raise NasError(f"input {t.name!r} needs a constant shape to run a pass", t.loc)
        inputs.append(torch.randn(batch, *t.shape))
    return inputs


def _forward_backward(model, inputs: list, what: str) -> tuple[tuple, float, int, int]:
    """One training-mode forward and backward pass of `model` on `inputs`: its outputs (a
    tuple), the seconds it took, and the process's peak RSS (KiB) before and after it. PyTorch
    refusing what the analysis let by is a NasError naming the pass (`what`)."""
    import resource
    import time
    model.train()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    try:
        out = model(*inputs)
        outs = out if isinstance(out, tuple) else (out,)
        loss = sum(o.float().pow(2).mean() for o in outs)
        if loss.requires_grad:  # a path of parameter-free ops (all skips) has nothing to differentiate
            loss.backward()
    except (RuntimeError, ValueError, TypeError, IndexError) as err:  # torch refusing what the analysis let by
        raise NasError(f"{what} failed in PyTorch: {type(err).__name__}: {str(err)[:300]}") from None
    elapsed = time.perf_counter() - start
    return outs, elapsed, rss_before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def cmd_compile(args) -> int:
    """Build the supernet (or discrete model), run one forward/backward pass on a batch of the
    declared input shape, summarise it and write a checkpoint."""
    _torch_modules()
    import random

    import torch

    from .checkpoint import save_checkpoint
    from .ops.modules import import_ops
    if not 1 <= args.batch <= 65_536:
        raise NasError(f"--batch must be between 1 and 65,536, got {args.batch}")
    import_ops(args.ops or ())
    space = load_space(args.file, args.set, args.import_path)
    arch = load_arch(space, args.arch) if args.arch is not None else None
    torch.manual_seed(args.seed)
    if args.strategy == "discrete" and arch is None:
        arch = space.sample(random.Random(args.seed))
    _check_fits(space, arch if arch is not None else space.sample(random.Random(args.seed)), args.strategy,
                args.batch, args.force)
    model = _build_model(space, args.strategy, arch, args.seed)
    inputs = _test_batch(space, args.batch)
    what = f"the test pass of {space.root_file} (--strategy {args.strategy}, --batch {args.batch})"
    outs, elapsed, rss_before, rss_after = _forward_backward(model, inputs, what)
    weights = sum(p.numel() for p in model.parameters())
    arch_params = sum(p.numel() for p in getattr(model, "arch_parameters", lambda: [])())
    output = Path(args.output) if args.output else Path(f"{Path(space.root_file).stem}-{args.strategy}.pt")
    save_checkpoint(output, space, args.strategy, model, arch=arch,
                    metadata={"batch": args.batch, "seed": args.seed,
                              **({"cells": model.cells} if args.strategy != "discrete" else {})})
    summary = {
        "file": space.root_file, "fingerprint": space.fingerprint(), "strategy": args.strategy,
        "weights": weights, "arch_parameters": arch_params, "decisions": len(space.decisions),
        "size": space.size(), "output_shapes": [list(o.shape) for o in outs], "batch": args.batch,
        "time_ms": round(elapsed * 1000, 3), "peak_rss_mb": round(rss_after / 1024, 1),
        "peak_rss_increase_mb": round((rss_after - rss_before) / 1024, 1), "checkpoint": str(output),
    }
    if arch is not None:
        summary["arch"] = arch
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{space.root_file} -> {args.strategy} ({'one architecture' if args.strategy == 'discrete' else 'supernet'})")
    print(f"  weights          {weights:,}")
    print(f"  arch parameters  {arch_params:,}")
    print(f"  decisions        {len(space.decisions)} (space size {space.size():,})")
    print(f"  outputs          {', '.join(str(list(o.shape)) for o in outs)}")
    print(f"  forward+backward {elapsed * 1000:.1f} ms on batch {args.batch}; peak RSS {rss_after / 1024:.0f} MB "
          f"(+{(rss_after - rss_before) / 1024:.0f} MB during the pass)")
    print(f"  checkpoint       {output}  (nasdsl.checkpoint.load_checkpoint)")
    return 0


# --- parser ---------------------------------------------------------------------------------


def cmd_fit_latency(args) -> int:
    from .search.latency import fit_latency
    return fit_latency(args.table, args.column, args.output, args.space)


def cmd_trials(args) -> int:
    from .search.trials import show_trials
    return show_trials(args.storage, top=args.top, as_json=args.json, study=args.study, pareto=args.pareto)


OVERRIDE_HELP = ("let --set change the parameters of the run the architecture comes from (e.g. a wider network "
                 "for the cell a narrow search found); without it a contradicting --set is an error")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; given the `command` about to run, only that command's options that
    need heavy imports are added (`search`'s come from every strategy driver)."""
    parser = argparse.ArgumentParser(prog="nasdsl", description="Declarative neural-architecture search spaces.")
    parser.add_argument("--version", action="version", version=f"nasdsl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_set(p):
        p.add_argument("--set", action="append", metavar="NAME=VALUE",
                       help="override a `param` of the space (repeatable; lists as JSON: --set 'ks=[3, 5]')")
        p.add_argument("--import-path", action="append", metavar="DIR",
                       help="also let imports read .nas files under DIR (repeatable; absolute imports need it)")
        return p

    p = with_set(sub.add_parser("check", help="validate .nas files"))
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--strategy", choices=[*strategy.ONE_SHOT, "discrete"],
                   help="also build this supernet and run one pass: report what `compile --strategy` would refuse")
    p.set_defaults(func=cmd_check)

    p = with_set(sub.add_parser("info", help="the decisions of a space and its exact size; --ops: every op"))
    p.add_argument("file", metavar="FILE", nargs="?", help="a .nas file or a built-in space name")
    p.add_argument("--ops", action="store_true",
                   help="list every op instead: its signature, argument domains and supernet form (with --json: as JSON)")
    p.add_argument("--json", action="store_true", help="print a JSON object (size, fingerprint, decisions, ...)")
    p.add_argument("--arch", metavar="ARCH", help="also validate an architecture (JSON, file, NB201 string, genotype)")
    p.add_argument("--bounds", action="store_true",
                   help="also show the cheapest and dearest params and FLOPs (always in --json)")
    p.set_defaults(func=cmd_info, usage_error=p.error)

    p = with_set(sub.add_parser("sample", help="draw architectures as JSON lines"))
    p.add_argument("file", metavar="FILE")
    p.add_argument("-n", type=int, default=1, help="how many (default 1)")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--unique", action="store_true", help="no architecture twice")
    p.add_argument("--uniform", action="store_true",
                   help="uniform over architectures (default: each decision uniform, as NNI's random strategy)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("fmt", help="format .nas files canonically (comments kept)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--check", action="store_true", help="exit 1 if a file would change; change nothing")
    p.add_argument("--stdout", action="store_true", help="print the result instead of rewriting files")
    p.set_defaults(func=cmd_fmt)

    p = with_set(sub.add_parser("compile", help="build a supernet or a discrete model, run one pass, save it"))
    p.add_argument("file", metavar="FILE", help="a .nas file or a built-in space name")
    p.add_argument("--strategy", required=True, choices=[*strategy.ONE_SHOT, "discrete"])
    p.add_argument("--arch", metavar="ARCH", help="the architecture (discrete: default a sample; supernets: fix it)")
    p.add_argument("-o", "--output", metavar="OUT.pt", help="checkpoint path (default: SPACE-STRATEGY.pt)")
    p.add_argument("--force", action="store_true",
                   help="build even where one training step is estimated not to fit in memory (a warning)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--batch", type=int, default=8, help="batch size of the test pass (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, inputs and sampling (default 0)")
    p.add_argument("--ops", action="append", metavar="MODULE",
                   help="import a Python module that registers custom ops (repeatable)")
    p.set_defaults(func=cmd_compile)

    p = with_set(sub.add_parser("export", help="standalone PyTorch source for one architecture"))
    p.add_argument("file", metavar="SPACE|RUN_DIR",
                   help="a .nas file, a built-in space name, or a search's run directory (its arch.json, "
                        "space parameters and input preprocessing)")
    p.add_argument("--arch", metavar="ARCH",
                   help="JSON, a JSON file (in a run directory: with the run's parameters), an NB201 string or a "
                        "genotype (default with a run directory: its arch.json)")
    p.add_argument("--override", action="store_true", help=OVERRIDE_HELP)
    p.add_argument("-o", "--output", metavar="OUT.py", help="write here (default: print to stdout)")
    p.add_argument("--ops", action="append", metavar="MODULE",
                   help="import a Python module that registers custom ops (repeatable)")
    p.set_defaults(func=cmd_export)

    p = with_set(sub.add_parser("show", help="draw a space, or one architecture, as SVG or PNG (Graphviz)"))
    p.add_argument("file", metavar="SPACE|RUN_DIR",
                   help="a .nas file, a built-in space name, or a search's run directory (draws its arch.json)")
    p.add_argument("--arch", metavar="ARCH|RUN_DIR",
                   help="draw this architecture: JSON, a JSON file, a run directory, an NB201 string or a genotype")
    p.add_argument("--override", action="store_true", help=OVERRIDE_HELP)
    p.add_argument("-o", "--output", required=True, metavar="FILE.svg|FILE.png", help="the picture to write")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("search", help="search a space: one-shot (a supernet, Lightning) or multi-trial")
    if command in (None, "search"):
        from .search.command import add_arguments
        add_arguments(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("trials", help="the best trials of a multi-trial search's store")
    p.add_argument("storage", metavar="STORAGE", help="a search's --out DIR, its exp.db, or a storage URL")
    p.add_argument("--top", type=int, default=10, metavar="N", help="how many (default 10; 0: all)")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument("--pareto", action="store_true",
                   help="a multi-objective search's Pareto front (the default for one)")
    p.add_argument("--study", default="nasdsl", metavar="NAME", help="experiment name in the storage (default nasdsl)")
    p.set_defaults(func=cmd_trials)

    p = sub.add_parser("fit-latency", help="fit an additive latency lookup table to a benchmark table's measurements")
    p.add_argument("table", metavar="TABLE", help="a CSV (optionally .gz) keyed by NAS-Bench-201 string (`arch` column)")
    p.add_argument("--column", required=True, metavar="NAME", help="the measured latency column, e.g. latency_pixel3")
    p.add_argument("-o", "--output", required=True, metavar="LUT.json", help="where to write the lookup table")
    p.add_argument("--space", default="nasbench201", metavar="SPACE", help="the space the table's rows belong to")
    p.set_defaults(func=cmd_fit_latency)

    p = with_set(sub.add_parser("train", help="train one architecture on real data and report its test accuracy"))
    p.add_argument("file", metavar="SPACE|RUN_DIR", help="a .nas file, a built-in space name or a search's run directory")
    p.add_argument("--arch", metavar="ARCH",
                   help="JSON, a JSON file (a search's DIR/arch.json brings the run's space parameters, data and "
                        "seed), an NB201 string or a genotype (default with a run directory: its arch.json)")
    p.add_argument("--data", metavar="DATA",
                   help="digits | mnist5k | cifar10:DIR | pkg.module:factory (default: the run's)")
    p.add_argument("--override", action="store_true", help=OVERRIDE_HELP)
    p.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--lr", type=float, default=0.05, help="initial SGD learning rate, cosine schedule (default 0.05)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the data split and the weights (default: the run's, else 0)")
    p.add_argument("--inherit", metavar="DIR/last.ckpt", help="start from a search's supernet weights")
    p.add_argument("--out", metavar="DIR", help="write model.pt and result.json here (default runs/SPACE-train)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--accelerator", default="auto", metavar="auto|cpu|gpu",
                   help="where to train (default auto: a GPU where one is visible)")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("lsp", help="a language server for editors (LSP over stdio)")
    p.add_argument("--import-path", action="append", metavar="DIR",
                   help="also let imports read .nas files under DIR (repeatable)")
    p.set_defaults(func=cmd_lsp)
    for p in sub.choices.values():
        p.add_argument("--verbose", action="store_true",
                       help="also show Lightning's info lines and third-party deprecation warnings")
    return parser


def cmd_lsp(args) -> int:
    """`nasdsl lsp`: the language server (`nasdsl.lsp`), which needs the `lsp` extra."""
    try:
        from .lsp import serve
    except ImportError as err:
        missing = (err.name or "pygls").split(".")[0]
        raise NasError(f"nasdsl lsp needs pygls ({missing} is not installed)", hint="pip install 'nasdsl[lsp]'") from None
    return serve(tuple(args.import_path or ()))


def cmd_search(args) -> int:
    """`nasdsl search`: the shared entry point (`nasdsl.search`), one-shot or multi-trial."""
    from .search.command import run
    if strategy.kind(args.strategy) == "one-shot":
        _torch_modules()
    return run(args)


def _space_to_train(args, run, data, data_spec: str):
    """The space `nasdsl train` trains in: the file's, its parameters fitted to `data`; or, with
    a run, the run's space as it stored it (built again with other parameters on other data, or
    with --override, noting on stderr which fitted parameters are fitted again)."""
    from .data import fit_space
    sets = parse_set(args.set)
    if run is None:
        return fit_space(lambda params: _load(args.file, params, args.import_path), data, sets)
    given = f"{args.file} as {run.path} stores it" if _is_dir(args.file) else args.file
    load = run.load if _is_dir(args.file) else (lambda params: _load(args.file, params, args.import_path))
    if data_spec == run.data and not args.override:
        return run.space_from(lambda params: fit_space(load, data, params), given, sets)
    # other data, or --override: the run's space, built with other parameters
    run.space_from(load, given)
    refit = data_spec != run.data
    space = fit_space(load, data, run.params_for(sets, refit=refit, override=args.override))
    if refit:
        print(f"note: training on {data_spec}, not the run's {run.data}: the parameters the search "
              f"fitted ({', '.join(f'{k}={v}' for k, v in run.fitted.items()) or 'none'}) are fitted to it "
              f"again", file=sys.stderr)
    return space


def cmd_train(args) -> int:
    """Train one architecture from scratch (or from a search's supernet) and test it; an
    `--arch` of a run directory (or the directory in place of SPACE) brings the run's space
    parameters, data and seed (`nasdsl.run`)."""
    _torch_modules()
    from .data import load_data
    from .train import train_architecture
    if args.epochs < 0:
        raise NasError(f"--epochs must be at least 0, got {args.epochs}")
    run, arch_text = _run_and_arch(args, "train")
    data_spec = args.data or (run.data if run is not None else None)
    if data_spec is None:
        raise NasError("nasdsl train needs --data (digits | mnist5k | cifar10:DIR | pkg.module:factory)"
                       + (f": {run.path} records none" if run is not None else ""))
    seed = args.seed if args.seed is not None else (run.seed if run is not None and run.seed is not None else 0)
    data = load_data(data_spec, seed)
    space = _space_to_train(args, run, data, data_spec)
    arch = load_arch(space, arch_text)
    out = Path(args.out) if args.out else Path("runs") / f"{Path(space.root_file).stem}-train"
    from .run import check_run_dir
    check_run_dir(out)
    inherit = None
    if args.inherit:
        from .train import inherited_weights
        inherit = inherited_weights(space, arch, args.inherit)

    def progress(epoch, metrics):
        print(f"epoch {epoch + 1}/{args.epochs}: train loss {metrics['train_loss']:.4f}", file=sys.stderr)

    from .search.devices import torch_device
    result = train_architecture(space, arch, data, args.epochs, seed, batch_size=args.batch_size, lr=args.lr,
                                inherit=inherit, out=out, progress=progress, device=torch_device(args.accelerator))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"architecture: {json.dumps(arch)}")
    print(f"  test accuracy  {100 * result['test_acc']:.2f}%   (validation {100 * result['val_acc']:.2f}%)")
    print(f"  parameters     {result['params']:,}")
    print(f"  flops          {result['flops']:,} multiply-adds per sample")
    print(f"  trained        {args.epochs} epochs in {result['seconds']:.1f} s"
          f"{' from the supernet' if inherit is not None else ' from scratch'}")
    print(f"  wrote          {out}/model.pt, {out}/result.json")
    return 0


_COMMANDS = ("check", "info", "sample", "fmt", "compile", "export", "show", "search", "trials", "fit-latency", "train", "lsp")
INTERNAL_ERROR = 70  # EX_SOFTWARE: nasdsl itself failed, not the input
# Commands run as a process of their own without the cyclic garbage collector: their heap is
# one compiled space that lives until the process ends, so the collector finds nothing, but its
# passes over that heap cost a cold `info` 5-8% of its CPU. (Not when `main` is called in a
# program of the caller's, with `argv` given: that program's collector is left alone.)
_WITHOUT_COLLECTOR = ("info",)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. A `NasError` prints its located message and exits 1; anything else is
    a bug in nasdsl, reported as an internal error with a request to report it (exit 70); the
    traceback is printed only when the environment sets NASDSL_DEBUG=1."""
    given = list(sys.argv[1:] if argv is None else argv)
    command = given[0] if given and given[0] in _COMMANDS else None
    if argv is None and command in _WITHOUT_COLLECTOR:
        gc.disable()
    parser = build_parser(command)
    args = parser.parse_args(given)
    from .quiet import quiet
    try:
        with quiet(args.verbose):
            return args.func(args)
    except NasError as err:
        print(err.render(), file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - the last resort: no bare traceback reaches the user
        if isinstance(err, OSError) and err.filename is not None:
            # a path the system refuses (too long, no permission, a full disk): the user's input
            # or machine, said in one line with the path capped, not a bug
            print(f"nasdsl: cannot use {show_path(err.filename)}: {os_reason(err)}", file=sys.stderr)
            return 1
        if os.environ.get("NASDSL_DEBUG", "") not in ("", "0"):
            raise
        print(internal_error_message(err, argv if argv is not None else sys.argv[1:]), file=sys.stderr)
        return INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
