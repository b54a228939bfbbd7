"""Shared memory blocks and the messages between the server and a Python model's stub."""

from __future__ import annotations

import itertools
import os
import socket
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelport.runtime.python.shm import ALIGN, Allocator, Region, create_fd
from modelport.runtime.python.wire import INLINE_MAX, Channel


def test_blocks_are_reused_and_holes_merge() -> None:
    """First fit from the start; released neighbours merge back into one hole."""
    blocks = Allocator(1024)
    a, b, c = blocks.take(100), blocks.take(ALIGN), blocks.take(200)
    assert (a, b, c) == (0, 128, 192)
    assert blocks.take(1024) is None
    blocks.give(b, ALIGN)
    assert blocks.take(10) == 128  # the hole left by b
    blocks.give(128, 10)
    blocks.give(a, 100)
    blocks.give(c, 200)
    assert blocks.free_bytes() == 1024
    assert blocks.take(1024) == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 300)), max_size=60))
def test_allocator_never_overlaps(steps: list[tuple[bool, int]]) -> None:
    """Live blocks never overlap and releasing everything restores the whole region."""
    blocks = Allocator(4096)
    live: list[tuple[int, int]] = []
    for release, size in steps:
        if release and live:
            offset, nbytes = live.pop(size % len(live))
            blocks.give(offset, nbytes)
            continue
        offset = blocks.take(size)
        if offset is not None:
            live.append((offset, size))
    spans = sorted((o, o + Allocator.rounded(n)) for o, n in live)
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))
    for offset, nbytes in live:
        blocks.give(offset, nbytes)
    assert blocks.free_bytes() == 4096


@pytest.fixture()
def pair() -> Iterator[tuple[Channel, Channel]]:
    """Two ends of a connection in one process, over two shared regions."""
    left, right = socket.socketpair()
    size = 1 << 20
    a_to_b, b_to_a = (Region(create_fd(size, "t"), size) for _ in range(2))
    same_a_to_b, same_b_to_a = (Region(os.dup(r.fd), size) for r in (a_to_b, b_to_a))
    a = Channel(left.detach(), outgoing=a_to_b, incoming=b_to_a)
    b = Channel(right.detach(), outgoing=same_b_to_a, incoming=same_a_to_b)
    yield a, b
    for channel in (a, b):
        channel.close()
        channel.outgoing.close()


def test_large_tensors_go_through_shared_memory(pair: tuple[Channel, Channel]) -> None:
    """A large tensor travels as a block the receiver reads in place; small ones and BYTES
    travel in the message; freeing the block returns it to the sender."""
    a, b = pair
    big = np.arange(INLINE_MAX // 4 + 8, dtype=np.float32).reshape(2, -1)
    small = np.array([1, 2, 3], np.int64)
    words = np.array([b"x", b"\xff"], dtype=np.object_)
    a.send(("execute", 1, a.pack([("big", big), ("small", small), ("words", words)])))
    _, _, packed = b.receive()
    assert isinstance(packed[0][3], int) and not isinstance(packed[1][3], int)
    arrays, blocks = b.unpack(packed, copy=False)
    got = dict(arrays)
    np.testing.assert_array_equal(got["big"], big)
    np.testing.assert_array_equal(got["small"], small)
    assert got["words"].tolist() == [b"x", b"\xff"]
    assert len(blocks) == 1 and a.blocks.free_bytes() < (1 << 20)
    a.release(blocks)
    assert a.blocks.free_bytes() == 1 << 20


def test_full_region_falls_back_to_the_message(pair: tuple[Channel, Channel]) -> None:
    """A tensor larger than the free shared memory still arrives, inside the message."""
    a, b = pair
    huge = np.ones((1 << 20) // 8 + 1, np.float64)  # just over the region
    sender = threading.Thread(target=a.send, args=(("execute", 1, a.pack([("huge", huge)])),))
    sender.start()  # a message this large fills the socket until it is read
    _, _, packed = b.receive()
    sender.join()
    assert not isinstance(packed[0][3], int)
    (name, array), = b.unpack(packed, copy=True)[0]
    assert name == "huge" and array.sum() == huge.size
