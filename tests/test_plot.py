"""The architecture-weights plot of a one-shot search (issue 22): drawn once, after training,
with matplotlib's object API (no pyplot), at the size its panels ask for."""
from __future__ import annotations

import struct

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pytorch_lightning")
pytest.importorskip("matplotlib")

from nasdsl.cli import main  # noqa: E402
from nasdsl.search import oneshot  # noqa: E402

OPS = ["avg_pool_3x3", "none", "nor_conv_1x1", "nor_conv_3x3", "skip_connect"]


def png_size(path) -> tuple[int, int]:
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    return struct.unpack(">II", raw[16:24])


@pytest.mark.parametrize("labels, domains, size", [
    (6, [OPS], (1024, 384)),                      # 4 columns x 2 rows of 3.2 x 2.4 in at 80 dpi, one legend
    (2, [OPS[:2], OPS[2:]], (512, 192)),          # different values per decision: a legend per panel
    (0, [], (320, 160)),                          # no architecture weights (spos)
])
def test_plot_size_and_format(tmp_path, labels, domains, size):
    history = [{f"d{i}": {v: 1 / len(domains[i % len(domains)]) for v in domains[i % len(domains)]}
                for i in range(labels)} for _ in range(3)]
    oneshot.plot_history(history, tmp_path / "w.png", title="t")
    assert png_size(tmp_path / "w.png") == size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.png"]    # the temporary file renamed


def test_a_search_plots_once_after_its_last_epoch(tmp_path, monkeypatch, capsys):
    calls = []
    draw = oneshot.plot_history

    def counted(history, path, title="", order=()):
        calls.append(len(history))
        draw(history, path, title, order)
    monkeypatch.setattr(oneshot, "plot_history", counted)
    assert main(["search", "nasbench201", "--set", "C=4", "--set", "N=1", "--strategy", "darts", "--data", "digits",
                 "--batch-size", "256", "--epochs", "2", "--out", str(tmp_path / "run")]) == 0
    assert calls == [3]      # once, with the weights before training and after each of the 2 epochs
    assert png_size(tmp_path / "run" / "arch_weights.png") == (1024, 384)
