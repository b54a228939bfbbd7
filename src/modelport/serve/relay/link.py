"""One end of a link: an asyncio protocol that reads frames for a handler (a large frame
straight into a buffer of its own) and writes frames, with the socket's flow control
respected by the writer's buffer."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from modelport.serve.relay.frames import Frame, FrameBuffer, Kind, pack

log = logging.getLogger("modelport.relay")
# frames written at once at most: a burst of requests reaches the other side in small groups
# it can start on, instead of in one wave both processes take turns with
FLUSH_EVERY = 8


class Link(asyncio.BufferedProtocol):
    """A socketpair end: ``on_frame`` gets each frame, ``on_lost`` runs once when the other
    end goes away (or sends bytes that are not frames)."""

    def __init__(self, on_frame: Callable[[Frame], None], on_lost: Callable[[], None]) -> None:
        self.on_frame, self.on_lost = on_frame, on_lost
        self.transport: asyncio.Transport | None = None
        self._buffer = FrameBuffer()
        self._loop = asyncio.get_running_loop()
        self._queued: list[bytes] | None = None  # frames' parts, to write in order
        self._frames = 0  # frames queued
        self.closed = self._loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer.buffer()

    def buffer_updated(self, nbytes: int) -> None:
        try:
            for frame in self._buffer.filled(nbytes):
                self.on_frame(frame)
        except ValueError as exc:  # not frames: the other end is broken
            log.error("the relay link received bytes that are not frames (%s); closing it", exc)
            if self.transport is not None:
                self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.closed.done():
            self.closed.set_result(None)
        self.on_lost()

    def send(self, kind: Kind, request_id: int, head: Any,
             payload: list[bytes] | None = None) -> None:
        """Queue one frame; what is queued leaves at the end of this turn of the loop, or
        once ``FLUSH_EVERY`` frames wait, in one write (dropped when the link is gone: its
        requests are cancelled)."""
        if self._queued is None:
            self._queued = []
            self._loop.call_soon(self._flush)
        self._queued += pack(kind, request_id, head, payload)
        self._frames += 1
        if self._frames >= FLUSH_EVERY:
            self._write(self._queued, self._frames)
            self._queued, self._frames = [], 0  # the flush already scheduled writes the rest

    def _flush(self) -> None:
        queued, frames, self._queued, self._frames = self._queued, self._frames, None, 0
        if queued:
            self._write(queued, frames)

    def _write(self, parts: list[bytes], frames: int) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if len(parts) == frames:  # small frames only, one part each: one buffer
            self.transport.write(b"".join(parts) if frames > 1 else parts[0])
        else:  # a large payload goes out as it is (uvloop writes the parts with writev)
            self.transport.writelines(parts)

    def close(self) -> None:
        """Close this end after what is queued (the other sees end of file)."""
        self._flush()
        if self.transport is not None:
            self.transport.close()


async def open_link(sock: socket.socket, on_frame: Callable[[Frame], None],
                    on_lost: Callable[[], None]) -> Link:
    """Serve a connected socket as a link."""
    loop = asyncio.get_running_loop()
    _, link = await loop.connect_accepted_socket(lambda: Link(on_frame, on_lost), sock)
    return link
