"""Regression tests for what fuzzing found, and the request limits that hold before work is
done. The server runs in-process (HTTP through the ASGI app, gRPC on a loopback port)."""

from __future__ import annotations

import json
import logging
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from support.fuzzing import FORBIDDEN, LoopServer, build_repo
from support.inprocess import InProcessServer

from modelport.serve.grpc.proto import grpc_service_pb2 as pb
from modelport.serve.grpc.proto import health_pb2

SERVICE = "/inference.GRPCInferenceService/"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopServer]:
    """A server with a small element limit and client shared memory allowed."""
    root = tmp_path_factory.mktemp("regress")
    server = LoopServer(build_repo(root / "models"), root / "cache", max_tensor_elements=1000,
                        allow_client_shm=True)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def channel(srv: LoopServer) -> Iterator[grpc.Channel]:
    """A plain gRPC channel to the server."""
    with grpc.insecure_channel(srv.grpc_url) as chan:
        yield chan


def _post(srv: LoopServer, path: str, body: object, **headers: str) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return srv.request("POST", path, raw, headers)


def _grpc_error(call: object, *args: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(*args, timeout=30)  # type: ignore[operator]
    return info.value


def test_infinity_for_a_bool_input_is_the_clients_fault(srv: LoopServer) -> None:
    """Infinity sent as BOOL or INT32 JSON data is 400 naming the input (it was a 500 when
    warnings are errors: numpy's "invalid value" warning from the fraction check)."""
    for datatype in ("BOOL", "INT32"):
        body = (b'{"inputs": [{"name": "a", "datatype": "%s", "shape": [2], '
                b'"data": [0, Infinity]}]}' % datatype.encode())
        reply = _post(srv, "/v2/models/add/infer", body)
        assert reply.status_code == 400, reply.text
        assert "input 'a': data has NaN or Infinity" in reply.json()["error"]


def test_shm_key_with_a_nul_byte_is_the_clients_fault(srv: LoopServer,
                                                      channel: grpc.Channel) -> None:
    """A register key holding a NUL byte is 400 / INVALID_ARGUMENT (it was a 500:
    ValueError from os.open)."""
    reply = _post(srv, "/v2/systemsharedmemory/region/r/register",
                  {"key": "a\u0000b", "byte_size": 8})
    assert reply.status_code == 400 and "invalid shm key" in reply.json()["error"]
    register = channel.unary_unary(SERVICE + "SystemSharedMemoryRegister",
                                   request_serializer=pb.SystemSharedMemoryRegisterRequest
                                   .SerializeToString)
    error = _grpc_error(register, pb.SystemSharedMemoryRegisterRequest(name="r", key="a\0b",
                                                                       byte_size=8))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


@pytest.mark.parametrize("method", ["ModelInfer", "RepositoryModelLoad", "ServerLive"])
def test_undecodable_grpc_message_is_invalid_argument(channel: grpc.Channel, method: str) -> None:
    """Bytes that are not the RPC's message are INVALID_ARGUMENT with our words (gRPC said
    UNKNOWN and named the parser's exception class)."""
    rpc = channel.unary_unary(SERVICE + method)
    error = _grpc_error(rpc, b"\x00")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "protobuf decoding failed" in error.details()  # type: ignore[attr-defined]
    assert "<class" not in error.details()  # type: ignore[attr-defined]


def test_undecodable_stream_message_is_answered_in_the_stream(channel: grpc.Channel) -> None:
    """On ModelStreamInfer an undecodable message gets an error_message and the stream goes
    on to answer the next one."""
    good = pb.ModelInferRequest(model_name="echo")
    good.inputs.add(name="x", datatype="FP32", shape=[1, 2])
    good.raw_input_contents.append(struct.pack("<2f", 1, 2))
    rpc = channel.stream_stream(SERVICE + "ModelStreamInfer",
                                response_deserializer=pb.ModelStreamInferResponse.FromString)
    answers = list(rpc(iter([b"\x00", good.SerializeToString()]), timeout=30))
    assert "protobuf decoding failed" in answers[0].error_message
    assert not answers[1].error_message and answers[1].infer_response.model_name == "echo"


def test_undecodable_health_watch_is_invalid_argument(channel: grpc.Channel) -> None:
    """grpc.health.v1.Health/Watch refuses bytes that are not a HealthCheckRequest."""
    watch = channel.unary_stream("/grpc.health.v1.Health/Watch",
                                 response_deserializer=health_pb2.HealthCheckResponse.FromString)
    with pytest.raises(grpc.RpcError) as info:
        next(iter(watch(b"\xff", timeout=30)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


def test_server_faults_answer_an_id_not_the_exception(srv: LoopServer, channel: grpc.Channel,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A bug behind a route answers 500 / INTERNAL with a generic sentence and an id; the
    exception text goes to the log under that id, never to the client."""
    core = srv.server.core
    assert core is not None

    def broken(*args: object) -> None:
        raise RuntimeError("secret /opt/app/site-packages/x.py detail")

    monkeypatch.setattr(core, "model_metadata", broken)
    with caplog.at_level(logging.ERROR, logger="modelport"):
        reply = srv.request("GET", "/v2/models/echo")
        rpc = channel.unary_unary(SERVICE + "ModelMetadata",
                                  request_serializer=pb.ModelMetadataRequest.SerializeToString)
        error = _grpc_error(rpc, pb.ModelMetadataRequest(name="echo"))
    assert reply.status_code == 500
    message = reply.json()["error"]
    assert message.startswith("internal error (id ") and "secret" not in message
    assert error.code() == grpc.StatusCode.INTERNAL  # type: ignore[attr-defined]
    assert "secret" not in error.details()  # type: ignore[attr-defined]
    for text in (message, error.details()):  # type: ignore[attr-defined]
        incident = text.split("(id ")[1].split(")")[0]
        logged = [r for r in caplog.records if incident in r.getMessage()]
        assert logged and "secret" in str(logged[0].exc_info[1])  # type: ignore[index]


def test_many_repeated_outputs_are_refused_quickly(srv: LoopServer,
                                                   channel: grpc.Channel) -> None:
    """200,000 requested outputs named 'y' (a 3 MB body) are refused by name at once: the
    duplicate check was quadratic (40,000 took 3.7 s of the event loop)."""
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}],
            "outputs": [{"name": "y"}] * 200_000}
    started = time.perf_counter()
    reply = _post(srv, "/v2/models/echo/infer", body)
    assert reply.status_code == 400 and "already exists in request" in reply.json()["error"]
    msg = pb.ModelInferRequest(model_name="echo")
    msg.inputs.add(name="x", datatype="FP32", shape=[1, 2])
    msg.raw_input_contents.append(struct.pack("<2f", 1, 2))
    for _ in range(200_000):
        msg.outputs.add(name="y")
    rpc = channel.unary_unary(SERVICE + "ModelInfer",
                              request_serializer=pb.ModelInferRequest.SerializeToString)
    error = _grpc_error(rpc, msg)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert time.perf_counter() - started < 10


def test_many_inputs_are_refused_by_name_before_decoding(srv: LoopServer) -> None:
    """A request with more inputs than the model has is refused with validation's words
    before any input's data is decoded."""
    entry = {"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}
    reply = _post(srv, "/v2/models/echo/infer", {"inputs": [entry] * 100_000})
    assert reply.status_code == 400
    assert reply.json()["error"] == "input 'x' is given more than once"
    extra = {"name": "z", "datatype": "FP32", "shape": [1], "data": "not even a list"}
    reply = _post(srv, "/v2/models/echo/infer", {"inputs": [entry, extra]})
    assert "unexpected inference input 'z' for model 'echo'" in reply.json()["error"]


@pytest.mark.parametrize("shape", [[1, 2000], [0, 2**40], [2**20, 0, 2**20]])
def test_shapes_past_the_element_limit_are_refused(srv: LoopServer, channel: grpc.Channel,
                                                   shape: list[int]) -> None:
    """A shape naming more than --max-tensor-elements (1000 here) is refused before any
    tensor is built, over JSON, binary and gRPC; zero dims do not hide the others."""
    for body, headers in [
        ({"inputs": [{"name": "x", "datatype": "INT64", "shape": shape, "data": []}]}, {}),
        (json.dumps({"inputs": [{"name": "x", "datatype": "INT64", "shape": shape,
                                 "parameters": {"binary_data_size": 0}}]}).encode(), None),
    ]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs = {"Inference-Header-Content-Length": str(len(raw))} if headers is None else {}
        reply = _post(srv, "/v2/models/ints/infer", raw, **hdrs)
        assert reply.status_code == 400, reply.text
        assert "--max-tensor-elements" in reply.json()["error"]
    msg = pb.ModelInferRequest(model_name="ints")
    msg.inputs.add(name="x", datatype="INT64", shape=shape)
    msg.raw_input_contents.append(b"")
    rpc = channel.unary_unary(SERVICE + "ModelInfer",
                              request_serializer=pb.ModelInferRequest.SerializeToString)
    error = _grpc_error(rpc, msg)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "--max-tensor-elements" in error.details()  # type: ignore[attr-defined]


def test_raw_body_past_the_element_limit_is_refused(srv: LoopServer) -> None:
    """A raw single-tensor body whose deduced shape passes the limit is 400."""
    reply = _post(srv, "/v2/models/ints/infer", bytes(8 * 1001),
                  **{"Inference-Header-Content-Length": "0"})
    assert reply.status_code == 400 and "--max-tensor-elements" in reply.json()["error"]
    reply = _post(srv, "/v2/models/ints/infer", bytes(8 * 3),
                  **{"Inference-Header-Content-Length": "0"})
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize("where", ["data", "parameters", "top"])
def test_deep_json_nesting_is_400(srv: LoopServer, where: str) -> None:
    """JSON nested 100,000 deep anywhere in the body is 400, never a crash."""
    deep = "[" * 100_000 + "]" * 100_000
    bodies = {
        "data": '{"inputs":[{"name":"x","datatype":"FP32","shape":[1,2],"data":DEEP}]}',
        "parameters": '{"parameters":{"p":DEEP},"inputs":[]}',
        "top": deep}
    for extra in ("", "NaN"):  # NaN takes the stdlib parser's path
        body = bodies[where].replace("DEEP", deep)
        body = body.replace('"inputs"', f'"n":{extra or 0},"inputs"', 1)
        reply = _post(srv, "/v2/models/echo/infer", body.encode())
        assert reply.status_code == 400, reply.text
        assert not FORBIDDEN.search(reply.content)


def test_head_larger_than_max_header_size_is_431(tmp_path: Path) -> None:
    """--max-header-size bounds the request line and headers on the wire: 431 beyond it."""
    server = InProcessServer(build_repo(tmp_path / "models"),
                             cache_dir=tmp_path / "cache", max_header_bytes=2048)
    try:
        url = f"http://{server.http_url}/v2/health/live"
        with httpx.Client() as client:
            assert client.get(url, headers={"x-pad": "a" * 1000}).status_code == 200
            reply = client.get(url, headers={"x-pad": "a" * 4000})
            assert reply.status_code == 431
    finally:
        server.stop()


def test_index_body_must_be_an_object(srv: LoopServer) -> None:
    """A repository index body that is JSON but not an object is 400 (schemathesis found it
    was taken as no body at all)."""
    for body in (b"[]", b"3", b'"ready"'):
        reply = srv.request("POST", "/v2/repository/index", body)
        assert reply.status_code == 400 and "JSON object" in reply.json()["error"]
    assert srv.request("POST", "/v2/repository/index", b"").status_code == 200


OPTIONAL = """
backend: "fake"
max_batch_size: 4
input [{ name: "x" data_type: TYPE_FP32 dims: [ 2 ] },
       { name: "s" data_type: TYPE_STRING dims: [ -1 ] optional: true }]
output [{ name: "y" data_type: TYPE_FP32 dims: [ 2 ] }]
"""


def test_backend_bugs_answer_an_id_and_optional_inputs_reach_the_fake(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A backend raising a plain Python error answers 500 with an incident id and no
    exception text (atheris found 'model failed: KeyError: ...' in the answer); the fake
    backend serves a request that leaves an optional input out (that KeyError)."""
    root = tmp_path / "models"
    for name, backend in (("opt", "fake"), ("buggy", "buggy")):
        (root / name / "1").mkdir(parents=True)
        (root / name / "config.pbtxt").write_text(OPTIONAL.replace("fake", backend))
    server = LoopServer(root, tmp_path / "cache",
                        extra_backends={"buggy": "support.fuzzing:BuggyBackend"})
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}]}
    try:
        assert _post(server, "/v2/models/opt/infer", body).status_code == 200
        with caplog.at_level(logging.ERROR, logger="modelport"):
            reply = _post(server, "/v2/models/buggy/infer", body)
    finally:
        server.stop()
    assert reply.status_code == 500
    message = reply.json()["error"]
    assert message.startswith("model 'buggy' failed: internal error (id ")
    assert "secret" not in message and "KeyError" not in message
    incident = message.split("(id ")[1].split(")")[0]
    assert any(incident in r.getMessage() and r.exc_info for r in caplog.records)


def test_stream_server_fault_answers_an_id_and_the_stream_goes_on(
        srv: LoopServer, channel: grpc.Channel, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug while answering one streamed request is that request's error_message (an id, no
    exception text); the stream carries on (it used to end the whole stream)."""
    core = srv.server.core
    assert core is not None
    real = core.stream
    calls = []

    def flaky(call: object) -> object:
        calls.append(call)
        if len(calls) == 1:
            raise RuntimeError("secret detail")
        return real(call)  # type: ignore[arg-type]

    monkeypatch.setattr(core, "stream", flaky)
    good = pb.ModelInferRequest(model_name="echo")
    good.inputs.add(name="x", datatype="FP32", shape=[1, 2])
    good.raw_input_contents.append(struct.pack("<2f", 1, 2))
    rpc = channel.stream_stream(SERVICE + "ModelStreamInfer",
                                request_serializer=pb.ModelInferRequest.SerializeToString,
                                response_deserializer=pb.ModelStreamInferResponse.FromString)
    answers = list(rpc(iter([good, good]), timeout=30))
    assert answers[0].error_message.startswith("internal error (id ")
    assert "secret" not in answers[0].error_message
    assert not answers[1].error_message
