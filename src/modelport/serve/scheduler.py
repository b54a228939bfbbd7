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
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import numpy as np

from modelport.errors import (
    BackendError,
    ComputeFailed,
    InferenceError,
    InvalidInput,
    QueueFull,
    RequestTimedOut,
    Unavailable,
)
from modelport.repository.config import ModelConfig, QueuePolicy
from modelport.runtime.base import Instance, Request, RequestsInstance, ResponseSink
from modelport.serve.batch import Batch, Pending
from modelport.serve.faults import internal_error
from modelport.serve.queue import RequestQueue
from modelport.serve.sequences.params import SequenceParams
from modelport.serve.stats import ModelStats
from modelport.serve.tracing import RequestTrace
from modelport.serve.validate import Checked

log = logging.getLogger("modelport.scheduler")

CONTENTION_WINDOW_NS = 1_000_000_000


class Scheduler:
    """Queues checked requests for one model version and runs them on its instances.

    ``start()`` spawns one worker per instance; ``close()`` drains and frees them.
    """

    def __init__(self, config: ModelConfig, instances: list[Instance], stats: ModelStats,
                 proven: bool = False, inline_below_us: int = 150) -> None:
        self.config = config
        # Whether the model has computed something (warm-up or a request): only then can a
        # kernel failure on one request's values be blamed on that request.
        self.proven = proven
        self.instances = instances
        # Instances that take a batch's requests one by one get them unmerged (Python models).
        self.separate = bool(instances) and all(hasattr(i, "run_requests") for i in instances)
        self.stats = stats
        self.inline_below_ns = inline_below_us * 1000
        db = config.dynamic_batching
        self.max_batch = config.max_batch_size if (config.batching and db) else 0
        self.delay_ns = db.max_queue_delay_us * 1000 if db else 0
        preferred = db.preferred_batch_size if db else ()
        self.target = max(preferred) if preferred else self.max_batch
        self.policy = db.queue if db else QueuePolicy()
        self.queue = RequestQueue(self.max_batch, preferred)
        self.busy = 0
        self.closed = False
        self._contended_ns = -CONTENTION_WINDOW_NS
        self._compute_ns: dict[int, float] = {}  # batch size -> recent execution time
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._idle_workers = 0  # workers waiting for a request (not lingering, not running)
        self._idle = asyncio.Event()
        self._idle.set()
        self._executors: list[ThreadPoolExecutor] = []
        self._workers: list[asyncio.Task[None]] = []

    def start(self) -> Scheduler:
        """Spawn one worker (and its thread) per instance; returns the scheduler."""
        self._executors = [ThreadPoolExecutor(1, thread_name_prefix=f"mp-{self.config.name}-{i}")
                           for i in range(len(self.instances))]
        self._workers = [self._loop.create_task(self._work(inst, ex))
                         for inst, ex in zip(self.instances, self._executors, strict=True)]
        return self

    @property
    def pending(self) -> int:
        """Requests queued or executing."""
        return len(self.queue) + self.busy

    async def submit(self, checked: Checked, timeout_us: int = 0,
                     trace: RequestTrace | None = None,
                     sequence: SequenceParams | None = None,
                     sink: ResponseSink | None = None) -> list[np.ndarray]:
        """Queue a request and wait for its outputs (in ``checked.outputs`` order). A model
        without sequence batching ignores ``sequence``, as Triton does; a decoupled model's
        request gives [] once executed and answers through ``sink``.

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
        pending = Pending(checked, self._loop.create_future(), trace, sink)
        if self.busy or len(self.queue):
            self._contended_ns = pending.enqueued_ns
        timeout_us = self.policy.timeout_for(timeout_us)
        if timeout_us and self.policy.timeout_action == "REJECT":
            pending.timer = self._loop.call_later(timeout_us / 1e6, self._expire, pending)
        self.queue.push(pending)
        self._idle.clear()
        if self._idle_workers or self.queue.items >= self.target:
            self._wakeup.set()  # a lingering worker wakes only for a full batch
        try:
            return await pending.future
        except asyncio.CancelledError:  # the client left: free its place in the queue now
            self._leave(pending)
            raise

    def _leave(self, pending: Pending) -> bool:
        """Take a request out of the queue (its client left, or it timed out); returns
        whether it was still queued."""
        if pending.timer is not None:
            pending.timer.cancel()
        if not self.queue.remove(pending):
            return False  # already taken into a batch
        self._check_idle()
        return True

    def _expire(self, pending: Pending) -> None:
        if not self._leave(pending):
            return
        self.stats.timed_out += 1
        if not pending.future.done():
            waited_us = (time.perf_counter_ns() - pending.enqueued_ns) // 1000
            pending.future.set_exception(RequestTimedOut(
                f"request timeout expired after {waited_us} us in the queue of model "
                f"'{self.config.name}'"))

    async def _work(self, instance: Instance, executor: ThreadPoolExecutor) -> None:
        while True:
            while not len(self.queue):
                self._wakeup.clear()
                self._idle_workers += 1
                try:
                    await self._wakeup.wait()
                finally:
                    self._idle_workers -= 1
            if self.delay_ns and self.queue.items < self.target and (
                    time.perf_counter_ns() - self._contended_ns < CONTENTION_WINDOW_NS):
                await self._linger()
            batch = self.queue.take()
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
        deadline = self.queue.oldest_ns() + self.delay_ns
        while len(self.queue) and self.queue.items < self.target:
            remaining = deadline - time.perf_counter_ns()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining / 1e9)
            except asyncio.TimeoutError:
                return

    async def _execute(self, instance: Instance, executor: ThreadPoolExecutor,
                       members: list[Pending]) -> None:
        start = time.perf_counter_ns()
        for p in members:
            self.stats.record_queue(start - p.enqueued_ns)
        span = self._trace_batch(members)
        try:
            if self.separate:
                await self._run_requests(cast(RequestsInstance, instance), executor, members,
                                         start)
            else:
                await self._run_isolating(instance, executor, Batch(members, self.config,
                                                                    bool(self.max_batch)), start)
        except asyncio.CancelledError:  # close() gave up waiting: answer, never leave hanging
            Batch(members, self.config, False).fail(
                Unavailable(f"model '{self.config.name}' was unloaded while the request ran"))
            raise
        finally:
            if span is not None:
                span.end()

    async def _run_isolating(self, instance: Instance, executor: ThreadPoolExecutor,
                             batch: Batch, start: int) -> None:
        """Run ``batch``; if it fails, run its halves apart so only the culprits fail."""
        names = batch.outputs()
        feed = batch.feed()
        ready = time.perf_counter_ns()
        try:
            if self._inline(batch.size):
                results, compute_ns = _timed_run(instance, feed, names)
            else:
                results, compute_ns = await self._loop.run_in_executor(
                    executor, _timed_run, instance, feed, names)
            self._learn(batch.size, compute_ns)
            batch.deliver(results, names)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if len(batch) > 1:
                for half in batch.halves():
                    await self._run_isolating(instance, executor, half, time.perf_counter_ns())
                return
            batch.fail(self._blame(exc))
            return
        self.proven = True
        done = time.perf_counter_ns()
        self.stats.record_execution(batch.size, len(batch), ready - start, done - ready,
                                    time.perf_counter_ns() - done)

    async def _run_requests(self, instance: RequestsInstance, executor: ThreadPoolExecutor,
                            members: list[Pending], start: int) -> None:
        """Hand the members to the instance as separate requests; each gets its own outcome."""
        requests = [Request(p.checked.feed, p.checked.outputs, p.checked.request_id,
                            p.checked.parameters, p.sink) for p in members]
        ready = time.perf_counter_ns()
        try:
            outcomes = await self._loop.run_in_executor(executor, instance.run_requests,
                                                        requests)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            Batch(members, self.config, False).fail(self._blame(exc))
            return
        done = time.perf_counter_ns()
        for p, outcome in zip(members, outcomes, strict=True):
            if p.future.done():
                continue
            if isinstance(outcome, Exception):
                p.future.set_exception(
                    outcome if isinstance(outcome, InferenceError) else self._blame(outcome))
            else:
                p.future.set_result(outcome)
        self.stats.record_execution(sum(p.size for p in members), len(members), ready - start,
                                    done - ready, time.perf_counter_ns() - done)

    def _blame(self, exc: Exception) -> Exception:
        """The error for a request that failed alone: its own fault (400) when the runtime
        rejected its values on a model that has computed before, else the server's (500)."""
        if isinstance(exc, InvalidInput):
            return exc
        if isinstance(exc, ComputeFailed) and self.proven:
            return InvalidInput(str(exc))
        if isinstance(exc, BackendError):
            return exc
        # not an error of ours: the client gets an id, the log the exception (a backend bug)
        where = f"model '{self.config.name}'"
        return BackendError(f"{where} failed: {internal_error(log, where, exc)}")

    def _trace_batch(self, batch: list[Pending]) -> Any:
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
        if self.inline_below_ns <= 0 or len(self.instances) != 1:
            return False
        recent = self._compute_ns.get(batch_size)
        return recent is not None and recent < self.inline_below_ns

    def _learn(self, batch_size: int, ns: int) -> None:
        """Moving average of the model's own execution time per batch size (a few samples
        settle it). Measured around ``run`` alone: a time that included the hand-off to the
        instance's thread and the wait for the event loop would grow with the load and keep
        a quick model off the event loop exactly when inlining pays most."""
        previous = self._compute_ns.get(batch_size)
        self._compute_ns[batch_size] = ns if previous is None else 0.8 * previous + 0.2 * ns

    def _check_idle(self) -> None:
        if not len(self.queue) and self.busy == 0:
            self._idle.set()

    async def close(self, drain_timeout_s: float = 30.0) -> None:
        """Finish queued and running work (up to the timeout), then free the instances."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), drain_timeout_s)
        self.closed = True
        Batch(self.queue.clear(), self.config, False).fail(
            Unavailable(f"model '{self.config.name}' was unloaded"))
        for w in self._workers:
            w.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []  # cancelled tasks keep tracebacks -> frames -> batches alive
        for ex in self._executors:
            await asyncio.to_thread(ex.shutdown, wait=True)
        for inst in self.instances:
            inst.close()
        self.instances = []


def _timed_run(instance: Instance, feed: dict[str, Any],
               names: list[str]) -> tuple[list[np.ndarray], int]:
    """Run a batch and measure the run alone (on whichever thread runs it)."""
    started = time.perf_counter_ns()
    results = instance.run(feed, names)
    return results, time.perf_counter_ns() - started
