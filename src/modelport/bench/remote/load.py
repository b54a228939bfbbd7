"""The load generator: a fixed number of requests in flight, or a fixed arrival rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from modelport.bench.remote.clients import OipClient, RequestFailed

Clock = Callable[[], float]


@dataclass
class LevelResult:
    """What one level of the sweep measured on the client side."""

    kind: str  # "concurrency" or "rate"
    value: float
    wall_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    dropped: int = 0  # rate mode: arrivals skipped because max_outstanding was reached

    @property
    def successes(self) -> int:
        """Requests answered without error."""
        return len(self.latencies)

    def record_error(self, exc: RequestFailed) -> None:
        """Count a failed request, keeping the first few messages."""
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(str(exc))


async def _timed(client: OipClient, result: LevelResult, clock: Clock) -> None:
    start = clock()
    try:
        await client.infer()
    except RequestFailed as exc:
        result.record_error(exc)
        return
    result.latencies.append(clock() - start)


async def run_concurrency(
    client: OipClient, concurrency: int, duration: float, clock: Clock = time.perf_counter
) -> LevelResult:
    """Keep ``concurrency`` requests in flight for ``duration`` seconds (closed loop)."""
    result = LevelResult("concurrency", float(concurrency))
    start = clock()
    deadline = start + duration

    async def loop() -> None:
        while clock() < deadline:
            await _timed(client, result, clock)

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    result.wall_s = clock() - start
    return result


async def run_rate(
    client: OipClient,
    rate: float,
    duration: float,
    max_outstanding: int = 256,
    clock: Clock = time.perf_counter,
) -> LevelResult:
    """Start requests at a constant ``rate`` per second for ``duration`` seconds (open loop)."""
    result = LevelResult("rate", rate)
    pending: set[asyncio.Task[None]] = set()
    start = clock()
    for i in range(max(1, int(rate * duration))):
        delay = start + i / rate - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(pending) >= max_outstanding:
            result.dropped += 1
            continue
        task = asyncio.create_task(_timed(client, result, clock))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.gather(*pending)
    result.wall_s = clock() - start
    return result
