"""The table of a load test against a server: one row per concurrency level or rate."""

from __future__ import annotations

from rich.table import Table

from modelport.bench.render.table import fmt_ms
from modelport.bench.results import BenchResult


def remote_table(result: BenchResult) -> Table:
    """Client latencies and throughput, errors, and the server's queue/compute breakdown."""
    table = Table(title=f"modelport bench: {result.model} at {result.config.get('url')}")
    headers = (
        "protocol", "level", "batch", "requests", "errors", "req/s", "samples/s", "p50 ms",
        "p90 ms", "p95 ms", "p99 ms", "server queue ms", "server compute ms", "server batch",
        "server count",
    )  # fmt: skip
    for i, name in enumerate(headers):
        table.add_column(name, justify="left" if i < 2 else "right")
    for r in result.rows:
        d = r.details or {}
        server = d.get("server")
        level = "c=" if d.get("level") == "concurrency" else "rate="
        table.add_row(
            r.runtime, f"{level}{d.get('value', 0):g}", str(r.batch_size), str(d.get("requests")),
            str(d.get("errors")), f"{d.get('requests_per_second', 0):.1f}", f"{r.throughput:.1f}",
            fmt_ms(r.p50_ms), fmt_ms(r.p90_ms), fmt_ms(r.p95_ms), fmt_ms(r.p99_ms),
            fmt_ms(server["queue_ms"]) if server else "-",
            fmt_ms(server["compute_ms"]) if server else "-",
            f"{server.get('mean_batch', 0):.2f}" if server else "-",
            str(int(server["success"])) if server else "-",
        )  # fmt: skip
    return table
