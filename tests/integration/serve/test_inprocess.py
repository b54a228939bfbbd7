"""The server driven in-process: the HTTP app through httpx's ASGI transport (no socket) and
the gRPC front on a free loopback port in the same event loop. Routes are tested in
milliseconds this way; the subprocess tests prove the real command line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc.aio as grpcaio
from support.models import add_model, write_model
from tritonclient.grpc import service_pb2, service_pb2_grpc

from modelport.serve.config import ServerConfig
from modelport.serve.server import Server

FAKE_CONFIG = """
backend: "fake"
max_batch_size: 4
input [{ name: "x" data_type: TYPE_FP32 dims: [ 2 ] }]
output [{ name: "y" data_type: TYPE_FP32 dims: [ 2 ] }]
dynamic_batching { }
"""

Scenario = Callable[[Server, httpx.AsyncClient], Awaitable[Any]]


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """An ONNX model (``add``) and a fake-backend model (``echo``)."""
    root = tmp_path / "models"
    write_model(root, "add", add_model(2.0))
    (root / "echo" / "1").mkdir(parents=True)
    (root / "echo" / "config.pbtxt").write_text(FAKE_CONFIG)
    return root


def _run(repo: Path, scenario: Scenario, tmp_path: Path, **settings: Any) -> Any:
    """Start a server with no sockets but gRPC's (port 0), run ``scenario``, stop it."""
    async def main() -> Any:
        config = ServerConfig(model_repository=repo, http_port=-1, metrics_port=-1,
                              grpc_port=settings.pop("grpc_port", -1),
                              cache_dir=tmp_path / "cache", **settings)
        server = Server(config)
        await server.start()
        try:
            transport = httpx.ASGITransport(app=server.http_app())
            async with httpx.AsyncClient(transport=transport, base_url="http://modelport") as c:
                return await scenario(server, c)
        finally:
            await server.stop()
    return asyncio.run(main())


def _add_body(a: list[float], b: list[float]) -> dict[str, Any]:
    return {"inputs": [{"name": "a", "shape": [1, 4], "datatype": "FP32", "data": a},
                       {"name": "b", "shape": [1, 4], "datatype": "FP32", "data": b}]}


def test_infer_metadata_and_stats_over_asgi(repo: Path, tmp_path: Path) -> None:
    """Health, metadata, infer and statistics answer through the ASGI app alone."""
    async def scenario(server: Server, http: httpx.AsyncClient) -> None:
        assert (await http.get("/v2/health/ready")).status_code == 200
        meta = (await http.get("/v2/models/add")).json()
        assert [i["name"] for i in meta["inputs"]] == ["a", "b"]
        reply = await http.post("/v2/models/add/infer", json=_add_body([1] * 4, [1] * 4))
        assert reply.status_code == 200
        out = {o["name"]: o["data"] for o in reply.json()["outputs"]}
        assert out["out"] == [3.0] * 4
        stats = (await http.get("/v2/models/add/stats")).json()["model_stats"][0]
        assert stats["inference_stats"]["success"]["count"] == 1
        index = (await http.post("/v2/repository/index")).json()
        assert {(r["name"], r["state"]) for r in index} == {("add", "READY"), ("echo", "READY")}

    _run(repo, scenario, tmp_path)


def test_errors_keep_their_status_and_body(repo: Path, tmp_path: Path) -> None:
    """Unknown route 404, bad JSON 400, wrong datatype 400: each an {"error"} body."""
    async def scenario(server: Server, http: httpx.AsyncClient) -> None:
        cases = [
            (await http.get("/v2/nowhere"), 404, "no route"),
            (await http.post("/v2/models/add/infer", content=b"{not json"), 400, "JSON"),
            (await http.post("/v2/models/echo/infer", json={"inputs": [
                {"name": "x", "shape": [1, 2], "datatype": "INT32", "data": [1, 2]}]}), 400,
             "expects 'FP32'"),
        ]
        for reply, status, text in cases:
            assert reply.status_code == status, reply.text
            assert text in reply.json()["error"]

    _run(repo, scenario, tmp_path)


def test_unknown_model_is_404_before_its_body_is_read(repo: Path, tmp_path: Path) -> None:
    """Error precedence: an unknown model with a malformed body is 404 on HTTP and NOT_FOUND
    on gRPC (the core looks the model up before decoding, for both fronts)."""
    async def scenario(server: Server, http: httpx.AsyncClient) -> None:
        reply = await http.post("/v2/models/nope/infer", content=b"{not json",
                                headers={"Inference-Header-Content-Length": "x"})
        assert reply.status_code == 404
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
            request = service_pb2.ModelInferRequest(model_name="nope")
            request.inputs.add(name="x", datatype="FP32", shape=[1, 2])
            request.raw_input_contents.extend([b"\0" * 8, b"one too many"])
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.ModelInfer(request)
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
            request.model_name = "echo"  # the same body to a real model: its decoding error
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.ModelInfer(request)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    _run(repo, scenario, tmp_path, grpc_port=0)


def test_grpc_asyncio_client_in_the_same_loop(repo: Path, tmp_path: Path) -> None:
    """tritonclient's asyncio gRPC client against the in-process gRPC front: readiness,
    infer on the fake backend, and a load over the control API."""
    async def scenario(server: Server, http: httpx.AsyncClient) -> None:
        client = grpcaio.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
        assert await client.is_server_ready()
        x = grpcaio.InferInput("x", [2, 2], "FP32")
        x.set_data_from_numpy(np.arange(4, dtype=np.float32).reshape(2, 2))
        result = await client.infer("echo", [x])
        np.testing.assert_array_equal(result.as_numpy("y"), np.arange(4).reshape(2, 2))
        await client.load_model("add")
        assert await client.is_model_ready("add")
        await client.close()

    _run(repo, scenario, tmp_path, grpc_port=0, model_control_mode="explicit",
         load_models=["echo"])


def test_a_failed_start_unwinds_what_it_started(repo: Path, tmp_path: Path) -> None:
    """A gRPC port that is taken makes start() fail after HTTP bound: HTTP is closed again."""
    import socket

    async def main() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            server = Server(ServerConfig(model_repository=repo, http_port=0, metrics_port=-1,
                                         grpc_port=port, cache_dir=tmp_path / "cache"))
            with pytest.raises(Exception, match="cannot bind"):
                await server.start()
            http_port = server.http_port
            assert http_port is not None
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", http_port)) != 0  # nobody listens

    asyncio.run(main())
