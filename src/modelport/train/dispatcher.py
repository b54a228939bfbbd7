"""The dispatcher: the driver loop that hands gradient tasks to workers and never blocks on one.

Synchronous (``staleness`` 0): each step sends the published weights to every worker, collects
the gradients with ``wait`` as they come, and asks the aggregator for one merged step. A worker
that dies is restarted by Ray and its task re-run; the step waits for it, so the result is the
same as an uninterrupted run. With an elastic range, a worker whose node left is dropped
(never below MIN) and new workers join between steps when the cluster has room.

Bounded staleness (``staleness`` K > 0, stale-synchronous parallel): each worker walks through
its own data steps; it may start data step ``c`` only while ``c <= slowest + K``. Whatever
gradients are ready are merged into one optimizer step at once, each weighted 1/N.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelport.errors import ClusterError
from modelport.train.cluster import Cluster
from modelport.train.config import WorkerRange
from modelport.train.messages import ApplyStatus, GradMeta, GradTask, StepEvent
from modelport.train.plane import PlaneBroken
from modelport.train.roster import Roster, Slot, WorkerShape
from modelport.train.spec import SpecSource

TICK_S = 0.25
GROW_EVERY = 10  # steps per data-plane session while an elastic job could still grow
PLANE_TIMEOUT_S = 60.0  # a plane session waits this long for a gradient, then Ray takes over
PLANE_GRACE_S = 10.0  # beyond that, the dispatcher stops listening to a silent aggregator

log = logging.getLogger("modelport.train")


@dataclass(frozen=True)
class Plan:
    """What the dispatcher needs to know about the job."""

    source: SpecSource
    total_steps: int
    batch: int
    seed: int
    workers: WorkerRange
    staleness: int
    cpus_per_worker: float
    checkpoint_dir: str
    checkpoint_every: int
    resume: bool
    step_timeout: float
    data_plane: str = "socket"
    report_every: float = 0.1  # seconds between progress reports of a data-plane session


@dataclass
class Outcome:
    """What the run produced: the final state vector and what happened on the way."""

    state: Any
    steps: int
    start_step: int
    loss: float
    startup_seconds: float = 0.0
    seconds: float = 0.0
    worker_restarts: int = 0
    aggregator_restarts: int = 0
    duplicates: int = 0
    max_staleness: int = 0
    workers_final: int = 0
    losses: list[float] = field(default_factory=list)


class Dispatcher:
    """Drives one ps job on a connected cluster."""

    def __init__(self, cluster: Cluster, plan: Plan,
                 on_step: Callable[[StepEvent], None] = lambda e: None) -> None:
        self.cluster = cluster
        self.plan = plan
        self.on_step = on_step
        self.roster = Roster(cluster, WorkerShape(plan.source, plan.seed, plan.batch,
                                                  plan.cpus_per_worker, plan.workers))
        self.aggregator_restarts = 0
        self.aggregator_pid = 0
        self.loss = float("nan")
        self.losses: list[float] = []
        self.plane = plan.data_plane == "socket"

    @property
    def slots(self) -> list[Slot]:
        """The workers now in the job."""
        return self.roster.slots

    # --- the run ---------------------------------------------------------------------------

    def run(self) -> Outcome:
        """Train to ``total_steps`` and return the final state; the actors stop afterwards.

        Raises:
            ClusterError: workers stay lost longer than the step timeout.
        """
        try:
            return self._run()
        finally:
            self.roster.stop()
            if hasattr(self, "aggregator"):
                self.cluster.kill(self.aggregator.actor)

    def _run(self) -> Outcome:
        p = self.plan
        began = time.monotonic()
        self.aggregator = self.cluster.new_aggregator(p.source, p.seed, p.checkpoint_dir,
                                                      p.checkpoint_every, p.staleness, p.resume)
        status_ref, state_ref = self.aggregator.current()
        status = self._seen(self.cluster.get(status_ref))  # learns the aggregator's pid
        self.roster.start()
        outcome = Outcome(state=None, steps=status.version, start_step=status.version,
                          loss=float("nan"), startup_seconds=time.monotonic() - began)
        began = time.monotonic()
        if p.staleness == 0:
            state_ref = self._run_sync(status, state_ref, outcome)
        else:
            state_ref = self._run_stale(status, state_ref, outcome)
        final: ApplyStatus = self.cluster.get(self.aggregator.finish())
        outcome.state = self.cluster.get(state_ref)
        outcome.duplicates = final.duplicates
        outcome.worker_restarts = self.roster.restarts
        outcome.aggregator_restarts = self.aggregator_restarts
        outcome.loss = self.loss
        outcome.losses = self.losses
        outcome.workers_final = len(self.slots)
        outcome.seconds = time.monotonic() - began
        return outcome

    def _event(self, step: int, alive: int, waiting: bool = False) -> None:
        self.on_step(StepEvent(step=step, total=self.plan.total_steps, loss=self.loss,
                               alive=alive, workers=len(self.slots), restarts=self.roster.restarts,
                               waiting=waiting))

    def _apply(self, version: int, keys: list[tuple[int, int]], divisor: int,
               grads: list[Any]) -> tuple[ApplyStatus, Any]:
        status_ref, state_ref = self.aggregator.apply(version, keys, divisor, grads)
        return self._seen(self.cluster.get(status_ref)), state_ref

    def _seen(self, status: ApplyStatus) -> ApplyStatus:
        """Count an aggregator restart when its process changed (Ray restarted it), whether
        or not it had to rewind to a checkpoint."""
        if status.pid and self.aggregator_pid and status.pid != self.aggregator_pid:
            self.aggregator_restarts += 1
        self.aggregator_pid = status.pid or self.aggregator_pid
        return status

    def _record_loss(self, metas: list[GradMeta]) -> None:
        samples = sum(m.samples for m in metas)
        if samples:
            self.loss = sum(m.loss * m.samples for m in metas) / samples
            self.losses.append(self.loss)

    # --- synchronous -------------------------------------------------------------------------

    def _run_sync(self, status: ApplyStatus, state_ref: Any, outcome: Outcome) -> Any:
        total = self.plan.total_steps
        step = status.version
        while step < total:
            if self.plane:
                broken = self._plane_steps(step, outcome)
                status_ref, state_ref = self.aggregator.current()
                step = self._seen(self.cluster.get(status_ref)).version
                if not broken or step >= total:
                    continue
                # A step through actor calls restarts what died; then the plane again.
            step, state_ref = self._task_steps(step, state_ref, total if not self.plane
                                               else step + 1, outcome)
        return state_ref

    def _task_steps(self, step: int, state_ref: Any, until: int, outcome: Outcome
                    ) -> tuple[int, Any]:
        """Steps through actor calls and the object store, up to version ``until``."""
        pending = self._dispatch(step, state_ref) if step < until else {}
        while step < until:
            metas, grads = self._collect_step(step, state_ref, pending)
            keys = [(step, m.shard) for m in metas]
            status_ref, state_ref = self.aggregator.apply(step, keys, len(grads), grads)
            if step + 1 < until:
                # Dispatch the next step at once, on the weights the apply will publish: Ray
                # hands them to the workers when they exist, without a round trip through here.
                self.roster.maybe_grow()
                pending = self._dispatch(step + 1, state_ref)
            status = self._seen(self.cluster.get(status_ref))
            if status.rewound:  # the aggregator came back from a checkpoint: replay from there
                pending = self._dispatch(status.version, state_ref)
            else:
                self._record_loss(metas)
            step = status.version
            outcome.steps = step
            self._event(step, len(self.slots))
        return step, state_ref

    def _plane_steps(self, step: int, outcome: Outcome) -> bool:
        """Steps over the direct data plane; returns whether the session broke.

        A session that broke before its first step turns the plane off for the job.
        """
        self.roster.maybe_grow()
        last = self.plan.total_steps
        if self.roster.can_grow():
            last = min(last, step + GROW_EVERY)  # end sessions so that new workers can join
        timeout = min(self.plan.step_timeout, PLANE_TIMEOUT_S)
        version, ended = step, "no report"
        try:
            session = self.aggregator.open_plane(len(self.slots), last, timeout,
                                                 self.plan.report_every)
            address, token = session.address()
            for slot in self.slots:
                slot.worker.join_plane(address, token, slot.shard, timeout)
            heard = time.monotonic()
            while True:
                report = session.report(TICK_S)
                if report is None:
                    if time.monotonic() - heard > timeout + PLANE_GRACE_S:
                        raise PlaneBroken(f"no word from the aggregator for {timeout:g}s")
                    self._event(version, len(self.slots), waiting=True)
                    continue
                heard = time.monotonic()
                for loss in report.losses:
                    self.loss = loss
                    self.losses.append(loss)
                self.roster.typical_s = report.seconds or self.roster.typical_s
                version = outcome.steps = report.version
                self._event(version, len(self.slots))
                if report.ended is not None:
                    ended = report.ended
                    break
        except PlaneBroken as exc:
            ended = str(exc)
        if ended and version == step:
            log.warning("the direct data plane made no step (%s): going on through Ray's "
                        "object store (--data-plane ray)", ended)
            self.plane = False
        return bool(ended)

    def _dispatch(self, step: int, state_ref: Any) -> dict[Any, tuple[Slot, Any]]:
        """Send every worker its task of ``step``; returns meta ref -> (slot, gradient ref)."""
        shards = len(self.slots)
        pending: dict[Any, tuple[Slot, Any]] = {}
        for slot in self.slots:
            meta, grad = slot.worker.compute(GradTask(step, slot.shard, shards), state_ref)
            pending[meta] = (slot, grad)
        return pending

    def _collect_step(self, step: int, state_ref: Any, pending: dict[Any, tuple[Slot, Any]]
                      ) -> tuple[list[GradMeta], list[Any]]:
        shards = len({slot.shard for slot, _ in pending.values()})
        done: dict[int, tuple[GradMeta, Any]] = {}
        started = time.monotonic()
        while pending:
            for ref in self.cluster.wait(list(pending), len(pending), TICK_S):
                slot, grad = pending.pop(ref)
                if slot not in self.slots:
                    continue  # dropped from an elastic job while its task was out
                try:
                    meta = self.cluster.get(ref)
                except Exception as exc:
                    if not self.cluster.is_lost_actor(exc):
                        raise
                    # Ray gave up on this task; send it again (the actor restarts).
                    again, grad = slot.worker.compute(GradTask(step, slot.shard, shards),
                                                      state_ref)
                    pending[again] = (slot, grad)
                    continue
                self.roster.note(slot, meta)
                done[slot.shard] = (meta, grad)
            if pending:
                waited = time.monotonic() - started
                late = self.roster.late(waited)
                self._event(step, len(self.slots) - (len(pending) if late else 0), waiting=True)
                if self.roster.drop_lost(pending, waited):
                    return self.roster.reshard(done)
                if waited > self.plan.step_timeout:
                    raise ClusterError(
                        f"step {step}: {len(pending)} of {shards} workers gave no gradient for "
                        f"{waited:.0f}s (--step-timeout): the cluster lost them and has no room "
                        "to restart them")
        return self.roster.reshard(done)

    # --- bounded staleness ----------------------------------------------------------------------

    def _run_stale(self, status: ApplyStatus, state_ref: Any, outcome: Outcome) -> Any:
        total, shards = self.plan.total_steps, len(self.slots)
        tasks = _StaleTasks({s.shard: status.clocks.get(s.shard, 0) for s in self.slots},
                            status.version)
        started = time.monotonic()
        while tasks.slowest() < total:
            self._stale_dispatch(tasks, state_ref, shards)
            ready = self.cluster.wait(list(tasks.busy), 1, TICK_S)
            if not ready:
                self._stale_wait(tasks, started)
                continue
            ready += self.cluster.wait([r for r in tasks.busy if r not in ready],
                                       len(tasks.busy), 0)
            metas, keys, grads = self._stale_collect(tasks, ready, outcome)
            if not grads:
                continue
            status, state_ref = self._apply(tasks.version, keys, shards, grads)
            if status.rewound:  # back from a checkpoint: tasks out now are of the old run
                tasks.generation += 1
            else:
                self._record_loss(metas)
            tasks.clocks = {s.shard: status.clocks.get(s.shard, 0 if status.rewound else
                                                       tasks.clocks[s.shard])
                            for s in self.slots}
            tasks.version = status.version
            started = time.monotonic()
            outcome.steps = tasks.slowest()
            self._event(outcome.steps, len(self.slots))
        return state_ref

    def _stale_dispatch(self, tasks: _StaleTasks, state_ref: Any, shards: int) -> None:
        """Give each idle worker its next data step while it is within the bound."""
        running = {task.slot.shard for task in tasks.busy.values()}
        limit = tasks.slowest() + self.plan.staleness
        for slot in self.slots:
            clock = tasks.clocks[slot.shard]
            if slot.shard in running or clock >= self.plan.total_steps or clock > limit:
                continue
            meta, grad = slot.worker.compute(GradTask(clock, slot.shard, shards), state_ref)
            tasks.busy[meta] = _StaleTask(slot, clock, tasks.version, grad, tasks.generation,
                                          time.monotonic())

    def _stale_wait(self, tasks: _StaleTasks, started: float) -> None:
        """Nothing came back this tick: report who is late, give up past the step timeout."""
        if time.monotonic() - started > self.plan.step_timeout:
            raise ClusterError(f"no gradient for {self.plan.step_timeout:.0f}s "
                               "(--step-timeout): the workers are lost")
        now = time.monotonic()
        late = sum(1 for task in tasks.busy.values() if self.roster.late(now - task.sent))
        self._event(tasks.slowest(), len(self.slots) - late, waiting=True)

    def _stale_collect(self, tasks: _StaleTasks, ready: list[Any], outcome: Outcome
                       ) -> tuple[list[GradMeta], list[tuple[int, int]], list[Any]]:
        """The gradients that came back, with their keys; lost or outdated ones are dropped
        (their workers are idle again and get a task next round)."""
        metas, keys, grads = [], [], []
        for ref in ready:
            task = tasks.busy.pop(ref)
            if task.generation != tasks.generation:
                continue
            try:
                meta = self.cluster.get(ref)
            except Exception as exc:
                if not self.cluster.is_lost_actor(exc):
                    raise
                continue
            self.roster.note(task.slot, meta)
            outcome.max_staleness = max(outcome.max_staleness, tasks.version - task.seen)
            metas.append(meta)
            keys.append((task.clock, task.slot.shard))
            grads.append(task.grad)
        return metas, keys, grads


@dataclass
class _StaleTask:
    """A gradient task out under bounded staleness."""

    slot: Slot
    clock: int  # the worker's data step
    seen: int  # the weights' version it computes on
    grad: Any
    generation: int
    sent: float


@dataclass
class _StaleTasks:
    """Bounded staleness: each worker's clock, the weights' version and the tasks out."""

    clocks: dict[int, int]
    version: int
    busy: dict[Any, _StaleTask] = field(default_factory=dict)  # meta ref -> task
    generation: int = 0  # bumped when the aggregator rewinds: older tasks are dropped

    def slowest(self) -> int:
        """The slowest worker's clock."""
        return min(self.clocks.values())
