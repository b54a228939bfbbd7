"""The server on each event loop (--loop): tritonclient's clients over every transport."""

from __future__ import annotations

import asyncio
import queue
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as grpcaio
import tritonclient.http as httpclient
from support.models import simple_model, write_model

pytest.importorskip("uvloop")

CONFIG = """name: "simple"
max_batch_size: 8
dynamic_batching { max_queue_delay_microseconds: 500 }
"""


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    write_model(tmp_path / "repo", "simple", simple_model(), config=CONFIG)
    return tmp_path / "repo"


def _inputs(module, a: np.ndarray, b: np.ndarray) -> list:
    inputs = [module.InferInput("INPUT0", list(a.shape), "INT32"),
              module.InferInput("INPUT1", list(b.shape), "INT32")]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(b)
    return inputs


def _check(result, a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), a + b)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), a - b)


async def _aio_infer(url: str, pairs: list[tuple[np.ndarray, np.ndarray]]) -> list:
    client = grpcaio.InferenceServerClient(url)
    try:
        return list(await asyncio.gather(*(client.infer("simple", _inputs(grpcaio, a, b))
                                           for a, b in pairs)))
    finally:
        await client.close()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_every_client_is_answered_on_either_loop(start_server, repo: Path, loop: str) -> None:
    """--loop asyncio and --loop uvloop serve HTTP, gRPC, gRPC asyncio and gRPC streaming
    alike, say which loop runs in the log, and stop cleanly on SIGTERM."""
    server = start_server(repo, "--loop", loop)
    assert f"event loop: {loop}" in server.log()
    rng = np.random.default_rng(7)
    pairs = [(rng.integers(-99, 99, (1, 16), dtype=np.int32),
              rng.integers(-99, 99, (1, 16), dtype=np.int32)) for _ in range(12)]
    http = httpclient.InferenceServerClient(server.http_url, concurrency=4)
    try:
        futures = [http.async_infer("simple", _inputs(httpclient, a, b)) for a, b in pairs]
        for (a, b), future in zip(pairs, futures, strict=True):
            _check(future.get_result(), a, b)
    finally:
        http.close()
    for (a, b), result in zip(pairs, asyncio.run(_aio_infer(server.grpc_url, pairs)),
                              strict=True):
        _check(result, a, b)
    answers: queue.Queue = queue.Queue()
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    try:
        grpc.start_stream(callback=lambda result, error: answers.put((result, error)))
        for i, (a, b) in enumerate(pairs):
            grpc.async_stream_infer("simple", _inputs(grpcclient, a, b), request_id=str(i))
        for i, (a, b) in enumerate(pairs):
            result, error = answers.get(timeout=30)
            assert error is None
            assert result.get_response().id == str(i)  # a stream answers in request order
            _check(result, a, b)
        grpc.stop_stream()
    finally:
        grpc.close()
    assert server.stop() == 0, server.log()
