"""The listening side: accept connections on a socket we bound, and stop gracefully.

Accepting is our own loop over ``sock_accept`` rather than ``loop.create_server``: stopping it
is then one task cancellation, with no connection caught half-accepted (on Python 3.11 a
connection accepted as an ``asyncio.Server`` closes fails inside asyncio and leaks its socket).
With an ``ssl.SSLContext``, each accepted connection handshakes in its own task (wire/tls.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator

from modelport.serve.http.wire.connection import ASGIApp, DirectApp, HttpConnection
from modelport.serve.http.wire.settings import WireSettings
from modelport.serve.http.wire.tls import accept_tls

log = logging.getLogger("modelport.http.wire")


class WireServer:
    """A lean HTTP/1.1 server for one ASGI app.

    ``port = await server.start(sock)`` serves on an already bound socket;
    ``await server.stop(grace_s)`` stops accepting, closes idle connections, lets requests in
    flight finish for up to ``grace_s`` seconds, then drops what is left. With ``ssl`` it
    serves HTTPS only.
    """

    def __init__(self, app: ASGIApp, settings: WireSettings | None = None,
                 ssl: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.settings = settings or WireSettings()
        self.ssl = ssl
        self.connections = _Connections()
        self._sock: socket.socket | None = None
        self._acceptor: asyncio.Task[None] | None = None
        self._handshakes: set[asyncio.Task[None]] = set()

    async def start(self, sock: socket.socket) -> int:
        """Listen on ``sock`` (bound, not yet listening); returns the bound port."""
        sock.setblocking(False)
        sock.listen(self.settings.backlog)
        self._sock = sock
        self._acceptor = asyncio.get_running_loop().create_task(self._accept(sock))
        return int(sock.getsockname()[1])

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        direct = self.app.direct if isinstance(self.app, DirectApp) else None

        def protocol() -> HttpConnection:
            return HttpConnection(self.app, self.settings, self.connections, loop, direct)

        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as exc:  # out of file descriptors, or a connection reset early
                log.warning("accepting an HTTP connection failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            if self.ssl is not None:
                task = loop.create_task(accept_tls(conn, protocol, self.ssl, self.settings))
                self._handshakes.add(task)
                task.add_done_callback(self._handshakes.discard)
                continue
            try:
                await loop.connect_accepted_socket(protocol, conn)
            except Exception as exc:  # one failed connection must not stop the acceptor
                log.debug("an accepted connection failed before it started: %s", exc)
                conn.close()

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting; finish requests in flight within ``grace_s``; close everything."""
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is None:
            return
        acceptor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await acceptor
        handshakes = list(self._handshakes)
        for task in handshakes:
            task.cancel()
        await asyncio.gather(*handshakes, return_exceptions=True)
        if self._sock is not None:
            self._sock.close()
        self.connections.shutdown()
        if not await self.connections.wait_empty(grace_s):
            left = list(self.connections)
            log.warning("%d HTTP connection(s) still busy after %.1f s; dropping them",
                        len(left), grace_s)
            tasks = [c.task for c in left if c.task is not None]
            for connection in left:
                connection.abort()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.connections.wait_empty(1.0)


class _Connections:
    """The open connections, and an event for "none left"."""

    def __init__(self) -> None:
        self._open: set[HttpConnection] = set()
        self._empty = asyncio.Event()
        self._empty.set()

    def add(self, connection: HttpConnection) -> None:
        self._open.add(connection)
        self._empty.clear()

    def discard(self, connection: HttpConnection) -> None:
        self._open.discard(connection)
        if not self._open:
            self._empty.set()

    def shutdown(self) -> None:
        """Ask every connection to close once its request in hand is answered."""
        for connection in list(self._open):
            connection.shutdown()

    def __iter__(self) -> Iterator[HttpConnection]:
        return iter(self._open)

    def __len__(self) -> int:
        return len(self._open)

    async def wait_empty(self, timeout_s: float) -> bool:
        """Whether every connection closed within ``timeout_s``."""
        try:
            await asyncio.wait_for(self._empty.wait(), timeout_s)
        except asyncio.TimeoutError:
            return False
        return True
