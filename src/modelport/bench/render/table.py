"""The comparison table printed in the terminal (rich)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from modelport.bench.results import BenchResult, Row


def make_console() -> Console:
    """A console for stdout; wide when it is not a terminal, so tables are not squeezed."""
    return Console(width=None if sys.stdout.isatty() else 200)


def fmt_ms(value: float) -> str:
    """Milliseconds with three significant digits."""
    return f"{value:.3g}" if value < 1000 else f"{value:.0f}"


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


def local_table(result: BenchResult) -> Table:
    """Runtimes side by side: latency percentiles, throughput, start-up costs, agreement."""
    title = f"modelport bench: {result.model}"
    if result.mode == "scenario" and result.config.get("scenario"):
        title += f" (MLPerf {result.config['scenario']['name']})"
    table = Table(title=title, title_justify="left")
    headers: tuple[str, ...] = (
        "runtime", "version", "device", "precision", "batch", "p50 ms", "p90 ms", "p95 ms",
        "p99 ms", "samples/s", "load s", "first ms", "peak MiB", "max abs", "max rel", "agrees",
    )  # fmt: skip
    scenario = result.mode == "scenario"
    if scenario:
        headers = (*headers, "LoadGen")
    for i, name in enumerate(headers):
        table.add_column(name, justify="left" if i < 4 else "right")
    for r in result.rows:
        extra = [loadgen_cell(r)] if scenario else []
        table.add_row(
            r.runtime, r.version.split("-")[0], r.device, r.precision, str(r.batch_size),
            fmt_ms(r.p50_ms), fmt_ms(r.p90_ms), fmt_ms(r.p95_ms), fmt_ms(r.p99_ms),
            f"{r.throughput:.1f}", f"{r.load_s:.2f}", fmt_ms(r.first_call_ms),
            f"{r.peak_rss_mib:.0f}", fmt_diff(r.max_abs_diff), fmt_diff(r.max_rel_diff),
            agreement_cell(r), *extra,
        )  # fmt: skip
    return table


def print_result(result: BenchResult, console: Console | None = None) -> None:
    """Print the table, then skipped runtimes, warnings and the conditions of the run."""
    console = console or make_console()
    if result.mode == "remote":
        from modelport.bench.render.remote_table import remote_table

        console.print(remote_table(result))
    else:
        console.print(local_table(result))
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
