"""The sequence batcher, driven with an accumulator written in numpy (the runtime seam's
Instance): slots, Direct and Oldest batches, implicit state, backlog, idle expiry, errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.sequence_models import STRING_CONFIG, simple_sequence_config

from modelport.errors import ComputeFailed, InvalidInput, QueueFull, RequestTimedOut, Unavailable
from modelport.repository.config import ModelConfig
from modelport.repository.pbtxt import parse_text, to_view
from modelport.serve.sequences.params import CorrelationId, SequenceParams
from modelport.serve.sequences.scheduler import SequenceScheduler
from modelport.serve.sequences.states import initial_states
from modelport.serve.stats import ModelStats
from modelport.serve.types import InferRequest, InputTensor
from modelport.serve.validate import check


class Accumulator:
    """simple_sequence in numpy: OUTPUT = READY * (INPUT + (1 - START) * INPUT_STATE).
    Fails on INPUT -1; sleeps ``delay_s`` per batch; keeps every feed it ran."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.feeds: list[dict[str, np.ndarray]] = []

    def run(self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]) -> list[np.ndarray]:
        """One batch."""
        time.sleep(self.delay_s)
        self.feeds.append(dict(inputs))
        if (inputs["INPUT"] == -1).any():
            raise ComputeFailed("INPUT -1 is not computable")
        start = inputs.get("START", np.zeros_like(inputs["INPUT"]))
        ready = inputs.get("READY", np.ones_like(inputs["INPUT"]))
        if start.dtype == np.bool_:
            start = start.astype(np.int32)
        total = (inputs["INPUT"] + (1 - start) * inputs["INPUT_STATE"]) * ready
        named = {"OUTPUT": total, "OUTPUT_STATE": total}
        if "CORRID" in inputs:
            named["CORRID_OUT"] = inputs["CORRID"]
            named["END_OUT"] = inputs["END"].astype(np.int32)
        return [named[n] for n in outputs]

    def close(self) -> None:
        """Nothing to free."""


def _config(text: str) -> ModelConfig:
    return to_view(parse_text(text))


Scenario = Callable[[SequenceScheduler, list[Accumulator]], Awaitable[Any]]


def _run(config: ModelConfig, scenario: Scenario, instances: int = 1,
         delay_s: float = 0.0) -> Any:
    async def main() -> Any:
        accs = [Accumulator(delay_s) for _ in range(instances)]
        assert config.sequence_batching is not None
        initial = initial_states(config.sequence_batching.states, Path())
        sched = SequenceScheduler(config, list(accs), ModelStats(config.name, "1"),
                                  initial).start()
        try:
            return await scenario(sched, accs)
        finally:
            await sched.close(drain_timeout_s=5)
    return asyncio.run(main())


async def _send(sched: SequenceScheduler, corrid: CorrelationId, value: int,
                start: bool = False, end: bool = False, batch: int = 1) -> int:
    config = sched.config
    data = np.full((batch, 1) if config.batching else (1,), value, dtype=np.int32)
    checked = check(config, InferRequest(config.name, inputs=[
        InputTensor("INPUT", "INT32", list(data.shape), data)]))
    (out, *_) = await sched.submit(checked, sequence=SequenceParams(corrid, start, end))
    return int(out.ravel()[0])


async def _sequence(sched: SequenceScheduler, corrid: CorrelationId,
                    values: list[int]) -> list[int]:
    results = []
    for i, v in enumerate(values):
        results.append(await _send(sched, corrid, v, start=i == 0, end=i == len(values) - 1))
    return results


def test_state_carries_the_running_sum_through_a_sequence() -> None:
    """Each request sees the state its predecessor left; START resets it."""
    async def scenario(sched: SequenceScheduler, _: list[Accumulator]) -> None:
        assert await _sequence(sched, 1, [1, 2, 3, 4]) == [1, 3, 6, 10]
        assert await _sequence(sched, 1, [5, 5]) == [5, 10]
    _run(_config(simple_sequence_config()), scenario)


@pytest.mark.parametrize("max_batch_size", [0, 4])
def test_interleaved_sequences_keep_their_own_sums(max_batch_size: int) -> None:
    """Many sequences at once over two instances, with and without a batch dimension."""
    async def scenario(sched: SequenceScheduler, _: list[Accumulator]) -> list[list[int]]:
        return list(await asyncio.gather(*(_sequence(sched, s, list(range(s, s + 6)))
                                           for s in range(1, 13))))
    results = _run(_config(simple_sequence_config(max_batch_size=max_batch_size)),
                   scenario, instances=2, delay_s=0.002)
    for s, sums in enumerate(results, start=1):
        assert sums == list(np.cumsum(range(s, s + 6)))


def test_direct_fills_idle_slots_with_not_ready_rows() -> None:
    """Direct keeps each sequence at its slot's row: a slot with nothing ready gets a row with
    READY and START false, and its output is dropped."""
    async def scenario(sched: SequenceScheduler, accs: list[Accumulator]) -> None:
        await _send(sched, "a", 1, start=True)  # slot 0
        await _send(sched, "b", 2, start=True)  # slot 1
        assert await _send(sched, "b", 3) == 5
        feed = accs[0].feeds[-1]
        assert feed["READY"].ravel().tolist() == [0, 1]
        assert feed["START"].ravel().tolist() == [0, 0]
        assert feed["INPUT"].ravel().tolist() == [3, 3]  # the first request's data, repeated
        assert await _send(sched, "a", 10, end=True) == 11  # slot 0's state was not touched
    _run(_config(simple_sequence_config(max_batch_size=2)), scenario)


def test_oldest_batches_one_request_per_sequence_oldest_first() -> None:
    """Oldest merges the front requests of different sequences, oldest first, cut to a
    preferred size; the CORRID row tells the model whose each row is."""
    async def scenario(sched: SequenceScheduler, accs: list[Accumulator]) -> list[list[int]]:
        ids = [f"seq-{i}" for i in range(6)]
        results = await asyncio.gather(*(_sequence(sched, c, [1, 2, 3]) for c in ids))
        for feed in accs[0].feeds:
            corrids = feed["CORRID"].ravel().tolist()
            assert len(corrids) == len(set(corrids)) <= 4
        assert max(len(f["CORRID"]) for f in accs[0].feeds) == 4
        return list(results)
    results = _run(_config(STRING_CONFIG), scenario, delay_s=0.01)
    assert results == [[1, 3, 6]] * 6


def test_a_failing_request_fails_alone_and_keeps_its_state() -> None:
    """A request the model cannot compute fails on its own; its sequence's state is as
    before, and the other sequence in the batch gets its answer."""
    async def scenario(sched: SequenceScheduler, _: list[Accumulator]) -> None:
        await _send(sched, 1, 5, start=True)
        await _send(sched, 2, 7, start=True)
        bad, good = await asyncio.gather(_send(sched, 1, -1), _send(sched, 2, 1),
                                         return_exceptions=True)
        assert isinstance(bad, InvalidInput) and good == 8
        assert await _send(sched, 1, 1, end=True) == 6
    _run(_config(simple_sequence_config(max_batch_size=2)), scenario, delay_s=0.01)


def test_sequences_beyond_the_slots_wait_in_the_backlog() -> None:
    """With one slot, a second sequence waits until the first ends, then runs from its own
    fresh state."""
    async def scenario(sched: SequenceScheduler, _: list[Accumulator]) -> None:
        await _send(sched, "a", 1, start=True)
        second = asyncio.ensure_future(_sequence(sched, "b", [10, 20]))
        await asyncio.sleep(0.05)
        assert not second.done() and sched.pending == 1
        assert await _send(sched, "a", 2, end=True) == 3
        assert await asyncio.wait_for(second, 5) == [10, 30]
    _run(_config(simple_sequence_config(max_batch_size=0)), scenario)


def test_a_full_backlog_refuses_and_a_timed_out_wait_fails_clearly() -> None:
    """Beyond max_sequence_backlog a START is refused; a backlogged sequence whose request
    timeout passes fails with Triton's words, and its id is then unknown."""
    text = simple_sequence_config(max_batch_size=0, parameters=(
        'parameters { key: "max_sequence_backlog" value { string_value: "1" } }'))

    async def scenario(sched: SequenceScheduler, _: list[Accumulator]) -> None:
        await _send(sched, "a", 1, start=True)
        config = sched.config
        data = np.ones(1, np.int32)
        checked = check(config, InferRequest(config.name, inputs=[
            InputTensor("INPUT", "INT32", [1], data)]))
        waiting = asyncio.ensure_future(sched.submit(
            checked, timeout_us=50_000, sequence=SequenceParams("b", start=True)))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull, match="all 1 sequence slots are taken"):
            await _send(sched, "c", 1, start=True)
        with pytest.raises(RequestTimedOut, match=r"^timeout of the corresponding sequence has "
                                                  "been expired"):
            await waiting
        with pytest.raises(InvalidInput, match="must specify the START flag"):
            await _send(sched, "b", 1)
        assert await _send(sched, "a", 1, end=True) == 2
    _run(_config(text), scenario)


def test_idle_sequences_expire_and_free_their_slot() -> None:
    """A sequence idle past max_sequence_idle_microseconds loses its slot (a waiting sequence
    takes it) and its next request is told why."""
    text = simple_sequence_config(max_batch_size=0,
                                  extra="max_sequence_idle_microseconds: 100000")

    async def scenario(sched: SequenceScheduler, _: list[Accumulator]) -> None:
        await _send(sched, "a", 1, start=True)
        began = time.monotonic()
        assert await _send(sched, "b", 4, start=True) == 4  # waits for a's slot
        assert 0.08 < time.monotonic() - began < 2
        with pytest.raises(InvalidInput, match="sequence a was ended after 100000 us"):
            await _send(sched, "a", 1)
    _run(_config(text), scenario)


def test_requests_the_batcher_cannot_take_are_refused() -> None:
    """No correlation ID, a batch of two, a string id for an integer CORRID: Triton's words."""
    async def scenario(sched: SequenceScheduler, _: list[Accumulator]) -> None:
        with pytest.raises(InvalidInput, match=r"^inference request to model 'simple_sequence' "
                                               "must specify a non-zero or non-empty "
                                               "correlation ID"):
            await _send(sched, 0, 1, start=True)
        with pytest.raises(InvalidInput, match="must specify batch-size 1 due to requirements "
                                               "of sequence batcher"):
            await _send(sched, 3, 1, start=True, batch=2)
    _run(_config(simple_sequence_config()), scenario)


def test_a_client_leaving_frees_its_place_and_close_answers_the_rest() -> None:
    """A cancelled queued request leaves its slot's queue; close() answers what is left."""
    async def scenario(sched: SequenceScheduler, _: list[Accumulator]) -> None:
        await _send(sched, "a", 1, start=True)
        first = asyncio.ensure_future(_send(sched, "a", 1))
        second = asyncio.ensure_future(_send(sched, "a", 2))
        await asyncio.sleep(0.01)
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)
        assert await first == 2
        assert sched.pending == 0
    _run(_config(simple_sequence_config(max_batch_size=0)), scenario, delay_s=0.05)

    async def closing(sched: SequenceScheduler, _: list[Accumulator]) -> None:
        await _send(sched, "a", 1, start=True)
        late = asyncio.ensure_future(_send(sched, "a", 1))
        await asyncio.sleep(0)
        await sched.close(drain_timeout_s=0)
        with pytest.raises(Unavailable):
            await late
    _run(_config(simple_sequence_config(max_batch_size=0)), closing, delay_s=0.2)


def test_direct_runs_requests_of_different_shapes_in_separate_batches() -> None:
    """Rows share a batch only when inputs and states have the same shapes; the other slot
    gets a not-ready row and runs next."""
    text = simple_sequence_config(max_batch_size=2, state=(
        'state [{ input_name: "INPUT_STATE" output_name: "OUTPUT_STATE" data_type: TYPE_INT32 '
        'dims: [ -1 ] }]')).replace('dims: [ 1 ] }]\noutput', 'dims: [ -1 ] }]\noutput').replace(
        'name: "OUTPUT" data_type: TYPE_INT32 dims: [ 1 ]',
        'name: "OUTPUT" data_type: TYPE_INT32 dims: [ -1 ]')

    async def send(sched: SequenceScheduler, corrid: str, values: list[int],
                   start: bool = False) -> list[int]:
        data = np.array([values], dtype=np.int32)
        checked = check(sched.config, InferRequest(sched.config.name, inputs=[
            InputTensor("INPUT", "INT32", list(data.shape), data)]))
        (out,) = await sched.submit(checked, sequence=SequenceParams(corrid, start))
        return [int(v) for v in out.ravel()]

    async def scenario(sched: SequenceScheduler, accs: list[Accumulator]) -> None:
        await send(sched, "a", [1, 1], start=True)
        await send(sched, "b", [1, 1, 1], start=True)
        a, b = await asyncio.gather(send(sched, "a", [2, 2]), send(sched, "b", [3, 3, 3]))
        assert a == [3, 3] and b == [4, 4, 4]
        last_two = [f["READY"].ravel().tolist() for f in accs[0].feeds[-2:]]
        assert sorted(last_two) == [[0, 1], [1]]
    _run(_config(text), scenario, delay_s=0.01)
