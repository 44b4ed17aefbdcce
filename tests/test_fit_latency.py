"""`nasdsl fit-latency`: an additive per-decision latency model fitted by least squares to a
benchmark table, its error on the table reported, and the JSON it writes used by `--penalty`
and by `--constraint` alike."""
from __future__ import annotations

import json

import pytest
from nb201 import COST, OPS, TABLE, nb201_string, needs_table, synthetic_rows
from nb201 import latency as synthetic_latency

import nasdsl
from nasdsl.cli import main
from nasdsl.formats import arch_to_nb201
from nasdsl.search.evaluators import make_evaluator
from nasdsl.search.latency import LatencyModel
from nasdsl.search.multitrial import search
from nasdsl.search.tables import read_table


def test_an_exactly_additive_latency_is_recovered():
    space = nasdsl.load("nasbench201")
    cost = {"none": 0.0, "skip_connect": 0.5, "nor_conv_1x1": 1.0, "nor_conv_3x3": 4.0, "avg_pool_3x3": 1.5}
    rows = {}
    for seed in range(60):
        arch = space.sample(seed)
        rows[arch_to_nb201(space, arch)] = {"lat": 2.0 + sum(cost[v] for v in arch.values())}
    model = LatencyModel.fit(space, rows, "lat")
    for seed in range(60, 80):
        arch = space.sample(seed)
        assert model.predict(arch) == pytest.approx(2.0 + sum(cost[v] for v in arch.values()), abs=1e-6)
    assert model.fit_info["rmse"] == pytest.approx(0.0, abs=1e-9) and model.fit_info["r2"] == pytest.approx(1.0)
    assert model.fit_info["rows"] == len(rows)


def fit_table(table, column, path):
    assert main(["fit-latency", str(table), "--column", column, "-o", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def lut(tmp_path_factory, nb201_table):
    """`nasdsl fit-latency` on the synthetic table, whose latency is exactly additive."""
    return fit_table(nb201_table, "latency_pixel3", tmp_path_factory.mktemp("lut") / "lut.json")


def test_fit_on_a_table_recovers_its_additive_latency_and_reports_the_error(lut, nb201_table):
    space = nasdsl.load("nasbench201")
    data = json.loads(lut.read_text())
    fit = data["fit"]
    assert fit["rows"] == 15625 and fit["column"] == "latency_pixel3"
    assert fit["rmse"] == pytest.approx(0.0, abs=1e-9) and fit["r2"] == pytest.approx(1.0)
    rows, _ = read_table(nb201_table)
    model = LatencyModel.read(space, lut)
    for ops in synthetic_rows():   # every row's latency, predicted from the fitted costs
        arch = nasdsl.formats.nb201_to_arch(space, nb201_string(ops))
        assert model.predict(arch) == pytest.approx(synthetic_latency(ops), abs=1e-6)
        assert rows[nb201_string(ops)]["latency_pixel3"] == synthetic_latency(ops)
    for label in space.labels():   # one cost per operation, up to the constant each label absorbs
        costs = data[label]
        assert {op: costs[op] - costs["none"] for op in OPS} == pytest.approx(COST, abs=1e-6)
    assert set(data) == {"base", "fit", *space.labels()}


@needs_table
def test_fit_on_the_real_nb201_table_reports_its_error(tmp_path):
    space = nasdsl.load("nasbench201")
    path = fit_table(TABLE, "latency_pixel3", tmp_path / "lut.json")
    data = json.loads(path.read_text())
    fit_info = data["fit"]
    assert fit_info["rows"] == 15625 and fit_info["column"] == "latency_pixel3"
    assert fit_info["rmse"] == pytest.approx(2.035, abs=1e-3) and fit_info["r2"] == pytest.approx(0.8943, abs=1e-4)
    rows, _ = read_table(TABLE)
    model = LatencyModel.read(space, path)
    errors = [model.predict(nasdsl.formats.nb201_to_arch(space, k)) - r["latency_pixel3"] for k, r in rows.items()]
    assert (sum(e * e for e in errors) / len(errors)) ** 0.5 == pytest.approx(fit_info["rmse"], rel=1e-6)
    assert max(abs(e) for e in errors) == pytest.approx(fit_info["max_abs"], rel=1e-6)


def test_the_lookup_table_is_a_penalty_and_a_constraint(lut, nb201_table, tmp_path):
    torch = pytest.importorskip("torch")
    from nasdsl.strategy.penalty import CostPenalty
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    model = LatencyModel.read(space, lut)
    penalty = CostPenalty(space, str(lut))
    arch = space.sample(3)

    def one_hot(label):
        d = space.decision(label)
        return torch.tensor([1.0 if v == arch[label] else 0.0 for v in d.values])
    assert float(penalty.expected(one_hot)) == pytest.approx(model.predict(arch), rel=1e-6)

    full = nasdsl.load("nasbench201")
    ev = make_evaluator(f"table:{nb201_table}", full, "cifar10_test", [f"{lut}<=8"])
    url = f"sqlite:///{tmp_path / 'exp.db'}"
    result = search(full, "random", ev, 30, storage=url, seed=0, costs=False)
    assert all(model.predict(t.arch) <= 8 for t in result.trials) and len(result.trials) == 30
    from nasdsl.search.store import Store
    store = Store(url)
    store.open(None, {}, create=False)
    rejected = [t for t in store.trials() if t.state == "infeasible"]
    assert rejected and all(t.error == f"{lut}<=8" and model.predict(t.arch) > 8 for t in rejected)


def test_bad_input_is_one_message(tmp_path, nb201_table, capsys):
    assert main(["fit-latency", str(nb201_table), "--column", "latency_mars", "-o", str(tmp_path / "x.json")]) == 1
    assert "has no column 'latency_mars'" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"Cell.e9_9": {"none": 1.0}}))
    space = nasdsl.load("nasbench201")
    with pytest.raises(nasdsl.NasError, match="no decision 'Cell.e9_9' in the space"):
        make_evaluator(f"table:{nb201_table}", space, "cifar10_test", [f"{bad}<=3"])
