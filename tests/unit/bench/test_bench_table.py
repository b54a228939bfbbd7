"""The terminal tables fit the console: narrow forms first, then the least important columns
left out and named."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from modelport.bench.render.fit import Column, fit
from modelport.bench.render.table import print_result
from modelport.bench.results import BenchResult, Row

DOCS = Path(__file__).parents[3] / "docs" / "bench"


def printed(result: BenchResult, width: int) -> str:
    """What print_result shows on a console ``width`` cells wide."""
    console = Console(record=True, width=width)
    print_result(result, console)
    return console.export_text()


def test_local_table_fits_80_columns_without_cutting_a_cell() -> None:
    """At 80 columns the key figures show whole; the rest are named as left out."""
    result = BenchResult.load(DOCS / "resnet18.json")
    text = printed(result, 80)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    header = next(line for line in text.splitlines() if "runtime" in line)
    for name in ("runtime", "batch", "p50", "p99", "samples/s", "agrees"):
        assert name in header
    assert "torch-compile" in text and "17.3" in text and "41.1" in text  # onnxruntime b1 p50, p99
    assert "left out to fit 80 columns: version, device" in text and "--json and --csv" in text


def test_wide_console_shows_every_column_and_no_note() -> None:
    """With room for all of it, every column keeps its full header and cell."""
    text = printed(BenchResult.load(DOCS / "resnet18.json"), 250)
    for header in ("version", "device", "precision", "p95 ms", "max rel", "peak MiB"):
        assert header in text
    assert "ok (atol 1e-04)" in text and "left out" not in text


def test_remote_table_fits_80_columns() -> None:
    """A remote sweep at 80 columns keeps level, errors, rate and latencies whole."""
    text = printed(BenchResult.load(DOCS / "remote-resnet18-http.json"), 80)
    assert "…" not in text
    header = next(line for line in text.splitlines() if "level" in line)
    for name in ("level", "errs", "req/s", "p50", "p99"):
        assert name in header
    assert "c=8" in text and "417" in text  # the p99 at concurrency 8


def test_fit_prefers_short_forms_then_drops_least_kept() -> None:
    """Short headers and compact cells come before leaving columns out, lowest keep first."""
    rows = [Row("onnxruntime", p50_ms=1.0)]
    columns = [
        Column("runtime", lambda r: r.runtime, 100, "left"),
        Column("a very long header", lambda r: "1", 10, short="a"),
        Column("agreement", lambda r: "ok (atol 1e-04)", 50, compact=lambda r: "ok"),
        Column("another long header", lambda r: "2", 5, short="b"),
    ]
    assert fit(columns, rows, 200) == (columns, False)
    assert fit(columns, rows, 35) == (columns, True)
    shown, narrow = fit(columns, rows, 25)
    assert narrow and [c.header for c in shown] == ["runtime", "agreement"]


def test_compare_table_keeps_ratios_on_a_narrow_console() -> None:
    """bench compare at 80 columns shows each ratio whole, without the values it came from."""
    from modelport.bench.compare import compare, print_comparison

    a = BenchResult.load(DOCS / "resnet18.json")
    b = BenchResult.load(DOCS / "resnet18-threads2.json")
    console = Console(record=True, width=80)
    print_comparison(compare(a, b), console)
    text = console.export_text()
    assert "…" not in text and "p50_ms" in text and "throughput" in text
    assert "2.17x" in text and "(17.3 -> 37.6)" not in text
