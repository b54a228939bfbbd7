"""Open Inference Protocol gRPC messages ⇄ the core's requests and responses.

Inputs arrive in ``raw_input_contents`` (what tritonclient sends) or typed ``contents``;
every output goes back in ``raw_output_contents``, the only place tritonclient reads numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import attrgetter
from typing import Any

import numpy as np

from modelport.datatypes import by_name
from modelport.errors import InvalidInput
from modelport.repository.config import ModelConfig
from modelport.serve.classification import parse_count
from modelport.serve.grpc.proto import grpc_service_pb2 as pb
from modelport.serve.limits import DEFAULT_LIMITS, RequestLimits
from modelport.serve.shm import parse_ref
from modelport.serve.tensors import element_count, from_raw, to_raw
from modelport.serve.types import InferRequest, InferResponse, InputTensor, RequestedOutput

_TYPED_FIELD = {
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


def parameters(params: Mapping[str, pb.InferParameter]) -> dict[str, Any]:
    """An InferParameter map as plain Python values."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        choice = value.WhichOneof("parameter_choice")
        out[key] = getattr(value, choice) if choice else None
    return out


def decode_infer(msg: pb.ModelInferRequest, config: ModelConfig | None = None,
                 limits: RequestLimits = DEFAULT_LIMITS) -> InferRequest:
    """ModelInferRequest → InferRequest.

    ``config``, when given, lets a request with more tensors than the model has be refused
    by name before any data is decoded; ``limits`` bound each input's shape.

    Raises:
        InvalidInput: raw contents do not line up with the inputs, or sizes disagree.
    """
    if config is not None:
        limits.tensors(config, msg.inputs, msg.outputs, attrgetter("name"))
    raw = msg.raw_input_contents
    mixed = next((t.name for t in msg.inputs if t.HasField("contents")), None) if raw else None
    if mixed is not None:
        raise InvalidInput(f"contents field must not be specified when using "
                           f"raw_input_contents for '{mixed}' for model '{msg.model_name}'")
    refs = [parse_ref(t.name, parameters(t.parameters)) for t in msg.inputs]
    wanting_raw = sum(ref is None for ref in refs)
    if raw and len(raw) != wanting_raw:
        raise InvalidInput(f"got {len(raw)} raw_input_contents for {wanting_raw} inputs not in "
                           "shared memory; send one per input")
    request = InferRequest(msg.model_name, msg.model_version, msg.id, parameters(msg.parameters))
    contents = iter(raw)
    for tensor, ref in zip(msg.inputs, refs, strict=True):
        shape, datatype = list(tensor.shape), tensor.datatype
        by_name(datatype)
        limits.elements(tensor.name, shape)
        if ref is not None:
            data = np.empty(0)
        elif raw:
            data = from_raw(tensor.name, datatype, shape, next(contents))
        else:
            data = _typed(tensor, datatype, shape)
        request.inputs.append(InputTensor(tensor.name, datatype, shape, data, ref))
    request.outputs = [_requested(o) for o in msg.outputs]
    return request


def _requested(output: pb.ModelInferRequest.InferRequestedOutputTensor) -> RequestedOutput:
    params = parameters(output.parameters)
    classes = parse_count(output.name, params["classification"]) if (
        "classification" in params) else 0
    ref = parse_ref(output.name, params)
    if ref is not None and classes:
        raise InvalidInput(f"output '{output.name}': output can't set both "
                           "'shared_memory_region' and 'classification'")
    return RequestedOutput(output.name, None, classes, ref)


def _typed(tensor: pb.ModelInferRequest.InferInputTensor, datatype: str, shape: list[int],
           ) -> np.ndarray:
    field = _TYPED_FIELD.get(datatype)
    if field is None:
        raise InvalidInput(f"input '{tensor.name}': {datatype} must be sent in raw_input_contents")
    values = getattr(tensor.contents, field)
    count = element_count(shape)
    if len(values) != count:
        raise InvalidInput(f"input '{tensor.name}': got {len(values)} elements in "
                           f"contents.{field} but shape {shape} needs {count}")
    if datatype == "BYTES":
        return np.array(list(values), dtype=object).reshape(shape)
    try:
        return np.array(values, dtype=by_name(datatype).numpy).reshape(shape)
    except OverflowError as exc:
        raise InvalidInput(f"input '{tensor.name}': {exc}") from None


def encode_infer(response: InferResponse) -> pb.ModelInferResponse:
    """InferResponse → ModelInferResponse with every output in raw_output_contents."""
    msg = pb.ModelInferResponse(model_name=response.model_name,
                                model_version=response.model_version, id=response.id)
    for out in response.outputs:
        msg.outputs.add(name=out.name, datatype=out.datatype, shape=out.shape)
        # one entry per output, empty for one written to shared memory (as Triton does)
        msg.raw_output_contents.append(b"" if out.in_shm else to_raw(out.datatype, out.data))
    return msg


def log_values(settings: Mapping[str, pb.LogSettingsRequest.SettingValue]) -> dict[str, Any]:
    """LogSettings request values as plain Python values."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        choice = value.WhichOneof("parameter_choice")
        out[key] = getattr(value, choice) if choice else None
    return out


def set_log_value(target: pb.LogSettingsResponse.SettingValue, value: Any) -> None:
    """Fill a LogSettings response value from a Python value."""
    if isinstance(value, bool):
        target.bool_param = value
    elif isinstance(value, int):
        target.uint32_param = value
    else:
        target.string_param = str(value)

