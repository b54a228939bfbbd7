"""Fuzzing what a model repository feeds the server: config.pbtxt text, and ONNX graphs used
for config auto-completion (huge and negative dims, cycles, missing initializers, odd types,
damaged files). A bad model is refused with a RepositoryError (a 400 on the load API) and
never takes the server down; a config that loads has values the server can run."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import onnx
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from onnx import TensorProto, helper
from support.fuzzing import LoopServer, build_repo, check_answer, fuzz_settings
from support.models import add_model

from modelport.errors import RepositoryError
from modelport.repository.autocomplete import read_signature
from modelport.repository.config import ModelConfig
from modelport.repository.layout import Repository
from modelport.repository.resolve import resolve

CONFIG = """name: "m"
max_batch_size: 4
input [{ name: "a" data_type: TYPE_FP32 dims: [ 4 ] },
       { name: "b" data_type: TYPE_FP32 dims: [ 4 ] }]
output [{ name: "out" data_type: TYPE_FP32 dims: [ 4 ] }]
instance_group [{ count: 1 kind: KIND_CPU }]
dynamic_batching { max_queue_delay_microseconds: 100 preferred_batch_size: [ 2 ] }
version_policy { latest { num_versions: 1 } }
"""
FIELDS = st.sampled_from([
    "max_batch_size: {i}", 'input [{{ name: "a" data_type: TYPE_FP32 dims: [ {i} ] }}]',
    'output [{{ name: "{s}" data_type: TYPE_{t} dims: [ {i}, {i} ] }}]',
    "instance_group [{{ count: {i} kind: KIND_{t} }}]",
    "dynamic_batching {{ max_queue_delay_microseconds: {i} preferred_batch_size: [ {i} ] }}",
    "version_policy {{ specific {{ versions: [ {i} ] }} }}",
    "version_policy {{ latest {{ num_versions: {i} }} }}",
    'input [{{ name: "a" data_type: TYPE_FP32 dims: [ 4 ] reshape {{ shape: [ {i} ] }} }}]',
    'default_model_filename: "{s}"', 'platform: "{s}"', 'backend: "{s}"',
    "sequence_batching {{ max_sequence_idle_microseconds: {i} }}",
    'parameters {{ key: "{s}" value {{ string_value: "{s}" }} }}',
    "model_transaction_policy {{ decoupled: true }}", 'name: "{s}"',
    'input [{{ name: "a" data_type: TYPE_FP32 format: FORMAT_NCHW dims: [ {i}, {i}, {i} ] }}]',
    "optimization {{ priority: PRIORITY_MAX }}", 'input [{{ name: "a" data_type: {i} }}]',
    "instance_group [{{ kind: {i} }}]", 'cc_model_filenames {{ key: "{s}" value: "x" }}',
    "model_warmup [{{ name: \"w\" batch_size: {i} inputs {{ key: \"a\" value {{ data_type: "
    "TYPE_FP32 dims: [ {i} ] zero_data: true }} }} }}]"])
INTS = st.integers(-3, 5) | st.sampled_from([2**31, 2**62, -2**63, 2**63 - 1])


@st.composite
def config_text(draw: st.DrawFn) -> str:
    """A valid config with fields replaced or appended, sometimes with its text damaged."""
    lines = CONFIG.splitlines()
    for template in draw(st.lists(FIELDS, max_size=2)):
        field = template.format(i=draw(INTS), s=draw(st.text(max_size=4).map(json.dumps)
                                                     .map(lambda s: s[1:-1])),
                                t=draw(st.sampled_from(["FP32", "INT64", "STRING", "GPU",
                                                        "CPU", "X"])))
        lines.insert(draw(st.integers(0, len(lines))), field)
    text = "\n".join(lines)
    if draw(st.integers(0, 9)) == 0 and text:
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + draw(st.text(max_size=3)) + text[at + 1:]
    return text


@pytest.fixture(scope="module")
def onnx_bytes() -> bytes:
    """The two-input ``add`` model."""
    return add_model(2.0).SerializeToString()


@fuzz_settings(250)
@given(text=config_text())
def test_config_pbtxt(tmp_path_factory: pytest.TempPathFactory, onnx_bytes: bytes,
                      text: str) -> None:
    """Any config.pbtxt: resolving it raises a RepositoryError or yields a config whose
    instance counts, batch size and dims the server can run."""
    root = tmp_path_factory.mktemp("cfg")
    (root / "m" / "1").mkdir(parents=True)
    (root / "m" / "1" / "model.onnx").write_bytes(onnx_bytes)
    (root / "m" / "config.pbtxt").write_text(text)
    try:
        config = resolve(Repository(root), "m").config
    except RepositoryError as exc:
        event(type(exc).__name__)
        return
    event("resolved")
    _runnable(config)


def _runnable(config: ModelConfig) -> None:
    assert config.instance_count >= 1 and all(g.count >= 1 for g in config.instance_groups)
    assert config.max_batch_size >= 0
    for spec in (*config.inputs, *config.outputs):
        assert all(d == -1 or d >= 0 for d in spec.dims), spec


ELEM = st.sampled_from([TensorProto.FLOAT] * 6 + [TensorProto.INT64, TensorProto.STRING,
                                                   TensorProto.UNDEFINED, TensorProto.COMPLEX64,
                                                   99])
DIM = st.sampled_from([4, "n", -1]) | st.integers(-5, 4) | st.sampled_from(
    [2**31, 2**62, -2**63, ""])


@st.composite
def hostile_graph(draw: st.DrawFn) -> bytes:
    """An ONNX model with hostile parts: dims, element types, cycles, dangling initializers,
    missing types, or its bytes damaged."""
    def value(name: str) -> onnx.ValueInfoProto:
        if draw(st.integers(0, 9)) == 0:
            return helper.make_empty_tensor_value_info(name)  # no type at all
        dims = draw(st.just(["n", 4]) | st.lists(DIM, max_size=4))
        return helper.make_tensor_value_info(name, draw(ELEM), dims)

    kind = draw(st.sampled_from(["plain", "plain", "cycle", "missing_init", "bad_op",
                                 "init_as_input"]))
    nodes = [helper.make_node("Add", ["a", "b"], ["out"])]
    inits = []
    if kind == "cycle":
        nodes = [helper.make_node("Add", ["a", "t"], ["out"]),
                 helper.make_node("Identity", ["out"], ["t"])]
    elif kind == "missing_init":
        nodes = [helper.make_node("Add", ["a", "w"], ["out"])]
    elif kind == "bad_op":
        nodes = [helper.make_node(draw(st.sampled_from(["NoSuchOp", "Loop", "If", "Reshape"])),
                                  ["a", "b"], ["out"])]
    elif kind == "init_as_input":
        inits = [helper.make_tensor("b", TensorProto.FLOAT, [4], [1.0] * 4)]
    graph = helper.make_graph(nodes, "g", [value("a"), value("b")], [value("out")],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(
        "", draw(st.sampled_from([17, 1, 999])))])
    model.ir_version = draw(st.sampled_from([8, 8, 3, 99]))
    data = model.SerializeToString()
    damage = draw(st.sampled_from(["none"] * 5 + ["cut", "flip", "junk"]))
    if damage == "cut":
        data = data[:draw(st.integers(0, len(data)))]
    elif damage == "flip":
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    elif damage == "junk":
        data = draw(st.binary(max_size=64))
    return data


@fuzz_settings(200)
@given(data=hostile_graph(), config=st.sampled_from(["", 'backend: "onnxruntime"',
                                                     "max_batch_size: 2"]))
def test_onnx_auto_completion(tmp_path_factory: pytest.TempPathFactory, data: bytes,
                              config: str) -> None:
    """A hostile ONNX file under a config that leaves its tensors out: reading its signature
    and completing the config raise a RepositoryError without the server's paths, or give a
    config the server can run."""
    root = tmp_path_factory.mktemp("sig")
    path = root / "m" / "1" / "model.onnx"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    (root / "m" / "config.pbtxt").write_text(config)
    try:
        read_signature(path)
        resolved = resolve(Repository(root), "m").config
    except RepositoryError as exc:
        assert str(root) not in str(exc), "a server path in the message"
        event(type(exc).__name__)
        return
    event("resolved")
    _runnable(resolved)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopServer]:
    """A server in explicit mode that loads what clients send."""
    root = tmp_path_factory.mktemp("models")
    server = LoopServer(build_repo(root / "models"), root / "cache",
                        model_control_mode="explicit", load_models=["echo"])
    yield server
    server.stop()


@fuzz_settings(40)
@given(data=hostile_graph(), with_config=st.booleans())
def test_hostile_model_over_the_load_api(srv: LoopServer, data: bytes,
                                         with_config: bool) -> None:
    """A load request carrying a hostile model file (``file:1/model.onnx``) is answered
    without a 5xx and the server goes on serving."""
    config = {"backend": "onnxruntime"} if with_config else {
        "max_batch_size": 2, "input": [{"name": "a", "data_type": "TYPE_FP32", "dims": [4]}],
        "output": [{"name": "out", "data_type": "TYPE_FP32", "dims": [4]}]}
    body = json.dumps({"parameters": {"config": json.dumps(config),
                                      "file:1/model.onnx": base64.b64encode(data).decode()}})
    reply = srv.request("POST", "/v2/repository/models/hostile/load", body.encode())
    event(f"HTTP {reply.status_code}")
    check_answer(reply.status_code, reply.content, "load")
    root = str(srv.server.config.model_repository)
    assert root not in reply.text and srv.server.config.cache_dir.name not in reply.text
    assert srv.request("GET", "/v2/health/live").status_code == 200


def test_builtin_models_still_serve(srv: LoopServer) -> None:
    """After the hostile loads, the fake-backend model answers."""
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}]}
    reply = srv.request("POST", "/v2/models/echo/infer", json.dumps(body).encode())
    assert reply.status_code == 200, reply.text




def _bad_utf8_name_model() -> bytes:
    x = helper.make_tensor_value_info("QQQQ", TensorProto.FLOAT, ["n", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])
    graph = helper.make_graph([helper.make_node("Identity", ["QQQQ"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString().replace(b"QQQQ", b"\xff\xfe\xfd\xfc")


def test_tensor_name_that_is_not_utf8_is_a_config_error(srv: LoopServer,
                                                        tmp_path: Path) -> None:
    """A graph tensor name that is not UTF-8 is a ModelConfigError when completing the config,
    and 400 when the file comes in a load request (found by fuzzing: it was a
    UnicodeDecodeError, a 500 on the load API)."""
    path = tmp_path / "m" / "1" / "model.onnx"
    path.parent.mkdir(parents=True)
    path.write_bytes(_bad_utf8_name_model())
    with pytest.raises(RepositoryError, match="not valid UTF-8"):
        resolve(Repository(tmp_path), "m")
    body = json.dumps({"parameters": {
        "config": json.dumps({"backend": "onnxruntime"}),
        "file:1/model.onnx": base64.b64encode(_bad_utf8_name_model()).decode()}})
    reply = srv.request("POST", "/v2/repository/models/badname/load", body.encode())
    assert reply.status_code == 400 and "not valid UTF-8" in reply.json()["error"]


def test_unnamed_enum_numbers_are_config_errors(srv: LoopServer) -> None:
    """A config naming an enum by a number the schema lacks (``data_type: 32``) is refused
    where it is parsed (atheris found the ValueError it raised later, a 500 on the load API)."""
    config = {"backend": "fake", "max_batch_size": 1,
              "input": [{"name": "x", "data_type": 32, "dims": [1]}],
              "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [1]}]}
    body = json.dumps({"parameters": {"config": json.dumps(config)}})
    reply = srv.request("POST", "/v2/repository/models/echo/load", body.encode())
    assert reply.status_code == 400, reply.text
    assert "data_type' has the value 32" in reply.json()["error"]
