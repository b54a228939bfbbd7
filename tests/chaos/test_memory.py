"""After chaos, memory comes back: one server goes through rounds of connection storms
(HTTP and gRPC), slowloris connections, clients resetting mid-request and model reloads;
its RSS after the last round is within the lifecycle soak's bound (50 MB, see
benchmarks/reload_soak.py) of its RSS after the first."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import tritonclient.http as httpclient
from support.chaos import (
    ECHO,
    SLOW,
    disconnect_mid_request,
    fake_model,
    grpc_storm,
    http_storm,
    pending,
    raise_nofile,
    reset_socket,
    rss_bytes,
    slowloris,
    wait_until,
)
from support.models import add_model, write_model

MB = 1024 * 1024
BOUND_MB = 50  # benchmarks/reload_soak.py: final RSS within 50 MB of the RSS after the first cycles


def chaos_round(server, index: int) -> None:
    """One round: storms, slow clients, resets, and ten reloads of 'adder'."""
    storms = asyncio.run(http_storm(server.http_port, ECHO, 300, 2))
    calls = asyncio.run(grpc_storm(server.grpc_url, ECHO, 20, 25))
    slow = asyncio.run(slowloris(server.http_port, 40, 40, 1.0, 20, ECHO))
    for figures in (storms, calls, slow):
        assert (figures.failed, figures.lost) == (0, 0), figures.errors
    socks: list[socket.socket] = disconnect_mid_request(server.http_port, SLOW, 4)
    wait_until(lambda: pending(server.http_url, SLOW) == 4, "four queued", 10)
    for sock in socks:
        reset_socket(sock)
    wait_until(lambda: pending(server.http_url, SLOW) == 0, "the queue to empty", 10)
    client = httpclient.InferenceServerClient(server.http_url)
    try:
        for i in range(10):  # an override always builds a new instance of the version
            client.load_model("adder", config=json.dumps(
                {"max_batch_size": 8 + (index * 10 + i) % 7}))
    finally:
        client.close()


def test_rss_returns_within_the_soak_bound_after_chaos(start_server, tmp_path: Path) -> None:
    """RSS after four chaos rounds is within 50 MB of RSS after the first."""
    raise_nofile(4096)
    repo = tmp_path / "models"
    fake_model(repo, ECHO, max_batch=64, extra="dynamic_batching { }")
    fake_model(repo, SLOW, delay_ms=200)
    write_model(repo, "adder", add_model(2.0))
    server = start_server(repo, "--model-control-mode", "explicit", "--load-model", "*")
    chaos_round(server, 0)
    first = rss_bytes(server.proc.pid)
    for index in range(1, 4):
        chaos_round(server, index)
    last = rss_bytes(server.proc.pid)
    print(f"RSS after round 1: {first / MB:.1f} MB, after round 4: {last / MB:.1f} MB")
    assert last - first < BOUND_MB * MB, (first / MB, last / MB)
    assert server.alive()
