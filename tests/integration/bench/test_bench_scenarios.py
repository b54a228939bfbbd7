"""MLPerf LoadGen scenarios on ONNX Runtime and the demo mlp, shortened to under a second."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from modelport.bench.config import BenchConfig, RuntimeChoice, ScenarioConfig
from modelport.bench.runner import Bench

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mlperf_loadgen") is None, reason="not installed: mlcommons-loadgen"
)


@pytest.mark.parametrize("scenario", ["singlestream", "multistream", "server", "offline"])
def test_scenario_runs_and_keeps_loadgen_summary(demo_mlp: Path, scenario: str) -> None:
    """Each scenario yields one row with LoadGen's own numbers and summary text."""
    config = BenchConfig(
        str(demo_mlp),
        runtimes=(RuntimeChoice("onnxruntime"),),
        warmup=2,
        scenario=ScenarioConfig(scenario, min_duration=0.3, min_query_count=16, sample_count=16),
    )
    result = Bench(config).run()
    assert result.mode == "scenario" and not result.skipped, result.skipped
    (row,) = result.rows
    details = row.details or {}
    assert details["name"] == scenario
    assert "MLPerf Results Summary" in details["summary"]
    assert row.throughput > 0 and row.p90_ms > 0
    assert details["queries"] >= 1
    expected_batch = {"multistream": 8}.get(scenario, 1)
    assert row.batch_size == expected_batch
