"""The scheduler's path for instances that take a batch's requests one by one (run_requests),
and the response stream a decoupled request is answered through."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from modelport.errors import BackendError, InvalidInput
from modelport.repository.config import DynamicBatching, ModelConfig, TensorSpec
from modelport.runtime.base import Outcome, Request
from modelport.serve.responses import ResponseStream
from modelport.serve.scheduler import Scheduler
from modelport.serve.stats import ModelStats
from modelport.serve.types import InferRequest, InputTensor
from modelport.serve.validate import Checked, check

CONFIG = ModelConfig(name="separate", backend="python", max_batch_size=8,
                     inputs=(TensorSpec("x", "FP32", (-1,)),),
                     outputs=(TensorSpec("y", "FP32", (-1,)),),
                     dynamic_batching=DynamicBatching())


class Separate:
    """Takes requests unmerged; x == -1 fails its request; sinks get two answers then final."""

    def __init__(self) -> None:
        self.batches: list[list[Request]] = []
        self.gate = threading.Event()

    def run(self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]) -> list[np.ndarray]:
        raise AssertionError("the scheduler must call run_requests")

    def run_requests(self, requests: Sequence[Request]) -> list[Outcome]:
        self.gate.wait(5)
        self.batches.append(list(requests))
        outcomes: list[Outcome] = []
        for r in requests:
            x = r.inputs["x"]
            if r.sink is not None:
                threading.Thread(target=self._answer, args=(r, x)).start()
                outcomes.append([])
            elif (x == -1).any():
                outcomes.append(InvalidInput("x holds -1"))
            else:
                outcomes.append([x * 2])
        return outcomes

    @staticmethod
    def _answer(request: Request, x: np.ndarray) -> None:
        assert request.sink is not None
        for step in (1, 2):
            time.sleep(0.01)
            request.sink.send({"y": x + step}, False)
        request.sink.send({}, True)

    def close(self) -> None:
        pass


def _checked(rows: int, value: float, parameters: dict[str, object] | None = None) -> Checked:
    data = np.full((rows, 2), value, np.float32)
    return check(CONFIG, InferRequest("separate", id=f"r{value}", parameters=parameters or {},
                                      inputs=[InputTensor("x", "FP32", [rows, 2], data)]))


def test_requests_reach_the_instance_unmerged() -> None:
    """Requests queued together reach run_requests as separate requests, with their ids and
    parameters; each gets its own outcome, a failing one alone fails."""
    async def main() -> tuple[list[list[Request]], list[object]]:
        instance = Separate()
        scheduler = Scheduler(CONFIG, [instance], ModelStats("separate", "1")).start()
        first = asyncio.ensure_future(scheduler.submit(_checked(1, 0)))
        await asyncio.sleep(0.05)  # the first batch holds the instance (gate closed)
        rest = [asyncio.ensure_future(scheduler.submit(_checked(rows, value, {"k": value})))
                for rows, value in ((1, 1), (3, -1), (2, 3))]
        await asyncio.sleep(0.05)
        instance.gate.set()
        results = await asyncio.gather(first, *rest, return_exceptions=True)
        await scheduler.close(5)
        return instance.batches, results

    batches, results = asyncio.run(main())
    assert [len(b) for b in batches] == [1, 3]
    assert [r.inputs["x"].shape for r in batches[1]] == [(1, 2), (3, 2), (2, 2)]
    assert [r.request_id for r in batches[1]] == ["r1", "r-1", "r3"]
    assert batches[1][2].parameters == {"k": 3}
    assert np.array_equal(results[1][0], np.full((1, 2), 2, np.float32))  # type: ignore[index]
    assert isinstance(results[2], InvalidInput)
    assert np.array_equal(results[3][0], np.full((2, 2), 6, np.float32))  # type: ignore[index]


def test_decoupled_request_answers_through_its_stream() -> None:
    """A request with a sink resolves [] once executed; its responses arrive in order on the
    stream until the final one."""
    async def main() -> tuple[list[np.ndarray], list[tuple[dict[str, np.ndarray], bool]]]:
        instance = Separate()
        instance.gate.set()
        scheduler = Scheduler(CONFIG, [instance], ModelStats("separate", "1")).start()
        stream = ResponseStream(asyncio.get_running_loop())
        done = await scheduler.submit(_checked(1, 5), sink=stream)
        got = [(dict(outputs), final) async for outputs, final in stream]
        await scheduler.close(5)
        return done, got

    done, got = asyncio.run(main())
    assert done == []
    assert [(float(o["y"][0, 0]) if o else None, final) for o, final in got] == [
        (6.0, False), (7.0, False), (None, True)]


def test_stream_ends_with_the_error_of_its_batch() -> None:
    """When the batch that ran a decoupled request fails, its stream raises that error."""
    async def main() -> None:
        stream = ResponseStream(asyncio.get_running_loop())

        async def failing() -> list[np.ndarray]:
            raise BackendError("the stub process exited with code 3")

        task = asyncio.ensure_future(failing())
        task.add_done_callback(stream.end_on_error)
        async for _ in stream:
            raise AssertionError("no response expected")

    with pytest.raises(BackendError, match="exited with code 3"):
        asyncio.run(main())
