"""The HTTP API's OpenAPI description: it is the one docs/ shows, the server serves it, it
names every route the server has, and a live server answers schemathesis' cases for every
operation without a 5xx and within the schema."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from support.fuzzing import FORBIDDEN, build_repo
from support.server import ServerProcess

from modelport.serve.config import ServerConfig
from modelport.serve.http.openapi import document
from modelport.serve.server import Server

DOCS = Path(__file__).resolve().parents[3] / "docs" / "openapi.yaml"


def test_docs_copy_is_the_packaged_document() -> None:
    """docs/openapi.yaml is byte for byte the document the package ships and serves."""
    assert DOCS.read_bytes() == document()


def test_every_route_is_described(tmp_path: Path) -> None:
    """Each (method, path) the HTTP front routes is an operation of the document, and the
    document describes no route the server lacks; GET /openapi.yaml serves it."""
    spec = yaml.safe_load(document())
    described = {(method.upper(), path) for path, item in spec["paths"].items()
                 for method in item if method != "parameters"}

    async def main() -> tuple[set[tuple[str, str]], httpx.Response]:
        config = ServerConfig(model_repository=build_repo(tmp_path / "models"), http_port=-1,
                              grpc_port=-1, metrics_port=-1, cache_dir=tmp_path / "cache")
        server = Server(config)
        await server.start()
        try:
            app = server.http_app()
            routed = set(app.router.table())
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://m") as client:
                reply = await client.get("/openapi.yaml")
            return routed, reply
        finally:
            await server.stop()

    routed, reply = asyncio.run(main())
    assert routed == described
    assert reply.status_code == 200 and reply.content == document()
    assert reply.headers["content-type"] == "application/yaml"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real ``modelport serve`` (explicit model control, every model loaded)."""
    root = tmp_path_factory.mktemp("openapi")
    server = ServerProcess(build_repo(root / "models"), "--model-control-mode", "explicit",
                           "--load-model", "*", "--cache-dir", str(root / "cache"),
                           log_path=root / "server.log")
    yield server
    assert server.alive(), server.log()
    server.stop()


# a body can fit the schema and still not fit the model (shapes, names): the server's 400 for
# it is right, so "schema-valid data must be accepted" does not hold for this API
# 501 is Triton's deliberate answer to changing trace_file / log_file over the network (not a
# fault), so the server-error check is ours: no 500, and 5xx only where Triton answers them
EXCLUDED = [checks.positive_data_acceptance, checks.not_a_server_error]
DELIBERATE_5XX = {501: "can not be updated through network protocol", 503: ""}
EXAMPLES = 4  # per operation and mode: 35 operations x 2 modes, about 10 s in all


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_description(live: ServerProcess, mode: GenerationMode) -> None:
    """schemathesis against the live server, every operation of the document it serves:
    valid cases (positive) and cases that break the schema (negative). No 5xx; status codes,
    content types and bodies as described; no internal detail in any answer."""
    api = schemathesis.openapi.from_url(f"http://{live.http_url}/openapi.yaml")
    base_url = f"http://{live.http_url}"
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 34

    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            response = case.call_and_validate(base_url=base_url, timeout=30,
                                              excluded_checks=EXCLUDED)
            status = response.status_code
            if status >= 500:
                assert status in DELIBERATE_5XX, (case.operation.label, status, response.text)
                assert DELIBERATE_5XX[status] in response.json()["error"], response.text
            assert not FORBIDDEN.search(response.content)

        try:
            check()
        except Unsatisfiable:  # nothing in the operation to break (no parameters, no body)
            assert mode is GenerationMode.NEGATIVE, operation.label
