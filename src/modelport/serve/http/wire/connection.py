"""One client connection: parse HTTP/1.1 with httptools, run the app once per request, in order.

Requests are parsed as bytes arrive and queued; one app task runs at a time, so pipelined
requests are answered in the order they came. Reading pauses while a request body waits
unread beyond a high-water mark or too many requests are queued, and the app's ``send`` waits
while the transport's write buffer is full. Timers close a connection that stays idle between
requests (or takes that long to send a request's head) and fail a request whose body stalls.
A connection the server will not read further (a malformed request, a response sent before the
body was read) closes gracefully: FIN after the last response, then unread bytes are drained and
dropped for a moment, so the client reads the answer instead of a reset.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast, runtime_checkable

import httptools

from modelport.serve.http.wire.deadline import Deadline
from modelport.serve.http.wire.exchange import Exchange, Message
from modelport.serve.http.wire.framing import error_response
from modelport.serve.http.wire.request import BadRequest, address, read_head
from modelport.serve.http.wire.settings import WireSettings

log = logging.getLogger("modelport.http.wire")

Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]


@runtime_checkable
class DirectApp(Protocol):
    """An ASGI app that also answers a whole request in one call, without ASGI messages.

    The wire calls ``direct`` for a request whose body is complete and sized (most requests
    to an inference server): no receive/send message dicts, no header list for the response,
    one write. Everything else (chunked or large bodies still arriving, ``Expect``) goes
    through the ASGI interface, so an app must answer both ways alike.
    """

    async def direct(self, scope: dict[str, Any], body: bytes) -> tuple[int, bytes, bytes]:
        """(status, header lines without content-length or connection, body)."""
        ...


Direct = Callable[[dict[str, Any], bytes], Awaitable[tuple[int, bytes, bytes]]]


class Registry(Protocol):
    """Where the server keeps its open connections."""

    def add(self, connection: HttpConnection) -> None:
        """A connection opened."""

    def discard(self, connection: HttpConnection) -> None:
        """A connection closed."""


class HttpConnection(asyncio.Protocol):
    """The asyncio protocol of one HTTP/1.x connection."""

    def __init__(self, app: ASGIApp, settings: WireSettings, registry: Registry,
                 loop: asyncio.AbstractEventLoop, direct: Direct | None = None) -> None:
        self.app = app
        self.direct = direct  # the app's ``direct`` when it is a DirectApp
        self.settings = settings
        self.registry = registry
        self.loop = loop
        self.closing = False  # the server is shutting down: finish the request in hand, close
        self.write_paused = False
        self.task: asyncio.Task[None] | None = None
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self._client: tuple[str, int] | None = None
        self._server: tuple[str, int] | None = None
        self._scheme = "http"
        self._url: list[bytes] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._rejection: BadRequest | None = None
        self._parsing: Exchange | None = None
        self._active: Exchange | None = None
        self._queue: deque[Exchange] = deque()
        self._read_paused = False
        self._drain: asyncio.Future[None] | None = None
        self._deadline = Deadline(loop, self._expired)  # idle, head and linger timeouts
        self._ignoring = False  # no more requests are parsed: only draining bytes until close
        self._lingering = False  # our side is shut (FIN sent); waiting for the client's
        self._peer_eof = False

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register, set TCP_NODELAY, start the idle timer."""
        # uvloop's transports implement asyncio.Transport without subclassing it
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client = address(transport.get_extra_info("peername"))
        self._server = address(transport.get_extra_info("sockname"))
        if transport.get_extra_info("sslcontext") is not None:
            self._scheme = "https"
        self.registry.add(self)
        self._deadline.set(self.settings.idle_timeout_s)

    def data_received(self, data: bytes) -> None:
        """Parse; queue each request whose head is complete."""
        if self._ignoring:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._ignoring = True  # answered as plain HTTP; what follows is another protocol
        except httptools.HttpParserError as exc:
            rejection = self._rejection or BadRequest(400, f"malformed HTTP request: {exc}")
            self._reject(rejection.status, str(rejection))

    def eof_received(self) -> bool:
        """The client finished sending: answer what is complete, then close."""
        self._peer_eof = True
        pending = self._parsing
        if pending is not None:
            self._parsing = None
            pending.disconnect()  # its body will never be complete
            if pending in self._queue:
                self._queue.remove(pending)
        if self._active is not None:
            self._active.peer_done()
        return (self._active is not None or bool(self._queue)) and not self._lingering

    def connection_lost(self, exc: Exception | None) -> None:
        """Tell the app its client is gone; unblock writers."""
        self.registry.discard(self)
        self._deadline.cancel()
        active = self._active
        if active is not None:
            active.disconnect()
            if self.task is not None and active.body_complete and not active.response_complete:
                # the client is gone (reset, or our transport failed): whatever the app awaits
                # (a queued inference) is cancelled, which frees its slot and counts it
                self.task.cancel()
        self._queue.clear()
        self.write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        """The transport's write buffer is above its high-water mark."""
        self.write_paused = True

    def resume_writing(self) -> None:
        """The transport's write buffer drained below its low-water mark."""
        self.write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # -- httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = []
        self._headers = []
        self._head_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url.append(url)
        self._head_bytes += len(url)
        if self._head_bytes > self.settings.max_head_bytes:
            self._head_too_large()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))
        self._head_bytes += len(name) + len(value)
        if self._head_bytes > self.settings.max_head_bytes:
            self._head_too_large()

    def on_headers_complete(self) -> None:
        self._deadline.clear()
        try:
            exchange = self._exchange()
        except BadRequest as exc:
            self._rejection = exc
            raise
        self._parsing = exchange
        if self._active is None:
            self._start(exchange)
        else:
            self._queue.append(exchange)
            self._update_reading()

    def on_body(self, body: bytes) -> None:
        exchange = self._parsing
        if exchange is not None:
            if exchange.content_length is None and body:
                exchange.chunks_seen += 1
                if exchange.chunks_seen > self.settings.max_body_chunks:
                    exchange.fail(400, f"Chunked request body exceeds maximum of "
                                       f"{self.settings.max_body_chunks} non-empty chunks. "
                                       "Send fewer or larger HTTP chunks.")
                    return
            exchange.feed(body)
            if exchange.buffered > self.settings.body_high_water and not self._read_paused:
                self._update_reading()

    def on_message_complete(self) -> None:
        exchange = self._parsing
        if exchange is not None:
            self._parsing = None
            exchange.finish()

    # -- the Channel an exchange writes through --------------------------------------------

    def write(self, data: bytes) -> None:
        """Hand bytes to the transport."""
        assert self.transport is not None
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the transport's write buffer is full."""
        if self.write_paused:
            if self._drain is None or self._drain.done():
                self._drain = self.loop.create_future()
            await self._drain

    def body_taken(self, exchange: Exchange) -> None:
        """The app read the buffered body: read more if reading was paused for it."""
        if self._read_paused:
            self._update_reading()

    def response_complete(self, exchange: Exchange) -> None:
        """The response is out: keep the connection for the next request, or close it."""
        if not exchange.keep_alive or exchange.short_response():
            if exchange.body_complete and not self._ignoring:
                self._close()
            else:
                self._close_gracefully()  # the client may still be sending
            return
        if not exchange.body_complete:
            exchange.discard_rest()  # read the small rest and drop it (413 without reading)
            self._update_reading()
        if not self._queue and not self.closing:
            self._deadline.set(self.settings.idle_timeout_s)

    def stalled(self, exchange: Exchange) -> None:
        """The body stopped arriving: answer 408 and close once the app returns."""
        exchange.fail(408, f"the request body stalled for {self.settings.idle_timeout_s:g} s")

    # -- request lifecycle ------------------------------------------------------------------

    def _exchange(self) -> Exchange:
        parser = self._parser
        head = read_head(parser.get_http_version(), parser.get_method(), b"".join(self._url),
                         self._headers, self._client, self._server, self._scheme)
        if parser.should_upgrade():
            self._ignoring = True  # answered as plain HTTP; what follows is another protocol
        exchange = Exchange(self, head.scope, keep_alive=parser.should_keep_alive() and not
                            self._ignoring, content_length=head.content_length,
                            expect_continue=head.expect_continue,
                            body_timeout_s=self.settings.idle_timeout_s)
        exchange.body_complete = not head.has_body  # else on_message_complete says so
        return exchange

    def _start(self, exchange: Exchange) -> None:
        self._active = exchange
        if exchange.error is not None:
            self._finish(exchange)
            return
        self.task = self.loop.create_task(self._run(exchange))

    async def _run(self, exchange: Exchange) -> None:
        try:
            direct = self.direct
            if direct is not None and exchange.whole:
                await exchange.respond(*await direct(exchange.scope, exchange.take_body()))
            else:
                await self.app(exchange.scope, exchange.receive, exchange.send)
        except Exception:
            log.exception("the app failed on %s %s", exchange.scope.get("method"),
                          exchange.scope.get("path"))
            if not exchange.head_written:
                exchange.fail(500, "internal error: the server failed to answer")
        finally:
            self.task = None
            self._finish(exchange)

    def _finish(self, exchange: Exchange) -> None:
        self._active = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if exchange.disconnected:
            transport.close()
            return
        if exchange.error is not None and not exchange.head_written:
            self.write(error_response(*exchange.error))
            self._close_gracefully()
            return
        if not exchange.response_complete:
            if exchange.head_written:
                log.error("the app returned before finishing its response; closing")
                transport.close()
                return
            exchange.fail(500, "internal error: the server returned no response")
            self._finish(exchange)
            return
        self._next()

    def _next(self) -> None:
        transport = self.transport
        assert transport is not None
        if transport.is_closing() or self._lingering:
            return
        if self.closing:
            transport.close()
        elif self._queue:
            self._start(self._queue.popleft())
            self._update_reading()
        elif self._peer_eof:
            transport.close()
        elif self._ignoring:
            self._close_gracefully()

    # -- failures, timers, flow control -------------------------------------------------------

    def _head_too_large(self) -> None:
        """The request line and headers passed the limit (counted as they arrive): 431."""
        self._rejection = BadRequest(
            431, f"request head larger than {self.settings.max_head_bytes} bytes")
        raise self._rejection

    def _reject(self, status: int, message: str) -> None:
        """Answer ``status`` after the requests before this one, then close."""
        log.debug("rejecting a request from %s: %s", self._client, message)
        self._ignoring = True
        self._deadline.clear()
        pending, self._parsing = self._parsing, None
        if pending is None or pending.response_complete:
            pending = Exchange(self, {}, keep_alive=False, content_length=None,
                               expect_continue=False, body_timeout_s=0.0)
            pending.fail(status, message)
            if self._active is None:
                self._start(pending)
            else:
                self._queue.append(pending)
        else:
            pending.fail(status, message)
        self._update_reading()

    def _close(self) -> None:
        """Close after what is written; nothing unread is expected from the client."""
        self._ignoring = True
        self._queue.clear()
        if self.transport is not None:
            self.transport.close()

    def _close_gracefully(self) -> None:
        """FIN after what is written, drop what the client still sends, close soon after."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self._ignoring = self._lingering = True
        self._queue.clear()
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self._update_reading()
        self._deadline.set(self.settings.linger_s)

    def _update_reading(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        parsing = self._parsing
        pause = not self._ignoring and (
            len(self._queue) >= self.settings.max_pipeline
            or (parsing is not None and parsing.buffered > self.settings.body_high_water))
        if pause != self._read_paused:
            self._read_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def _expired(self) -> None:
        active = self._active
        if self.transport is not None and (active is None or active.response_complete):
            self.transport.close()

    # -- server control ------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop taking requests: close now if idle, else after the response in hand."""
        self.closing = True
        if (self._active is None or self._lingering) and self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection now and cancel the app task (grace period over)."""
        if self.transport is not None:
            self.transport.abort()
        if self.task is not None:
            self.task.cancel()

