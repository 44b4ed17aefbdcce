"""The one-shot search driver: a supernet trained by a strategy's LightningModule on real data.

Everything that can be wrong is checked before anything is written: the strategy fits the
space (the supernet builds), the space fits the data (adapted through its parameters, one
batch runs), the options exist, and with `--resume` the directory holds a readable checkpoint
of the same space and strategy. Then Lightning trains with its progress bar and writes into
`--out DIR`:

* `search.json` — space, parameters, fingerprint, strategy and options of this search;
* `run.json` — what `arch.json` needs to be rebuilt and deployed (`nasdsl.run`): the space's
  sources, fingerprint and parameters (`--set` and fitted to the data), the data's split and
  input preprocessing; `nasdsl export DIR` and `nasdsl train SPACE --arch DIR/arch.json` read it;
* `logs/metrics.csv` — Lightning's CSV log: loss, accuracy, architecture entropy per epoch;
* `last.ckpt` — weights, optimizer and loop states and the search state (tensors and plain
  data: `torch.load(weights_only=True)` reads it); `--resume` continues from it;
* `arch.json`, `probs.json` — the architecture found and its probabilities, plus
  `arch.nb201` / `arch.genotype` where the space has that text form;
* `arch.png` — the architecture found (`nasdsl.show`; `arch.dot` where Graphviz is not installed);
* `arch_weights.png` — every decision's probabilities over the epochs, in the space's order;
* `curves.png` — training and validation loss and accuracy per epoch (`nasdsl.search.plots`);
* `evolution.json` (spos), `retrain.json` (with `--retrain N`) and `control.json` (with
  `--retrain N`: `--control` random architectures retrained the same way, `nasdsl.search.control`).

At the end it prints the architecture found, one warning line when the strategy's distribution
is still near uniform (`nasdsl.strategy.oneshot.near_uniform`), and with `--retrain` the found
architecture's test accuracy beside its control's.

Example::

    $ nasdsl search nasbench201 --set C=8 --set N=1 --strategy darts --data mnist5k --epochs 10 --retrain 2
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import NasError
from ..limits import os_reason, show_path


def add_arguments(group) -> None:
    """Options of one-shot search (the common ones are in `nasdsl.search`)."""
    group.add_argument("--order", type=int, choices=(1, 2), default=1, help="darts: 2 for the second-order gradient")
    group.add_argument("--batch-size", type=int, default=64, help="batch size of each half (default 64)")
    group.add_argument("--devices", type=int, default=1,
                       help="devices, one process each (Lightning DDP: gloo on CPU, NCCL on GPUs; default 1)")
    group.add_argument("--num-nodes", type=int, default=1, metavar="N",
                       help="machines (Lightning's launcher: torchrun or SLURM sets the ranks; default 1)")
    group.add_argument("--resume", action="store_true", help="continue the search in --out from its last.ckpt")
    group.add_argument("--retrain", type=int, default=0, metavar="EPOCHS",
                       help="after the search, train the architecture found from scratch and report test accuracy")
    group.add_argument("--control", type=int, default=None, metavar="N",
                       help="with --retrain: also retrain N random architectures of the space the same way and "
                            "report their median beside the found one (default 3; 0: none)")
    group.add_argument("--arch-data", choices=("half", "val"), default="half",
                       help="architecture batches from the other half of the training data (DARTS) or the val split")
    group.add_argument("--penalty", metavar="params|flops|TABLE.json",
                       help="hardware-aware penalty on the expected cost (darts, gumbel, proxyless)")
    group.add_argument("--penalty-target", type=float, default=None,
                       help="cost the penalty aims at (default: the expected cost under uniform weights)")
    group.add_argument("--penalty-form", choices=("mul", "add"), default="mul",
                       help="mul: loss * (cost/target)^beta (ProxylessNAS); add: loss + weight * cost/target")
    group.add_argument("--penalty-beta", type=float, default=0.6, help="exponent of the mul form (default 0.6)")
    group.add_argument("--penalty-weight", type=float, default=0.1, help="weight of the add form (default 0.1)")
    group.add_argument("--passes", metavar="NAME,...|default|all|none", default="default",
                       help="the supernet's rewrite passes (nasdsl.lower.passes): default (all but recompute_pure; "
                            "channels_last alone in path and gated supernets), all, none, or names, e.g. "
                            "drop_zero,fold_bn,channels_last")
    group.add_argument("--cells", choices=("edge", "slot"), default=None,
                       help="darts, gumbel: how a cell(...) is relaxed: edge (default; DARTS's softmax over each "
                            "edge's ops and a zero op, DARTS's genotype on export) or slot (each op slot's input "
                            "choice times its op choice)")
    group.add_argument("--recompute", action="store_true",
                       help="recompute each mixture in backward (activation checkpointing): less memory, more time")
    group.add_argument("--task", metavar="pkg.module:factory",
                       help="a LightningModule of your own (its model is the supernet; see nasdsl.strategy.oneshot)")


def _passes(text: str) -> tuple[str, ...] | None:
    """`--passes`: None for the default, else the names (checked when the supernet builds)."""
    from ..lower.passes import PASSES
    if text == "default":
        return None
    if text == "all":
        return PASSES
    return () if text == "none" else tuple(p.strip() for p in text.split(",") if p.strip())


def run(args: argparse.Namespace) -> int:
    """Run a one-shot search; returns the exit status."""
    import torch

    from .. import load
    from .. import strategy as registry
    from ..data import check_classes, fit_space_params, load_data
    from ..options import parse_pairs, parse_set
    from ..run import write_run

    rank = _rank()   # on several machines only the first writes
    name = args.strategy
    spec = registry.declared(name)
    _check_args(args, spec)
    options = parse_pairs(args.option, "--option")
    torch.manual_seed(args.seed)
    data = load_data(args.data, args.seed)
    sets = parse_set(args.set)
    space, fitted = fit_space_params(lambda params: load(args.file, params), data, sets)
    supernet = registry.build_supernet(space, name, seed=args.seed, passes=_passes(args.passes),
                                       checkpoint=args.recompute, cells=args.cells or "edge")
    penalty = _penalty(args, space, name, spec)
    if penalty is not None and fitted:
        _report_refit(args, space, lambda: load(args.file, sets))
    extra = {flag: getattr(args, flag) for flag in spec.flags}   # the driver's options it takes (darts: --order)
    module = _strategy(args, name, spec, supernet, penalty, options, extra)
    _dry_run(supernet, data, space, check_classes)

    out = Path(args.out) if args.out else Path("runs") / f"{Path(space.root_file).stem}-{name}"
    meta = {"space": space.root_file, "params": json.dumps(space.params, sort_keys=True, default=str),
            "fingerprint": space.fingerprint(), "strategy": name,
            "options": json.dumps({**options, **extra}, sort_keys=True)}
    if supernet.policy.cell_edges or args.cells == "slot":   # a space with cells: their relaxation shapes alpha
        meta["cells"] = supernet.cells
    ckpt = _claim(args, out, meta, module, rank)
    module.meta = meta
    if rank == 0:
        _write_json(out / "search.json", {**meta, "params": space.params, "options": {**options, **extra},
                                          "data": args.data, "seed": args.seed, "epochs": args.epochs,
                                          "batch_size": args.batch_size, "devices": args.devices,
                                          "passes": sorted(supernet.passes), "recompute": args.recompute})
        write_run(out, space, sets, fitted, data, args.seed, args.data)

    search_loader, val_loader = _loaders(args, data, module, spec)
    trainer = _trainer(args, out)
    if ckpt is not None and rank == 0:
        _keep_log(trainer, ckpt, out)
    _fit(trainer, module, search_loader, val_loader, out / "last.ckpt" if args.resume else None)
    if trainer.global_rank != 0:
        return 0
    if args.devices > 1:
        _write_json(out / "ranks.json", {"rows": module.agreement,
                                         "columns": ["arch hash", "weights sum", "all sum", "buffers sum"]})
    arch = _write_results(out, space, name, module, spec)
    if args.retrain:
        _retrain(args, space, arch, data, out)
    print(f"wrote {out}/: arch.json, arch.png, probs.json, arch_weights.png, curves.png, last.ckpt, logs/")
    return 0


def _rank() -> int:
    """This process's global rank (torchrun: RANK, SLURM: SLURM_PROCID; 0 alone)."""
    return int(os.environ.get("RANK") or os.environ.get("SLURM_PROCID") or os.environ.get("LOCAL_RANK") or 0)


def _report_refit(args: argparse.Namespace, space, unfitted) -> None:
    """Where the data refitted the space's parameters, how a `--penalty-target` on params or
    flops moved with them (`nasdsl.analysis.refit`); `unfitted()` loads the space as --set gives it."""
    if args.penalty_target is not None and args.penalty in ("params", "flops"):
        from ..analysis.refit import report, target_shift
        report([target_shift(unfitted(), space, args.penalty, args.penalty_target)])


def _strategy(args: argparse.Namespace, name: str, spec, supernet, penalty, options: dict[str, Any],
              extra: dict[str, Any]):
    """The strategy's LightningModule with its `--option`s (refusing one its constructor does not
    take) and `extra`, the driver's own options it declares (`spec.flags`)."""
    from .. import strategy as registry
    task = _task(args.task) if args.task else None
    strategy_cls = registry.module(name).Strategy
    accepted = _accepted(strategy_cls, spec.flags)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise NasError(f"{name} has no option {unknown[0]!r}; its options: {', '.join(sorted(accepted))}")
    return strategy_cls(supernet, penalty=penalty, task=task, seed=args.seed, **extra, **options)


def _claim(args: argparse.Namespace, out: Path, meta: dict[str, str], module, rank: int) -> dict | None:
    """Claim `out` (rank 0) and, with `--resume`, read its checkpoint of the same search (which
    is returned), else refuse a directory that holds one."""
    from ..checkpoint import check_weights, load_search_checkpoint
    from .outdir import claim, prepare
    ckpt_path = out / "last.ckpt"
    if rank == 0:
        claim(prepare(out), shared=False)   # a second search into this --out is refused while this one runs
    if args.resume:
        ckpt = load_search_checkpoint(ckpt_path)
        _same_search(ckpt["nasdsl"], meta, ckpt_path)
        check_weights(ckpt["state_dict"], module, f"--resume: {show_path(ckpt_path)}")
        return ckpt
    if _exists(ckpt_path):
        raise NasError(f"{show_path(out)} already holds a search (last.ckpt): pass --resume to continue it, or another --out")
    return None


def _keep_log(trainer, ckpt: dict, out: Path) -> None:
    """Keep the log of the epochs a resumed checkpoint holds (Lightning would drop it)."""
    done = ckpt.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {}).get("current", {})
    earlier = _logged_before(out / "logs" / "metrics.csv", int(done.get("processed", ckpt["epoch"])))
    writer = trainer.logger.experiment
    writer.metrics = earlier + writer.metrics


def _fit(trainer, module, search_loader, val_loader, resume: Path | None) -> None:
    """Train; a Ctrl-C (Lightning's shutdown exits 1) is a KeyboardInterrupt, exit status 130."""
    try:
        trainer.fit(module, train_dataloaders=search_loader, val_dataloaders=val_loader,
                    ckpt_path=str(resume) if resume is not None else None)
    except SystemExit:
        if trainer.interrupted:
            raise KeyboardInterrupt from None
        raise


def _check_args(args: argparse.Namespace, spec) -> None:
    """Refuse, before anything loads, options that cannot go together or are out of range, or
    that the strategy (what it declares, `spec`) does not take."""
    name = args.strategy
    if args.data is None:
        raise NasError("one-shot search needs --data (digits, mnist5k, cifar10:DIR or pkg.module:factory)")
    if args.epochs < 1:
        raise NasError(f"--epochs must be at least 1, got {args.epochs}")
    if args.devices < 1:
        raise NasError(f"--devices must be at least 1, got {args.devices}")
    if args.control is not None and args.control < 0:
        raise NasError(f"--control must be at least 0, got {args.control}")
    if args.control and not args.retrain:
        raise NasError(f"--control {args.control}: the control needs --retrain EPOCHS (it is retrained with the "
                       "found architecture's recipe)")
    if args.order == 2 and "order" not in spec.flags:
        raise NasError(f"--order 2 is darts's second-order gradient; {name} has no order")
    if args.cells is not None and not spec.cells:
        raise NasError(f"--cells is how darts and gumbel relax a cell; {name} runs one path at a time")


def _loaders(args: argparse.Namespace, data, module, spec):
    """The search's loader of pairs (weight batch, architecture batch: the training data's two
    halves, or training and validation data with `--arch-data val`) and its validation loader;
    SPOS's evolution gets its own training and validation loaders."""
    import torch

    from ..data import EpochShuffle, PairedDataset
    generator = torch.Generator().manual_seed(args.seed)
    if args.arch_data == "val":
        pairs = PairedDataset(data.train, data.val)
    else:
        order = torch.randperm(len(data.train), generator=generator).tolist()
        half = len(order) // 2
        sub = torch.utils.data.Subset
        pairs = PairedDataset(sub(data.train, order[:half]), sub(data.train, order[half: 2 * half]))
    search_loader = torch.utils.data.DataLoader(pairs, batch_size=args.batch_size,
                                                sampler=EpochShuffle(len(pairs), args.seed),
                                                drop_last=len(pairs) > args.batch_size)
    if spec.second_stage == "evolution":
        module.evolution_data = (data.loader("train", args.batch_size, shuffle=True, seed=args.seed),
                                 data.loader("val", 256))
        module.progress = lambda line: print(line, file=sys.stderr, flush=True)
    return search_loader, data.loader("val", 256)


def _write_results(out: Path, space, name: str, module, spec) -> dict[str, Any]:
    """Write what the search found (arch.json, probs.json, its NB201 string or genotype, SPOS's
    evolution log, the two plots), print it, and return the architecture."""
    from ..arch import arch_to_json
    from ..show import save_arch_picture
    from .plots import plot_curves
    arch = module.export()
    probs = module.export_probs()
    _write_text(out / "arch.json", arch_to_json(arch) + "\n")
    _write_json(out / "probs.json", probs)
    texts = _text_forms(space, arch)
    for suffix, text in texts.items():
        _write_text(out / f"arch.{suffix}", text + "\n")
    if spec.second_stage == "evolution" and module.evolution_log:
        _write_json(out / "evolution.json", module.evolution_log)
    title = f"{Path(space.root_file).stem}: {name}"
    plot_history(module.history, out / "arch_weights.png", title=title, order=space.labels())
    plot_curves(out / "logs" / "metrics.csv", out / "curves.png", title=title)
    _, note = save_arch_picture(space, arch, out)
    if note:
        print(note, file=sys.stderr)
    print(f"architecture ({name}): {json.dumps(arch)}")
    for suffix, text in texts.items():
        print(f"  {suffix}: {text}")
    stall = stall_line(module, probs)
    if stall:
        print(stall)
    return arch


def stall_line(module, probs: dict[str, dict[str, float]]) -> str | None:
    """The one line that says a search left its distribution near uniform, with what to change
    (None when it moved, or when the strategy learns no distribution)."""
    from ..strategy.oneshot import near_uniform
    if not module.learns_distribution:
        return None
    why = near_uniform(probs, module.gate_labels())
    if why is None:
        return None
    return (f"warning: the architecture distribution stayed near uniform ({why}), so the architecture found is "
            f"close to a random draw; {module.stall_advice()}")


def _retrain(args, space, arch, data, out: Path) -> None:
    """`--retrain`: the found architecture from scratch, then `--control` random ones the same way."""
    from ..train import train_architecture
    from .control import run_control, summary
    result = train_architecture(space, arch, data, args.retrain, args.seed, batch_size=args.batch_size,
                                out=out / "retrain")
    _write_json(out / "retrain.json", result)
    print(f"retrained {args.retrain} epochs from scratch: test accuracy {100 * result['test_acc']:.2f}% "
          f"(val {100 * result['val_acc']:.2f}%), {result['params']:,} parameters, "
          f"{result['flops']:,} multiply-adds per sample, {result['seconds']:.0f} s")
    n = 3 if args.control is None else args.control
    if n:
        control = run_control(space, data, result, n, args.retrain, args.seed, args.batch_size)
        _write_json(out / "control.json", control)
        print(summary(control))


# --- checks --------------------------------------------------------------------------------------

def _logged_before(path: Path, epoch: int) -> list[dict[str, str]]:
    """The rows of an earlier run's metrics.csv for epochs before `epoch`."""
    import csv
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return []
    return [{k: v for k, v in r.items() if v != ""} for r in rows if r.get("epoch") and int(float(r["epoch"])) < epoch]


def _same_search(stored: dict, meta: dict, path: Path) -> None:
    if stored.get("fingerprint") != meta["fingerprint"]:
        raise NasError(f"--resume: {path} was searched on another space (fingerprint {stored.get('fingerprint')}, "
                       f"this space {meta['fingerprint']}); use the same space, --set and --data, or another --out")
    if stored.get("strategy") != meta["strategy"]:
        raise NasError(f"--resume: {path} is a {stored.get('strategy')} search, not {meta['strategy']}")
    if stored.get("cells", "slot") != meta.get("cells", "slot"):   # before edges, cells mixed by slot
        raise NasError(f"--resume: {path} relaxed its cells by {stored.get('cells', 'slot')}, now by "
                       f"{meta.get('cells', 'slot')}; pass --cells {stored.get('cells', 'slot')}")
    if stored.get("options") != meta["options"]:
        raise NasError(f"--resume: {path} was searched with options {stored.get('options')}, now {meta['options']}")


def _accepted(cls, flags: tuple[str, ...] = ()) -> set[str]:
    """The `--option` names a strategy class's constructors take (not those the driver passes)."""
    from ..strategy.oneshot import OneShot
    names = set()
    for klass in cls.__mro__[: cls.__mro__.index(OneShot) + 1]:
        if "__init__" in vars(klass):
            names |= {name for name, p in inspect.signature(klass.__init__).parameters.items()
                      if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                      and name not in ("self", "supernet", "penalty", "task", "seed", *flags)}
    return names


def _penalty(args, space, name: str, spec):
    from .. import strategy as registry
    if not args.penalty:
        return None
    if not spec.penalty:
        weighted = [n for n in registry.ONE_SHOT if registry.declared(n).penalty]
        raise NasError(f"--penalty needs architecture weights: {', '.join(weighted)}; {name} has none")
    from ..strategy.penalty import CostPenalty
    return CostPenalty(space, args.penalty, target=args.penalty_target, form=args.penalty_form,
                       beta=args.penalty_beta, weight=args.penalty_weight)


def _task(spec: str):
    from ..usercode import import_attribute
    factory = import_attribute(spec, "--task")
    task = factory()
    if not (hasattr(task, "training_step") and hasattr(task, "configure_optimizers")):
        raise NasError(f"--task {spec!r}: the factory must return a LightningModule, got {type(task).__name__}")
    return task


def _dry_run(supernet, data, space, check_classes) -> None:
    """One small batch through the supernet: the data fits and the classes agree."""
    import torch
    x = torch.stack([data.val[i][0] for i in range(min(2, len(data.val)))])
    supernet.eval()
    try:
        with torch.no_grad():
            out = supernet(x)
    except RuntimeError as err:
        raise NasError(f"{space.root_file}: a batch of {data.name} does not run through the network: "
                       f"{str(err).splitlines()[0]}") from None
    finally:
        supernet.train()
    if out.dim() != 2:
        raise NasError(f"{space.root_file}: the network's output has shape {list(out.shape)}; classification needs "
                       "[batch, classes]")
    check_classes(space, data, out.shape[-1])


def _trainer(args, out: Path):
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint
    from pytorch_lightning.loggers import CSVLogger

    from ..quiet import lightning
    lightning()  # its info lines off, unless --verbose (nasdsl.quiet)
    kwargs: dict[str, Any] = {}
    accelerator = getattr(args, "accelerator", "cpu")
    if getattr(args, "precision", None):
        kwargs["precision"] = args.precision
    if args.devices > 1 or getattr(args, "num_nodes", 1) > 1:
        import torch
        from pytorch_lightning.strategies import DDPStrategy
        gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
        kwargs["strategy"] = DDPStrategy(process_group_backend="nccl" if gpu else "gloo")

    class LastCheckpoint(ModelCheckpoint):
        """DIR/last.ckpt after every training epoch (Lightning runs checkpoint callbacks last, so
        it holds that epoch's search state), and nothing else."""

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            if not self._should_skip_saving_checkpoint(trainer):
                self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    checkpoint = LastCheckpoint(dirpath=str(out), save_last=True, save_top_k=0, save_on_train_epoch_end=True,
                                enable_version_counter=False)
    return pl.Trainer(max_epochs=args.epochs, accelerator=accelerator, devices=args.devices,
                      num_nodes=getattr(args, "num_nodes", 1),
                      logger=CSVLogger(str(out), name="logs", version=""), callbacks=[checkpoint],
                      num_sanity_val_steps=0, log_every_n_steps=1, enable_model_summary=False,
                      enable_progress_bar=sys.stderr.isatty() or bool(os.environ.get("NASDSL_PROGRESS")),
                      **kwargs)


# --- outputs -------------------------------------------------------------------------------------

def _text_forms(space, arch) -> dict[str, str]:
    """The NB201 string and/or DARTS genotype of `arch`, where the space has them."""
    from ..formats import arch_to_genotype, arch_to_nb201
    out = {}
    for suffix, convert in (("nb201", arch_to_nb201), ("genotype", arch_to_genotype)):
        try:
            out[suffix] = convert(space, arch)
        except (NasError, KeyError, ValueError, IndexError):
            continue
    return out


def plot_history(history: list[dict[str, dict[str, float]]], path: Path, title: str = "",
                 order: Sequence[str] = ()) -> None:
    """A PNG of every decision's probabilities over the epochs (one panel per decision, in
    `order`: the space's decision order, `nasdsl.search.plots.panel_order`), drawn once, after
    training. It uses matplotlib's object API with a fixed layout (no pyplot, no layout
    engine): 0.2-0.3 s of CPU where pyplot and `tight_layout` took about 1 s."""
    import math

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .plots import panel_order
    labels = panel_order({label for probs in history for label in probs}, order)
    if not labels:  # a strategy without architecture weights (spos, random_oneshot)
        fig = Figure(figsize=(4, 2), dpi=80)
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no architecture weights\n(uniform path sampling)", ha="center", va="center")
        ax.axis("off")
    else:
        cols = min(4, len(labels))
        rows = math.ceil(len(labels) / cols)
        fig = Figure(figsize=(3.2 * cols, 2.4 * rows), dpi=80)
        axes = fig.subplots(rows, cols, squeeze=False)
        epochs = list(range(len(history)))
        domains = [sorted({v for probs in history for v in probs.get(label, {})}) for label in labels]
        shared = all(values == domains[0] for values in domains)   # one legend for the figure
        for ax, label, values in zip(axes.flat, labels, domains):
            lines = [ax.plot(epochs, [probs.get(label, {}).get(v, float("nan")) for probs in history], label=v)[0]
                     for v in values]
            ax.set_title(label, fontsize=8)
            ax.set_ylim(0, 1)
            ax.tick_params(labelsize=6)
            if not shared:
                ax.legend(fontsize=5)
        if shared:
            fig.legend(lines, domains[0], loc="upper right", fontsize=6, ncols=min(len(domains[0]), 6), frameon=False)
        for ax in list(axes.flat)[len(labels):]:
            ax.axis("off")
        fig.supxlabel("epoch")
        fig.subplots_adjust(left=0.06, right=0.98, bottom=0.12 / rows + 0.02, top=1 - 0.22 / rows,
                            wspace=0.25, hspace=0.45)
    if title:
        fig.suptitle(title, fontsize=9, x=0.01, ha="left")
    tmp = path.with_name(path.name + ".tmp.png")
    FigureCanvasAgg(fig).print_png(str(tmp))
    tmp.replace(path)


def _write_json(path: Path, value: Any) -> None:
    _write_text(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError as err:  # a name over the file-name limit, a loop of links
        raise NasError(f"cannot read {show_path(path)}: {os_reason(err)}") from None


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        tmp.replace(path)
    except OSError as err:
        raise NasError(f"cannot write {show_path(path)}: {os_reason(err)}") from None
