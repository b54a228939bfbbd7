"""The dynamic batcher and instance workers, driven with the in-package fake backend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelport.errors import BackendError, InvalidInput, QueueFull, RequestTimedOut, Unavailable
from modelport.repository.config import (
    DynamicBatching,
    InstanceGroup,
    ModelConfig,
    QueuePolicy,
    TensorSpec,
)
from modelport.runtime import RuntimeSettings
from modelport.runtime.fake import FakeBackend, FakeInstance
from modelport.serve.http.answers import statistics
from modelport.serve.scheduler import Scheduler
from modelport.serve.stats import ModelStats
from modelport.serve.types import InferRequest, InputTensor
from modelport.serve.validate import Checked, check

DELAY_MS = 100  # how long the fake instance takes per batch


def _config(max_batch_size: int = 8, batching: bool = True, delay_ms: int = DELAY_MS,
            instances: int = 1, preferred: tuple[int, ...] = (), queue_delay_us: int = 0,
            max_queue_size: int = 0, timeout_us: int = 0, fail_on: float | None = None
            ) -> ModelConfig:
    parameters = {"delay_ms": str(delay_ms)}
    if fail_on is not None:
        parameters["fail_on"] = str(fail_on)
    return ModelConfig(
        name="fake",
        backend="fake",
        max_batch_size=max_batch_size if batching else 0,
        inputs=(TensorSpec("x", "FP32", (-1,)),),
        outputs=(TensorSpec("y", "FP32", (-1,)),),
        dynamic_batching=DynamicBatching(
            preferred_batch_size=preferred, max_queue_delay_us=queue_delay_us,
            queue=QueuePolicy(max_queue_size=max_queue_size, default_timeout_us=timeout_us),
        ) if batching else None,
        instance_groups=(InstanceGroup(count=instances),),
        parameters=parameters,
    )


def _checked(config: ModelConfig, value: float, batch: int = 1, width: int = 2) -> Checked:
    """A request whose rows are ``value``, ``value + 1``...; ``width`` is its non-batch dim."""
    rows = np.arange(batch, dtype=np.float32)[:, None] + np.full((batch, width), value,
                                                                  dtype=np.float32)
    data = rows if config.batching else rows[0]
    return check(config, InferRequest("fake", inputs=[
        InputTensor("x", "FP32", list(data.shape), data)]))


Scenario = Callable[[Scheduler, list[FakeInstance]], Awaitable[Any]]


def _run(config: ModelConfig, scenario: Scenario) -> Any:
    """Run ``scenario`` against a fresh scheduler on fake instances, closing it afterwards."""
    async def main() -> Any:
        backend = FakeBackend()
        instances = [backend.load(Path("unused"), config, i, RuntimeSettings())
                     for i in range(config.instance_count)]
        scheduler = Scheduler(config, list(instances), ModelStats(config.name, "1")).start()
        try:
            return await asyncio.wait_for(scenario(scheduler, instances), 10)  # type: ignore[arg-type]
        finally:
            if not scheduler.closed:
                await scheduler.close(5)
    return asyncio.run(main())


async def _until_busy(scheduler: Scheduler, busy: int = 1) -> None:
    """Wait until ``busy`` batches are executing (the instances are occupied)."""
    while scheduler.busy < busy:
        await asyncio.sleep(0.001)


def _submit(scheduler: Scheduler, checked: Checked, timeout_us: int = 0
            ) -> asyncio.Task[list[np.ndarray]]:
    return asyncio.ensure_future(scheduler.submit(checked, timeout_us))


# --- batching ------------------------------------------------------------------------------------


def test_lone_request_runs_at_once_despite_queue_delay() -> None:
    """One request on an idle scheduler is not held back by max_queue_delay."""
    config = _config(delay_ms=0, queue_delay_us=2_000_000)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> float:
        started = time.perf_counter()
        (out,) = await scheduler.submit(_checked(config, 3.0))
        assert out.tolist() == [[3.0, 3.0]]
        return time.perf_counter() - started

    assert _run(config, scenario) < 0.5


def test_requests_arriving_while_busy_are_merged() -> None:
    """Requests queued behind a running batch leave together, each getting its own rows back."""
    config = _config()

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> None:
        first = _submit(scheduler, _checked(config, 0.0))
        await _until_busy(scheduler)
        later = [_submit(scheduler, _checked(config, float(v), batch=b))
                 for v, b in ((10, 1), (20, 2), (30, 1))]
        results = await asyncio.gather(first, *later)
        assert instances[0].batches == [1, 4]
        assert [r[0].tolist() for r in results] == [
            [[0.0, 0.0]], [[10.0, 10.0]], [[20.0, 20.0], [21.0, 21.0]], [[30.0, 30.0]]]

    _run(config, scenario)


def test_lingering_batch_leaves_once_full() -> None:
    """A worker holding a partial batch for max_queue_delay sends it the moment it fills up
    (it is woken for a full batch only, so this pins that the wake-up comes)."""
    config = _config(max_batch_size=4, delay_ms=20, queue_delay_us=300_000)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> None:
        first = _submit(scheduler, _checked(config, 0.0))
        await _until_busy(scheduler)
        second = _submit(scheduler, _checked(config, 1.0))  # contended: the worker lingers
        await first
        await asyncio.sleep(0.02)  # the worker now holds one row of four
        started = time.perf_counter()
        rest = [_submit(scheduler, _checked(config, float(v))) for v in (2, 3, 4)]
        await asyncio.gather(second, *rest)
        assert time.perf_counter() - started < 0.2  # full at once, not 300 ms later
        assert instances[0].batches == [1, 4]

    _run(config, scenario)


def test_requests_with_other_shapes_are_not_merged() -> None:
    """Only requests with equal non-batch shapes share a batch; arrival order is kept."""
    config = _config(delay_ms=30)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> None:
        first = _submit(scheduler, _checked(config, 0.0))
        await _until_busy(scheduler)
        widths = [3, 3, 4, 3]
        later = [_submit(scheduler, _checked(config, float(i), width=w))
                 for i, w in enumerate(widths)]
        results = await asyncio.gather(first, *later)
        assert instances[0].batches == [1, 2, 1, 1]
        assert [r[0].shape for r in results[1:]] == [(1, w) for w in widths]

    _run(config, scenario)


def test_batches_never_exceed_max_batch_size() -> None:
    """Requests that would overflow max_batch_size wait for the next batch."""
    config = _config(max_batch_size=4, delay_ms=30)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> None:
        first = _submit(scheduler, _checked(config, 0.0))
        await _until_busy(scheduler)
        later = [_submit(scheduler, _checked(config, 1.0, batch=b)) for b in (3, 2, 2)]
        await asyncio.gather(first, *later)
        assert instances[0].batches == [1, 3, 4]

    _run(config, scenario)


@pytest.mark.parametrize(("preferred", "queued", "batches"),
                         [((2,), 3, [1, 2, 1]), ((2, 4), 5, [1, 4, 1]), ((4,), 3, [1, 3])])
def test_preferred_batch_size_cuts_the_batch(preferred: tuple[int, ...], queued: int,
                                             batches: list[int]) -> None:
    """A batch is cut to the largest preferred size it reaches; the rest goes next."""
    config = _config(preferred=preferred, delay_ms=30)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> None:
        first = _submit(scheduler, _checked(config, 0.0))
        await _until_busy(scheduler)
        later = [_submit(scheduler, _checked(config, float(i))) for i in range(queued)]
        results = await asyncio.gather(first, *later)
        assert instances[0].batches == batches
        assert [r[0][0, 0] for r in results[1:]] == list(range(queued))

    _run(config, scenario)


def test_unbatched_model_runs_requests_one_by_one() -> None:
    """Without dynamic batching each request is its own execution."""
    config = _config(batching=False, delay_ms=20)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> None:
        results = await asyncio.gather(*(scheduler.submit(_checked(config, float(i)))
                                         for i in range(3)))
        assert instances[0].batches == [2, 2, 2]  # the fake records the first dim: width 2
        assert [r[0].tolist() for r in results] == [[i, i] for i in range(3)]

    _run(config, scenario)


# --- queue policy --------------------------------------------------------------------------------


def test_full_queue_rejects_at_once_while_accepted_requests_complete() -> None:
    """Beyond max_queue_size a request fails immediately with QueueFull; queued ones still run."""
    config = _config(max_queue_size=2)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> None:
        running = _submit(scheduler, _checked(config, 0.0))
        await _until_busy(scheduler)
        queued = [_submit(scheduler, _checked(config, float(v))) for v in (1, 2)]
        await asyncio.sleep(0)
        started = time.perf_counter()
        with pytest.raises(QueueFull, match="maximum queue size"):
            await scheduler.submit(_checked(config, 3.0))
        assert time.perf_counter() - started < DELAY_MS / 1000 / 2
        results = await asyncio.gather(running, *queued)
        assert [r[0][0, 0] for r in results] == [0.0, 1.0, 2.0]
        assert scheduler.stats.rejected_queue_full == 1

    _run(config, scenario)


def test_request_timing_out_in_queue() -> None:
    """A request still queued after default_timeout fails with RequestTimedOut; others finish."""
    config = _config(timeout_us=20_000)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> None:
        running = _submit(scheduler, _checked(config, 0.0))
        await _until_busy(scheduler)
        with pytest.raises(RequestTimedOut, match="in the queue of model 'fake'"):
            await scheduler.submit(_checked(config, 1.0))
        assert (await running)[0].tolist() == [[0.0, 0.0]]
        assert instances[0].batches == [1]
        assert scheduler.stats.timed_out == 1

    _run(config, scenario)


def test_request_timeout_overrides_default() -> None:
    """A per-request timeout replaces the queue policy's default."""
    config = _config()

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> None:
        running = _submit(scheduler, _checked(config, 0.0))
        await _until_busy(scheduler)
        started = time.perf_counter()
        with pytest.raises(RequestTimedOut):
            await scheduler.submit(_checked(config, 1.0), timeout_us=10_000)
        assert time.perf_counter() - started < DELAY_MS / 1000
        await running

    _run(config, scenario)


# --- failures ------------------------------------------------------------------------------------


def test_failing_batch_fails_only_its_requests() -> None:
    """A merged batch that raises is split: only the request with the bad value fails, its
    neighbour gets its answer, and the next batch runs normally."""
    config = _config(fail_on=7.0, delay_ms=30)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> None:
        ok_first = _submit(scheduler, _checked(config, 1.0))
        await _until_busy(scheduler)
        mixed = [_submit(scheduler, _checked(config, v)) for v in (7.0, 2.0)]
        outcomes = await asyncio.gather(ok_first, *mixed, return_exceptions=True)
        assert outcomes[0][0].tolist() == [[1.0, 1.0]]
        assert isinstance(outcomes[1], InvalidInput)  # the model computed [1.0] before
        assert "fail on" in str(outcomes[1])
        assert outcomes[2][0].tolist() == [[2.0, 2.0]]
        (after,) = await scheduler.submit(_checked(config, 3.0))
        assert after.tolist() == [[3.0, 3.0]]
        assert instances[0].batches == [1, 2, 1, 1, 1]

    _run(config, scenario)


def test_bisection_isolates_one_bad_request_among_many() -> None:
    """Seven good requests and one bad, merged into one batch: seven answers, one failure, and
    the failure costs a logarithmic number of extra runs, not one per request."""
    config = _config(fail_on=7.0, delay_ms=20)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> None:
        first = _submit(scheduler, _checked(config, 100.0))
        await _until_busy(scheduler)
        values = [1.0, 2.0, 3.0, 7.0, 4.0, 5.0, 6.0, 8.0]
        outcomes = await asyncio.gather(first, *(_submit(scheduler, _checked(config, v))
                                                 for v in values), return_exceptions=True)
        failed = [v for v, o in zip(values, outcomes[1:], strict=True)
                  if isinstance(o, Exception)]
        assert failed == [7.0]
        for v, o in zip(values, outcomes[1:], strict=True):
            if v != 7.0:
                assert o[0].tolist() == [[v, v]]
        # depth first: the merged 8, its failing half of 4, that half's halves (one fails),
        # the failing pair's singles, then the good half of 4
        assert instances[0].batches[1:] == [8, 4, 2, 2, 1, 1, 4]

    _run(config, scenario)


def test_lone_failure_is_the_requests_fault_once_the_model_has_computed() -> None:
    """A kernel failure on one request's values is InvalidInput (400) on a model that has
    computed before, and stays BackendError (500) on one that never has."""
    config = _config(fail_on=7.0, delay_ms=0)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> None:
        with pytest.raises(BackendError):
            await scheduler.submit(_checked(config, 7.0))  # nothing computed yet
        await scheduler.submit(_checked(config, 1.0))
        with pytest.raises(InvalidInput, match="cannot compute this request: input 'x'"):
            await scheduler.submit(_checked(config, 7.0))

    _run(config, scenario)


def test_failures_and_executions_are_counted_once() -> None:
    """After a split, statistics count only the executions that ran through, and the
    inference count holds only the requests that got answers."""
    config = _config(fail_on=7.0, delay_ms=20)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> dict[str, Any]:
        first = _submit(scheduler, _checked(config, 100.0))
        await _until_busy(scheduler)
        await asyncio.gather(first, *(_submit(scheduler, _checked(config, v))
                                      for v in (1.0, 7.0, 2.0, 3.0)), return_exceptions=True)
        return statistics([scheduler.stats])["model_stats"][0]

    stats = _run(config, scenario)
    assert stats["inference_count"] == 4
    # batches that ran through: [100], [1], [2, 3] (the merged 4 and [1, 7] and [7] failed)
    assert stats["execution_count"] == 3


# --- instances -----------------------------------------------------------------------------------


def test_two_instances_run_batches_concurrently() -> None:
    """With two instances two requests take about one delay, not two."""
    config = _config(batching=False, instances=2, delay_ms=150)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> float:
        started = time.perf_counter()
        await asyncio.gather(*(scheduler.submit(_checked(config, float(i))) for i in range(2)))
        elapsed = time.perf_counter() - started
        assert [len(i.batches) for i in instances] == [1, 1]
        return elapsed

    assert _run(config, scenario) < 0.15 * 1.7


def test_second_instance_takes_work_while_first_is_busy() -> None:
    """A batching model with two instances does not wait for the busy one."""
    config = _config(instances=2, delay_ms=150)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> float:
        started = time.perf_counter()
        first = _submit(scheduler, _checked(config, 0.0))
        await _until_busy(scheduler)
        second = _submit(scheduler, _checked(config, 1.0))
        await asyncio.gather(first, second)
        assert sorted(len(i.batches) for i in instances) == [1, 1]
        return time.perf_counter() - started

    assert _run(config, scenario) < 0.15 * 1.7


# --- closing -------------------------------------------------------------------------------------


def test_close_drains_in_flight_and_queued_work_before_freeing() -> None:
    """close() lets running and queued requests finish, then closes the instances."""
    config = _config()

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> None:
        closed_with: list[bool] = []
        running = _submit(scheduler, _checked(config, 0.0))
        await _until_busy(scheduler)
        queued = _submit(scheduler, _checked(config, 1.0))
        await asyncio.sleep(0)
        instances[0].close = lambda: closed_with.append(running.done() and queued.done())
        await scheduler.close(5)
        assert closed_with == [True]
        assert (await running)[0].tolist() == [[0.0, 0.0]]
        assert (await queued)[0].tolist() == [[1.0, 1.0]]
        assert scheduler.instances == []
        with pytest.raises(Unavailable, match="shutting down"):
            await scheduler.submit(_checked(config, 2.0))

    _run(config, scenario)


def test_close_after_drain_timeout_rejects_queued_requests() -> None:
    """Requests still queued when the drain timeout ends fail with Unavailable."""
    config = _config(delay_ms=200)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> None:
        running = _submit(scheduler, _checked(config, 0.0))
        await _until_busy(scheduler)
        queued = _submit(scheduler, _checked(config, 1.0))
        await asyncio.sleep(0)
        await scheduler.close(0.02)
        with pytest.raises(Unavailable, match="was unloaded"):
            await queued
        running.cancel()

    _run(config, scenario)


def test_close_after_drain_timeout_settles_running_requests() -> None:
    """A request whose batch is still running when the drain timeout ends gets an answer."""
    config = _config(delay_ms=200)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> None:
        running = _submit(scheduler, _checked(config, 0.0))
        await _until_busy(scheduler)
        await scheduler.close(0.02)
        done, _ = await asyncio.wait([running], timeout=1)
        assert running in done, "the in-flight request never completed"
        running.cancel()

    _run(config, scenario)


# --- statistics ----------------------------------------------------------------------------------


def test_statistics_count_inferences_and_executions() -> None:
    """inference_count sums batch sizes, execution_count counts batches, batch_stats per size."""
    config = _config(delay_ms=30)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> dict[str, Any]:
        first = _submit(scheduler, _checked(config, 0.0, batch=2))
        await _until_busy(scheduler)
        later = [_submit(scheduler, _checked(config, 1.0, batch=b)) for b in (1, 2)]
        await asyncio.gather(first, *later)
        return statistics([scheduler.stats])["model_stats"][0]

    stats = _run(config, scenario)
    assert stats["inference_count"] == 5
    assert stats["execution_count"] == 2
    infer = stats["inference_stats"]
    assert infer["queue"]["count"] == 3
    assert infer["compute_infer"]["count"] == 3  # once per request, as Triton counts it
    assert infer["compute_infer"]["ns"] >= 3 * 30_000_000 * 0.9  # 30 ms for each of 3
    assert [b["batch_size"] for b in stats["batch_stats"]] == [2, 3]
    assert all(b["compute_infer"]["count"] == 1 for b in stats["batch_stats"])
    assert stats["last_inference"] > 0


def test_failed_batch_is_not_an_execution() -> None:
    """A batch that raised adds nothing to inference or execution counts."""
    config = _config(fail_on=7.0, delay_ms=0)

    async def scenario(scheduler: Scheduler, instances: list[FakeInstance]) -> dict[str, Any]:
        with pytest.raises(BackendError):
            await scheduler.submit(_checked(config, 7.0))
        await scheduler.submit(_checked(config, 1.0))
        return statistics([scheduler.stats])["model_stats"][0]

    stats = _run(config, scenario)
    assert (stats["inference_count"], stats["execution_count"]) == (1, 1)


def test_cancelled_queued_request_frees_its_queue_slot() -> None:
    """A queued request whose client gives up leaves the queue at once (max_queue_size 1)."""

    async def scenario() -> str:
        config = ModelConfig(
            name="slow", backend="fake", max_batch_size=4,
            inputs=(TensorSpec("x", "FP32", (2,)),), outputs=(TensorSpec("y", "FP32", (2,)),),
            dynamic_batching=DynamicBatching(queue=QueuePolicy(max_queue_size=1)),
            parameters={"delay_ms": "200"})
        scheduler = Scheduler(config, [FakeBackend().load(Path("."), config, 0,
                                                          RuntimeSettings())],
                              ModelStats("slow", "1")).start()

        def checked() -> Checked:
            return check(config, InferRequest("slow", inputs=[
                InputTensor("x", "FP32", [1, 2], np.ones((1, 2), np.float32))]))

        running = asyncio.ensure_future(scheduler.submit(checked()))
        await asyncio.sleep(0.02)
        queued = asyncio.ensure_future(scheduler.submit(checked()))
        await asyncio.sleep(0.02)
        queued.cancel()
        await asyncio.sleep(0.01)
        third = await scheduler.submit(checked())  # would be QueueFull if the slot were held
        await running
        await scheduler.close(1.0)
        return str(third[0].shape)

    assert asyncio.run(scenario()) == "(1, 2)"


class _SlowHandback(FakeInstance):
    """Echoes at once, but holds the event loop for 5 ms as each run ends, so a hand-off back
    to the loop takes far longer than the run (what a loaded server sees)."""

    def __init__(self, config: ModelConfig, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(config)
        self.loop = loop
        self.threads: list[str] = []

    def run(self, inputs: Any, outputs: Any) -> list[np.ndarray]:
        import threading

        self.threads.append(threading.current_thread().name)
        if threading.current_thread() is not threading.main_thread():
            self.loop.call_soon_threadsafe(time.sleep, 0.005)
        return super().run(inputs, outputs)


def test_inline_decision_learns_the_run_not_the_hand_off() -> None:
    """A quick model runs on the event loop from its second batch on, even when the hand-off
    to its thread and back is slow (the hand-off is not the model's time)."""
    async def main() -> list[str]:
        config = _config(delay_ms=0)
        instance = _SlowHandback(config, asyncio.get_running_loop())
        scheduler = Scheduler(config, [instance], ModelStats("fake", "1"),
                              inline_below_us=1000).start()
        try:
            for value in range(3):
                await scheduler.submit(_checked(config, value))
        finally:
            await scheduler.close(5)
        return instance.threads

    threads = asyncio.run(main())
    assert threads[0].startswith("mp-fake")
    assert threads[1:] == ["MainThread", "MainThread"]
