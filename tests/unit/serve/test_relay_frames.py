"""The relay link's framing and messages: frames survive any chunking, what they carry comes
back equal, and bytes that are not frames are refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.models import random_like

from modelport.serve.http.routing import Reply, Request
from modelport.serve.relay import messages
from modelport.serve.relay.frames import JOIN_BELOW, LARGE, FrameBuffer, Kind, pack
from modelport.serve.relay.front import infer_target
from modelport.serve.types import (
    InferRequest,
    InferResponse,
    InputTensor,
    OutputTensor,
    RequestedOutput,
)


def _frames() -> list[bytes]:
    return [b"".join(pack(Kind.RAW, 1, ["GET", "/v2", "", {}], [b""])),
            b"".join(pack(Kind.INFER, 2**32 - 1, {"a": [1, 2]}, [b"\x00" * 300, b"xyz"])),
            b"".join(pack(Kind.STOP, 0, [2.5]))]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=40))
def test_frames_survive_any_chunking(cuts: list[int]) -> None:
    """However the stream splits the bytes, the same frames come out in order."""
    stream = b"".join(_frames())
    buffer, out, at = FrameBuffer(), [], 0
    for size in cuts:
        out += list(buffer.feed(stream[at:at + size]))
        at += size
    out += list(buffer.feed(stream[at:]))
    assert [(f.kind, f.id) for f in out] == [(Kind.RAW, 1), (Kind.INFER, 2**32 - 1),
                                            (Kind.STOP, 0)]
    assert out[1].head == {"a": [1, 2]} and bytes(out[1].payload) == b"\x00" * 300 + b"xyz"
    assert out[2].head == [2.5]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=300_000), min_size=1, max_size=8),
       st.lists(st.integers(min_value=1, max_value=150_000), min_size=1, max_size=30))
def test_small_and_large_frames_survive_any_chunking(sizes: list[int], cuts: list[int]) -> None:
    """Frames around and far above the large-frame size (read into buffers of their own)
    mixed with small ones (read through the reused scratch buffer) come out intact."""
    payloads = [bytes([i % 251]) * size for i, size in enumerate(sizes)]
    stream = b"".join(b"".join(pack(Kind.RAW, i, [i], [p])) for i, p in enumerate(payloads))
    buffer, out, at = FrameBuffer(), [], 0
    for size in cuts:
        out += buffer.feed(stream[at:at + size])
        at += size
    out += buffer.feed(stream[at:])
    assert [(f.id, f.head) for f in out] == [(i, [i]) for i in range(len(sizes))]
    assert [bytes(f.payload) for f in out] == payloads


def test_a_large_frame_is_read_into_its_own_buffer() -> None:
    """A frame of LARGE bytes or more is read, after its prefix, straight into the buffer
    its payload then views: the reader hands that buffer out and copies nothing."""
    body = np.arange(LARGE, dtype=np.uint8).tobytes()
    stream = b"".join(pack(Kind.RAW, 7, ["POST"], [body]))
    buffer = FrameBuffer()
    first = buffer.buffer()
    first[:100] = stream[:100]
    assert buffer.filled(100) == []
    target = buffer.buffer()
    assert len(target) == len(stream) - 100
    target[:] = stream[100:]
    (frame,) = buffer.filled(len(target))
    assert frame.payload.obj is target.obj and bytes(frame.payload) == body
    assert frame.head == ["POST"] and buffer.buffer().obj is first.obj  # back to scratch


def test_large_payloads_are_not_joined_to_the_head() -> None:
    """pack: a small payload goes out in one part with the head; a large one as its own part
    (the link writes the parts with writelines), so the sender does not copy it."""
    small, large = b"x" * 100, b"y" * JOIN_BELOW
    assert len(pack(Kind.REPLY, 1, [200], [small])) == 1
    parts = pack(Kind.REPLY, 1, [200], [large])
    assert len(parts) == 2 and parts[1] is large


@pytest.mark.parametrize("junk", [b"\x00\x00\x00\x09\x63" + b"\x00" * 8,  # unknown kind
                                  b"\x00\x00\x00\x0a\x02\x00\x00\x00\x01\x00\x00\x00\x09x"])
def test_bytes_that_are_not_frames_are_refused(junk: bytes) -> None:
    """An unknown kind or a head longer than its frame raises ValueError (the link drops)."""
    with pytest.raises(ValueError):
        list(FrameBuffer().feed(junk))


@pytest.mark.parametrize("datatype", ["FP32", "FP16", "FP64", "INT64", "UINT8", "BOOL",
                                      "BYTES"])
def test_an_infer_request_crosses_intact(datatype: str) -> None:
    """Inputs, outputs asked for, parameters and trace headers come back equal."""
    shape = [2, 3]
    data = random_like(datatype, shape, seed=1)
    request = InferRequest("m", "2", "id-1", {"timeout": 5, "x": "y"}, binary_output=True,
                           inputs=[InputTensor("x", datatype, shape, data)])
    request.outputs = [RequestedOutput("y", False, 3)]
    head, payload = messages.infer_parts(request, {"traceparent": "00-ab", "other": "no"})
    frame = FrameBuffer().feed(b"".join(pack(Kind.INFER, 9, head, payload)))[0]
    got, carrier = messages.infer_from(frame.head, frame.payload)
    assert carrier == {"traceparent": "00-ab"}
    assert (got.model_name, got.model_version, got.id, got.parameters, got.binary_output) == (
        "m", "2", "id-1", {"timeout": 5, "x": "y"}, True)
    assert got.outputs == request.outputs
    assert got.inputs[0].shape == shape and got.inputs[0].datatype == datatype
    np.testing.assert_array_equal(got.inputs[0].data, data)


def test_a_response_and_replies_cross_intact() -> None:
    """Outputs (numeric and BYTES), an HTTP request and an HTTP reply come back equal."""
    response = InferResponse("m", "1", "r", [
        OutputTensor("a", "FP32", [2, 2], np.arange(4, dtype=np.float32).reshape(2, 2)),
        OutputTensor("b", "BYTES", [2], np.array([b"x", "\u00e9"], dtype=object))])
    head, payload = messages.result_parts(response)
    got = messages.result_from(*_roundtrip(Kind.RESULT, head, payload))
    np.testing.assert_array_equal(got.outputs[0].data, response.outputs[0].data)
    assert list(got.outputs[1].data) == [b"x", "\u00e9".encode()]
    request = Request("POST", "/v2/x", {"a": "b"}, b"\x00body", "q=1")
    assert messages.request_from(*_roundtrip(Kind.RAW, *messages.request_parts(request))) == (
        request)
    reply = Reply(400, b'{"error":"e"}', "application/json", None, False)
    assert messages.reply_from(*_roundtrip(Kind.REPLY, *messages.reply_parts(reply))) == reply


def _roundtrip(kind: Kind, head: object, payload: list[bytes]) -> tuple:
    frame = FrameBuffer().feed(b"".join(pack(kind, 1, head, payload)))[0]
    return frame.head, frame.payload


@pytest.mark.parametrize(("method", "path", "target"), [
    ("POST", "/v2/models/m/infer", ("m", "")),
    ("POST", "/v2/models/m/versions/3/infer", ("m", "3")),
    ("GET", "/v2/models/m/infer", None),
    ("POST", "/v2/models/m/ready", None),
    ("POST", "/v2/repository/models/m/infer", None),
    ("POST", "/v2/models/m/versions/infer", None),
])
def test_only_infer_routes_are_decoded_in_the_front(method: str, path: str, target) -> None:
    """The front decodes POST .../infer; every other request crosses raw."""
    assert infer_target(Request(method, path, {}, b"")) == target
