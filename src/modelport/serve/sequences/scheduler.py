"""The sequence batcher of one model version (Triton's sequence_batching), behind the same
``submit`` / ``pending`` / ``close`` seam as the dynamic batcher.

Every request names its sequence (``sequence_id``) and says whether it starts or ends it. The
slot table routes it to the slot its sequence holds on one instance (or to the backlog while
every slot is taken); one worker per instance assembles batches from its slots' front requests
(assembly.py), feeds them with controls and implicit state and runs them (batch.py). A reaper
ends sequences idle longer than max_sequence_idle_microseconds, freeing their slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from modelport.errors import (
    BackendError,
    ComputeFailed,
    InvalidInput,
    RequestTimedOut,
    Unavailable,
)
from modelport.repository.config import ModelConfig
from modelport.repository.sequence import SequenceBatching
from modelport.runtime.base import Instance, ResponseSink
from modelport.serve.sequences import assembly
from modelport.serve.sequences.batch import SequenceBatch
from modelport.serve.sequences.controls import check_corrid
from modelport.serve.sequences.params import SequenceParams
from modelport.serve.sequences.request import SequencePending
from modelport.serve.sequences.slots import Slot, SlotTable
from modelport.serve.sequences.states import State
from modelport.serve.stats import ModelStats
from modelport.serve.tracing import RequestTrace
from modelport.serve.validate import Checked


class SequenceScheduler:
    """Routes each sequence to one slot of one instance and runs its requests in order."""

    def __init__(self, config: ModelConfig, instances: list[Instance], stats: ModelStats,
                 initial: State, proven: bool = False) -> None:
        assert config.sequence_batching is not None
        self.config = config
        self.sb: SequenceBatching = config.sequence_batching
        self.instances = instances
        self.stats = stats
        self.initial = initial
        self.proven = proven  # the model has computed before (see Scheduler._blame)
        per_instance = self.sb.slots_per_instance(config.max_batch_size)
        self.table = SlotTable(config.name, len(instances), per_instance, self.sb.max_backlog)
        self.busy = 0
        self.closed = False
        self._loop = asyncio.get_running_loop()
        self._wake = [asyncio.Event() for _ in instances]
        self._idle = asyncio.Event()
        self._idle.set()
        self._executors: list[ThreadPoolExecutor] = []
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> SequenceScheduler:
        """Spawn one worker (and its thread) per instance, and the idle-sequence reaper."""
        self._executors = [ThreadPoolExecutor(1, thread_name_prefix=f"mp-{self.config.name}-{i}")
                           for i in range(len(self.instances))]
        self._tasks = [self._loop.create_task(self._work(i)) for i in range(len(self.instances))]
        self._tasks.append(self._loop.create_task(self._reap()))
        return self

    @property
    def pending(self) -> int:
        """Requests queued (in slots or the backlog) or executing."""
        return self.table.pending() + self.busy

    async def submit(self, checked: Checked, timeout_us: int = 0,
                     trace: RequestTrace | None = None,
                     sequence: SequenceParams | None = None,
                     sink: ResponseSink | None = None) -> list[np.ndarray]:
        """Queue a request of a sequence and wait for its outputs (``checked.outputs`` order).

        ``timeout_us`` bounds the wait of a sequence in the backlog (Triton's request timeout).

        Raises:
            InvalidInput: no correlation ID, batch size above 1, or a sequence not started.
            QueueFull: every slot is taken and the backlog is at max_sequence_backlog.
            RequestTimedOut: the sequence waited for a slot longer than the request's timeout.
            BackendError: the runtime failed on the batch.
        """
        if self.closed:
            raise Unavailable(f"model '{self.config.name}' is shutting down")
        params = self._admit(checked, sequence)
        pending = SequencePending(checked, params, self._loop.create_future(), trace)
        slot = self.table.route(pending, time.perf_counter_ns())
        if slot is not None:
            self._wake[slot.instance].set()
        elif timeout_us:
            pending.timer = self._loop.call_later(timeout_us / 1e6, self._expire, pending)
        self._idle.clear()
        try:
            return await pending.future
        except asyncio.CancelledError:  # the client left: free its place now
            self._leave(pending)
            raise

    def _admit(self, checked: Checked, sequence: SequenceParams | None) -> SequenceParams:
        name = self.config.name
        if self.config.batching and checked.batch_size > 1:
            raise InvalidInput(f"inference request to model '{name}' must specify batch-size 1 "
                               "due to requirements of sequence batcher")
        if sequence is None or not sequence.named:
            raise InvalidInput(f"inference request to model '{name}' must specify a non-zero "
                               "or non-empty correlation ID")
        check_corrid(self.sb, name, sequence.id)
        return sequence

    def _leave(self, pending: SequencePending) -> None:
        if pending.timer is not None:
            pending.timer.cancel()
        slot = self.table.remove(pending)
        if slot is not None:
            self._settle(slot)
        self._check_idle()

    def _expire(self, pending: SequencePending) -> None:
        """A backlogged request's timeout passed: its whole waiting sequence fails."""
        dropped = self.table.drop_backlogged(pending)
        if not dropped:
            return  # it got a slot meanwhile
        waited_us = (time.perf_counter_ns() - pending.enqueued_ns) // 1000
        error = RequestTimedOut(
            f"timeout of the corresponding sequence has been expired: sequence "
            f"{pending.params.id} waited {waited_us} us for one of the "
            f"{self.table.total} sequence slots of model '{self.config.name}'; end other "
            "sequences with sequence_end, or raise the request's timeout")
        self.stats.timed_out += len(dropped)
        for p in dropped:
            if not p.future.done():
                p.future.set_exception(error)
        self._check_idle()

    def _settle(self, slot: Slot) -> None:
        """Free a finished slot (maybe for a backlogged sequence) and wake its instance."""
        if self.table.settle(slot, time.perf_counter_ns()):
            self._wake[slot.instance].set()

    async def _work(self, index: int) -> None:
        slots = self.table.slots[index]
        while True:
            while not assembly.ready(slots):
                self._wake[index].clear()
                await self._wake[index].wait()
            if self.sb.max_queue_delay_us:
                await self._linger(index)
            rows = assembly.take(self.sb, slots, self.config.max_batch_size, self.initial)
            if not rows:
                continue
            self.busy += 1
            try:
                await self._execute(index, SequenceBatch(rows, self.config, self.initial))
            finally:
                self.busy -= 1
                now = time.perf_counter_ns()
                for row in rows:
                    if row.request is not None:
                        row.slot.running, row.slot.last_ns = False, now
                        self._settle(row.slot)
                self._check_idle()

    async def _linger(self, index: int) -> None:
        """Wait, up to the oldest request's delay, for the batch the strategy prefers."""
        slots = self.table.slots[index]
        oldest = min(s.queue[0].enqueued_ns for s in assembly.ready(slots))
        deadline = oldest + self.sb.max_queue_delay_us * 1000
        while assembly.wants_more(self.sb, slots, self.config.max_batch_size):
            remaining = deadline - time.perf_counter_ns()
            if remaining <= 0:
                return
            self._wake[index].clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake[index].wait(), remaining / 1e9)

    async def _execute(self, index: int, batch: SequenceBatch) -> None:
        start = time.perf_counter_ns()
        for p in batch.members:
            self.stats.record_queue(start - p.enqueued_ns)
        span = _trace_batch(batch, self.config.name, self.stats.version)
        try:
            await self._run_isolating(index, batch, start)
        except asyncio.CancelledError:  # close() gave up waiting: answer, never leave hanging
            batch.fail(Unavailable(f"model '{self.config.name}' was unloaded while the "
                                   "request ran"))
            raise
        finally:
            if span is not None:
                span.end()

    async def _run_isolating(self, index: int, batch: SequenceBatch, start: int) -> None:
        """Run ``batch``; if it fails, run its halves apart so only the culprits fail."""
        names = batch.outputs()
        feed = batch.feed()
        ready = time.perf_counter_ns()
        try:
            results = await self._loop.run_in_executor(self._executors[index],
                                                       self.instances[index].run, feed, names)
            batch.deliver(results, names)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if len(batch.members) > 1:
                for half in batch.halves():
                    await self._run_isolating(index, half, time.perf_counter_ns())
                return
            batch.fail(self._blame(exc))
            return
        self.proven = True
        done = time.perf_counter_ns()
        count = len(batch.members)
        self.stats.record_execution(count, count, ready - start, done - ready,
                                    time.perf_counter_ns() - done)

    def _blame(self, exc: Exception) -> Exception:
        """As the dynamic batcher: a request failing alone on a proven model is at fault."""
        if isinstance(exc, InvalidInput):
            return exc
        if isinstance(exc, ComputeFailed) and self.proven:
            return InvalidInput(str(exc))
        if isinstance(exc, BackendError):
            return exc
        return BackendError(f"model '{self.config.name}' failed: {type(exc).__name__}: {exc}")

    async def _reap(self) -> None:
        """End sequences idle longer than max_sequence_idle_microseconds, freeing slots."""
        idle_ns = self.sb.max_idle_us * 1000
        while True:
            due = self.table.next_idle_check_ns(idle_ns)
            wait_ns = idle_ns if due is None else due - time.perf_counter_ns()
            await asyncio.sleep(max(wait_ns, 1_000_000) / 1e9)
            for slot in self.table.expire(time.perf_counter_ns(), idle_ns):
                self._settle(slot)

    def _check_idle(self) -> None:
        if not self.table.pending() and self.busy == 0:
            self._idle.set()

    async def close(self, drain_timeout_s: float = 30.0) -> None:
        """Finish queued and running requests (up to the timeout), then free the instances.
        Sequences still open lose their state."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), drain_timeout_s)
        self.closed = True
        error = Unavailable(f"model '{self.config.name}' was unloaded")
        for p in self.table.clear():
            if not p.future.done():
                p.future.set_exception(error)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for ex in self._executors:
            await asyncio.to_thread(ex.shutdown, wait=True)
        for inst in self.instances:
            inst.close()
        self.instances = []


def _trace_batch(batch: SequenceBatch, model: str, version: str) -> Any:
    traced = [(p.trace, p.wall_ns) for p in batch.members if p.trace is not None]
    if not traced:
        return None
    now = time.time_ns()
    for trace, enqueued in traced:
        trace.child("queue", enqueued).end(now)
    return traced[0][0].tracing.batch_span([t for t, _ in traced], model, version,
                                           len(batch.members))
