"""The listening side: accept connections on a socket we bound, and stop gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

from modelport.serve.http.wire.connection import ASGIApp, HttpConnection
from modelport.serve.http.wire.settings import WireSettings

log = logging.getLogger("modelport.http.wire")


class WireServer:
    """A lean HTTP/1.1 server for one ASGI app.

    ``port = await server.start(sock)`` serves on an already bound socket;
    ``await server.stop(grace_s)`` stops accepting, closes idle connections, lets requests in
    flight finish for up to ``grace_s`` seconds, then drops what is left.
    """

    def __init__(self, app: ASGIApp, settings: WireSettings | None = None) -> None:
        self.app = app
        self.settings = settings or WireSettings()
        self.connections = _Connections()
        self._server: asyncio.Server | None = None

    async def start(self, sock: socket.socket) -> int:
        """Listen on ``sock`` (bound, not yet listening); returns the bound port."""
        loop = asyncio.get_running_loop()

        def protocol() -> HttpConnection:
            return HttpConnection(self.app, self.settings, self.connections, loop)

        self._server = await loop.create_server(protocol, sock=sock,
                                                backlog=self.settings.backlog)
        return int(sock.getsockname()[1])

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting; finish requests in flight within ``grace_s``; close everything."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for connection in list(self.connections):
            connection.shutdown()
        if not await self.connections.wait_empty(grace_s):
            left = list(self.connections)
            log.warning("%d HTTP connection(s) still busy after %.1f s; dropping them",
                        len(left), grace_s)
            tasks = [c.task for c in left if c.task is not None]
            for connection in left:
                connection.abort()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.connections.wait_empty(1.0)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 1.0)


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
