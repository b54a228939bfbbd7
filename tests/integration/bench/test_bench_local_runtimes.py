"""Real runtimes on the demo mlp, with tiny durations: measurements and the agreement column."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from modelport.bench.config import BenchConfig, RuntimeChoice
from modelport.bench.results import BenchResult
from modelport.bench.runner import Bench


def needs(*modules: str) -> pytest.MarkDecorator:
    """Skip unless every module is importable, naming what is missing."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)}")


def run(model: Path, *choices: str, batch_sizes: tuple[int, ...] = (1, 4)) -> BenchResult:
    """Benchmark ``model`` on the given runtimes for a few milliseconds each."""
    config = BenchConfig(
        str(model), runtimes=tuple(RuntimeChoice.parse(c) for c in choices),
        batch_sizes=batch_sizes, warmup=2, min_count=5, min_duration=0.05,
    )  # fmt: skip
    return Bench(config).run()


def test_onnxruntime_is_exact_against_its_own_reference(demo_mlp: Path) -> None:
    """ONNX Runtime in a worker reproduces the in-process reference and measures both batches."""
    result = run(demo_mlp, "onnxruntime")
    assert not result.skipped
    assert [r.batch_size for r in result.rows] == [1, 4]
    for row in result.rows:
        assert row.agrees is True and row.max_abs_diff == 0.0
        assert row.precision == "fp32" and row.version
        assert row.count >= 5 and 0 < row.p50_ms <= row.p99_ms
        assert row.throughput > 0 and row.first_call_ms > 0


@needs("openvino")
def test_openvino_fp32_and_bf16_agree_within_their_tolerances(demo_mlp: Path) -> None:
    """OpenVINO at fp32 matches to 1e-4; asked for bf16 it records bf16 and its looser bound."""
    result = run(demo_mlp, "openvino@fp32", "openvino@bf16", batch_sizes=(4,))
    assert not result.skipped, result.skipped
    fp32, bf16 = result.rows
    assert fp32.precision == "fp32" and fp32.agrees is True
    assert fp32.max_abs_diff is not None and fp32.max_abs_diff < 1e-4
    assert bf16.runtime == "openvino@bf16"
    assert bf16.precision in ("bf16", "fp32")  # CPUs without bf16 fall back to fp32
    assert bf16.agrees is True and bf16.atol is not None
    if bf16.precision == "bf16":
        assert bf16.atol > fp32.atol  # type: ignore[operator]


@needs("openvino")
def test_openvino_default_precision_is_recorded(demo_mlp: Path) -> None:
    """Left to itself OpenVINO picks a precision, and the row says which."""
    (row,) = run(demo_mlp, "openvino", batch_sizes=(1,)).rows
    assert row.precision in ("fp32", "bf16", "fp16")
    assert "precision chosen by OpenVINO" in row.notes


@needs("torch")
def test_torch_eager_agrees(demo_mlp: Path) -> None:
    """PyTorch eager on modelport's ONNX-to-torch conversion agrees with ONNX Runtime at fp32."""
    (row,) = run(demo_mlp, "torch", batch_sizes=(2,)).rows
    assert row.agrees is True and row.precision == "fp32"


@needs("torch")
def test_torch_eager_runs_every_demo_model(demo_mlp: Path) -> None:
    """The demo ResNet-18 and text encoder convert and agree too (bf16 within its tolerance)."""
    repo = demo_mlp.parents[2]
    for name, choice in (("resnet18", "torch"), ("text_encoder", "torch"),
                         ("text_encoder", "torch@bf16")):  # fmt: skip
        model = repo / name / "1" / "model.onnx"
        result = run(model, choice, batch_sizes=(2,))
        assert not result.skipped, result.skipped
        if result.rows[0].agrees is not True:  # a second run tells a sticky error from a fluke
            again = run(model, choice, batch_sizes=(2,)).rows[0].max_abs_diff
            pytest.fail(f"{name} on {choice}: max abs diff {result.rows[0].max_abs_diff} "
                        f"(a second run: {again})")  # fmt: skip


@pytest.mark.slow
@needs("ai_edge_litert", "flatbuffers")
def test_litert_agrees(demo_mlp: Path) -> None:
    """LiteRT on our ONNX-to-TFLite conversion agrees with ONNX Runtime at fp32."""
    result = run(demo_mlp, "litert", batch_sizes=(1, 3))
    assert not result.skipped, result.skipped
    assert all(r.agrees is True for r in result.rows)


@pytest.mark.slow
@needs("torch")
def test_torch_compile_agrees_and_reports_compile_as_first_call(demo_mlp: Path) -> None:
    """torch.compile agrees at fp32; compilation shows up in the first call, not steady state."""
    (row,) = run(demo_mlp, "torch-compile", batch_sizes=(2,)).rows
    assert row.agrees is True and row.notes.startswith("inductor; ")
    assert "no graph break" in row.notes  # Gemm/Relu compile as one graph
    assert row.first_call_ms > 10 * row.p50_ms
