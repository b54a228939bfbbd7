"""One request/response cycle: the ASGI ``receive`` and ``send`` of a single HTTP request.

The connection feeds the request body in as it is parsed; the app takes it with ``receive``.
``send`` frames the response and joins the head with the body, so a response the app sends in
one ``http.response.body`` message leaves in one ``transport.write``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from modelport.serve.http.wire.framing import (
    CONTINUE,
    LAST_CHUNK,
    Head,
    Headers,
    bodyless_status,
    build_head,
    chunk,
    direct_head,
)

Message = dict[str, Any]



class Channel(Protocol):
    """What an exchange needs from its connection."""

    loop: asyncio.AbstractEventLoop
    write_paused: bool
    closing: bool

    def write(self, data: bytes) -> None:
        """Hand bytes to the transport."""

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its low-water mark."""

    def body_taken(self, exchange: Exchange) -> None:
        """The app took buffered body bytes; reading may resume."""

    def response_complete(self, exchange: Exchange) -> None:
        """The last byte of the response was written."""

    def stalled(self, exchange: Exchange) -> None:
        """The app waited longer than the body timeout for the next body bytes."""


class Exchange:
    """The state of one request and its response, and its ASGI ``receive``/``send``."""

    __slots__ = ("_body_delivered", "_bodyless", "_channel", "_chunked", "_chunks",
                 "_continue_sent", "_declared", "_headers", "_peer_done", "_sent", "_status",
                 "_waiter", "body_complete", "body_timeout_s", "buffered", "chunks_seen",
                 "content_length",
                 "discarding", "disconnected", "error", "expect_continue", "head_only",
                 "head_written", "http11", "keep_alive", "received", "response_complete",
                 "scope")

    def __init__(self, channel: Channel, scope: dict[str, Any], *, keep_alive: bool,
                 content_length: int | None, expect_continue: bool,
                 body_timeout_s: float) -> None:
        self._channel = channel
        self.scope = scope
        self.http11 = scope.get("http_version") == "1.1"
        self.head_only = scope.get("method") == "HEAD"
        self.keep_alive = keep_alive
        self.content_length = content_length
        self.expect_continue = expect_continue and self.http11
        self.body_timeout_s = body_timeout_s
        self.error: tuple[int, str] | None = None
        self.disconnected = False
        self._peer_done = False
        self._chunks: list[bytes] = []
        self.buffered = 0
        self.received = 0
        self.chunks_seen = 0  # non-empty body pieces of a chunked body
        self.body_complete = False
        self.discarding = False
        self._body_delivered = False
        self._continue_sent = False
        self._waiter: asyncio.Future[None] | None = None
        self._status: int | None = None
        self._headers: Headers = []
        self._declared: int | None = None
        self._chunked = False
        self._bodyless = False
        self._sent = 0
        self.head_written = False
        self.response_complete = False

    # -- fed by the connection ------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Body bytes arrived."""
        self.received += len(data)
        if self.discarding:
            return
        self._chunks.append(data)
        self.buffered += len(data)
        self._wake()

    def finish(self) -> None:
        """The request body is complete."""
        self.body_complete = True
        self._wake()

    def fail(self, status: int, message: str) -> None:
        """The request cannot be completed: the app sees a disconnect and its reply is dropped;
        the connection answers ``status`` itself if nothing was written yet."""
        if self.error is None:
            self.error = (status, message)
        self._wake()

    def disconnect(self) -> None:
        """The client went away."""
        self.disconnected = True
        self._wake()

    def peer_done(self) -> None:
        """The client closed its sending side after the whole request: a ``receive`` after
        the body says ``http.disconnect``, but the response is still written (a client that
        only half-closed reads it)."""
        self._peer_done = True
        self._wake()

    def discard_rest(self) -> None:
        """The response went out before the body was read: drop what is and will be buffered."""
        self.discarding = True
        self._chunks.clear()
        self.buffered = 0

    # -- ASGI -------------------------------------------------------------------------------

    async def receive(self) -> Message:
        """The ASGI ``receive``: ``http.request`` messages, then ``http.disconnect``."""
        while True:
            if self.error is not None or self.disconnected:
                return {"type": "http.disconnect"}
            if self._chunks or (self.body_complete and not self._body_delivered):
                return self._take_body()
            if self._body_delivered and (self.response_complete or self._peer_done):
                return {"type": "http.disconnect"}
            if (self.expect_continue and not self._continue_sent and not self.head_written
                    and not self.received):
                self._continue_sent = True  # the app wants the body: invite the client
                self._channel.write(CONTINUE)
            await self._wait(stall=not self.body_complete)

    async def send(self, message: Message) -> None:
        """The ASGI ``send``: ``http.response.start``, then ``http.response.body`` messages."""
        kind = message["type"]
        if kind == "http.response.start":
            if self._status is not None:
                raise RuntimeError("ASGI: http.response.start sent twice")
            self._status = int(message["status"])
            self._headers = list(message.get("headers", ()))
            return
        if kind != "http.response.body":
            raise RuntimeError(f"ASGI: unexpected message type {kind!r}")
        if self._status is None or self.response_complete:
            raise RuntimeError("ASGI: http.response.body outside a response")
        if self.error is not None or self.disconnected:
            return  # nobody to answer, or the connection answers for us
        more = bool(message.get("more_body", False))
        data = self._frame(bytes(message.get("body", b"")), more)
        if data:
            self._channel.write(data)
        if not more:
            self._complete()
        if self._channel.write_paused:
            await self._channel.drain()

    # -- the direct path ------------------------------------------------------------------------

    @property
    def whole(self) -> bool:
        """Whether the request is complete and sized: its body (if any) is all buffered, it
        declared a Content-Length, and nothing failed. Only such a request takes the direct
        path; chunked and still-arriving bodies go through ``receive``."""
        return (self.body_complete and self.error is None and not self.disconnected
                and not self._body_delivered
                and (self.content_length is not None or self.received == 0))

    def take_body(self) -> bytes:
        """The whole buffered body, once (the direct path's ``receive``)."""
        return self._drain_body()

    async def respond(self, status: int, fields: bytes, body: bytes) -> None:
        """The whole response at once (the direct path's ``send``): the head from ``fields``
        (header lines without content-length or connection) joined with ``body`` in one
        write, with the framing and keep-alive rules of ``send``."""
        if self._status is not None or self.response_complete:
            raise RuntimeError("a response was already started")
        self._status = status
        if self.error is not None or self.disconnected:
            return  # nobody to answer, or the connection answers for us
        self._bodyless = self.head_only or bodyless_status(status)
        head = self._commit(direct_head(status, fields, keep_alive=self._may_keep_alive(),
                                        http11=self.http11, body_length=len(body)))
        if self._bodyless:
            self._channel.write(head)
        else:
            self._sent = len(body)
            self._channel.write(head + body)
        self._complete()
        if self._channel.write_paused:
            await self._channel.drain()

    # -- internals ----------------------------------------------------------------------------

    def _take_body(self) -> Message:
        more = not self.body_complete
        return {"type": "http.request", "body": self._drain_body(), "more_body": more}

    def _drain_body(self) -> bytes:
        """What is buffered of the body, joined; reading may resume."""
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        self._body_delivered = self.body_complete
        self._channel.body_taken(self)
        return body

    async def _wait(self, stall: bool) -> None:
        loop = self._channel.loop
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        timer = loop.call_later(self.body_timeout_s, self._stalled) if stall else None
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def _stalled(self) -> None:
        self._channel.stalled(self)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _frame(self, body: bytes, more: bool) -> bytes:
        if not self.head_written:
            return self._first(body, more)
        if self._bodyless:
            return b""
        if self._chunked:
            return (chunk(body) if body else b"") + (b"" if more else LAST_CHUNK)
        self._count(body)
        return body

    def _first(self, body: bytes, more: bool) -> bytes:
        status = self._status
        assert status is not None
        self._bodyless = self.head_only or bodyless_status(status)
        head = self._commit(build_head(status, self._headers, keep_alive=self._may_keep_alive(),
                                       http11=self.http11,
                                       body_length=None if more else len(body)))
        if self._bodyless:
            return head
        if self._chunked:
            return head + (chunk(body) if body else b"") + (b"" if more else LAST_CHUNK)
        self._count(body)
        return head + body

    def _commit(self, head: Head) -> bytes:
        """The head is about to be written: keep the framing it declares; returns its bytes."""
        self.head_written = True
        self.keep_alive = head.keep_alive
        self._declared = head.content_length
        self._chunked = head.chunked
        return head.data

    def _complete(self) -> None:
        """The last byte of the response was handed to the transport."""
        self.response_complete = True
        self._wake()
        self._channel.response_complete(self)

    def _count(self, body: bytes) -> None:
        self._sent += len(body)
        declared = self._declared
        if declared is not None and self._sent > declared:
            raise RuntimeError(f"ASGI: response body longer than its content-length {declared}")

    def short_response(self) -> bool:
        """Whether fewer body bytes went out than the response's content-length declared."""
        declared = self._declared
        return declared is not None and not self._bodyless and self._sent < declared

    def _may_keep_alive(self) -> bool:
        if not self.keep_alive or self._channel.closing:
            return False
        if self.body_complete:
            return True
        if self.expect_continue and not self._continue_sent:
            return False  # the client may never send the body: its next bytes are unknowable
        if self.content_length is None:
            return False  # a chunked rest of unknown size: close rather than read it all
        return self.content_length - self.received <= _DISCARD_LIMIT


# How many unread body bytes the server reads and drops to keep a connection alive after
# answering early (a 413, say); beyond that it closes the connection instead.
_DISCARD_LIMIT = 1 << 20
