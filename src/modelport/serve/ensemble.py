"""Ensembles (``platform: "ensemble"``): a graph of repository models run as one model.

Each step names a model and maps the model's inputs and outputs to ensemble tensors. A
request's tensors start as the ensemble's inputs; every step whose inputs all exist runs at
once, through its model's own scheduler (so dynamic batching applies per step), and adds its
outputs; the ensemble answers with the tensors the client asked for. Steps resolve their model
when they run, so reloading a member keeps the ensemble serving. ``plan_steps`` checks the
graph when the ensemble loads: known live models, no tensor written twice, no cycle, every
input and output mapped, datatypes and dims that agree between producer and consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from modelport.errors import InferenceError, ModelConfigError, ModelportError, ModelUnavailable
from modelport.repository.config import EnsembleStep, ModelConfig, TensorSpec
from modelport.serve.scheduling import RequestScheduler
from modelport.serve.stats import ModelStats
from modelport.serve.tracing import RequestTrace
from modelport.serve.types import InferRequest, InputTensor, RequestedOutput
from modelport.serve.validate import Checked, check, to_client_shape

if TYPE_CHECKING:
    from modelport.runtime.base import ResponseSink
    from modelport.serve.sequences.params import SequenceParams


class Member(Protocol):
    """What an ensemble uses of a member's live version (``serve.model.ModelVersion``)."""

    config: ModelConfig
    scheduler: RequestScheduler
    stats: ModelStats

    @property
    def name(self) -> str:
        """The member's model name."""


Lookup = Callable[[str, int], Member]


@dataclass(frozen=True)
class Tensor:
    """An ensemble tensor: who writes it and what it is."""

    datatype: str
    dims: tuple[int, ...]
    producer: str  # "ensemble input" or "step N (model)"


def plan_steps(config: ModelConfig, lookup: Lookup) -> None:
    """Check an ensemble's graph against its live members.

    Raises:
        ModelConfigError: the graph names unknown models, writes a tensor twice, has a cycle,
            leaves an input or output unmapped, or joins tensors whose types disagree.
    """
    name = config.name
    tensors = {s.name: Tensor(s.datatype, tuple(config.full_shape(s)), "ensemble input")
               for s in config.inputs}
    pending = list(enumerate(config.ensemble_steps))
    while pending:
        runnable = [(i, s) for i, s in pending
                    if all(t in tensors for _, t in s.input_map)]
        if not runnable:
            missing = sorted({t for _, s in pending for _, t in s.input_map if t not in tensors})
            raise ModelConfigError(f"ensemble '{name}': tensors {missing} are never produced "
                                   "(unmapped, or the steps form a cycle)")
        for index, step in runnable:
            member = _member(name, step, lookup).config
            if member.decoupled:
                raise ModelConfigError(
                    f"ensemble '{name}': step {index} ({step.model_name}) is a decoupled model; "
                    "modelport's ensembles take one response per step")
            if member.max_batch_size < config.max_batch_size:
                raise ModelConfigError(
                    f"ensemble '{name}' allows batches of {config.max_batch_size} but step "
                    f"{index} ({step.model_name}) takes at most {member.max_batch_size} "
                    "(max_batch_size): lower the ensemble's max_batch_size")
            _add_step(name, index, step, member, tensors)
        pending = [p for p in pending if p not in runnable]
    for spec in config.outputs:
        _join(name, spec.name, tensors,
              Tensor(spec.datatype, tuple(config.full_shape(spec)), "ensemble output"))


def _member(name: str, step: EnsembleStep, lookup: Lookup) -> Member:
    if step.model_name == name:
        raise ModelConfigError(f"ensemble '{name}' cannot be its own step")
    try:
        return lookup(step.model_name, step.model_version)
    except ModelportError as exc:
        raise ModelConfigError(f"ensemble '{name}': step model '{step.model_name}' is not "
                               f"available: {exc}") from None


def _add_step(name: str, index: int, step: EnsembleStep, member: ModelConfig,
              tensors: dict[str, Tensor]) -> None:
    where = f"step {index} ({step.model_name})"
    mapped = dict(step.input_map)
    for wanted in member.inputs:
        if wanted.name not in mapped and not wanted.optional:
            raise ModelConfigError(f"ensemble '{name}': {where} leaves input '{wanted.name}' "
                                   "unmapped")
    for model_input, tensor in step.input_map:
        spec = member.input(model_input)
        if spec is None:
            raise ModelConfigError(f"ensemble '{name}': {where} maps '{model_input}', which "
                                   f"'{step.model_name}' does not have as an input")
        _join(name, tensor, tensors, Tensor(spec.datatype, tuple(member.full_shape(spec)), where))
    for model_output, tensor in step.output_map:
        out = member.output(model_output)
        if out is None:
            raise ModelConfigError(f"ensemble '{name}': {where} maps '{model_output}', which "
                                   f"'{step.model_name}' does not have as an output")
        if tensor in tensors:
            raise ModelConfigError(f"ensemble '{name}': tensor '{tensor}' is written by "
                                   f"{tensors[tensor].producer} and by {where}")
        tensors[tensor] = Tensor(out.datatype, tuple(member.full_shape(out)), where)


def _join(name: str, tensor: str, tensors: dict[str, Tensor], consumer: Tensor) -> None:
    """Check that ``consumer`` can take ``tensor`` as its producer made it."""
    made = tensors.get(tensor)
    if made is None:
        raise ModelConfigError(f"ensemble '{name}': {consumer.producer} needs tensor "
                               f"'{tensor}', which no step produces")
    if made.datatype != consumer.datatype:
        raise ModelConfigError(f"ensemble '{name}': tensor '{tensor}' is {made.datatype} from "
                               f"{made.producer} but {consumer.producer} takes "
                               f"{consumer.datatype}")
    agree = len(made.dims) == len(consumer.dims) and all(
        a == -1 or b == -1 or a == b for a, b in zip(made.dims, consumer.dims, strict=True))
    if not agree:
        raise ModelConfigError(f"ensemble '{name}': tensor '{tensor}' has dims "
                               f"{list(made.dims)} from {made.producer} but "
                               f"{consumer.producer} takes {list(consumer.dims)}")


class EnsembleScheduler:
    """Runs one request's steps as their inputs become available."""

    def __init__(self, config: ModelConfig, lookup: Lookup, stats: ModelStats) -> None:
        self.config = config
        self.lookup = lookup
        self.stats = stats
        self.running = 0
        self.closed = False
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def pending(self) -> int:
        """Requests in flight."""
        return self.running

    def unavailable(self) -> str | None:
        """None when every member can take requests, else why not."""
        for step in self.config.ensemble_steps:
            try:
                self.lookup(step.model_name, step.model_version)
            except InferenceError as exc:
                return f"ensemble member '{step.model_name}' is not ready: {exc}"
        return None

    async def submit(self, checked: Checked, timeout_us: int = 0,
                     trace: RequestTrace | None = None,
                     sequence: SequenceParams | None = None,
                     sink: ResponseSink | None = None) -> list[np.ndarray]:
        """Run the steps for one request; the outputs in ``checked.outputs`` order. A
        request of a sequence passes its sequence parameters to every step, as Triton does.

        Raises:
            InferenceError: a step failed; the message names the step.
        """
        self.running += 1
        self._idle.clear()
        started = time.perf_counter_ns()
        try:
            tensors = await self._run(dict(checked.feed), timeout_us, sequence, trace)
        finally:
            self.running -= 1
            if not self.running:
                self._idle.set()
        self.stats.record_execution(checked.batch_size, 1, 0,
                                    time.perf_counter_ns() - started, 0)
        return [tensors[name] for name in checked.outputs]

    async def _run(self, tensors: dict[str, np.ndarray], timeout_us: int,
                   sequence: SequenceParams | None,
                   trace: RequestTrace | None) -> dict[str, np.ndarray]:
        pending = list(self.config.ensemble_steps)
        running: dict[asyncio.Task[dict[str, np.ndarray]], EnsembleStep] = {}
        try:
            while pending or running:
                ready = [s for s in pending if all(t in tensors for _, t in s.input_map)]
                for step in ready:
                    task = asyncio.ensure_future(
                        self._step(step, tensors, timeout_us, sequence, trace))
                    running[task] = step
                pending = [s for s in pending if s not in ready]
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    running.pop(task)
                    tensors.update(task.result())
        finally:
            for task in running:
                task.cancel()
            for task in running:
                with contextlib.suppress(BaseException):
                    await task
        return tensors

    async def _step(self, step: EnsembleStep, tensors: dict[str, np.ndarray],
                    timeout_us: int, sequence: SequenceParams | None,
                    trace: RequestTrace | None) -> dict[str, np.ndarray]:
        """One step; traced as a span ``step`` (child of the ensemble's request) that the
        member's queue and batch spans attach to, as a request of its own would."""
        if trace is None:
            return await self._run_step(step, tensors, timeout_us, sequence, None)
        span = trace.child("step", model=step.model_name, version=step.model_version or "")
        try:
            return await self._run_step(step, tensors, timeout_us, sequence,
                                        RequestTrace(trace.tracing, span))
        except InferenceError as exc:
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR, str(exc)))
            raise
        finally:
            span.end()

    async def _run_step(self, step: EnsembleStep, tensors: dict[str, np.ndarray],
                        timeout_us: int, sequence: SequenceParams | None,
                        trace: RequestTrace | None) -> dict[str, np.ndarray]:
        try:
            member = self.lookup(step.model_name, step.model_version)
        except InferenceError as exc:
            raise ModelUnavailable(f"ensemble '{self.config.name}' cannot run step "
                                   f"'{step.model_name}': {exc}") from None
        config = member.config
        request = InferRequest(member.name, inputs=[
            InputTensor(model_input, _spec(config.inputs, model_input).datatype,
                        list(tensors[name].shape), tensors[name])
            for model_input, name in step.input_map],
            outputs=[RequestedOutput(model_output) for model_output, _ in step.output_map])
        received = time.perf_counter_ns()
        try:
            checked = check(config, request)
            arrays = await member.scheduler.submit(checked, timeout_us, trace, sequence=sequence)
        except InferenceError as exc:
            member.stats.record_failure(time.perf_counter_ns() - received, "OTHER")
            raise type(exc)(f"ensemble '{self.config.name}' step '{step.model_name}' failed: "
                            f"{exc}") from None
        member.stats.record_success(time.perf_counter_ns() - received)
        return {tensor: to_client_shape(config, _spec(config.outputs, model_output), array)
                for (model_output, tensor), array in zip(step.output_map, arrays, strict=True)}

    async def close(self, drain_timeout_s: float = 30.0) -> None:
        """Let requests in flight finish (members are unloaded on their own)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), drain_timeout_s)
        self.closed = True


def _spec(specs: tuple[TensorSpec, ...], name: str) -> TensorSpec:
    return next(s for s in specs if s.name == name)
