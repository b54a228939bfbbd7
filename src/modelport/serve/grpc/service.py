"""The gRPC front: inference.GRPCInferenceService and grpc.health.v1.Health on grpc.aio."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from modelport.errors import (
    InferenceError,
    InvalidInput,
    ModelNotReady,
    PayloadTooLarge,
    Unsupported,
)
from modelport.repository.config import ModelConfig
from modelport.serve.control import ModelControl
from modelport.serve.core import InferenceCore
from modelport.serve.faults import internal_error
from modelport.serve.grpc import answers, codec, streaming
from modelport.serve.grpc.proto import HEALTH_SERVICE_NAME, SERVICE_NAME, health_pb2
from modelport.serve.grpc.proto import grpc_service_pb2 as pb
from modelport.serve.http.shm_routes import CUDA_REFUSAL
from modelport.serve.limits import RequestLimits
from modelport.serve.types import InferRequest, InferResponse

log = logging.getLogger("modelport.grpc")
Context = Any  # grpc.aio.ServicerContext (grpc ships no type hints)

_CUDA = ("CudaSharedMemoryStatus", "CudaSharedMemoryRegister", "CudaSharedMemoryUnregister")


class _Refused:
    """Stands for a request message refused before it reached a handler: over
    --max-request-size (never parsed), or bytes that are not the message (the client's fault,
    INVALID_ARGUMENT; gRPC itself would answer UNKNOWN with the parser's exception)."""

    def __init__(self, error: InferenceError) -> None:
        self.error = error


def _bounded(message: Any, limit: int) -> Callable[[bytes], Any]:
    """A deserializer that refuses messages over ``limit`` bytes with our own error (gRPC's
    receive limit sits above it, so the client learns which flag to raise), and bytes that do
    not parse as ``message`` as invalid input."""
    def deserialize(data: bytes) -> Any:
        if len(data) > limit:
            return _Refused(PayloadTooLarge(f"request message of {len(data)} bytes exceeds the "
                                            f"limit of {limit} bytes (--max-request-size)"))
        try:
            return message.FromString(data)
        except DecodeError:
            return _Refused(InvalidInput(f"the request is not a valid {message.DESCRIPTOR.name} "
                                         "message (protobuf decoding failed)"))
    return deserialize


def grpc_receive_limit(limit: int) -> int:
    """gRPC's own receive limit for a --max-request-size of ``limit``: enough above it that
    oversized requests reach our check (and its clearer message)."""
    return min(2**31 - 1, max(2 * limit, limit + 16 * 1024 * 1024))


def _unary(fn: Callable[[Any, Any], Awaitable[Any]], req: Any, resp: Any,
           limit: int = 2**31 - 1) -> Any:
    async def call(request: Any, context: Any) -> Any:
        try:
            if isinstance(request, _Refused):
                raise request.error
            return await fn(request, context)
        except InferenceError as exc:
            await context.abort(grpc.StatusCode[exc.grpc_code], str(exc))
        except grpc.aio.AbortError:
            raise  # the handler aborted with its own status already
        except Exception:
            where = getattr(fn, "__name__", "gRPC call")
            await context.abort(grpc.StatusCode.INTERNAL, internal_error(log, where))
    return grpc.unary_unary_rpc_method_handler(
        call, request_deserializer=_bounded(req, limit),
        response_serializer=resp.SerializeToString)


class GrpcInfer:
    """One gRPC inference for the core's pipeline (an ``InferCall``)."""

    __slots__ = ("context", "message", "model", "version")
    protocol = "grpc"

    def __init__(self, message: pb.ModelInferRequest, context: Context) -> None:
        self.message, self.context = message, context
        self.model, self.version = message.model_name, message.model_version

    def trace_carrier(self) -> Mapping[str, str]:
        """The call's metadata (``traceparent``)."""
        return {m.key: str(m.value) for m in self.context.invocation_metadata() or ()}

    def decode(self, config: ModelConfig, limits: RequestLimits) -> InferRequest:
        """ModelInferRequest to the core's request."""
        return codec.decode_infer(self.message, config, limits)

    def encode(self, response: InferResponse, request: InferRequest) -> pb.ModelInferResponse:
        """Every output in raw_output_contents."""
        return codec.encode_infer(response)


class InferenceService:
    """Handlers for every RPC of inference.GRPCInferenceService."""

    def __init__(self, core: InferenceCore, control: ModelControl,
                 max_request_bytes: int = 2**31 - 1) -> None:
        self.core = core
        self.control = control
        self.limit = max_request_bytes

    def handlers(self) -> list[Any]:
        """Generic handlers to register on a grpc.aio server."""
        return [grpc.method_handlers_generic_handler(SERVICE_NAME, self._inference_table()),
                grpc.method_handlers_generic_handler(HEALTH_SERVICE_NAME, self._health_table())]

    def _inference_table(self) -> dict[str, Any]:
        unary: list[tuple[str, Callable[..., Awaitable[Any]], int]] = [
            ("ServerLive", self.server_live, 0), ("ServerReady", self.server_ready, 0),
            ("ModelReady", self.model_ready, 0), ("ServerMetadata", self.server_metadata, 0),
            ("ModelMetadata", self.model_metadata, 0), ("ModelInfer", self.model_infer, self.limit),
            ("ModelConfig", self.model_config, 0), ("ModelStatistics", self.model_statistics, 0),
            ("RepositoryIndex", self.repository_index, 0),
            ("RepositoryModelLoad", self.repository_load, self.limit),
            ("RepositoryModelUnload", self.repository_unload, 0),
            ("SystemSharedMemoryStatus", self.shm_status, 0),
            ("SystemSharedMemoryRegister", self.shm_register, 0),
            ("SystemSharedMemoryUnregister", self.shm_unregister, 0),
        ]
        table = {name: _unary(fn, getattr(pb, f"{name}Request"), getattr(pb, f"{name}Response"),
                              limit or 2**31 - 1)
                 for name, fn, limit in unary}
        table["TraceSetting"] = _unary(self.trace_setting, pb.TraceSettingRequest,
                                       pb.TraceSettingResponse)
        table["LogSettings"] = _unary(self.log_settings, pb.LogSettingsRequest,
                                      pb.LogSettingsResponse)
        table["ModelStreamInfer"] = grpc.stream_stream_rpc_method_handler(
            self.model_stream_infer,
            request_deserializer=_bounded(pb.ModelInferRequest, self.limit),
            response_serializer=pb.ModelStreamInferResponse.SerializeToString)
        for name in _CUDA:
            table[name] = _unary(self._no_cuda, getattr(pb, f"{name}Request"),
                                 getattr(pb, f"{name}Response"))
        return table

    def _health_table(self) -> dict[str, Any]:
        return {
            "Check": _unary(self.health_check, health_pb2.HealthCheckRequest,
                            health_pb2.HealthCheckResponse),
            "Watch": grpc.unary_stream_rpc_method_handler(
                self.health_watch,
                request_deserializer=_bounded(health_pb2.HealthCheckRequest, self.limit),
                response_serializer=health_pb2.HealthCheckResponse.SerializeToString),
        }

    async def server_live(self, request: pb.ServerLiveRequest,
                          context: Context) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def server_ready(self, request: pb.ServerReadyRequest,
                           context: Context) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.core.ready)

    async def model_ready(self, request: pb.ModelReadyRequest,
                          context: Context) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=self.core.model_ready(request.name, request.version))

    async def server_metadata(self, request: pb.ServerMetadataRequest,
                              context: Context) -> pb.ServerMetadataResponse:
        return answers.server_metadata(self.core.metadata)

    async def model_metadata(self, request: pb.ModelMetadataRequest,
                             context: Context) -> pb.ModelMetadataResponse:
        return answers.model_metadata(self.core.model_metadata(request.name, request.version))

    async def model_infer(self, request: pb.ModelInferRequest,
                          context: Context) -> pb.ModelInferResponse:
        return await self.core.infer(GrpcInfer(request, context))

    async def model_stream_infer(self, requests: AsyncIterator[pb.ModelInferRequest | _Refused],
                                 context: Context) -> AsyncIterator[pb.ModelStreamInferResponse]:
        """Answer each streamed request (decoupled models: any number of times, see
        streaming.py); an error goes in error_message, not abort."""
        async for response in streaming.responses(self.core, requests, context):
            yield response

    async def model_config(self, request: pb.ModelConfigRequest,
                           context: Context) -> pb.ModelConfigResponse:
        response = pb.ModelConfigResponse()
        response.config.CopyFrom(self.core.model_config(request.name, request.version))
        return response

    async def model_statistics(self, request: pb.ModelStatisticsRequest,
                               context: Context) -> pb.ModelStatisticsResponse:
        return answers.statistics(self.core.statistics(request.name, request.version))

    async def repository_index(self, request: pb.RepositoryIndexRequest,
                               context: Context) -> pb.RepositoryIndexResponse:
        return answers.index(self.control.index(request.ready))

    async def repository_load(self, request: pb.RepositoryModelLoadRequest,
                              context: Context) -> pb.RepositoryModelLoadResponse:
        self.control.authorize(_metadata(context, "authorization"))
        params = codec.parameters(request.parameters)
        await self.control.load(request.model_name, params)
        return pb.RepositoryModelLoadResponse()

    async def repository_unload(self, request: pb.RepositoryModelUnloadRequest,
                                context: Context) -> pb.RepositoryModelUnloadResponse:
        self.control.authorize(_metadata(context, "authorization"))
        await self.control.unload(request.model_name, {})
        return pb.RepositoryModelUnloadResponse()

    async def shm_status(self, request: pb.SystemSharedMemoryStatusRequest,
                         context: Context) -> pb.SystemSharedMemoryStatusResponse:
        response = pb.SystemSharedMemoryStatusResponse()
        for row in self.core.shm.status(request.name):
            region = response.regions[row.name]
            region.name, region.key = row.name, row.key
            region.offset, region.byte_size = row.offset, row.byte_size
        return response

    async def shm_register(self, request: pb.SystemSharedMemoryRegisterRequest,
                           context: Context) -> pb.SystemSharedMemoryRegisterResponse:
        self.core.shm.register(request.name, request.key, request.offset, request.byte_size)
        return pb.SystemSharedMemoryRegisterResponse()

    async def shm_unregister(self, request: pb.SystemSharedMemoryUnregisterRequest,
                             context: Context) -> pb.SystemSharedMemoryUnregisterResponse:
        self.core.shm.unregister(request.name)
        return pb.SystemSharedMemoryUnregisterResponse()

    async def trace_setting(self, request: pb.TraceSettingRequest,
                            context: Context) -> pb.TraceSettingResponse:
        model = request.model_name
        if model and not self.core.model_ready(model):
            raise InvalidInput(f"Request for unknown model : {model}")
        settings = self.core.tracing.settings
        if request.settings:
            changes = {k: (list(v.value) or None) for k, v in request.settings.items()}
            setting = settings.update(model, changes)
        else:
            setting = settings.for_model(model) if model else settings.global_
        response = pb.TraceSettingResponse()
        for key, values in setting.as_strings().items():
            response.settings[key].value.extend(values)
        return response

    async def log_settings(self, request: pb.LogSettingsRequest,
                           context: Context) -> pb.LogSettingsResponse:
        logs = self.core.logs
        if logs is None:
            raise Unsupported("the logging extension is not available in this process")
        current = logs.update(codec.log_values(request.settings)) if request.settings else (
            logs.current())
        response = pb.LogSettingsResponse()
        for key, value in current.items():
            codec.set_log_value(response.settings[key], value)
        return response

    @staticmethod
    async def _no_cuda(request: Any, context: Context) -> Any:
        raise InvalidInput(CUDA_REFUSAL)

    def _health_status(self, service: str) -> Any:
        if service not in ("", SERVICE_NAME):
            raise ModelNotReady(f"unknown service '{service}'")
        return health_pb2.HealthCheckResponse.SERVING if self.core.ready else (
            health_pb2.HealthCheckResponse.NOT_SERVING)

    async def health_check(self, request: health_pb2.HealthCheckRequest,
                           context: Context) -> health_pb2.HealthCheckResponse:
        if request.service not in ("", SERVICE_NAME):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service '{request.service}'")
        return health_pb2.HealthCheckResponse(status=self._health_status(request.service))

    async def health_watch(self, request: health_pb2.HealthCheckRequest,
                           context: Context) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        """Send the status now and again whenever it changes."""
        if isinstance(request, _Refused):
            await context.abort(grpc.StatusCode[request.error.grpc_code], str(request.error))
        last = None
        while True:
            status: Any = (self._health_status(request.service)
                           if request.service in ("", SERVICE_NAME)
                           else health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
            if status != last:
                yield health_pb2.HealthCheckResponse(status=status)
                last = status
            await asyncio.sleep(1.0)


def _metadata(context: Any, key: str) -> str | None:
    for item in context.invocation_metadata() or ():
        if item.key == key:
            return str(item.value)
    return None
