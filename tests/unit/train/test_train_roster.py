"""The roster's bookkeeping of a ps job's workers, on a small in-test cluster (no Ray)."""

from __future__ import annotations

from typing import Any

import pytest

from modelport.errors import ClusterError
from modelport.train.config import WorkerRange
from modelport.train.messages import GradMeta
from modelport.train.roster import Roster, WorkerShape
from modelport.train.spec import SpecSource


class _Actor:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.killed = False


class _Worker:
    def __init__(self, actor: _Actor, shard: int, shards: int) -> None:
        self.actor, self.shard, self.shards = actor, shard, shards

    def process_id(self) -> int:
        return self.actor.pid


class _Cluster:
    """As much of train.cluster.Cluster as the roster uses: CPUs, workers, kills."""

    def __init__(self, cpus: float) -> None:
        self.cpus_now = cpus
        self.made: list[_Worker] = []

    def cpus(self) -> float:
        return self.cpus_now

    def new_worker(self, source: SpecSource, seed: int, batch: int, cpus: float, shard: int,
                   shards: int) -> _Worker:
        worker = _Worker(_Actor(1000 + len(self.made)), shard, shards)
        self.made.append(worker)
        return worker

    def get(self, ref: Any) -> Any:
        return ref

    def kill(self, actor: _Actor) -> None:
        actor.killed = True


def _roster(cpus: float, workers: str, per_worker: float = 1.0) -> tuple[Roster, _Cluster]:
    cluster = _Cluster(cpus)
    shape = WorkerShape(SpecSource("spec.py", ""), 0, 8, per_worker, WorkerRange.parse(workers))
    return Roster(cluster, shape), cluster  # type: ignore[arg-type]


def _meta(shard: int, pid: int, seconds: float = 0.01) -> GradMeta:
    return GradMeta(step=0, shard=shard, loss=1.0, samples=8, pid=pid, seconds=seconds)


def test_start_takes_what_fits_between_min_and_max_and_reads_each_pid() -> None:
    """A 2:4 job on 3 CPUs starts 3 workers with shards 0..2 and knows their processes; a job
    whose MIN does not fit fails with what to change."""
    roster, _ = _roster(3, "2:4")
    roster.start()
    assert [s.shard for s in roster.slots] == [0, 1, 2]
    assert [s.pid for s in roster.slots] == [1000, 1001, 1002]
    small, _ = _roster(1.5, "2:4", per_worker=1.0)
    with pytest.raises(ClusterError, match=r"2 workers of 1 CPU need 2 CPUs.*--workers 1:4"):
        small.start()


def test_an_elastic_job_grows_to_max_when_room_appears() -> None:
    """Between steps a job below MAX grows into new CPUs, never past MAX; a fixed job never."""
    roster, cluster = _roster(2, "1:3")
    roster.start()
    assert len(roster) == 2 and roster.can_grow()
    cluster.cpus_now = 8
    roster.maybe_grow()
    assert len(roster) == 3 and not roster.can_grow()
    fixed, cluster = _roster(2, "2")
    fixed.start()
    cluster.cpus_now = 8
    fixed.maybe_grow()
    assert len(fixed) == 2


def test_lost_workers_are_dropped_down_to_min_and_shards_renumber() -> None:
    """When the cluster shrinks, pending workers beyond its room are dropped (never below MIN),
    and the gradients of the workers left keep their order under new shard numbers."""
    roster, cluster = _roster(4, "2:4")
    roster.start()
    cluster.cpus_now = 2
    lost = roster.slots[1], roster.slots[3]
    pending = {object(): (lost[0], None), object(): (lost[1], None)}
    assert not roster.drop_lost(pending, waited=0.5)  # too early to give up on anyone
    assert roster.drop_lost(pending, waited=2.0)
    assert len(roster) == 2 and all(s.worker.actor.killed for s in lost)
    done = {0: (_meta(0, 1000), "g0"), 2: (_meta(2, 1002), "g2")}
    metas, grads = roster.reshard(done)
    assert grads == ["g0", "g2"] and [m.pid for m in metas] == [1000, 1002]
    assert [s.shard for s in roster.slots] == [0, 1]


def test_restarts_are_counted_from_changed_pids_and_lateness_follows_typical_time() -> None:
    """A gradient from a new process of a slot counts one restart; a task counts as late after
    five typical gradient times, and never before a second."""
    roster, _ = _roster(2, "2")
    roster.start()
    slot = roster.slots[0]
    roster.note(slot, _meta(0, 1000, seconds=0.5))
    roster.note(slot, _meta(0, 4242, seconds=0.5))
    assert roster.restarts == 1 and slot.pid == 4242
    assert not roster.late(2.4) and roster.late(2.6)
    quick, _ = _roster(2, "2")
    quick.note(roster.slots[1], _meta(1, 1001, seconds=0.001))
    assert not quick.late(0.9) and quick.late(1.1)
