"""``bench compare A.json B.json``: the ratio B/A for every row the two results share."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console

from modelport.bench.render.fit import Column, fitted_table
from modelport.bench.results import BenchResult, Row

METRICS = ("p50_ms", "p99_ms", "throughput", "load_s", "first_call_ms", "peak_rss_mib")
# narrow consoles keep the earlier metrics longer


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


def _ratio_column(metric: str) -> Column[Comparison]:
    def full(comp: Comparison) -> str:
        x, y, r = comp.values[metric]
        return "-" if r is None else f"{r:.2f}x ({x:.3g} -> {y:.3g})"

    def short(comp: Comparison) -> str:
        r = comp.values[metric][2]
        return "-" if r is None else f"{r:.2f}x"

    return Column(metric, full, 60 - METRICS.index(metric), compact=short)


def print_comparison(rows: list[Comparison], console: Console) -> None:
    """A table of B/A ratios; below 1 is better for times, above 1 for throughput.

    On a narrow console the cells keep the ratio and drop the two values it comes from.
    """
    title = "B / A (times: lower is better; throughput: higher is better)"
    columns: list[Column[Comparison]] = [Column("row", lambda c: c.key, 100, "left")]
    columns += [_ratio_column(metric) for metric in METRICS]
    table, left_out = fitted_table(title, columns, rows, console.width)
    console.print(table)
    if left_out:
        console.print(f"[dim]left out to fit {console.width} columns: {', '.join(left_out)}[/]")
    if not rows:
        console.print("[yellow]no rows in common[/]")
