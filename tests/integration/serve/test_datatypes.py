"""Every protocol datatype and every request form, through unmodified tritonclient and raw HTTP.

One server serves a repository built here: ``id_<datatype>`` (ONNX Identity, batched, dims
[-1, -1]) for each of the 13 datatypes; ONNX Runtime's CPU Identity kernel accepts all of them
(BF16 is not in modelport's table, so it is not served). Beside those: ``pair`` (two inputs, two
outputs), ``versioned`` (versions 1 and 2 with different results, version_policy all) and
``fixed`` (an FP32 identity with fixed dims [3], for the raw single-tensor body).
"""

from __future__ import annotations

import gzip
import http.client
import json
import queue
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc as grpc_module
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from support.models import add_model, identity_model, random_like, write_model
from support.server import ServerProcess
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException, deserialize_bytes_tensor

DATATYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
             "FP16", "FP32", "FP64", "BYTES"]
SHAPE = [2, 3]

VERSIONED_CONFIG = 'name: "versioned"\nversion_policy { all { } }\n'
FIXED_CONFIG = """\
name: "fixed"
max_batch_size: 8
input [ { name: "x", data_type: TYPE_FP32, dims: [ 3 ] } ]
output [ { name: "y", data_type: TYPE_FP32, dims: [ 3 ] } ]
"""


@pytest.fixture(scope="module")
def server(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the whole module, over the repository described in the module docstring."""
    repo = tmp_path_factory.mktemp("datatypes-repo")
    for datatype in DATATYPES:
        write_model(repo, f"id_{datatype.lower()}", identity_model(datatype))
    write_model(repo, "pair", add_model())
    write_model(repo, "versioned", add_model(scale=1.0), version=1, config=VERSIONED_CONFIG)
    write_model(repo, "versioned", add_model(scale=2.0), version=2)
    write_model(repo, "fixed", identity_model("FP32"), config=FIXED_CONFIG)
    log = tmp_path_factory.mktemp("logs") / "datatypes-server.log"
    proc = ServerProcess(repo, log_path=log, env={"MODELPORT_CACHE_DIR": str(cache_dir)})
    yield proc
    assert proc.alive(), proc.log()
    assert proc.stop() == 0, proc.log()


@pytest.fixture(scope="module")
def http_client(server: ServerProcess) -> Iterator[httpclient.InferenceServerClient]:
    """A tritonclient.http client of the module's server."""
    client = httpclient.InferenceServerClient(server.http_url, network_timeout=30)
    yield client
    client.close()


@pytest.fixture(scope="module")
def grpc_client(server: ServerProcess) -> Iterator[grpcclient.InferenceServerClient]:
    """A tritonclient.grpc client of the module's server."""
    client = grpcclient.InferenceServerClient(server.grpc_url)
    yield client
    client.close()


def _as_bytes(arr: np.ndarray) -> list[bytes]:
    """BYTES results as a flat list of bytes (JSON responses hold str)."""
    return [v.encode() if isinstance(v, str) else bytes(v) for v in arr.ravel()]


def assert_same_tensor(got: np.ndarray, sent: np.ndarray) -> None:
    """Equal shape, dtype and values, bit for bit (BYTES: element by element)."""
    assert list(got.shape) == list(sent.shape)
    assert got.dtype == sent.dtype
    if sent.dtype == np.object_:
        assert _as_bytes(got) == _as_bytes(sent)
    else:
        assert got.tobytes() == sent.tobytes()


def _http_identity(client: httpclient.InferenceServerClient, datatype: str, data: np.ndarray,
                   binary: bool, **kwargs: Any) -> httpclient.InferResult:
    inp = httpclient.InferInput("x", list(data.shape), datatype)
    inp.set_data_from_numpy(data, binary_data=binary)
    out = httpclient.InferRequestedOutput("y", binary_data=binary)
    return client.infer(f"id_{datatype.lower()}", [inp], outputs=[out], **kwargs)


def _grpc_identity(client: grpcclient.InferenceServerClient, datatype: str,
                   data: np.ndarray, **kwargs: Any) -> grpcclient.InferResult:
    inp = grpcclient.InferInput("x", list(data.shape), datatype)
    inp.set_data_from_numpy(data)
    return client.infer(f"id_{datatype.lower()}", [inp], **kwargs)


def _request(server: ServerProcess, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _json_body(data: np.ndarray, **extra: Any) -> bytes:
    return json.dumps({"inputs": [{"name": "x", "shape": list(data.shape), "datatype": "FP32",
                                   "data": data.ravel().tolist()}], **extra}).encode()


@pytest.mark.parametrize("datatype", DATATYPES)
def test_http_binary_round_trip(http_client: httpclient.InferenceServerClient,
                                datatype: str) -> None:
    """tritonclient.http with binary tensors returns every datatype unchanged."""
    data = random_like(datatype, SHAPE, seed=1)
    result = _http_identity(http_client, datatype, data, binary=True)
    assert result.get_output("y")["datatype"] == datatype
    assert result.get_output("y")["parameters"]["binary_data_size"] > 0
    assert_same_tensor(result.as_numpy("y"), data)


@pytest.mark.parametrize("datatype", [d for d in DATATYPES if d != "FP16"])
def test_http_json_round_trip(http_client: httpclient.InferenceServerClient,
                              datatype: str) -> None:
    """tritonclient.http with JSON tensors (binary_data=False both ways) is exact too."""
    data = random_like(datatype, SHAPE, seed=2)
    result = _http_identity(http_client, datatype, data, binary=False)
    output = result.get_output("y")
    assert output["datatype"] == datatype
    assert "data" in output and "parameters" not in output
    assert_same_tensor(result.as_numpy("y"), data)


def test_http_json_fp16_is_accepted_and_exact(
        http_client: httpclient.InferenceServerClient) -> None:
    """FP16 in JSON round-trips exactly (Triton refuses it with 400; modelport is lenient)."""
    data = random_like("FP16", SHAPE, seed=3)
    result = _http_identity(http_client, "FP16", data, binary=False)
    assert result.get_output("y")["datatype"] == "FP16"
    assert_same_tensor(result.as_numpy("y"), data)


SPECIAL_FLOATS = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-40, 3.0e38, -1.5]


@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
@pytest.mark.parametrize("binary", [True, False])
def test_http_non_finite_floats(http_client: httpclient.InferenceServerClient, datatype: str,
                                binary: bool) -> None:
    """NaN, +/-Infinity, -0.0 and subnormals survive binary and JSON (Triton's NaN/Infinity
    tokens, which tritonclient writes and reads) without turning into null or each other."""
    data = np.array(SPECIAL_FLOATS * 2, dtype=np.float32 if datatype == "FP32" else np.float64
                    ).reshape(2, -1)
    result = _http_identity(http_client, datatype, data, binary=binary)
    assert_same_tensor(result.as_numpy("y"), data)


@pytest.mark.parametrize("datatype", DATATYPES)
def test_grpc_round_trip(grpc_client: grpcclient.InferenceServerClient, datatype: str) -> None:
    """tritonclient.grpc (raw_input_contents in, raw_output_contents out) is exact."""
    data = random_like(datatype, SHAPE, seed=4)
    result = _grpc_identity(grpc_client, datatype, data)
    output = result.get_output("y")
    assert output.datatype == datatype
    assert list(output.shape) == SHAPE
    assert_same_tensor(result.as_numpy("y"), data)


@pytest.mark.parametrize(("datatype", "shape"), [("FP32", [2, 0]), ("BYTES", [2, 0]),
                                                 ("BOOL", [1, 0])])
@pytest.mark.parametrize("transport", ["http-binary", "http-json", "grpc"])
def test_empty_tensor_round_trip(http_client: httpclient.InferenceServerClient,
                                 grpc_client: grpcclient.InferenceServerClient, datatype: str,
                                 shape: list[int], transport: str) -> None:
    """A tensor with a zero dimension comes back empty with its shape and dtype."""
    data = random_like(datatype, shape)
    if transport == "grpc":
        result: Any = _grpc_identity(grpc_client, datatype, data)
    else:
        result = _http_identity(http_client, datatype, data, binary=transport == "http-binary")
    assert_same_tensor(result.as_numpy("y"), data)


@pytest.mark.parametrize("datatype", ["FP64", "INT64", "BYTES"])
@pytest.mark.parametrize(("binary_in", "binary_out"), [(True, False), (False, True)])
def test_http_mixed_binary_and_json(http_client: httpclient.InferenceServerClient,
                                    datatype: str, binary_in: bool, binary_out: bool) -> None:
    """Binary inputs with JSON outputs, and JSON inputs with binary outputs, are both exact."""
    data = random_like(datatype, SHAPE, seed=11)
    inp = httpclient.InferInput("x", SHAPE, datatype)
    inp.set_data_from_numpy(data, binary_data=binary_in)
    result = http_client.infer(f"id_{datatype.lower()}", [inp],
                               outputs=[httpclient.InferRequestedOutput("y", binary_out)])
    assert ("data" not in result.get_output("y")) == binary_out
    assert_same_tensor(result.as_numpy("y"), data)


_TYPED_FIELD = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
                "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
                "UINT16": "uint_contents", "UINT32": "uint_contents",
                "UINT64": "uint64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents",
                "BYTES": "bytes_contents"}


@pytest.mark.parametrize("datatype", list(_TYPED_FIELD))
def test_grpc_typed_contents(server: ServerProcess, datatype: str) -> None:
    """gRPC inputs in typed ``contents`` fields (not raw) are read too; outputs come back raw."""
    data = random_like(datatype, SHAPE, seed=12)
    request = service_pb2.ModelInferRequest(model_name=f"id_{datatype.lower()}")
    entry = request.inputs.add(name="x", datatype=datatype, shape=SHAPE)
    getattr(entry.contents, _TYPED_FIELD[datatype]).extend(data.ravel().tolist())
    with grpc_module.insecure_channel(server.grpc_url) as channel:
        response = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request,
                                                                                 timeout=30)
    (raw,) = response.raw_output_contents
    got = (deserialize_bytes_tensor(raw) if datatype == "BYTES"
           else np.frombuffer(raw, dtype=data.dtype))
    assert list(response.outputs[0].shape) == SHAPE
    assert_same_tensor(got.reshape(SHAPE), data)


def test_http_nested_json_data(server: ServerProcess) -> None:
    """JSON ``data`` may be nested row-major lists as well as flat."""
    data = random_like("FP64", SHAPE, seed=13)
    body = json.dumps({"inputs": [{"name": "x", "shape": SHAPE, "datatype": "FP64",
                                   "data": data.tolist()}]}).encode()
    status, _, reply = _request(server, "POST", "/v2/models/id_fp64/infer", body)
    assert status == 200, reply
    output = json.loads(reply)["outputs"][0]
    assert_same_tensor(np.array(output["data"], dtype=np.float64).reshape(SHAPE), data)


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_request_body(http_client: httpclient.InferenceServerClient,
                                 algorithm: str) -> None:
    """A gzip or deflate request body (Content-Encoding) is inflated before decoding."""
    data = random_like("FP32", SHAPE, seed=5)
    result = _http_identity(http_client, "FP32", data, binary=True,
                            request_compression_algorithm=algorithm)
    assert_same_tensor(result.as_numpy("y"), data)


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_response_through_tritonclient(http_client: httpclient.InferenceServerClient,
                                                   algorithm: str) -> None:
    """tritonclient's response_compression_algorithm gets a response it can decode."""
    data = random_like("INT64", SHAPE, seed=6)
    result = _http_identity(http_client, "INT64", data, binary=True,
                            request_compression_algorithm=algorithm,
                            response_compression_algorithm=algorithm)
    assert_same_tensor(result.as_numpy("y"), data)


@pytest.mark.parametrize(("accept", "encoding", "inflate"), [
    ("gzip", "gzip", gzip.decompress),
    ("deflate", "deflate", zlib.decompress),
    ("br, gzip;q=0.8", "gzip", gzip.decompress),
])
def test_response_is_compressed_on_the_wire(server: ServerProcess, accept: str, encoding: str,
                                            inflate: Any) -> None:
    """Accept-Encoding gets a Content-Encoding response whose body inflates to the result."""
    data = random_like("FP32", SHAPE, seed=7)
    status, headers, body = _request(server, "POST", "/v2/models/id_fp32/infer",
                                     _json_body(data), {"Accept-Encoding": accept})
    assert status == 200
    assert headers["content-encoding"] == encoding
    assert int(headers["content-length"]) == len(body)
    reply = json.loads(inflate(body))
    got = np.array(reply["outputs"][0]["data"], dtype=np.float32).reshape(SHAPE)
    assert_same_tensor(got, data)


def test_response_not_compressed_when_refused(server: ServerProcess) -> None:
    """Accept-Encoding 'gzip;q=0' refuses gzip, so the response is sent uncompressed."""
    data = random_like("FP32", SHAPE, seed=7)
    status, headers, body = _request(server, "POST", "/v2/models/id_fp32/infer",
                                     _json_body(data), {"Accept-Encoding": "gzip;q=0"})
    assert status == 200
    assert "content-encoding" not in headers
    assert json.loads(body)["outputs"][0]["shape"] == SHAPE


def test_raw_single_tensor_body(server: ServerProcess) -> None:
    """Inference-Header-Content-Length: 0 makes the whole body the one input, with Triton's
    deduction (batch 1 and the config's dims; a variable dim sized from the body), and the
    outputs come back binary."""
    data = random_like("FP32", [1, 3], seed=8)
    status, headers, body = _request(server, "POST", "/v2/models/fixed/infer", data.tobytes(),
                                     {"Inference-Header-Content-Length": "0"})
    assert status == 200, body
    length = int(headers["inference-header-content-length"])
    reply = json.loads(body[:length])
    assert reply["model_name"] == "fixed"
    (output,) = reply["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("y", "FP32", [1, 3])
    assert_same_tensor(np.frombuffer(body[length:], dtype=np.float32).reshape(1, 3), data)
    long = random_like("FP32", [7], seed=9)
    status, headers, body = _request(server, "POST", "/v2/models/id_fp32/infer",
                                     long.tobytes(), {"Inference-Header-Content-Length": "0"})
    assert status == 200, body
    length = int(headers["inference-header-content-length"])
    assert json.loads(body[:length])["outputs"][0]["shape"] == [1, 7]


def test_json_infer_without_content_type(server: ServerProcess) -> None:
    """A JSON infer body with no Content-Type header at all is accepted (tritonclient's habit)."""
    data = random_like("FP32", SHAPE, seed=9)
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
    try:
        conn.putrequest("POST", "/v2/models/id_fp32/infer", skip_accept_encoding=True)
        body = _json_body(data)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        status, reply = resp.status, json.loads(resp.read())
    finally:
        conn.close()
    assert status == 200, reply
    got = np.array(reply["outputs"][0]["data"], dtype=np.float32).reshape(SHAPE)
    assert_same_tensor(got, data)


def test_http_request_id_is_echoed(http_client: httpclient.InferenceServerClient) -> None:
    """The request id comes back in the HTTP response."""
    data = random_like("INT32", SHAPE, seed=10)
    result = _http_identity(http_client, "INT32", data, binary=True, request_id="req-7f3a")
    assert result.get_response()["id"] == "req-7f3a"


def test_http_response_has_no_id_when_none_was_sent(
        http_client: httpclient.InferenceServerClient) -> None:
    """Without a request id the response carries no id field."""
    result = _http_identity(http_client, "INT32", random_like("INT32", SHAPE), binary=True)
    assert "id" not in result.get_response()


def test_grpc_request_id_is_echoed(grpc_client: grpcclient.InferenceServerClient) -> None:
    """The request id comes back in the gRPC response."""
    result = _grpc_identity(grpc_client, "INT32", random_like("INT32", SHAPE), request_id="g-42")
    assert result.get_response().id == "g-42"


def _pair_inputs(module: Any, a: np.ndarray, b: np.ndarray) -> list[Any]:
    inputs = [module.InferInput("a", list(a.shape), "FP32"),
              module.InferInput("b", list(b.shape), "FP32")]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(b)
    return inputs


A = np.arange(8, dtype=np.float32).reshape(2, 4)
B = np.full((2, 4), 0.5, dtype=np.float32)


@pytest.mark.parametrize("wanted", ["out", "diff"])
def test_http_returns_only_requested_outputs(http_client: httpclient.InferenceServerClient,
                                             wanted: str) -> None:
    """Naming one of two outputs over HTTP returns just that one, with its own values."""
    result = http_client.infer("pair", _pair_inputs(httpclient, A, B),
                               outputs=[httpclient.InferRequestedOutput(wanted)])
    assert [o["name"] for o in result.get_response()["outputs"]] == [wanted]
    expected = A + B if wanted == "out" else A - B
    assert_same_tensor(result.as_numpy(wanted), expected)


@pytest.mark.parametrize("wanted", ["out", "diff"])
def test_grpc_returns_only_requested_outputs(grpc_client: grpcclient.InferenceServerClient,
                                             wanted: str) -> None:
    """Naming one of two outputs over gRPC returns just that one, with its own values."""
    result = grpc_client.infer("pair", _pair_inputs(grpcclient, A, B),
                               outputs=[grpcclient.InferRequestedOutput(wanted)])
    assert [o.name for o in result.get_response().outputs] == [wanted]
    assert len(result.get_response().raw_output_contents) == 1
    expected = A + B if wanted == "out" else A - B
    assert_same_tensor(result.as_numpy(wanted), expected)


def test_all_outputs_when_none_requested(http_client: httpclient.InferenceServerClient) -> None:
    """Naming no outputs returns every output of the model."""
    result = http_client.infer("pair", _pair_inputs(httpclient, A, B))
    outputs = result.get_response()["outputs"]
    assert sorted(o["name"] for o in outputs) == ["diff", "out"]
    # tritonclient asked for binary_data_output, so both come back as binary tensors
    assert all(o["parameters"]["binary_data_size"] == 32 for o in outputs)
    assert_same_tensor(result.as_numpy("diff"), A - B)


@pytest.mark.parametrize(("version", "scale"), [("1", 1.0), ("2", 2.0), ("", 2.0)])
def test_http_version_routes(http_client: httpclient.InferenceServerClient, version: str,
                             scale: float) -> None:
    """/versions/N runs that version (empty = the highest) and names it in model_version."""
    result = http_client.infer("versioned", _pair_inputs(httpclient, A, B),
                               model_version=version,
                               outputs=[httpclient.InferRequestedOutput("out")])
    assert result.get_response()["model_version"] == (version or "2")
    assert_same_tensor(result.as_numpy("out"), A * np.float32(scale) + B)


@pytest.mark.parametrize(("version", "scale"), [("1", 1.0), ("2", 2.0), ("", 2.0)])
def test_grpc_versions(grpc_client: grpcclient.InferenceServerClient, version: str,
                       scale: float) -> None:
    """gRPC model_version picks the version (empty = the highest) and is echoed."""
    result = grpc_client.infer("versioned", _pair_inputs(grpcclient, A, B),
                               model_version=version,
                               outputs=[grpcclient.InferRequestedOutput("out")])
    assert result.get_response().model_version == (version or "2")
    assert_same_tensor(result.as_numpy("out"), A * np.float32(scale) + B)


def test_both_versions_are_listed(http_client: httpclient.InferenceServerClient) -> None:
    """With version_policy all, the metadata lists both versions."""
    assert http_client.get_model_metadata("versioned")["versions"] == ["1", "2"]


def test_grpc_stream_returns_each_result(server: ServerProcess) -> None:
    """ModelStreamInfer answers every streamed request with its own result and id."""
    client = grpcclient.InferenceServerClient(server.grpc_url)
    results: queue.Queue[tuple[Any, Any]] = queue.Queue()
    datatypes = {f"s{i}": dt for i, dt in enumerate(["FP32", "INT8", "BYTES", "FP64"])}
    sent = {rid: random_like(dt, SHAPE, seed=20 + i) for i, (rid, dt) in
            enumerate(datatypes.items())}
    try:
        client.start_stream(callback=lambda result, error: results.put((result, error)))
        for request_id, data in sent.items():
            inp = grpcclient.InferInput("x", SHAPE, datatypes[request_id])
            inp.set_data_from_numpy(data)
            client.async_stream_infer(f"id_{datatypes[request_id].lower()}", [inp],
                                      request_id=request_id)
        got = [results.get(timeout=30) for _ in sent]
    finally:
        client.stop_stream()
        client.close()
    assert all(error is None for _, error in got), [str(e) for _, e in got]
    by_id = {result.get_response().id: result for result, _ in got}
    assert sorted(by_id) == sorted(sent)
    for request_id, data in sent.items():
        assert_same_tensor(by_id[request_id].as_numpy("y"), data)


def test_grpc_stream_error_does_not_end_the_stream(server: ServerProcess) -> None:
    """A bad request on the stream gets an error callback; the next one still succeeds."""
    client = grpcclient.InferenceServerClient(server.grpc_url)
    results: queue.Queue[tuple[Any, Any]] = queue.Queue()
    data = random_like("FP32", SHAPE, seed=30)
    try:
        client.start_stream(callback=lambda result, error: results.put((result, error)))
        inp = grpcclient.InferInput("x", SHAPE, "FP32")
        inp.set_data_from_numpy(data)
        client.async_stream_infer("no_such_model", [inp], request_id="bad")
        client.async_stream_infer("id_fp32", [inp], request_id="good")
        first, second = results.get(timeout=30), results.get(timeout=30)
    finally:
        client.stop_stream()
        client.close()
    assert first[0] is None
    assert isinstance(first[1], InferenceServerException)
    assert "no_such_model" in str(first[1])
    assert second[1] is None
    assert second[0].get_response().id == "good"
    assert_same_tensor(second[0].as_numpy("y"), data)
