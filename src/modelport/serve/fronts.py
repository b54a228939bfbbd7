"""The server's network fronts behind one small interface: start (returns the bound port) and
stop (with a grace period for requests in flight).

``Server`` starts its fronts under one exit stack, so a front that fails to start unwinds the
ones already listening, and shutdown mirrors start-up step by step. A front given
``TlsSettings`` serves TLS only (serve/tls.py).
"""

from __future__ import annotations

import socket
from typing import Any, Protocol

from modelport.errors import ConfigError
from modelport.serve.tls import TlsSettings


class Front(Protocol):
    """A listening endpoint of the server."""

    name: str

    async def start(self) -> int:
        """Bind and start serving; returns the bound port.

        Raises:
            ConfigError: the address cannot be bound.
        """
        ...

    async def stop(self, grace_s: float) -> None:
        """Stop accepting, let requests in flight finish for up to ``grace_s``, close."""
        ...


class HttpFront:
    """An ASGI app served by modelport's lean HTTP/1.1 server (serve/http/wire: one write per
    response) on a socket bound here."""

    def __init__(self, name: str, app: Any, address: str, port: int,
                 tls: TlsSettings | None = None, max_head_bytes: int = 64 * 1024) -> None:
        self.name, self.app, self.address, self.port = name, app, address, port
        self.tls = tls
        self.max_head_bytes = max_head_bytes
        self._server: Any = None

    async def start(self) -> int:
        """Bind and start accepting (it returns listening: nothing to poll).

        Raises:
            ConfigError: the address cannot be bound, or the TLS files cannot be used.
        """
        from modelport.serve.http.wire import WireServer, WireSettings

        context = self.tls.server_context() if self.tls is not None else None
        sock = bind(self.address, self.port)
        server = WireServer(self.app, WireSettings(max_head_bytes=self.max_head_bytes),
                            ssl=context)
        try:
            port = await server.start(sock)
        except BaseException:
            sock.close()
            raise
        self._server = server
        return port

    async def stop(self, grace_s: float) -> None:
        """Stop accepting, close idle connections, let requests in flight finish."""
        if self._server is not None:
            await self._server.stop(grace_s)
            self._server = None


class GrpcFront:
    """A grpc.aio server with the given generic handlers (and interceptors)."""

    name = "gRPC"

    def __init__(self, handlers: list[Any], address: str, port: int,
                 options: list[tuple[str, Any]], tls: TlsSettings | None = None,
                 interceptors: list[Any] | None = None, max_calls: int | None = None) -> None:
        self.handlers, self.address, self.port, self.options = handlers, address, port, options
        self.tls = tls
        self.interceptors = interceptors or []
        self.max_calls = max_calls  # beyond it grpc.aio refuses calls RESOURCE_EXHAUSTED
        self._server: Any = None

    async def start(self) -> int:
        """Bind and start; ``grpc.so_reuseport`` is off so a taken port is an error.

        Raises:
            ConfigError: the address cannot be bound, or the TLS files cannot be used.
        """
        import grpc

        if self.tls is not None:
            self.tls.check()  # grpc itself would only fail each handshake
        server = grpc.aio.server(options=[*self.options, ("grpc.so_reuseport", 0)],
                                 interceptors=self.interceptors or None,
                                 maximum_concurrent_rpcs=self.max_calls)
        server.add_generic_rpc_handlers(self.handlers)
        address = f"{_host(self.address)}:{self.port}"
        try:
            if self.tls is not None:
                port = server.add_secure_port(address, self.tls.grpc_credentials())
            else:
                port = server.add_insecure_port(address)
        except RuntimeError:  # grpcio >= 1.60 raises where older ones returned 0
            port = 0
        if port == 0:
            raise ConfigError(f"cannot bind the gRPC front to {address}: the address is taken "
                              "or not this machine's (--grpc-port / --grpc-address)")
        await server.start()
        self._server = server
        return int(port)

    async def stop(self, grace_s: float) -> None:
        """Refuse new calls, let running ones finish for up to ``grace_s``."""
        if self._server is not None:
            await self._server.stop(grace_s)
            self._server = None


def pending_call_options(max_calls: int) -> list[tuple[str, int]]:
    """gRPC core options that let ``max_calls`` calls wait for a handler.

    gRPC core cancels calls (CANCELLED, with no reason given) once more than 1,000 have arrived
    that the Python server has not picked up yet, which a burst of a thousand calls on a few
    connections reaches. The server's own limit (``maximum_concurrent_rpcs``) refuses calls
    past ``max_calls`` with RESOURCE_EXHAUSTED as it picks them up; core holds up to four
    times that many waiting to be picked up, so only a burst beyond that is cancelled.
    """
    return [("grpc.server.max_pending_requests", 4 * max_calls),
            ("grpc.server.max_pending_requests_hard_limit", 4 * max_calls)]


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def bind(address: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``address:port`` (port 0: any free one).

    Raises:
        ConfigError: the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets when the
    # listening socket says TCP, and without it every response waits out a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot bind {address}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock
