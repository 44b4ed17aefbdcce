"""A GPU smoke test: one-shot search, the train evaluator, `nasdsl train` and `nasdsl export` on
CUDA. Skipped where no CUDA device is visible (run it on a GPU machine whenever one is there)."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]

SMALL = ["--set", "C=4", "--set", "N=1"]


def test_search_train_and_export_on_cuda(tmp_path, capsys):
    import nasdsl
    from nasdsl.cli import main
    from nasdsl.data import fit_space, load_data
    from nasdsl.train import train_architecture
    one = tmp_path / "oneshot"
    assert main(["search", "nasbench201", *SMALL, "--strategy", "darts", "--data", "digits", "--epochs", "1",
                 "--accelerator", "gpu", "--out", str(one)]) == 0
    arch = json.loads((one / "arch.json").read_text())
    multi = tmp_path / "multi"
    assert main(["search", "nasbench201", *SMALL, "--strategy", "random", "--trials", "2", "--evaluator", "train",
                 "--data", "digits", "--accelerator", "gpu", "--workers", "2", "--out", str(multi)]) == 0
    assert json.loads((multi / "result.json").read_text())["trials"] == 2
    data = load_data("digits", 0)
    space = fit_space(lambda p: nasdsl.load("nasbench201", p), data, {"C": 4, "N": 1})
    torch.cuda.reset_peak_memory_stats()
    result = train_architecture(space, arch, data, 1, device="cuda", out=tmp_path / "trained")
    assert torch.cuda.max_memory_allocated() > 0 and 0.0 <= result["test_acc"] <= 1.0
    state = torch.load(tmp_path / "trained" / "model.pt", weights_only=True)
    assert all(t.device.type == "cpu" for t in state["state_dict"].values() if hasattr(t, "device"))
    assert main(["train", str(one), "--epochs", "1", "--accelerator", "gpu", "--out", str(tmp_path / "t2")]) == 0
    assert main(["export", str(one), "-o", str(tmp_path / "model.py")]) == 0
    namespace: dict = {}
    exec(compile((tmp_path / "model.py").read_text(), "model.py", "exec"), namespace)
    capsys.readouterr()
