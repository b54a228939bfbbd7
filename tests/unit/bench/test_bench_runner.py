"""The Bench hub with the fake runtime, each runtime in a real subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.bench.config import BenchConfig, RuntimeChoice
from modelport.bench.runner import Bench, thin
from modelport.errors import BenchError


def quick(model: Path, reference: str, min_duration: float = 0.01) -> BenchConfig:
    """A config that measures the fake for a few milliseconds per batch size."""
    return BenchConfig(
        str(model), runtimes=(RuntimeChoice("fake"),), batch_sizes=(1, 4), threads=1,
        warmup=1, min_count=3, min_duration=min_duration, reference=reference,
    )  # fmt: skip


def test_fake_runtime_in_a_worker_process(tiny_mlp: Path) -> None:
    """One row per batch size, with percentiles, environment and events from the worker."""
    events: list[tuple[str, str]] = []
    config = quick(tiny_mlp, "fake", min_duration=0.25)  # long enough for a progress event
    result = Bench(config, lambda rt, ev: events.append((rt, ev["event"]))).run()
    assert [(r.runtime, r.batch_size) for r in result.rows] == [("fake", 1), ("fake", 4)]
    row = result.rows[0]
    assert row.count >= 3 and row.p50_ms >= 1.0  # the fake sleeps 1 ms per call
    assert row.p50_ms <= row.p90_ms <= row.p95_ms <= row.p99_ms
    assert row.agrees is True and row.max_abs_diff == 0.0
    assert row.peak_rss_mib > 10 and row.load_s > 0
    assert result.environment["cores"] >= 1 and "numpy" in result.environment["packages"]
    assert result.config["threads"] == 1
    assert ("fake", "progress") in events and ("fake", "done") in events


def test_disagreement_with_onnxruntime_is_flagged(tiny_mlp: Path) -> None:
    """The fake's outputs differ from ONNX Runtime's reference and are flagged."""
    result = Bench(quick(tiny_mlp, "onnxruntime")).run()
    assert all(r.agrees is False for r in result.rows)
    assert all(r.max_abs_diff is not None and r.max_abs_diff > 1e-3 for r in result.rows)


def test_the_reference_is_computed_in_a_worker_of_its_own(
    tiny_mlp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the calling process did to a runtime cannot reach the reference: a fake broken in
    this process still gives the worker's exact reference, and the reference reports events."""
    from modelport.bench.backends.fake import FakeBackend

    honest = FakeBackend.run
    monkeypatch.setattr(
        FakeBackend, "run", lambda self, x: {k: v + 1e3 for k, v in honest(self, x).items()}
    )
    events: list[tuple[str, str]] = []
    result = Bench(quick(tiny_mlp, "fake"), lambda rt, ev: events.append((rt, ev["event"]))).run()
    assert [r.agrees for r in result.rows] == [True, True]
    assert all(r.max_abs_diff == 0.0 for r in result.rows)
    assert ("fake (reference)", "done") in events


def test_a_reference_that_fails_stops_the_bench_with_its_reason(tmp_path: Path) -> None:
    """A model the reference runtime cannot load is an error naming the runtime and why."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])
    node = helper.make_node("NoSuchOp", ["x"], ["y"], domain="com.example")
    graph = helper.make_graph([node], "unknown_op", [x], [y])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    path = tmp_path / "unknown_op.onnx"
    onnx.save(model, str(path))
    with pytest.raises(BenchError, match=r"reference runtime onnxruntime failed: .*NoSuchOp"):
        Bench(quick(path, "onnxruntime")).run()


def test_unavailable_runtime_is_skipped_with_reason(tiny_mlp: Path) -> None:
    """A runtime that cannot run is listed as skipped; the others still run."""
    config = BenchConfig(
        str(tiny_mlp), runtimes=(RuntimeChoice("fake"), RuntimeChoice("onnxruntime-cuda")),
        min_count=1, min_duration=0.0, warmup=0, reference="fake",
    )  # fmt: skip
    result = Bench(config).run()
    assert [s.runtime for s in result.skipped] == ["onnxruntime-cuda"]
    assert "CUDAExecutionProvider" in result.skipped[0].reason
    assert [r.runtime for r in result.rows] == ["fake"]


def test_thin_keeps_time_order_and_bound() -> None:
    """Saved latencies are thinned evenly to the bound."""
    assert thin([1.0, 2.0], keep=5) == [1.0, 2.0]
    assert thin([float(i) for i in range(10)], keep=5) == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_a_runtime_that_hangs_is_stopped_and_skipped(tiny_mlp: Path, tmp_path: Path) -> None:
    """A worker that outlives its timeout is killed and reported, not waited for."""
    import numpy as np
    import pytest

    from modelport.bench.isolate import run_isolated
    from modelport.bench.job import Job
    from modelport.errors import BenchError

    job = Job(str(tiny_mlp), "fake", str(tmp_path), (1,), min_count=1, min_duration=30.0)
    np.savez(job.inputs_path(1), input=np.zeros((1, 8), np.float32))
    with pytest.raises(BenchError, match="did not finish within 1 s"):
        run_isolated(job, timeout=1.0)
