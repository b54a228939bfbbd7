"""Per model-version counters behind the statistics extension and /metrics.

Both read the same numbers, so they always agree; each front's codec writes them in its form.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from modelport.serve.histogram import BATCH_BUCKETS, Histogram

FAILURE_REASONS = ("REJECTED", "CANCELED", "BACKEND", "OTHER")


@dataclass
class Duration:
    """A count and a total in nanoseconds, as the statistics extension reports them."""

    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        """Record ``count`` events that took ``ns`` nanoseconds in total."""
        self.count += count
        self.ns += ns



@dataclass
class BatchStats:
    """Timings of the executions of one batch size."""

    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)


@dataclass
class ModelStats:
    """Counters for one model version. Updated on the event loop thread only."""

    name: str
    version: str
    last_inference_ms: int = 0
    inference_count: int = 0
    execution_count: int = 0
    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)
    batches: dict[int, BatchStats] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAILURE_REASONS, 0))
    rejected_queue_full: int = 0
    timed_out: int = 0
    request_seconds: Histogram = field(default_factory=Histogram)
    queue_seconds: Histogram = field(default_factory=Histogram)
    compute_seconds: Histogram = field(default_factory=Histogram)
    batch_size: Histogram = field(default_factory=lambda: Histogram(BATCH_BUCKETS))
    histograms: bool = True  # False with --allow-metrics false: counters only

    def record_success(self, ns: int) -> None:
        """A request finished well after ``ns`` nanoseconds end to end."""
        self.success.add(ns)
        if self.histograms:
            self.request_seconds.observe(ns / 1e9)

    def record_failure(self, ns: int, reason: str) -> None:
        """A request that reached this version failed; ``reason`` is one of FAILURE_REASONS."""
        self.fail.add(ns)
        self.failures[reason] += 1
        if self.histograms:
            self.request_seconds.observe(ns / 1e9)

    def record_queue(self, ns: int) -> None:
        """A request left the queue after ``ns`` nanoseconds."""
        self.queue.add(ns)
        if self.histograms:
            self.queue_seconds.observe(ns / 1e9)

    def record_execution(self, batch_size: int, requests: int, input_ns: int, infer_ns: int,
                         output_ns: int) -> None:
        """One batch ran: Triton counts compute time once per request in it."""
        self.execution_count += 1
        self.inference_count += batch_size
        self.last_inference_ms = time.time_ns() // 1_000_000
        self.compute_input.add(input_ns * requests, requests)
        self.compute_infer.add(infer_ns * requests, requests)
        self.compute_output.add(output_ns * requests, requests)
        if self.histograms:
            self.compute_seconds.observe((input_ns + infer_ns + output_ns) / 1e9)
            self.batch_size.observe(batch_size)
        stats = self.batches.setdefault(batch_size, BatchStats())
        stats.compute_input.add(input_ns)
        stats.compute_infer.add(infer_ns)
        stats.compute_output.add(output_ns)
