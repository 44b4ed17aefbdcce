"""ENAS under a budget: the controller redraws a path that breaks it, and the log-probability a
rollout returns is that of everything it drew, `sum_i log q(a_i)` (nasdsl/strategy/enas.py).
Checked on a nine-architecture space where q is enumerated exactly: the quantity itself, draw
by draw, and the property REINFORCE needs from it (a constant reward gives no expected update,
where the returned path's own `log q(a_N)` would push towards `grad log Z`)."""
import math
from itertools import product

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pytorch_lightning")

import nasdsl  # noqa: E402
from nasdsl.analysis.shapes import costs  # noqa: E402
from nasdsl.strategy.enas import Controller, _key  # noqa: E402

TEXT = """network(x: [8]) {
  a = choice[4, 8, 16]
  b = choice[4, 8, 16]
  return x -> Linear(8, a) -> Linear(a, b) -> Linear(b, 2)
}
require params <= 200
"""
SPACE = nasdsl.loads(TEXT)
ALL = [{"a": a, "b": b} for a, b in product((4, 8, 16), repeat=2)]


def within(arch) -> bool:
    return costs(SPACE, arch, validate=False)["params"] <= 200


def controller() -> Controller:
    torch.manual_seed(0)
    c = Controller(SPACE, lstm_size=8)
    with torch.no_grad():   # lean towards 16 and 16, which break the budget: Z is well below 1
        for label in ("a", "b"):
            c.heads[_key(label)].weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
    return c


def log_q(c: Controller, arch) -> torch.Tensor:
    """log q(arch) by teacher forcing: the controller's LSTM, heads and embeddings stepped
    through the decisions with arch's values (no constraint restricts them here)."""
    x, hidden, total = c.g_emb, None, torch.zeros(())
    for d in SPACE.order:
        out, hidden = c.lstm(x, hidden)
        p = torch.softmax(c._logits(out[0, 0], d.label), dim=-1)
        index = d.values.index(arch[d.label])
        total = total + torch.log(p[index] + 1e-10)
        x = c.embeddings[_key(d.label)](torch.nn.functional.one_hot(torch.tensor(index), len(d.values)).float())
        x = x.view(1, 1, -1)
    return total


def test_the_space_rejects_some_of_its_architectures():
    assert sum(map(within, ALL)) == 5 and SPACE.size() == 9


def test_a_rollout_returns_the_log_probability_of_all_its_draws():
    c = controller()
    with torch.no_grad():
        z = sum(math.exp(float(log_q(c, a))) for a in ALL if within(a))
    assert 0.2 < z < 0.8
    g = torch.Generator().manual_seed(0)
    redrawn = 0
    with torch.no_grad():
        for _ in range(60):
            arch, log_prob, _, _ = c.rollout(g)
            draws = c.last_draws
            assert draws[-1] == arch and within(arch)
            assert not any(within(d) for d in draws[:-1])      # every earlier draw broke the budget
            assert float(log_prob) == pytest.approx(sum(float(log_q(c, d)) for d in draws), abs=1e-5)
            assert float(c.last_log_q) == pytest.approx(float(log_q(c, arch)), abs=1e-5)
            redrawn += len(draws) > 1
    assert redrawn >= 10


def test_a_constant_reward_gives_no_expected_update():
    """With R = 1 and no baseline, grad J = 0: the mean of grad log_prob over rollouts is 0 up to
    sampling noise. Projected on grad log Z (enumerated exactly), the mean is ~0; the same mean of
    the returned path's own grad log q(a_N) is ~1, the bias the rejected draws remove."""
    c = controller()
    params = [p for p in c.parameters() if p.requires_grad]
    log_z = torch.logsumexp(torch.stack([log_q(c, a) for a in ALL if within(a)]), dim=0)
    flat = lambda gs: torch.cat([torch.zeros_like(p).flatten() if x is None else x.flatten()  # noqa: E731
                                 for p, x in zip(params, gs)])
    direction = flat(torch.autograd.grad(log_z, params, allow_unused=True))
    g = torch.Generator().manual_seed(1)
    full, last = [], []
    for _ in range(300):
        _, log_prob, _, _ = c.rollout(g)
        whole = flat(torch.autograd.grad(log_prob, params, retain_graph=True, allow_unused=True))
        path = flat(torch.autograd.grad(c.last_log_q, params, allow_unused=True))
        full.append(float(whole @ direction) / float(direction @ direction))
        last.append(float(path @ direction) / float(direction @ direction))

    def mean_and_error(xs):
        m = sum(xs) / len(xs)
        return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1) / len(xs))
    m_full, e_full = mean_and_error(full)
    m_last, e_last = mean_and_error(last)
    assert abs(m_full) < 4 * e_full and e_full < 0.25
    assert abs(m_last - 1) < 4 * e_last and abs(m_last) > 4 * e_last


def test_greedy_export_keeps_the_budget():
    """The greedy path (16, 16) breaks the budget; the result is then the most probable of the
    controller's draws within it, (4, 16), not a redraw of the same path until the space seems
    empty (an EmptySpaceError before)."""
    c = controller()
    c._logits = lambda h, label: torch.tensor([0.0, 0.0, 1.5]) + 0 * h.sum()   # every decision prefers 16
    with torch.no_grad():
        arch, log_prob, _, _ = c.rollout(torch.Generator().manual_seed(0), greedy=True)
        best = max((a for a in ALL if within(a)), key=lambda a: float(log_q(c, a)))
        assert arch == best == {"a": 4, "b": 16}
        assert float(log_prob) == pytest.approx(float(log_q(c, best)), abs=1e-5)
