"""What the link's frames carry: HTTP requests and replies, decoded infer requests and their
responses, each as a JSON head plus raw payload parts.

An infer request crosses with its inputs as the binary tensor extension writes them (BYTES
length-prefixed), so the model process builds each input with one ``np.frombuffer``; requests
that name shared memory regions do not cross this way (the front sends them raw).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelport.serve.http.routing import Reply, Request
from modelport.serve.tensors import from_raw, to_raw
from modelport.serve.types import (
    InferRequest,
    InferResponse,
    InputTensor,
    OutputTensor,
    RequestedOutput,
)

TRACE_HEADERS = ("traceparent", "tracestate")


def request_parts(req: Request) -> tuple[Any, list[bytes]]:
    """An HTTP request (body already read and decompressed) as head and payload."""
    return [req.method, req.path, req.query, req.headers], [bytes(req.body)]  # bytes already


def request_from(head: Any, payload: memoryview) -> Request:
    """The HTTP request a RAW frame carries."""
    method, path, query, headers = head
    return Request(method, path, headers, _body(payload), query)


def reply_parts(reply: Reply) -> tuple[Any, list[bytes]]:
    """An HTTP reply as head and payload."""
    return ([reply.status, reply.content_type, reply.header_length, reply.compressible],
            [reply.body])


def reply_from(head: Any, payload: memoryview) -> Reply:
    """The HTTP reply a REPLY frame carries."""
    status, content_type, header_length, compressible = head
    return Reply(status, bytes(payload), content_type, header_length, compressible)


def _body(payload: memoryview) -> bytes | bytearray:
    """A frame's payload as a request body: the bytearray it views when that holds the
    payload alone (``FrameBuffer`` reads frames so: a 600 KB tensor is not copied again),
    else a copy."""
    owner = payload.obj
    if isinstance(owner, bytearray) and len(owner) == payload.nbytes:
        return owner
    return bytes(payload)


def infer_parts(request: InferRequest, headers: Mapping[str, str]) -> tuple[Any, list[bytes]]:
    """A decoded infer request (one without shared memory regions) and its trace headers as
    head and payload."""
    blobs = [to_raw(t.datatype, t.data) for t in request.inputs]
    inputs = [[t.name, t.datatype, t.shape, len(b)] for t, b in zip(request.inputs, blobs,
                                                                    strict=True)]
    outputs = [[o.name, o.binary, o.classification] for o in request.outputs]
    carrier = {k: headers[k] for k in TRACE_HEADERS if k in headers}
    return [request.model_name, request.model_version, request.id, request.parameters,
            request.binary_output, inputs, outputs, carrier], blobs


def infer_from(head: Any, payload: memoryview) -> tuple[InferRequest, dict[str, str]]:
    """The infer request and trace headers an INFER frame carries (inputs are views into the
    payload).

    Raises:
        InvalidInput: an input's bytes do not match its shape (a front bug, answered 400).
    """
    model, version, request_id, parameters, binary_output, inputs, outputs, carrier = head
    request = InferRequest(model, version, request_id, parameters, binary_output=binary_output)
    offset = 0
    for name, datatype, shape, size in inputs:
        data = from_raw(name, datatype, shape, payload[offset:offset + size])
        request.inputs.append(InputTensor(name, datatype, shape, data))
        offset += size
    request.outputs = [RequestedOutput(name, binary, classes)
                       for name, binary, classes in outputs]
    return request, carrier


def result_parts(response: InferResponse) -> tuple[Any, list[bytes]]:
    """An infer response as head and payload (outputs written to shared memory carry no
    bytes)."""
    blobs, outputs = [], []
    for out in response.outputs:
        raw = b"" if out.in_shm else to_raw(out.datatype, out.data)
        blobs.append(raw)
        outputs.append([out.name, out.datatype, out.shape, out.in_shm, len(raw)])
    return [response.model_name, response.model_version, response.id, response.final,
            outputs], blobs


def result_from(head: Any, payload: memoryview) -> InferResponse:
    """The infer response a RESULT frame carries."""
    model, version, request_id, final, outputs = head
    response = InferResponse(model, version, request_id, final=final)
    offset = 0
    for name, datatype, shape, in_shm, size in outputs:
        data = from_raw(name, datatype, [0] if in_shm else shape,
                        payload[offset:offset + size])
        response.outputs.append(OutputTensor(name, datatype, shape, data, in_shm))
        offset += size
    return response
