"""The table of a load test against a server: one row per concurrency level or rate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.table import Table

from modelport.bench.render.fit import Column, fitted_table, fmt_ms
from modelport.bench.results import BenchResult, Row


def level_label(row: Row) -> str:
    """``c=4`` for a concurrency level, ``rate=100`` for a request rate."""
    d = row.details or {}
    prefix = "c=" if d.get("level") == "concurrency" else "rate="
    return f"{prefix}{d.get('value', 0):g}"


def _server(row: Row) -> dict[str, Any] | None:
    server: dict[str, Any] | None = (row.details or {}).get("server")
    return server


def _server_cell(key: str, fmt: str = "ms") -> Callable[[Row], str]:
    def cell(row: Row) -> str:
        server = _server(row)
        if not server:
            return "-"
        value = server.get(key, 0)
        return fmt_ms(value) if fmt == "ms" else format(value, fmt)

    return cell


def _detail(key: str, fmt: str = "") -> Callable[[Row], str]:
    def cell(row: Row) -> str:
        value = (row.details or {}).get(key, 0)
        return format(value, fmt) if fmt else str(value)

    return cell


_COLUMNS: list[Column[Row]] = [
    Column("protocol", lambda r: r.runtime, 60, "left"),
    Column("level", level_label, 100, "left"),
    Column("batch", lambda r: str(r.batch_size), 30),
    Column("requests", _detail("requests"), 50, short="reqs"),
    Column("errors", _detail("errors"), 90, short="errs"),
    Column("req/s", _detail("requests_per_second", ".1f"), 85),
    Column("samples/s", lambda r: f"{r.throughput:.1f}", 40),
    Column("p50 ms", lambda r: fmt_ms(r.p50_ms), 95, short="p50"),
    Column("p90 ms", lambda r: fmt_ms(r.p90_ms), 35, short="p90"),
    Column("p95 ms", lambda r: fmt_ms(r.p95_ms), 10, short="p95"),
    Column("p99 ms", lambda r: fmt_ms(r.p99_ms), 88, short="p99"),
    Column("server queue ms", _server_cell("queue_ms"), 55, short="queue ms"),
    Column("server compute ms", _server_cell("compute_ms"), 56, short="compute ms"),
    Column("server batch", _server_cell("mean_batch", ".2f"), 45, short="srv batch"),
    Column("server count", _server_cell("success", ".0f"), 20, short="srv count"),
]


def remote_table(result: BenchResult, width: int) -> tuple[Table, list[str]]:
    """Client latencies and throughput, errors, and the server's queue/compute breakdown,
    fitted to ``width``; returns the table and the columns left out."""
    title = f"modelport bench: {result.model} at {result.config.get('url')}"
    return fitted_table(title, _COLUMNS, result.rows, width)
