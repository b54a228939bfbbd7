"""PNG plots (matplotlib, Agg): latency distribution per runtime, throughput vs batch size,
throughput vs concurrency."""

from __future__ import annotations

import importlib
from collections import defaultdict
from pathlib import Path
from typing import Any

from modelport.bench.results import BenchResult, Row
from modelport.errors import MissingExtra


def _pyplot() -> Any:
    try:
        matplotlib: Any = importlib.import_module("matplotlib")
    except ImportError:
        raise MissingExtra("matplotlib", "bench", "PNG plots") from None
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def display_name(model: str) -> str:
    """The model as a plot names it: a file's name rather than its whole path, at most 48 chars."""
    name = Path(model).name if "/" in model else model
    return name if len(name) <= 48 else "…" + name[-47:]


def _box_label(result: BenchResult, row: Row) -> str:
    if result.mode == "remote":
        from modelport.bench.render.remote_table import level_label

        return f"{row.runtime}\n{level_label(row)}"  # "http binary" alone repeats per level
    return f"{row.runtime}\n{row.precision}"


def _title_width(title: str) -> float:
    """Inches a title of this many characters needs at matplotlib's title size, with margins."""
    return 0.1 * max(len(line) for line in title.splitlines()) + 1.0


def latency_plot(result: BenchResult, path: Path) -> bool:
    """Box plots of steady-state latency per runtime or load level (smallest batch size);
    False if no data."""
    rows = [r for r in result.rows if r.latencies_ms]
    if not rows:
        return False
    smallest = min(r.batch_size for r in rows)
    rows = [r for r in rows if r.batch_size == smallest]
    what = "client latency per request" if result.mode == "remote" else "latency per call"
    title = f"{display_name(result.model)}\n{what} at batch {smallest} (whiskers p1-p99)"
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(rows), _title_width(title)), 4.4))
    ax.boxplot([r.latencies_ms for r in rows], whis=(1, 99), showfliers=False)
    medians = sorted(r.p50_ms for r in rows)
    if medians[0] > 0 and medians[-1] / medians[0] > 20:
        ax.set_yscale("log")  # runtimes an order of magnitude apart stay readable
    ax.set_xticks(range(1, len(rows) + 1), [_box_label(result, r) for r in rows])
    ax.set_ylabel("latency (ms)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _line_plot(
    series: dict[str, list[tuple[float, float]]], path: Path, xlabel: str, title: str
) -> bool:
    if not any(len(points) > 0 for points in series.values()):
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(9.0, _title_width(title) + 3.0), 4))
    for label, points in series.items():
        xs, ys = zip(*sorted(points), strict=True)
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_xscale("log", base=2)
    ticks = sorted({x for points in series.values() for x, _ in points})
    ax.set_xticks(ticks, [f"{x:g}" for x in ticks])
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("samples per second")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def throughput_vs_batch(result: BenchResult, path: Path) -> bool:
    """Throughput per runtime against batch size."""
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in result.rows:
        if result.mode == "local":
            series[f"{r.runtime} ({r.precision})"].append((r.batch_size, r.throughput))
    title = f"{display_name(result.model)}: throughput vs batch size"
    return _line_plot(series, path, "batch size", title)


def throughput_vs_concurrency(result: BenchResult, path: Path) -> bool:
    """Throughput against concurrency (or request rate) for a remote sweep."""
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in result.rows:
        d = r.details or {}
        if result.mode == "remote":
            series[f"{r.runtime} ({d.get('level')})"].append((d.get("value", 0.0), r.throughput))
    title = f"{display_name(result.model)}: throughput vs load"
    return _line_plot(series, path, "concurrency / request rate", title)


def write_plots(result: BenchResult, folder: Path) -> list[Path]:
    """Write every plot that the result has data for; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in (
        ("latency.png", latency_plot),
        ("throughput_vs_batch.png", throughput_vs_batch),
        ("throughput_vs_concurrency.png", throughput_vs_concurrency),
    ):
        if draw(result, folder / name):
            written.append(folder / name)
    return written
