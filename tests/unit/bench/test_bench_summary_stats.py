"""LoadGen summary parsing and the server statistics breakdown."""

from __future__ import annotations

from modelport.bench.loadgen_summary import parse_summary, summary_metrics
from modelport.bench.remote.server_stats import breakdown

SUMMARY = """\
Scenario : MultiStream
Result is : INVALID
  Early stopping satisfied: Yes
Mean latency (ns)               : 4000000
50.00 percentile latency (ns)   : 3000000
90.00 percentile latency (ns)   : 5000000
95.00 percentile latency (ns)   : 6000000
99.00 percentile latency (ns)   : 9000000
samples_per_query : 8
"""


def test_summary_metrics_in_ms_and_multistream_throughput() -> None:
    """Nanoseconds become ms; MultiStream throughput is samples per query over mean latency."""
    m = summary_metrics("multistream", parse_summary(SUMMARY))
    assert (m["p50_ms"], m["p90_ms"], m["p99_ms"], m["mean_ms"]) == (3.0, 5.0, 9.0, 4.0)
    assert m["samples_per_second"] == 2000.0
    assert m["valid"] is False and m["early_stopping_ok"] is True


def test_offline_throughput_from_samples_per_second() -> None:
    """Offline's headline metric is read as is."""
    m = summary_metrics("offline", parse_summary("Samples per second: 123.5\nResult is : VALID"))
    assert m["samples_per_second"] == 123.5 and m["valid"]


def _stats(success: int | str, queue_ns: int, infer_ns: int, execs: int) -> dict[str, object]:
    return {
        "model_stats": [
            {
                "name": "m",
                "inference_count": success,
                "execution_count": execs,
                "inference_stats": {
                    "success": {"count": success, "ns": 0},
                    "queue": {"count": success, "ns": queue_ns},
                    "compute_infer": {"count": success, "ns": infer_ns},
                },
            }
        ]
    }


def test_breakdown_between_snapshots_accepts_grpc_strings() -> None:
    """Deltas of counts and mean queue/compute times; gRPC's string integers are accepted."""
    b = breakdown(_stats("10", 0, 0, 10), _stats("30", 40_000_000, 100_000_000, 20))
    assert b["success"] == 20
    assert b["queue_ms"] == 2.0
    assert b["compute_infer_ms"] == 5.0 and b["compute_ms"] == 5.0
    assert b["mean_batch"] == 2.0
