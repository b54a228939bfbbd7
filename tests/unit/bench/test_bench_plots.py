"""The PNG plots: every label inside the image, and boxes that say which load level they are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")
from modelport.bench.render.plots import write_plots
from modelport.bench.results import BenchResult, Row

LATENCIES = [1.0 + 0.01 * i for i in range(100)]


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every matplotlib figure saved during the test."""
    from matplotlib.figure import Figure

    saved: list[Any] = []
    original = Figure.savefig

    def record(self: Any, *args: Any, **kwargs: Any) -> Any:
        saved.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return saved


def outside(figure: Any) -> list[str]:
    """The texts of ``figure`` that are drawn (partly) outside the image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    canvas = FigureCanvasAgg(figure)  # pyplot detached the figure's canvas when it closed it
    canvas.draw()
    renderer = canvas.get_renderer()
    box = figure.bbox
    cut = []
    for text in figure.findobj(Text):
        if not text.get_visible() or not text.get_text():
            continue
        ext = text.get_window_extent(renderer)
        if ext.x0 < box.x0 - 1 or ext.x1 > box.x1 + 1 or ext.y0 < box.y0 - 1 or ext.y1 > box.y1 + 1:
            cut.append(text.get_text())
    return cut


def local_result(model: str) -> BenchResult:
    """One runtime at two batch sizes, with raw latencies."""
    rows = [
        Row("onnxruntime", precision="fp32", batch_size=b, p50_ms=1.5, throughput=100.0 * b,
            latencies_ms=LATENCIES)
        for b in (1, 8)
    ]  # fmt: skip
    return BenchResult(model, rows=rows)


def remote_result() -> BenchResult:
    """One protocol at three concurrency levels."""
    rows = [
        Row("http json", device="remote", p50_ms=1.5 * c, throughput=50.0 * c,
            latencies_ms=[v * c for v in LATENCIES],
            details={"level": "concurrency", "value": float(c)})
        for c in (1, 4, 16)
    ]  # fmt: skip
    return BenchResult("resnet18", mode="remote", rows=rows)


def test_a_long_model_path_stays_inside_the_local_plots(tmp_path: Path, figures: list[Any]) -> None:
    """With one runtime and a model given by a long path, no title is cut off."""
    model = "/home/someone/models/resnet50-v1.5/exported-with-torch-2.13/model.onnx"
    written = write_plots(local_result(model), tmp_path)
    assert [p.name for p in written] == ["latency.png", "throughput_vs_batch.png"]
    assert len(figures) == 2
    for figure in figures:
        assert outside(figure) == []
    assert "model.onnx" in figures[0].axes[0].get_title()


def test_remote_latency_boxes_name_their_level(tmp_path: Path, figures: list[Any]) -> None:
    """Each box of a remote run names its protocol and its concurrency, all inside the image."""
    write_plots(remote_result(), tmp_path)
    latency = figures[0]
    labels = [t.get_text() for t in latency.axes[0].get_xticklabels()]
    assert labels == ["http json\nc=1", "http json\nc=4", "http json\nc=16"]
    assert "client latency" in latency.axes[0].get_title()
    for figure in figures:
        assert outside(figure) == []
