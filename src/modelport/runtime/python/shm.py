"""Shared memory between the server and one stub: regions, and blocks allocated in them.

Each direction has one region, written only by its sender: the server writes inputs (and BLS
answers) into one, the stub writes outputs (and BLS requests) into the other. A region is an
anonymous memory file (``memfd``) the server creates and the stub inherits by descriptor, so
no name exists to leak in /dev/shm when a process dies. Pages are taken on first touch and
first-fit allocation reuses the low addresses, so a region costs what is in flight at once.
A block goes back to its sender when the receiver is done with it (a ``free`` message).
"""

from __future__ import annotations

import bisect
import contextlib
import mmap
import os
import tempfile
import threading

ALIGN = 64
DEFAULT_REGION_BYTES = 256 * 1024 * 1024


def create_fd(size: int, name: str) -> int:
    """A new anonymous memory file of ``size`` bytes (a child gets it through pass_fds)."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create(name)
    else:  # no memfd (not Linux): an unlinked temporary file serves the same purpose
        with tempfile.TemporaryFile() as file:
            fd = os.dup(file.fileno())
    os.ftruncate(fd, size)
    return fd


class Region:
    """One shared region, mapped read-write."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size
        self.map = mmap.mmap(fd, size)

    def close(self) -> None:
        """Unmap and close (an array still looking at the region keeps it mapped until the
        array goes)."""
        if self.fd < 0:
            return
        with contextlib.suppress(BufferError):
            self.map.close()
        os.close(self.fd)
        self.fd = -1


class Allocator:
    """First-fit blocks in a region of ``size`` bytes; neighbours merge on release."""

    def __init__(self, size: int) -> None:
        self._starts = [0]  # sorted free holes: start offsets ...
        self._sizes = [size]  # ... and their sizes
        self._lock = threading.Lock()

    @staticmethod
    def rounded(nbytes: int) -> int:
        """The bytes a block of ``nbytes`` occupies."""
        return max(ALIGN, (nbytes + ALIGN - 1) // ALIGN * ALIGN)

    def take(self, nbytes: int) -> int | None:
        """The offset of a new block, or None when no hole is large enough."""
        need = self.rounded(nbytes)
        with self._lock:
            for i, size in enumerate(self._sizes):
                if size >= need:
                    start = self._starts[i]
                    if size == need:
                        del self._starts[i], self._sizes[i]
                    else:
                        self._starts[i] += need
                        self._sizes[i] -= need
                    return start
        return None

    def give(self, offset: int, nbytes: int) -> None:
        """Return the block at ``offset`` (of the ``nbytes`` it was taken for)."""
        size = self.rounded(nbytes)
        with self._lock:
            i = bisect.bisect_left(self._starts, offset)
            if i > 0 and self._starts[i - 1] + self._sizes[i - 1] == offset:
                i -= 1
                self._sizes[i] += size
            else:
                self._starts.insert(i, offset)
                self._sizes.insert(i, size)
            if i + 1 < len(self._starts) and self._starts[i] + self._sizes[i] == (
                    self._starts[i + 1]):
                self._sizes[i] += self._sizes.pop(i + 1)
                del self._starts[i + 1]

    def free_bytes(self) -> int:
        """Bytes in holes (for tests and diagnostics)."""
        with self._lock:
            return sum(self._sizes)
