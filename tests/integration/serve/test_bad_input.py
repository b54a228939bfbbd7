"""Bad requests get the right status and a readable error, and the server keeps serving.

HTTP cases go through plain http.client so malformed bodies and headers reach the server as
written; gRPC cases go through tritonclient.grpc, or a bare stub where tritonclient refuses to
build the bad message. After every test the server must still answer a good request.
"""

from __future__ import annotations

import gzip
import http.client
import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from support.models import add_model, identity_model, write_model
from support.server import ServerProcess
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

GOOD = np.arange(6, dtype=np.float32).reshape(2, 3)
MODELS = {"ident", "pair", "words", "fixed", "victim_http", "victim_grpc"}
FIXED_CONFIG = """\
max_batch_size: 8
input [ { name: "x", data_type: TYPE_FP32, dims: [ 3 ] } ]
output [ { name: "y", data_type: TYPE_FP32, dims: [ 3 ] } ]
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ident`` FP32 identity (batched, max 8, dims [-1]), ``pair`` (inputs a, b), ``words``
    BYTES identity, ``fixed`` (FP32 dims [3]), ``victim_*`` (FP32 identities that load
    requests try to point elsewhere); beside the repository, a loadable INT8 model ``secret``
    that must stay out of reach."""
    root = tmp_path_factory.mktemp("bad-input")
    repo = root / "repo"
    write_model(repo, "ident", identity_model("FP32"))
    write_model(repo, "pair", add_model())
    write_model(repo, "words", identity_model("BYTES"))
    write_model(repo, "fixed", identity_model("FP32"), config=FIXED_CONFIG)
    write_model(repo, "victim_http", identity_model("FP32"))
    write_model(repo, "victim_grpc", identity_model("FP32"))
    write_model(root, "secret", identity_model("INT8"))
    return repo


def _start(repo: Path, cache_dir: Path, log: Path, *flags: str) -> ServerProcess:
    return ServerProcess(repo, "--model-control-mode", "explicit", "--load-model", "*", *flags,
                         log_path=log, env={"MODELPORT_CACHE_DIR": str(cache_dir)})


@pytest.fixture(scope="module")
def server(repo: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[ServerProcess]:
    """The repository in explicit mode (so load paths are reachable), default limits."""
    proc = _start(repo, cache_dir, tmp_path_factory.mktemp("logs") / "bad-input.log")
    yield proc
    assert proc.alive(), proc.log()
    assert proc.stop() == 0, proc.log()


@pytest.fixture(scope="module")
def small_server(repo: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory,
                 ) -> Iterator[ServerProcess]:
    """The same repository with --max-request-size 2048."""
    proc = _start(repo, cache_dir, tmp_path_factory.mktemp("logs") / "small.log",
                  "--max-request-size", "2048")
    yield proc
    assert proc.alive(), proc.log()
    assert proc.stop() == 0, proc.log()


def send(server: ServerProcess, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
         method: str = "POST", chunked: bool = False) -> tuple[int, bytes]:
    """One request on a fresh connection; returns status and body."""
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
    try:
        if chunked:
            conn.request(method, path, body=iter([body]), headers=headers or {},
                         encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def assert_error(status: int, body: bytes, expected_status: int, *fragments: str) -> str:
    """The status is right and the body is ``{"error": "<message naming the fragments>"}``."""
    assert status == expected_status, body
    reply = json.loads(body)
    assert list(reply) == ["error"], reply
    message = reply["error"]
    assert isinstance(message, str) and message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message
    return message


def assert_serving(server: ServerProcess) -> None:
    """The server is alive and a good request still gets the right answer."""
    assert server.alive(), server.log()
    status, body = send(server, "/v2/models/ident/infer", json_infer(GOOD))
    assert status == 200, body
    output = json.loads(body)["outputs"][0]
    assert output["data"] == GOOD.ravel().tolist()


@pytest.fixture(autouse=True)
def _keeps_serving(server: ServerProcess, grpc_client: grpcclient.InferenceServerClient,
                   ) -> Iterator[None]:
    """After every test the main server still answers good HTTP and gRPC requests."""
    yield
    assert_serving(server)
    result = grpc_client.infer("ident", [_grpc_input("x", GOOD)])
    np.testing.assert_array_equal(result.as_numpy("y"), GOOD)


def tensor(name: str, arr: np.ndarray, datatype: str = "FP32", **extra: Any) -> dict[str, Any]:
    """A JSON input entry."""
    return {"name": name, "shape": list(arr.shape), "datatype": datatype,
            "data": arr.ravel().tolist(), **extra}


def json_infer(arr: np.ndarray, **extra: Any) -> bytes:
    """A JSON infer body for ``ident``."""
    return json.dumps({"inputs": [tensor("x", arr)], **extra}).encode()


def binary_infer(inputs: list[dict[str, Any]], blobs: bytes) -> tuple[bytes, dict[str, str]]:
    """A binary-extension body and its Inference-Header-Content-Length header."""
    head = json.dumps({"inputs": inputs}).encode()
    return head + blobs, {"Inference-Header-Content-Length": str(len(head))}


def bytes_element(*items: bytes) -> bytes:
    """BYTES elements, each a 4-byte little-endian length then the bytes."""
    return b"".join(struct.pack("<I", len(i)) + i for i in items)


def _binary_input(name: str, shape: list[int], size: Any, datatype: str = "FP32",
                  ) -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": datatype,
            "parameters": {"binary_data_size": size}}


def words_infer(shape: list[int], blob: bytes) -> tuple[bytes, dict[str, str]]:
    """A binary body for ``words`` whose binary_data_size is the blob's true size."""
    return binary_infer([_binary_input("x", shape, len(blob), "BYTES")], blob)


RAW = GOOD.tobytes()
INFER = "/v2/models/ident/infer"


def _json(obj: Any) -> bytes:
    return json.dumps(obj).encode()


# (id, path, body, headers, status, fragments the message must hold)
HTTP_CASES: list[tuple[str, str, bytes, dict[str, str], int, tuple[str, ...]]] = [
    ("unknown model", "/v2/models/nope/infer", json_infer(GOOD), {}, 404,
     ("Request for unknown model", "nope")),
    ("unknown version", "/v2/models/ident/versions/7/infer", json_infer(GOOD), {}, 404,
     ("ident", "7")),
    ("non-numeric version", "/v2/models/ident/versions/latest/infer", json_infer(GOOD), {}, 400,
     ("failed to get model version from specified version string 'latest'",)),
    ("wrong shape", INFER, json_infer(GOOD.ravel()), {}, 400, ("shape", "[6]")),
    ("wrong datatype", INFER, _json({"inputs": [tensor("x", GOOD.astype(np.int32), "INT32")]}),
     {}, 400, ("INT32", "FP32")),
    ("unknown datatype", INFER, _json({"inputs": [tensor("x", GOOD, "FLOAT")]}), {}, 400,
     ("FLOAT",)),
    ("missing input", "/v2/models/pair/infer",
     _json({"inputs": [tensor("a", np.zeros((1, 4), np.float32))]}), {}, 400, ("missing", "b")),
    ("extra input", INFER, _json({"inputs": [tensor("x", GOOD), tensor("z", GOOD)]}), {}, 400,
     ("'z'",)),
    ("input given twice", INFER, _json({"inputs": [tensor("x", GOOD), tensor("x", GOOD)]}), {},
     400, ("more than once",)),
    ("no inputs", INFER, _json({"inputs": []}), {}, 400, ("inputs",)),
    ("JSON data shorter than shape", INFER,
     _json({"inputs": [{**tensor("x", GOOD), "data": [1.0] * 5}]}), {}, 400, ("5", "6")),
    ("JSON data longer than shape", INFER,
     _json({"inputs": [{**tensor("x", GOOD), "data": [1.0] * 7}]}), {}, 400, ("7", "6")),
    ("JSON data not numbers", INFER,
     _json({"inputs": [{**tensor("x", GOOD), "data": ["a"] * 6}]}), {}, 400, ("FP32",)),
    ("JSON data ragged", INFER,
     _json({"inputs": [{**tensor("x", GOOD), "data": [[1, 2, 3], [4, 5]]}]}), {}, 400, ("x",)),
    ("negative dim", INFER, _json({"inputs": [{**tensor("x", GOOD), "shape": [-2, -3]}]}), {},
     400, ("shape",)),
    ("input with neither data nor binary", INFER,
     _json({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32"}]}), {}, 400,
     ("'x'",)),
    ("binary data shorter than shape", INFER,
     *binary_infer([_binary_input("x", [2, 3], 20)], RAW[:20]), 400, ("20", "24")),
    ("malformed JSON", INFER, b'{"inputs": [', {}, 400, ("JSON",)),
    ("empty body", INFER, b"", {}, 400, ("JSON",)),
    ("JSON that is not an object", INFER, b"[1, 2, 3]", {}, 400, ("object",)),
    ("binary_data_size past the end", INFER,
     *binary_infer([_binary_input("x", [2, 3], 24)], RAW[:8]), 400, ("past the end",)),
    ("binary_data_size not a number", INFER,
     *binary_infer([_binary_input("x", [2, 3], "24")], RAW), 400,
     ("binary_data_size",)),
    ("header length past the body", INFER, json_infer(GOOD),
     {"Inference-Header-Content-Length": "99999"}, 400, ("99999",)),
    ("header length cuts the JSON", INFER, json_infer(GOOD),
     {"Inference-Header-Content-Length": "10"}, 400, ("JSON",)),
    ("trailing bytes after the tensors", INFER,
     *binary_infer([_binary_input("x", [2, 3], 24)], RAW + b"\0\0\0\0"), 400, ("4 bytes",)),
    ("non-numeric header length", INFER, json_infer(GOOD),
     {"Inference-Header-Content-Length": "twelve"}, 400, ("twelve",)),
    ("negative header length", INFER, json_infer(GOOD),
     {"Inference-Header-Content-Length": "-5"}, 400, ("-5",)),
    ("unknown requested output", INFER, json_infer(GOOD, outputs=[{"name": "nope"}]), {}, 400,
     ("nope",)),
    ("output requested twice", INFER, json_infer(GOOD, outputs=[{"name": "y"}, {"name": "y"}]),
     {}, 400, ("more than once",)),
    ("batch above max_batch_size", INFER, json_infer(np.zeros((9, 1), np.float32)), {}, 400,
     ("9", "8")),
    ("batch of zero", INFER, json_infer(np.zeros((0, 1), np.float32)), {}, 400, ("0",)),
    ("inputs disagree on the batch", "/v2/models/pair/infer",
     _json({"inputs": [tensor("a", np.zeros((1, 4), np.float32)),
                       tensor("b", np.zeros((2, 4), np.float32))]}), {}, 400, ("batch",)),
    ("BYTES not valid UTF-8", "/v2/models/words/infer",
     *words_infer([1, 2], bytes_element(b"ok", b"\xff\xfe")), 400, ("UTF-8",)),
    ("BYTES element length lies", "/v2/models/words/infer",
     *words_infer([1, 1], struct.pack("<I", 100) + b"abcd"), 400, ("past the end",)),
    ("BYTES count short of the shape", "/v2/models/words/infer",
     *words_infer([1, 3], bytes_element(b"ab", b"cd")), 400, ("2", "3")),
    ("corrupt gzip", INFER, b"this is not gzip data", {"Content-Encoding": "gzip"}, 400,
     ("gzip",)),
    ("truncated gzip", INFER, gzip.compress(json_infer(GOOD))[:-12],
     {"Content-Encoding": "gzip"}, 400, ("gzip",)),
    ("corrupt deflate", INFER, b"this is not deflate data", {"Content-Encoding": "deflate"},
     400, ("deflate",)),
    ("unsupported content encoding", INFER, json_infer(GOOD), {"Content-Encoding": "br"}, 400,
     ("br",)),
    ("raw body of the wrong size for fixed dims", "/v2/models/fixed/infer", RAW[:20],
     {"Inference-Header-Content-Length": "0"}, 400, ("20",)),
    ("raw body of zero bytes for fixed dims", "/v2/models/fixed/infer", b"",
     {"Inference-Header-Content-Length": "0"}, 400, ("got 0 bytes",)),
    ("raw body for an unknown model", "/v2/models/nope/infer", RAW,
     {"Inference-Header-Content-Length": "0"}, 404, ("nope",)),
    ("NaN for an integer input", "/v2/models/pair/infer",
     b'{"inputs": [{"name": "a", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]},'
     b' {"name": "b", "shape": [1, 4], "datatype": "INT32", "data": [NaN, 1, 2, 3]}]}', {}, 400,
     ("INT32",)),
    ("raw body for a model with two inputs", "/v2/models/pair/infer", RAW,
     {"Inference-Header-Content-Length": "0"}, 400, ("Raw request must only have 1 input",)),
    ("parameters not an object", INFER, json_infer(GOOD, parameters=[1]), {}, 400,
     ("parameters",)),
    ("id not a string", INFER, json_infer(GOOD, id=7), {}, 400, ("id",)),
    ("unknown route", "/v2/models/ident/explode", b"{}", {}, 404, ("explode",)),
]


@pytest.mark.parametrize(("path", "body", "headers", "status", "fragments"),
                         [pytest.param(*case[1:], id=case[0]) for case in HTTP_CASES])
def test_http_bad_request(server: ServerProcess, path: str, body: bytes, headers: dict[str, str],
                          status: int, fragments: tuple[str, ...]) -> None:
    """Each malformed or mismatched HTTP request gets its status and a JSON error naming why."""
    assert_error(*send(server, path, body, headers), status, *fragments)


def test_oversized_body_with_content_length(small_server: ServerProcess) -> None:
    """A body declared larger than --max-request-size is refused with 413."""
    body = json_infer(np.zeros((8, 64), np.float32))
    assert len(body) > 2048
    assert_error(*send(small_server, INFER, body), 413, "2048")
    assert_serving(small_server)


def test_connection_survives_413(small_server: ServerProcess) -> None:
    """After a 413 for an unread body, the same keep-alive connection serves the next request."""
    conn = http.client.HTTPConnection("127.0.0.1", small_server.http_port, timeout=30)
    try:
        conn.request("POST", INFER, body=json_infer(np.zeros((8, 64), np.float32)))
        first = conn.getresponse()
        assert_error(first.status, first.read(), 413, "2048")
        conn.request("POST", INFER, body=json_infer(GOOD))
        second = conn.getresponse()
        assert second.status == 200
        assert json.loads(second.read())["outputs"][0]["data"] == GOOD.ravel().tolist()
    finally:
        conn.close()


def test_oversized_chunked_body(small_server: ServerProcess) -> None:
    """A chunked body (no Content-Length) that grows past the limit is refused with 413."""
    body = json_infer(np.zeros((8, 64), np.float32))
    assert_error(*send(small_server, INFER, body, chunked=True), 413, "2048")
    assert_serving(small_server)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compression_bomb(small_server: ServerProcess, encoding: str) -> None:
    """A small compressed body that inflates past the limit is refused with 413."""
    inflated = b'{"inputs": [' + b" " * 1_000_000 + b"]}"
    body = gzip.compress(inflated) if encoding == "gzip" else zlib.compress(inflated)
    assert len(body) < 2048
    assert_error(*send(small_server, INFER, body, {"Content-Encoding": encoding}), 413,
                 "decompressed", "2048")
    assert_serving(small_server)


@pytest.mark.parametrize(("size", "status"), [(2048, 200), (2049, 413)])
def test_limit_boundary(small_server: ServerProcess, size: int, status: int) -> None:
    """A body of exactly --max-request-size bytes is accepted; one byte more is 413."""
    body = json_infer(GOOD)
    body += b" " * (size - len(body))
    got, reply = send(small_server, INFER, body)
    assert got == status, reply


ESCAPES = [
    "..",
    "%2e%2e",
    "%2E%2E",
    ".",
    "..%2fsecret",
    "..%2Fsecret",
    "%2e%2e%2fsecret",
    "..%5csecret",
    "%2fetc%2fpasswd",
    "secret%00",
    ".hidden",
    "ident%2f..%2f..%2fsecret",
]


@pytest.mark.parametrize("name", ESCAPES)
def test_load_never_leaves_the_repository(server: ServerProcess, name: str) -> None:
    """Load with a name that points outside the repository is a 4xx and loads nothing."""
    status, body = send(server, f"/v2/repository/models/{name}/load", b"{}")
    assert 400 <= status < 500, body
    assert "error" in json.loads(body)
    index = json.loads(send(server, "/v2/repository/index", b"{}")[1])
    assert {row["name"] for row in index} == MODELS
    assert server.log().count("loaded model") == len(MODELS)


@pytest.mark.parametrize("name", ESCAPES)
def test_infer_path_never_leaves_the_repository(server: ServerProcess, name: str) -> None:
    """Infer and metadata with an escaping model name are 4xx with a JSON error."""
    for method, suffix in (("POST", "/infer"), ("GET", ""), ("GET", "/config")):
        status, body = send(server, f"/v2/models/{name}{suffix}", json_infer(GOOD) if
                            method == "POST" else b"", method=method)
        assert 400 <= status < 500, (method, suffix, body)
        assert "error" in json.loads(body)


def _load_body(config: dict[str, Any]) -> bytes:
    return _json({"parameters": {"config": json.dumps(config)}})


def _input_datatype(server: ServerProcess, model: str) -> str:
    status, body = send(server, f"/v2/models/{model}", method="GET")
    assert status == 200, body
    return str(json.loads(body)["inputs"][0]["datatype"])


@pytest.mark.parametrize(("transport", "filename"), [
    ("http", "../../../secret/1/model.onnx"),
    ("grpc", "{root}/secret/1/model.onnx"),
])
def test_load_config_cannot_point_outside_the_repository(small_server: ServerProcess,
                                                         repo: Path, transport: str,
                                                         filename: str) -> None:
    """A load whose config override names a model file outside the repository is refused, and
    the model keeps serving what it served."""
    model = f"victim_{transport}"
    assert _input_datatype(small_server, model) == "FP32"
    config = {"default_model_filename": filename.format(root=repo.parent)}
    if transport == "http":
        status, body = send(small_server, f"/v2/repository/models/{model}/load",
                            _load_body(config))
        assert status != 200, body
    else:
        with grpcclient.InferenceServerClient(small_server.grpc_url) as client:
            _grpc_error(lambda: client.load_model(model, config=json.dumps(config)))
    assert _input_datatype(small_server, model) == "FP32"  # not the INT8 model outside


def test_unload_unknown_model(server: ServerProcess) -> None:
    """Unloading a model that is not loaded is 404 with an error body."""
    assert_error(*send(server, "/v2/repository/models/nope/unload", b"{}"), 404, "nope")


# gRPC -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grpc_client(server: ServerProcess) -> Iterator[grpcclient.InferenceServerClient]:
    """A tritonclient.grpc client."""
    client = grpcclient.InferenceServerClient(server.grpc_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def stub(server: ServerProcess) -> Iterator[Any]:
    """A bare GRPCInferenceService stub, for messages tritonclient will not build."""
    with grpc.insecure_channel(server.grpc_url) as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


def _grpc_input(name: str, arr: np.ndarray, datatype: str = "FP32") -> grpcclient.InferInput:
    inp = grpcclient.InferInput(name, list(arr.shape), datatype)
    inp.set_data_from_numpy(arr)
    return inp


def _grpc_error(call: Any) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as info:
        call()
    return info.value


GRPC_CASES: list[tuple[str, str, str, list[tuple[str, np.ndarray, str]], list[str], str,
                       tuple[str, ...]]] = [
    # (id, model, version, inputs, outputs, status, fragments)
    ("unknown model", "nope", "", [("x", GOOD, "FP32")], [], "NOT_FOUND",
     ("Request for unknown model", "nope")),
    ("unknown version", "ident", "7", [("x", GOOD, "FP32")], [], "NOT_FOUND", ("7",)),
    ("wrong shape", "ident", "", [("x", GOOD.ravel(), "FP32")], [], "INVALID_ARGUMENT",
     ("shape",)),
    ("wrong datatype", "ident", "", [("x", GOOD.astype(np.int32), "INT32")], [],
     "INVALID_ARGUMENT", ("INT32", "FP32")),
    ("missing input", "pair", "", [("a", np.zeros((1, 4), np.float32), "FP32")], [],
     "INVALID_ARGUMENT", ("missing", "b")),
    ("extra input", "ident", "", [("x", GOOD, "FP32"), ("z", GOOD, "FP32")], [],
     "INVALID_ARGUMENT", ("'z'",)),
    ("unknown requested output", "ident", "", [("x", GOOD, "FP32")], ["nope"],
     "INVALID_ARGUMENT", ("nope",)),
    ("batch above max_batch_size", "ident", "", [("x", np.zeros((9, 1), np.float32), "FP32")],
     [], "INVALID_ARGUMENT", ("9",)),
    ("BYTES not valid UTF-8", "words", "",
     [("x", np.array([[b"ok", b"\xff\xfe"]], dtype=object), "BYTES")], [], "INVALID_ARGUMENT",
     ("UTF-8",)),
]


@pytest.mark.parametrize(("model", "version", "inputs", "outputs", "status", "fragments"),
                         [pytest.param(*case[1:], id=case[0]) for case in GRPC_CASES])
def test_grpc_bad_request(grpc_client: grpcclient.InferenceServerClient, model: str,
                          version: str, inputs: list[tuple[str, np.ndarray, str]],
                          outputs: list[str], status: str, fragments: tuple[str, ...]) -> None:
    """Each bad gRPC infer maps to its status code with a message naming why."""
    error = _grpc_error(lambda: grpc_client.infer(
        model, [_grpc_input(*i) for i in inputs], model_version=version,
        outputs=[grpcclient.InferRequestedOutput(o) for o in outputs] or None))
    assert error.status() == f"StatusCode.{status}"
    for fragment in fragments:
        assert fragment.lower() in error.message().lower(), error.message()


def _raw_request(model: str, inputs: list[tuple[str, list[int], str]],
                 raw: list[bytes]) -> Any:
    request = service_pb2.ModelInferRequest(model_name=model)
    for name, shape, datatype in inputs:
        request.inputs.add(name=name, shape=shape, datatype=datatype)
    request.raw_input_contents.extend(raw)
    return request


STUB_CASES = [
    pytest.param(_raw_request("ident", [("x", [2, 3], "FP32")], [RAW, RAW]), ("2", "1"),
                 id="more raw contents than inputs"),
    pytest.param(_raw_request("pair", [("a", [1, 4], "FP32"), ("b", [1, 4], "FP32")],
                              [RAW[:16]]), ("1", "2"), id="fewer raw contents than inputs"),
    pytest.param(_raw_request("ident", [("x", [2, 3], "FP32")], [RAW[:20]]), ("20", "24"),
                 id="raw contents shorter than the shape"),
    pytest.param(_raw_request("ident", [("x", [2, 3], "FP32")], [RAW + b"\0\0\0\0"]),
                 ("28", "24"), id="raw contents longer than the shape"),
    pytest.param(_raw_request("ident", [("x", [2, 3], "FLOAT")], [RAW]), ("FLOAT",),
                 id="unknown datatype"),
    pytest.param(_raw_request("ident", [("x", [-2, -3], "FP32")], [RAW]), ("shape",),
                 id="negative dims"),
    pytest.param(_raw_request("ident", [("x", [2, 3], "FP16")], []), ("FP16",),
                 id="FP16 without raw contents"),
    pytest.param(_raw_request("words", [("x", [1, 1], "BYTES")], [struct.pack("<I", 99)]),
                 ("past the end",), id="BYTES element length lies"),
]


@pytest.mark.parametrize(("request_msg", "fragments"), STUB_CASES)
def test_grpc_malformed_message(stub: Any, request_msg: Any, fragments: tuple[str, ...],
                                ) -> None:
    """Hand-made ModelInferRequests that do not add up are INVALID_ARGUMENT, not a crash."""
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(request_msg, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    for fragment in fragments:
        assert fragment.lower() in info.value.details().lower(), info.value.details()


@pytest.mark.parametrize("name", ["..", "../secret", "/etc", "ident/../../secret", ".hidden"])
def test_grpc_load_never_leaves_the_repository(grpc_client: grpcclient.InferenceServerClient,
                                               name: str) -> None:
    """gRPC RepositoryModelLoad with an escaping name is NOT_FOUND and loads nothing."""
    error = _grpc_error(lambda: grpc_client.load_model(name))
    assert error.status() == "StatusCode.NOT_FOUND", error.message()
    names = {m.name for m in grpc_client.get_model_repository_index().models}
    assert names == MODELS


def test_grpc_message_over_the_limit(small_server: ServerProcess) -> None:
    """A gRPC message larger than --max-request-size is RESOURCE_EXHAUSTED with a message that
    names the flag to raise (not gRPC's own 'Received message larger than max'); unary and
    streaming alike."""
    with grpcclient.InferenceServerClient(small_server.grpc_url) as client:
        error = _grpc_error(lambda: client.infer(
            "ident", [_grpc_input("x", np.zeros((8, 64), np.float32))]))
        assert error.status() == "StatusCode.RESOURCE_EXHAUSTED", error.message()
        assert "exceeds the limit of 2048 bytes (--max-request-size)" in error.message()
        streamed: list[Any] = []
        client.start_stream(callback=lambda result, error: streamed.append(error))
        client.async_stream_infer("ident", [_grpc_input("x", np.zeros((8, 64), np.float32))])
        client.stop_stream()
        assert len(streamed) == 1 and "--max-request-size" in str(streamed[0])
        good = client.infer("ident", [_grpc_input("x", GOOD)])
        np.testing.assert_array_equal(good.as_numpy("y"), GOOD)
