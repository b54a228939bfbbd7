"""Many, slow and vanishing clients: a thousand connections at once over HTTP keep-alive and
gRPC with no error, idle and slowloris connections that starve no one, and clients that
disconnect mid-request free their place in the queue and are counted as cancelled."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.chaos import (
    ECHO,
    SLOW,
    canceled,
    disconnect_mid_request,
    fake_model,
    fresh_client,
    grpc_storm,
    http_storm,
    pending,
    raise_nofile,
    reset_socket,
    slowloris,
    wait_until,
)

BATCHED = "dynamic_batching { max_queue_delay_microseconds: 500 }"


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """'echo' (batches up to 64) and 'slow' (one request at a time, 300 ms each)."""
    root = tmp_path / "models"
    fake_model(root, ECHO, max_batch=64, extra=BATCHED)
    fake_model(root, SLOW, delay_ms=300)  # max_batch 1: one at a time
    return root


def test_a_thousand_connections_at_once(start_server, repo: Path) -> None:
    """1,000 HTTP keep-alive connections, then 1,000 gRPC connections with 2 calls each, all
    at once: every request answered correctly (gRPC core used to cancel calls past 1,000
    waiting)."""
    assert raise_nofile(4096) >= 2500, "the open-file limit is too low for this test"
    server = start_server(repo)
    http = asyncio.run(http_storm(server.http_port, ECHO, 1000, 2))
    grpc = asyncio.run(grpc_storm(server.grpc_url, ECHO, 1000, 2))
    for figures in (http, grpc):
        print(figures.row())
        assert (figures.failed, figures.lost) == (0, 0), figures.errors
    assert http.sent == 2000 and grpc.sent == 2000
    assert len(http.latencies) == 2000 and len(grpc.latencies) == 2000
    assert server.alive()


def test_idle_and_slowloris_connections_do_not_starve_a_fresh_client(start_server,
                                                                     repo: Path) -> None:
    """100 silent and 100 byte-a-second connections stay open while a new client is served
    as quickly as without them (p99 within 50 ms of its own baseline)."""
    raise_nofile(4096)
    server = start_server(repo)
    baseline = asyncio.run(fresh_client(server.http_port, ECHO, 200))
    crowded = asyncio.run(slowloris(server.http_port, 100, 100, 3.0, 200, ECHO))
    print(baseline.row(), crowded.row())
    assert (crowded.failed, crowded.lost) == (0, 0), crowded.errors
    assert crowded.p(99) < baseline.p(99) + 50.0, (baseline.p(99), crowded.p(99))
    assert crowded.notes.startswith("200 of 200"), crowded.notes


def test_http_clients_that_reset_mid_request_free_their_slot(start_server, repo: Path) -> None:
    """Five HTTP requests queue behind a 300 ms one; their clients reset the connection: they
    are counted as CANCELED, leave the queue without running, and the server serves on."""
    server = start_server(repo)
    before = canceled(server.http_url, SLOW)
    socks = disconnect_mid_request(server.http_port, SLOW, 6)
    wait_until(lambda: pending(server.http_url, SLOW) == 6, "six requests in the queue", 10)
    for sock in socks[1:]:
        reset_socket(sock)
    wait_until(lambda: canceled(server.http_url, SLOW) == before + 5, "five CANCELED", 10)
    wait_until(lambda: pending(server.http_url, SLOW) == 0, "the queue to empty", 10)
    socks[0].close()
    after = asyncio.run(fresh_client(server.http_port, SLOW, 2))
    assert (after.failed, after.lost) == (0, 0), after.errors
    # the five never ran: 300 ms each would have kept the queue busy for 1.5 s
    assert max(after.latencies) < 1.0


def test_grpc_calls_past_the_limit_are_refused_resource_exhausted(start_server,
                                                                   tmp_path: Path) -> None:
    """With --grpc-max-calls 100, 300 calls at once on one channel: those past the limit are
    refused RESOURCE_EXHAUSTED at once, the rest answered; none cancelled, none lost."""
    root = fake_model(tmp_path / "models", ECHO, delay_ms=100, max_batch=64, extra=BATCHED)
    server = start_server(root, "--grpc-max-calls", "100")
    figures = asyncio.run(grpc_storm(server.grpc_url, ECHO, 1, 300))
    refused = figures.failed
    assert figures.lost == 0 and figures.sent == 300
    assert 0 < refused <= 200 and len(figures.latencies) == 300 - refused, figures.errors
    assert all("RESOURCE_EXHAUSTED" in e for e in figures.errors), figures.errors
    again = asyncio.run(grpc_storm(server.grpc_url, ECHO, 1, 50))
    assert (again.failed, again.lost) == (0, 0), again.errors
