"""The direct data plane of a synchronous ps job: weights out and gradients back over sockets.

Ray places, starts and restarts the actors and carries every control message. With the plane,
the per-step exchange, the published weights to each worker and its gradient back, runs over
one TCP connection from each worker to the aggregator instead of two actor calls through the
object store. On a small model those two calls, not the bytes, are most of a step: about 2.5 ms
each on a 2-core host against 5 ms of compute (benchmarks/train.py). A session covers a run of
steps and ends at the first thing out of the ordinary (a worker or the aggregator gone, a
timeout); the dispatcher then goes on with actor calls, which restart actors and replay steps,
and opens a new session once a step has gone through.

Frames are fixed little-endian struct headers followed by raw float32 vectors: nothing received
is unpickled. A worker proves it belongs to the job with a random token it got through Ray.
"""

from __future__ import annotations

import hmac
import secrets
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelport.train.messages import GradMeta, GradTask

HELLO = struct.Struct("<16si")  # token, shard
TASK = struct.Struct("<Bqiiq")  # kind, step, shard, shards, values that follow
GRAD = struct.Struct("<qidqqdq")  # step, shard, loss, samples, pid, seconds, values that follow
RUN, STOP = 1, 2
FLOAT = np.dtype("<f4")
REPORT_EVERY_S = 0.1

Compute = Callable[[GradTask, np.ndarray], tuple[GradMeta, np.ndarray]]
Apply = Callable[[int, list[tuple[int, int]], int, list[np.ndarray]], int]


class PlaneBroken(ConnectionError):
    """A peer went away, timed out or broke the protocol: the session is over."""


@dataclass(frozen=True)
class PlaneReport:
    """What the aggregator tells the dispatcher during a session (at most every 0.1 s).

    ``losses`` holds one sample-weighted loss per step taken since the last report; ``ended``
    is set on the last report: empty when the session reached its last step, otherwise why it
    stopped early.
    """

    version: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    ended: str | None = None


def _nodelay(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def send_frame(sock: socket.socket, header: bytes, vector: np.ndarray | None = None) -> None:
    """Send a header and an optional float32 vector, usually in one system call."""
    parts = [memoryview(header)]
    if vector is not None:
        parts.append(np.ascontiguousarray(vector, dtype=FLOAT).data.cast("B"))
    while parts:
        sent = sock.sendmsg(parts)
        while parts and sent >= len(parts[0]):
            sent -= len(parts[0])
            parts.pop(0)
        if parts and sent:
            parts[0] = parts[0][sent:]


def recv_into(sock: socket.socket, buffer: memoryview) -> None:
    """Fill ``buffer`` from the socket.

    Raises:
        PlaneBroken: the peer closed the connection or the socket timed out.
    """
    got = 0
    try:
        while got < len(buffer):
            n = sock.recv_into(buffer[got:])
            if not n:
                raise PlaneBroken("the peer closed the connection")
            got += n
    except (TimeoutError, OSError) as exc:
        if isinstance(exc, PlaneBroken):
            raise
        raise PlaneBroken(f"{type(exc).__name__}: {exc}") from None


def recv_header(sock: socket.socket, layout: struct.Struct) -> tuple[Any, ...]:
    """Read and unpack one fixed-size header."""
    raw = bytearray(layout.size)
    recv_into(sock, memoryview(raw))
    return layout.unpack(raw)


def recv_vector(sock: socket.socket, buffer: np.ndarray | None, count: int) -> np.ndarray:
    """Read ``count`` float32 values, into ``buffer`` when it has that size."""
    if buffer is None or buffer.size != count:
        buffer = np.empty(count, dtype=FLOAT)
    recv_into(sock, buffer.data.cast("B"))
    return buffer


class PlaneServer:
    """The aggregator's end: a listening socket, then one connection per worker shard."""

    def __init__(self, host: str, timeout: float) -> None:
        self.token = secrets.token_bytes(16)
        self.timeout = timeout
        self.listener = socket.create_server((host, 0))
        self.address = (host, int(self.listener.getsockname()[1]))
        self.conns: dict[int, socket.socket] = {}
        self.buffers: dict[int, np.ndarray] = {}

    def accept(self, shards: int) -> None:
        """Wait for every shard's worker to connect and prove the token.

        Raises:
            PlaneBroken: not all of them connected within the timeout.
        """
        deadline = time.monotonic() + self.timeout
        while len(self.conns) < shards:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PlaneBroken(f"{shards - len(self.conns)} of {shards} workers did not "
                                  f"connect within {self.timeout:g}s")
            self.listener.settimeout(left)
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue  # the deadline check above says who is missing
            except OSError as exc:
                raise PlaneBroken(f"waiting for workers: {exc}") from None
            self._admit(conn, shards)
        self.conns = dict(sorted(self.conns.items()))  # gradients are summed in shard order

    def _admit(self, conn: socket.socket, shards: int) -> None:
        conn.settimeout(min(self.timeout, 10.0))
        try:
            token, shard = recv_header(conn, HELLO)
        except PlaneBroken:
            conn.close()
            return
        if (not hmac.compare_digest(token, self.token) or not 0 <= shard < shards
                or shard in self.conns):
            conn.close()  # not one of ours, or a shard twice: ignore it
            return
        _nodelay(conn)
        conn.settimeout(self.timeout)
        self.conns[shard] = conn

    def exchange(self, step: int, state: np.ndarray) -> list[tuple[GradMeta, np.ndarray]]:
        """Send every worker the weights and its task of ``step``; collect the gradients.

        Raises:
            PlaneBroken: a worker went away, timed out or answered out of turn.
        """
        shards = len(self.conns)
        try:
            for shard, conn in self.conns.items():
                send_frame(conn, TASK.pack(RUN, step, shard, shards, state.size), state)
        except OSError as exc:
            raise PlaneBroken(f"sending step {step}: {exc}") from None
        return [self._gradient(step, shard, conn) for shard, conn in self.conns.items()]

    def _gradient(self, step: int, shard: int, conn: socket.socket
                  ) -> tuple[GradMeta, np.ndarray]:
        try:
            got, who, loss, samples, pid, seconds, count = recv_header(conn, GRAD)
        except PlaneBroken as exc:
            raise PlaneBroken(f"worker {shard} at step {step}: {exc}") from None
        if (got, who) != (step, shard):
            raise PlaneBroken(f"worker {shard} answered step {got} of shard {who} to step {step}")
        self.buffers[shard] = recv_vector(conn, self.buffers.get(shard), count)
        meta = GradMeta(step=step, shard=shard, loss=float(loss), samples=int(samples),
                        pid=int(pid), seconds=float(seconds))
        return meta, self.buffers[shard]

    def close(self) -> None:
        """Tell the workers the session is over and close every socket."""
        for conn in self.conns.values():
            try:
                conn.settimeout(1.0)
                send_frame(conn, TASK.pack(STOP, 0, 0, 0, 0))
            except OSError:
                pass
            conn.close()
        self.conns.clear()
        self.listener.close()


def run_session(server: PlaneServer, shards: int, version: Callable[[], int], last: int,
                state: Callable[[], np.ndarray], apply: Apply,
                report_every: float = REPORT_EVERY_S) -> Iterator[PlaneReport]:
    """Run optimizer steps from ``version()`` up to ``last`` over the plane, reporting progress
    at most every ``report_every`` seconds.

    ``apply(step, keys, divisor, gradients)`` merges one step's gradients and returns the new
    version. The last report says why the session ended; the sockets are closed by then.
    """
    losses: list[float] = []
    seconds = 0.0
    reported = time.monotonic()
    ended = ""
    try:
        server.accept(shards)
        while version() < last:
            step = version()
            results = server.exchange(step, state())
            metas = [m for m, _ in results]
            apply(step, [(step, m.shard) for m in metas], len(results), [g for _, g in results])
            samples = sum(m.samples for m in metas)
            losses.append(sum(m.loss * m.samples for m in metas) / samples if samples else 0.0)
            seconds = max(m.seconds for m in metas)
            if time.monotonic() - reported >= report_every:
                yield PlaneReport(version(), losses, seconds)
                losses, reported = [], time.monotonic()
    except PlaneBroken as exc:
        ended = str(exc)
    finally:
        server.close()
    yield PlaneReport(version(), losses, seconds, ended=ended)


def serve_worker(compute: Compute, address: tuple[str, int], token: bytes, shard: int,
                 timeout: float, weights: np.ndarray | None = None) -> int:
    """A worker's end: connect, then answer steps until the aggregator says stop or goes away.

    The weights are received into ``weights`` when it has their size (the model's own vector,
    which saves a copy). Returns the number of gradients sent.
    """
    try:
        sock = socket.create_connection(address, timeout=min(timeout, 10.0))
    except OSError:
        return 0
    steps = 0
    state = weights
    with sock:
        _nodelay(sock)
        sock.settimeout(timeout)
        try:
            send_frame(sock, HELLO.pack(token, shard))
            while True:
                kind, step, mine, shards, count = recv_header(sock, TASK)
                if kind != RUN:
                    return steps
                state = recv_vector(sock, state, count)
                task = GradTask(int(step), int(mine), int(shards))
                meta, grad = compute(task, state)
                send_frame(sock, GRAD.pack(meta.step, meta.shard, meta.loss, meta.samples,
                                           meta.pid, meta.seconds, grad.size), grad)
                steps += 1
        except (PlaneBroken, OSError):
            return steps
