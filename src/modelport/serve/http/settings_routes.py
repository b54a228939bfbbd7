"""The trace and logging extensions' HTTP routes: read and change settings while serving."""

from __future__ import annotations

from typing import Any

import orjson

from modelport.errors import InvalidInput, Unsupported
from modelport.serve.core import InferenceCore
from modelport.serve.http import codec
from modelport.serve.http.routing import Params, Reply, Request, Route


def settings_routes(core: InferenceCore) -> list[Route]:
    """``/v2[/models/{model}]/trace/setting`` and ``/v2/logging``, GET and POST."""

    async def trace(req: Request, p: Params) -> Reply:
        model = p.get("model", "")
        if model and not core.model_ready(model):
            raise InvalidInput(f"Request for unknown model : {model}")
        settings = core.tracing.settings
        if req.method == "POST":
            changes = {k: _trace_value(k, v) for k, v in _object(req).items()}
            setting = settings.update(model, changes)
        else:
            setting = settings.for_model(model) if model else settings.global_
        strings = setting.as_strings()
        return _json({k: (v if k == "trace_level" else v[0]) for k, v in strings.items()})

    async def logging(req: Request, p: Params) -> Reply:
        if core.logs is None:
            raise Unsupported("the logging extension is not available in this process")
        if req.method == "POST":
            return _json(core.logs.update(_object(req)))
        return _json(core.logs.current())

    return [Route(method, path, handler)
            for method in ("GET", "POST")
            for path, handler in (("/v2/trace/setting", trace),
                                  ("/v2/models/{model}/trace/setting", trace),
                                  ("/v2/logging", logging))]


def _json(data: Any) -> Reply:
    return Reply(200, orjson.dumps(data))


def _object(req: Request) -> dict[str, Any]:
    body = codec.loads(req.body) if req.body.strip() else {}
    if not isinstance(body, dict):
        raise InvalidInput("the settings must be a JSON object")
    return body


def _trace_value(key: str, value: Any) -> list[str] | None:
    """A trace setting's JSON value as Triton's list of strings (None clears it)."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise InvalidInput(f"trace setting '{key}' must be a string or a list of strings")
