"""Search from Python: `nasdsl.search(...)` over the multi-trial and one-shot drivers (`nasdsl.search.api`)."""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import pytest

import nasdsl
from nasdsl.errors import NasError
from nasdsl.formats import arch_to_nb201
from nasdsl.search.api import SearchResult

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
PNG = b"\x89PNG\r\n\x1a\n"


def conv3(arch) -> int:
    return sum(v == "nor_conv_3x3" for v in arch.values())


def test_nasdsl_search_is_callable_and_import_stays_torch_free():
    code = ("import sys, nasdsl; import nasdsl.search.multitrial; assert callable(nasdsl.search); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_evolution_with_a_python_evaluator_into_a_store_that_resumes(tmp_path):
    space = nasdsl.load("nasbench201")
    url = f"sqlite:///{tmp_path / 'exp.db'}"
    result = nasdsl.search(space, strategy="evolution", evaluator=conv3, trials=15, storage=url, seed=1)
    assert isinstance(result, SearchResult) and result.storage == url
    assert len(result.trial_list) == 15 and [t["number"] for t in result.trial_list] == list(range(15))
    assert all(t["value"] == conv3(t["arch"]) for t in result.trial_list)
    assert result.metrics["value"] == conv3(result.arch) == max(t["value"] for t in result.trial_list)
    frame = result.trials
    pd = pytest.importorskip("pandas")
    assert isinstance(frame, pd.DataFrame) and list(frame["value"]) == [t["value"] for t in result.trial_list]
    more = nasdsl.search(space, strategy="evolution", evaluator=conv3, trials=20, storage=url, seed=1)
    assert more.trial_list[:15] == result.trial_list and len(more.trial_list) == 20
    picture = result.plot(tmp_path / "best.png")
    assert picture.path.read_bytes()[:8] == PNG and picture._repr_png_()[:8] == PNG
    source = result.export(tmp_path / "net.py")
    compile(source, "net.py", "exec")
    assert (tmp_path / "net.py").read_text() == source


def test_a_table_evaluator_by_spec_and_trials_without_pandas(tmp_path, monkeypatch):
    space = nasdsl.load("nasbench201")
    rows = []
    for ops in itertools.product(OPS, repeat=6):
        arch = dict(zip(space.labels(), ops))
        rows.append(f"{arch_to_nb201(space, arch)},{conv3(arch) + 0.5}")
    table = tmp_path / "t.csv"
    table.write_text("arch,acc\n" + "\n".join(rows) + "\n")
    result = nasdsl.search(space, strategy="random", evaluator=f"table:{table}", metric="acc", trials=10,
                           out=tmp_path / "run")
    assert all(t["acc"] == conv3(t["arch"]) + 0.5 for t in result.trial_list)
    assert json.loads((tmp_path / "run" / "arch.json").read_text()) == result.arch
    from nasdsl.cli import main  # the run directory is one `nasdsl export` reads
    assert main(["export", str(tmp_path / "run"), "-o", str(tmp_path / "net.py")]) == 0
    def code(text):   # from a run directory the file also states its input shape and preprocessing
        return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    from_run = code((tmp_path / "net.py").read_text())
    assert [line for line in from_run if line in code(result.export())] == code(result.export())
    monkeypatch.setitem(sys.modules, "pandas", None)
    assert result.trials == result.trial_list
    assert (result.plot().path == tmp_path / "run" / "best_so_far.png")


@pytest.mark.parametrize("kwargs, message", [
    ({"strategy": "evolution"}, "needs evaluator="),
    ({"strategy": "evolution", "evaluator": conv3, "batch_size": 3}, "takes no batch_size="),
    ({"strategy": "darts", "evaluator": conv3}, "evaluator= is for multi-trial"),
    ({"strategy": "darts"}, "needs data="),
    ({"strategy": "darts", "data": "digits", "bogus": 1}, "has no option bogus="),
    ({"strategy": "dartz"}, "dartz"),
])
def test_bad_calls_are_one_clear_error(kwargs, message, tmp_path):
    with pytest.raises(NasError, match=message):
        nasdsl.search("nasbench201", out=tmp_path / "o", **kwargs)
    assert not (tmp_path / "o").exists()


def test_darts_on_digits_returns_the_found_architecture_and_its_curves(tmp_path):
    pytest.importorskip("pytorch_lightning")
    space = nasdsl.load("nasbench201", {"C": 4, "N": 1})
    result = nasdsl.search(space, strategy="darts", data="digits", epochs=1, batch_size=256, out=tmp_path / "d")
    assert result.out == tmp_path / "d"
    assert result.arch == json.loads((tmp_path / "d" / "arch.json").read_text())
    assert result.space.params == {**space.params, "in_channels": 1, "resolution": 8}   # fitted to digits
    assert result.space.contains(result.arch)
    assert [e["epoch"] for e in result.epoch_list] == [0]
    assert set(result.metrics) >= {"train_loss", "train_acc", "val_loss", "val_acc"}
    assert result.metrics["val_acc"] == result.epoch_list[-1]["val_acc"]
    assert result.trial_list == []
    assert result.plot().path == tmp_path / "d" / "curves.png"
    assert (tmp_path / "d" / "curves.png").read_bytes()[:8] == PNG
    source = result.export()
    compile(source, "net.py", "exec")
    assert "in_channels=1" in source and "C=4" in source


@pytest.mark.parametrize("progress", [True, False])
def test_progress_is_a_bar_of_trials_and_the_best_value_when_asked(progress, capsys, monkeypatch):
    monkeypatch.setenv("NASDSL_PROGRESS", "kept")
    nasdsl.search("nasbench201", strategy="random", evaluator=conv3, trials=5, progress=progress)
    err = capsys.readouterr().err
    assert ("5/5" in err and "best value=" in err) == progress
    assert ("trials" in err) == progress
    assert os.environ["NASDSL_PROGRESS"] == "kept"   # the one-shot driver's switch is put back
