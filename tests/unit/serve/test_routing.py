"""The HTTP router: literal routes before patterns, methods, and the memory of routed paths."""

from __future__ import annotations

import asyncio

import pytest

from modelport.errors import ModelNotFound
from modelport.serve.http import routing
from modelport.serve.http.routing import Params, Reply, Request, Route, Router


def _router() -> Router:
    def answer(label: str) -> routing.Endpoint:
        async def endpoint(req: Request, params: Params) -> Reply:
            params["seen"] = "yes"  # an endpoint may scribble on its params
            return Reply(200, f"{label} {sorted(params.items())}".encode())
        return endpoint

    return Router([Route("GET", "/v2/models/stats", answer("all-stats")),
                   Route("GET", "/v2/models/{model}/stats", answer("stats")),
                   Route("POST", "/v2/models/{model}/infer", answer("infer"))])


def _call(router: Router, method: str, path: str) -> bytes:
    return asyncio.run(router.dispatch(Request(method, path, {}, b""))).body


def test_repeated_paths_route_the_same_and_params_stay_clean() -> None:
    """The second request on a path gets the same endpoint and fresh params."""
    router = _router()
    first = _call(router, "POST", "/v2/models/mlp/infer")
    assert first == _call(router, "POST", "/v2/models/mlp/infer")
    assert first == b"infer [('model', 'mlp'), ('seen', 'yes')]"
    assert _call(router, "GET", "/v2/models/stats").startswith(b"all-stats")
    assert _call(router, "GET", "/v2/models/x/stats").startswith(b"stats [('model', 'x')")


def test_wrong_method_or_path_is_not_found_every_time() -> None:
    """A path routed for one method is still 404 for another; unknown paths are not kept."""
    router = _router()
    _call(router, "POST", "/v2/models/mlp/infer")
    for _ in range(2):
        with pytest.raises(ModelNotFound):
            _call(router, "GET", "/v2/models/mlp/infer")
    assert len(router._seen) == 1


def test_memory_of_paths_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients choose paths, so the routed paths remembered never exceed the bound."""
    monkeypatch.setattr(routing, "SEEN_PATHS", 8)
    router = _router()
    for i in range(50):
        _call(router, "POST", f"/v2/models/m{i}/infer")
        assert len(router._seen) <= 8
