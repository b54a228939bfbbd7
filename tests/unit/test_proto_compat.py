"""Wire compatibility of our gRPC protos with the ones tritonclient ships.

Our files are package ``modelport.inference`` and tritonclient's are ``inference``, so both load
into one process; full names are compared relative to each side's package (``modelport.inference.X``
against ``inference.X``), which is all the wire can see of them.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from google.protobuf import descriptor_pb2, json_format
from tritonclient.grpc import model_config_pb2 as triton_model_config_pb2
from tritonclient.grpc import service_pb2 as triton_service_pb2
from tritonclient.grpc import service_pb2_grpc as triton_service_pb2_grpc
from tritonclient.grpc._utils import _get_inference_request

from modelport.repository import model_config_pb2
from modelport.serve.grpc.proto import (
    HEALTH_SERVICE_NAME,
    SERVICE_NAME,
    grpc_service_pb2,
    health_pb2,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO_ROOT / "src" / "modelport" / "serve" / "grpc" / "proto"
SCHEMA = REPO_ROOT / "src" / "modelport" / "repository" / "model_config.proto"

TRITON = {"service": triton_service_pb2, "model_config": triton_model_config_pb2}
OURS = {"service": grpc_service_pb2, "model_config": model_config_pb2}

Json = dict[str, Any]


# --- descriptors flattened to plain data, names relative to their file's package ---------------


def _relative(full_name: str, package: str) -> str:
    return full_name.removeprefix(f"{package}.")


def _describe_field(field: Any, package: str) -> Json:
    return {
        "number": field.number,
        "type": field.type,
        "repeated": field.is_repeated,
        "packed": field.is_packed,
        "presence": field.has_presence,
        "message": _relative(field.message_type.full_name, package) if field.message_type else None,
        "enum": _relative(field.enum_type.full_name, package) if field.enum_type else None,
        "oneof": field.containing_oneof.name if field.containing_oneof else None,
    }


def _describe_message(desc: Any, package: str, out: Json) -> None:
    out["messages"][_relative(desc.full_name, package)] = {
        "map_entry": desc.GetOptions().map_entry,
        "fields": {f.name: _describe_field(f, package) for f in desc.fields},
        "oneofs": {o.name: [f.name for f in o.fields] for o in desc.oneofs},
    }
    for enum in desc.enum_types:
        _describe_enum(enum, package, out)
    for nested in desc.nested_types:
        _describe_message(nested, package, out)


def _describe_enum(desc: Any, package: str, out: Json) -> None:
    out["enums"][_relative(desc.full_name, package)] = {v.name: v.number for v in desc.values}


def _describe_service(desc: Any, package: str) -> Json:
    return {
        m.name: {
            "input": _relative(m.input_type.full_name, package),
            "output": _relative(m.output_type.full_name, package),
            "client_streaming": m.client_streaming,
            "server_streaming": m.server_streaming,
        }
        for m in desc.methods
    }


def _describe(modules: dict[str, ModuleType]) -> Json:
    """Flatten every file, message, enum and service of the modules into plain data."""
    out: Json = {"files": {}, "messages": {}, "enums": {}, "services": {}}
    for role, module in modules.items():
        file = module.DESCRIPTOR
        package = file.package
        out["files"][role] = {
            "package": package,
            "messages": sorted(file.message_types_by_name),
            "enums": sorted(file.enum_types_by_name),
            "services": sorted(file.services_by_name),
        }
        for message in file.message_types_by_name.values():
            _describe_message(message, package, out)
        for enum in file.enum_types_by_name.values():
            _describe_enum(enum, package, out)
        for service in file.services_by_name.values():
            out["services"][_relative(service.full_name, package)] = _describe_service(
                service, package
            )
    return out


@pytest.fixture(scope="module")
def triton() -> Json:
    return _describe(TRITON)


@pytest.fixture(scope="module")
def ours() -> Json:
    return _describe(OURS)


# --- one process ---------------------------------------------------------------------------------

_IMPORTS = {
    "tritonclient": "import tritonclient.grpc",
    "ours": "from modelport.serve.grpc.proto import grpc_service_pb2\n"
            "from modelport.repository import model_config_pb2",
}


@pytest.mark.parametrize("first", list(_IMPORTS))
def test_imports_alongside_tritonclient_in_either_order(first: str) -> None:
    """A fresh process imports tritonclient.grpc and our modules, whichever comes first."""
    code = "\n".join(
        [
            _IMPORTS[first],
            *(line for name, line in _IMPORTS.items() if name != first),
            "from tritonclient.grpc import model_config_pb2 as theirs",
            "print(model_config_pb2.DESCRIPTOR.package, theirs.DESCRIPTOR.package)",
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["modelport.inference", "inference"]


# --- declarations --------------------------------------------------------------------------------


def test_files_have_own_package_and_triton_top_level_names(triton: Json, ours: Json) -> None:
    """Our files are package modelport.inference and declare Triton's top-level names."""
    for role in ("service", "model_config"):
        theirs, mine = triton["files"][role], ours["files"][role]
        assert (mine["package"], theirs["package"]) == ("modelport.inference", "inference")
        for kind in ("messages", "enums", "services"):
            assert mine[kind] == theirs[kind], (role, kind)


def test_same_message_and_enum_names(triton: Json, ours: Json) -> None:
    """Every Triton message and enum, nested ones and map entries included, exists in ours."""
    assert set(ours["messages"]) == set(triton["messages"])
    assert set(ours["enums"]) == set(triton["enums"])


def test_fields_match(triton: Json, ours: Json) -> None:
    """Each field has Triton's name, number, type, label, packing, presence and oneof."""
    mismatches = {
        name: {"triton": theirs["fields"], "ours": ours["messages"].get(name, {}).get("fields")}
        for name, theirs in triton["messages"].items()
        if ours["messages"].get(name, {}).get("fields") != theirs["fields"]
    }
    assert not mismatches


def test_field_declaration_order_matches(triton: Json, ours: Json) -> None:
    """Fields are declared in Triton's order, so generated code and text formats agree."""
    for name, theirs in triton["messages"].items():
        assert list(ours["messages"][name]["fields"]) == list(theirs["fields"]), name


def test_oneofs_and_map_entries_match(triton: Json, ours: Json) -> None:
    """Oneof groups hold the same fields, and the same nested types are map entries."""
    for name, theirs in triton["messages"].items():
        mine = ours["messages"][name]
        assert mine["oneofs"] == theirs["oneofs"], name
        assert mine["map_entry"] == theirs["map_entry"], name


def test_enum_values_match(triton: Json, ours: Json) -> None:
    """Every Triton enum has the same value names and numbers in ours."""
    for name, values in triton["enums"].items():
        assert ours["enums"][name] == values, name


def test_service_methods_match(triton: Json, ours: Json) -> None:
    """GRPCInferenceService declares Triton's methods in order, with its types and streaming."""
    assert set(triton["services"]) == set(ours["services"]) == {"GRPCInferenceService"}
    mine = ours["services"]["GRPCInferenceService"]
    theirs = triton["services"]["GRPCInferenceService"]
    assert list(mine) == list(theirs)
    assert mine == theirs
    assert mine["ModelStreamInfer"]["client_streaming"]
    assert mine["ModelStreamInfer"]["server_streaming"]


class _RecordingChannel:
    """Stands in for grpc.Channel: records the path and kind of each method a stub binds."""

    def __init__(self) -> None:
        self.methods: dict[str, str] = {}

    def unary_unary(self, path: str, **_: Any) -> None:
        self.methods[path] = "unary_unary"

    def unary_stream(self, path: str, **_: Any) -> None:
        self.methods[path] = "unary_stream"

    def stream_unary(self, path: str, **_: Any) -> None:
        self.methods[path] = "stream_unary"

    def stream_stream(self, path: str, **_: Any) -> None:
        self.methods[path] = "stream_stream"


def _kind(method: Any) -> str:
    sends = "stream" if method.client_streaming else "unary"
    receives = "stream" if method.server_streaming else "unary"
    return f"{sends}_{receives}"


def test_tritonclient_calls_our_methods_under_service_name() -> None:
    """tritonclient's stub calls /{SERVICE_NAME}/<method> for exactly our methods and kinds."""
    channel = _RecordingChannel()
    triton_service_pb2_grpc.GRPCInferenceServiceStub(channel)
    service = grpc_service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert service.full_name == "modelport.inference.GRPCInferenceService"
    assert channel.methods == {f"/{SERVICE_NAME}/{m.name}": _kind(m) for m in service.methods}


def test_health_service_is_grpc_health_v1() -> None:
    """Our health.proto is the standard grpc.health.v1 Check/Watch service."""
    file = health_pb2.DESCRIPTOR
    assert file.package == "grpc.health.v1"
    assert file.services_by_name["Health"].full_name == HEALTH_SERVICE_NAME
    health = _describe({"health": health_pb2})
    assert health["services"]["Health"] == {
        "Check": {
            "input": "HealthCheckRequest",
            "output": "HealthCheckResponse",
            "client_streaming": False,
            "server_streaming": False,
        },
        "Watch": {
            "input": "HealthCheckRequest",
            "output": "HealthCheckResponse",
            "client_streaming": False,
            "server_streaming": True,
        },
    }
    request = health["messages"]["HealthCheckRequest"]["fields"]
    assert (request["service"]["number"], request["service"]["type"]) == (1, 9)  # 9: string
    status = health["messages"]["HealthCheckResponse"]["fields"]["status"]
    assert (status["number"], status["enum"]) == (1, "HealthCheckResponse.ServingStatus")
    assert health["enums"]["HealthCheckResponse.ServingStatus"] == {
        "UNKNOWN": 0,
        "SERVING": 1,
        "NOT_SERVING": 2,
        "SERVICE_UNKNOWN": 3,
    }


# --- generated code ------------------------------------------------------------------------------


def _without_json_names(file: Any) -> Any:
    # protoc's descriptor sets spell out json_name; generated modules leave it to be derived.
    def strip(message: Any) -> None:
        for field in message.field:
            field.ClearField("json_name")
        for nested in message.nested_type:
            strip(nested)

    for message in file.message_type:
        strip(message)
    return file


@pytest.mark.skipif(find_spec("grpc_tools") is None, reason="needs grpcio-tools (dev extra)")
def test_generated_modules_match_proto_sources(tmp_path: Path) -> None:
    """The committed *_pb2.py modules embed exactly what protoc makes of the .proto files."""
    descriptor_set = tmp_path / "protos.desc"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{REPO_ROOT / 'src'}",
            f"--descriptor_set_out={descriptor_set}",
            str(SCHEMA),
            *sorted(str(p) for p in PROTO_DIR.glob("*.proto")),
        ],
        check=True,
        timeout=120,
    )
    compiled = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    from_source = {f.name: _without_json_names(f) for f in compiled.file}
    modules = (grpc_service_pb2, model_config_pb2, health_pb2)
    for module in modules:
        embedded = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        assert embedded == from_source[embedded.name], f"{embedded.name}: run scripts/gen_protos.sh"
    assert len(from_source) == len(modules)


def test_only_health_has_grpc_stubs() -> None:
    """Stubs for GRPCInferenceService would carry the wrong service name, so none are generated."""
    assert [p.name for p in PROTO_DIR.glob("*_pb2_grpc.py")] == ["health_pb2_grpc.py"]


# --- wire round trips ----------------------------------------------------------------------------


def _values(message: Any) -> Json:
    values: Json = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return values


def _wire(message: Any) -> bytes:
    wire: bytes = message.SerializeToString(deterministic=True)
    return wire


def _triton_infer_request() -> Any:
    """Build a ModelInferRequest the way tritonclient's InferenceServerClient.infer does."""
    image = grpcclient.InferInput("INPUT0", [2, 3], "FP32")
    image.set_data_from_numpy(np.arange(6, dtype=np.float32).reshape(2, 3))
    text = grpcclient.InferInput("TEXT", [2], "BYTES")
    text.set_data_from_numpy(np.array([b"hello", b"\xff\x00raw"], dtype=np.object_))
    outputs = [
        grpcclient.InferRequestedOutput("OUTPUT0", class_count=3),
        grpcclient.InferRequestedOutput("OUTPUT1"),
    ]
    request = _get_inference_request(
        model_name="resnet",
        inputs=[image, text],
        model_version="2",
        request_id="req-7",
        outputs=outputs,
        sequence_id=42,
        sequence_start=True,
        sequence_end=False,
        priority=5,
        timeout=1000,
        parameters={"note": "x", "flag": True, "count": -3, "ratio": 0.25},
    )
    # The client sends raw_input_contents; fill the typed contents too so every field is covered.
    typed = request.inputs.add(name="TYPED", datatype="INT64", shape=[1])
    typed.parameters["layout"].string_param = "flat"
    contents = typed.contents
    contents.bool_contents.extend([True, False])
    contents.int_contents.extend([-1, 2])
    contents.int64_contents.extend([-(2**40), 7])
    contents.uint_contents.extend([2**32 - 1])
    contents.uint64_contents.extend([2**64 - 1])
    contents.fp32_contents.extend([0.5, -1.25])
    contents.fp64_contents.extend([1e-300])
    contents.bytes_contents.extend([b"", b"\x00\x01"])
    return request


def test_triton_infer_request_parses_with_ours() -> None:
    """A ModelInferRequest serialized by tritonclient parses with ours to the same values."""
    sent = _triton_infer_request()
    received = grpc_service_pb2.ModelInferRequest.FromString(_wire(sent))
    assert _values(received) == _values(sent)
    assert _wire(received) == _wire(sent)
    # Guard against a vacuous pass: the request really carries every kind of field.
    assert set(_values(sent)) == {
        "model_name",
        "model_version",
        "id",
        "parameters",
        "inputs",
        "outputs",
        "raw_input_contents",
    }
    assert len(_values(sent)["inputs"][2]["contents"]) == 8


def test_our_model_config_response_parses_with_triton() -> None:
    """A ModelConfigResponse built with ours parses with tritonclient's to the same values."""
    config = {
        "name": "resnet",
        "platform": "onnxruntime_onnx",
        "backend": "onnxruntime",
        "max_batch_size": 8,
        "version_policy": {"specific": {"versions": ["1", "3"]}},
        "input": [
            {
                "name": "INPUT0",
                "data_type": "TYPE_FP32",
                "format": "FORMAT_NCHW",
                "dims": ["3", "224", "224"],
                "reshape": {"shape": ["1"]},
            },
        ],
        "output": [{"name": "OUTPUT0", "data_type": "TYPE_FP32", "dims": ["1000"]}],
        "dynamic_batching": {
            "preferred_batch_size": [4, 8],
            "max_queue_delay_microseconds": "100",
            "priority_queue_policy": {"1": {"timeout_action": "DELAY", "max_queue_size": 16}},
        },
        "instance_group": [{"kind": "KIND_CPU", "count": 2, "gpus": [0, 1]}],
        "parameters": {"threads": {"string_value": "4"}},
        "model_warmup": [
            {
                "name": "zeros",
                "batch_size": 1,
                "inputs": {"INPUT0": {"data_type": "TYPE_FP32", "dims": ["3"], "zero_data": True}},
            },
        ],
        "optimization": {
            "cuda": {
                "graphs": True,
                "graph_spec": [{"batch_size": 1, "input": {"INPUT0": {"dim": ["3"]}}}],
            }
        },
    }
    sent = json_format.ParseDict({"config": config}, grpc_service_pb2.ModelConfigResponse())
    received = triton_service_pb2.ModelConfigResponse.FromString(_wire(sent))
    assert _values(received) == _values(sent) == {"config": config}
    assert _wire(received) == _wire(sent)
