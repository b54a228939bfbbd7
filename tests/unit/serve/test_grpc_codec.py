"""gRPC infer messages: raw and typed input contents, mismatches, raw-only outputs."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from support.models import random_like

from modelport.datatypes import BY_NAME
from modelport.errors import InvalidInput
from modelport.serve.grpc.codec import decode_infer, encode_infer, parameters
from modelport.serve.grpc.proto import grpc_service_pb2 as pb
from modelport.serve.tensors import from_raw, to_raw
from modelport.serve.types import InferResponse, OutputTensor

TYPED_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
NUMERIC = sorted(n for n in BY_NAME if n != "BYTES")


def _request(*inputs: tuple[str, str, list[int]], raw: list[bytes] | None = None,
             **fields: Any) -> Any:
    msg = pb.ModelInferRequest(model_name="m", **fields)
    for name, datatype, shape in inputs:
        msg.inputs.add(name=name, datatype=datatype, shape=shape)
    if raw is not None:
        msg.raw_input_contents.extend(raw)
    return msg


# --- raw inputs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("datatype", sorted(BY_NAME))
def test_raw_input_of_every_datatype(datatype: str) -> None:
    """raw_input_contents decode to the tensor that was serialized, for every datatype."""
    values = random_like(datatype, [2, 3], seed=3)
    request = decode_infer(_request(("x", datatype, [2, 3]), raw=[to_raw(datatype, values)]))
    (tensor,) = request.inputs
    assert (tensor.name, tensor.datatype, tensor.shape) == ("x", datatype, [2, 3])
    assert tensor.data.shape == (2, 3)
    assert tensor.data.ravel().tolist() == values.ravel().tolist()
    if datatype != "BYTES":
        assert tensor.data.dtype.newbyteorder("=") == BY_NAME[datatype].numpy


def test_raw_inputs_pair_with_inputs_by_position() -> None:
    """The i-th raw_input_contents entry belongs to the i-th input."""
    a = np.array([1, 2], dtype=np.int32)
    b = np.array([0.5], dtype=np.float64)
    request = decode_infer(_request(("a", "INT32", [2]), ("b", "FP64", [1]),
                                    raw=[to_raw("INT32", a), to_raw("FP64", b)]))
    assert [t.name for t in request.inputs] == ["a", "b"]
    assert request.inputs[0].data.tolist() == [1, 2]
    assert request.inputs[1].data.tolist() == [0.5]


@settings(deadline=None, max_examples=60)
@given(st.sampled_from(NUMERIC), st.data())
def test_raw_round_trip(datatype: str, data: st.DataObject) -> None:
    """Any numeric array survives to_raw then decode_infer bit for bit."""
    arr = data.draw(hnp.arrays(BY_NAME[datatype].numpy,
                               hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))
    msg = _request(("x", datatype, list(arr.shape)), raw=[to_raw(datatype, arr)])
    back = decode_infer(pb.ModelInferRequest.FromString(msg.SerializeToString())).inputs[0].data
    assert back.shape == arr.shape
    assert back.tobytes() == arr.astype(arr.dtype.newbyteorder("<")).tobytes()


@pytest.mark.parametrize("raw_count", [1, 3])
def test_raw_count_must_match_inputs(raw_count: int) -> None:
    """Fewer or more raw_input_contents than inputs is InvalidInput naming both counts."""
    msg = _request(("a", "FP32", [1]), ("b", "FP32", [1]), raw=[b"\x00" * 4] * raw_count)
    with pytest.raises(InvalidInput, match=f"got {raw_count} raw_input_contents for 2 inputs"):
        decode_infer(msg)


def test_raw_size_must_match_shape() -> None:
    """Raw bytes of the wrong size for the shape are InvalidInput naming the input."""
    with pytest.raises(InvalidInput, match="input 'x': got 8 bytes"):
        decode_infer(_request(("x", "FP32", [3]), raw=[b"\x00" * 8]))


def test_raw_bytes_malformed_is_invalid() -> None:
    """A BYTES raw entry whose length prefix runs past its end is InvalidInput."""
    with pytest.raises(InvalidInput, match="runs past the end"):
        decode_infer(_request(("s", "BYTES", [1]), raw=[struct.pack("<I", 9) + b"abc"]))


# --- typed inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize("datatype", sorted(TYPED_FIELD))
def test_typed_contents_of_each_type(datatype: str) -> None:
    """Each datatype is read from its InferTensorContents field with the right dtype."""
    values = random_like(datatype, [2, 2], seed=5)
    msg = _request(("x", datatype, [2, 2]))
    getattr(msg.inputs[0].contents, TYPED_FIELD[datatype]).extend(values.ravel().tolist())
    tensor = decode_infer(msg).inputs[0]
    assert tensor.data.shape == (2, 2)
    assert tensor.data.ravel().tolist() == values.ravel().tolist()
    expected = object if datatype == "BYTES" else BY_NAME[datatype].numpy
    assert tensor.data.dtype == expected


def test_fp16_must_be_raw() -> None:
    """FP16 has no typed field, so typed FP16 input is InvalidInput pointing at raw contents."""
    with pytest.raises(InvalidInput, match="FP16 must be sent in raw_input_contents"):
        decode_infer(_request(("x", "FP16", [1])))


@pytest.mark.parametrize("count", [0, 1, 3])
def test_typed_count_must_match_shape(count: int) -> None:
    """Typed contents with another element count than the shape name field and counts."""
    msg = _request(("x", "INT64", [2]))
    msg.inputs[0].contents.int64_contents.extend(range(count))
    with pytest.raises(InvalidInput, match=rf"got {count} elements in contents.int64_contents "
                                           rf"but shape \[2\] needs 2"):
        decode_infer(msg)


def test_typed_values_in_the_wrong_field_are_missing() -> None:
    """Values in another type's field do not count: an FP32 input sent as int_contents fails."""
    msg = _request(("x", "FP32", [2]))
    msg.inputs[0].contents.int_contents.extend([1, 2])
    with pytest.raises(InvalidInput, match=r"got 0 elements in contents\.fp32_contents"):
        decode_infer(msg)


@pytest.mark.parametrize(("datatype", "value"),
                         [("INT8", 300), ("INT16", -40000), ("UINT8", 256), ("UINT16", 70000)])
def test_typed_value_out_of_range_is_invalid(datatype: str, value: int) -> None:
    """A value that does not fit the narrower datatype is InvalidInput, not an OverflowError."""
    msg = _request(("x", datatype, [1]))
    getattr(msg.inputs[0].contents, TYPED_FIELD[datatype]).append(value)
    with pytest.raises(InvalidInput, match="input 'x'"):
        decode_infer(msg)


# --- request fields ------------------------------------------------------------------------------


def test_request_fields_and_parameters() -> None:
    """Model name/version, id, parameters of each kind and outputs decode."""
    msg = _request(("x", "FP32", [1]), raw=[b"\x00" * 4], model_version="2", id="req")
    msg.parameters["b"].bool_param = True
    msg.parameters["i"].int64_param = -5
    msg.parameters["s"].string_param = "txt"
    msg.parameters["d"].double_param = 0.25
    msg.parameters["u"].uint64_param = 2**64 - 1
    msg.parameters["none"].SetInParent()
    msg.inputs[0].parameters["k"].string_param = "v"
    msg.outputs.add(name="y").parameters["binary_data"].bool_param = True
    request = decode_infer(msg)
    assert (request.model_name, request.model_version, request.id) == ("m", "2", "req")
    assert request.parameters == {"b": True, "i": -5, "s": "txt", "d": 0.25, "u": 2**64 - 1,
                                  "none": None}
    assert [(o.name, o.binary) for o in request.outputs] == [("y", None)]


def test_parameters_of_empty_map() -> None:
    """An empty parameter map is an empty dict."""
    assert parameters(pb.ModelInferRequest().parameters) == {}


@pytest.mark.parametrize(
    ("inputs", "raw", "message"),
    [
        ([("x", "FLOAT", [1])], [b"\x00" * 4], "unknown datatype 'FLOAT'"),
        ([("x", "FP32", [-1])], [b"\x00" * 4], "non-negative integers"),
        ([("x", "FP32", [-1])], None, "non-negative integers"),
        ([("x", "FP32", [0, 2**62, 2**62])], [b""], "larger than any tensor"),
        ([("x", "FP32", [0, 2**62, 2**62])], None, "larger than any tensor"),
    ],
)
def test_bad_tensor_headers_are_invalid(inputs: list[tuple[str, str, list[int]]],
                                        raw: list[bytes] | None, message: str) -> None:
    """Unknown datatypes and impossible shapes are InvalidInput on both paths."""
    with pytest.raises(InvalidInput, match=message):
        decode_infer(_request(*inputs, raw=raw))


I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
CONTENTS = st.fixed_dictionaries({}, optional={
    "bool_contents": st.lists(st.booleans(), max_size=5),
    "int_contents": st.lists(st.integers(min_value=-(2**31), max_value=2**31 - 1), max_size=5),
    "int64_contents": st.lists(I64, max_size=5),
    "uint_contents": st.lists(st.integers(min_value=0, max_value=2**32 - 1), max_size=5),
    "uint64_contents": st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=5),
    "fp32_contents": st.lists(st.floats(width=32), max_size=5),
    "fp64_contents": st.lists(st.floats(), max_size=5),
    "bytes_contents": st.lists(st.binary(max_size=4), max_size=5),
})


@settings(deadline=None, max_examples=300)
@given(
    st.lists(st.tuples(st.sampled_from([*sorted(BY_NAME), "BF16", ""]),
                       st.lists(st.integers(min_value=-1, max_value=5) | I64, max_size=3),
                       CONTENTS), max_size=3),
    st.none() | st.lists(st.binary(max_size=24), max_size=4),
)
def test_decode_fuzz_raises_only_invalid_input(inputs: list[tuple[str, list[int], dict[str, Any]]],
                                               raw: list[bytes] | None) -> None:
    """Arbitrary headers, typed contents and raw entries decode or raise InvalidInput."""
    msg = pb.ModelInferRequest(model_name="m")
    for datatype, shape, contents in inputs:
        msg.inputs.add(name="x", datatype=datatype, shape=shape,
                       contents=pb.InferTensorContents(**contents))
    if raw is not None:
        msg.raw_input_contents.extend(raw)
    try:
        request = decode_infer(msg)
    except InvalidInput:
        return
    for tensor in request.inputs:
        assert list(tensor.data.shape) == tensor.shape


# --- encoding ------------------------------------------------------------------------------------


def _response(*outputs: tuple[str, str, np.ndarray], **fields: Any) -> InferResponse:
    return InferResponse("m", "4", outputs=[OutputTensor(n, d, list(a.shape), a)
                                            for n, d, a in outputs], **fields)


def test_encode_puts_every_output_in_raw_output_contents() -> None:
    """Each output is listed with name/datatype/shape and its bytes are in raw_output_contents."""
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([True, False])
    msg = encode_infer(_response(("a", "FP32", a), ("b", "BOOL", b), id="r1"))
    assert (msg.model_name, msg.model_version, msg.id) == ("m", "4", "r1")
    assert [(o.name, o.datatype, list(o.shape)) for o in msg.outputs] == [
        ("a", "FP32", [2, 3]), ("b", "BOOL", [2])]
    assert list(msg.raw_output_contents) == [a.tobytes(), b"\x01\x00"]
    assert not any(o.HasField("contents") for o in msg.outputs)


def test_encode_bytes_are_length_prefixed() -> None:
    """BYTES outputs are 4-byte little-endian lengths followed by each element."""
    arr = np.array([b"ab", b"", "\u00e9".encode()], dtype=object)
    msg = encode_infer(_response(("s", "BYTES", arr)))
    assert msg.raw_output_contents[0] == (struct.pack("<I", 2) + b"ab" + struct.pack("<I", 0)
                                          + struct.pack("<I", 2) + "\u00e9".encode())


def test_encode_str_elements_as_utf8() -> None:
    """str elements (what ONNX string outputs give) are written as UTF-8."""
    msg = encode_infer(_response(("s", "BYTES", np.array(["\u4e2d"], dtype=object))))
    assert msg.raw_output_contents[0] == struct.pack("<I", 3) + "\u4e2d".encode()


@settings(deadline=None, max_examples=60)
@given(st.lists(st.sampled_from(NUMERIC), min_size=1, max_size=3), st.data())
def test_encode_round_trip(datatypes: list[str], data: st.DataObject) -> None:
    """Every output reads back from raw_output_contents by position, bit for bit."""
    arrays = [data.draw(hnp.arrays(BY_NAME[d].numpy,
                                   hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)))
              for d in datatypes]
    msg = encode_infer(_response(*((f"o{i}", d, a) for i, (d, a)
                                   in enumerate(zip(datatypes, arrays, strict=True)))))
    msg = pb.ModelInferResponse.FromString(msg.SerializeToString())
    assert len(msg.raw_output_contents) == len(arrays)
    for out, raw, arr in zip(msg.outputs, msg.raw_output_contents, arrays, strict=True):
        back = from_raw(out.name, out.datatype, list(out.shape), raw)
        assert back.tobytes() == arr.astype(arr.dtype.newbyteorder("<")).tobytes()
