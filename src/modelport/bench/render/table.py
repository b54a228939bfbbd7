"""The comparison table printed in the terminal (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from modelport.bench.render.fit import Column, fitted_table, fmt_ms
from modelport.bench.results import BenchResult, Row


def make_console() -> Console:
    """A console for stdout, as wide as the terminal (``COLUMNS``, else 80, when piped)."""
    return Console()


def fmt_diff(value: float | None) -> str:
    """A difference in short scientific notation, '-' when not measured."""
    return "-" if value is None else f"{value:.1e}"


def agreement_cell(row: Row) -> str:
    """'ok' within tolerance, 'FLAG' outside it, with the tolerance used."""
    if row.agrees is None:
        return "-"
    word = "ok" if row.agrees else "[bold red]FLAG[/]"
    return f"{word} (atol {row.atol:.0e})"


def loadgen_cell(row: Row) -> str:
    """LoadGen's verdict on a scenario run (short runs are usually INVALID by its rules)."""
    details = row.details or {}
    return "VALID" if details.get("valid") else "[yellow]INVALID[/]"


def _local_columns(scenario: bool) -> list[Column[Row]]:
    columns: list[Column[Row]] = [
        Column("runtime", lambda r: r.runtime, 100, "left"),
        Column("version", lambda r: r.version.split("-")[0], 20, "left"),
        Column("device", lambda r: r.device, 10, "left"),
        Column("precision", lambda r: r.precision, 60, "left", short="prec"),
        Column("batch", lambda r: str(r.batch_size), 90),
        Column("p50 ms", lambda r: fmt_ms(r.p50_ms), 95, short="p50"),
        Column("p90 ms", lambda r: fmt_ms(r.p90_ms), 40, short="p90"),
        Column("p95 ms", lambda r: fmt_ms(r.p95_ms), 15, short="p95"),
        Column("p99 ms", lambda r: fmt_ms(r.p99_ms), 85, short="p99"),
        Column("samples/s", lambda r: f"{r.throughput:.1f}", 80),
        Column("load s", lambda r: f"{r.load_s:.2f}", 35),
        Column("first ms", lambda r: fmt_ms(r.first_call_ms), 45, short="first"),
        Column("peak MiB", lambda r: f"{r.peak_rss_mib:.0f}", 30, short="MiB"),
        Column("max abs", lambda r: fmt_diff(r.max_abs_diff), 55),
        Column("max rel", lambda r: fmt_diff(r.max_rel_diff), 12),
        Column("agrees", agreement_cell, 97, compact=lambda r: agreement_cell(r).split(" (")[0]),
    ]
    if scenario:
        columns.append(Column("LoadGen", loadgen_cell, 70))
    return columns


def local_table(result: BenchResult, width: int) -> tuple[Table, list[str]]:
    """Runtimes side by side, fitted to ``width``; returns the table and the columns left out."""
    title = f"modelport bench: {result.model}"
    if result.mode == "scenario" and result.config.get("scenario"):
        title += f" (MLPerf {result.config['scenario']['name']})"
    columns = _local_columns(result.mode == "scenario")
    return fitted_table(title, columns, result.rows, width)


def print_result(result: BenchResult, console: Console | None = None) -> None:
    """Print the table, then skipped runtimes, warnings and the conditions of the run."""
    console = console or make_console()
    if result.mode == "remote":
        from modelport.bench.render.remote_table import remote_table

        table, left_out = remote_table(result, console.width)
    else:
        table, left_out = local_table(result, console.width)
    console.print(table)
    if left_out:
        console.print(
            f"[dim]left out to fit {console.width} columns: {', '.join(left_out)} "
            "(every figure is in --json and --csv; a wider terminal or COLUMNS shows more)[/]",
            highlight=False,
        )
    notes = {r.runtime: r.notes for r in result.rows if r.notes}
    for runtime, note in notes.items():
        console.print(f"[dim]{runtime}: {escape(note)}[/]", highlight=False)
    for s in result.skipped:
        console.print(f"[yellow]skipped[/] {s.runtime}: {escape(s.reason)}", highlight=False)
    for w in result.warnings:
        console.print(f"[bold yellow]warning:[/] {escape(w)}", highlight=False)
    env = result.environment
    if env:
        load = env.get("load_average", [0.0])[0]
        after = env.get("load_average_after", [load])[0]
        console.print(
            f"[dim]{env.get('cpu')}, {env.get('cores')} cores, threads "
            f"{result.config.get('threads', '-')}, load average {load:.2f} before / "
            f"{after:.2f} after, {env.get('timestamp')}[/]",
            highlight=False,
        )
