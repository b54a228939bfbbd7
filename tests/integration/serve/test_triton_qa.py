"""Cases of Triton's own QA suite (qa/L0_http/http_test.py, http_request_many_chunks.py,
qa/L0_grpc/python_unit_test.py) that apply to an ONNX server on CPU, run against modelport with
ONNX stand-ins for Triton's ``onnx_zero_*`` test models. Where modelport answers differently on
purpose, the test pins modelport's answer and docs/serve.md says why."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from onnx import TensorProto, helper
from support.models import simple_model, write_model
from support.server import ServerProcess
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException, deserialize_bytes_tensor

ELEM = {"FP32": TensorProto.FLOAT, "FP16": TensorProto.FLOAT16, "BYTES": TensorProto.STRING,
        "INT32": TensorProto.INT32}


def _zero(count: int, datatype: str, dims: list[str | int]) -> Any:
    """Triton's onnx_zero_<count>_<type>: OUTPUTi = INPUTi (identity), batched."""
    inputs = [helper.make_tensor_value_info(f"INPUT{i}", ELEM[datatype], ["batch", *dims])
              for i in range(count)]
    outputs = [helper.make_tensor_value_info(f"OUTPUT{i}", ELEM[datatype], ["batch", *dims])
               for i in range(count)]
    nodes = [helper.make_node("Identity", [f"INPUT{i}"], [f"OUTPUT{i}"]) for i in range(count)]
    model = helper.make_model(helper.make_graph(nodes, "zero", inputs, outputs),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


QUEUED = """
backend: "fake"
max_batch_size: 8
input [{ name: "INPUT0" data_type: TYPE_FP32 dims: [ -1 ] }]
output [{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [ -1 ] }]
dynamic_batching { default_queue_policy { max_queue_size: 1 } }
parameters { key: "delay_ms" value { string_value: "1500" } }
"""


@pytest.fixture(scope="module")
def server(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The stand-in models in explicit mode (so load requests are answered)."""
    repo = tmp_path_factory.mktemp("qa")
    write_model(repo, "onnx_zero_1_float32", _zero(1, "FP32", ["n"]))
    write_model(repo, "onnx_zero_1_object_1_element", _zero(1, "BYTES", [1]))
    write_model(repo, "onnx_zero_1_object", _zero(1, "BYTES", ["n"]))
    write_model(repo, "onnx_zero_1_float16", _zero(1, "FP16", ["a", "b"]))
    write_model(repo, "onnx_zero_3_float32", _zero(3, "FP32", ["n"]))
    write_model(repo, "simple", simple_model())
    (repo / "onnx_zero_1_float32_queue" / "1").mkdir(parents=True)
    (repo / "onnx_zero_1_float32_queue" / "config.pbtxt").write_text(QUEUED)
    proc = ServerProcess(repo, "--model-control-mode", "explicit", "--load-model", "*",
                         log_path=tmp_path_factory.mktemp("logs") / "qa.log",
                         env={"MODELPORT_CACHE_DIR": str(cache_dir)})
    yield proc
    assert proc.alive(), proc.log()
    proc.stop()


def _post(server: ServerProcess, path: str, body: bytes,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers=headers or {})
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        conn.close()


def _infer(server: ServerProcess, model: str, body: bytes,
           headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return _post(server, f"/v2/models/{model}/infer", body, headers)


def _raw(server: ServerProcess, model: str, data: bytes) -> tuple[int, dict[str, str], bytes]:
    return _infer(server, model, data, {"Inference-Header-Content-Length": "0"})


def _alive(server: ServerProcess) -> bool:
    return grpcclient.InferenceServerClient(server.grpc_url).is_server_live()


@pytest.mark.parametrize("count", [8, 32])
def test_raw_binary_round_trips(server: ServerProcess, count: int) -> None:
    """http_test.test_raw_binary(_longer): the raw body comes back as the binary output."""
    data = np.arange(count, dtype=np.float32).tobytes()
    status, headers, body = _raw(server, "onnx_zero_1_float32", data)
    assert status == 200, body
    assert body[int(headers["inference-header-content-length"]):] == data


def test_raw_bytes_element(server: ServerProcess) -> None:
    """http_test.test_byte: a BYTES input of shape [1] takes the whole body as its element."""
    status, headers, body = _raw(server, "onnx_zero_1_object_1_element", b"427")
    assert status == 200, body
    assert body[int(headers["inference-header-content-length"]) + 4:] == b"427"


@pytest.mark.parametrize(("model", "data", "message"), [
    ("onnx_zero_1_object", b"427",
     "For BYTE datatype raw input 'INPUT0', the model must have input shape [1]"),
    ("onnx_zero_1_float16", np.ones([2, 2], np.float16).tobytes(),
     "The shape of the raw input 'INPUT0' can not be deduced because there are more than one "
     "variable-sized dimension"),
    ("onnx_zero_3_float32", np.arange(24, dtype=np.float32).tobytes(),
     "Raw request must only have 1 input (found 1) to be deduced but got 3 inputs in"),
])
def test_raw_requests_that_cannot_be_deduced(server: ServerProcess, model: str, data: bytes,
                                             message: str) -> None:
    """http_test: raw bodies whose one tensor cannot be deduced are 400 with Triton's words."""
    status, _, body = _raw(server, model, data)
    assert status == 400 and message in json.loads(body)["error"]


def test_chunked_request_body(server: ServerProcess) -> None:
    """http_test.test_content_encoding_chunked_manually: a chunk-encoded raw body works."""
    data = np.arange(8, dtype=np.float32).tobytes()
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=30) as sock:
        sock.sendall(b"POST /v2/models/onnx_zero_1_float32/infer HTTP/1.1\r\nHost: x\r\n"
                     b"Inference-Header-Content-Length: 0\r\nTransfer-Encoding: chunked\r\n"
                     b"Connection: close\r\n\r\n"
                     + f"{len(data):X}\r\n".encode() + data + b"\r\n0\r\n\r\n")
        reply = _read_all(sock)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body.endswith(data)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_too_many_chunks_are_refused(server: ServerProcess) -> None:
    """http_request_many_chunks: more than 65536 non-empty chunks is 400 with Triton's words,
    and the server stays up."""
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=60) as sock:
        sock.sendall(b"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\n"
                     b"Inference-Header-Content-Length: 0\r\nTransfer-Encoding: chunked\r\n"
                     b"Connection: close\r\n\r\n")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"1\r\nA\r\n" * 65537 + b"0\r\n\r\n")
        reply = _read_all(sock)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert b"Chunked request body exceeds maximum of 65536 non-empty chunks" in reply
    assert _alive(server)


def test_full_queue_is_503(server: ServerProcess) -> None:
    """http_test.test_descriptive_status_code: a request the queue cannot take is 503."""
    data = np.arange(8, dtype=np.float32).tobytes()
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(
        _raw(server, "onnx_zero_1_float32_queue", data)[0])) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.3)
    status, _, body = _raw(server, "onnx_zero_1_float32_queue", data)
    for t in threads:
        t.join()
    assert status == 503, body
    assert sorted(results) == [200, 200]


@pytest.mark.parametrize("shape", [[2**4, 2**60 + 2], [2**2, 2**60 + 2]])
def test_absurd_shapes_are_refused(server: ServerProcess, shape: list[int]) -> None:
    """http_test.test_buffer_size_overflow: shapes whose size overflows are 400."""
    body = json.dumps({"inputs": [{"name": "INPUT0", "shape": shape, "datatype": "FP32",
                                   "data": [1.0]}]}).encode()
    status, _, reply = _infer(server, "onnx_zero_1_float32", body)
    assert status == 400 and "larger than any tensor can be" in json.loads(reply)["error"]


def test_negative_dimensions_are_the_clients_fault(server: ServerProcess) -> None:
    """http_test.test_negative_dimensions: Triton answers 500; modelport answers 400 (the
    client's fault, by design; docs/serve.md)."""
    body = json.dumps({"inputs": [{"name": "INPUT0", "shape": [2, -5], "datatype": "FP32",
                                   "data": [1.0]}]}).encode()
    status, _, reply = _infer(server, "onnx_zero_1_float32", body)
    assert status == 400 and "non-negative integers" in json.loads(reply)["error"]


@pytest.mark.parametrize(("depth", "ok"), [(50, True), (120, False)])
@pytest.mark.parametrize(("datatype", "value"), [("BYTES", '"hello"'), ("FP32", "1.5")])
def test_json_nesting_depth_limit(server: ServerProcess, depth: int, ok: bool, datatype: str,
                                  value: str) -> None:
    """http_test.test_json_recursion_depth_limit: data nested deeper than 100 is refused."""
    model = "onnx_zero_1_object" if datatype == "BYTES" else "onnx_zero_1_float32"
    data = "[" * depth + value + "]" * depth
    body = (f'{{"inputs": [{{"name": "INPUT0", "datatype": "{datatype}", "shape": [1, 1], '
            f'"data": {data}}}]}}').encode()
    status, _, reply = _infer(server, model, body)
    if ok:
        assert status == 200, reply
    else:
        assert status == 400
        assert "JSON nesting depth exceeds maximum allowed limit (100)" in reply.decode()


def test_duplicate_output_names_http_and_grpc(server: ServerProcess) -> None:
    """http_test / python_unit_test: an output named twice is 400 / INVALID_ARGUMENT."""
    body = json.dumps({"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 8],
                                   "data": list(range(8))}],
                       "outputs": [{"name": "OUTPUT0"}, {"name": "OUTPUT0"}]}).encode()
    status, _, reply = _infer(server, "onnx_zero_1_float32", body)
    assert status == 400 and "output 'OUTPUT0' already exists in request" in reply.decode()
    client = grpcclient.InferenceServerClient(server.grpc_url)
    inputs = [grpcclient.InferInput(f"INPUT{i}", [1, 16], "INT32") for i in range(2)]
    for i in inputs:
        i.set_data_from_numpy(np.ones((1, 16), np.int32))
    with pytest.raises(InferenceServerException, match="output 'OUTPUT0' already exists"):
        client.infer("simple", inputs, outputs=[grpcclient.InferRequestedOutput("OUTPUT0")] * 2)
    assert client.is_server_live()


def test_repository_index_with_deeply_nested_ready(server: ServerProcess) -> None:
    """http_test.test_repository_index_deeply_nested_json: 400, and the server stays live."""
    depth = 250_000
    status, _, reply = _post(server, "/v2/repository/index",
                             b'{"ready":' + b"[" * depth + b"true" + b"]" * depth + b"}")
    assert status == 400, reply[:200]
    status, _, reply = _post(server, "/v2/repository/index", b'{"ready": [true]}')
    assert status == 400
    assert "Invalid value for 'ready': expected a boolean" in json.loads(reply)["error"]
    assert _alive(server)


def test_header_length_out_of_range(server: ServerProcess) -> None:
    """http_test.test_inference_header_content_length_out_of_range: 400, server alive."""
    status, _, _ = _infer(server, "onnx_zero_1_float32", b'{"inputs": []}',
                          {"Inference-Header-Content-Length": "99999999999"})
    assert status == 400 and _alive(server)


def test_load_with_an_oversized_file_name(server: ServerProcess) -> None:
    """http_test.test_load_oversized_file_parameter: a file name longer than NAME_MAX is refused
    (Triton: 500, modelport: 400, the client's fault) and the server keeps serving."""
    body = json.dumps({"parameters": {"file:" + "A" * 256: "YQ==", "config": "{}"}}).encode()
    status, _, reply = _post(server, "/v2/repository/models/onnx_zero_1_float32/load", body)
    assert status == 400, reply
    assert "error" in json.loads(reply)
    assert _alive(server)
    assert grpcclient.InferenceServerClient(server.grpc_url).is_model_ready(
        "onnx_zero_1_float32")


def test_many_bytes_contents_elements(server: ServerProcess) -> None:
    """python_unit_test.test_bytes_contents_many_elements_serialization, scaled to 1M elements:
    typed bytes_contents round-trip through the raw stub."""
    count = 1024 * 1024
    request = service_pb2.ModelInferRequest(model_name="onnx_zero_1_object")
    tensor = request.inputs.add(name="INPUT0", datatype="BYTES", shape=[1, count])
    tensor.contents.bytes_contents.extend([b"A"] * count)
    request.outputs.add().name = "OUTPUT0"
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024),
               ("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    with grpc.insecure_channel(server.grpc_url, options=options) as channel:
        response = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request,
                                                                                timeout=120)
    assert list(response.outputs[0].shape) == [1, count]
    assert len(response.raw_output_contents[0]) == count * 5
    assert np.all(deserialize_bytes_tensor(response.raw_output_contents[0]) == b"A")
