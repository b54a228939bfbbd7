"""The connection between the server and a stub: messages, and the tensors they carry.

A message is a tuple whose first item names it, pickled and framed over a socket pair (both
ends are modelport's own processes). A tensor travels as ``(name, dtype, shape, payload)``:
small ones and BYTES inside the message (``payload`` is the array), large numeric ones in the
sender's shared region (``payload`` is the block's offset), where the receiver reads them in
place or copies them out, then gives the block back with a ``free`` message.

Server -> stub: ``init``/``autocomplete``/``execute``/``finalize`` (call id, payload),
``bls_reply`` (BLS id, outcome, final), ``free`` (blocks).
Stub -> server: ``reply`` (call id, payload, error), ``response`` (request key, outcome,
final), ``bls`` (BLS id, request), ``log`` (level, text), ``free`` (blocks).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
import threading
from collections.abc import Iterable
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from modelport.runtime.python.shm import Allocator, Region

# Tensors of fewer bytes travel inside the message: below this, a shared-memory block (and
# the message that frees it) costs more than the copy (benchmarks/python_backend.py).
INLINE_MAX = 8 * 1024
BYTES = "BYTES"

WireTensor = tuple[str, str, tuple[int, ...], Any]
Block = tuple[int, int]  # offset, bytes


class Channel:
    """One end of the connection: send and receive messages; pack and unpack tensors."""

    def __init__(self, sock_fd: int, outgoing: Region, incoming: Region) -> None:
        self.conn = Connection(sock_fd)
        self.outgoing = outgoing
        self.incoming = incoming
        self.blocks = Allocator(outgoing.size)
        self.inline_max = INLINE_MAX  # the server's value reaches the stub with ``init``
        self._send_lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        """Send a message (from any thread).

        Raises:
            OSError: the other process is gone.
        """
        data = pickle.dumps(message, protocol=5)
        with self._send_lock:
            self.conn.send_bytes(data)

    def receive(self) -> tuple[Any, ...]:
        """The next message (one reading thread only).

        Raises:
            EOFError, OSError: the other process is gone.
        """
        message: tuple[Any, ...] = pickle.loads(self.conn.recv_bytes())
        return message

    def pack(self, tensors: Iterable[tuple[str, np.ndarray]]) -> list[WireTensor]:
        """Tensors for a message; large numeric ones are written into shared memory."""
        packed: list[WireTensor] = []
        for name, array in tensors:
            shape = tuple(int(d) for d in array.shape)
            if array.dtype.kind in "OSU":
                packed.append((name, BYTES, shape, array))
                continue
            offset = self.blocks.take(array.nbytes) if array.nbytes >= self.inline_max else None
            if offset is None:  # small, or the region is full: inside the message
                packed.append((name, array.dtype.str, shape, np.ascontiguousarray(array)))
                continue
            target = np.ndarray(shape, array.dtype, buffer=self.outgoing.map, offset=offset)
            np.copyto(target, array, casting="no")
            packed.append((name, array.dtype.str, shape, offset))
        return packed

    def unpack(self, packed: Iterable[WireTensor], copy: bool,
               ) -> tuple[list[tuple[str, np.ndarray]], list[Block]]:
        """Arrays from a message, and the shared blocks they came in (to free once done).

        ``copy``: copy data out of shared memory (else the arrays look at it in place and the
        blocks must be freed only when the arrays are no longer used).
        """
        arrays: list[tuple[str, np.ndarray]] = []
        blocks: list[Block] = []
        for name, dtype, shape, payload in packed:
            if not isinstance(payload, int):
                arrays.append((name, payload))
                continue
            view = np.ndarray(shape, np.dtype(dtype), buffer=self.incoming.map, offset=payload)
            blocks.append((payload, view.nbytes))
            arrays.append((name, view.copy() if copy else view))
        return arrays, blocks

    def release(self, blocks: Iterable[Block]) -> None:
        """The receiver is done with these blocks of ours."""
        for offset, nbytes in blocks:
            self.blocks.give(offset, nbytes)

    def shutdown(self) -> None:
        """End the stream both ways: the other side and our reading thread see its end."""
        with contextlib.suppress(OSError), socket.socket(fileno=os.dup(self.conn.fileno())) as s:
            s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Close the socket (the regions belong to whoever created them)."""
        self.conn.close()
