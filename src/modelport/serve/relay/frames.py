"""The link's framing: length-prefixed frames, each a kind, a request id, a JSON head and a
payload of raw bytes.

``<u32 size><u8 kind><u32 id><u32 head size><head><payload>``, big-endian; ``size`` counts
everything after itself. Tensor bytes travel in the payload as they are; only the head is
JSON (orjson), so a small request costs a few microseconds each way, where pickling the same
request and response costs about twenty.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Any

import orjson

_PREFIX = struct.Struct("!IBII")
PREFIX_SIZE = _PREFIX.size
SCRATCH = 256 * 1024  # the reusable read buffer for small frames
LARGE = 64 * 1024  # frames this big or bigger are read into a buffer of their own
JOIN_BELOW = 16 * 1024  # payloads smaller than this are joined to the frame's head


class Kind(enum.IntEnum):
    """What a frame is."""

    HELLO = 1  # front → model: started, head [pid]
    RAW = 2  # front → model: an HTTP request to answer with the model process's routes
    INFER = 3  # front → model: a decoded infer request
    CANCEL = 4  # front → model: the client of request ``id`` went away
    REPLY = 5  # model → front: an HTTP reply (status, type, body)
    RESULT = 6  # model → front: an infer response to encode
    STOP = 7  # model → front: stop accepting, finish requests in flight, exit; head [grace_s]


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: ``head`` is the decoded JSON head; ``payload`` a view into the received
    bytes."""

    kind: Kind
    id: int
    head: Any
    payload: memoryview


def pack(kind: Kind, request_id: int, head: Any,
         payload: list[bytes] | None = None) -> list[bytes]:
    """One frame's bytes, in parts to write in order: small payloads joined to the head, a
    large one left as its own part (written with ``writelines``, never copied here)."""
    encoded = orjson.dumps(head)
    parts = payload or []
    payload_size = sum(len(p) for p in parts)
    start = _PREFIX.pack(_PREFIX.size - 4 + len(encoded) + payload_size, kind, request_id,
                         len(encoded))
    if payload_size < JOIN_BELOW:
        return [b"".join([start, encoded, *parts])]
    return [start + encoded, *parts]


class FrameBuffer:
    """Reassembles frames from a stream, as an asyncio ``BufferedProtocol`` reads it.

    The stream is read into ``buffer()``; ``filled(n)`` parses what arrived. Small frames are
    read into one reusable scratch buffer and their payloads copied out; a frame of ``LARGE``
    bytes or more is read, after its prefix, into a head buffer and a payload buffer of its
    own, so a 600 KB tensor is not copied on its way in. Either way a frame's payload views a
    bytearray that holds that payload and nothing else (``payload.obj``).
    """

    def __init__(self, scratch: int = SCRATCH) -> None:
        self._scratch = bytearray(max(scratch, 2 * LARGE))
        self._view = memoryview(self._scratch)
        self._start = self._end = 0  # the unparsed bytes in scratch
        self._large: list[memoryview] = []  # a large frame's head and payload, being read
        self._large_meta = (Kind.HELLO, 0)  # its kind and id
        self._filled = 0  # bytes of it read

    def buffer(self) -> memoryview:
        """Where the next bytes of the stream go."""
        if self._large:
            head = self._large[0]
            if self._filled < len(head):
                return head[self._filled:]
            return self._large[1][self._filled - len(head):]
        if self._end == len(self._scratch):  # the unparsed tail of a small frame moves back
            self._scratch[:self._end - self._start] = self._scratch[self._start:self._end]
            self._start, self._end = 0, self._end - self._start
        return self._view[self._end:]

    def filled(self, count: int) -> list[Frame]:
        """``count`` bytes were written into ``buffer()``: the frames now complete.

        Raises:
            ValueError: the bytes are not frames (a bug on the other end: drop the link).
        """
        if self._large:
            self._filled += count
            head, payload = self._large
            if self._filled < len(head) + len(payload):
                return []
            self._large = []
            return [Frame(*self._large_meta, orjson.loads(head), payload)]
        self._end += count
        frames: list[Frame] = []
        while self._end - self._start >= PREFIX_SIZE and not self._large:
            frame = self._next()
            if frame is None:
                break
            frames.append(frame)
        if self._start == self._end:
            self._start = self._end = 0
        return frames

    def feed(self, chunk: bytes | memoryview) -> list[Frame]:
        """Add ``chunk`` (copied in as a stream read would write it); the frames completed."""
        frames: list[Frame] = []
        data = memoryview(chunk)
        while data:
            target = self.buffer()
            step = min(len(target), len(data))
            target[:step] = data[:step]
            frames += self.filled(step)
            data = data[step:]
        return frames

    def _next(self) -> Frame | None:
        """The frame at ``_start`` if complete; else None (a large one starts its own
        buffers)."""
        size, kind, request_id, head_size = _PREFIX.unpack_from(self._scratch, self._start)
        head_start, end = self._start + PREFIX_SIZE, self._start + 4 + size
        body_start = head_start + head_size
        if body_start > end:
            raise ValueError(f"frame head of {head_size} bytes overruns its frame")
        if end > self._end:
            if end - self._start >= LARGE:
                self._begin_large(Kind(kind), request_id, head_size, end - body_start)
            return None
        self._start = end
        return Frame(Kind(kind), request_id, orjson.loads(self._view[head_start:body_start]),
                     memoryview(self._scratch[body_start:end]))  # a copy: scratch is reused

    def _begin_large(self, kind: Kind, request_id: int, head_size: int, size: int) -> None:
        self._large = [memoryview(bytearray(head_size)), memoryview(bytearray(size))]
        self._large_meta, self._filled = (kind, request_id), 0
        arrived = self._view[self._start + PREFIX_SIZE:self._end]
        self._start = self._end = 0
        self.feed(arrived)  # what came with the prefix goes where the stream would have put it
