"""Triton Python-backend models served by `modelport serve`: tritonclient over HTTP and gRPC
against models in Triton's layout (config.pbtxt + <version>/model.py) that the tests write."""

from __future__ import annotations

import json
import os
import queue
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from onnx import TensorProto, helper
from support import python_models as pm
from support.server import ServerProcess
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.slow

INTROSPECT_CONFIG = """
name: "introspect"
backend: "python"
input [ { name: "X" data_type: TYPE_INT32 dims: [ 1 ] } ]
output [ { name: "INFO" data_type: TYPE_STRING dims: [ 1 ] } ]
parameters { key: "greeting" value { string_value: "hello" } }
"""
INTROSPECT_MODEL = """
import json

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.args = args

    def execute(self, requests):
        config = json.loads(self.args["model_config"])
        out = []
        for request in requests:
            info = {"greeting": config["parameters"]["greeting"]["string_value"],
                    "name": self.args["model_name"], "version": self.args["model_version"],
                    "kind": self.args["model_instance_kind"],
                    "repository": self.args["model_repository"],
                    "request_id": request.request_id(),
                    "parameters": json.loads(request.parameters()),
                    "model_dir": pb_utils.get_model_dir()}
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor(
                "INFO", np.array([json.dumps(info).encode()], dtype=np.object_))]))
        return out
"""
PIDS_CONFIG = """
name: "pids"
backend: "python"
input [ { name: "X" data_type: TYPE_INT32 dims: [ 1 ] } ]
output [ { name: "PID" data_type: TYPE_INT64 dims: [ 1 ] } ]
instance_group [ { count: 2 kind: KIND_CPU } ]
"""
PIDS_MODEL = """
import os
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        time.sleep(0.3)
        return [pb_utils.InferenceResponse([pb_utils.Tensor("PID", np.array([os.getpid()]))])
                for _ in requests]
"""
BROKEN_CONFIG = """
name: "broken"
backend: "python"
input [ { name: "X" data_type: TYPE_INT32 dims: [ 1 ] } ]
output [ { name: "Y" data_type: TYPE_INT32 dims: [ 1 ] } ]
"""
BROKEN_MODEL = """
class TritonPythonModel:
    def initialize(self, args):
        raise ValueError("the weights file is missing")

    def execute(self, requests):
        return []
"""


def onnx_add_sub() -> onnx.ModelProto:
    """Triton's add_sub as an ONNX graph: FP32 [4] INPUT0/INPUT1 -> OUTPUT0/OUTPUT1."""
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [4])
          for n in ("INPUT0", "INPUT1", "OUTPUT0", "OUTPUT1")]
    nodes = [helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"]),
             helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"])]
    model = helper.make_model(helper.make_graph(nodes, "add_sub", io[:2], io[2:]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def build_repository(repo: Path) -> None:
    """Every model of this file, in one repository."""
    pm.write_python_model(repo, "add_sub", pm.ADD_SUB_CONFIG, pm.ADD_SUB)
    pm.write_python_model(repo, "bytes_rev", pm.BYTES_CONFIG, pm.BYTES_MODEL)
    for name in ("crasher", "hanger"):
        pm.write_python_model(repo, name, pm.FRAGILE_CONFIG.replace("{name}", name),
                              pm.FRAGILE_MODEL)
    pm.write_python_model(repo, "repeat_int32", pm.REPEAT_CONFIG, pm.REPEAT_MODEL)
    pm.write_python_model(repo, "bls_sync", pm.BLS_CONFIG.replace("{name}", "bls_sync"),
                          pm.BLS_SYNC)
    pm.write_python_model(repo, "bls_async", pm.BLS_CONFIG.replace("{name}", "bls_async"),
                          pm.BLS_ASYNC)
    pm.write_python_model(repo, "auto", pm.AUTO_CONFIG, pm.AUTO_MODEL)
    pm.write_python_model(repo, "count", pm.COUNT_CONFIG, pm.COUNT_MODEL)
    pm.write_python_model(repo, "introspect", INTROSPECT_CONFIG, INTROSPECT_MODEL)
    pm.write_python_model(repo, "broken", BROKEN_CONFIG, BROKEN_MODEL)
    pm.write_python_model(repo, "pids", PIDS_CONFIG, PIDS_MODEL)
    env_model = pm.write_python_model(repo, "with_env", pm.ENV_CONFIG, pm.ENV_MODEL)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    package = env_model / "env" / "lib" / version / "site-packages" / "mp_tiny_dependency"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("def shift(x):\n    return x + 100\n")
    (repo / "onnx_add_sub" / "1").mkdir(parents=True)
    (repo / "onnx_add_sub" / "1" / "model.onnx").write_bytes(
        onnx_add_sub().SerializeToString())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server over the repository of this file's models."""
    repo = tmp_path_factory.mktemp("python-models")
    build_repository(repo)
    log = tmp_path_factory.mktemp("logs") / "python-server.log"
    process = ServerProcess(repo, log_path=log)
    yield process
    assert process.alive(), f"the server died during the tests:\n{process.log()}"
    assert process.stop() == 0, process.log()


def _inputs(module: Any, **arrays: np.ndarray) -> list[Any]:
    datatypes = {np.dtype(np.float32): "FP32", np.dtype(np.int32): "INT32",
                 np.dtype(np.int64): "INT64", np.dtype(np.uint32): "UINT32",
                 np.dtype(np.object_): "BYTES"}
    inputs = []
    for name, array in arrays.items():
        tensor = module.InferInput(name, list(array.shape), datatypes[array.dtype])
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


@pytest.mark.parametrize("module", [httpclient, grpcclient], ids=["http", "grpc"])
def test_add_sub(server: ServerProcess, module: Any) -> None:
    """Triton's add_sub example answers its sum and difference over HTTP and gRPC."""
    url = server.http_url if module is httpclient else server.grpc_url
    client = module.InferenceServerClient(url)
    a = np.array([1.5, 2, 3, 4], np.float32)
    b = np.array([0.5, 1, -1, 10], np.float32)
    result = client.infer("add_sub", _inputs(module, INPUT0=a, INPUT1=b))
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), a + b)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), a - b)
    only = client.infer("add_sub", _inputs(module, INPUT0=a, INPUT1=b),
                        outputs=[module.InferRequestedOutput("OUTPUT1")])
    np.testing.assert_array_equal(only.as_numpy("OUTPUT1"), a - b)
    assert only.as_numpy("OUTPUT0") is None


def test_initialize_gets_triton_args(server: ServerProcess) -> None:
    """initialize(args) gets Triton's keys, the config as a JSON string with its parameters,
    and execute's requests carry the client's id and parameters."""
    client = httpclient.InferenceServerClient(server.http_url)
    result = client.infer("introspect", _inputs(httpclient, X=np.array([1], np.int32)),
                          request_id="r-7", parameters={"temperature": 3, "mode": "fast"})
    info = json.loads(result.as_numpy("INFO")[0])
    assert info["greeting"] == "hello"
    assert (info["name"], info["version"], info["kind"]) == ("introspect", "1", "CPU")
    assert Path(info["repository"]).name == "introspect"
    assert Path(info["model_dir"]).parts[-2:] == ("introspect", "1")
    assert info["request_id"] == "r-7"
    assert info["parameters"] == {"temperature": 3, "mode": "fast"}


@pytest.mark.parametrize("module", [httpclient, grpcclient], ids=["http", "grpc"])
def test_bytes_in_and_out(server: ServerProcess, module: Any) -> None:
    """BYTES reach model.py as bytes, even when they are not UTF-8, and BYTES come back."""
    url = server.http_url if module is httpclient else server.grpc_url
    client = module.InferenceServerClient(url)
    words = np.array([[b"hello", b"\xff\x00raw", "caf\u00e9".encode()]], dtype=np.object_)
    result = client.infer("bytes_rev", _inputs(module, TEXT=words))
    assert result.as_numpy("REVERSED").tolist() == [[w[::-1] for w in words[0]]]
    assert result.as_numpy("LENGTH").tolist() == [[5, 5, 5]]


def test_execute_receives_requests_separately(server: ServerProcess) -> None:
    """With dynamic batching, execute() gets several requests at once, each with its own
    tensors (never merged): every answer has its request's batch size."""
    def one(i: int) -> tuple[int, np.ndarray]:
        client = httpclient.InferenceServerClient(server.http_url)
        x = np.full((i % 3 + 1, 1), i, np.float32)
        return i % 3 + 1, client.infer("count", _inputs(httpclient, X=x)).as_numpy("REQUESTS")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    for rows, counts in answers:
        assert counts.shape == (rows, 1)
    assert max(int(counts[0, 0]) for _, counts in answers) > 1


def test_each_instance_is_a_process_of_its_own(server: ServerProcess) -> None:
    """instance_group count 2: two stub processes, neither of them the server, both busy at
    once."""
    def pid(_: int) -> int:
        client = httpclient.InferenceServerClient(server.http_url)
        result = client.infer("pids", _inputs(httpclient, X=np.array([0], np.int32)))
        return int(result.as_numpy("PID")[0])

    with ThreadPoolExecutor(4) as pool:
        pids = set(pool.map(pid, range(4)))
    assert len(pids) == 2 and server.proc.pid not in pids
    assert pids <= set(_children(server.proc.pid))


def test_crash_restarts_the_instance(server: ServerProcess) -> None:
    """os._exit in execute fails that request with a clear error; the next request starts a
    new stub and succeeds; the server and other models never notice."""
    client = httpclient.InferenceServerClient(server.http_url)
    with pytest.raises(InferenceServerException) as caught:
        client.infer("crasher", _inputs(httpclient, X=np.array([-1], np.int32)))
    assert "model 'crasher' (instance 0): the stub process exited with code 3 during " \
           "execute()" in str(caught.value)
    assert caught.value.status() == "500"
    result = client.infer("crasher", _inputs(httpclient, X=np.array([5], np.int32)))
    assert result.as_numpy("Y").tolist() == [5]
    assert client.is_model_ready("crasher")
    a = np.ones(4, np.float32)
    assert client.infer("add_sub", _inputs(httpclient, INPUT0=a, INPUT1=a)).as_numpy(
        "OUTPUT0").tolist() == [2, 2, 2, 2]
    assert server.alive()


def test_hung_execute_is_bounded(server: ServerProcess) -> None:
    """An execute() that never returns fails after execute_timeout_s (1.5 s here) with the
    reason, and the instance serves again right after."""
    client = grpcclient.InferenceServerClient(server.grpc_url)
    started = time.monotonic()
    with pytest.raises(InferenceServerException) as caught:
        client.infer("hanger", _inputs(grpcclient, X=np.array([-2], np.int32)))
    assert time.monotonic() - started < 15
    assert "execute() did not return within 1.5 s (execute_timeout_s)" in str(caught.value)
    assert caught.value.status() == "StatusCode.INTERNAL"
    result = client.infer("hanger", _inputs(grpcclient, X=np.array([7], np.int32)))
    assert result.as_numpy("Y").tolist() == [7]


def _stream(server: ServerProcess, requests: list[dict[str, Any]], expected: int,
            final_flags: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """Send requests to repeat_int32 on one stream; collect ``expected`` responses."""
    received: queue.Queue[Any] = queue.Queue()
    client = grpcclient.InferenceServerClient(server.grpc_url)
    client.start_stream(callback=lambda result, error: received.put((result, error)))
    try:
        for item in requests:
            inputs = _inputs(grpcclient, IN=item["in"], DELAY=item["delay"],
                             WAIT=np.array([item.get("wait", 0)], np.uint32))
            client.async_stream_infer("repeat_int32", inputs, request_id=item["id"],
                                      enable_empty_final_response=final_flags)
        out = []
        for _ in range(expected):
            result, error = received.get(timeout=30)
            assert error is None, error
            response = result.get_response()
            params = {k: v.bool_param for k, v in response.parameters.items()}
            values = {} if not response.outputs else {
                "out": int(result.as_numpy("OUT")[0]), "idx": int(result.as_numpy("IDX")[0])}
            out.append((response.id, {**values, **params}))
        assert received.empty()
        return out
    finally:
        client.stop_stream()
        client.close()


def test_decoupled_model_streams_several_responses(server: ServerProcess) -> None:
    """Triton's decoupled repeat model over gRPC streaming: one response per element, in
    order per request; two requests on one stream run side by side and interleave."""
    responses = _stream(server, [
        {"id": "a", "in": np.array([4, 2, 0, 1], np.int32),
         "delay": np.array([30, 30, 30, 30], np.uint32), "wait": 10},
        {"id": "b", "in": np.array([10, 20], np.int32), "delay": np.array([5, 5], np.uint32)},
    ], expected=6)
    by_id: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    for request_id, values in responses:
        by_id[request_id].append(values)
    assert by_id["a"] == [{"out": v, "idx": i} for i, v in enumerate([4, 2, 0, 1])]
    assert by_id["b"] == [{"out": 10, "idx": 0}, {"out": 20, "idx": 1}]
    order = [request_id for request_id, _ in responses]
    assert order.index("b") < len(order) - 2, f"b waited for a to finish: {order}"


def test_decoupled_final_flag_on_request(server: ServerProcess) -> None:
    """With enable_empty_final_response, each response says whether it is the last, and the
    model's flags-only "done" arrives as an empty final response; zero elements: just that."""
    responses = _stream(server, [
        {"id": "x", "in": np.array([7, 8], np.int32), "delay": np.array([1, 1], np.uint32)},
    ], expected=3, final_flags=True)
    assert responses == [("x", {"out": 7, "idx": 0, "triton_final_response": False}),
                         ("x", {"out": 8, "idx": 1, "triton_final_response": False}),
                         ("x", {"triton_final_response": True})]
    empty = _stream(server, [{"id": "e", "in": np.zeros(0, np.int32),
                              "delay": np.zeros(0, np.uint32)}], expected=1, final_flags=True)
    assert empty == [("e", {"triton_final_response": True})]


def test_decoupled_failure_reaches_the_stream(server: ServerProcess) -> None:
    """A decoupled model whose execute() raises answers the stream with Triton's message, and
    the stream goes on serving the next request."""
    received: queue.Queue[Any] = queue.Queue()
    client = grpcclient.InferenceServerClient(server.grpc_url)
    client.start_stream(callback=lambda result, error: received.put((result, error)))
    try:
        for values, delays in (([1, 2], [1]), ([3], [1])):
            client.async_stream_infer("repeat_int32", _inputs(
                grpcclient, IN=np.array(values, np.int32), DELAY=np.array(delays, np.uint32),
                WAIT=np.array([0], np.uint32)))
        first, second = received.get(timeout=30), received.get(timeout=30)
    finally:
        client.stop_stream()
        client.close()
    assert first[0] is None
    assert ("Failed to process the request(s) for model 'repeat_int32', message: "
            "TritonModelException: IN and DELAY shapes differ") in str(first[1])
    assert second[1] is None and second[0].as_numpy("OUT").tolist() == [3]


@pytest.mark.parametrize("module", [httpclient, grpcclient], ids=["http", "grpc"])
def test_decoupled_model_refuses_unary_requests(server: ServerProcess, module: Any) -> None:
    """A decoupled model asked for one response answers Triton's refusal."""
    url = server.http_url if module is httpclient else server.grpc_url
    client = module.InferenceServerClient(url)
    inputs = _inputs(module, IN=np.array([1], np.int32), DELAY=np.array([0], np.uint32),
                     WAIT=np.array([0], np.uint32))
    with pytest.raises(InferenceServerException) as caught:
        client.infer("repeat_int32", inputs)
    wording = ("HTTP end point" if module is httpclient else "ModelInfer RPC")
    assert f"{wording} doesn't support models with decoupled transaction policy" in str(
        caught.value)
    assert caught.value.status() in ("501", "StatusCode.UNIMPLEMENTED")


@pytest.mark.parametrize("model", ["bls_sync", "bls_async"])
def test_bls_calls_an_onnx_model(server: ServerProcess, model: str) -> None:
    """A Python model runs its inputs through an ONNX model of the same server (exec and
    async_exec), and a call to an unknown model comes back as the model's error."""
    client = grpcclient.InferenceServerClient(server.grpc_url)
    a = np.array([1, 2, 3, 4], np.float32)
    b = np.array([4, 3, 2, 1], np.float32)
    target = np.array([b"onnx_add_sub"], dtype=np.object_)
    result = client.infer(model, _inputs(grpcclient, INPUT0=a, INPUT1=b, MODEL_NAME=target))
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), a + b)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), a - b)
    stats = client.get_inference_statistics("onnx_add_sub", as_json=True)
    assert int(stats["model_stats"][0]["inference_stats"]["success"]["count"]) >= 1
    with pytest.raises(InferenceServerException) as caught:
        client.infer(model, _inputs(grpcclient, INPUT0=a, INPUT1=b,
                                    MODEL_NAME=np.array([b"no_such_model"], dtype=np.object_)))
    assert "no_such_model" in str(caught.value)


def test_auto_complete_config(server: ServerProcess) -> None:
    """A config.pbtxt with only name and backend is completed by auto_complete_config."""
    client = httpclient.InferenceServerClient(server.http_url)
    config = client.get_model_config("auto")
    assert [i["name"] for i in config["input"]] == ["X"]
    assert config["output"][0]["data_type"] == "TYPE_INT64"
    assert config["max_batch_size"] == 4
    x = np.array([[1, 2], [3, 4]], np.int64)
    assert client.infer("auto", _inputs(httpclient, X=x)).as_numpy("DOUBLED").tolist() == [
        [2, 4], [6, 8]]


def test_execution_env_path(server: ServerProcess) -> None:
    """EXECUTION_ENV_PATH ($$TRITON_MODEL_DIRECTORY/env, a venv layout) brings a package the
    server does not have."""
    client = httpclient.InferenceServerClient(server.http_url)
    result = client.infer("with_env", _inputs(httpclient, X=np.array([1], np.int32)))
    assert result.as_numpy("Y").tolist() == [101]


def test_failed_initialize_leaves_the_model_unavailable(server: ServerProcess) -> None:
    """A model whose initialize() raises is not served; the index says why."""
    client = httpclient.InferenceServerClient(server.http_url)
    assert not client.is_model_ready("broken")
    (row,) = [r for r in client.get_model_repository_index() if r["name"] == "broken"]
    assert row["state"] == "UNAVAILABLE"
    assert "initialize() failed: ValueError: the weights file is missing" in row["reason"]


def test_stub_processes_end_with_the_server(tmp_path: Path) -> None:
    """Stopping the server finalizes every model (finalize() prints) and leaves no stub."""
    repo = tmp_path / "repo"
    pm.write_python_model(repo, "add_sub", pm.ADD_SUB_CONFIG, pm.ADD_SUB)
    server = ServerProcess(repo, log_path=tmp_path / "server.log")
    stubs = _children(server.proc.pid)
    assert stubs, "a stub process runs"
    assert server.stop() == 0
    assert "Cleaning up..." in server.log()
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") for pid in stubs) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in stubs)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found

