"""The roster: the worker actors of one ps job as the dispatcher sees them.

It starts as many workers as the cluster has room for (at least MIN, at most MAX of
``--workers MIN:MAX``), grows an elastic job between steps when room appears, drops workers the
cluster can no longer hold (never below MIN, renumbering the shards), counts restarts from the
process ids that gradients report, and says when a task has been out long enough to show its
worker as not alive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelport.errors import ClusterError
from modelport.train.cluster import Cluster, RemoteWorker
from modelport.train.config import WorkerRange
from modelport.train.messages import GradMeta
from modelport.train.spec import SpecSource

SLOW_S = 1.0


@dataclass
class Slot:
    """One worker as the dispatcher sees it."""

    worker: RemoteWorker
    shard: int
    pid: int | None = None


@dataclass(frozen=True)
class WorkerShape:
    """How each worker is made: the spec, its data and what it takes from the cluster."""

    source: SpecSource
    seed: int
    batch: int
    cpus_per_worker: float
    workers: WorkerRange


class Roster:
    """The job's workers, their shards, restarts and typical gradient time."""

    def __init__(self, cluster: Cluster, shape: WorkerShape) -> None:
        self.cluster = cluster
        self.shape = shape
        self.slots: list[Slot] = []
        self.restarts = 0
        self.typical_s = 0.0  # moving average of a gradient's compute time

    def __len__(self) -> int:
        return len(self.slots)

    def capacity(self) -> int:
        """How many workers the cluster's CPUs hold."""
        return int(self.cluster.cpus() / self.shape.cpus_per_worker + 1e-9)

    def start(self) -> None:
        """Start as many workers as fit, up to MAX.

        Raises:
            ClusterError: not even MIN workers fit.
        """
        capacity, wanted = self.capacity(), self.shape.workers
        if capacity < wanted.min:
            need = wanted.min * self.shape.cpus_per_worker
            raise ClusterError(
                f"{wanted.min} workers of {self.shape.cpus_per_worker:g} CPU need {need:g} CPUs "
                f"but the Ray cluster has {self.cluster.cpus():g}: lower --workers or "
                f"--cpus-per-worker, or give a range such as --workers 1:{wanted.max}")
        self._resize(min(capacity, wanted.max))
        for slot in self.slots:  # constructors load the spec and the shards: not training time
            slot.pid = self.cluster.get(slot.worker.process_id())

    def stop(self) -> None:
        """Kill every worker actor."""
        for slot in self.slots:
            self.cluster.kill(slot.worker.actor)

    def can_grow(self) -> bool:
        """Whether an elastic job is below MAX (so it should pause now and then to grow)."""
        wanted = self.shape.workers
        return wanted.elastic and len(self.slots) < wanted.max

    def maybe_grow(self) -> None:
        """Between steps: add workers up to MAX where the cluster has room."""
        if not self.can_grow():
            return
        room = min(self.capacity(), self.shape.workers.max)
        if room > len(self.slots):
            self._resize(room)

    def note(self, slot: Slot, meta: GradMeta) -> None:
        """A gradient came back: count a restart if its process changed; learn its time."""
        if slot.pid is not None and slot.pid != meta.pid:
            self.restarts += 1
        slot.pid = meta.pid
        self.typical_s = meta.seconds if not self.typical_s else (
            0.9 * self.typical_s + 0.1 * meta.seconds)

    def late(self, waited_s: float) -> bool:
        """Whether a task out this long counts as a worker not alive (for the progress bar)."""
        return waited_s > max(SLOW_S, 5 * self.typical_s)

    def drop_lost(self, pending: dict[Any, tuple[Slot, Any]], waited: float) -> bool:
        """In an elastic job, give up on workers the cluster has no room for any more;
        returns whether none of the pending tasks' workers is left in the job."""
        wanted = self.shape.workers
        if not wanted.elastic or waited < SLOW_S:
            return False
        keep = max(wanted.min, min(self.capacity(), len(self.slots)))
        lost = [slot for slot, _ in pending.values()]
        if keep >= len(self.slots) or len(self.slots) - len(lost) < wanted.min:
            return False
        for slot in lost[:len(self.slots) - keep]:
            self.cluster.kill(slot.worker.actor)
            self.slots.remove(slot)
        return not any(slot in self.slots for slot, _ in pending.values())

    def reshard(self, done: dict[int, tuple[GradMeta, Any]]
                ) -> tuple[list[GradMeta], list[Any]]:
        """The gradients of the workers still in the job; shards renumber after a drop."""
        kept = [done[s.shard] for s in self.slots if s.shard in done]
        for index, slot in enumerate(self.slots):
            slot.shard = index
        return [m for m, _ in kept], [g for _, g in kept]

    def _resize(self, count: int) -> None:
        for slot in self.slots[count:]:
            self.cluster.kill(slot.worker.actor)
        del self.slots[count:]
        shape = self.shape
        while len(self.slots) < count:
            worker = self.cluster.new_worker(shape.source, shape.seed, shape.batch,
                                             shape.cpus_per_worker, len(self.slots), count)
            self.slots.append(Slot(worker, len(self.slots)))
