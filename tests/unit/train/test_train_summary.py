"""TrainSummary: the JSON object and the text lines a finished job prints."""

from __future__ import annotations

import json

from modelport.train.summary import TrainSummary


def test_json_is_one_object_with_nan_as_null() -> None:
    """--json output parses as one object; a NaN loss becomes null."""
    summary = TrainSummary(strategy="ps", steps=10, final_loss=float("nan"),
                           metrics={"accuracy": 0.9})
    data = json.loads(summary.to_json())
    assert data["final_loss"] is None and data["metrics"] == {"accuracy": 0.9}
    assert {"steps", "seconds", "worker_restarts", "exported"} <= set(data)


def test_lines_name_faults_and_export() -> None:
    """The text summary mentions restarts, duplicates and the exported folder when present."""
    summary = TrainSummary(strategy="ps", steps=30, start_step=10, seconds=2.0,
                           steps_per_second=10.0, final_loss=0.5, worker_restarts=1,
                           duplicates=2, exported="repo/m/3", export_max_abs_diff=1e-6,
                           export_tolerance=1e-4)
    text = "\n".join(summary.lines())
    assert "trained 20 steps" in text and "resumed at step 10" in text
    assert "1 worker restarts" in text and "2 duplicate gradients skipped" in text
    assert "exported repo/m/3" in text
