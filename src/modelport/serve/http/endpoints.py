"""The Open Inference Protocol's HTTP endpoints (Triton flavour) as a route table.

Endpoints decode what the protocol puts in the URL and body, call the core or the control
plane, and encode the answer; inference goes through the core's one pipeline as an
``HttpInfer`` call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

import orjson

from modelport.errors import InvalidInput, ModelNotReady
from modelport.repository import pbtxt
from modelport.repository.config import ModelConfig
from modelport.serve.control import ModelControl
from modelport.serve.core import InferenceCore
from modelport.serve.http import answers, codec
from modelport.serve.http.routing import Params, Reply, Request, Route
from modelport.serve.limits import RequestLimits
from modelport.serve.memdebug import MemoryDebugger
from modelport.serve.types import InferRequest, InferResponse

OK_EMPTY = Reply(200)
NOT_READY = Reply(503, b'{"error":"server is not ready"}')


def _json(data: Any) -> Reply:
    return Reply(200, orjson.dumps(data))


class HttpInfer:
    """One HTTP inference for the core's pipeline (an ``InferCall``)."""

    __slots__ = ("model", "req", "version")
    protocol = "http"

    def __init__(self, req: Request, model: str, version: str) -> None:
        self.req, self.model, self.version = req, model, version

    def trace_carrier(self) -> Mapping[str, str]:
        """The request headers (``traceparent``)."""
        return self.req.headers

    def decode(self, config: ModelConfig, limits: RequestLimits) -> InferRequest:
        """JSON, JSON + binary tensors, or one raw tensor (header length 0)."""
        length = header_length(self.req.headers.get("inference-header-content-length"))
        if length == 0:
            return codec.decode_raw_single(self.req.body, config, self.model, self.version,
                                           limits)
        return codec.decode_infer(self.req.body, length, self.model, self.version, config,
                                  limits)

    def encode(self, response: InferResponse, request: InferRequest) -> Reply:
        """JSON, or JSON followed by binary outputs."""
        return infer_reply(response, request)


def infer_reply(response: InferResponse, request: InferRequest) -> Reply:
    """An infer response as the HTTP reply: JSON, or JSON followed by binary outputs."""
    body, length = codec.encode_infer(response, request)
    if length is None:
        return Reply(200, body, compressible=True)
    return Reply(200, body, "application/octet-stream", length, compressible=True)


def header_length(raw: str | None) -> int | None:
    """The Inference-Header-Content-Length header's value (None: absent).

    Raises:
        InvalidInput: it is not a number.
    """
    if raw is None:
        return None
    if not (raw.strip().isascii() and raw.strip().isdigit()):
        raise InvalidInput(f"Inference-Header-Content-Length '{raw}' is not a number")
    return int(raw)


def _body_object(req: Request) -> dict[str, Any]:
    body = codec.loads(req.body) if req.body.strip() else {}
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    return body


class OipEndpoints:
    """Every route of the protocol, bound to the core and the control plane."""

    def __init__(self, core: InferenceCore, control: ModelControl) -> None:
        self.core, self.control = core, control

    def routes(self) -> list[Route]:
        """The route table."""
        per_model = [("GET", "", self.model_metadata), ("GET", "/ready", self.model_ready),
                     ("GET", "/config", self.model_config), ("GET", "/stats", self.model_stats),
                     ("POST", "/infer", self.infer)]
        return [
            Route("GET", "/v2", self.server_metadata),
            Route("GET", "/v2/health/live", self.live),
            Route("GET", "/v2/health/ready", self.ready),
            Route("GET", "/v2/models/stats", self.all_stats),
            *(Route(method, f"{prefix}{suffix}", endpoint)
              for prefix in ("/v2/models/{model}", "/v2/models/{model}/versions/{version}")
              for method, suffix, endpoint in per_model),
            Route("POST", "/v2/repository/index", self.index),
            Route("POST", "/v2/repository/models/{model}/load", self.load),
            Route("POST", "/v2/repository/models/{model}/unload", self.unload),
        ]

    async def server_metadata(self, req: Request, p: Params) -> Reply:
        """``GET /v2``."""
        return _json(answers.server_metadata(self.core.metadata))

    async def live(self, req: Request, p: Params) -> Reply:
        """``GET /v2/health/live``: answering is being live."""
        return OK_EMPTY

    async def ready(self, req: Request, p: Params) -> Reply:
        """``GET /v2/health/ready``: 503 until ready (strict readiness by default)."""
        return OK_EMPTY if self.core.ready else NOT_READY

    async def all_stats(self, req: Request, p: Params) -> Reply:
        """``GET /v2/models/stats``."""
        return _json(answers.statistics(self.core.statistics()))

    async def model_metadata(self, req: Request, p: Params) -> Reply:
        """``GET /v2/models/{m}[/versions/{v}]``."""
        meta = self.core.model_metadata(p["model"], p.get("version", ""))
        return _json(answers.model_metadata(meta))

    async def model_ready(self, req: Request, p: Params) -> Reply:
        """``GET .../ready``: 200, or 400 saying why the model is not ready."""
        reason = self.core.unready_reason(p["model"], p.get("version", ""))
        if reason is not None:
            raise ModelNotReady(reason)
        return OK_EMPTY

    async def model_config(self, req: Request, p: Params) -> Reply:
        """``GET .../config`` as Triton's JSON."""
        return _json(pbtxt.to_json(self.core.model_config(p["model"], p.get("version", ""))))

    async def model_stats(self, req: Request, p: Params) -> Reply:
        """``GET .../stats``."""
        rows = self.core.statistics(p["model"], p.get("version", ""))
        return _json(answers.statistics(rows))

    async def infer(self, req: Request, p: Params) -> Reply:
        """``POST .../infer`` through the core's pipeline."""
        reply: Reply = await self.core.infer(HttpInfer(req, p["model"], p.get("version", "")))
        return reply

    async def index(self, req: Request, p: Params) -> Reply:
        """``POST /v2/repository/index`` (an empty body is allowed)."""
        ready_only = _body_object(req).get("ready", False)
        if not isinstance(ready_only, bool):
            raise InvalidInput("Invalid value for 'ready': expected a boolean")
        return _json(answers.index(self.control.index(ready_only)))

    async def load(self, req: Request, p: Params) -> Reply:
        """``POST /v2/repository/models/{m}/load``."""
        self.control.authorize(req.headers.get("authorization"))
        await self.control.load(p["model"], _load_parameters(req))
        return OK_EMPTY

    async def unload(self, req: Request, p: Params) -> Reply:
        """``POST /v2/repository/models/{m}/unload``."""
        self.control.authorize(req.headers.get("authorization"))
        _load_parameters(req)
        await self.control.unload(p["model"], {})
        return OK_EMPTY


def _load_parameters(req: Request) -> dict[str, Any]:
    body = codec.loads(req.body) if req.body.strip() else {}
    params = body.get("parameters", {}) if isinstance(body, dict) else None
    if not isinstance(params, dict):
        raise InvalidInput("'parameters' must be a JSON object")
    return params


def debug_routes(core: InferenceCore, control: ModelControl,
                 debug: MemoryDebugger) -> list[Route]:
    """``/v2/debug/...``: per-version memory and allocation tracing (--debug-endpoints)."""

    def guarded(fn: Any) -> Any:
        async def endpoint(req: Request, p: Params) -> Reply:
            control.authorize(req.headers.get("authorization"))
            query = {k: v[-1] for k, v in parse_qs(req.query).items()}
            try:
                return _json(fn(query))
            except (KeyError, ValueError) as exc:
                raise InvalidInput(f"bad debug query {req.query!r}: {exc}") from None
        return endpoint

    return [
        Route("GET", "/v2/debug/models",
              guarded(lambda q: answers.memory(core.memory_by_version()))),
        Route("GET", "/v2/debug/memory", guarded(lambda q: debug.status())),
        Route("GET", "/v2/debug/memory/status", guarded(lambda q: debug.status())),
        Route("POST", "/v2/debug/memory/start",
              guarded(lambda q: debug.start(int(q.get("frames", "10"))))),
        Route("POST", "/v2/debug/memory/snapshot", guarded(lambda q: debug.snapshot())),
        Route("POST", "/v2/debug/memory/stop", guarded(lambda q: debug.stop())),
        Route("GET", "/v2/debug/memory/diff",
              guarded(lambda q: debug.diff(int(q["from"]), int(q["to"]),
                                           int(q.get("top", "20"))))),
    ]
