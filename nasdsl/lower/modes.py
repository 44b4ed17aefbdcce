"""Execution modes: how a supernet's choices execute, one object per mode.

A supernet's mixed modules (`supernet.py`, `mixed.py`) and its architecture state
(`policy.ArchState`) never ask which mode they run in; they call their mode, which calls back
the form of the module it needs (`mixed`, `sampled`, `gate`, ...):

| mode | a choice runs | parameters | strategies |
|---|---|---|---|
| `Mixture` | every candidate, weighted by `weights(alpha)` (softmax, Gumbel-softmax) | per value | darts, gumbel |
| `EdgeMixture` | as `Mixture`; a `cell(...)` relaxed by edges (`edges.py`, DARTS's) | per edge | darts, gumbel |
| `Path` | one candidate: the path set by `fix()` or drawn by `resample()` | none | enas, spos, random_oneshot |
| `Gated` | one candidate drawn from `softmax(alpha)`; binary gates learn alpha (`gates.py`) | per value | proxyless |

(`Mixture` is darts's and gumbel's mode with `cells="slot"`, `EdgeMixture` with the default `"edge"`.)

`mode_of(name, cells)` gives the mode a name and a cell relaxation stand for; a strategy that
weighs a mixture otherwise passes its own `Mixture(weights=...)` or `EdgeMixture(weights=...)`
(`weights(generator)` returns the map, e.g. `nasdsl.strategy.weighting.GumbelWeights`).

Example::

    >>> mode_of("mixture"), mode_of("mixture", "slot"), mode_of("path"), mode_of("gated")
    (EdgeMixture(), Mixture(), Path(), Gated())
    >>> sorted(mode_of("path").passes(frozenset({"fold_bn", "channels_last"})))   # the discrete model's ops
    ['channels_last']
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from .. import ir
from ..errors import NasError
from .edges import RELAXATIONS, relaxed_cells

MODES = ("mixture", "path", "gated")


class Softmax:
    """The default weights of a mixture: `softmax(alpha)`; an any-subset input choice's gate
    logits are its parameters themselves, used soft (`hard = False`)."""

    hard = False

    def __call__(self, alpha: torch.Tensor) -> torch.Tensor:
        return F.softmax(alpha, dim=-1)

    def gates(self, alpha: torch.Tensor) -> torch.Tensor:
        return alpha


def softmax_weights(generator: torch.Generator) -> Softmax:
    """The `weights` factory of every mode unless a strategy gives its own (it draws no noise)."""
    return Softmax()


class Mode:
    """The methods a supernet and its architecture state call on their execution mode. The
    defaults run one path (`Path`); every mode overrides what it does otherwise."""

    name = "path"
    cells = "slot"   # how cells are relaxed: only a mixture relaxes them by edges
    too_many = "size"   # what it cannot do with an op over too many joint values (`wide_arguments`)

    def __init__(self, weights: Callable[[torch.Generator], Any] = softmax_weights):
        self.weights = weights

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # -- the architecture state (`policy.ArchState`)

    def gates(self, space) -> dict[str, int]:
        """Any-subset input choices with one gate per candidate, by label -> fewest chosen."""
        return {}

    def relaxed_cells(self, space) -> dict:
        """The cells relaxed by edges (`edges.relaxed_cells`), by label."""
        return {}

    def parameters(self, state, seed: int | None, init_std: float) -> dict:
        """The architecture parameters, by label."""
        return {}

    def chooser(self, state, choose):
        """The policy `resample()` draws with when the strategy gives `choose` (None: uniform)."""
        return choose

    def fix(self, state, arch) -> None:
        """What fixing `arch` changes beyond the path: nothing here."""

    def export(self, state) -> dict[str, Any]:
        """The architecture found: the current path."""
        return state.current_path()

    # -- building and running the supernet (`supernet.py`, `mixed.py`)

    def passes(self, chosen: frozenset[str]) -> frozenset[str]:
        """The rewrite passes this mode runs of `chosen`: the others rewrite mixtures, and a path
        runs the discrete model's ops, bit-exact with it, in its layout (`channels_last`)."""
        return chosen & {"channels_last"}

    def check(self, template: ir.Module, name: str) -> None:
        """Refuse, when the supernet is built, what this mode cannot run."""

    def start(self, net) -> None:
        """A new supernet's first step: a path to run."""
        net.resample()

    def plan(self, make: Callable[[], Any]) -> Any:
        """A layer choice's `passes.MixPlan` (`make()`), where the mode mixes candidates."""
        return None

    def wide_arguments(self, possible: Callable[[], Any]) -> Any:
        """An op over more joint assignments than enumerating allows: a superset of its
        argument sets (`possible()`) where only one sampled path ever runs, else None."""
        return possible()

    def check_op(self, op) -> None:
        """Refuse, at build time, a mixed op this mode cannot run."""

    def run_choice(self, m, xs):
        """A layer choice's (`supernet.SuperChoice`) output on inputs `xs`."""
        return m.sampled(xs)

    def run_repeat(self, m, xs):
        """A repeat's (`supernet.SuperRepeat`) output, its depth a decision."""
        return m.path(xs)[-1]

    def run_pick(self, m, n: ir.Pick, tensors):
        """Input choice `n`'s output in graph `m` (`supernet.SuperGraph`), `tensors` its inputs."""
        return m.sampled_pick(n, tensors)

    def run_cell(self, m, states: list) -> None:
        """A cell's (`supernet.SuperCell`) node outputs, appended to `states` (its predecessors')."""
        m.path_nodes(states)

    def run_op(self, m, x):
        """A mixed op's (`mixed.MixedOp`) output."""
        return m.forward_fixed(x, m.resolve(m.current()))


class Path(Mode):
    """One path runs: the architecture `fix()` set or `resample()` drew (uniform, or the
    strategy's policy); no architecture parameters. The modules run exactly the discrete ops."""


class Gated(Mode):
    """One path runs, drawn from `softmax(alpha)`; alpha learns through ProxylessNAS's binary
    gates (`gates.BinaryGate`), which run the other values of each decision on the same input
    in backward. Exports the most probable architecture."""

    name = "gated"
    too_many = "weigh one by one; the sampling strategies (spos, enas, random_oneshot) take it"

    def parameters(self, state, seed, init_std):
        return learned_parameters(state, seed, init_std)

    def chooser(self, state, choose):
        return state.draw_from_alpha if choose is None else choose

    def export(self, state):
        return state.most_probable()

    def check(self, template, name):
        refuse_loose_ends(template, name)

    def wide_arguments(self, possible):
        return None   # each value of a decision runs against the same input for its gate

    def run_choice(self, m, xs):
        out = m.sampled(xs)
        return m.gate(out, xs) if torch.is_grad_enabled() else out

    def run_repeat(self, m, xs):
        outs = m.path(xs)
        return m.gate(outs) if torch.is_grad_enabled() else outs[-1]

    def run_pick(self, m, n, tensors):
        out = m.sampled_pick(n, tensors)
        return m.gate_pick(n, tensors, out) if torch.is_grad_enabled() else out

    def run_cell(self, m, states):
        m.path_nodes(states, m.gate_slot if torch.is_grad_enabled() else None)

    def run_op(self, m, x):
        assignment = m.current()
        out = m.forward_fixed(x, m.resolve(assignment))
        return m.gate(x, out, assignment) if torch.is_grad_enabled() else out


class Mixture(Mode):
    """Every path runs, weighted by `weights(alpha)` (`softmax`, or the strategy's, e.g.
    Gumbel-softmax); an any-subset input choice has one gate per candidate (`policy.py`);
    a `cell(...)` mixes each op slot's input and op choices. Fixing an architecture sets
    alpha to its one-hot encoding."""

    name = "mixture"
    too_many = "weigh one by one; the sampling strategies (spos, enas, random_oneshot) take it"

    def gates(self, space):
        return {d.label: len(d.values[0]) for d in space.decisions if d.kind == ir.INPUT and d.n_chosen is None}

    def parameters(self, state, seed, init_std):
        return learned_parameters(state, seed, init_std)

    def fix(self, state, arch):
        state.encode(arch)

    def export(self, state):
        return state.most_probable()

    def passes(self, chosen):
        return chosen

    def check(self, template, name):
        refuse_loose_ends(template, name)

    def start(self, net):
        return None   # every path runs: nothing to draw

    def plan(self, make):
        return make()

    def wide_arguments(self, possible):
        return None   # every joint value is weighed

    def check_op(self, op):
        op.check_differentiable()

    def run_choice(self, m, xs):
        return m.mixed(xs)

    def run_repeat(self, m, xs):
        return m.mixed(xs)

    def run_pick(self, m, n, tensors):
        return m.mixed_pick(n, tensors)

    def run_cell(self, m, states):
        m.slot_nodes(states)

    def run_op(self, m, x):
        return m.forward_mixed(x, m.grouped())


class EdgeMixture(Mixture):
    """A mixture whose cells are relaxed as DARTS relaxes them (`edges.py`): a softmax over each
    edge's ops and a zero op, one parameter vector per edge, DARTS's genotype on export. A cell
    the relaxation does not apply to mixes slot by slot; a fixed architecture runs its path
    through a relaxed cell (one vector per edge cannot encode two ops on one edge)."""

    cells = "edge"

    def relaxed_cells(self, space):
        return relaxed_cells(space)

    def run_cell(self, m, states):
        if m.relaxed is None:
            m.slot_nodes(states)
        elif m.policy.fixed:
            m.path_nodes(states)
        else:
            m.edge_nodes(states)


def mode_of(mode: str | Mode, cells: str = "edge", weights: Callable[[torch.Generator], Any] = softmax_weights) -> Mode:
    """The mode object `mode` names (`MODES`), with a mixture's `cells` relaxation ("edge",
    DARTS's, or "slot") and `weights` (`weights(generator)`: the map from alpha to the
    mixture's weights); a mode object is returned as it is."""
    if not isinstance(mode, Mode) and mode not in MODES:
        raise NasError(f"unknown execution mode {mode!r}; choose one of {', '.join(MODES)}")
    if cells not in RELAXATIONS:
        raise NasError(f"unknown cell relaxation {cells!r}; choose one of {', '.join(RELAXATIONS)}")
    if isinstance(mode, Mode):
        return mode
    if mode == "mixture":
        return EdgeMixture(weights) if cells == "edge" else Mixture(weights)
    return Path(weights) if mode == "path" else Gated(weights)


def learned_parameters(state, seed: int | None, init_std: float) -> dict[str, torch.nn.Parameter]:
    """One parameter vector per decision label (per candidate for a gated any-subset choice,
    none for a relaxed cell's decisions) and one per edge of a relaxed cell, `N(0, init_std)`
    from a generator seeded with `seed`."""
    init = torch.Generator().manual_seed(seed if seed is not None else 0)
    alphas = {}
    for d in state.space.decisions:
        if d.label not in state.relaxed:
            size = d.n_candidates if d.label in state.gates else len(d.values)
            alphas[d.label] = torch.nn.Parameter(torch.randn(size, generator=init) * init_std)
    for cell in state.cell_edges.values():
        for edge in cell.edge_labels():
            alphas[edge] = torch.nn.Parameter(torch.randn(len(cell.names), generator=init) * init_std)
    return alphas


def refuse_loose_ends(template: ir.Module, name: str) -> None:
    """A cell with `merge="loose_end"` cannot be mixed or gated: which nodes are concatenated,
    hence the output width, depends on its input choices, so paths of one shape cannot be
    compared."""
    for node in ir.walk(template):
        if isinstance(node, ir.Cell) and node.merge == "loose_end":
            raise NasError(f"cell {node.label!r}: merge=\"loose_end\" concatenates the nodes no op reads, so the "
                           f"cell's output width depends on its input choices; {name} must compare paths "
                           "of one shape. Use merge=\"all\" or a sampling strategy (spos, enas, random_oneshot)", node.loc)
