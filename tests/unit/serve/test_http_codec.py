"""HTTP infer bodies: JSON, the binary tensor data extension, raw single-input bodies, encoding."""

from __future__ import annotations

import contextlib
import json
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
from modelport.repository.config import ModelConfig, TensorSpec
from modelport.serve.http.codec import decode_infer, decode_raw_single, encode_infer
from modelport.serve.tensors import from_raw, to_raw
from modelport.serve.types import InferRequest, InferResponse, OutputTensor, RequestedOutput

JSON_TYPES = sorted(n for n in BY_NAME if n != "FP16")
NUMERIC = sorted(n for n in BY_NAME if n != "BYTES")


def _tensor(name: str, datatype: str, shape: list[int], **fields: Any) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, **fields}


def _json_body(inputs: list[dict[str, Any]], **head: Any) -> bytes:
    return json.dumps({**head, "inputs": inputs}).encode()


def _binary_body(inputs: list[dict[str, Any]], *blobs: bytes, **head: Any) -> tuple[bytes, int]:
    header = _json_body(inputs, **head)
    return header + b"".join(blobs), len(header)


def _decode(body: bytes, header_length: int | None = None) -> Any:
    return decode_infer(body, header_length, "m", "3")


def _json_data(arr: np.ndarray, datatype: str) -> list[Any]:
    if datatype == "BYTES":
        return [v.decode("utf-8") for v in arr.ravel()]
    return arr.ravel().tolist()


def _split_response(body: bytes, header_length: int | None) -> tuple[dict[str, Any], bytes]:
    if header_length is None:
        return json.loads(body), b""
    return json.loads(body[:header_length]), body[header_length:]


# --- JSON requests -------------------------------------------------------------------------------


def test_flat_json_data_takes_the_shape() -> None:
    """Flat row-major data is reshaped to the declared shape with the datatype's dtype."""
    request = _decode(_json_body([_tensor("x", "FP32", [2, 2], data=[1, 2, 3, 4])]))
    assert (request.model_name, request.model_version) == ("m", "3")
    (tensor,) = request.inputs
    assert (tensor.name, tensor.datatype, tensor.shape) == ("x", "FP32", [2, 2])
    assert tensor.data.dtype == np.float32
    assert tensor.data.tolist() == [[1, 2], [3, 4]]


def test_nested_json_data_equals_flat() -> None:
    """Nested data decodes to the same tensor as the flat form."""
    nested = _decode(_json_body([_tensor("x", "INT32", [2, 3], data=[[1, 2, 3], [4, 5, 6]])]))
    flat = _decode(_json_body([_tensor("x", "INT32", [2, 3], data=[1, 2, 3, 4, 5, 6])]))
    assert np.array_equal(nested.inputs[0].data, flat.inputs[0].data)


@pytest.mark.parametrize("datatype", JSON_TYPES)
def test_every_json_datatype_decodes(datatype: str) -> None:
    """Each JSON-carriable datatype decodes to the values sent."""
    values = random_like(datatype, [2, 3], seed=7)
    request = _decode(_json_body([_tensor("x", datatype, [2, 3],
                                          data=_json_data(values, datatype))]))
    data = request.inputs[0].data
    assert data.shape == (2, 3)
    if datatype == "BYTES":  # JSON strings stay text (the core wants text)
        assert data.ravel().tolist() == [v.decode() for v in values.ravel()]
    else:
        assert data.ravel().tolist() == values.ravel().tolist()
        assert data.dtype == BY_NAME[datatype].numpy


def test_id_parameters_and_outputs_are_read() -> None:
    """id, request parameters and requested outputs with their binary choice are decoded."""
    body = json.dumps({
        "id": "req-1",
        "parameters": {"timeout": 5, "binary_data_output": True},
        "inputs": [_tensor("x", "FP32", [1], data=[1])],
        "outputs": [{"name": "a"}, {"name": "b", "parameters": {"binary_data": False}}],
    }).encode()
    request = _decode(body)
    assert request.id == "req-1"
    assert request.parameters == {"timeout": 5, "binary_data_output": True}
    assert [(o.name, o.binary) for o in request.outputs] == [("a", None), ("b", False)]
    assert [request.wants_binary(n) for n in ("a", "b", "c")] == [True, False, True]


def test_output_binary_unset_without_any_choice() -> None:
    """Outputs with no binary_data and no request-level choice leave binary as None."""
    body = json.dumps({"inputs": [_tensor("x", "FP32", [1], data=[1])],
                       "outputs": [{"name": "a"}, {"name": "b",
                                                   "parameters": {"binary_data": True}}]}).encode()
    assert [(o.name, o.binary) for o in _decode(body).outputs] == [("a", None), ("b", True)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "failed to parse the request JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"inputs": []}', "non-empty 'inputs' list"),
        (b'{"inputs": {}}', "non-empty 'inputs' list"),
        (b'{"id": 5, "inputs": []}', "'id' must be a string"),
        (b'{"parameters": [1], "inputs": []}', "'parameters' must be a JSON object"),
        (b'{"inputs": [1]}', "each entry of 'inputs' must be a JSON object"),
        (b'{"inputs": [{"datatype": "FP32", "shape": [1], "data": [1]}]}', "has no 'name'"),
        (b'{"inputs": [{"name": "x", "datatype": "F32", "shape": [1], "data": [1]}]}',
         "unknown datatype 'F32'"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "data": [1]}]}', "no 'shape' list"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1], "data": [1]}]}',
         "non-negative integers"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2]}]}',
         "Input must set only one of the following fields"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1]}]}',
         "got 1 elements of data but shape [2] needs 2"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": ["a"]}]}',
         "data is not valid FP32"),
        (b'{"inputs": [{"name": "x", "datatype": "INT8", "shape": [1], "data": [300]}]}',
         "data is not valid INT8"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [[1], [2, 3]]}]}',
         "data is not valid FP32"),
        (b'{"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1], "data": [1]}]}',
         "BYTES elements must be strings"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}], '
         b'"outputs": [{"parameters": {}}]}', "each entry of 'outputs'"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}], '
         b'"outputs": {"name": "y"}}', "'outputs' must be a list"),
    ],
)
def test_malformed_json_requests_are_invalid_input(body: bytes, message: str) -> None:
    """Each malformed request is InvalidInput with a message that says what is wrong."""
    with pytest.raises(InvalidInput) as exc:
        _decode(body)
    assert message in str(exc.value)


def test_json_error_names_the_input() -> None:
    """Data errors name the input they are about."""
    with pytest.raises(InvalidInput, match="input 'pixels'"):
        _decode(_json_body([_tensor("pixels", "FP32", [3], data=[1, 2])]))


def test_fractional_value_for_integer_type_is_invalid() -> None:
    """1.5 sent as INT32 is rejected, not silently truncated to 1 (Triton rejects it), and the
    message names the input once."""
    with pytest.raises(InvalidInput) as exc:
        _decode(_json_body([_tensor("x", "INT32", [1], data=[1.5])]))
    assert str(exc.value) == "input 'x': data has fractional values but the datatype is INT32"


def test_out_of_range_float_is_invalid() -> None:
    """A JSON number beyond FP32's range is InvalidInput, not inf plus a numpy warning."""
    with pytest.raises(InvalidInput):
        _decode(_json_body([_tensor("x", "FP32", [1], data=[1e300])]))


# --- binary requests -----------------------------------------------------------------------------


def test_binary_input_is_read_from_after_the_header() -> None:
    """An input with binary_data_size takes its bytes from after the JSON header."""
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    raw = to_raw("FP32", values)
    body, length = _binary_body(
        [_tensor("x", "FP32", [2, 3], parameters={"binary_data_size": len(raw)})], raw)
    (tensor,) = _decode(body, length).inputs
    assert np.array_equal(tensor.data, values)


def test_binary_inputs_are_consumed_in_order() -> None:
    """Several binary inputs take consecutive slices in the order they are listed."""
    a = np.array([1, 2, 3], dtype=np.int64)
    b = np.array([b"hi", b"", "\u00e9".encode()], dtype=object)
    ra, rb = to_raw("INT64", a), to_raw("BYTES", b)
    body, length = _binary_body(
        [_tensor("a", "INT64", [3], parameters={"binary_data_size": len(ra)}),
         _tensor("b", "BYTES", [3], parameters={"binary_data_size": len(rb)})], ra, rb)
    decoded = _decode(body, length).inputs
    assert decoded[0].data.tolist() == [1, 2, 3]
    assert decoded[1].data.tolist() == b.tolist()


def test_mixed_json_and_binary_inputs() -> None:
    """JSON-data inputs take no bytes, so a later binary input still starts after the header."""
    raw = to_raw("FP64", np.array([0.5, 1.5]))
    body, length = _binary_body(
        [_tensor("j", "INT32", [2], data=[7, 8]),
         _tensor("b", "FP64", [2], parameters={"binary_data_size": len(raw)}),
         _tensor("k", "BOOL", [1], data=[True])], raw)
    j, b, k = _decode(body, length).inputs
    assert j.data.tolist() == [7, 8]
    assert b.data.tolist() == [0.5, 1.5]
    assert k.data.tolist() == [True]


def test_zero_size_binary_input() -> None:
    """binary_data_size 0 with an empty shape consumes nothing."""
    body, length = _binary_body(
        [_tensor("x", "FP32", [0], parameters={"binary_data_size": 0})])
    assert _decode(body, length).inputs[0].data.shape == (0,)


@pytest.mark.parametrize("size", [-1, 1.5, "8", True, None])
def test_bad_binary_data_size_is_invalid(size: Any) -> None:
    """binary_data_size must be a non-negative integer (null means absent, so data is needed)."""
    body, length = _binary_body([_tensor("x", "FP32", [2], parameters={"binary_data_size": size})],
                                b"\x00" * 8)
    with pytest.raises(InvalidInput, match=r"binary_data_size|neither 'data'"):
        _decode(body, length)


def test_binary_size_past_end_is_invalid() -> None:
    """A binary_data_size larger than what follows the header is rejected with both sizes."""
    body, length = _binary_body([_tensor("x", "FP32", [4], parameters={"binary_data_size": 16})],
                                b"\x00" * 12)
    with pytest.raises(InvalidInput, match=r"binary_data_size 16 runs past the end .*12 bytes"):
        _decode(body, length)


def test_binary_size_not_matching_shape_is_invalid() -> None:
    """Binary bytes that do not fit the shape are rejected."""
    body, length = _binary_body([_tensor("x", "FP32", [3], parameters={"binary_data_size": 8})],
                                b"\x00" * 8)
    with pytest.raises(InvalidInput, match="got 8 bytes of data but shape"):
        _decode(body, length)


def test_unclaimed_trailing_bytes_are_invalid() -> None:
    """Bytes after the last binary input are an error, not silently ignored."""
    body, length = _binary_body([_tensor("x", "FP32", [1], parameters={"binary_data_size": 4})],
                                b"\x00" * 4, b"junk")
    with pytest.raises(InvalidInput, match="4 bytes of binary data follow"):
        _decode(body, length)


def test_binary_without_header_length_is_invalid() -> None:
    """Binary bytes sent without Inference-Header-Content-Length fail as JSON."""
    body, _ = _binary_body([_tensor("x", "FP32", [1], parameters={"binary_data_size": 4})],
                           b"\x00" * 4)
    with pytest.raises(InvalidInput, match="failed to parse"):
        _decode(body, None)


# --- header length -------------------------------------------------------------------------------


@pytest.mark.parametrize("delta", [1, 1000])
def test_header_length_beyond_body_is_invalid(delta: int) -> None:
    """A header length larger than the body is rejected naming both."""
    body = _json_body([_tensor("x", "FP32", [1], data=[1])])
    with pytest.raises(InvalidInput, match="does not fit a body of"):
        _decode(body, len(body) + delta)


@pytest.mark.parametrize("length", [0, -1])
def test_header_length_zero_or_negative_is_invalid_here(length: int) -> None:
    """decode_infer refuses 0 (that is decode_raw_single's job) and negative lengths."""
    with pytest.raises(InvalidInput, match="Inference-Header-Content-Length"):
        _decode(_json_body([_tensor("x", "FP32", [1], data=[1])]), length)


def test_header_length_cutting_the_json_is_invalid() -> None:
    """A header length shorter than the JSON leaves unparseable JSON."""
    body = _json_body([_tensor("x", "FP32", [1], data=[1])])
    with pytest.raises(InvalidInput, match="failed to parse"):
        _decode(body, len(body) - 2)


def test_header_length_equal_to_body_is_plain_json() -> None:
    """A header length covering the whole body decodes as JSON with no binary part."""
    body = _json_body([_tensor("x", "FP32", [1], data=[1])])
    assert _decode(body, len(body)).inputs[0].data.tolist() == [1.0]


# --- raw single-input bodies ---------------------------------------------------------------------


def _model(*inputs: TensorSpec, max_batch_size: int = 0) -> ModelConfig:
    return ModelConfig(name="m", max_batch_size=max_batch_size, inputs=inputs,
                       outputs=(TensorSpec("y", "FP32", (1,)),))


def test_raw_single_batched_is_batch_one_and_sizes_the_variable_dim() -> None:
    """As Triton deduces it: batch 1, the one variable dim from the body: 8 x FP32 over dims
    [-1, 2] -> shape [1, 4, 2]."""
    values = np.arange(8, dtype=np.float32)
    request = decode_raw_single(values.tobytes(),
                                _model(TensorSpec("x", "FP32", (-1, 2)), max_batch_size=8),
                                "m", "")
    (tensor,) = request.inputs
    assert tensor.shape == [1, 4, 2] and tensor.name == "x"
    assert np.array_equal(tensor.data, values.reshape(1, 4, 2))


def test_raw_single_unbatched_uses_dims() -> None:
    """Without batching the shape is the config's dims."""
    request = decode_raw_single(struct.pack("<3i", 1, 2, 3),
                                _model(TensorSpec("x", "INT32", (3,))), "m", "")
    assert request.inputs[0].shape == [3]
    assert request.inputs[0].data.tolist() == [1, 2, 3]


def test_raw_single_bytes_is_one_element() -> None:
    """For BYTES the whole body is the one element of an input of shape [1] (Triton's rule)."""
    batched = decode_raw_single(b"hello world", _model(TensorSpec("s", "BYTES", (1,)),
                                                       max_batch_size=4), "m", "")
    assert batched.inputs[0].shape == [1, 1]
    assert batched.inputs[0].data.tolist() == [[b"hello world"]]
    flat = decode_raw_single(b"", _model(TensorSpec("s", "BYTES", (1,))), "m", "")
    assert flat.inputs[0].data.tolist() == [b""]


@pytest.mark.parametrize(
    ("body", "config", "message"),
    [
        (b"\x00" * 4, _model(TensorSpec("a", "FP32", (1,)), TensorSpec("b", "FP32", (1,))),
         "Raw request must only have 1 input"),
        (b"\x00" * 4, _model(TensorSpec("x", "FP32", (-1, -1))), "more than one variable"),
        (b"\x00" * 6, _model(TensorSpec("x", "FP32", (-1, 4)), max_batch_size=8),
         "not a whole number"),
        (b"\x00" * 6, _model(TensorSpec("x", "FP32", (4,))), "got 6 bytes"),
        (b"ab", _model(TensorSpec("s", "BYTES", (-1,))), "must have input shape \\[1\\]"),
    ],
)
def test_raw_single_errors(body: bytes, config: ModelConfig, message: str) -> None:
    """Raw bodies that cannot be one input tensor are InvalidInput explaining why."""
    with pytest.raises(InvalidInput, match=message):
        decode_raw_single(body, config, "m", "")


@settings(deadline=None)
@given(st.binary(max_size=64), st.sampled_from(["FP32", "INT8", "BYTES", "BOOL", "FP64"]),
       st.booleans())
def test_raw_single_fuzz(body: bytes, datatype: str, batching: bool) -> None:
    """Any raw body decodes to one tensor or raises InvalidInput."""
    dims = (1,) if datatype == "BYTES" else (-1, 2)
    config = _model(TensorSpec("x", datatype, dims), max_batch_size=4 if batching else 0)
    try:
        request = decode_raw_single(body, config, "m", "")
    except InvalidInput:
        return
    assert list(request.inputs[0].data.shape) == request.inputs[0].shape


# --- encoding ------------------------------------------------------------------------------------


def _response(*outputs: OutputTensor, **fields: Any) -> InferResponse:
    return InferResponse("m", "3", outputs=list(outputs), **fields)


def _out(name: str, datatype: str, arr: np.ndarray) -> OutputTensor:
    return OutputTensor(name, datatype, list(arr.shape), arr)


def _encode(response: InferResponse, binary_default: bool,
            **binary: bool) -> tuple[bytes, int | None]:
    """Encode for a request whose default is ``binary_default`` and whose outputs named in
    ``binary`` chose for themselves."""
    request = InferRequest("m", outputs=[RequestedOutput(n, b) for n, b in binary.items()],
                           binary_output=binary_default)
    return encode_infer(response, request)


def test_encode_json_outputs() -> None:
    """Without binary, outputs carry flat data, shape and datatype; no header length."""
    arr = np.arange(6, dtype=np.int64).reshape(2, 3)
    body, length = _encode(_response(_out("y", "INT64", arr)), False)
    assert length is None
    head = json.loads(body)
    assert head == {"model_name": "m", "model_version": "3",
                    "outputs": [{"name": "y", "datatype": "INT64", "shape": [2, 3],
                                 "data": [0, 1, 2, 3, 4, 5]}]}


def test_encode_echoes_id_only_when_set() -> None:
    """id appears when the request had one; responses carry no parameters."""
    arr = np.zeros(1, dtype=np.float32)
    head = json.loads(_encode(_response(_out("y", "FP32", arr), id="r"), False)[0])
    assert head["id"] == "r"
    bare = json.loads(_encode(_response(_out("y", "FP32", arr)), False)[0])
    assert "id" not in bare and "parameters" not in bare


def test_encode_bytes_as_json_strings() -> None:
    """BYTES outputs become JSON strings."""
    arr = np.array([b"abc", "d\u00e9".encode()], dtype=object)
    head = json.loads(_encode(_response(_out("s", "BYTES", arr)), False)[0])
    assert head["outputs"][0]["data"] == ["abc", "d\u00e9"]


def test_encode_non_contiguous_output_is_row_major() -> None:
    """A transposed array is written in its logical order, for JSON and binary alike."""
    arr = np.arange(6, dtype=np.int32).reshape(2, 3).T
    head = json.loads(_encode(_response(_out("y", "INT32", arr)), False)[0])
    assert head["outputs"][0]["data"] == arr.ravel().tolist()
    body, length = _encode(_response(_out("y", "INT32", arr)), True)
    assert body[length:] == np.ascontiguousarray(arr).tobytes()


def test_binary_data_output_makes_every_output_binary() -> None:
    """With the request-level default on, all outputs follow the header in order."""
    a = np.array([1.0, 2.0], dtype=np.float32)
    b = np.array([b"x", b"yz"], dtype=object)
    body, length = _encode(_response(_out("a", "FP32", a), _out("b", "BYTES", b)), True)
    head, blob = _split_response(body, length)
    sizes = [o["parameters"]["binary_data_size"] for o in head["outputs"]]
    assert sizes == [8, 4 + 1 + 4 + 2]
    assert all("data" not in o for o in head["outputs"])
    assert blob == to_raw("FP32", a) + to_raw("BYTES", b)


def test_per_output_binary_overrides_default() -> None:
    """Per-output binary_data wins over the request-level default, both ways."""
    a = np.array([1, 2], dtype=np.int32)
    b = np.array([3, 4], dtype=np.int32)
    body, length = _encode(_response(_out("a", "INT32", a), _out("b", "INT32", b)), False,
                           a=True)
    head, blob = _split_response(body, length)
    assert head["outputs"][0]["parameters"] == {"binary_data_size": 8}
    assert head["outputs"][1]["data"] == [3, 4]
    assert blob == a.tobytes()
    body, length = _encode(_response(_out("a", "INT32", a), _out("b", "INT32", b)), True,
                           a=False)
    head, blob = _split_response(body, length)
    assert head["outputs"][0]["data"] == [1, 2]
    assert blob == b.tobytes()


@st.composite
def _outputs(draw: st.DrawFn) -> list[tuple[str, np.ndarray, bool]]:
    count = draw(st.integers(min_value=1, max_value=3))
    out = []
    for _ in range(count):
        datatype = draw(st.sampled_from(NUMERIC))
        arr = draw(hnp.arrays(BY_NAME[datatype].numpy,
                              hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)))
        out.append((datatype, arr, draw(st.booleans())))
    return out


@settings(deadline=None, max_examples=60)
@given(_outputs())
def test_binary_outputs_round_trip(outputs: list[tuple[str, np.ndarray, bool]]) -> None:
    """Binary outputs decode back (via binary_data_size) to the exact bytes that went in."""
    response = _response(*(_out(f"o{i}", dt, arr) for i, (dt, arr, _) in enumerate(outputs)))
    body, length = _encode(response, True)
    head, blob = _split_response(body, length)
    offset = 0
    for (datatype, arr, _), entry in zip(outputs, head["outputs"], strict=True):
        size = entry["parameters"]["binary_data_size"]
        back = from_raw(entry["name"], datatype, entry["shape"], blob[offset:offset + size])
        assert back.tobytes() == arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        offset += size
    assert offset == len(blob)


@settings(deadline=None, max_examples=60)
@given(st.sampled_from([t for t in JSON_TYPES if t not in ("FP32", "FP64", "BYTES")]),
       st.data())
def test_json_outputs_decode_as_request_data(datatype: str, data: st.DataObject) -> None:
    """An integer or bool output's JSON data, sent back as a request, gives the same tensor."""
    arr = data.draw(hnp.arrays(BY_NAME[datatype].numpy,
                               hnp.array_shapes(min_dims=1, max_dims=2, max_side=3)))
    entry = json.loads(_encode(_response(_out("y", datatype, arr)), False)[0])["outputs"][0]
    request = _decode(_json_body([_tensor("y", datatype, entry["shape"], data=entry["data"])]))
    assert np.array_equal(request.inputs[0].data, arr)


# --- fuzzing the decoder -------------------------------------------------------------------------


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["name", "shape", "datatype", "data", "parameters",
                                       "binary_data_size", "inputs", "outputs", "id",
                                       "binary_data", "binary_data_output"])
                      | st.text(max_size=3), inner, max_size=5),
    max_leaves=25,
)


def _mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually ``valid``, sometimes any JSON value, so fuzzing reaches past the first check."""
    return st.sampled_from([True] * 9 + [False]).flatmap(lambda ok: valid if ok else JSON_VALUES)


@st.composite
def _request_input(draw: st.DrawFn) -> tuple[dict[str, Any], bytes]:
    """One input, mostly well formed (JSON data or binary with its bytes), sometimes hostile."""
    datatype = draw(st.sampled_from(sorted(BY_NAME)))
    shape = draw(st.lists(st.integers(min_value=0, max_value=3), max_size=3))
    item: dict[str, Any] = {"name": draw(_mostly(st.sampled_from(["x", "y"]))),
                            "datatype": draw(_mostly(st.just(datatype))),
                            "shape": draw(_mostly(st.just(shape)))}
    blob = b""
    if draw(st.booleans()):
        values = random_like(datatype, shape, seed=draw(st.integers(0, 3)))
        item["data"] = draw(_mostly(st.just(_json_data(values, datatype))))
    else:
        blob = to_raw(datatype, random_like(datatype, shape))
        cut = draw(st.sampled_from([0] * 6 + [-1, 1]))
        blob = blob[:len(blob) + cut] if cut < 0 else blob + b"\x00" * cut
        item["parameters"] = draw(_mostly(st.just({"binary_data_size": len(blob)})))
    return item, blob


@st.composite
def _requests(draw: st.DrawFn) -> tuple[bytes, int | None]:
    """A request body and header length: near-valid requests with hostile fields mixed in."""
    inputs = draw(st.lists(_request_input(), min_size=1, max_size=3))
    head: dict[str, Any] = {"inputs": draw(_mostly(st.just([item for item, _ in inputs])))}
    if draw(st.booleans()):
        head["id"] = draw(_mostly(st.text(max_size=3)))
    if draw(st.booleans()):
        head["parameters"] = draw(_mostly(st.fixed_dictionaries({}, optional={
            "binary_data_output": JSON_VALUES, "timeout": JSON_VALUES})))
    if draw(st.booleans()):
        head["outputs"] = draw(_mostly(st.lists(st.fixed_dictionaries(
            {"name": _mostly(st.text(max_size=2))},
            optional={"parameters": _mostly(st.fixed_dictionaries({}, optional={
                "binary_data": JSON_VALUES}))}), max_size=2)))
    header = json.dumps(head).encode()
    blobs = b"".join(blob for _, blob in inputs)
    if not blobs and draw(st.booleans()):
        return header, None
    return header + blobs, len(header)


@settings(deadline=None)
@given(st.binary(max_size=200), st.none() | st.integers(min_value=-5, max_value=250))
def test_arbitrary_bytes_never_raise_anything_but_invalid_input(body: bytes,
                                                               length: int | None) -> None:
    """Any bytes with any header length decode or raise InvalidInput."""
    with contextlib.suppress(InvalidInput):
        _decode(body, length)


@settings(deadline=None)
@given(JSON_VALUES)
def test_arbitrary_json_never_raises_anything_but_invalid_input(value: Any) -> None:
    """Any JSON document as the body decodes or raises InvalidInput."""
    with contextlib.suppress(InvalidInput):
        _decode(json.dumps(value).encode())


@settings(deadline=None, max_examples=300)
@given(_requests())
def test_near_valid_requests_never_raise_anything_but_invalid_input(
        request_body: tuple[bytes, int | None]) -> None:
    """Near-valid requests with hostile fields or off-by-one binary raise only InvalidInput."""
    try:
        request = _decode(*request_body)
    except InvalidInput:
        return
    for tensor in request.inputs:
        assert list(tensor.data.shape) == tensor.shape


# --- repeated heads (the decoder remembers what a JSON head said) ---------------------------


def test_a_repeated_head_decodes_each_body_own_tensors() -> None:
    """Bodies with the same head and length decode to their own data, BYTES included
    (elements of other lengths, same total), with their own model and version."""
    head = [_tensor("a", "FP32", [1, 2], parameters={"binary_data_size": 8}),
            _tensor("s", "BYTES", [2], parameters={"binary_data_size": 14})]
    for a, words in (((1.5, 2.5), (b"abc", b"def")), ((3.0, -4.0), (b"a", b"bcdef"))):
        blob = b"".join(struct.pack("<I", len(w)) + w for w in words)
        body, length = _binary_body(head, np.array(a, np.float32).tobytes(), blob,
                                    parameters={"k": 1})
        got = decode_infer(body, length, "m", str(len(words[0])))
        np.testing.assert_array_equal(got.inputs[0].data, np.array([a], np.float32))
        assert list(got.inputs[1].data) == list(words)
        assert got.model_version == str(len(words[0])) and got.parameters == {"k": 1}


def test_a_repeated_head_is_refused_as_the_first_was() -> None:
    """A remembered head still meets the model's tensor count, and a body whose BYTES
    lengths do not add up is refused with the full decoder's words."""
    head = [_tensor("x", "FP32", [1], parameters={"binary_data_size": 4}),
            _tensor("z", "FP32", [1], parameters={"binary_data_size": 4})]
    body, length = _binary_body(head, b"\0" * 4, b"\0" * 4)
    decode_infer(body, length, "m", "")  # remembered
    with pytest.raises(InvalidInput, match="unexpected inference input 'z'"):
        decode_infer(body, length, "m", "", _model(TensorSpec("x", "FP32", (1,))))
    words = [_tensor("s", "BYTES", [1], parameters={"binary_data_size": 7})]
    good, length = _binary_body(words, struct.pack("<I", 3) + b"abc")
    bad = good[:length] + struct.pack("<I", 9) + b"abc"
    with pytest.raises(InvalidInput) as fresh:
        decode_infer(bad, length, "m", "")
    decode_infer(good, length, "m", "")  # remembered
    with pytest.raises(InvalidInput) as remembered:
        decode_infer(bad, length, "m", "")
    assert str(remembered.value) == str(fresh.value)


def test_json_data_is_decoded_every_time() -> None:
    """Inputs with their data in the JSON are never shared between requests."""
    body, length = _binary_body([_tensor("x", "INT32", [2], data=[1, 2])], b"")
    first, second = (decode_infer(body + b"", length, "m", "") for _ in range(2))
    assert first.inputs[0].data is not second.inputs[0].data
