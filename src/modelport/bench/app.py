"""What ``modelport bench`` does once its arguments are parsed (imported only when it runs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.markup import escape

from modelport.bench.config import BenchConfig, RuntimeChoice, ScenarioConfig
from modelport.bench.render.progress import BenchProgress
from modelport.bench.render.table import make_console, print_result
from modelport.bench.results import BenchResult
from modelport.bench.runner import Bench, available_choices


def list_runtimes() -> int:
    """Print each runtime with its state; exit 0."""
    from modelport.bench import backends

    console = make_console()
    ready, skipped = available_choices()
    for choice in ready:
        console.print(f"[green]available[/]    {choice.name}", highlight=False)
    for s in skipped:
        console.print(f"[yellow]unavailable[/]  {s.runtime}: {escape(s.reason)}", highlight=False)
    names = ", ".join(n for n, spec in backends.RUNTIMES.items() if spec.listed)
    hint = escape("choose with --runtime NAME or NAME@fp32|bf16|fp16 (comma-separated)")
    console.print(f"[dim]{hint}; known: {names}[/]", highlight=False)
    return 0


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """The BenchConfig described by parsed arguments."""
    choices = tuple(RuntimeChoice.parse(t) for t in args.runtime.split(",") if t.strip())
    scenario = None
    if args.scenario:
        scenario = ScenarioConfig(
            name=args.scenario,
            compliant=args.mlperf_compliant,
            min_duration=args.scenario_duration,
            samples_per_query=args.samples_per_query,
            target_qps=args.target_qps,
            target_latency_ms=args.target_latency_ms,
        )
    return BenchConfig(
        model=args.target[0],
        runtimes=choices,
        batch_sizes=args.batch_size,
        threads=args.threads,
        warmup=args.warmup,
        min_count=args.min_count,
        min_duration=args.min_duration,
        max_duration=args.max_duration,
        seq_len=args.seq_len,
        scenario=scenario,
        timeout=args.timeout,
    )


def run_local(args: argparse.Namespace) -> int:
    """Benchmark a model on local runtimes; exit 1 when a runtime is outside tolerance."""
    config = config_from_args(args)
    show = not args.no_progress and sys.stderr.isatty()
    with BenchProgress(enabled=show) as progress:
        progress.min_duration = config.min_duration
        result = Bench(config, on_event=progress).run()
    emit(result, args)
    return 1 if any(r.agrees is False for r in result.rows) else 0


def run_remote(args: argparse.Namespace) -> int:
    """Drive an Open Inference Protocol server; exit 1 when any request failed."""
    from modelport.bench.remote.config import RemoteConfig
    from modelport.bench.remote.driver import run_remote_bench

    config = RemoteConfig.build(
        url=args.url,
        model=args.remote_model or (args.target[0] if args.target else ""),
        concurrency=args.concurrency,
        request_rates=args.request_rate,
        duration=args.duration,
        batch_size=args.batch_size[0],
        binary=args.binary,
        seq_len=args.seq_len,
    )
    result = run_remote_bench(config, show_progress=not args.no_progress and sys.stderr.isatty())
    emit(result, args)
    return 1 if any((r.details or {}).get("errors", 0) for r in result.rows) else 0


def compare_files(a: str, b: str) -> int:
    """Print the ratios between two saved results."""
    from modelport.bench.compare import compare, print_comparison

    result_a, result_b = BenchResult.load(Path(a)), BenchResult.load(Path(b))
    print_comparison(compare(result_a, result_b), make_console())
    return 0


def emit(result: BenchResult, args: argparse.Namespace) -> None:
    """Print the table (unless JSON goes to stdout) and write the requested files."""
    if args.json == "-":
        print(result.to_json())
    else:
        print_result(result)
        if args.json:
            result.save(Path(args.json))
    if args.csv:
        from modelport.bench.render.csvout import to_csv

        Path(args.csv).write_text(to_csv(result))
    if args.plots:
        from modelport.bench.render.plots import write_plots

        write_plots(result, Path(args.plots))
    if args.html:
        from modelport.bench.render.html import write_html

        write_html(result, Path(args.html))
