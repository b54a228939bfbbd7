"""ModelStreamInfer: the requests of one bidirectional stream and their responses.

Every request starts when it is read, so the requests of one stream run and batch side by side.
Most models answer once per request, in the order the requests came (Triton's rule); a
decoupled model answers any number of times, as its responses come, interleaved with the
others'. Requests of one sequence run one after another. With the request parameter
``triton_enable_empty_final_response`` (tritonclient's ``enable_empty_final_response``), every
response says whether it is the last (``triton_final_response``) and a decoupled model's "done"
without outputs reaches the client as an empty response; without it, that one is not sent.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from modelport.errors import InferenceError
from modelport.repository.config import ModelConfig
from modelport.serve.core import InferenceCore
from modelport.serve.faults import internal_error
from modelport.serve.grpc import codec
from modelport.serve.grpc.proto import grpc_service_pb2 as pb
from modelport.serve.limits import RequestLimits
from modelport.serve.types import InferRequest, InferResponse

log = logging.getLogger("modelport.grpc")

FINAL_FLAG = "triton_final_response"
WANTS_FINAL = "triton_enable_empty_final_response"


class GrpcStreamInfer:
    """One streamed request for the core's pipeline (an ``InferCall``); ``encode`` gives None
    for a response the client does not want (an empty final one it did not ask for)."""

    __slots__ = ("context", "message", "model", "version")
    protocol = "grpc"

    def __init__(self, message: pb.ModelInferRequest, context: Any) -> None:
        self.message, self.context = message, context
        self.model, self.version = message.model_name, message.model_version

    def trace_carrier(self) -> Mapping[str, str]:
        """The call's metadata (``traceparent``)."""
        return {m.key: str(m.value) for m in self.context.invocation_metadata() or ()}

    def decode(self, config: ModelConfig, limits: RequestLimits) -> InferRequest:
        """ModelInferRequest to the core's request."""
        return codec.decode_infer(self.message, config, limits)

    def encode(self, response: InferResponse, request: InferRequest,
               ) -> pb.ModelInferResponse | None:
        """Every output in raw_output_contents, and the final flag when asked for."""
        flagged = bool(request.parameters.get(WANTS_FINAL))
        if response.final and not response.outputs and not flagged:
            return None
        message = codec.encode_infer(response)
        if flagged:
            message.parameters[FINAL_FLAG].bool_param = response.final
        return message


#: Requests one stream may have in flight; past it the server stops reading the stream, so
#: gRPC's flow control holds the client back instead of the server's memory growing.
STREAM_WINDOW = 256


def responses(core: InferenceCore, requests: AsyncIterator[Any], context: Any,
              ) -> AsyncIterator[pb.ModelStreamInferResponse]:
    """The stream's responses; an error goes in ``error_message``, the stream goes on.

    Every request starts as soon as it is read, so requests of one stream batch together and
    run side by side, as in Triton. A decoupled model's responses go out as they come; the
    others' go out in the order their requests came (Triton's rule), each held until the ones
    before it are out. Requests of one sequence (``sequence_id``) run one after another.
    """
    return _Stream(core, context).responses(requests)


class _Stream:
    """One ModelStreamInfer call: its requests in flight and the order of their answers."""

    def __init__(self, core: InferenceCore, context: Any) -> None:
        self.core, self.context = core, context
        self.out: asyncio.Queue[pb.ModelStreamInferResponse | None] = asyncio.Queue()
        self.running: set[asyncio.Task[None]] = set()
        self.window = asyncio.Semaphore(STREAM_WINDOW)
        self.last_in_order: asyncio.Task[None] | None = None
        self.last_of_sequence: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def responses(self, requests: AsyncIterator[Any]
                        ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        reader = asyncio.ensure_future(self._read(requests))
        try:
            while (item := await self.out.get()) is not None:
                yield item
            await reader  # its own failure (the stream broke) surfaces here
        finally:
            for task in (reader, *self.running):
                task.cancel()

    async def _read(self, requests: AsyncIterator[Any]) -> None:
        try:
            async for request in requests:
                await self.window.acquire()
                self._start(request)
            await asyncio.gather(*self.running)
        finally:
            self.out.put_nowait(None)

    def _start(self, request: Any) -> None:
        ordered = not _decoupled(self.core, request)
        key = _sequence(request)
        task = asyncio.ensure_future(self._run(
            request, ordered, self.last_in_order if ordered else None,
            self.last_of_sequence.get(key) if key else None))
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        if ordered:
            self.last_in_order = task
        if key:
            self.last_of_sequence[key] = task
            task.add_done_callback(functools.partial(_forget, self.last_of_sequence, key))

    async def _run(self, request: Any, ordered: bool, before: asyncio.Task[None] | None,
                   same_sequence: asyncio.Task[None] | None) -> None:
        held: list[pb.ModelStreamInferResponse] = []
        try:
            if same_sequence is not None:
                await asyncio.wait([same_sequence])
            await self._answer(request, held.append if ordered else self.out.put_nowait)
        finally:
            if before is not None:
                await asyncio.wait([before])
            for message in held:
                self.out.put_nowait(message)
            self.window.release()

    async def _answer(self, request: Any, emit: Any) -> None:
        try:
            if not isinstance(request, pb.ModelInferRequest):
                raise request.error  # refused before parsing (over --max-request-size)
            async for message in self.core.stream(GrpcStreamInfer(request, self.context)):
                if message is not None:
                    emit(pb.ModelStreamInferResponse(infer_response=message))
        except InferenceError as exc:
            emit(pb.ModelStreamInferResponse(error_message=str(exc)))
        except Exception:  # a bug costs this request only, and its answer says nothing inside
            emit(pb.ModelStreamInferResponse(
                error_message=internal_error(log, "ModelStreamInfer")))


def _forget(last: dict[tuple[str, str], asyncio.Task[None]], key: tuple[str, str],
            task: asyncio.Task[None]) -> None:
    if last.get(key) is task:
        del last[key]


def _sequence(request: Any) -> tuple[str, str] | None:
    """(model, sequence id) of a request that belongs to a sequence, else None."""
    if not isinstance(request, pb.ModelInferRequest):
        return None
    param = request.parameters.get("sequence_id")
    if param is None:
        return None
    which = param.WhichOneof("parameter_choice")
    value = getattr(param, which) if which else None
    if not value:
        return None
    return request.model_name, str(value)


def _decoupled(core: InferenceCore, request: Any) -> bool:
    if not isinstance(request, pb.ModelInferRequest):
        return False
    try:
        return core.manager.get(request.model_name, request.model_version).config.decoupled
    except InferenceError:
        return False  # answered (with the lookup's error) in order
