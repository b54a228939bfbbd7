"""``GET /openapi.yaml``: the OpenAPI 3 description of the HTTP API, shipped in the package
(``openapi.yaml`` beside this module; docs/openapi.yaml is the same file, a test keeps them
equal)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from modelport.serve.http.routing import Params, Reply, Request, Route

CONTENT_TYPE = "application/yaml"


@cache
def document() -> bytes:
    """The OpenAPI document's bytes."""
    return resources.files(__package__).joinpath("openapi.yaml").read_bytes()


def openapi_routes() -> list[Route]:
    """The route serving the document (no restriction group: it says nothing of the models)."""

    async def openapi(req: Request, p: Params) -> Reply:
        return Reply(200, document(), CONTENT_TYPE)

    return [Route("GET", "/openapi.yaml", openapi)]
