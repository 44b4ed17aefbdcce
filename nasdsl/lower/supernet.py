"""Lowering to a weight-sharing supernet, one API for every one-shot strategy.

`build_supernet(space, mode)` mirrors the discrete lowering module for module, so the
weights of any architecture can be cut out of it (`sub_state_dict`) and loaded, strictly,
into that architecture's discrete model. The supernet knows how a choice *executes*
(its mode object, `modes.py`); which algorithm drives it (DARTS, Gumbel, ENAS, SPOS, Proxyless) lives in
`nasdsl.strategy`, which this module never imports (`nasdsl.strategy.build_supernet(space,
name)` builds the supernet a strategy needs). Every choice primitive works in every mode:

| primitive | mixture (w = weigh(alpha): softmax, Gumbel-softmax, ...) | path / gated |
|---|---|---|
| layer choice | sum_i w_i cand_i(x) | the sampled candidate |
| value choice in op args | one op at the largest size, weighted masks (`mixed.py`) | the sampled slice |
| input choice (n of k) | sum over subsets v of w_v reduce(x_v) | the sampled subset |
| input choice (any subset, sum/mean) | sum_i w_i x_i, one gate per candidate (`subset_weights`) | the sampled subset |
| repeat depth | sum_d w_d (output after d blocks) | the first d blocks |
| cell (`cells="edge"`) | per node: sum over edges j, ops o of w_j(o) op_o(x_j) (`edges.py`) | the sampled ops, inputs |
| cell (`cells="slot"`) | per node: sum over slots k, inputs j, ops o of p_k(j) q_k(o) op(x_j) | the sampled ops, inputs |

The gated mode runs one path and learns alpha through binary gates (`gates.BinaryGate`).
Two combinations are impossible, not unimplemented, and are refused when the supernet is
built, naming the decision: a cell with `merge="loose_end"` in the mixture or gated mode
(which nodes are concatenated, hence the output width, depends on the input choices, so
paths cannot be averaged or compared), and shape-changing arguments (stride, dilation) in
the mixture mode.

Example::

    >>> import nasdsl, torch
    >>> net = build_supernet(nasdsl.load("nasbench201", {"C": 4, "N": 1}), "mixture", seed=0)
    >>> net(torch.randn(2, 3, 32, 32)).sum().backward()
    >>> sorted(net.export())[:2]                   # the most probable valid architecture
    ['Cell.e1_0', 'Cell.e2_0']
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import partial
from typing import Any

import torch
from torch import nn

from .. import ir
from ..arch import arch_values
from ..errors import NasError
from ..ops.modules import build_op
from ..space import Space
from ..values import evaluate, free_labels
from .discrete import attach, combine, last_reads, picked, reduce_inputs
from .edges import cell_ops, offers
from .gates import BinaryGate, norm_buffers
from .mixed import MixedOp, mixed_op
from .modes import MODES, Mode
from .passes import FUSED, InputMix, MixPlan, channels_last, layout_safe, weighted_sum
from .policy import ArchState
from .rewrites import DEFAULT_PASSES, Context, FusedOp, LinearPick, MixedCellOp, MixedChoice, check_passes, rewrite


def build_supernet(space: Space, mode: str, **options) -> Supernet:
    """A supernet of `space` whose choices execute in `mode` (mixture, path or gated).
    Options: `seed`, `name`, `passes` (the rewrite passes of the template's IR to run before
    building, `rewrites.py`; default `DEFAULT_PASSES`, of which the path and gated modes run `channels_last` only, and
    a space with custom ops runs all but `channels_last` (`passes.layout_safe`);
    `passes.PASSES` for all, `()` for none), `checkpoint` (recompute mixtures in backward),
    `compile` (run the network under `torch.compile`: the first steps compile it, minutes
    on a CPU; later ones run faster; state dicts and the API are unchanged) and `cells`
    (the mixture mode's relaxation of `cell(...)`: `"edge"`, DARTS's, by default; `"slot"`
    mixes each op slot's input and op choices; see `edges.py`)."""
    return Supernet(space, mode, **options)


class Supernet(nn.Module):
    """The supernet of a space: weights, architecture parameters and the common API."""

    def __init__(self, space: Space, mode: str | Mode, *, name: str | None = None, seed: int | None = None,
                 passes: Iterable[str] | None = None, checkpoint: bool = False, compile: bool = False,
                 cells: str = "edge"):
        super().__init__()
        if not isinstance(mode, Mode) and mode not in MODES:
            raise NasError(f"unknown execution mode {mode!r}; choose one of {', '.join(MODES)} "
                           "(nasdsl.strategy.build_supernet takes strategy names)")
        self.space = space
        self.policy = ArchState(space, mode, name=name, seed=seed, cells=cells)
        self.mode = self.policy.mode   # the execution mode (`modes.py`)
        self.strategy = name or self.mode.name   # recorded for checkpoints; never compared here
        self.cells = self.policy.cells   # how the mixture mode relaxes cells: "edge" or "slot"
        self.mode.check(space.template, self.policy.name)
        # the passes rewrite the IR the builder builds; the mode says which it runs (`Mode.passes`)
        if passes is None:
            passes = DEFAULT_PASSES if layout_safe(space.template) else tuple(p for p in DEFAULT_PASSES
                                                                               if p != "channels_last")
        chosen = check_passes(passes)
        if compile:   # its saved-tensor hooks split the compiled graph; the compiler picks what to recompute
            chosen -= {"recompute_pure"}
        self.passes = self.mode.passes(chosen)
        self.checkpoint = checkpoint
        template = rewrite(space.template, self.passes, Context.of(self.policy))   # `rewrites.py`
        self.net = _Builder(self.policy, checkpoint).module(template)
        # kept out of _modules: the compiled wrapper shares self.net's weights and adds no state
        self.__dict__["_run"] = torch.compile(self.net) if compile else self.net
        self.compiled = compile
        self.arch = nn.ParameterDict({_key(label): p for label, p in self.policy.alphas.items()})
        self.policy.statistics = [b for m in self.modules() if isinstance(m, nn.modules.batchnorm._NormBase)
                                  for b in m.buffers()]
        self.mode.start(self)

    # -- parameters

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        for name, p in super().named_parameters(prefix, recurse, remove_duplicate):
            if not name[len(prefix):].lstrip(".").startswith("arch."):
                yield name, p

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        """The weights only; `arch_parameters()` holds the architecture parameters."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def arch_parameters(self) -> list[nn.Parameter]:
        """One parameter per label (decisions sharing a label share it); none in the path mode."""
        return list(self.policy.alphas.values())

    # -- the API shared by every strategy

    def forward(self, *inputs: torch.Tensor):
        self.policy.begin()
        if "channels_last" in self.passes:
            inputs = tuple(channels_last(x) for x in inputs)
        try:
            return self._run(*inputs)
        finally:
            self.policy.shared.clear()   # prefixes shared within this pass only

    def resample(self, choose=None) -> dict[str, Any]:
        """Set the path of the next steps (path and gated modes; honours shared labels and
        constraints) and return it: `choose(decision) -> value` is the strategy's policy,
        else uniform (path) or drawn from softmax(alpha) (gated), from seeded generators."""
        return self.policy.resample(choose)

    def fix(self, arch: Mapping[str, Any]) -> None:
        """Run exactly `arch` (path, gated) or set one-hot architecture weights (mixture)
        until the next `resample()`."""
        self.policy.fix(arch)

    def export(self) -> dict[str, Any]:
        """The chosen architecture: the most probable one under alpha that keeps the space's
        constraints and budgets (the argmax wherever it does), or the current path without alpha."""
        return self.policy.export()

    def export_probs(self) -> dict[str, dict[str, float]]:
        return self.policy.export_probs()

    def search_space(self) -> Space:
        return self.space

    def sub_state_dict(self, arch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """The weights of `arch`, keyed as its discrete model's `state_dict()` (load with strict=True)."""
        arch = self.space.validate(arch)
        internal = arch_values(arch)
        out: dict[str, torch.Tensor] = {}
        _sub_state(self.net, internal, "", out)
        return {k: v.detach().clone() for k, v in out.items()}


def _key(label: str) -> str:
    return label.replace(".", "__")


# --- super modules ------------------------------------------------------------------------------

class SuperChoice(nn.Module):
    """A layer choice: all candidates, mixed or sampled."""

    def __init__(self, label: str, candidates: dict[str, nn.Module], policy: ArchState,
                 plan: MixPlan | None = None, recompute: bool = False):
        super().__init__()
        self.label = label
        self.names = list(candidates)
        self.candidates = nn.ModuleDict(candidates)
        self.policy = policy
        self.plan = plan
        self.recompute = recompute

    def forward(self, *xs):
        return self.policy.mode.run_choice(self, xs)

    def mixed(self, xs):
        """sum_i w_i cand_i(xs), through the mixture's plan (`passes.MixPlan`) where it has one."""
        policy = self.policy
        if self.plan is not None and len(xs) == 1:
            return self.plan.run(xs[0], policy.probs(self.label), policy.shared, self.recompute)
        weights = policy.probs(self.label)
        total = None
        for i, name in enumerate(self.names):
            y = _scale(self.candidates[name](*xs), weights[i])
            total = y if total is None else _add(total, y)
        return total

    def sampled(self, xs):
        """The candidate on the current path."""
        return self.candidates[self.policy.value(self.label)](*xs)

    def gate(self, out, xs):
        """`out`, the sampled candidate's output, through its binary gate (one tensor only)."""
        if isinstance(out, tuple):
            return out
        policy = self.policy
        detached = tuple(x.detach() for x in xs)
        return BinaryGate.apply(out, policy.alphas[self.label], policy.index(self.label, policy.value(self.label)),
                                lambda j: self.candidates[self.names[j]](*detached), norm_buffers(self.candidates))


class SuperRepeat(nn.Module):
    """A repeat with a chosen depth."""

    def __init__(self, depth: Any, blocks: list[nn.Module], policy: ArchState, loc):
        super().__init__()
        self.depth = depth
        self.blocks = nn.ModuleList(blocks)
        self.policy = policy
        self.labels = sorted(free_labels(depth))
        self.loc = loc

    def _depths(self) -> list[tuple[int, torch.Tensor]]:
        """Each depth with its weight (a depth may be an expression over several decisions)."""
        import itertools
        space = self.policy.space
        domains = [space.decision(lab).values for lab in self.labels]
        weights: dict[int, torch.Tensor] = {}
        for combo in itertools.product(*domains):
            a = dict(zip(self.labels, combo))
            w = None
            for lab in self.labels:
                t = self.policy.probs(lab)[self.policy.index(lab, a[lab])]
                w = t if w is None else w * t
            d = evaluate(self.depth, a)
            weights[d] = w if d not in weights else weights[d] + w
        return sorted(weights.items())

    def forward(self, *xs):
        if not self.labels:
            return _run(self.blocks[: self.depth], xs)
        return self.policy.mode.run_repeat(self, xs)

    def mixed(self, xs):
        """sum_d w_d (the output after d blocks)."""
        depths = dict(self._depths())
        total = _scale(_unpack(xs), depths[0]) if 0 in depths else None
        for i, block in enumerate(self.blocks, start=1):
            out = block(*xs)
            xs = out if isinstance(out, tuple) else (out,)
            if i in depths:
                y = _scale(_unpack(xs), depths[i])
                if total is not None and _shape(total) != _shape(y):
                    raise NasError(f"repeat depth {', '.join(self.labels)}: outputs after different depths "
                                   "differ in shape, so the mixture mode (darts, gumbel) cannot "
                                   "average them; use a sampling strategy", self.loc)
                total = y if total is None else _add(total, y)
        return total

    def path(self, xs) -> list:
        """The outputs after 0, 1, ... d blocks, d the current path's depth."""
        d = evaluate(self.depth, {lab: self.policy.value(lab) for lab in self.labels})
        outs = [_unpack(xs)]
        for block in self.blocks[:d]:
            out = block(*xs)
            xs = out if isinstance(out, tuple) else (out,)
            outs.append(_unpack(xs))
        return outs

    def gate(self, outs: list):
        """The last of `outs` (`path`) through the binary gate of a depth that is one decision."""
        result = outs[-1]
        if len(self.labels) == 1 and self.depth == _ref(self.labels[0]) and not isinstance(result, tuple):
            label = self.labels[0]
            d = self.policy.value(label)   # the depth: this decision's value
            values = self.policy.space.decision(label).values
            saved = [o.detach() for o in outs]

            def others(j: int) -> torch.Tensor:
                target = values[j]
                if target < len(saved):
                    return saved[target]
                y = saved[-1]
                for block in self.blocks[len(saved) - 1: target]:
                    y = block(y)
                return y

            result = BinaryGate.apply(result, self.policy.alphas[label], self.policy.index(label, d), others,
                                      norm_buffers(self.blocks))
        return result


def _writes(node: ir.Apply | ir.Combine | ir.Pick) -> tuple[str, ...]:
    return node.outs if isinstance(node, ir.Apply) else (node.out,)


class SuperGraph(nn.Module):
    """Named dataflow with input choices resolved by the policy; each tensor is dropped after
    its last read (`discrete.last_reads`)."""

    def __init__(self, graph: ir.Graph, modules: dict[str, nn.Module], policy: ArchState):
        super().__init__()
        self._paths = {name: attach(self, name, module) for name, module in modules.items()}
        self._names = dict(modules)
        self.policy = policy
        self._graph = graph
        self._frees = last_reads([tuple(n.inputs) for n in graph.nodes], [_writes(n) for n in graph.nodes],
                                 graph.outputs)
        # input_mix (`rewrites.LinearPick`): pick output -> its linear form over per-subset weights
        self._mixes = {n.out: InputMix(list(n.subsets), n.reduce, len(n.inputs)) for n in graph.nodes
                       if isinstance(n, LinearPick) and n.subsets is not None}

    def forward(self, *inputs):
        values: dict[str, Any] = {t.name: x for t, x in zip(self._graph.inputs, inputs)}
        for n, frees in zip(self._graph.nodes, self._frees):
            if isinstance(n, ir.Apply):
                out = self._names[n.module](*(values[i] for i in n.inputs))
                if len(n.outs) == 1:
                    values[n.outs[0]] = out
                else:
                    values.update(zip(n.outs, out))
            elif isinstance(n, ir.Combine):
                values[n.out] = combine(n.fn, [values[i] for i in n.inputs], n.dim)
            else:
                values[n.out] = self.pick(n, [values[i] for i in n.inputs])
            for name in frees:
                del values[name]
        outs = tuple(values[o] for o in self._graph.outputs)
        return outs[0] if len(outs) == 1 else outs

    def pick(self, n: ir.Pick, tensors: list[torch.Tensor]) -> torch.Tensor:
        return self.policy.mode.run_pick(self, n, tensors)

    def mixed_pick(self, n: ir.Pick, tensors: list[torch.Tensor]) -> torch.Tensor:
        """The sum over subsets v of w_v reduce(x_v), or for an any-subset choice with a gate per
        candidate, sum_i w_i x_i (`gated_mixture`)."""
        policy = self.policy
        if n.label in policy.gates and n.reduce in ("sum", "mean"):
            return self.gated_mixture(n, tensors)
        weights = policy.probs(n.label)
        mix = self._mixes.get(n.out)
        if mix is not None and all(t.shape == tensors[0].shape for t in tensors):
            return mix(tensors, weights)
        by_name = dict(zip(n.inputs, tensors))
        total = None   # the plain sum over subsets (it names the shapes that cannot be averaged)
        for i, value in enumerate(policy.space.decision(n.label).values):
            y = reduce_inputs([by_name[name] for name in picked(n, value)], n.reduce, like=tensors[0]) * weights[i]
            if total is not None and y.shape != total.shape:
                raise NasError(f"input choice {n.label!r}: subsets reduce to different shapes "
                               f"({tuple(total.shape)} vs {tuple(y.shape)}), which the mixture mode (darts, "
                               "gumbel) cannot average; use a sampling strategy or reduce=\"sum\"/\"mean\"", n.loc)
            total = y if total is None else total + y
        return total

    def sampled_pick(self, n: ir.Pick, tensors: list[torch.Tensor]) -> torch.Tensor:
        """The subset on the current path, reduced."""
        by_name = dict(zip(n.inputs, tensors))
        return reduce_inputs([by_name[name] for name in picked(n, self.policy.value(n.label))], n.reduce,
                             like=tensors[0])

    def gate_pick(self, n: ir.Pick, tensors: list[torch.Tensor], out: torch.Tensor) -> torch.Tensor:
        """`out`, the sampled subset's reduction, through the choice's binary gate."""
        policy = self.policy
        domain = policy.space.decision(n.label).values
        detached = {name: t.detach() for name, t in zip(n.inputs, tensors)}

        def others(j: int) -> torch.Tensor:
            return reduce_inputs([detached[name] for name in picked(n, domain[j])], n.reduce, like=tensors[0])

        return BinaryGate.apply(out, policy.alphas[n.label], policy.index(n.label, policy.value(n.label)), others, [])


    def gated_mixture(self, n: ir.Pick, tensors: list[torch.Tensor]) -> torch.Tensor:
        """An any-subset choice in the mixture mode: `sum_i w_i x_i`, one gate per candidate."""
        weights = self.policy.input_weights(n.label, n.reduce)
        for x in tensors:
            if x.shape != tensors[0].shape:
                raise NasError(f"input choice {n.label!r}: candidates differ in shape ({tuple(tensors[0].shape)} vs "
                               f"{tuple(x.shape)}), which the mixture mode (darts, gumbel) cannot average; "
                               "use a sampling strategy", n.loc)
        if isinstance(n, LinearPick):   # input_mix: one fused multiply-add per input
            return weighted_sum(tensors, weights)
        total = torch.zeros_like(tensors[0])
        for i, x in enumerate(tensors):
            total = total + weights[i] * x
        return total


class SuperCell(nn.Module):
    """A DARTS / NNI cell. Candidate ops are kept per edge (node, input) when every op slot of
    a node offers the same candidates (as in DARTS), else per (node, slot, input). In the
    mixture mode a cell the policy relaxes by edges (`edges.py`) sums, per node, every
    incoming edge's softmax-weighted ops; other cells mix slot by slot; a fixed architecture
    runs its own path (one vector per edge cannot encode two ops on one edge)."""

    def __init__(self, cell: ir.Cell, policy: ArchState, builder: _Builder):
        super().__init__()
        self.policy = policy
        self.cell = cell
        self.relaxed = policy.cell_edges.get(cell.label)
        npred = cell.num_predecessors
        self.preprocess = nn.ModuleList([nn.Identity() if p is None else builder.module(p) for p in cell.preprocess])
        self.postprocess = nn.Identity() if cell.postprocess is None else builder.module(cell.postprocess)
        edges: dict[str, nn.Module] = {}
        self.plans: dict[str, tuple[int, MixPlan]] = {}   # edge -> (input index, its mixture)
        self.recompute = builder.checkpoint
        self.layout: list[list[tuple[ir.CellOp, list[str], list[str]]]] = []
        for ni, node in enumerate(cell.nodes, start=npred):
            shared = all(offers(op) == offers(node[0]) for op in node)
            slots = []
            for k, op in enumerate(node):
                keys = []
                for j, candidate in enumerate(op.candidates):
                    key = f"{ni}_{j}" if shared else f"{ni}_{k}_{j}"
                    if key not in edges:
                        edges[key] = nn.ModuleDict({name: builder.module(m) for name, m in cell_ops(candidate)})
                        mix = op.by_input[j] if isinstance(op, MixedCellOp) else None
                        if mix is not None:
                            pairs = [(m, edges[key][name]) for name, m in cell_ops(candidate)]
                            plan = policy.mode.plan(partial(MixPlan, mix, pairs))
                            if plan is not None:
                                self.plans[key] = (j, plan)
                    keys.append(key)
                names = [name for name, _ in cell_ops(op.candidates[0])]
                slots.append((op, keys, names))
            self.layout.append(slots)
        self.edges = nn.ModuleDict(edges)

    def forward(self, *inputs):
        states = [pre(x) for pre, x in zip(self.preprocess, inputs)]
        policy = self.policy
        policy.mode.run_cell(self, states)   # appends each node's output
        npred = self.cell.num_predecessors
        total = len(states)
        if self.cell.merge == "all":
            merge = list(range(npred, total))
        else:
            used = {policy.value(op.input_label) for slots in self.layout for op, _, _ in slots}
            merge = [i for i in range(npred, total) if i not in used]
        merged = [states[i] for i in merge]
        return self.postprocess(merged[0] if len(merged) == 1 else torch.cat(merged, dim=self.cell.concat_dim))

    def edge_nodes(self, states: list) -> None:
        """Each node relaxed by edges (`edges.py`), appended to `states`."""
        for n, slots in enumerate(self.layout):
            states.append(self._edge_sum(self.relaxed.nodes[n].edges, slots[0], states))

    def slot_nodes(self, states: list) -> None:
        """Each node mixed slot by slot, appended to `states`: one mixture per edge where every
        edge has a plan (`_mix_edges`), else the plain sum over slots, inputs and ops."""
        for slots in self.layout:
            if self.plans and all(key in self.plans for _, keys, _ in slots for key in keys):
                states.append(self._mix_edges(slots, states))
            else:
                states.append(self._mix_slots(slots, states))

    def path_nodes(self, states: list, gate=None) -> None:
        """Each node on the current path, appended to `states`; `gate` (`gate_slot`) puts each
        slot's output through its binary gates."""
        policy = self.policy
        for slots in self.layout:
            out = None
            for op, keys, names in slots:
                j = policy.value(op.input_label)
                name = policy.value(op.op_label) if op.op_label else names[0]
                y = self.edges[keys[j]][name](states[j])
                if gate is not None:
                    y = gate(op, keys, names, states, j, name, y)
                out = y if out is None else out + y
            states.append(out)

    def _mix_slots(self, slots, states) -> torch.Tensor:
        """A node mixed slot by slot: sum over slots k, inputs j, ops o of p_k(j) q_k(o) op_o(x_j)."""
        policy = self.policy
        out = None
        cache: dict[tuple[str, str], torch.Tensor] = {}
        for op, keys, names in slots:
            p_in = policy.probs(op.input_label)
            q_op = policy.probs(op.op_label) if op.op_label else None
            for j, key in enumerate(keys):
                for o, name in enumerate(names):
                    if (key, name) not in cache:
                        cache[(key, name)] = self.edges[key][name](states[j])
                    w = p_in[j] * (q_op[o] if q_op is not None else 1.0)
                    y = cache[(key, name)] * w
                    out = y if out is None else out + y
        return out

    def _edge_sum(self, edges: tuple[str, ...], slot, states) -> torch.Tensor:
        """A node relaxed by edges: sum over its incoming edges j of sum_o w_jo op_o(x_j), w_j
        the edge's weights without its zero op."""
        _, keys, names = slot
        out = None
        for j, (edge, key) in enumerate(zip(edges, keys)):
            w = self.policy.probs(edge)[:-1]
            if key in self.plans:
                y = self.plans[key][1].run(states[j], w, self.policy.shared, self.recompute)
            else:
                y = None
                for o, name in enumerate(names):
                    term = self.edges[key][name](states[j]) * w[o]
                    y = term if y is None else y + term
            out = y if out is None else out + y
        return out

    def _mix_edges(self, slots, states) -> torch.Tensor:
        """A node in the mixture mode, one mixture per edge: the slots that share an edge add
        up their weights for it, sum_k p_k(j) q_k(o), so each candidate runs and is weighed once."""
        policy = self.policy
        weights: dict[str, torch.Tensor] = {}
        for op, keys, _ in slots:
            p_in = policy.probs(op.input_label)
            q_op = policy.probs(op.op_label) if op.op_label else p_in.new_ones(1)
            for j, key in enumerate(keys):
                w = p_in[j] * q_op
                weights[key] = w if key not in weights else weights[key] + w
        out = None
        for key, w in weights.items():
            j, plan = self.plans[key]
            y = plan.run(states[j], w, policy.shared, self.recompute)
            out = y if out is None else out + y
        return out

    def gate_slot(self, op, keys, names, states, j, name, y):
        """A slot's output `y` (input `j`, op `name`) through the binary gates of its input and op."""
        policy = self.policy
        detached = [s.detach() for s in states]
        y = BinaryGate.apply(y, policy.alphas[op.input_label], j,
                             lambda jj: self.edges[keys[jj]][name](detached[jj]),
                             norm_buffers(*(self.edges[key][name] for key in keys)))
        if op.op_label:
            y = BinaryGate.apply(y, policy.alphas[op.op_label], names.index(name),
                                 lambda o: self.edges[keys[j]][names[o]](detached[j]), norm_buffers(self.edges[keys[j]]))
        return y


# --- building ------------------------------------------------------------------------------------

class _Builder:
    """Builds the torch modules of a (rewritten, `rewrites.py`) template, one per IR object."""

    def __init__(self, policy: ArchState, checkpoint: bool = False):
        self.policy = policy
        self.checkpoint = checkpoint
        self.memo: dict[int, nn.Module] = {}

    def module(self, m: ir.Module) -> nn.Module:
        key = id(m)
        if key not in self.memo:
            self.memo[key] = self._module(m)
        return self.memo[key]

    def _op(self, m: ir.Op) -> nn.Module:
        """An op: mixed over its free arguments (`mixed.py`), else built (a `rewrites.FusedOp`
        as the module `passes.FUSED` makes of it)."""
        if any(free_labels(v) for _, v in m.args):
            return mixed_op(m, self.policy)
        try:
            built = build_op(m.name, {k: v for k, v in m.args})
        except (TypeError, ValueError, RuntimeError) as err:
            raise NasError(f"{m.name}: {err}", m.loc) from None
        return FUSED[m.fused](built) if isinstance(m, FusedOp) else built

    def _module(self, m: ir.Module) -> nn.Module:
        from .discrete import Chain
        if isinstance(m, ir.Op):
            return self._op(m)
        if isinstance(m, ir.Sequential):
            return Chain(*(self.module(i) for i in m.items))
        if isinstance(m, ir.LayerChoice):
            built = {name: self.module(c) for name, c in m.candidates}
            plan = None
            if isinstance(m, MixedChoice):
                plan = self.policy.mode.plan(partial(MixPlan, m.mix, [(c, built[name]) for name, c in m.candidates]))
            return SuperChoice(m.label, built, self.policy, plan, self.checkpoint)
        if isinstance(m, ir.Repeat):
            return SuperRepeat(m.depth, [self.module(b) for b in m.blocks], self.policy, m.loc)
        if isinstance(m, ir.Cell):
            return SuperCell(m, self.policy, self)
        if isinstance(m, ir.Graph):
            used = {n.module for n in m.nodes if isinstance(n, ir.Apply)}
            modules = {name: self.module(sub) for name, sub in m.modules if name in used}
            return SuperGraph(m, modules, self.policy)
        raise TypeError(f"unknown template node {type(m).__name__}")


# --- weights of one architecture -----------------------------------------------------------------

def _sub_state(module: nn.Module, arch: Mapping[str, Any], prefix: str, out: dict) -> None:
    from .discrete import Chain
    if isinstance(module, MixedOp):
        assignment = {lab: arch[lab] for lab in module.labels}
        for k, v in module.state_for(assignment).items():
            out[prefix + k] = v
    elif isinstance(module, SuperChoice):
        _sub_state(module.candidates[arch[module.label]], arch, prefix, out)
    elif isinstance(module, SuperRepeat):
        d = evaluate(module.depth, arch)
        for i, block in enumerate(module.blocks[:d]):
            _sub_state(block, arch, f"{prefix}{i}.", out)
    elif isinstance(module, SuperGraph):
        for name, sub in module._names.items():
            _sub_state(sub, arch, f"{prefix}{module._paths[name]}.", out)
    elif isinstance(module, SuperCell):
        for i, pre in enumerate(module.preprocess):
            _sub_state(pre, arch, f"{prefix}preprocess.{i}.", out)
        for slots in module.layout:
            for op, keys, names in slots:
                j = arch[op.input_label]
                name = arch[op.op_label] if op.op_label else names[0]
                ni_k = op.input_label.rsplit(".input_", 1)[1]
                _sub_state(module.edges[keys[j]][name], arch, f"{prefix}ops.op_{ni_k}.", out)
        _sub_state(module.postprocess, arch, f"{prefix}postprocess.", out)
    elif isinstance(module, Chain):
        for i, sub in enumerate(module):
            _sub_state(sub, arch, f"{prefix}{i}.", out)
    else:
        for k, v in module.state_dict(keep_vars=True).items():
            out[prefix + k] = v


# --- small helpers over tensors or tuples of tensors ---------------------------------------------

def _scale(y, w):
    return tuple(t * w for t in y) if isinstance(y, tuple) else y * w


def _add(a, b):
    return tuple(x + y for x, y in zip(a, b)) if isinstance(a, tuple) else a + b


def _shape(y):
    return tuple(t.shape for t in y) if isinstance(y, tuple) else y.shape


def _unpack(xs: tuple):
    return xs[0] if len(xs) == 1 else xs


def _run(blocks, xs):
    for block in blocks:
        out = block(*xs)
        xs = out if isinstance(out, tuple) else (out,)
    return _unpack(xs)


def _ref(label: str):
    from ..values import Ref
    return Ref(label)
