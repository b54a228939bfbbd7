"""Wire compatibility of our gRPC protos with the ones tritonclient ships.

Both sides define the proto package ``inference`` in protobuf's default descriptor pool, so one
process cannot import tritonclient's ``service_pb2`` and our ``grpc_service_pb2``: the second
import raises ``TypeError`` (upb: "duplicate symbol 'inference.DataType'"; pure Python: "Conflict
register for file ..."). Each side is therefore described in its own subprocess, which runs this
file as a script and prints JSON; the tests compare the JSON.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO_ROOT / "src" / "modelport" / "serve" / "grpc" / "proto"

# Module per role, for each side; "health" exists only on ours.
SIDES = {
    "triton": {
        "service": "tritonclient.grpc.service_pb2",
        "model_config": "tritonclient.grpc.model_config_pb2",
    },
    "ours": {
        "service": "modelport.serve.grpc.proto.grpc_service_pb2",
        "model_config": "modelport.serve.grpc.proto.model_config_pb2",
        "health": "modelport.serve.grpc.proto.health_pb2",
    },
}

Json = dict[str, Any]


# --- subprocess side: runs with only one side's modules imported --------------------------------


def _modules(side: str) -> dict[str, ModuleType]:
    import importlib

    return {role: importlib.import_module(name) for role, name in SIDES[side].items()}


def _describe_field(field: Any) -> Json:
    return {
        "number": field.number,
        "type": field.type,
        "repeated": field.is_repeated,
        "packed": field.is_packed,
        "presence": field.has_presence,
        "message": field.message_type.full_name if field.message_type else None,
        "enum": field.enum_type.full_name if field.enum_type else None,
        "oneof": field.containing_oneof.name if field.containing_oneof else None,
    }


def _describe_message(desc: Any, out: Json) -> None:
    out["messages"][desc.full_name] = {
        "map_entry": desc.GetOptions().map_entry,
        "fields": {f.name: _describe_field(f) for f in desc.fields},
        "oneofs": {o.name: [f.name for f in o.fields] for o in desc.oneofs},
    }
    for enum in desc.enum_types:
        _describe_enum(enum, out)
    for nested in desc.nested_types:
        _describe_message(nested, out)


def _describe_enum(desc: Any, out: Json) -> None:
    out["enums"][desc.full_name] = {v.name: v.number for v in desc.values}


def _describe_service(desc: Any) -> Json:
    return {
        m.name: {
            "input": m.input_type.full_name,
            "output": m.output_type.full_name,
            "client_streaming": m.client_streaming,
            "server_streaming": m.server_streaming,
        }
        for m in desc.methods
    }


def describe(side: str) -> Json:
    """Flatten every file, message, enum and service of one side into plain JSON."""
    out: Json = {"files": {}, "messages": {}, "enums": {}, "services": {}}
    for role, module in _modules(side).items():
        file = module.DESCRIPTOR
        out["files"][role] = {
            "name": file.name,
            "package": file.package,
            "messages": sorted(file.message_types_by_name),
            "enums": sorted(file.enum_types_by_name),
            "services": sorted(file.services_by_name),
            "serialized_pb": base64.b64encode(file.serialized_pb).decode(),
        }
        for message in file.message_types_by_name.values():
            _describe_message(message, out)
        for enum in file.enum_types_by_name.values():
            _describe_enum(enum, out)
        for service in file.services_by_name.values():
            out["services"][service.full_name] = _describe_service(service)
    return out


def _encoded(message: Any) -> Json:
    from google.protobuf import json_format

    return {
        "wire": base64.b64encode(message.SerializeToString(deterministic=True)).decode(),
        "values": json_format.MessageToDict(message, preserving_proto_field_name=True),
    }


def triton_infer_request() -> Json:
    """Build a ModelInferRequest the way tritonclient's InferenceServerClient.infer does."""
    import numpy as np
    import tritonclient.grpc as grpcclient
    from tritonclient.grpc._utils import _get_inference_request

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
    return _encoded(request)


def parse(side: str, message_name: str, wire_b64: str) -> Json:
    """Parse bytes with one side's class and re-encode them."""
    message = getattr(_modules(side)["service"], message_name).FromString(
        base64.b64decode(wire_b64)
    )
    return _encoded(message)


def build(side: str, message_name: str, values: Json) -> Json:
    """Build a message from its JSON form with one side's class."""
    from google.protobuf import json_format

    message_class = getattr(_modules(side)["service"], message_name)
    return _encoded(json_format.ParseDict(values, message_class()))


def _main(argv: list[str]) -> None:
    command, *args = argv
    if command == "describe":
        result = describe(args[0])
    elif command == "triton-infer-request":
        result = triton_infer_request()
    elif command == "parse":
        result = parse(args[0], args[1], sys.stdin.read())
    elif command == "build":
        result = build(args[0], args[1], json.loads(sys.stdin.read()))
    else:
        raise SystemExit(f"unknown command: {command}")
    print(json.dumps(result))


# --- test side: imports neither side's modules ---------------------------------------------------


def _run(*args: str, stdin: str = "") -> Json:
    done = subprocess.run(
        [sys.executable, __file__, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: Json = json.loads(done.stdout)
    return result


@cache
def _described(side: str) -> Json:
    return _run("describe", side)


@pytest.fixture(scope="module")
def triton() -> Json:
    return _described("triton")


@pytest.fixture(scope="module")
def ours() -> Json:
    return _described("ours")


def test_files_share_package_and_top_level_names(triton: Json, ours: Json) -> None:
    """Our service and model_config files are package `inference` with Triton's top-level names."""
    for role in ("service", "model_config"):
        theirs, mine = triton["files"][role], ours["files"][role]
        assert mine["package"] == theirs["package"] == "inference"
        for kind in ("messages", "enums", "services"):
            assert mine[kind] == theirs[kind], (role, kind)


def test_same_message_and_enum_full_names(triton: Json, ours: Json) -> None:
    """Every Triton message and enum, nested ones and map entries included, exists in ours."""
    health = {name for name in ours["messages"] if name.startswith("grpc.health.")}
    health_enums = {name for name in ours["enums"] if name.startswith("grpc.health.")}
    assert set(ours["messages"]) - health == set(triton["messages"])
    assert set(ours["enums"]) - health_enums == set(triton["enums"])


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
    """inference.GRPCInferenceService has Triton's methods, types and streaming flags."""
    assert set(triton["services"]) == {"inference.GRPCInferenceService"}
    mine = ours["services"]["inference.GRPCInferenceService"]
    theirs = triton["services"]["inference.GRPCInferenceService"]
    assert mine == theirs
    assert mine["ModelStreamInfer"]["client_streaming"]
    assert mine["ModelStreamInfer"]["server_streaming"]


def test_health_service_is_grpc_health_v1(ours: Json) -> None:
    """Our health.proto is the standard grpc.health.v1 Check/Watch service."""
    assert ours["files"]["health"]["package"] == "grpc.health.v1"
    assert ours["services"]["grpc.health.v1.Health"] == {
        "Check": {
            "input": "grpc.health.v1.HealthCheckRequest",
            "output": "grpc.health.v1.HealthCheckResponse",
            "client_streaming": False,
            "server_streaming": False,
        },
        "Watch": {
            "input": "grpc.health.v1.HealthCheckRequest",
            "output": "grpc.health.v1.HealthCheckResponse",
            "client_streaming": False,
            "server_streaming": True,
        },
    }
    request = ours["messages"]["grpc.health.v1.HealthCheckRequest"]["fields"]
    assert (request["service"]["number"], request["service"]["type"]) == (1, 9)  # 9: string
    status = ours["messages"]["grpc.health.v1.HealthCheckResponse"]["fields"]["status"]
    assert (status["number"], status["enum"]) == (
        1,
        "grpc.health.v1.HealthCheckResponse.ServingStatus",
    )
    assert ours["enums"]["grpc.health.v1.HealthCheckResponse.ServingStatus"] == {
        "UNKNOWN": 0,
        "SERVING": 1,
        "NOT_SERVING": 2,
        "SERVICE_UNKNOWN": 3,
    }


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
def test_generated_modules_match_proto_sources(ours: Json, tmp_path: Path) -> None:
    """The committed *_pb2.py modules embed exactly what protoc makes of the .proto files."""
    from google.protobuf import descriptor_pb2

    descriptor_set = tmp_path / "protos.desc"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{REPO_ROOT / 'src'}",
            f"--descriptor_set_out={descriptor_set}",
            *sorted(str(p) for p in PROTO_DIR.glob("*.proto")),
        ],
        check=True,
        timeout=120,
    )
    compiled = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    from_source = {f.name: _without_json_names(f) for f in compiled.file}
    for role, info in ours["files"].items():
        embedded = descriptor_pb2.FileDescriptorProto.FromString(
            base64.b64decode(info["serialized_pb"])
        )
        assert embedded == from_source[info["name"]], f"{role}: run scripts/gen_protos.sh"
    assert len(from_source) == len(ours["files"])


def test_triton_infer_request_parses_with_ours() -> None:
    """A ModelInferRequest serialized by tritonclient parses with ours to the same values."""
    sent = _run("triton-infer-request")
    received = _run("parse", "ours", "ModelInferRequest", stdin=sent["wire"])
    assert received["values"] == sent["values"]
    assert received["wire"] == sent["wire"]
    # Guard against a vacuous pass: the request really carries every kind of field.
    assert set(sent["values"]) == {
        "model_name",
        "model_version",
        "id",
        "parameters",
        "inputs",
        "outputs",
        "raw_input_contents",
    }
    assert len(sent["values"]["inputs"][2]["contents"]) == 8


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
    sent = _run("build", "ours", "ModelConfigResponse", stdin=json.dumps({"config": config}))
    received = _run("parse", "triton", "ModelConfigResponse", stdin=sent["wire"])
    assert received["values"] == sent["values"] == {"config": config}
    assert received["wire"] == sent["wire"]


if __name__ == "__main__":
    _main(sys.argv[1:])
