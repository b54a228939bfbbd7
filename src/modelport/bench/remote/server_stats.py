"""The statistics extension: counts and the queue / compute breakdown between two snapshots."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PHASES = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")


def totals(stats: Mapping[str, Any]) -> dict[str, int]:
    """Counts and nanoseconds per phase, summed over every version of the model.

    gRPC's JSON writes 64-bit integers as strings; both forms are accepted.
    """
    out: dict[str, int] = {"inference_count": 0, "execution_count": 0}
    for phase in PHASES:
        out[f"{phase}_count"] = out[f"{phase}_ns"] = 0
    for model in stats.get("model_stats", []):
        out["inference_count"] += int(model.get("inference_count", 0))
        out["execution_count"] += int(model.get("execution_count", 0))
        phases = model.get("inference_stats", {})
        for phase in PHASES:
            entry = phases.get(phase, {})
            out[f"{phase}_count"] += int(entry.get("count", 0))
            out[f"{phase}_ns"] += int(entry.get("ns", 0))
    return out


def breakdown(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, float]:
    """What the server did between two snapshots: counts and mean milliseconds per phase."""
    a, b = totals(before), totals(after)
    delta = {k: b[k] - a[k] for k in a}
    result: dict[str, float] = {
        "success": delta["success_count"],
        "fail": delta["fail_count"],
        "inferences": delta["inference_count"],
        "executions": delta["execution_count"],
    }
    for phase in PHASES:
        count = delta[f"{phase}_count"]
        result[f"{phase}_ms"] = delta[f"{phase}_ns"] / count / 1e6 if count else 0.0
    compute = ("compute_input_ms", "compute_infer_ms", "compute_output_ms")
    result["compute_ms"] = sum(result[k] for k in compute)
    if delta["execution_count"]:
        result["mean_batch"] = delta["inference_count"] / delta["execution_count"]
    return result
