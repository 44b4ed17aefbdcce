"""One-shot cost penalties on spaces with budgets, and budgets the data's input size refits.

`--penalty params` on a space with `require params <= N` used to exit before training: the
penalty priced each value with a one-draw sample that had to keep the budget. Now the
reference keeps the budget and the one-decision probes are priced whether or not they do,
so the first-order model is exact on an additive space over all its architectures. A budget
written for 32x32 images that the fit to 8x8 digits makes vacuous (or impossible) is warned
about.
"""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pytorch_lightning")

from test_oneshot_strategies import one_hot  # noqa: E402

import nasdsl  # noqa: E402
from nasdsl.analysis.refit import budget_shifts, target_shift  # noqa: E402
from nasdsl.analysis.shapes import costs  # noqa: E402
from nasdsl.cli import main  # noqa: E402
from nasdsl.data import fit_space_params, load_data  # noqa: E402
from nasdsl.strategy.penalty import CostPenalty  # noqa: E402

OPS = ("{ c3: Conv2d(16, 16, 3, padding=1), c1: Conv2d(16, 16, 1), pool: AvgPool2d(3, 1, 1), "
       "skip: Identity() }")
# 64 architectures; the budget keeps 39 of them, not the first values' (three 3x3 convs, 7,290 params)
BUDGETED = f"""network(x: [1, 8, 8]) {{
  s = x -> Conv2d(1, 16, 3, padding=1)
  a = s -> choice {OPS}
  b = a -> ReLU() -> choice {OPS}
  c = b -> ReLU() -> choice {OPS}
  return c -> AdaptiveAvgPool2d(1) -> Flatten() -> Linear(16, 10)
}}
require params <= 2700
"""


@pytest.mark.parametrize("metric", ["params", "flops"])
def test_penalty_prices_every_architecture_exactly_under_a_budget(metric):
    space = nasdsl.loads(BUDGETED, "budget.nas")
    assert space.size() == 64 and space.size_report().size == 39
    penalty = CostPenalty(space, metric)
    unbudgeted = nasdsl.loads(BUDGETED.replace("require params <= 2700", ""), "free.nas")
    for arch in unbudgeted.enumerate():   # over-budget ones too: the supernet's distribution holds them
        assert float(penalty.expected(one_hot(space, arch))) == costs(unbudgeted, arch)[metric]


@pytest.mark.parametrize("strategy", ["proxyless", "darts"])
def test_params_penalty_trains_on_a_budgeted_space(tmp_path, strategy):
    """Before: exit 1, "no architecture within the space's budgets in 1 draws"."""
    (tmp_path / "budget.nas").write_text(BUDGETED)
    out = tmp_path / strategy
    code = main(["search", str(tmp_path / "budget.nas"), "--strategy", strategy, "--data", "digits",
                 "--batch-size", "256", "--epochs", "1", "--penalty", "params", "--out", str(out)])
    assert code == 0
    space = nasdsl.loads(BUDGETED, "budget.nas")
    arch = json.loads((out / "arch.json").read_text())
    assert space.within_budgets(space.validate(arch))


NB201 = (nasdsl.spaces_dir() / "nasbench201.nas").read_text()


def nb201(budget: str, **params):
    return nasdsl.loads(NB201 + f"\n{budget}\n", "nb201.nas", params={"C": 4, "N": 1, **params})


def test_refit_to_digits_warns_when_a_flops_budget_becomes_vacuous(capsys):
    """NB201 C=4 N=1 costs 495,776 .. 3,149,984 MACs at 32x32 and 31,136 .. 197,024 at 8x8."""
    digits = load_data("digits")
    space, fitted = fit_space_params(lambda p: nb201("require flops <= 1e6", **p), digits)
    assert fitted == {"in_channels": 1, "resolution": 8}
    err = capsys.readouterr().err
    assert ("nb201.nas:" in err and "warning: `require flops <= 1000000` keeps every architecture at the fitted "
            "input size (it cut some as written): the budget no longer constrains the search" in err)
    fit_space_params(lambda p: nb201("require flops >= 1e6", **p), digits)
    assert "`require flops >= 1000000` keeps no architecture at the fitted input size" in capsys.readouterr().err
    fit_space_params(lambda p: nb201("require params <= 1e4", **p), digits)   # params: same at 8x8
    assert capsys.readouterr().err == ""


def test_budget_shifts_only_names_what_the_fit_changed():
    written = nb201("require flops <= 1e6\nrequire flops <= 1e5\nrequire flops <= 1e7", resolution=32)
    fitted = nb201("require flops <= 1e6\nrequire flops <= 1e5\nrequire flops <= 1e7", resolution=8)
    # 1e6: some -> all (warned); 1e5: none -> some (fine); 1e7: all -> all (vacuous as written already)
    assert [w.message.split(" keeps")[0] for w in budget_shifts(written, fitted)] == ["`require flops <= 1000000`"]


def test_a_penalty_target_the_fit_puts_out_of_reach_is_warned_about():
    written, fitted = nb201("", in_channels=1, resolution=32), nb201("", in_channels=1, resolution=8)
    w = target_shift(written, fitted, "flops", 1e6)
    assert w.message == ("--penalty-target 1e+06 is above every architecture's flops at the fitted input size "
                         "(at most 197,024); as written it lay within 495,776 .. 3,149,984")
    assert target_shift(written, fitted, "flops", 1e5) is None    # out of reach as written already
    assert target_shift(written, fitted, "params", 1e4) is None   # params do not depend on the resolution
