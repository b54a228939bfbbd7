"""The direct data plane without Ray: a PlaneServer and workers on threads over loopback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelport.train.messages import GradMeta, GradTask
from modelport.train.plane import (
    HELLO,
    PlaneReport,
    PlaneServer,
    run_session,
    serve_worker,
)

SIZE = 1000


def _compute(scale: float) -> Callable[[GradTask, np.ndarray], tuple[GradMeta, np.ndarray]]:
    """A worker whose gradient is weights * scale + shard, with a known loss."""

    def compute(task: GradTask, state: np.ndarray) -> tuple[GradMeta, np.ndarray]:
        grad = (state * scale + task.shard).astype(np.float32)
        meta = GradMeta(step=task.step, shard=task.shard, loss=float(task.shard + 1),
                        samples=4, pid=100 + task.shard, seconds=0.001)
        return meta, grad

    return compute


def _workers(server: PlaneServer, count: int, **kwargs: Any) -> list[threading.Thread]:
    threads = [threading.Thread(target=serve_worker, daemon=True, kwargs={
        "compute": kwargs.get("compute", _compute(0.5)), "address": server.address,
        "token": server.token, "shard": shard, "timeout": 10.0})
        for shard in reversed(range(count))]  # shard 1 connects first
    for t in threads:
        t.start()
    return threads


class _Sgd:
    """A plain-numpy parameter server: weights -= 0.1 * mean gradient."""

    def __init__(self) -> None:
        self.weights = np.linspace(-1, 1, SIZE).astype(np.float32)
        self.version = 0
        self.keys: list[list[tuple[int, int]]] = []

    def apply(self, step: int, keys: list[tuple[int, int]], divisor: int,
              grads: list[np.ndarray]) -> int:
        self.keys.append(keys)
        self.weights -= 0.1 * sum(g.astype(np.float64) for g in grads).astype(np.float32) / divisor
        self.version += 1
        return self.version


def _session(server: PlaneServer, sgd: _Sgd, shards: int, last: int) -> list[PlaneReport]:
    return list(run_session(server, shards, lambda: sgd.version, last, lambda: sgd.weights,
                            sgd.apply, report_every=0.0))


def test_a_session_runs_every_step_and_sums_in_shard_order() -> None:
    """Two workers answer five steps; gradients arrive keyed and in shard order, the weights
    follow the same arithmetic as in one process, and the last report ends cleanly."""
    server = PlaneServer("127.0.0.1", timeout=10)
    threads = _workers(server, 2)
    sgd = _Sgd()
    reports = _session(server, sgd, shards=2, last=5)
    for t in threads:
        t.join(5)
    expected = np.linspace(-1, 1, SIZE).astype(np.float32)
    for _ in range(5):
        grads = [expected * 0.5 + shard for shard in range(2)]
        expected = expected - (0.1 * sum(g.astype(np.float64) for g in grads)
                               .astype(np.float32) / 2)
    np.testing.assert_allclose(sgd.weights, expected, rtol=0, atol=1e-6)
    assert sgd.keys == [[(s, 0), (s, 1)] for s in range(5)]
    assert reports[-1].ended == "" and reports[-1].version == 5
    losses = [loss for r in reports for loss in r.losses]
    assert losses == [1.5] * 5, "one sample-weighted loss per step: (1 * 4 + 2 * 4) / 8"
    assert not any(t.is_alive() for t in threads), "workers must stop when the session ends"


def test_a_stranger_without_the_token_is_turned_away() -> None:
    """A connection that shows a wrong token is closed and does not take the shard's place."""
    server = PlaneServer("127.0.0.1", timeout=10)
    stranger = socket.create_connection(server.address)
    stranger.sendall(HELLO.pack(b"x" * 16, 0))
    threads = _workers(server, 1)
    sgd = _Sgd()
    reports = _session(server, sgd, shards=1, last=3)
    assert reports[-1].ended == "" and sgd.version == 3
    assert stranger.recv(1) == b"", "the stranger's connection is closed"
    stranger.close()
    for t in threads:
        t.join(5)


def test_a_lost_worker_ends_the_session_and_says_which() -> None:
    """A worker that dies at step 2 ends the session with a reason naming it; the steps
    before it were applied and nothing after it."""

    def dying(task: GradTask, state: np.ndarray) -> tuple[GradMeta, np.ndarray]:
        if task.step == 2 and task.shard == 1:
            raise OSError("killed")  # serve_worker closes its socket, as a dead process does
        return _compute(0.5)(task, state)

    server = PlaneServer("127.0.0.1", timeout=10)
    _workers(server, 2, compute=dying)
    sgd = _Sgd()
    reports = _session(server, sgd, shards=2, last=10)
    assert sgd.version == 2
    assert reports[-1].version == 2 and "worker 1 at step 2" in (reports[-1].ended or "")


def test_missing_workers_end_the_session_after_the_timeout() -> None:
    """Nobody connects: the session ends after its timeout with a reason, and no step."""
    server = PlaneServer("127.0.0.1", timeout=0.3)
    sgd = _Sgd()
    reports = _session(server, sgd, shards=2, last=3)
    assert sgd.version == 0 and "did not connect" in (reports[-1].ended or "")


def test_aggregator_over_the_plane_equals_actor_calls(tmp_path: Path) -> None:
    """The Aggregator's plane session (gradient received in place, BatchNorm buffers averaged)
    gives the same state as its apply() fed the same gradients."""
    torch = pytest.importorskip("torch")
    from modelport.train.aggregator import Aggregator
    from modelport.train.spec import SpecSource

    path = tmp_path / "spec.py"
    path.write_text(
        "import torch\n"
        "def model(): return torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))\n"
        "def dataset(): return [(torch.zeros(3), torch.zeros(2))] * 8\n"
        "def loss(o, t): return ((o - t) ** 2).mean()\n"
        "def optimizer(p): return torch.optim.SGD(p, lr=0.5, momentum=0.9)\n")
    source = SpecSource.read(path)

    def make(name: str) -> Aggregator:
        return Aggregator(source, seed=0, checkpoint_dir=str(tmp_path / name), every=100,
                          staleness=0, restore=False)

    torch.manual_seed(0)
    over_plane, by_calls = make("a"), make("b")
    compute = _compute(0.25)
    for step in range(4):
        state = by_calls.model.vector.numpy().copy()
        grads = [compute(GradTask(step, s, 2), state)[1] for s in range(2)]
        by_calls.apply(step, [(step, 0), (step, 1)], 2, *grads)
    session = over_plane.plane_session("127.0.0.1", shards=2, last=4, timeout=10,
                                       report_every=0.0)
    opened = next(session)
    assert isinstance(opened, tuple)
    address, token = opened
    for shard in (1, 0):
        threading.Thread(target=serve_worker, daemon=True,
                         args=(compute, address, token, shard, 10.0)).start()
    reports = list(session)
    assert isinstance(reports[-1], PlaneReport) and reports[-1].ended == ""
    np.testing.assert_allclose(over_plane.model.vector.numpy(), by_calls.model.vector.numpy(),
                               rtol=0, atol=1e-6)
    assert over_plane.model.size > over_plane.model.param_size, "the spec has buffers"
