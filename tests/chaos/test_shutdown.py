"""SIGTERM under load: readiness turns false at once, requests in flight finish, new ones are
refused with 503 / UNAVAILABLE, and the process exits within --drain-timeout even when a
request is stuck in the runtime. (tests/integration/serve/test_http_wire_live.py checks the
idle case; tests/deploy/test_container.py the container's.)"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from support.chaos import SLOW, echoed, fake_model, infer_request, pending, wait_until
from tritonclient.utils import InferenceServerException


def _exchange(sock: socket.socket, request: bytes) -> tuple[int, bytes]:
    """One request on an open keep-alive socket; status and body."""
    async def run() -> tuple[int, bytes]:
        from support.chaos import read_response
        reader, writer = await asyncio.open_connection(sock=sock.dup())
        writer.write(request)
        try:
            return await asyncio.wait_for(read_response(reader), 30)
        finally:
            writer.close()
    return asyncio.run(run())


READY = b"GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
LIVE = b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _grpc_infer(url: str, value: float, outcomes: list[str]) -> None:
    client = grpcclient.InferenceServerClient(url)
    x = grpcclient.InferInput("x", [1, 4], "FP32")
    x.set_data_from_numpy(np.full((1, 4), value, np.float32))
    try:
        result = client.infer(SLOW, [x], client_timeout=60)
        ok = np.array_equal(result.as_numpy("y"), np.full((1, 4), value, np.float32))
        outcomes.append("ok" if ok else "wrong")
    except InferenceServerException as exc:
        outcomes.append(f"{exc.status()}: {exc.message()}")
    finally:
        client.close()


def _http_infer(port: int, value: float, outcomes: list[str]) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        try:
            status, body = _exchange(sock, infer_request(SLOW, value))
        except (OSError, asyncio.IncompleteReadError) as exc:
            outcomes.append(f"lost: {exc!r}")
            return
        outcomes.append("ok" if status == 200 and echoed(body, value) else f"{status}: {body!r}")


def test_sigterm_under_load_drains_and_refuses(start_server, tmp_path: Path) -> None:
    """Four requests in flight (HTTP and gRPC, 400 ms each, one at a time): after SIGTERM the
    server says not ready, refuses a new HTTP request 503 and a new gRPC call UNAVAILABLE on
    connections already open, answers all four, and exits 0 within --drain-timeout."""
    repo = fake_model(tmp_path / "models", SLOW, delay_ms=400)
    server = start_server(repo, "--drain-timeout", "10")
    keep = socket.create_connection(("127.0.0.1", server.http_port), timeout=10)
    assert _exchange(keep, READY)[0] == 200
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    assert grpc.is_server_ready()
    outcomes: list[str] = []
    threads = [threading.Thread(target=_http_infer, args=(server.http_port, 1.0, outcomes)),
               threading.Thread(target=_http_infer, args=(server.http_port, 2.0, outcomes)),
               threading.Thread(target=_grpc_infer, args=(server.grpc_url, 3.0, outcomes)),
               threading.Thread(target=_grpc_infer, args=(server.grpc_url, 4.0, outcomes))]
    for t in threads:
        t.start()
    wait_until(lambda: pending(server.http_url, SLOW) == 4, "four requests in flight", 10)
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: "shutting down" in server.log(), "the shutdown to begin", 5)
    assert _exchange(keep, READY)[0] == 503  # readiness false first
    assert _exchange(keep, LIVE)[0] == 200
    status, body = _exchange(keep, infer_request(SLOW, 9.0))
    assert status == 503 and b"shutting down" in body, body
    refused: list[str] = []
    _grpc_infer(server.grpc_url, 9.0, refused)
    assert refused[0].startswith("StatusCode.UNAVAILABLE: the server is shutting down"), refused
    assert not grpc.is_server_ready()
    assert server.proc.wait(timeout=20) == 0, server.log()
    exited = time.monotonic() - signalled
    for t in threads:
        t.join(timeout=30)
    keep.close()
    grpc.close()
    assert outcomes == ["ok"] * 4, outcomes
    assert exited < 10, exited
    assert exited > 1.0, "four 400 ms requests cannot have finished sooner"


@pytest.mark.parametrize("drain_s", [2.0])
def test_sigterm_with_a_stuck_request_exits_within_drain_timeout(start_server, tmp_path: Path,
                                                                  drain_s: float) -> None:
    """A request stuck in the runtime (60 s) and one queued behind it: SIGTERM answers both
    503 / UNAVAILABLE once --drain-timeout has passed and the process exits at once, instead
    of waiting for the runtime call (the server used to take the full 60 s)."""
    repo = fake_model(tmp_path / "models", SLOW, delay_ms=60_000)
    server = start_server(repo, "--drain-timeout", str(drain_s))
    outcomes: list[str] = []
    threads = [threading.Thread(target=_http_infer, args=(server.http_port, 1.0, outcomes)),
               threading.Thread(target=_grpc_infer, args=(server.grpc_url, 2.0, outcomes))]
    for t in threads:
        t.start()
    wait_until(lambda: pending(server.http_url, SLOW) == 2, "one running, one queued", 10)
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    try:
        code = server.proc.wait(timeout=drain_s + 10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        raise AssertionError(f"still running {drain_s + 10} s after SIGTERM") from None
    exited = time.monotonic() - signalled
    for t in threads:
        t.join(timeout=10)
    assert code == 0, server.log()
    assert drain_s <= exited < drain_s + 3.0, exited
    assert sorted(o.split(":")[0] for o in outcomes) == ["503", "StatusCode.UNAVAILABLE"], outcomes
    assert "still running after --drain-timeout" in server.log()


HANGING_MODEL = """
import time


class TritonPythonModel:
    def initialize(self, args):
        time.sleep(120)

    def execute(self, requests):
        return []
"""


def test_sigterm_while_a_load_hangs_exits_within_drain_timeout(start_server,
                                                               tmp_path: Path) -> None:
    """A load whose Python model never finishes initialize: SIGTERM still ends the process
    about a second past --drain-timeout (it used to wait for the load, two minutes here)."""
    import tritonclient.http as httpclient
    from support.python_models import write_python_model

    repo = tmp_path / "models"
    write_python_model(repo, "hang", """
        backend: "python"
        input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]
        output [ { name: "y" data_type: TYPE_FP32 dims: [ 4 ] } ]
        """, HANGING_MODEL)
    server = start_server(repo, "--model-control-mode", "explicit", "--drain-timeout", "2")
    outcome: list[str] = []

    def load() -> None:
        client = httpclient.InferenceServerClient(server.http_url, network_timeout=60)
        try:
            client.load_model("hang")
            outcome.append("loaded")
        except Exception as exc:  # the connection closes: a control call cut short
            outcome.append(repr(exc))
        finally:
            client.close()

    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(1.5)  # the stub is up and sleeping in initialize
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    try:
        code = server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        raise AssertionError("still running 15 s after SIGTERM") from None
    exited = time.monotonic() - signalled
    thread.join(timeout=30)
    assert code == 0 and exited < 2 + 3.0, (code, exited)
    assert outcome and outcome != ["loaded"], outcome
    assert "a model load is still running after --drain-timeout" in server.log()
