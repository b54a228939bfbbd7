"""``bench compare A.json B.json``: the ratio B/A for every row the two results share."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from modelport.bench.results import BenchResult, Row

METRICS = ("p50_ms", "p99_ms", "throughput", "load_s", "first_call_ms", "peak_rss_mib")


@dataclass(frozen=True)
class Comparison:
    """One shared row: its key, and per metric (A, B, B/A)."""

    key: str
    values: dict[str, tuple[float, float, float | None]]


def row_key(row: Row) -> str:
    """What identifies a row across results: runtime, batch size and the level of a sweep."""
    key = f"{row.runtime} b{row.batch_size}"
    details = row.details or {}
    if "level" in details:
        key += f" {details['level']}={details['value']:g}"
    elif "name" in details:
        key += f" {details['name']}"
    return key


def ratio(a: float, b: float) -> float | None:
    """b / a, None when a is zero."""
    return b / a if a else None


def compare(a: BenchResult, b: BenchResult) -> list[Comparison]:
    """Rows present in both results, in A's order, with the ratio of every metric."""
    b_rows = {row_key(r): r for r in b.rows}
    found = []
    for row in a.rows:
        other = b_rows.get(row_key(row))
        if other is None:
            continue
        values = {}
        for metric in METRICS:
            x, y = float(getattr(row, metric)), float(getattr(other, metric))
            values[metric] = (x, y, ratio(x, y))
        found.append(Comparison(row_key(row), values))
    return found


def print_comparison(rows: list[Comparison], console: Console) -> None:
    """A table of B/A ratios; below 1 is better for times, above 1 for throughput."""
    table = Table(title="B / A (times: lower is better; throughput: higher is better)")
    table.add_column("row")
    for metric in METRICS:
        table.add_column(metric, justify="right")
    for comp in rows:
        cells = []
        for metric in METRICS:
            x, y, r = comp.values[metric]
            cells.append("-" if r is None else f"{r:.2f}x ({x:.3g} -> {y:.3g})")
        table.add_row(comp.key, *cells)
    console.print(table)
    if not rows:
        console.print("[yellow]no rows in common[/]")
