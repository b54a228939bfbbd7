"""ModelStreamInfer: the requests of one bidirectional stream and their responses.

Requests to most models are answered in order, one response each, as before. A request to a
decoupled model runs beside the ones that follow it and answers any number of times, as
Triton's stream does; its responses interleave with the others'. With the request parameter
``triton_enable_empty_final_response`` (tritonclient's ``enable_empty_final_response``), every
response says whether it is the last (``triton_final_response``) and a decoupled model's "done"
without outputs reaches the client as an empty response; without it, that one is not sent.
"""

from __future__ import annotations

import asyncio
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


async def responses(core: InferenceCore, requests: AsyncIterator[Any], context: Any,
                    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
    """The stream's responses; an error goes in ``error_message``, the stream goes on."""
    out: asyncio.Queue[pb.ModelStreamInferResponse | None] = asyncio.Queue()
    running: set[asyncio.Task[None]] = set()

    async def answer(request: Any) -> None:
        try:
            if not isinstance(request, pb.ModelInferRequest):
                raise request.error  # refused before parsing (over --max-request-size)
            async for message in core.stream(GrpcStreamInfer(request, context)):
                if message is not None:
                    out.put_nowait(pb.ModelStreamInferResponse(infer_response=message))
        except InferenceError as exc:
            out.put_nowait(pb.ModelStreamInferResponse(error_message=str(exc)))
        except Exception:  # a bug costs this request only, and its answer says nothing inside
            text = internal_error(log, "ModelStreamInfer")
            out.put_nowait(pb.ModelStreamInferResponse(error_message=text))

    async def read() -> None:
        try:
            async for request in requests:
                if _decoupled(core, request):
                    task = asyncio.ensure_future(answer(request))
                    running.add(task)
                    task.add_done_callback(running.discard)
                else:
                    await answer(request)
            await asyncio.gather(*running)
        finally:
            out.put_nowait(None)

    reader = asyncio.ensure_future(read())
    try:
        while (item := await out.get()) is not None:
            yield item
        await reader  # its own failure (the stream broke) surfaces here
    finally:
        for task in (reader, *running):
            task.cancel()


def _decoupled(core: InferenceCore, request: Any) -> bool:
    if not isinstance(request, pb.ModelInferRequest):
        return False
    try:
        return core.manager.get(request.model_name, request.model_version).config.decoupled
    except InferenceError:
        return False  # answered (with the lookup's error) in order
