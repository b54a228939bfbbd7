"""The protocol-neutral core both fronts call: metadata, config, infer, statistics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from modelport import __version__
from modelport.errors import (
    BackendError,
    InferenceError,
    InvalidInput,
    QueueFull,
    RequestTimedOut,
)
from modelport.repository import pbtxt
from modelport.serve.manager import ModelManager
from modelport.serve.model import ModelVersion
from modelport.serve.tracing import Tracing
from modelport.serve.types import InferRequest, InferResponse, OutputTensor
from modelport.serve.validate import check

EXTENSIONS = [
    "binary_tensor_data",
    "model_repository",
    "model_configuration",
    "schedule_policy",
    "statistics",
    "parameters",
]


class InferenceCore:
    """What a request needs from the server, whichever protocol carried it."""

    def __init__(self, manager: ModelManager, tracing: Tracing | None = None,
                 strict_readiness: bool = True) -> None:
        self.manager = manager
        self.started = False  # set once the initial loads are done; cleared on shutdown
        self.strict_readiness = strict_readiness
        self.tracing = tracing or Tracing(None)

    @property
    def ready(self) -> bool:
        """Server readiness: started and, with strict readiness, every model it was asked to
        load has a version serving (Triton's --strict-readiness)."""
        return self.started and (not self.strict_readiness or self.manager.all_ready())

    def server_metadata(self) -> dict[str, Any]:
        """Name, version and extensions."""
        return {"name": "modelport", "version": __version__, "extensions": EXTENSIONS}

    def model_metadata(self, name: str, version: str = "") -> dict[str, Any]:
        """Inputs and outputs with -1 for variable dims (and the batch dim when batching)."""
        mv = self.manager.get(name, version)
        cfg = mv.config
        return {
            "name": cfg.name,
            "versions": [str(v) for v in self.manager.versions(name)],
            "platform": cfg.platform,
            "inputs": [{"name": s.name, "datatype": s.datatype, "shape": cfg.full_shape(s)}
                       for s in cfg.inputs],
            "outputs": [{"name": s.name, "datatype": s.datatype, "shape": cfg.full_shape(s)}
                        for s in cfg.outputs],
        }

    def model_config(self, name: str, version: str = "") -> Any:
        """The full ModelConfig message of a live version."""
        return self.manager.get(name, version).config_msg

    def model_config_json(self, name: str, version: str = "") -> dict[str, Any]:
        """Triton's JSON form of the config."""
        return pbtxt.to_json(self.model_config(name, version))

    def model_ready(self, name: str, version: str = "") -> bool:
        """Whether the model (version) can take requests now."""
        try:
            self.manager.get(name, version)
        except InferenceError:
            return False
        return True

    def statistics(self, name: str = "", version: str = "") -> list[dict[str, Any]]:
        """Statistics extension rows for one model version, all versions of a model, or all."""
        if name:
            if version:
                return [self.manager.get(name, version).stats.as_dict()]
            self.manager.get(name)  # raises for an unknown model
            names = [name]
        else:
            names = sorted(self.manager.models)
        return [
            self.manager.models[n].live[v].stats.as_dict()
            for n in names
            for v in sorted(self.manager.models[n].live)
        ]

    def memory_by_version(self) -> list[dict[str, Any]]:
        """What each live version took at load: RSS growth and load time."""
        return [
            {"name": name, "version": str(v), "rss_delta_bytes": mv.rss_delta_bytes,
             "load_seconds": mv.load_seconds, "loaded_at": mv.loaded_at,
             "instances": mv.config.instance_count}
            for name, state in sorted(self.manager.models.items())
            for v, mv in sorted(state.live.items())
        ]

    async def infer(self, request: InferRequest) -> InferResponse:
        """Validate, queue, run and package one request.

        Raises:
            InferenceError: any failure, already mapped to a status by its class.
        """
        if not request.received_ns:
            request.received_ns = time.perf_counter_ns()
        mv = self.manager.get(request.model_name, request.model_version)
        try:
            checked = check(mv.config, request)
            arrays = await mv.scheduler.submit(checked, _timeout_us(request.parameters),
                                               request.trace)
        except InferenceError as exc:
            mv.stats.record_failure(time.perf_counter_ns() - request.received_ns, _reason(exc))
            raise
        except asyncio.CancelledError:  # the client went away
            mv.stats.record_failure(time.perf_counter_ns() - request.received_ns, "CANCELED")
            raise
        mv.stats.record_success(time.perf_counter_ns() - request.received_ns)
        return _response(mv, request, checked.outputs, arrays)


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


def _response(mv: ModelVersion, request: InferRequest, names: tuple[str, ...],
              arrays: list[Any]) -> InferResponse:
    binary = {o.name: o.binary for o in request.outputs}
    outputs = []
    for name, arr in zip(names, arrays, strict=False):
        spec = mv.config.output(name)
        datatype = spec.datatype if spec is not None else "BYTES"
        outputs.append(OutputTensor(name, datatype, list(arr.shape), arr, binary.get(name)))
    return InferResponse(mv.name, str(mv.version), request.id, {}, outputs)
