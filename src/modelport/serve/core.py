"""The protocol-neutral core: one pipeline for every inference, and the server's other answers
as typed values.

A front hands the core an ``InferCall``: the model it names, and how to decode the request and
encode the response in its protocol. The core owns every step in between, in one order for
both fronts: look the model up (so an unknown model is 404 / NOT_FOUND whatever the body
holds), decode, validate, queue and run, record statistics, trace, encode. A feature added to
inference touches this pipeline once, never both fronts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from modelport import __version__
from modelport.datatypes import by_name
from modelport.errors import (
    BackendError,
    InferenceError,
    InvalidInput,
    QueueFull,
    RequestTimedOut,
    Unsupported,
)
from modelport.repository.config import ModelConfig
from modelport.serve.classification import classify
from modelport.serve.inflight import InFlight
from modelport.serve.limits import DEFAULT_LIMITS, RequestLimits
from modelport.serve.logsettings import LogSettings
from modelport.serve.manager import ModelManager
from modelport.serve.model import ModelVersion
from modelport.serve.responses import ResponseStream
from modelport.serve.sequences.params import sequence_params
from modelport.serve.shm import Held, SharedMemory
from modelport.serve.shm import read as shm_read
from modelport.serve.shm import write as shm_write
from modelport.serve.stats import ModelStats
from modelport.serve.tensors import element_count, from_raw, to_raw
from modelport.serve.tracing import RequestTrace, Tracing
from modelport.serve.types import InferRequest, InferResponse, InputTensor, OutputTensor
from modelport.serve.validate import to_client_shape
from modelport.serve.views import (
    ModelMetadata,
    ServerMetadata,
    TensorMetadata,
    VersionMemory,
)

EXTENSIONS = (
    "classification",
    "binary_tensor_data",
    "model_repository",
    "model_configuration",
    "schedule_policy",
    "statistics",
    "parameters",
    "system_shared_memory",
    "trace",
    "logging",
    "sequence",
    "sequence(string_id)",
)
# Triton's words for a decoupled model asked for one response (use gRPC streaming).
DECOUPLED_REFUSAL = {
    "http": "HTTP end point doesn't support models with decoupled transaction policy",
    "grpc": "ModelInfer RPC doesn't support models with decoupled transaction policy",
}
T_co = TypeVar("T_co", covariant=True)
T = TypeVar("T")


class InferCall(Protocol, Generic[T_co]):
    """One inference as a front hands it over: where it goes and how to read and write it."""

    model: str
    version: str
    protocol: str  # "http" or "grpc", for traces

    def trace_carrier(self) -> Mapping[str, str]:
        """Headers or metadata that may carry the caller's ``traceparent``."""
        ...

    def decode(self, config: ModelConfig, limits: RequestLimits) -> InferRequest:
        """The request in the core's terms (``config`` for bodies that need it), within
        ``limits``.

        Raises:
            InvalidInput: the body is malformed.
        """
        ...

    def encode(self, response: InferResponse, request: InferRequest) -> T_co:
        """The response in the front's terms."""
        ...


class InferenceCore:
    """What a request needs from the server, whichever protocol carried it."""

    def __init__(self, manager: ModelManager, tracing: Tracing | None = None,
                 strict_readiness: bool = True, server_name: str = "modelport",
                 shm: SharedMemory | None = None, logs: LogSettings | None = None,
                 limits: RequestLimits = DEFAULT_LIMITS) -> None:
        self.manager = manager
        self.limits = limits  # bounds each request must fit before it is decoded
        self.shm = shm or SharedMemory(allowed=False)
        self.logs = logs  # the logging extension (the server's; None: not offered)
        self.started = False  # set once the initial loads are done; cleared on shutdown
        self.inflight = InFlight()  # requests from the fronts; refuses new ones on shutdown
        self.strict_readiness = strict_readiness
        self.tracing = tracing or Tracing(None)
        self.metadata = ServerMetadata(server_name, __version__, EXTENSIONS)

    @property
    def ready(self) -> bool:
        """Server readiness: started and, with strict readiness, every model it was asked to
        load has a version serving (Triton's --strict-readiness)."""
        return self.started and (not self.strict_readiness or self.manager.all_ready())

    # --- inference ------------------------------------------------------------------------------

    async def infer(self, call: InferCall[T]) -> T:
        """Look up, decode, validate, run and encode one request.

        Raises:
            InferenceError: any failure, already mapped to a status by its class.
        """
        admitted = _admit(self.inflight, call)
        try:
            return await self._infer(call)
        finally:
            if admitted:
                self.inflight.leave()

    async def _infer(self, call: InferCall[T]) -> T:
        received = time.perf_counter_ns()
        trace = (self.tracing.start_request(call.trace_carrier(), call.protocol, call.model)
                 if self.tracing.enabled else None)
        held: Held | None = None  # only for a request that names shared memory
        try:
            mv = self.manager.get(call.model, call.version)
            if mv.config.decoupled:
                raise Unsupported(DECOUPLED_REFUSAL.get(call.protocol, f"model '{mv.name}' is "
                                                        "decoupled: it answers only streams"))
            request = (call.decode(mv.config, self.limits) if trace is None else
                       _traced(trace, "decode", call.decode, mv.config, self.limits))
            if request.uses_shared_memory:
                held = Held(self.shm)
                _attach_shm(held, request, mv.name)
            response = await self._run(mv, request, received, trace)
            if held is not None:
                _deliver_shm(held, response)
            encoded: T = (call.encode(response, request) if trace is None else
                          _traced(trace, "encode", call.encode, response, request))
        except Exception as exc:
            if trace is not None:
                trace.finish(call.model, call.version, str(exc))
            raise
        finally:
            if held is not None:
                held.release()
        if trace is not None:
            trace.finish(response.model_name, response.model_version)
        return encoded

    async def _run(self, mv: ModelVersion, request: InferRequest, received: int,
                   trace: RequestTrace | None) -> InferResponse:
        try:
            checked = mv.checker(request)
            arrays = await mv.scheduler.submit(checked, _timeout_us(request.parameters), trace,
                                               sequence_params(request.parameters))
        except InferenceError as exc:
            mv.stats.record_failure(time.perf_counter_ns() - received, _reason(exc))
            raise
        except asyncio.CancelledError:  # the client went away
            mv.stats.record_failure(time.perf_counter_ns() - received, "CANCELED")
            raise
        mv.stats.record_success(time.perf_counter_ns() - received)
        return InferResponse(mv.name, str(mv.version), request.id,
                             _outputs(mv, request, checked.outputs, arrays))

    async def stream(self, call: InferCall[T]) -> AsyncIterator[T]:
        """Every response to one request as it comes: one for most models, any number for a
        decoupled model (the last has ``final`` set). Decoupled requests are not traced.

        Raises:
            InferenceError: the request failed, or the model answered with an error.
        """
        mv = self.manager.get(call.model, call.version)
        if not mv.config.decoupled:
            yield await self.infer(call)
            return
        admitted = _admit(self.inflight, call)
        try:
            async for response in self._stream(mv, call):
                yield response
        finally:
            if admitted:
                self.inflight.leave()

    async def _stream(self, mv: ModelVersion, call: InferCall[T]) -> AsyncIterator[T]:
        received = time.perf_counter_ns()
        held = Held(self.shm)
        task: asyncio.Future[list[np.ndarray]] | None = None
        try:
            request = call.decode(mv.config, self.limits)
            _attach_shm(held, request, mv.name)
            checked = mv.checker(request)
            responses = ResponseStream(asyncio.get_running_loop())
            task = asyncio.ensure_future(mv.scheduler.submit(
                checked, _timeout_us(request.parameters), None, sink=responses))
            task.add_done_callback(responses.end_on_error)
            async for outputs, final in responses:
                names = tuple(n for n in checked.outputs if n in outputs)
                response = InferResponse(mv.name, str(mv.version), request.id, _outputs(
                    mv, request, names, [outputs[n] for n in names]), final)
                _deliver_shm(held, response)
                yield call.encode(response, request)
        except InferenceError as exc:
            mv.stats.record_failure(time.perf_counter_ns() - received, _reason(exc))
            raise
        finally:
            held.release()
            if task is not None and not task.done():
                task.cancel()
        mv.stats.record_success(time.perf_counter_ns() - received)

    # --- everything else ------------------------------------------------------------------------

    def model_metadata(self, name: str, version: str = "") -> ModelMetadata:
        """Inputs and outputs with -1 for variable dims (and the batch dim when batching)."""
        cfg = self.manager.get(name, version).config

        def tensors(specs: Any) -> tuple[TensorMetadata, ...]:
            return tuple(TensorMetadata(s.name, s.datatype, tuple(cfg.full_shape(s)))
                         for s in specs)

        return ModelMetadata(cfg.name, tuple(str(v) for v in self.manager.versions(name)),
                             cfg.platform, tensors(cfg.inputs), tensors(cfg.outputs))

    def model_config(self, name: str, version: str = "") -> Any:
        """The complete ModelConfig message of a live version."""
        return self.manager.get(name, version).config.message

    def model_ready(self, name: str, version: str = "") -> bool:
        """Whether the model (version) can take requests now."""
        return self.unready_reason(name, version) is None

    def unready_reason(self, name: str, version: str = "") -> str | None:
        """Why the model (version) cannot take requests now; None when it can."""
        try:
            return self.manager.get(name, version).unavailable()
        except InferenceError as exc:
            return str(exc)

    def statistics(self, name: str = "", version: str = "") -> list[ModelStats]:
        """Statistics of one model version, all versions of a model, or all models."""
        if name and version:
            return [self.manager.get(name, version).stats]
        if name:
            self.manager.get(name)  # raises for an unknown model
        return [mv.stats for mv in self.manager.live(name)]

    def memory_by_version(self) -> list[VersionMemory]:
        """What each live version took at load: RSS growth and load time."""
        return [VersionMemory(mv.name, str(mv.version), mv.rss_delta_bytes, mv.load_seconds,
                              mv.loaded_at, mv.config.instance_count)
                for mv in self.manager.live()]


def _attach_shm(held: Held, request: InferRequest, model: str) -> None:
    """Read shared-memory inputs into the request; hold output regions until answered."""
    for tensor in request.inputs:
        if tensor.shm is not None:
            region = held.take("input", tensor.name, tensor.shm)
            tensor.data = _shm_tensor(tensor, model, shm_read(region, tensor.shm))
    for output in request.outputs:
        if output.shm is not None:
            held.take("output", output.name, output.shm)


def _shm_tensor(tensor: InputTensor, model: str, raw: bytes) -> np.ndarray:
    if tensor.datatype != "BYTES":
        expected = element_count(tensor.shape) * by_name(tensor.datatype).numpy.itemsize
        if len(raw) != expected:
            raise InvalidInput(f"input byte size mismatch for input '{tensor.name}' for model "
                               f"'{model}'. Expected {expected}, got {len(raw)}")
    return from_raw(tensor.name, tensor.datatype, tensor.shape, raw)


def _deliver_shm(held: Held, response: InferResponse) -> None:
    """Write outputs the client placed in shared memory into their regions."""
    for out in response.outputs:
        place = held.output(out.name)
        if place is not None:
            region, ref = place
            shm_write(region, ref, to_raw(out.datatype, out.data), out.name)
            out.in_shm = True


def _outputs(mv: ModelVersion, request: InferRequest, names: tuple[str, ...],
             arrays: list[np.ndarray]) -> list[OutputTensor]:
    config, out = mv.config, []
    for name, arr in zip(names, arrays, strict=True):
        spec = config.output(name)
        data = to_client_shape(config, spec, arr) if spec is not None else arr
        datatype = config.output_datatype(name)
        classes = request.classification(name)
        if classes:
            data = classify(name, data, classes, config.batching, mv.labels.get(name))
            datatype = "BYTES"
        out.append(OutputTensor(name, datatype, list(data.shape), data))
    return out


def _traced(trace: RequestTrace | None, span: str, fn: Any, *args: Any) -> Any:
    if trace is None:
        return fn(*args)
    child = trace.child(span)
    try:
        return fn(*args)
    finally:
        child.end()


def _reason(exc: InferenceError) -> str:
    """Triton's failure reasons: queue full or timed out is REJECTED."""
    if isinstance(exc, (QueueFull, RequestTimedOut)):
        return "REJECTED"
    if isinstance(exc, BackendError):
        return "BACKEND"
    return "OTHER"


def _timeout_us(parameters: dict[str, Any]) -> int:
    raw = parameters.get("timeout", 0)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        if isinstance(raw, str) and raw.isascii() and raw.isdigit():
            return int(raw)
        if raw in (0, None):
            return 0
        raise InvalidInput(f"parameter 'timeout' must be a non-negative integer, got {raw!r}")
    return raw


def _admit(inflight: InFlight, call: InferCall[Any]) -> bool:
    """Count a request from a front (refused once the server is shutting down); calls between
    models belong to an admitted request and pass.

    Raises:
        Unavailable: the server is shutting down.
    """
    if call.protocol == "local":
        return False
    inflight.enter()
    return True
