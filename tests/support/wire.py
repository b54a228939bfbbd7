"""A WireServer in a background event loop and a raw socket client, for the wire's tests.

``serve(app, **settings)`` starts a WireServer on a free loopback port (stopped after the
test); ``clients(port)`` opens blocking sockets that write requests as bytes and read
responses back, parsed.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import ssl as ssl_module
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from modelport.serve.http.wire import WireServer, WireSettings
from modelport.serve.http.wire.connection import HttpConnection

App = Callable[..., Any]


# -- the server in a background loop ------------------------------------------------------------


class Running:
    """A WireServer on a free loopback port (HTTPS with ``ssl``), served by an event loop in
    a thread."""

    def __init__(self, app: App, wire_settings: WireSettings,
                 ssl: ssl_module.SSLContext | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self.server = WireServer(app, wire_settings, ssl=ssl)
        self.port = self.call(self.server.start(sock))
        self.stopped = False

    def call(self, coro: Any, timeout_s: float = 10.0) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def connections(self) -> list[HttpConnection]:
        """The open connections, read on the server's loop."""

        async def snapshot() -> list[HttpConnection]:
            return list(self.server.connections)

        return list(self.call(snapshot()))

    def stop(self, grace_s: float = 2.0) -> None:
        """Stop the server gracefully, then the loop."""
        if self.stopped:
            return
        self.stopped = True
        self.call(self.server.stop(grace_s), timeout_s=grace_s + 10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        gc.collect()  # a transport left open warns now, in the test that leaked it


@pytest.fixture()
def serve() -> Iterator[Callable[..., Running]]:
    """A factory: serve(app, **settings) -> Running, stopped after the test."""
    started: list[Running] = []

    def start(app: App, **overrides: Any) -> Running:
        running = Running(app, WireSettings(**{"idle_timeout_s": 5.0, **overrides}))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


# -- a raw client ----------------------------------------------------------------------------


@dataclass
class Response:
    """A parsed HTTP response."""

    status: int
    headers: dict[str, str]
    body: bytes
    version: str = "HTTP/1.1"


class Client:
    """A blocking socket and a buffered reader of responses."""

    def __init__(self, port: int, timeout_s: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        """Write raw bytes."""
        self.sock.sendall(data)

    def response(self, head_only: bool = False) -> Response:
        """Read one response (by content-length, chunks, or until close)."""
        line = self.reader.readline()
        if not line:
            raise EOFError("connection closed before a response")
        version, status, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, value = line.decode("latin-1").split(":", 1)
            headers[name.strip().lower()] = value.strip()
        code = int(status)
        if head_only or code < 200 or code in (204, 304):
            body = b""
        elif "content-length" in headers:
            body = self.reader.read(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            body = self._chunks()
        else:
            body = self.reader.read()
        return Response(code, headers, body, version)

    def _chunks(self) -> bytes:
        parts = []
        while True:
            size = int(self.reader.readline().split(b";")[0], 16)
            if size == 0:
                self.reader.readline()
                return b"".join(parts)
            parts.append(self.reader.read(size))
            self.reader.readline()

    def closed(self) -> bool:
        """Whether the server closed the connection (EOF or reset) within the timeout."""
        try:
            return self.reader.read(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        """Close the client side."""
        self.reader.close()
        self.sock.close()


@pytest.fixture()
def clients() -> Iterator[Callable[..., Client]]:
    """A factory of clients, closed after the test."""
    made: list[Client] = []

    def connect(port: int, timeout_s: float = 5.0) -> Client:
        made.append(Client(port, timeout_s))
        return made[-1]

    yield connect
    for client in made:
        client.close()


def get(path: str = "/", *headers: str, version: str = "1.1") -> bytes:
    """A GET request's bytes."""
    lines = [f"GET {path} HTTP/{version}", "Host: t", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post(path: str, body: bytes, *headers: str) -> bytes:
    """A POST request with a Content-Length body."""
    lines = [f"POST {path} HTTP/1.1", "Host: t", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(path: str, *pieces: bytes) -> bytes:
    """A POST request with a chunked body made of ``pieces``."""
    head = f"POST {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return head + body + b"0\r\n\r\n"
