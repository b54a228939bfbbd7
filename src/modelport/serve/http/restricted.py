"""``--http-restricted-api`` on the HTTP front: each route's group, and routes that check it.

The groups follow Triton's HTTP handlers: health (server live/ready and model ready), metadata
(``/v2`` and model metadata), inference, model-config, statistics, trace, logging,
shared-memory (system and CUDA) and model-repository (index, load, unload). modelport's
``/metrics`` on the HTTP port counts as statistics (Triton serves metrics on its metrics port
only, which stays open as Triton's does); the debug routes belong to no group (they are off by
default and take the control token).
"""

from __future__ import annotations

from collections.abc import Iterable

from modelport.serve.http.routing import Endpoint, Params, Reply, Request, Route
from modelport.serve.restrict import Restrictions

REFUSAL = "This API is restricted"  # Triton's words (HTTP 403)

_LAST_SEGMENT = {"ready": "health", "config": "model-config", "stats": "statistics",
                 "infer": "inference", "generate": "inference", "generate_stream": "inference",
                 "setting": "trace", "logging": "logging"}
_SECOND_SEGMENT = {"health": "health", "repository": "model-repository",
                   "systemsharedmemory": "shared-memory", "cudasharedmemory": "shared-memory"}


def http_group(pattern: str) -> str | None:
    """The restriction group of a route pattern (None: no group; never restricted)."""
    parts = tuple(p for p in pattern.split("/") if p)
    if parts == ("metrics",):
        return "statistics"
    if not parts or parts[0] != "v2":
        return None
    if parts == ("v2",):
        return "metadata"
    if parts[1] in _SECOND_SEGMENT:
        return _SECOND_SEGMENT[parts[1]]
    model_only = len(parts) == 3 and parts[2] != "stats"
    model_version = len(parts) == 5 and parts[3] == "versions"
    if parts[1] == "models" and (model_only or model_version):
        return "metadata"  # /v2/models/{model}[/versions/{version}]
    return _LAST_SEGMENT.get(parts[-1])


def restrict_routes(routes: Iterable[Route], restrictions: Restrictions) -> list[Route]:
    """``routes`` with each restricted group's endpoints checking the group's header first."""
    out = []
    for route in routes:
        group = http_group(route.pattern)
        if restrictions.get(group) is not None:
            route = Route(route.method, route.pattern, _guard(route.endpoint, group,
                                                                restrictions))
        out.append(route)
    return out


def _guard(endpoint: Endpoint, group: str | None, restrictions: Restrictions) -> Endpoint:
    async def guarded(req: Request, params: Params) -> Reply:
        restrictions.check(group, req.headers, REFUSAL)
        return await endpoint(req, params)
    return guarded
