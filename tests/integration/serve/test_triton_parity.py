"""Triton behaviours clients rely on, through tritonclient (sync, asyncio HTTP, gRPC):
classification, reshape, compression of infer responses only, --id, the full config JSON, and
config fields that are accepted but not acted on."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.http.aio as httpaio
from onnx import TensorProto, helper
from support.models import write_model

SCORES = np.array([[0.1, 3.3, 0.5, 2.4], [9.0, 1.0, 7.5, 7.5]], dtype=np.float32)


def _identity(name: str, dims: list[str | int]) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], name, [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """``scores`` (batched [4] identity, labelled), ``flat`` (a [2, 2] graph clients see as
    [4] through reshape), ``knobs`` (sets fields modelport does not act on)."""
    root = tmp_path / "models"
    write_model(root, "scores", _identity("scores", ["batch", 4]), config="""
max_batch_size: 8
input [{ name: "x" data_type: TYPE_FP32 dims: [ 4 ] }]
output [{ name: "y" data_type: TYPE_FP32 dims: [ 4 ] label_filename: "labels.txt" }]
""")
    (root / "scores" / "labels.txt").write_text("apple\nbanana\ncherry\ndate\n")
    write_model(root, "flat", _identity("flat", ["batch", 2, 2]), config="""
max_batch_size: 8
input [{ name: "x" data_type: TYPE_FP32 dims: [ 4 ] reshape { shape: [ 2, 2 ] } }]
output [{ name: "y" data_type: TYPE_FP32 dims: [ 4 ] reshape { shape: [ 2, 2 ] } }]
""")
    write_model(root, "knobs", _identity("knobs", ["batch", 4]), config="""
max_batch_size: 8
optimization { graph { level: 1 } }
dynamic_batching { preserve_ordering: true }
""")
    return root


def _scores_input(module: type) -> object:
    inp = module.InferInput("x", [2, 4], "FP32")  # type: ignore[attr-defined]
    inp.set_data_from_numpy(SCORES)
    return inp


def test_classification_over_http_grpc_and_asyncio(start_server, repo: Path) -> None:
    """classification=K returns the top K as "value:index:label" BYTES [batch, K], written as
    Triton writes them, over every client; the extension is advertised."""
    server = start_server(repo)
    expected = [[b"3.300000:1:banana", b"2.400000:3:date"],
                [b"9.000000:0:apple", b"7.500000:2:cherry"]]
    http = httpclient.InferenceServerClient(server.http_url)
    assert "classification" in http.get_server_metadata()["extensions"]
    out = httpclient.InferRequestedOutput("y", class_count=2)
    result = http.infer("scores", [_scores_input(httpclient)], outputs=[out])
    assert result.as_numpy("y").tolist() == expected
    json_out = httpclient.InferRequestedOutput("y", binary_data=False, class_count=2)
    body = http.infer("scores", [_scores_input(httpclient)], outputs=[json_out]).get_response()
    assert body["outputs"][0]["datatype"] == "BYTES" and body["outputs"][0]["shape"] == [2, 2]
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    result = grpc.infer("scores", [_scores_input(grpcclient)],
                        outputs=[grpcclient.InferRequestedOutput("y", class_count=2)])
    assert result.as_numpy("y").tolist() == expected

    async def aio() -> list[list[bytes]]:
        client = httpaio.InferenceServerClient(server.http_url)
        try:
            answer = await client.infer("scores", [_scores_input(httpaio)],
                                        outputs=[httpaio.InferRequestedOutput("y",
                                                                              class_count=2)])
            return list(answer.as_numpy("y").tolist())
        finally:
            await client.close()

    assert asyncio.run(aio()) == expected


def test_reshape_between_client_and_graph(start_server, repo: Path) -> None:
    """Clients send and receive [batch, 4] where the graph computes [batch, 2, 2]."""
    server = start_server(repo)
    http = httpclient.InferenceServerClient(server.http_url)
    meta = http.get_model_metadata("flat")
    assert meta["inputs"][0]["shape"] == [-1, 4]
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    inp = httpclient.InferInput("x", [2, 4], "FP32")
    inp.set_data_from_numpy(x)
    np.testing.assert_array_equal(http.infer("flat", [inp]).as_numpy("y"), x)
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    ginp = grpcclient.InferInput("x", [2, 4], "FP32")
    ginp.set_data_from_numpy(x)
    np.testing.assert_array_equal(grpc.infer("flat", [ginp]).as_numpy("y"), x)


def test_only_infer_responses_are_compressed(start_server, repo: Path) -> None:
    """With Accept-Encoding: gzip, an infer response is compressed; metadata, statistics,
    the index and errors are not (tritonclient's asyncio client does not decompress them)."""
    server = start_server(repo)
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)

    def ask(method: str, path: str, body: bytes | None = None) -> tuple[str | None, bytes]:
        conn.request(method, path, body=body, headers={"Accept-Encoding": "gzip"})
        reply = conn.getresponse()
        return reply.getheader("Content-Encoding"), reply.read()

    body = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                                   "data": [1, 2, 3, 4]}]}).encode()
    encoding, data = ask("POST", "/v2/models/scores/infer", body)
    assert encoding == "gzip" and json.loads(gzip.decompress(data))["model_name"] == "scores"
    for method, path in (("GET", "/v2"), ("GET", "/v2/models/scores"),
                         ("GET", "/v2/models/stats"), ("POST", "/v2/repository/index"),
                         ("GET", "/v2/models/nope")):
        encoding, data = ask(method, path)
        assert encoding is None, path
        json.loads(data)
    conn.close()

    async def aio_metadata() -> dict[str, object]:
        client = httpaio.InferenceServerClient(server.http_url)
        try:
            meta: dict[str, object] = await client.get_model_metadata("scores")
            return meta
        finally:
            await client.close()

    assert asyncio.run(aio_metadata())["name"] == "scores"


def test_server_id_and_ignored_config_fields(start_server, repo: Path) -> None:
    """--id names the server in its metadata; config fields modelport does not act on are
    kept, returned, and named in a warning at load."""
    server = start_server(repo, "--id", "edge-7")
    http = httpclient.InferenceServerClient(server.http_url)
    assert http.get_server_metadata()["name"] == "edge-7"
    assert grpcclient.InferenceServerClient(server.grpc_url).get_server_metadata().name == "edge-7"
    config = http.get_model_config("knobs")
    assert config["optimization"]["graph"]["level"] == 1
    assert config["dynamic_batching"]["preserve_ordering"] is True
    log = server.log()
    assert ("model 'knobs': the config sets fields modelport does not act on (they are kept "
            "and returned, with no effect): dynamic_batching.preserve_ordering, optimization"
            ) in log
