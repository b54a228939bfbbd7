"""The load generator's loops, on an in-process fake client."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from modelport.bench.backends.base import Array
from modelport.bench.remote.clients import OipClient, RequestFailed
from modelport.bench.remote.config import RemoteConfig
from modelport.bench.remote.load import run_concurrency, run_rate
from modelport.bench.remote.payload import binary_body, json_body

CONFIG = RemoteConfig("http://127.0.0.1:1", "m")


class FakeClient(OipClient):
    """Answers after a delay, failing every ``fail_every``-th request; tracks concurrency."""

    def __init__(self, delay: float = 0.002, fail_every: int = 0) -> None:
        super().__init__(CONFIG)
        self.delay, self.fail_every = delay, fail_every
        self.calls = self.in_flight = self.peak = 0

    async def open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def metadata(self) -> dict[str, Any]:
        """No metadata needed here."""
        return {}

    async def statistics(self) -> dict[str, Any] | None:
        """No statistics extension."""
        return None

    def prepare(self, inputs: Mapping[str, Array], outputs: Sequence[str]) -> None:
        """Nothing to encode."""

    async def infer(self) -> None:
        """Sleep, maybe fail."""
        self.calls += 1
        number = self.calls
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if self.fail_every and number % self.fail_every == 0:
                raise RequestFailed("HTTP 503: queue full")
        finally:
            self.in_flight -= 1


def test_concurrency_keeps_n_in_flight_and_counts_every_request() -> None:
    """Closed loop: exactly n requests in flight; successes + errors = requests sent."""
    client = FakeClient(fail_every=5)
    level = asyncio.run(run_concurrency(client, 4, 0.2))
    assert client.peak == 4
    assert level.successes + level.errors == client.calls
    assert level.errors == client.calls // 5
    assert level.error_samples[0] == "HTTP 503: queue full"


def test_rate_sends_rate_times_duration_requests() -> None:
    """Open loop: rate x duration arrivals, none dropped when the server keeps up."""
    client = FakeClient(delay=0.001)
    level = asyncio.run(run_rate(client, 100.0, 0.3))
    assert client.calls == 30
    assert level.successes == 30 and level.dropped == 0
    assert 0.25 < level.wall_s < 1.0


def test_rate_drops_arrivals_beyond_max_outstanding() -> None:
    """A slow server makes the open loop drop arrivals instead of growing without bound."""
    client = FakeClient(delay=0.5)
    level = asyncio.run(run_rate(client, 200.0, 0.1, max_outstanding=3))
    assert client.peak <= 3
    assert level.dropped == 20 - client.calls


def test_binary_body_layout() -> None:
    """The JSON header length is announced and raw tensor bytes follow it."""
    import numpy as np

    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    body, header_len = binary_body({"x": x}, ["y"])
    assert body[header_len:] == x.tobytes()
    assert b'"binary_data_size": 16' in body[:header_len]
    assert b'"data": [0.0, 1.0, 2.0, 3.0]' in json_body({"x": x}, ["y"])
