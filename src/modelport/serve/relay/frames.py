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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

_PREFIX = struct.Struct("!IBII")
PREFIX_SIZE = _PREFIX.size


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


def pack(kind: Kind, request_id: int, head: Any, payload: list[bytes] | None = None) -> bytes:
    """One frame's bytes (``payload`` parts are joined after the head)."""
    encoded = orjson.dumps(head)
    parts = payload or []
    size = _PREFIX.size - 4 + len(encoded) + sum(len(p) for p in parts)
    return b"".join([_PREFIX.pack(size, kind, request_id, len(encoded)), encoded, *parts])


class FrameBuffer:
    """Reassembles frames from the chunks a stream delivers."""

    def __init__(self) -> None:
        self._data = bytearray()

    def feed(self, chunk: bytes) -> Iterator[Frame]:
        """Add ``chunk``; yield every frame now complete.

        Raises:
            ValueError: the bytes are not frames (a bug on the other end: drop the link).
        """
        self._data += chunk
        data, start = self._data, 0
        try:
            while len(data) - start >= PREFIX_SIZE:
                size, kind, request_id, head_size = _PREFIX.unpack_from(data, start)
                end = start + 4 + size
                if end > len(data):
                    break
                head_start = start + PREFIX_SIZE
                if head_size > end - head_start:
                    raise ValueError(f"frame head of {head_size} bytes overruns its frame")
                block = data[head_start:end]  # one copy; the buffer moves on
                yield Frame(Kind(kind), request_id, orjson.loads(block[:head_size]),
                            memoryview(block)[head_size:])
                start = end
        finally:
            del data[:start]
