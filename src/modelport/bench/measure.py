"""The measurement loop: first call, warm-up, then steady state until the stop rule is met."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from modelport.bench.stats import LatencySummary, StopRule

Clock = Callable[[], float]


@dataclass(frozen=True)
class Measurement:
    """Steady-state latencies of one batch size, with the first call measured apart."""

    batch_size: int
    first_call_s: float
    warmup: int
    latencies: tuple[float, ...]
    wall_s: float

    @property
    def summary(self) -> LatencySummary:
        """Percentiles and moments of the steady-state latencies."""
        return LatencySummary.of(self.latencies)

    @property
    def throughput(self) -> float:
        """Samples per second over the steady-state loop."""
        return self.batch_size * len(self.latencies) / self.wall_s if self.wall_s > 0 else 0.0


def measure(
    call: Callable[[], object],
    batch_size: int,
    stop: StopRule,
    warmup: int = 5,
    clock: Clock = time.perf_counter,
    progress: Callable[[int, float], None] | None = None,
) -> Measurement:
    """Time ``call``: once cold, ``warmup`` times unrecorded, then until ``stop`` says done.

    Args:
        call: runs one batch.
        batch_size: samples per call, for throughput.
        stop: minimum count and duration of the steady-state loop.
        warmup: calls after the first one that are not recorded.
        clock: monotonic seconds (injectable for tests).
        progress: called with (count, elapsed) after each steady-state call.
    """
    start = clock()
    call()
    first = clock() - start
    for _ in range(warmup):
        call()
    latencies: list[float] = []
    loop_start = clock()
    elapsed = 0.0
    while not stop.done(len(latencies), elapsed):
        t0 = clock()
        call()
        t1 = clock()
        latencies.append(t1 - t0)
        elapsed = t1 - loop_start
        if progress is not None:
            progress(len(latencies), elapsed)
    return Measurement(batch_size, first, warmup, tuple(latencies), elapsed)
