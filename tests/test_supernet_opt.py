"""The supernet as an optimised program: fidelity to the published supernets, the binary
gates' batch-norm bookkeeping, and the rewrite passes (each switchable off, each leaving
outputs, weight gradients and architecture gradients unchanged)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings
from hypothesis import strategies as st
from test_equivalence import assert_equivalent

import nasdsl
from nasdsl.errors import NasError
from nasdsl.lower.discrete import build
from nasdsl.lower.export import export_source
from nasdsl.lower.passes import PASSES, OnesAvgPool2d
from nasdsl.lower.supernet import SuperCell, build_supernet
from nasdsl.strategy import build_supernet as strategy_supernet


def weights(net) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("mode", ["mixture", "gated", "path"])
def test_darts_cell_supernet_shares_candidates_per_edge_as_the_paper(mode):
    # DARTS's mixed op lives on an edge (node, input): both op slots of a node that read the
    # same input share its 7 candidates. NNI 3.0's DARTS one-shot supernet at C=16, 8 cells
    # holds 1,987,194 weights; building candidates per slot would give 3.87M.
    net = build_supernet(nasdsl.load("darts", {"C": 16, "layers": 8}), mode, seed=0)
    assert weights(net) == 1_987_194
    cell = next(m for m in net.modules() if isinstance(m, SuperCell))
    assert sorted(cell.edges) == sorted(f"{n}_{j}" for n in range(2, 6) for j in range(n))


# --- proxyless: the binary gates restore only their own candidates' statistics -------------------

GATED = {"nasbench201": {"C": 4, "N": 1}, "darts": {"C": 4, "layers": 3}, "examples/mobile.nas": {}}


def gated_step(net, x, steps: int = 3):
    """Three binary-gate steps on fresh paths: alpha grads, weight grads, every buffer."""
    results = []
    for _ in range(steps):
        net.resample()
        net.zero_grad()
        for p in net.arch_parameters():
            p.grad = None
        net(x).square().mean().backward()
        results.append(({n: p.grad.clone() for n, p in net.arch.items() if p.grad is not None},
                        {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None},
                        {n: b.clone() for n, b in net.named_buffers()}))
    return results


@pytest.mark.parametrize("name", sorted(GATED))
def test_binary_gates_restore_only_their_candidates_statistics(name, monkeypatch):
    import nasdsl.lower.gates as policy
    space = nasdsl.load(name, GATED[name])
    x = torch.randn(2, *space.template.inputs[0].shape, generator=torch.Generator().manual_seed(1))
    restored: list[int] = []
    keep = policy.keep_statistics

    def counting(buffers):
        restored.append(len(buffers))
        return keep(buffers)

    monkeypatch.setattr(policy, "keep_statistics", counting)
    torch.manual_seed(0)
    net = build_supernet(space, "gated", seed=0)
    net.train()
    own = gated_step(net, x)
    everything = len(net.policy.statistics)
    assert restored and max(restored) < everything   # each gate restores a part of the network
    assert sum(restored) > 0

    # reference: every gate restores every statistic of the network (the former behaviour)
    monkeypatch.setattr(policy, "keep_statistics", lambda buffers: keep(ref.policy.statistics))
    torch.manual_seed(0)
    ref = build_supernet(space, "gated", seed=0)
    ref.train()
    whole = gated_step(ref, x)
    for (a1, w1, b1), (a2, w2, b2) in zip(own, whole):
        for group1, group2 in ((a1, a2), (w1, w2), (b1, b2)):
            assert group1.keys() == group2.keys()
            for key in group1:
                assert torch.equal(group1[key], group2[key]), key
    assert any(bool(g.abs().sum() > 0) for g in own[-1][0].values())


# --- rewrite passes: optimised and plain supernets agree ----------------------------------------

SPACES = {"nasbench201": {"C": 4, "N": 1}, "darts": {"C": 4, "layers": 3, "auxiliary": True},
          "examples/cell.nas": {}, "examples/mobile.nas": {}, "examples/macro.nas": {"C": 4, "layers": 4}}
SETTINGS = [(), *((p,) for p in PASSES), PASSES]


def step(net, x, train: bool):
    """Outputs, weight grads, architecture grads and every buffer after one forward+backward."""
    net.train(train)
    net.zero_grad()
    for a in net.arch_parameters():
        a.grad = None
    out = net(x)
    outs = out if isinstance(out, tuple) else (out,)
    sum(o.square().mean() for o in outs).backward()
    return ([o.detach() for o in outs],
            {n: p.grad for n, p in net.named_parameters() if p.grad is not None},
            {n: a.grad for n, a in net.arch.items() if a.grad is not None},
            {n: b.clone() for n, b in net.named_buffers()})


@pytest.mark.parametrize("strategy", ["darts", "gumbel"])
@pytest.mark.parametrize("name", sorted(SPACES))
def test_optimised_and_plain_supernets_agree(name, strategy):
    space = nasdsl.load(name, SPACES[name])
    # float64: the rewrites reorder sums, and batch norm at batch 2 amplifies float32 rounding
    x = torch.randn(2, *space.template.inputs[0].shape, generator=torch.Generator().manual_seed(3),
                    dtype=torch.float64)
    results = {}
    for passes in SETTINGS:
        torch.manual_seed(0)
        net = strategy_supernet(space, strategy, seed=0, passes=passes).double()
        results[passes] = [step(net, x, train) for train in (True, True, False)]
    plain = results[()]
    for passes, got in results.items():
        for (o1, w1, a1, b1), (o2, w2, a2, b2) in zip(got, plain):
            for p, q in zip(o1, o2):
                assert torch.allclose(p, q, atol=1e-9, rtol=1e-7), (passes, (p - q).abs().max())
            for g1, g2 in ((w1, w2), (a1, a2), (b1, b2)):
                assert g1.keys() == g2.keys(), passes
                for key in g1:
                    assert torch.allclose(g1[key].double(), g2[key].double(), atol=1e-9, rtol=1e-7), (passes, key)
        assert plain[0][2], "architecture gradients must flow"


@pytest.mark.parametrize("passes", SETTINGS[1:])
@pytest.mark.parametrize("name", ["nasbench201", "darts", "examples/macro.nas"])
def test_each_pass_keeps_the_fixed_supernet_equal_to_the_discrete_model(name, passes):
    space = nasdsl.load(name, SPACES[name])
    assert_equivalent(space, "darts", space.sample(0), passes=passes)
    assert_equivalent(space, "gumbel", space.sample(1), passes=passes)


def calls(net, kind) -> list[int]:
    """A counter of forward calls of candidate modules of type `kind`, by hooks."""
    count = [0]
    for m in net.modules():
        if isinstance(m, kind):
            m.register_forward_hook(lambda *_: count.__setitem__(0, count[0] + 1))
    return count


def test_passes_do_less_work_on_nasbench201():
    from nasdsl.ops.modules import Zero
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    x = torch.randn(2, 3, 32, 32)
    per_cell = {}
    for passes in ((), PASSES):
        net = build_supernet(space, "mixture", seed=0, passes=passes)
        cells = [m for m in net.modules() if type(m).__name__ == "SuperChoice"]
        relus, zeros, pools, norms = ([0], [0], [0], [0])
        for choice in cells:
            for m in choice.modules():
                for kind, counter in ((torch.nn.ReLU, relus), (Zero, zeros), (torch.nn.AvgPool2d, pools),
                                      (torch.nn.BatchNorm2d, norms)):
                    if isinstance(m, kind):
                        m.register_forward_hook(lambda *_, c=counter: c.__setitem__(0, c[0] + 1))
        out = net(x)
        ncells = len(cells) // 6   # 6 edges per cell, every cell is its own choice set
        per_cell[passes] = (relus[0] / ncells, zeros[0] / ncells, pools[0] / ncells, norms[0] / ncells)
        before = relus[0]
        out.sum().backward()
        per_cell[passes, "backward relus"] = (relus[0] - before) / ncells
    assert per_cell[()] == (12, 6, 6, 12)
    assert per_cell[(), "backward relus"] == 0
    # n0, n1, n2 are each read by several edges: one ReLU and one pool per tensor, no zeros,
    # batch norms run folded (as F.batch_norm with scaled affine parameters, not the module)
    assert per_cell[PASSES] == (3, 0, 3, 0)
    # recompute_pure: a ReLU is recomputed for each backward step that reads it: its own (3)
    # and the 1x1 and 3x3 convolution of each of the 6 edges (12)
    assert per_cell[PASSES, "backward relus"] == 3 + 12


def saved_bytes(net, x) -> int:
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = net(x)
    out.sum().backward()
    return total[0]


def test_rewrites_and_checkpointing_save_fewer_activations_with_the_same_step():
    space = nasdsl.load("nasbench201", {"C": 8, "N": 1})
    x = torch.randn(4, 3, 32, 32)
    plain = build_supernet(space, "mixture", seed=0, passes=())
    fast = build_supernet(space, "mixture", seed=0)
    lean = build_supernet(space, "mixture", seed=0, checkpoint=True)
    sizes = [saved_bytes(n, x) for n in (plain, fast, lean)]
    assert sizes[1] < 0.75 * sizes[0]
    assert sizes[2] < 0.5 * sizes[1]
    torch.manual_seed(0)
    ref = build_supernet(space, "mixture", seed=0)
    torch.manual_seed(0)
    lean2 = build_supernet(space, "mixture", seed=0, checkpoint=True)
    for (o1, w1, a1, b1), (o2, w2, a2, b2) in zip([step(ref, x, True) for _ in range(2)],
                                                  [step(lean2, x, True) for _ in range(2)]):
        assert torch.allclose(o1[0], o2[0], atol=1e-6)
        for g1, g2 in ((w1, w2), (a1, a2), (b1, b2)):
            assert g1.keys() == g2.keys()
            for key in g1:
                assert torch.allclose(g1[key].float(), g2[key].float(), atol=1e-6, rtol=1e-5), key
    # the batch-norm statistics moved once per step, not again when recomputed
    assert int(dict(lean2.named_buffers())["net.stem.1.num_batches_tracked"]) == 2


@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 5), stride=st.integers(1, 3), h=st.integers(5, 9), w=st.integers(5, 9),
       pad_frac=st.integers(0, 2), c=st.integers(1, 3))
def test_ones_kernel_average_pool_equals_avgpool2d(k, stride, h, w, pad_frac, c):
    padding = min(pad_frac, k // 2)
    x = torch.randn(2, c, h, w, dtype=torch.float64, requires_grad=True)
    ref = torch.nn.AvgPool2d(k, stride, padding, count_include_pad=False)
    fast = OnesAvgPool2d(k, stride, padding, count_include_pad=False)
    a, b = ref(x), fast(x)
    assert a.shape == b.shape
    assert torch.allclose(a, b, atol=1e-12)
    g = torch.randn_like(a)
    (ga,) = torch.autograd.grad(a, x, g)
    (gb,) = torch.autograd.grad(b, x, g)
    assert torch.allclose(ga, gb, atol=1e-12)


def test_unknown_pass_is_named():
    with pytest.raises(NasError, match="unknown supernet pass 'fold'.*drop_zero, shared_prefix"):
        build_supernet(nasdsl.load("nasbench201", {"C": 4, "N": 1}), "mixture", passes=("fold",))


PICK2 = """
param C = 4

network(x: [3, 8, 8]) {
  a = x -> Conv2d(3, C, 3, padding=1)
  b = x -> Conv2d(3, C, 1)
  c = x -> Conv2d(3, C, 3, padding=1, bias=false)
  d = x -> Conv2d(3, C, 1, bias=false)
  m = pick(a, b, c, d, n=2, reduce="mean")
  head = m -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(C, 10)
  return head
}
"""


def test_input_mix_weighs_each_input_once():
    # a pick of 2 of 4 inputs has 6 subsets: the plain mixture averages and multiplies each
    # (saving 6 means for the weights' gradients); the linear form multiplies each input once
    # (saving the 4 inputs), with the same outputs and gradients
    space = nasdsl.loads(PICK2, "pick2.nas")
    assert len(space.decision("m").values) == 6
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    counts, results = {}, {}
    for passes in ((), ("input_mix",)):
        torch.manual_seed(0)
        net = build_supernet(space, "mixture", seed=0, passes=passes).double()
        seen = []

        def pack(t, seen=seen):
            seen.append(t)
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = net(x)
        out.square().sum().backward()
        counts[passes] = len({(t.data_ptr(), t.shape) for t in seen if t.dim() == 4 and t.shape[0] == 2})
        results[passes] = (out.detach(), net.arch_parameters()[0].grad.clone(),
                           {n: p.grad for n, p in net.named_parameters()})
    assert counts[()] - counts[("input_mix",)] == 6 - 4
    (o1, a1, w1), (o2, a2, w2) = results[()], results[("input_mix",)]
    assert torch.allclose(o1, o2, atol=1e-12) and torch.allclose(a1, a2, atol=1e-12)
    assert all(torch.allclose(w1[k], w2[k], atol=1e-12) for k in w1)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@settings(max_examples=30, deadline=None)
@given(k=st.integers(1, 4), n=st.sampled_from([None, 1, 2]), seed=st.integers(0, 2**16))
def test_input_mix_equals_the_sum_over_subsets(reduce, k, n, seed):
    import itertools

    from nasdsl.lower.discrete import reduce_inputs
    from nasdsl.lower.passes import InputMix
    sizes = range(0, k + 1) if n is None else [min(n, k)]
    subsets = [v for r in sizes for v in itertools.combinations(range(k), r)]
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(3, 2, dtype=torch.float64, generator=g, requires_grad=True) for _ in range(k)]
    w = torch.randn(len(subsets), dtype=torch.float64, generator=g).softmax(0).requires_grad_()
    plain = sum(reduce_inputs([xs[i] for i in v], reduce, like=xs[0]) * w[j] for j, v in enumerate(subsets))
    fast = InputMix(subsets, reduce, k)(xs, w)
    assert torch.allclose(plain, fast, atol=1e-12)
    up = torch.randn(3, 2, dtype=torch.float64, generator=g)
    for a, b in zip(torch.autograd.grad(plain, [w, *xs], up), torch.autograd.grad(fast, [w, *xs], up)):
        assert torch.allclose(a, b, atol=1e-12)


def test_recompute_pure_frees_the_shared_relus_and_keeps_the_step():
    # NB201: shared_prefix computes one ReLU per tensor read by ReLU-Conv-BN edges (3 per cell).
    # Autograd keeps each for its convolutions' backward; recompute_pure keeps the ReLU's input
    # instead (kept anyway) and recomputes the ReLU in backward, so none survives the forward.
    import gc
    import weakref
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    x = torch.randn(2, 3, 32, 32)
    keep = tuple(p for p in PASSES if p != "recompute_pure")
    results, alive = {}, {}
    for passes in (keep, PASSES):
        torch.manual_seed(0)
        net = build_supernet(space, "mixture", seed=0, passes=passes)
        refs = []
        for choice in (m for m in net.modules() if type(m).__name__ == "SuperChoice"):
            for m in choice.modules():
                if isinstance(m, torch.nn.ReLU):
                    m.register_forward_hook(lambda _m, _i, out, refs=refs: refs.append(weakref.ref(out)))
        out = net(x)
        gc.collect()
        alive[passes] = sum(r() is not None for r in refs)
        ncells = sum(type(m).__name__ == "SuperChoice" for m in net.modules()) // 6
        assert len(refs) == 3 * ncells == 9
        out.square().mean().backward()
        results[passes] = (out.detach(), {n: p.grad for n, p in net.named_parameters()},
                           {n: a.grad for n, a in net.arch.items()})
    assert alive == {keep: 9, PASSES: 0}
    (o1, w1, a1), (o2, w2, a2) = results[keep], results[PASSES]
    assert torch.equal(o1, o2)
    for g1, g2 in ((w1, w2), (a1, a2)):
        assert g1.keys() == g2.keys()
        for key in g1:
            assert torch.equal(g1[key], g2[key]), key   # the recomputed ReLU is the same tensor


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["darts", "proxyless"])
def test_compiled_supernet_equals_eager(strategy):
    # build_supernet(..., compile=True) runs the network under torch.compile: the same outputs,
    # weight and architecture gradients as eager (float32 rounding), the same state dict keys
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    results = []
    for compiled in (False, True):
        torch.manual_seed(0)
        net = strategy_supernet(space, strategy, seed=0, compile=compiled,
                                passes=tuple(p for p in PASSES if p != "channels_last"))
        # saved-tensor hooks would split the compiled graph: compile leaves recomputation to torch
        assert ("recompute_pure" in net.passes) == (strategy == "darts" and not compiled)
        net.train()
        got = []
        for _ in range(2):
            if strategy == "proxyless":
                net.resample()
            got.append(step(net, x, True))
        results.append((sorted(net.state_dict()), got))
    (keys1, eager), (keys2, compiled) = results
    assert keys1 == keys2
    for (o1, w1, a1, b1), (o2, w2, a2, b2) in zip(eager, compiled):
        assert torch.allclose(o1[0], o2[0], atol=1e-5, rtol=1e-4)
        for g1, g2 in ((w1, w2), (a1, a2), (b1, b2)):
            assert g1.keys() == g2.keys()
            for key in g1:
                assert torch.allclose(g1[key].float(), g2[key].float(), atol=1e-4, rtol=1e-3), key
    assert eager[0][2]   # architecture gradients flow


# --- channels_last: the layout of the inputs, the same in the supernet and the discrete model -----

def test_channels_last_is_the_default_layout_of_supernets_and_discrete_models():
    # CPU image batches enter both networks channels-last (the first convolution sees that
    # layout); the values are those of the model fed the same layout by hand
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    arch = space.sample(0)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    seen = []

    def record(module, inputs):
        seen.append(inputs[0].is_contiguous(memory_format=torch.channels_last))

    for strategy in ("darts", "spos", "proxyless"):
        net = strategy_supernet(space, strategy, seed=0)
        assert "channels_last" in net.passes
        stem = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
        handle = stem.register_forward_pre_hook(record)
        net(x)
        handle.remove()
    model = build(space, arch)
    stem = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    stem.register_forward_pre_hook(record)
    out = model(x)
    assert seen == [True] * 4
    plain = build(space, arch, channels_last=False)
    plain.load_state_dict(model.state_dict())
    assert torch.equal(out, plain(x.contiguous(memory_format=torch.channels_last)))
    net = strategy_supernet(space, "darts", seed=0, passes=())
    assert not net.passes


class Flat(torch.nn.Module):
    """A custom op as hand-written code has them: `view` needs a contiguous input."""

    def forward(self, x):
        return x.view(x.shape[0], -1)


def test_a_space_with_a_custom_op_keeps_its_inputs_layout_unless_named():
    # a custom op may `view` its input, which the channels-last layout breaks: such a space
    # runs every default pass but channels_last, in the supernet and the discrete model alike
    from nasdsl.ops import catalog
    nasdsl.register_op("LayoutTestFlat", Flat)
    try:
        space = nasdsl.loads("network(x: [3, 4, 4]) = x -> choice { a: Conv2d(3, 2, 1), b: Conv2d(3, 2, 3, padding=1) }"
                             " -> LayoutTestFlat() -> Linear(32, 5)", "flat.nas")
        x = torch.randn(2, 3, 4, 4)
        for strategy in ("darts", "spos"):
            net = strategy_supernet(space, strategy, seed=0)
            assert "channels_last" not in net.passes
            assert net(x).shape == (2, 5)
        assert build(space, space.sample(0))(x).shape == (2, 5)
        assert "channels_last" not in export_source(space, space.sample(0), check=False)
        named = strategy_supernet(space, "darts", seed=0, passes=("channels_last",))
        with pytest.raises(RuntimeError, match="view"):
            named(x)
    finally:
        catalog.unregister("LayoutTestFlat")


# --- liveness: a graph's interpreter drops each tensor after its last read -----------------------

LIVENESS = """
network(x: [4]) {
  a = Linear(4, 4)
  b = choice { p: Linear(4, 4), q: Tanh(), r: Identity() }
  c = Linear(4, 4)
  d = Linear(4, 4)
  t = a(x)
  u = b(t)
  return d(c(u)) + u
}
"""


@pytest.mark.parametrize("build_net", ["discrete", "spos", "darts"])
def test_graph_interpreters_free_each_tensor_after_its_last_read(build_net):
    # `t` is read by `b` only: once `b` ran nothing holds it (no autograd here; the prefixes that
    # `shared_prefix` shares, Tanh(t) and t itself, hold it no longer than it lives), so by the time
    # `c` runs it is gone, as in straight-line code; `u`, read again by the sum, is still alive
    import weakref
    space = nasdsl.loads(LIVENESS, "liveness.nas")
    net = build(space, {"b": "p"}) if build_net == "discrete" else strategy_supernet(space, build_net, seed=0)
    modules = dict(net.named_modules())
    kept: dict[str, weakref.ref] = {}
    alive: dict[str, bool] = {}

    def keep(name):
        return lambda module, inputs, output: kept.__setitem__(name, weakref.ref(output))

    def probe(module, inputs):
        alive.update({name: ref() is not None for name, ref in kept.items()})

    prefix = "net." if build_net != "discrete" else ""
    modules[prefix + "a"].register_forward_hook(keep("t"))
    modules[prefix + "c"].register_forward_hook(keep("c"))
    modules[prefix + "d"].register_forward_pre_hook(probe)
    with torch.no_grad():
        net(torch.randn(2, 4))
    assert alive == {"t": False, "c": True}
