"""Runs a RemoteConfig: warm up, then each level between two statistics snapshots."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from modelport.bench import environment
from modelport.bench.inputs import make_batch
from modelport.bench.remote.clients import OipClient, RequestFailed, client_for
from modelport.bench.remote.config import RemoteConfig
from modelport.bench.remote.load import LevelResult, run_concurrency, run_rate
from modelport.bench.remote.payload import specs_from_metadata
from modelport.bench.remote.server_stats import breakdown
from modelport.bench.results import BenchResult, Row
from modelport.bench.stats import LatencySummary


def encoding_of(config: RemoteConfig) -> str:
    """How tensors travel: json, binary (HTTP extension) or protobuf (gRPC)."""
    if config.protocol == "grpc":
        return "protobuf"
    return "binary" if config.binary else "json"


def run_remote_bench(config: RemoteConfig, show_progress: bool = True) -> BenchResult:
    """Drive the server through every level of the sweep and return one row per level."""
    env = environment.capture()
    result = BenchResult(model=config.model, mode="remote", environment=env)
    result.config = {
        "url": config.url,
        "protocol": config.protocol,
        "encoding": "binary"
        if config.binary
        else ("protobuf" if config.protocol == "grpc" else "json"),
        "levels": [f"{k} {v:g}" for k, v in config.levels],
        "duration_s": config.duration,
        "batch_size": config.batch_size,
        "warmup_requests": config.warmup_requests,
        "client": "modelport asyncio (one process)",
    }
    if environment.is_busy(env["load_average"][0], env["cores"]):
        result.warnings.append(
            f"machine busy before the run: load average {env['load_average'][0]:.2f}"
        )
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), disable=not show_progress,
    )  # fmt: skip
    with progress:
        asyncio.run(_sweep(config, result, progress))
    env["load_average_after"] = [environment.load_average()[0]]
    return result


async def _sweep(config: RemoteConfig, result: BenchResult, progress: Progress) -> None:
    client = client_for(config)
    await client.open()
    try:
        metadata = await client.metadata()
        specs = specs_from_metadata(metadata)
        inputs = make_batch(specs, config.batch_size, config.seq_len)
        client.prepare(inputs, [o["name"] for o in metadata.get("outputs", [])])
        for _ in range(config.warmup_requests):
            try:
                await client.infer()
            except RequestFailed as exc:
                result.warnings.append(f"warm-up request failed: {exc}")
                break
        server = f"{metadata.get('platform', '')} {','.join(metadata.get('versions', []))}"
        for kind, value in config.levels:
            task = progress.add_task(f"{kind} {value:g}", total=None)
            row = await _level(client, config, kind, value)
            row.notes = f"model versions {server.strip()}"
            result.rows.append(row)
            progress.update(task, total=1, completed=1)
    finally:
        await client.close()


async def _level(client: OipClient, config: RemoteConfig, kind: str, value: float) -> Row:
    before = await client.statistics()
    if kind == "concurrency":
        level = await run_concurrency(client, int(value), config.duration)
    else:
        level = await run_rate(client, value, config.duration, config.max_outstanding)
    after = await client.statistics()
    details: dict[str, Any] = {
        "level": kind,
        "value": value,
        "requests": level.successes,
        "errors": level.errors,
        "error_samples": level.error_samples,
        "dropped": level.dropped,
        "requests_per_second": level.successes / level.wall_s if level.wall_s else 0.0,
    }
    if before is not None and after is not None:
        details["server"] = breakdown(before, after)
    return level_row(config, level, details)


def level_row(config: RemoteConfig, level: LevelResult, details: dict[str, Any]) -> Row:
    """A table row for one level of the sweep."""
    row = Row(
        runtime=f"{config.protocol} {encoding_of(config)}",
        device="remote",
        batch_size=config.batch_size,
        count=level.successes,
        details=details,
    )
    if level.latencies:
        s = LatencySummary.of(level.latencies)
        row.mean_ms, row.stdev_ms = s.mean * 1e3, s.stdev * 1e3
        row.p50_ms, row.p90_ms, row.p95_ms, row.p99_ms = (
            x * 1e3 for x in (s.p50, s.p90, s.p95, s.p99)
        )
        row.throughput = level.successes * config.batch_size / level.wall_s
        row.latencies_ms = [x * 1e3 for x in level.latencies]
    return row
