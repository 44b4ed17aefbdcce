"""optuna-dashboard reads a search's store: its own web application (called in-process through
WSGI, no server, no browser) lists the experiment with the objective's name, every trial with its
decisions as parameters, and parameter importances over them (issue 23: the README shows it)."""
from __future__ import annotations

import json
from wsgiref.util import setup_testing_defaults

import pytest

import nasdsl
from nasdsl.search.multitrial import search

optuna_dashboard = pytest.importorskip("optuna_dashboard")   # a failure under CI (tests/conftest.py)


def _get(app, path: str) -> dict:
    environ: dict = {}
    setup_testing_defaults(environ)
    environ.update(PATH_INFO=path, REQUEST_METHOD="GET")
    status: list[str] = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    assert status == ["200 OK"], (path, status, body[:200])
    return json.loads(body)


def test_the_dashboard_shows_a_search_by_its_metric_with_its_decisions(tmp_path):
    space = nasdsl.load("nasbench201")
    url = f"sqlite:///{tmp_path / 'exp.db'}"
    result = search(space, "random", lambda arch: {"accuracy": float(len(json.dumps(arch)))}, 9, storage=url,
                    objective="accuracy", seed=3)
    app = optuna_dashboard.wsgi(url)
    [summary] = _get(app, "/api/studies")["study_summaries"]
    assert summary["study_name"] == "nasdsl" and summary["directions"] == ["maximize"]
    study = _get(app, f"/api/studies/{summary['study_id']}")
    assert study["objective_names"] == ["accuracy"]
    assert [t["state"] for t in study["trials"]] == ["Complete"] * 9
    for rec, trial in zip(result.trials, study["trials"]):
        assert {p["name"]: p["param_external_value"] for p in trial["params"]} == dict(rec.arch)
        assert trial["values"] == [rec.value]
    importances = _get(app, f"/api/studies/{summary['study_id']}/param_importances")["param_importances"]
    assert {p["name"] for p in importances[0]} == set(space.labels())


def test_a_multi_objective_search_names_each_objective(tmp_path):
    space = nasdsl.load("nasbench201")
    url = f"sqlite:///{tmp_path / 'exp.db'}"
    search(space, "random", lambda arch: {"acc": 1.0, "ms": 2.0}, 4, storage=url, objectives=["acc:max", "ms:min"])
    study = _get(optuna_dashboard.wsgi(url), "/api/studies/1")
    assert study["objective_names"] == ["acc", "ms"] and study["directions"] == ["maximize", "minimize"]
