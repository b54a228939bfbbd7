"""Chaos scenarios against a real ``modelport serve`` process, sized by their callers: the tests
in tests/chaos run them small, benchmarks/chaos.py runs them big and prints the figures.

Every scenario returns ``Figures``: requests sent, failed (answered with an error it should not
have had), lost (sent and never answered at all) and latency percentiles. Clients talk to
127.0.0.1 only and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import struct
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from support.models import add_model

ECHO = "echo"
SLOW = "slow"
FAKE_CONFIG = """
backend: "fake"
max_batch_size: {max_batch}
input [{{ name: "x" data_type: TYPE_FP32 dims: [ 4 ] }}]
output [{{ name: "y" data_type: TYPE_FP32 dims: [ 4 ] }}]
parameters {{ key: "delay_ms" value {{ string_value: "{delay_ms}" }} }}
{extra}
"""


def fake_model(repo: Path, name: str, delay_ms: int = 0, max_batch: int = 1,
               extra: str = "") -> Path:
    """REPO/name: the fake backend echoing x [4] to y after ``delay_ms`` per batch."""
    (repo / name / "1").mkdir(parents=True, exist_ok=True)
    (repo / name / "config.pbtxt").write_text(
        FAKE_CONFIG.format(delay_ms=delay_ms, max_batch=max_batch, extra=extra))
    return repo


def heavy_adder(version: int) -> bytes:
    """out = a * version + b (FP32 [batch, 4]) plus zeros gathered from a table of 8M: a 32 MB
    file whose load (parse, optimize, write the optimized copy, table included, to the cache)
    takes long enough for a kill or a file change to land in the middle of it."""
    model = add_model(float(version))
    graph = model.graph
    graph.initializer.extend([
        numpy_helper.from_array(np.zeros(8 * 1024 * 1024, np.float32), "table"),
        numpy_helper.from_array(np.array(0.0, np.float32), "nothing")])
    graph.node[1].output[0] = "out0"
    graph.node.extend([  # indices from the input, so the optimizer cannot fold the table away
        helper.make_node("Mul", ["a", "nothing"], ["a0"]),
        helper.make_node("Cast", ["a0"], ["idx"], to=TensorProto.INT64),
        helper.make_node("Gather", ["table", "idx"], ["g"], axis=0),
        helper.make_node("Add", ["out0", "g"], ["out"])])
    return model.SerializeToString()


def loading(cache: Path) -> bool:
    """Whether a server using ``cache`` is writing an optimized model (it is loading one)."""
    return any((cache / "ort").glob("*.tmp"))


@dataclass
class Figures:
    """What one scenario did: counts, and latencies in seconds."""

    scenario: str
    sent: int = 0
    failed: int = 0
    lost: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: str = ""

    def fail(self, why: str) -> None:
        """Count one request answered with an error."""
        self.failed += 1
        if len(self.errors) < 5:
            self.errors.append(why)

    def lose(self, why: str) -> None:
        """Count one request that was never answered."""
        self.lost += 1
        if len(self.errors) < 5:
            self.errors.append(f"lost: {why}")

    def p(self, q: float) -> float:
        """Latency percentile ``q`` in milliseconds (nan without samples)."""
        if not self.latencies:
            return float("nan")
        return float(np.percentile(np.array(self.latencies) * 1000.0, q))

    def row(self) -> dict[str, str]:
        """One line of the figures table."""
        return {"scenario": self.scenario, "sent": f"{self.sent:,}", "failed": str(self.failed),
                "lost": str(self.lost), "p99": f"{self.p(99):.1f} ms" if self.latencies else "-",
                "notes": self.notes}


def table(rows: list[Figures]) -> str:
    """The figures as a Markdown table."""
    cols = ["scenario", "sent", "failed", "lost", "p99", "notes"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(f.row()[c] for c in cols) + " |" for f in rows]
    return "\n".join(lines)


# --- the server from outside ---------------------------------------------------------------------


def raise_nofile(wanted: int) -> int:
    """Raise this process's open-file soft limit towards ``wanted``; returns the new limit
    (child processes, the server among them, inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard)
    if target != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid`` (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def metric(http_url: str, series: str) -> float:
    """One sample of the server's /metrics, by its exact series text (0 when absent)."""
    with urllib.request.urlopen(f"http://{http_url}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
    return 0.0


def canceled(http_url: str, model: str) -> float:
    """nv_inference_request_failure{reason="CANCELED"} of ``model`` version 1."""
    return metric(http_url, f'nv_inference_request_failure{{model="{model}",version="1",'
                            'reason="CANCELED"}')


def pending(http_url: str, model: str) -> int:
    """Requests of ``model`` version 1 queued or running."""
    return int(metric(http_url, f'nv_inference_pending_request_count{{model="{model}",'
                                f'version="1"}}'))


def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = 20.0,
               every_s: float = 0.02) -> float:
    """Poll ``predicate`` every ``every_s`` (bounded); returns the monotonic time it was first
    seen true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


# --- a lean HTTP/1.1 keep-alive client (one socket each, so a thousand are cheap) -----------------


def infer_body(value: float) -> bytes:
    """A JSON inference request for the echo models: x = [value] * 4."""
    return json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                                   "data": [value] * 4}]}).encode()


def infer_request(model: str, value: float) -> bytes:
    """The bytes of one keep-alive POST .../infer."""
    body = infer_body(value)
    return (f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response with a Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(line.split(":", 1)[1]) for line in lines[1:]
                  if line.lower().startswith("content-length:"))
    return status, await reader.readexactly(length)


def echoed(body: bytes, value: float) -> bool:
    """Whether an infer response carries y = [value] * 4."""
    outputs = json.loads(body)["outputs"]
    return bool(outputs[0]["data"] == [value] * 4)


async def http_storm(port: int, model: str, connections: int, requests_each: int,
                     timeout_s: float = 60.0) -> Figures:
    """``connections`` keep-alive connections open at once, each sending ``requests_each``
    requests one after the other; every answer is checked."""
    figures = Figures(f"{connections:,} HTTP keep-alive connections")
    opened = asyncio.Event()
    ready = 0

    async def client(index: int) -> None:
        nonlocal ready
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        ready += 1
        if ready == connections:
            opened.set()
        await opened.wait()  # all connections are open before the first request
        try:
            for i in range(requests_each):
                value = float(index * 1000 + i)
                figures.sent += 1
                started = time.perf_counter()
                writer.write(infer_request(model, value))
                try:
                    status, body = await read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    figures.lose(repr(exc))
                    return
                if status != 200 or not echoed(body, value):
                    figures.fail(f"{status} {body[:120]!r}")
                    continue
                figures.latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    tasks = [asyncio.ensure_future(client(i)) for i in range(connections)]
    done, stuck = await asyncio.wait(tasks, timeout=timeout_s)
    for task in stuck:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            figures.lose(repr(task.exception()))
    figures.lost += len(stuck) * requests_each
    return figures


async def grpc_storm(url: str, model: str, channels: int, calls_each: int,
                     timeout_s: float = 60.0) -> Figures:
    """``channels`` tritonclient.grpc.aio clients (one TCP connection each) with
    ``calls_each`` calls in flight on each at once."""
    import tritonclient.grpc.aio as grpcaio
    from tritonclient.utils import InferenceServerException

    figures = Figures(f"{channels * calls_each:,} gRPC calls at once on {channels} channels")
    clients = [grpcaio.InferenceServerClient(url, channel_args=[
        ("grpc.use_local_subchannel_pool", 1)]) for _ in range(channels)]

    async def call(client: grpcaio.InferenceServerClient, value: float) -> None:
        x = grpcaio.InferInput("x", [1, 4], "FP32")
        x.set_data_from_numpy(np.full((1, 4), value, np.float32))
        figures.sent += 1
        started = time.perf_counter()
        try:
            result = await client.infer(model, [x], client_timeout=timeout_s)
        except InferenceServerException as exc:
            figures.fail(str(exc)[:160])
            return
        if not np.array_equal(result.as_numpy("y"), np.full((1, 4), value, np.float32)):
            figures.fail("wrong answer")
            return
        figures.latencies.append(time.perf_counter() - started)

    try:
        await asyncio.wait_for(asyncio.gather(*(
            call(client, float(c * 1000 + i)) for c, client in enumerate(clients)
            for i in range(calls_each))), timeout_s + 10)
    finally:
        await asyncio.gather(*(client.close() for client in clients))
    return figures


async def fresh_client(port: int, model: str, requests: int) -> Figures:
    """One new keep-alive connection sending ``requests`` requests in a row."""
    figures = await http_storm(port, model, 1, requests, timeout_s=60.0)
    figures.scenario = "fresh client"
    return figures


async def slowloris(port: int, idle: int, dripping: int, hold_s: float,
                    probe_requests: int, model: str) -> Figures:
    """``idle`` connections that never speak and ``dripping`` ones that send a request head a
    byte at a time stay open while a fresh client sends ``probe_requests`` requests; the
    figures are the fresh client's. The slow connections must all still be open at the end
    (no one was dropped to make room)."""
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for _ in range(idle + dripping):
        conns.append(await asyncio.open_connection("127.0.0.1", port))
    head = (f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "X-Slow: ").encode()

    async def drip(writer: asyncio.StreamWriter) -> None:
        writer.write(head)
        deadline = time.monotonic() + hold_s
        while time.monotonic() < deadline:
            writer.write(b"a")
            await asyncio.sleep(0.5)

    drips = [asyncio.ensure_future(drip(w)) for _, w in conns[idle:]]
    await asyncio.sleep(0.5)
    figures = await fresh_client(port, model, probe_requests)
    figures.scenario = f"fresh client beside {idle} idle + {dripping} slowloris connections"
    await asyncio.gather(*drips)
    still_open = sum(1 for r, _ in conns if not r.at_eof())
    figures.notes = f"{still_open} of {len(conns)} slow connections still open"
    for _, w in conns:
        w.close()
    return figures


def reset_socket(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a client killed or timing out hard does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def disconnect_mid_request(port: int, model: str, count: int) -> list[socket.socket]:
    """Send ``count`` requests to ``model`` on their own connections and leave them open;
    the caller resets them (``reset_socket``) once they are queued."""
    socks = []
    for i in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(infer_request(model, float(i)))
        socks.append(sock)
    return socks


class AdderTraffic:
    """A thread inferring on the adder model ``model`` over HTTP until stopped (bounded by
    ``max_s``): each answer as (version, scale recovered from the output), each error."""

    def __init__(self, http_url: str, model: str, max_s: float = 60.0) -> None:
        import threading

        self.http_url, self.model = http_url, model
        self.answers: list[tuple[int, float]] = []
        self.figures = Figures("adder traffic")
        self._deadline = time.monotonic() + max_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> AdderTraffic:
        self._thread.start()
        wait_until(lambda: bool(self.answers or self.figures.failed), "first answers")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the traffic thread hung"

    def _loop(self) -> None:
        import tritonclient.http as httpclient
        from tritonclient.utils import InferenceServerException

        client = httpclient.InferenceServerClient(self.http_url, network_timeout=20)
        a = np.full((1, 4), 1.5, np.float32)
        b = np.full((1, 4), 0.25, np.float32)
        try:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                inputs = [httpclient.InferInput(n, [1, 4], "FP32") for n in ("a", "b")]
                inputs[0].set_data_from_numpy(a)
                inputs[1].set_data_from_numpy(b)
                self.figures.sent += 1
                started = time.perf_counter()
                try:
                    result = client.infer(self.model, inputs)
                except InferenceServerException as exc:
                    self.figures.fail(str(exc)[:200])
                    continue
                self.figures.latencies.append(time.perf_counter() - started)
                scale = float(np.mean((result.as_numpy("out") - b) / a))
                self.answers.append((int(result.get_response()["model_version"]), scale))
                time.sleep(0.002)
        finally:
            client.close()

    def last(self) -> tuple[int, float]:
        """The latest answer (version, scale); (0, nan) before the first."""
        return self.answers[-1] if self.answers else (0, float("nan"))
