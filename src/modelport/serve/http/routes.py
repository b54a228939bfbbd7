"""The Open Inference Protocol's HTTP routes (Triton flavour) mapped onto the core."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson

from modelport.errors import InferenceError, InvalidInput, ModelNotFound, ModelNotReady
from modelport.serve.control import ModelControl
from modelport.serve.core import InferenceCore
from modelport.serve.http import codec
from modelport.serve.memdebug import MemoryDebugger
from modelport.serve.tracing import RequestTrace


@dataclass
class Request:
    """What a handler sees of an HTTP request."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: str = ""


@dataclass
class Reply:
    """A handler's answer; ``header_length`` is set when binary tensors follow the JSON."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    header_length: int | None = None


OK_EMPTY = Reply(200)
Handler = Callable[[Request, str, str], Awaitable[Reply]]


def _json(data: Any) -> Reply:
    return Reply(200, orjson.dumps(data))


class Router:
    """Matches /v2/... paths and calls the core; unknown paths get 404 with an error body."""

    def __init__(self, core: InferenceCore, control: ModelControl,
                 extra: dict[str, Callable[[Request], Awaitable[Reply]]] | None = None,
                 debug: MemoryDebugger | None = None) -> None:
        self.core = core
        self.control = control
        self.extra = extra or {}
        self.debug = debug
        self._model_routes: dict[tuple[str, str], Handler] = {
            ("GET", ""): self.model_metadata,
            ("GET", "ready"): self.model_ready,
            ("GET", "config"): self.model_config,
            ("GET", "stats"): self.model_stats,
            ("POST", "infer"): self.infer,
        }

    async def dispatch(self, req: Request) -> Reply:
        """Route one request."""
        parts = [p for p in req.path.split("/") if p]
        if parts[:1] == ["v2"]:
            reply = await self._v2(req, parts[1:])
            if reply is not None:
                return reply
        elif req.path in self.extra and req.method == "GET":
            return await self.extra[req.path](req)
        raise ModelNotFound(f"no route for {req.method} {req.path}")

    async def _v2(self, req: Request, parts: list[str]) -> Reply | None:
        get, post = req.method == "GET", req.method == "POST"
        if not parts and get:
            return _json(self.core.server_metadata())
        if parts == ["health", "live"] and get:
            return OK_EMPTY
        if parts == ["health", "ready"] and get:
            return OK_EMPTY if self.core.ready else Reply(503, b'{"error":"server is not ready"}')
        if parts == ["models", "stats"] and get:
            return _json({"model_stats": self.core.statistics()})
        if parts[:1] == ["models"] and len(parts) >= 2:
            name, rest = parts[1], parts[2:]
            version = ""
            if rest[:1] == ["versions"] and len(rest) >= 2:
                version, rest = rest[1], rest[2:]
            if len(rest) > 1:
                return None
            handler = self._model_routes.get((req.method, rest[0] if rest else ""))
            return await handler(req, name, version) if handler else None
        if parts[:1] == ["repository"] and post:
            return await self._repository(req, parts[1:])
        if parts[:1] == ["debug"] and self.debug is not None:
            self.control.authorize(req.headers.get("authorization"))
            return self._debug(req, parts[1:])
        return None

    def _debug(self, req: Request, parts: list[str]) -> Reply | None:
        debug = self.debug
        assert debug is not None
        query = {k: v[-1] for k, v in parse_qs(req.query).items()}
        if parts == ["models"] and req.method == "GET":
            return _json(self.core.memory_by_version())
        if parts[:1] != ["memory"]:
            return None
        action = parts[1] if len(parts) == 2 else "status"
        try:
            if action == "status" and req.method == "GET":
                return _json(debug.status())
            if action == "start" and req.method == "POST":
                return _json(debug.start(int(query.get("frames", "10"))))
            if action == "snapshot" and req.method == "POST":
                return _json(debug.snapshot())
            if action == "stop" and req.method == "POST":
                return _json(debug.stop())
            if action == "diff" and req.method == "GET":
                return _json(debug.diff(int(query["from"]), int(query["to"]),
                                        int(query.get("top", "20"))))
        except (KeyError, ValueError) as exc:
            raise InvalidInput(f"bad debug query {req.query!r}: {exc}") from None
        return None

    async def _repository(self, req: Request, parts: list[str]) -> Reply | None:
        if parts == ["index"]:
            body = codec.loads(req.body) if req.body.strip() else {}
            ready = bool(body.get("ready", False)) if isinstance(body, dict) else False
            return _json(self.control.index(ready))
        if len(parts) == 3 and parts[0] == "models" and parts[2] in ("load", "unload"):
            self.control.authorize(req.headers.get("authorization"))
            body = codec.loads(req.body) if req.body.strip() else {}
            params = body.get("parameters", {}) if isinstance(body, dict) else None
            if not isinstance(params, dict):
                raise InvalidInput("'parameters' must be a JSON object")
            if parts[2] == "load":
                await self.control.load(parts[1], params)
            else:
                await self.control.unload(parts[1], params)
            return OK_EMPTY
        return None

    async def model_metadata(self, req: Request, name: str, version: str) -> Reply:
        """GET /v2/models/{m}[/versions/{v}]."""
        return _json(self.core.model_metadata(name, version))

    async def model_ready(self, req: Request, name: str, version: str) -> Reply:
        """GET .../ready: 200 when ready, 400 with an error otherwise."""
        try:
            self.core.manager.get(name, version)
        except InferenceError as exc:
            raise ModelNotReady(str(exc)) from None
        return OK_EMPTY

    async def model_config(self, req: Request, name: str, version: str) -> Reply:
        """GET .../config as Triton's JSON."""
        return _json(self.core.model_config_json(name, version))

    async def model_stats(self, req: Request, name: str, version: str) -> Reply:
        """GET .../stats."""
        return _json({"model_stats": self.core.statistics(name, version)})

    async def infer(self, req: Request, name: str, version: str) -> Reply:
        """POST .../infer: JSON or binary in, JSON or binary out."""
        if not self.core.tracing.enabled:
            return await self._infer(req, name, version, None)
        trace = self.core.tracing.start_request(req.headers, "http")
        assert trace is not None
        try:
            reply = await self._infer(req, name, version, trace)
        except Exception as exc:
            trace.finish(name, version, str(exc))
            raise
        trace.finish(name, version)
        return reply

    async def _infer(self, req: Request, name: str, version: str,
                     trace: RequestTrace | None) -> Reply:
        received = time.perf_counter_ns()  # latency includes decoding, as on gRPC
        raw_length = req.headers.get("inference-header-content-length")
        header_length = _header_length(raw_length)
        config = self.core.manager.get(name, version).config  # 404 before any decoding error
        span = trace.child("decode") if trace is not None else None
        if header_length == 0:
            request = codec.decode_raw_single(req.body, config, name, version)
        else:
            request = codec.decode_infer(req.body, header_length, name, version)
        if span is not None:
            span.end()
        request.trace, request.received_ns = trace, received
        response = await self.core.infer(request)
        span = trace.child("encode") if trace is not None else None
        binary_default = bool(request.parameters.get("binary_data_output", False))
        body, length = codec.encode_infer(response, binary_default)
        if span is not None:
            span.end()
        if length is None:
            return Reply(200, body)
        return Reply(200, body, "application/octet-stream", length)


def _header_length(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not (raw.strip().isascii() and raw.strip().isdigit()):
        raise InvalidInput(f"Inference-Header-Content-Length '{raw}' is not a number")
    return int(raw)


class PathRouter:
    """Only fixed GET paths (the metrics port serves /metrics and nothing else)."""

    def __init__(self, routes: dict[str, Callable[[Request], Awaitable[Reply]]]) -> None:
        self.routes = routes

    async def dispatch(self, req: Request) -> Reply:
        """Route one request."""
        handler = self.routes.get(req.path) if req.method == "GET" else None
        if handler is None:
            raise ModelNotFound(f"no route for {req.method} {req.path}")
        return await handler(req)
