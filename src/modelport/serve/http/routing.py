"""Declarative HTTP routing: a table of ``Route(method, pattern, endpoint)``.

Patterns are paths whose ``{name}`` segments capture one path segment each; literal routes are
tried before patterns of the same length, so ``/v2/models/stats`` is never a model called
``stats``. A path that matches nothing answers 404 with an ``{"error"}`` body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from modelport.errors import ModelNotFound


@dataclass
class Request:
    """What an endpoint sees of an HTTP request."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes | bytearray  # a relayed body is the bytearray it was read into
    query: str = ""


@dataclass
class Reply:
    """An endpoint's answer; ``header_length`` is set when binary tensors follow the JSON;
    ``compressible``: the client's Accept-Encoding may compress it (infer responses only, as
    in Triton)."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    header_length: int | None = None
    compressible: bool = False


Params = dict[str, str]
Endpoint = Callable[[Request, Params], Awaitable[Reply]]


@dataclass(frozen=True)
class Route:
    """``endpoint`` answers ``method`` requests whose path matches ``pattern``."""

    method: str
    pattern: str
    endpoint: Endpoint

    @property
    def segments(self) -> tuple[str, ...]:
        """The pattern's path segments."""
        return tuple(p for p in self.pattern.split("/") if p)


SEEN_PATHS = 4096  # routed paths remembered (cleared when full)


class Router:
    """Finds the route for a request and calls it."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._exact: dict[tuple[str, tuple[str, ...]], Endpoint] = {}
        self._patterns: dict[int, list[tuple[str, tuple[str, ...], Endpoint]]] = {}
        for route in routes:
            segments = route.segments
            if any(s.startswith("{") for s in segments):
                self._patterns.setdefault(len(segments), []).append(
                    (route.method, segments, route.endpoint))
            else:
                self._exact[(route.method, segments)] = route.endpoint
        self._seen: dict[tuple[str, str], tuple[Endpoint, Params]] = {}

    def table(self) -> list[tuple[str, str]]:
        """Every (method, pattern) routed, for checks against the API's description."""
        rows = [(method, segments) for method, segments in self._exact]
        rows += [(method, segments) for patterns in self._patterns.values()
                 for method, segments, _ in patterns]
        return sorted((method, "/" + "/".join(segments)) for method, segments in rows)

    async def dispatch(self, req: Request) -> Reply:
        """Route one request (a path seen before is one dictionary lookup).

        Raises:
            ModelNotFound: no route matches (answered 404).
        """
        key = (req.method, req.path)
        found = self._seen.get(key)
        if found is None:
            found = self._find(req.method, req.path)
            if len(self._seen) >= SEEN_PATHS:  # clients choose paths: keep the memory bounded
                self._seen.clear()
            self._seen[key] = found
        endpoint, params = found
        return await endpoint(req, dict(params))

    def _find(self, method: str, path: str) -> tuple[Endpoint, Params]:
        """The endpoint and captured segments for a request.

        Raises:
            ModelNotFound: no route matches.
        """
        parts = tuple(p for p in path.split("/") if p)
        endpoint = self._exact.get((method, parts))
        if endpoint is not None:
            return endpoint, {}
        for route_method, segments, candidate in self._patterns.get(len(parts), ()):
            if route_method != method:
                continue
            params = _match(segments, parts)
            if params is not None:
                return candidate, params
        raise ModelNotFound(f"no route for {method} {path}")


def _match(segments: tuple[str, ...], parts: tuple[str, ...]) -> Params | None:
    params: Params = {}
    for segment, part in zip(segments, parts, strict=True):
        if segment.startswith("{"):
            params[segment[1:-1]] = part
        elif segment != part:
            return None
    return params
