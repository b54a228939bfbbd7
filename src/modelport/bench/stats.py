"""Latency statistics and the stopping rule of a measurement loop."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

PERCENTILES = (50.0, 90.0, 95.0, 99.0)


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of samples, linear between closest ranks like numpy's default.

    Raises:
        ValueError: samples is empty or q is outside 0..100.
    """
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class LatencySummary:
    """Summary of latencies in seconds."""

    count: int
    mean: float
    stdev: float
    minimum: float
    maximum: float
    p50: float
    p90: float
    p95: float
    p99: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> LatencySummary:
        """Summarise a non-empty list of latencies.

        Raises:
            ValueError: samples is empty.
        """
        if not samples:
            raise ValueError("no latency samples to summarise")
        n = len(samples)
        mean = sum(samples) / n
        var = sum((s - mean) ** 2 for s in samples) / (n - 1) if n > 1 else 0.0
        p50, p90, p95, p99 = (percentile(samples, q) for q in PERCENTILES)
        return cls(n, mean, math.sqrt(var), min(samples), max(samples), p50, p90, p95, p99)


@dataclass(frozen=True)
class StopRule:
    """Keep measuring until BOTH min_count iterations and min_duration seconds are reached.

    max_duration (if set) ends a slow run early once min_count is met, so one slow runtime
    cannot hold the whole benchmark hostage.
    """

    min_count: int = 10
    min_duration: float = 2.0
    max_duration: float | None = None

    def __post_init__(self) -> None:
        if self.min_count < 1:
            raise ValueError("min_count must be at least 1")
        if self.min_duration < 0:
            raise ValueError("min_duration must not be negative")
        if self.max_duration is not None and self.max_duration < self.min_duration:
            raise ValueError("max_duration must not be below min_duration")

    def done(self, count: int, elapsed: float) -> bool:
        """Whether a loop that made count iterations in elapsed seconds may stop."""
        if count < self.min_count:
            return False
        if self.max_duration is not None and elapsed >= self.max_duration:
            return True
        return elapsed >= self.min_duration
