"""Per model-version scheduler: a bounded queue, a dynamic batcher and one worker per instance.

A free instance takes what is queued at once, so a lone request never waits. Requests that
arrive while instances are busy accumulate and leave together as one batch along the first
dimension (only requests whose non-batch shapes agree are merged, in arrival order). When
``max_queue_delay_microseconds`` is set and requests have been overlapping recently (one
arrived while others were queued or running, within CONTENTION_WINDOW_NS), a batch below its
target size waits up to that delay for more; a sequential client never sees the delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from modelport.errors import BackendError, QueueFull, RequestTimedOut, Unavailable
from modelport.repository.config import ModelConfig, QueuePolicy
from modelport.runtime.base import Instance
from modelport.serve.stats import ModelStats
from modelport.serve.tracing import RequestTrace
from modelport.serve.validate import Checked

CONTENTION_WINDOW_NS = 1_000_000_000
INLINE_BELOW_NS = int(os.environ.get("MODELPORT_INLINE_BELOW_US", "150")) * 1000


class _Pending:
    __slots__ = ("checked", "enqueued_ns", "future", "timer", "trace", "wall_ns")

    def __init__(self, checked: Checked, future: asyncio.Future[list[np.ndarray]],
                 trace: RequestTrace | None) -> None:
        self.checked = checked
        self.future = future
        self.enqueued_ns = time.perf_counter_ns()
        self.timer: asyncio.TimerHandle | None = None
        self.trace = trace
        self.wall_ns = time.time_ns() if trace is not None else 0


class Scheduler:
    """Queues checked requests for one model version and runs them on its instances."""

    def __init__(self, config: ModelConfig, instances: list[Instance], stats: ModelStats) -> None:
        self.config = config
        self.instances = instances
        self.stats = stats
        db = config.dynamic_batching
        self.max_batch = config.max_batch_size if (config.batching and db) else 0
        self.delay_ns = db.max_queue_delay_us * 1000 if db else 0
        self.preferred = db.preferred_batch_size if db else ()
        self.target = max(self.preferred) if self.preferred else self.max_batch
        self.policy = db.queue if db else QueuePolicy()
        self.queue: deque[_Pending] = deque()
        self.queued_items = 0
        self.busy = 0
        self.closed = False
        self._contended_ns = -CONTENTION_WINDOW_NS
        self._compute_ns: dict[int, float] = {}  # batch size -> recent execution time
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._executors = [
            ThreadPoolExecutor(1, thread_name_prefix=f"mp-{config.name}-{i}")
            for i in range(len(instances))
        ]
        self._workers = [
            self._loop.create_task(self._work(inst, ex))
            for inst, ex in zip(instances, self._executors, strict=False)
        ]

    @property
    def pending(self) -> int:
        """Requests queued or executing."""
        return len(self.queue) + self.busy

    async def submit(self, checked: Checked, timeout_us: int = 0,
                     trace: RequestTrace | None = None) -> list[np.ndarray]:
        """Queue a request and wait for its outputs (in ``checked.outputs`` order).

        Raises:
            QueueFull: the queue already holds max_queue_size requests.
            RequestTimedOut: the request waited longer than its timeout.
            BackendError: the runtime failed on the batch.
        """
        if self.closed:
            raise Unavailable(f"model '{self.config.name}' is shutting down")
        limit = self.policy.max_queue_size
        if limit and len(self.queue) >= limit:
            self.stats.rejected_queue_full += 1
            raise QueueFull(
                f"exceeds maximum queue size: model '{self.config.name}' already has {limit} "
                "requests queued; retry later or raise max_queue_size"
            )
        pending = _Pending(checked, self._loop.create_future(), trace)
        if self.busy or self.queue:
            self._contended_ns = pending.enqueued_ns
        timeout_us = timeout_us if (timeout_us and self.policy.allow_timeout_override) else (
            self.policy.default_timeout_us
        )
        if timeout_us and self.policy.timeout_action == "REJECT":
            pending.timer = self._loop.call_later(timeout_us / 1e6, self._expire, pending)
        self.queue.append(pending)
        self.queued_items += checked.batch_size
        self._idle.clear()
        self._wakeup.set()
        try:
            return await pending.future
        except asyncio.CancelledError:  # the client left: free its place in the queue now
            self._forget(pending)
            raise

    def _forget(self, pending: _Pending) -> None:
        if pending.timer is not None:
            pending.timer.cancel()
        try:
            self.queue.remove(pending)
        except ValueError:
            return  # already taken into a batch
        self.queued_items -= pending.checked.batch_size
        self._check_idle()

    def _expire(self, pending: _Pending) -> None:
        try:
            self.queue.remove(pending)
        except ValueError:
            return  # already taken by a worker
        self.queued_items -= pending.checked.batch_size
        self.stats.timed_out += 1
        if not pending.future.done():
            waited_us = (time.perf_counter_ns() - pending.enqueued_ns) // 1000
            pending.future.set_exception(
                RequestTimedOut(f"request timeout expired after {waited_us} us in the queue "
                                f"of model '{self.config.name}'")
            )
        self._check_idle()

    async def _work(self, instance: Instance, executor: ThreadPoolExecutor) -> None:
        while True:
            while not self.queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            if self.delay_ns and self.queued_items < self.target and (
                    time.perf_counter_ns() - self._contended_ns < CONTENTION_WINDOW_NS):
                await self._linger()
            batch = self._take()
            if not batch:
                self._check_idle()
                continue
            self.busy += 1
            try:
                await self._execute(instance, executor, batch)
            finally:
                self.busy -= 1
                self._check_idle()

    async def _linger(self) -> None:
        """Wait, at most until the oldest request's delay ends, for a fuller batch."""
        deadline = self.queue[0].enqueued_ns + self.delay_ns
        while self.queue and self.queued_items < self.target:
            remaining = deadline - time.perf_counter_ns()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining / 1e9)
            except asyncio.TimeoutError:
                return

    def _take(self) -> list[_Pending]:
        batch: list[_Pending] = []
        total = 0
        while self.queue:
            head = self.queue[0]
            if head.future.done():  # cancelled by its client
                self._pop()
                continue
            if batch and (
                not self.max_batch
                or head.checked.signature != batch[0].checked.signature
                or total + head.checked.batch_size > self.max_batch
            ):
                break
            batch.append(self._pop())
            total += head.checked.batch_size
            if not self.max_batch:
                break
        if self.preferred and len(batch) > 1 and total not in self.preferred:
            batch = self._cut_to_preferred(batch)
        for p in batch:
            if p.timer is not None:
                p.timer.cancel()
        return batch

    def _pop(self) -> _Pending:
        p = self.queue.popleft()
        self.queued_items -= p.checked.batch_size
        return p

    def _cut_to_preferred(self, batch: list[_Pending]) -> list[_Pending]:
        sizes = np.cumsum([p.checked.batch_size for p in batch])
        cuts = [i for i, s in enumerate(sizes) if int(s) in self.preferred]
        if not cuts:
            return batch
        keep = cuts[-1] + 1
        for p in reversed(batch[keep:]):
            self.queue.appendleft(p)
            self.queued_items += p.checked.batch_size
        return batch[:keep]

    async def _execute(self, instance: Instance, executor: ThreadPoolExecutor,
                       batch: list[_Pending]) -> None:
        start = time.perf_counter_ns()
        for p in batch:
            self.stats.record_queue(start - p.enqueued_ns)
        span = self._trace_batch(batch)
        names = _union_outputs(self.config, batch)
        feed = _merge_inputs(batch)
        total = sum(p.checked.batch_size for p in batch)
        ready = time.perf_counter_ns()
        try:
            if self._inline(total):
                results = instance.run(feed, names)
            else:
                results = await self._loop.run_in_executor(executor, instance.run, feed, names)
            self._learn(total, time.perf_counter_ns() - ready)
            if self.max_batch:
                _check_batch_dim(results, names, total)
        except asyncio.CancelledError:  # close() gave up waiting: answer, never leave hanging
            gone = Unavailable(f"model '{self.config.name}' was unloaded while the request ran")
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(gone)
            raise
        except Exception as exc:
            error = exc if isinstance(exc, BackendError) else BackendError(
                f"model '{self.config.name}' failed: {type(exc).__name__}: {exc}")
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(error)
            if span is not None:
                span.set_attribute("error", str(error))
                span.end()
            return
        done = time.perf_counter_ns()
        index = {n: i for i, n in enumerate(names)}
        offset = 0
        for p in batch:
            size = p.checked.batch_size
            if self.max_batch:
                outs = [results[index[n]][offset:offset + size] for n in p.checked.outputs]
            else:
                outs = [results[index[n]] for n in p.checked.outputs]
            offset += size
            if not p.future.done():
                p.future.set_result(outs)
        self.stats.record_execution(total, len(batch), ready - start, done - ready,
                                    time.perf_counter_ns() - done)
        if span is not None:
            span.end()

    def _trace_batch(self, batch: list[_Pending]) -> Any:
        traced = [(p.trace, p.wall_ns) for p in batch if p.trace is not None]
        if not traced:
            return None
        now = time.time_ns()
        for trace, enqueued in traced:
            trace.child("queue", enqueued).end(now)
        tracing = traced[0][0].tracing
        return tracing.batch_span([t for t, _ in traced], self.config.name,
                                  self.stats.version,
                                  sum(p.checked.batch_size for p in batch))

    def _inline(self, batch_size: int) -> bool:
        """Run on the event loop itself when batches of this size are so quick that handing
        them to a thread and back costs more than they do (one instance only)."""
        if INLINE_BELOW_NS <= 0 or len(self.instances) != 1:
            return False
        recent = self._compute_ns.get(batch_size)
        return recent is not None and recent < INLINE_BELOW_NS

    def _learn(self, batch_size: int, ns: int) -> None:
        """Moving average of execution time per batch size (a few samples settle it)."""
        previous = self._compute_ns.get(batch_size)
        self._compute_ns[batch_size] = ns if previous is None else 0.8 * previous + 0.2 * ns

    def _check_idle(self) -> None:
        if not self.queue and self.busy == 0:
            self._idle.set()

    async def close(self, drain_timeout_s: float = 30.0) -> None:
        """Finish queued and running work (up to the timeout), then free the instances."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), drain_timeout_s)
        self.closed = True
        for p in list(self.queue):
            if not p.future.done():
                p.future.set_exception(Unavailable(f"model '{self.config.name}' was unloaded"))
        self.queue.clear()
        for w in self._workers:
            w.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []  # cancelled tasks keep tracebacks -> frames -> batches alive
        for ex in self._executors:
            await asyncio.to_thread(ex.shutdown, wait=True)
        for inst in self.instances:
            inst.close()
        self.instances = []


def _union_outputs(config: ModelConfig, batch: list[_Pending]) -> list[str]:
    if len(batch) == 1:
        return list(batch[0].checked.outputs)
    wanted = {n for p in batch for n in p.checked.outputs}
    return [s.name for s in config.outputs if s.name in wanted]


def _merge_inputs(batch: list[_Pending]) -> dict[str, Any]:
    if len(batch) == 1:
        return batch[0].checked.feed
    names = batch[0].checked.feed.keys()
    return {n: np.concatenate([p.checked.feed[n] for p in batch]) for n in names}


def _check_batch_dim(results: list[np.ndarray], names: list[str], total: int) -> None:
    for name, arr in zip(names, results, strict=False):
        if arr.ndim == 0 or arr.shape[0] != total:
            raise BackendError(
                f"output '{name}' has shape {list(arr.shape)}; expected a first (batch) "
                f"dimension of {total}"
            )
