"""Read MLPerf LoadGen's ``mlperf_log_summary.txt`` into our metrics."""

from __future__ import annotations

import re
from typing import Any

_LINE = re.compile(r"^\s*([^:=]+?)\s*:\s*(.+?)\s*$")


def parse_summary(text: str) -> dict[str, str]:
    """Every ``key : value`` line of a LoadGen summary (later duplicates win)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def _number(values: dict[str, str], key: str) -> float | None:
    try:
        return float(values[key])
    except (KeyError, ValueError):
        return None


def summary_metrics(scenario: str, values: dict[str, str]) -> dict[str, Any]:
    """Throughput, latency percentiles (ms) and validity from a parsed summary.

    MultiStream reports per-query latencies and no throughput; samples per second is then
    samples per query over the mean query latency.
    """
    latency = {
        pct: (_number(values, f"{pct} percentile latency (ns)") or 0.0) / 1e6
        for pct in ("50.00", "90.00", "95.00", "99.00")
    }
    mean_ms = (_number(values, "Mean latency (ns)") or 0.0) / 1e6
    throughput = None
    for key in ("Samples per second", "Completed samples per second", "QPS w/o loadgen overhead"):
        throughput = _number(values, key)
        if throughput is not None:
            break
    if scenario == "multistream":
        per_query = _number(values, "samples_per_query") or 1.0
        throughput = per_query * 1e3 / mean_ms if mean_ms else 0.0
    return {
        "valid": values.get("Result is") == "VALID",
        "samples_per_second": throughput or 0.0,
        "mean_ms": mean_ms,
        "p50_ms": latency["50.00"],
        "p90_ms": latency["90.00"],
        "p95_ms": latency["95.00"],
        "p99_ms": latency["99.00"],
        "early_stopping_ok": values.get("Early stopping satisfied") == "Yes",
    }
