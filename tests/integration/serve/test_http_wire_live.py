"""The HTTP front (serve/http/wire) under unmodified tritonclient, sync and asyncio.

A real ``modelport serve`` subprocess on loopback serves identity models, so every answer has
an exact expected value; raw sockets check what tritonclient cannot send (pipelining,
malformed requests) against the real app, and SIGTERM checks the graceful stop.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
import tritonclient.http.aio as aioclient
from support.models import identity_model, write_model
from support.server import ServerProcess


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ident`` (FP32 identity) and ``words`` (BYTES identity)."""
    repo = tmp_path_factory.mktemp("wire") / "repo"
    write_model(repo, "ident", identity_model("FP32"))
    write_model(repo, "words", identity_model("BYTES"))
    return repo


@pytest.fixture(scope="module")
def server(repo: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[ServerProcess]:
    """The repository served with the wire front and a 64 KiB request limit."""
    proc = ServerProcess(repo, "--max-request-size", "65536",
                         log_path=tmp_path_factory.mktemp("logs") / "wire.log",
                         env={"MODELPORT_CACHE_DIR": str(cache_dir)})
    yield proc
    assert proc.alive(), proc.log()
    assert proc.stop() == 0, proc.log()


def _inputs(module: object, x: np.ndarray, binary: bool) -> list[httpclient.InferInput]:
    inp = module.InferInput("x", list(x.shape), "FP32")  # type: ignore[attr-defined]
    inp.set_data_from_numpy(x, binary_data=binary)
    return [inp]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_sync_client(server: ServerProcess, binary: bool) -> None:
    """tritonclient.http (sync): health, metadata and identity infers in JSON and binary."""
    client = httpclient.InferenceServerClient(server.http_url)
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_model_metadata("ident")["inputs"][0]["datatype"] == "FP32"
    for batch in (1, 3, 8):
        x = np.random.default_rng(batch).standard_normal((batch, 5)).astype(np.float32)
        output = httpclient.InferRequestedOutput("y", binary_data=binary)
        result = client.infer("ident", _inputs(httpclient, x, binary), outputs=[output])
        np.testing.assert_array_equal(result.as_numpy("y"), x)
    client.close()


def test_sync_client_bytes_and_concurrency(server: ServerProcess) -> None:
    """BYTES tensors round-trip; async_infer with 8 connections answers each request."""
    client = httpclient.InferenceServerClient(server.http_url, concurrency=8)
    words = np.array([[b"alpha"], [b""], ["ünïcode".encode()]], dtype=np.object_)
    inp = httpclient.InferInput("x", list(words.shape), "BYTES")
    inp.set_data_from_numpy(words)
    assert client.infer("words", [inp]).as_numpy("y").tolist() == words.tolist()
    xs = [np.full((2, 4), i, np.float32) for i in range(32)]
    pending = [client.async_infer("ident", _inputs(httpclient, x, True)) for x in xs]
    for x, handle in zip(xs, pending, strict=True):
        np.testing.assert_array_equal(handle.get_result().as_numpy("y"), x)
    client.close()


def test_aio_client_concurrent(server: ServerProcess) -> None:
    """tritonclient.http.aio: 64 concurrent infers on one client, each gets its own answer."""

    async def main() -> None:
        client = aioclient.InferenceServerClient(server.http_url)
        try:
            assert await client.is_server_ready()
            xs = [np.full((1, 8), i, np.float32) for i in range(64)]
            results = await asyncio.gather(*(
                client.infer("ident", _inputs(aioclient, x, i % 2 == 0))
                for i, x in enumerate(xs)))
            for x, result in zip(xs, results, strict=True):
                np.testing.assert_array_equal(result.as_numpy("y"), x)
        finally:
            await client.close()

    asyncio.run(main())


def _infer_request(value: float, connection: str = "") -> bytes:
    body = json.dumps({"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32",
                                   "data": [value]}]}).encode()
    extra = f"Connection: {connection}\r\n" if connection else ""
    return (f"POST /v2/models/ident/infer HTTP/1.1\r\nHost: t\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_pipelined_infers_in_order(server: ServerProcess) -> None:
    """Twenty infers pipelined on one connection come back in order."""
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        requests = [_infer_request(float(i)) for i in range(19)]
        sock.sendall(b"".join(requests) + _infer_request(19.0, "close"))
        data = _read_all(sock)
    bodies = [part.split(b"\r\n\r\n", 1)[1] for part in data.split(b"HTTP/1.1 ")[1:]]
    assert [json.loads(b)["outputs"][0]["data"] for b in bodies] == [[i] for i in range(20)]


def test_malformed_request_gets_json_400(server: ServerProcess) -> None:
    """A malformed request to the real server is a JSON 400 and a close."""
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        sock.sendall(b"POST /v2/models/ident/infer HTTP/1.1\r\nContent-Length: 2\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        data = _read_all(sock)
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 400 ") and b"connection: close" in head
    assert "malformed HTTP request" in json.loads(body)["error"]


def test_expect_continue_over_limit(server: ServerProcess) -> None:
    """``Expect: 100-continue`` with a body over --max-request-size: 413 before any 100."""
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as sock:
        sock.sendall(b"POST /v2/models/ident/infer HTTP/1.1\r\nContent-Length: 100000\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        data = _read_all(sock)
    assert data.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in data
    assert "65536" in json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]


def test_sigterm_finishes_in_flight_request(repo: Path, cache_dir: Path,
                                            tmp_path: Path) -> None:
    """SIGTERM while a client holds a keep-alive connection: the server exits 0 promptly."""
    proc = ServerProcess(repo, log_path=tmp_path / "stop.log",
                         env={"MODELPORT_CACHE_DIR": str(cache_dir)})
    try:
        client = httpclient.InferenceServerClient(proc.http_url)
        x = np.ones((1, 2), np.float32)
        np.testing.assert_array_equal(
            client.infer("ident", _inputs(httpclient, x, True)).as_numpy("y"), x)
        started = time.monotonic()
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.proc.wait(timeout=30) == 0, proc.log()
        assert time.monotonic() - started < 10
        client.close()
    finally:
        proc.stop()
