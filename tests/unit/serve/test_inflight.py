"""The shutdown gate: requests admitted before it closes are counted until answered; after it
closes, new ones are refused with Unavailable (503 / UNAVAILABLE)."""

from __future__ import annotations

import asyncio

import pytest

from modelport.errors import Unavailable
from modelport.serve.inflight import InFlight


def test_gate_counts_admitted_requests_and_refuses_once_closed() -> None:
    """wait_idle returns when the last admitted request leaves; closed, enter() raises."""

    async def scenario() -> None:
        gate = InFlight()
        gate.enter()
        gate.enter()
        gate.close()
        with pytest.raises(Unavailable, match="shutting down"):
            gate.enter()
        assert gate.count == 2
        assert not await gate.wait_idle(0.05)
        asyncio.get_running_loop().call_later(0.05, gate.leave)
        asyncio.get_running_loop().call_later(0.1, gate.leave)
        assert await gate.wait_idle(5)
        assert gate.count == 0

    asyncio.run(scenario())


def test_grpc_max_calls_is_validated() -> None:
    """--grpc-max-calls below 1 is refused in one line."""
    from modelport.errors import ConfigError
    from modelport.serve.config import ServerConfig

    assert ServerConfig().grpc_max_calls == 4096
    with pytest.raises(ConfigError, match="--grpc-max-calls"):
        ServerConfig(grpc_max_calls=0)
