"""Every library space works with every strategy of the lowering.

For each space in spaces/ (at a small width, so the suite stays fast): the supernet of darts,
gumbel, spos and proxyless runs one forward and backward pass, or the compiler refuses at build
time in one line naming the decision and the reason — and only where this table expects it; the
discrete models of 3 sampled architectures run forward and backward, with as many parameters as
`costs` counts without torch.
"""
from __future__ import annotations

import re

import pytest

torch = pytest.importorskip("torch")

import nasdsl  # noqa: E402
from nasdsl.analysis.shapes import costs  # noqa: E402
from nasdsl.errors import NasError  # noqa: E402
from nasdsl.lower.discrete import build  # noqa: E402
from nasdsl.strategy import build_supernet  # noqa: E402

STRATEGIES = ("darts", "gumbel", "spos", "proxyless")

# A small configuration of each space: every space of the library must be listed.
SMALL: dict[str, dict] = {
    "nasbench201": {"C": 4, "N": 1},
    "darts": {"C": 4, "layers": 3},
    "nasnet": {"C": 4, "layers": 3},
    "enas": {"C": 4, "layers": 3},
    "amoebanet": {"C": 4, "layers": 3},
    "pnas": {"C": 4, "layers": 3},
    "enas_macro": {"C": 4, "layers": 6},
    "nasbench101": {"C": 8, "stacks": 1, "cells": 1},
    "proxylessnas": {"resolution": 32, "width_mult": 0.25, "num_classes": 10},
    "mobilenetv2": {"resolution": 32, "width_mult": 0.25, "num_classes": 10},
    "mobilenetv3": {"resolution": 32, "num_classes": 10, "base_widths": [8, 8, 8, 8, 8, 16, 16, 32, 32],
                    "width_mults": [0.5, 1.0], "expand_ratios": [1.0, 3.0, 6.0], "depths": [1, 2]},
    "shufflenet": {"stem": 8, "widths": [16, 32, 48, 64], "repeats": [2, 1, 1, 1], "last": 64, "resolution": 32,
                   "num_classes": 10, "channel_search": True},
    "autoformer": {"search_embed_dim": [16, 24, 32], "search_num_heads": [1, 2], "search_depth": [1, 2, 3],
                   "head_dim": 8, "img_size": 32, "patch_size": 8, "num_classes": 10},
}

# (space, strategy) -> a pattern the one-line refusal must match (it names the decision).
# A loose-end cell concatenates the nodes no op reads: its width depends on the input choices, so
# strategies that run every path at once cannot mix it (sampling ones can).
LOOSE_END = r"cell 'normal': merge=\"loose_end\" .* (darts|gumbel|proxyless) must compare paths of one shape"
# NAS-Bench-101's vertex widths follow its 21 edge decisions: too many joint values to weigh.
JOINT = r"depend on [\d,]+ joint values of \d+ decisions \(cell\.e.*\): too many for (darts|gumbel|proxyless)"
REFUSED: dict[tuple[str, str], str] = {
    **{(name, strategy): LOOSE_END for name in ("nasnet", "enas", "amoebanet") for strategy in ("darts", "gumbel", "proxyless")},
    **{("nasbench101", strategy): JOINT for strategy in ("darts", "gumbel", "proxyless")},
}


def library() -> list[str]:
    """The spaces of spaces/ (files that declare a network; op libraries are imported by them)."""
    return nasdsl.builtin_spaces()


def small(name: str):
    return nasdsl.load(name, params=SMALL[name])


def run_pass(model, space) -> None:
    torch.manual_seed(0)
    inputs = [torch.randn(2, *t.shape) for t in space.template.inputs]
    out = model(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    loss = sum(o.float().pow(2).mean() for o in outs)
    assert torch.isfinite(loss)
    if loss.requires_grad:
        loss.backward()


def test_every_space_has_a_small_configuration():
    assert sorted(SMALL) == library()


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", library())
def test_supernet_runs_or_refuses_in_one_line(name, strategy):
    torch.set_num_threads(1)
    space = small(name)
    expected = REFUSED.get((name, strategy))
    try:
        net = build_supernet(space, strategy, seed=0)
    except NasError as err:
        assert expected is not None, f"{name} refused {strategy}: {err.message}"
        assert "\n" not in err.message and re.search(expected, err.message), err.message
        labels = {d.label for d in space.decisions} | {d.label.split(".")[0] for d in space.decisions}
        assert any(label in err.message for label in labels), err.message
        return
    assert expected is None, f"{name} was expected to refuse {strategy}"
    net.train()
    run_pass(net, space)
    assert any(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("name", library())
def test_sampled_architectures_build_and_run(name):
    torch.set_num_threads(1)
    space = small(name)
    for seed in range(3):
        arch = space.sample(seed=seed)
        model = build(space, arch)
        assert sum(p.numel() for p in model.parameters()) == costs(space, arch)["params"]
        model.train()
        run_pass(model, space)


def _short(n: int) -> str:
    """A size as spaces/README.md writes it: exact below 10^7, else 3 significant digits."""
    if n < 10**7:
        return f"{n:,}"
    mantissa, exponent = f"{n:.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def test_spaces_readme_table_is_true():
    """Every space has a row in spaces/README.md, with its decisions, exact size and lines."""
    text = nasdsl.spaces_dir() / "README.md"
    if not text.is_file():  # an installed wheel ships the spaces, not their README
        pytest.skip("no spaces/README.md next to the spaces")
    rows = {}
    for line in text.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 8 and cells[0] in library():
            rows[cells[0]] = cells
    assert sorted(rows) == library()
    for name, (_, _, decisions, size, _, lines, _, command) in rows.items():
        space = nasdsl.load(name)
        own = len((nasdsl.spaces_dir() / f"{name}.nas").read_text().splitlines())
        assert (int(decisions), size, int(lines.split(" + ")[0])) == (len(space.decisions), _short(space.size()), own)
        assert command == f"`nasdsl info spaces/{name}.nas`"


def fixed_outputs(name: str, strategy: str):
    """(supernet, discrete model) outputs in eval mode for 2 sampled architectures: the
    supernet of `strategy` fixed to each, the discrete model loaded with `sub_state_dict`."""
    torch.set_num_threads(1)
    space = small(name)
    net = build_supernet(space, strategy, seed=0)
    torch.manual_seed(1)
    inputs = [torch.randn(2, *t.shape) for t in space.template.inputs]
    for seed in range(2):
        arch = space.sample(seed=seed)
        net.fix(arch)
        model = build(space, arch)
        model.load_state_dict(net.sub_state_dict(arch), strict=True)
        net.eval(), model.eval()
        with torch.no_grad():
            yield arch, net(*inputs), model(*inputs)


@pytest.mark.parametrize("name", library())
def test_sampling_supernet_fixed_to_an_architecture_is_its_discrete_model(name):
    """Weight inheritance on every space: the spos supernet fixed to a sampled architecture
    computes exactly what the discrete model computes after loading `sub_state_dict`."""
    for arch, got, want in fixed_outputs(name, "spos"):
        assert torch.equal(got, want), arch


@pytest.mark.parametrize("name", [name for name in library() if (name, "darts") not in REFUSED])
def test_differentiable_supernet_with_one_hot_weights_is_the_discrete_model(name):
    """darts with one-hot architecture weights (`fix`) computes what the discrete model
    computes with the inherited weights: mixed ops (channel masks, cropped kernels) included."""
    for arch, got, want in fixed_outputs(name, "darts"):
        assert torch.allclose(got, want, atol=1e-5, rtol=1e-4), (arch, (got - want).abs().max())
