"""Fuzzing the gRPC front on a real in-process server: ModelInferRequest messages with any
field combination (typed contents, raw_input_contents of any count and length, shared-memory
and classification parameters), the same over ModelStreamInfer, and arbitrary or mutated
message bytes for every RPC. No answer may be INTERNAL or UNKNOWN, nor leak internals."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import grpc
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from support.fuzzing import (
    DATATYPE,
    MODELS,
    NAMES,
    LoopServer,
    build_repo,
    check_grpc_details,
    fuzz_settings,
)

from modelport.serve.grpc.proto import grpc_service_pb2 as pb

SERVICE = "/inference.GRPCInferenceService/"
SERVER_FAULTS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}
INT64 = st.integers(-2**63, 2**63 - 1)
PARAM = st.one_of(
    st.builds(pb.InferParameter, bool_param=st.booleans()),
    st.builds(pb.InferParameter, int64_param=INT64),
    st.builds(pb.InferParameter, string_param=st.text(max_size=6)),
    st.builds(pb.InferParameter, double_param=st.floats()),
    st.builds(pb.InferParameter, uint64_param=st.integers(0, 2**64 - 1)),
    st.just(pb.InferParameter()))
PARAM_KEYS = st.sampled_from(["shared_memory_region", "shared_memory_offset",
                              "shared_memory_byte_size", "classification", "binary_data",
                              "timeout", "sequence_id", "sequence_start", "priority"])
PARAMS = st.dictionaries(PARAM_KEYS | st.text(max_size=3), PARAM, max_size=3)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopServer]:
    """One server for the module, gRPC on a free loopback port."""
    root = tmp_path_factory.mktemp("fuzz")
    server = LoopServer(build_repo(root / "models"), root / "cache", max_request_bytes=64 * 1024,
                        model_control_mode="explicit", load_models=["*"], allow_client_shm=True)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def channel(srv: LoopServer) -> Iterator[grpc.Channel]:
    """A plain grpc channel: messages go as bytes, so anything can be sent."""
    with grpc.insecure_channel(srv.grpc_url) as chan:
        yield chan


def _call(channel: grpc.Channel, method: str, payload: bytes) -> None:
    rpc = channel.unary_unary(SERVICE + method, request_serializer=None,
                              response_deserializer=None)
    try:
        rpc(payload, timeout=30)
        event("OK")
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details()
        event(str(code))
        assert code not in SERVER_FAULTS, f"{method} {payload[:200]!r}: {code} {details}"
        check_grpc_details(details, method)


@st.composite
def contents(draw: st.DrawFn) -> pb.InferTensorContents:
    """Typed contents with any of the fields filled."""
    msg = pb.InferTensorContents()
    field = draw(st.sampled_from(["bool_contents", "int_contents", "int64_contents",
                                  "uint_contents", "uint64_contents", "fp32_contents",
                                  "fp64_contents", "bytes_contents"]))
    element = {"bool_contents": st.booleans(), "int_contents": st.integers(-2**31, 2**31 - 1),
               "int64_contents": INT64, "uint_contents": st.integers(0, 2**32 - 1),
               "uint64_contents": st.integers(0, 2**64 - 1),
               "fp32_contents": st.floats(width=32), "fp64_contents": st.floats(),
               "bytes_contents": st.binary(max_size=5)}[field]
    getattr(msg, field).extend(draw(st.lists(element, max_size=9)))
    return msg


@st.composite
def infer_request(draw: st.DrawFn) -> pb.ModelInferRequest:
    """A ModelInferRequest mixing well-formed and hostile fields."""
    model = draw(st.sampled_from(sorted(MODELS)) | st.text(max_size=3))
    msg = pb.ModelInferRequest(model_name=model, id=draw(st.text(max_size=4)),
                               model_version=draw(st.sampled_from(["", "1", "2", "x", "-1"])))
    for key, value in draw(PARAMS).items():
        msg.parameters[key].CopyFrom(value)
    known = MODELS.get(model, [("x", "FP32")])
    for name, datatype in draw(st.lists(st.sampled_from(known), max_size=3)):
        shape = draw(st.lists(st.integers(0, 4), min_size=1, max_size=3) |
                     st.lists(INT64, max_size=4))
        tensor = msg.inputs.add(name=draw(st.just(name) | NAMES),
                                datatype=draw(st.just(datatype) | DATATYPE), shape=shape)
        for key, value in draw(PARAMS).items():
            tensor.parameters[key].CopyFrom(value)
        if draw(st.integers(0, 3)) == 0:
            tensor.contents.CopyFrom(draw(contents()))
    if draw(st.booleans()):
        for tensor in msg.inputs:
            count = 1
            for d in tensor.shape:
                count *= d if 0 <= d < 64 else 1
            if tensor.datatype == "BYTES":
                items = draw(st.lists(st.binary(max_size=4), min_size=count, max_size=count))
                blob = b"".join(struct.pack("<I", len(i)) + i for i in items)
            else:
                blob = draw(st.binary(min_size=count * 4, max_size=count * 4))
            msg.raw_input_contents.append(draw(st.sampled_from([blob, blob[1:], blob + b"\0"])))
        msg.raw_input_contents.extend(draw(st.lists(st.binary(max_size=8), max_size=1)))
    for name in draw(st.lists(NAMES, max_size=2)):
        out = msg.outputs.add(name=name)
        for key, value in draw(PARAMS).items():
            out.parameters[key].CopyFrom(value)
    return msg


@fuzz_settings(250)
@given(msg=infer_request())
def test_model_infer_messages(channel: grpc.Channel, msg: pb.ModelInferRequest) -> None:
    """Structured ModelInferRequest messages: never INTERNAL/UNKNOWN."""
    _call(channel, "ModelInfer", msg.SerializeToString())


@fuzz_settings(60)
@given(msgs=st.lists(infer_request(), min_size=1, max_size=4))
def test_model_stream_infer_messages(channel: grpc.Channel,
                                     msgs: list[pb.ModelInferRequest]) -> None:
    """The same messages over ModelStreamInfer: each gets an answer (a response or an
    error_message without internals) and the stream ends OK."""
    rpc = channel.stream_stream(SERVICE + "ModelStreamInfer",
                                request_serializer=pb.ModelInferRequest.SerializeToString,
                                response_deserializer=pb.ModelStreamInferResponse.FromString)
    answers = list(rpc(iter(msgs), timeout=30))
    assert len(answers) == len(msgs)
    for answer in answers:
        check_grpc_details(answer.error_message, "ModelStreamInfer")
        assert not answer.error_message.startswith("internal error"), answer.error_message


METHODS = ["ModelInfer", "ModelMetadata", "ModelReady", "ModelConfig", "ModelStatistics",
           "SystemSharedMemoryRegister", "SystemSharedMemoryStatus",
           "SystemSharedMemoryUnregister", "RepositoryIndex", "RepositoryModelLoad",
           "RepositoryModelUnload", "TraceSetting", "LogSettings", "CudaSharedMemoryRegister",
           "ServerMetadata"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid message's bytes with bytes flipped, cut or inserted, or random bytes."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.binary(max_size=64))
    data = bytearray(draw(infer_request()).SerializeToString())
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        at = draw(st.integers(0, len(data)))
        if action == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del data[at:at + draw(st.integers(1, 8))]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=6))
    return bytes(data)


@fuzz_settings(200)
@given(method=st.sampled_from(METHODS), payload=mutated())
def test_message_bytes(channel: grpc.Channel, method: str, payload: bytes) -> None:
    """Arbitrary and mutated message bytes for every RPC: a parse failure is the client's
    fault (INVALID_ARGUMENT), never INTERNAL."""
    _call(channel, method, payload)


@fuzz_settings(100)
@given(name=st.text(max_size=6), key=st.text(max_size=10) | st.sampled_from(["\0", "/..", "x/y"]),
       offset=st.integers(0, 2**64 - 1), size=st.integers(0, 2**64 - 1))
def test_shared_memory_register(channel: grpc.Channel, name: str, key: str, offset: int,
                                size: int) -> None:
    """SystemSharedMemoryRegister with any name, key, offset and size."""
    msg = pb.SystemSharedMemoryRegisterRequest(name=name, key=key, offset=offset, byte_size=size)
    _call(channel, "SystemSharedMemoryRegister", msg.SerializeToString())
    _call(channel, "SystemSharedMemoryUnregister",
          pb.SystemSharedMemoryUnregisterRequest(name=name).SerializeToString())
