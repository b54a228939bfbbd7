"""The shared-memory extension's HTTP routes: system shared memory, and CUDA shared memory
answered with a clear refusal on a server without a GPU."""

from __future__ import annotations

from typing import Any

import orjson

from modelport.errors import InvalidInput
from modelport.serve.http import codec
from modelport.serve.http.routing import Params, Reply, Request, Route
from modelport.serve.shm import SharedMemory

CUDA_REFUSAL = ("CUDA shared memory is not supported on this server: no GPU (modelport serves "
                "ONNX Runtime on CPU here; use system shared memory)")


def shm_routes(memory: SharedMemory) -> list[Route]:
    """Status, register and unregister for system and CUDA shared memory."""

    async def status(req: Request, p: Params) -> Reply:
        rows = memory.status(p.get("region", ""))
        return Reply(200, orjson.dumps([{"name": r.name, "key": r.key, "offset": r.offset,
                                         "byte_size": r.byte_size} for r in rows]))

    async def register(req: Request, p: Params) -> Reply:
        body = codec.loads(req.body) if req.body.strip() else {}
        if not isinstance(body, dict):
            raise InvalidInput("the register request must be a JSON object")
        key = body.get("key")
        if not isinstance(key, str):
            raise InvalidInput("the register request needs a string 'key'")
        memory.register(p["region"], key, _uint(body, "offset"), _uint(body, "byte_size"))
        return Reply(200)

    async def unregister(req: Request, p: Params) -> Reply:
        memory.unregister(p.get("region", ""))
        return Reply(200)

    async def cuda(req: Request, p: Params) -> Reply:
        raise InvalidInput(CUDA_REFUSAL)

    routes = []
    for prefix in ("/v2/systemsharedmemory", "/v2/systemsharedmemory/region/{region}"):
        routes += [Route("GET", f"{prefix}/status", status),
                   Route("POST", f"{prefix}/unregister", unregister)]
    routes.append(Route("POST", "/v2/systemsharedmemory/region/{region}/register", register))
    for prefix in ("/v2/cudasharedmemory", "/v2/cudasharedmemory/region/{region}"):
        routes += [Route("GET", f"{prefix}/status", cuda), Route("POST", f"{prefix}/unregister",
                                                                   cuda)]
    routes.append(Route("POST", "/v2/cudasharedmemory/region/{region}/register", cuda))
    return routes


def _uint(body: dict[str, Any], key: str) -> int:
    value = body.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"'{key}' must be a non-negative integer, got {value!r}")
    return value
