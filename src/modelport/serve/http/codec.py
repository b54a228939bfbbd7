"""Open Inference Protocol HTTP bodies: JSON and the binary tensor data extension."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson

from modelport.datatypes import by_name
from modelport.errors import InvalidInput
from modelport.repository.config import ModelConfig, TensorSpec
from modelport.serve.classification import parse_count
from modelport.serve.http import heads
from modelport.serve.limits import DEFAULT_LIMITS, RequestLimits
from modelport.serve.shm import parse_ref
from modelport.serve.tensors import element_count, from_raw, to_raw
from modelport.serve.types import InferRequest, InferResponse, InputTensor, RequestedOutput

JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def loads(body: bytes | bytearray | memoryview) -> Any:
    """Parse a JSON body, raising InvalidInput with the parser's reason.

    Like Triton (and tritonclient, which writes them), NaN, Infinity and -Infinity are accepted
    as numbers; orjson refuses them, so only a body holding one takes the slower stdlib path.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        error = exc
    raw = bytes(body)
    if b"NaN" in raw or b"Infinity" in raw:
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            pass
    raise InvalidInput(f"failed to parse the request JSON: {error}") from None


def decode_infer(body: bytes | bytearray, header_length: int | None, model: str, version: str,
                 config: ModelConfig | None = None,
                 limits: RequestLimits = DEFAULT_LIMITS) -> InferRequest:
    """Decode an infer request body (JSON, or JSON header followed by binary tensors).

    ``config``, when given, lets a request with more tensors than the model has be refused
    by name before any data is decoded; ``limits`` bound each input's shape.

    Raises:
        InvalidInput: malformed JSON, wrong fields, or binary sizes that do not add up.
    """
    if header_length is not None and not 0 < header_length <= len(body):
        raise InvalidInput(
            f"Inference-Header-Content-Length {header_length} does not fit a body of "
            f"{len(body)} bytes"
        )
    key = heads.key(body, header_length, limits)
    known = heads.find(key)
    if known is not None:
        return known.request(body, model, version, config, limits)
    request, raw_inputs, spans = _decode_all(body, header_length, model, version, config,
                                             limits)
    if key is not None and heads.binary_only(raw_inputs, request):
        heads.remember(key, heads.Head(request, spans))
    return request


def _decode_all(body: bytes | bytearray, header_length: int | None, model: str, version: str,
                config: ModelConfig | None, limits: RequestLimits,
                ) -> tuple[InferRequest, list[Any], list[tuple[int, int]]]:
    """The request, the JSON inputs and where each input's bytes lie in ``body``."""
    view = memoryview(body)
    head, request = _head(view, header_length, model, version)
    raw_inputs = head.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInput("the request must have a non-empty 'inputs' list")
    raw_outputs = _list_field(head, "outputs")
    if config is not None:
        limits.tensors(config, raw_inputs, raw_outputs, _name_of)
    offset = header_length if header_length is not None else len(body)
    spans = []
    for item in raw_inputs:
        tensor, end = _decode_input(item, view, offset, limits)
        request.inputs.append(tensor)
        spans.append((offset, end))
        offset = end
    if offset != len(body):
        raise InvalidInput(
            f"{len(body) - offset} bytes of binary data follow the last input that claimed any"
        )
    request.outputs = [_decode_output(o) for o in raw_outputs]
    return request, raw_inputs, spans


def _head(view: memoryview, header_length: int | None, model: str, version: str,
          ) -> tuple[dict[str, Any], InferRequest]:
    """The JSON header, and the request with its id and parameters."""
    head = loads(view[:header_length] if header_length is not None else view)
    if not isinstance(head, dict):
        raise InvalidInput("the request body must be a JSON object")
    request = InferRequest(model_name=model, model_version=version)
    request.id = _str_field(head, "id")
    request.parameters = _dict_field(head, "parameters")
    request.binary_output = bool(request.parameters.get("binary_data_output", False))
    return head, request


def _name_of(item: Any) -> Any:
    return item.get("name") if isinstance(item, dict) else None


def decode_raw_single(body: bytes | bytearray, config: ModelConfig, model: str, version: str,
                      limits: RequestLimits = DEFAULT_LIMITS) -> InferRequest:
    """Decode a body that is one raw input tensor (Inference-Header-Content-Length: 0), as
    Triton deduces it: batch 1 when the model batches, the config's dims with at most one
    variable dimension sized from the body; for BYTES, the whole body is the one element of an
    input of shape [1]. Outputs come back as binary data.

    Raises:
        InvalidInput: the model has several inputs, or the shape cannot be deduced.
    """
    if len(config.inputs) != 1:
        raise InvalidInput(
            f"Raw request must only have 1 input (found 1) to be deduced but got "
            f"{len(config.inputs)} inputs in '{model}' model configuration"
        )
    spec = config.inputs[0]
    batch = [1] if config.batching else []
    if spec.datatype == "BYTES":
        if list(spec.dims) != [1]:
            raise InvalidInput(f"For BYTE datatype raw input '{spec.name}', the model must have "
                               "input shape [1]")
        shape = [*batch, 1]
        return InferRequest(model, version, binary_output=True, inputs=[InputTensor(
            spec.name, "BYTES", shape, np.array([bytes(body)], dtype=object).reshape(shape))])
    shape = [*batch, *_raw_dims(spec, len(body))]
    limits.elements(spec.name, shape)
    data = from_raw(spec.name, spec.datatype, shape, memoryview(body))
    # a raw request has no JSON to ask for binary outputs: they come back binary (Triton's way)
    return InferRequest(model, version, binary_output=True,
                        inputs=[InputTensor(spec.name, spec.datatype, shape, data)])


def _raw_dims(spec: TensorSpec, size: int) -> list[int]:
    """The config's dims of a raw input, its one variable dimension sized from ``size`` bytes."""
    if sum(d == -1 for d in spec.dims) > 1:
        raise InvalidInput(f"The shape of the raw input '{spec.name}' can not be deduced "
                           "because there are more than one variable-sized dimension")
    if -1 not in spec.dims:
        return list(spec.dims)
    itemsize = by_name(spec.datatype).numpy.itemsize
    fixed = element_count([d for d in spec.dims if d != -1]) * itemsize
    if fixed == 0 or size % fixed:
        raise InvalidInput(f"raw body of {size} bytes is not a whole number of "
                           f"{spec.datatype}{list(spec.dims)} rows for input '{spec.name}'")
    return [size // fixed if d == -1 else d for d in spec.dims]


def _decode_input(item: Any, view: memoryview, offset: int,
                  limits: RequestLimits) -> tuple[InputTensor, int]:
    if not isinstance(item, dict):
        raise InvalidInput("each entry of 'inputs' must be a JSON object")
    name = _str_field(item, "name")
    if not name:
        raise InvalidInput("an input has no 'name'")
    datatype = _str_field(item, "datatype")
    by_name(datatype)
    shape = item.get("shape")
    if not isinstance(shape, list):
        raise InvalidInput(f"input '{name}' has no 'shape' list")
    limits.elements(name, shape)
    params = _dict_field(item, "parameters")
    _one_source(name, "data" in item, params)
    ref = parse_ref(name, params)
    if ref is not None:
        return InputTensor(name, datatype, shape, _NO_DATA, ref), offset
    size = params.get("binary_data_size")
    if size is None:
        return InputTensor(name, datatype, shape,
                           _from_json(name, datatype, shape, item["data"])), offset
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidInput(f"input '{name}': binary_data_size must be a non-negative integer")
    if offset + size > len(view):
        raise InvalidInput(f"input '{name}': binary_data_size {size} runs past the end of the "
                           f"body ({len(view) - offset} bytes left)")
    data = from_raw(name, datatype, shape, view[offset:offset + size])
    return InputTensor(name, datatype, shape, data), offset + size


_NO_DATA = np.empty(0)  # stands for data the core reads from shared memory


def _one_source(name: str, has_data: bool, params: dict[str, Any]) -> None:
    """Triton's rule: an input's data comes from exactly one place."""
    sources = [label for label, present in (
        ("'data'", has_data),
        ("'binary_data_size'", params.get("binary_data_size") is not None),
        ("'shared_memory_region'", params.get("shared_memory_region") is not None)) if present]
    if len(sources) != 1:
        found = f"set {' '.join(sources)}" if sources else "no field is set"
        raise InvalidInput(f"input '{name}': Input must set only one of the following fields: "
                           "'data', 'binary_data_size' in 'parameters', 'shared_memory_region' "
                           f"in 'parameters'. But {found}")


MAX_JSON_DEPTH = 100  # Triton's bound on the nesting of an input's "data"


def _depth(data: Any) -> int:
    depth = 0
    while isinstance(data, list):
        depth += 1
        if depth > MAX_JSON_DEPTH:
            break
        data = data[0] if data else None
    return depth


def _from_json(name: str, datatype: str, shape: list[int], data: Any) -> np.ndarray:
    if _depth(data) > MAX_JSON_DEPTH:
        raise InvalidInput(f"input '{name}': JSON nesting depth exceeds maximum allowed limit "
                           f"({MAX_JSON_DEPTH})")
    count = element_count(shape)
    try:
        if datatype == "BYTES":
            flat = np.array(data, dtype=object).ravel()
            arr = np.array([_json_text(v) for v in flat], dtype=object)
        else:
            arr = _numeric(name, datatype, data)
    except InvalidInput:
        raise  # already says which input and why
    except (ValueError, TypeError, OverflowError, FloatingPointError) as exc:
        raise InvalidInput(f"input '{name}': data is not valid {datatype}: {exc}") from None
    if arr.size != count:
        raise InvalidInput(
            f"input '{name}': got {arr.size} elements of data but shape {shape} needs {count}"
        )
    return arr.reshape(shape)


def _numeric(name: str, datatype: str, data: Any) -> np.ndarray:
    """JSON numbers as ``datatype``: no silent truncation of fractions, no overflow to inf."""
    dtype = by_name(datatype).numpy
    if dtype.kind in "biu":
        inferred = np.asarray(data)
        if inferred.dtype.kind == "f" and not np.all(np.isfinite(inferred)):
            raise InvalidInput(f"input '{name}': data has NaN or Infinity but the datatype is "
                               f"{datatype}")
        if inferred.dtype.kind == "f" and not np.all(np.mod(inferred, 1) == 0):
            raise InvalidInput(f"input '{name}': data has fractional values but the datatype is "
                               f"{datatype}")
    with np.errstate(over="raise", invalid="raise"):
        return np.asarray(data, dtype=dtype).ravel()


def _json_text(value: Any) -> str:
    """A JSON BYTES element: already text, kept as it is (the core wants text)."""
    if isinstance(value, str):
        return value
    raise TypeError(f"BYTES elements must be strings, got {type(value).__name__}")


def _decode_output(item: Any) -> RequestedOutput:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise InvalidInput("each entry of 'outputs' must be an object with a 'name'")
    name = item["name"]
    params = _dict_field(item, "parameters")
    binary = params.get("binary_data")
    classes = parse_count(name, params["classification"]) if "classification" in params else 0
    ref = parse_ref(name, params)
    if ref is not None and (classes or binary):
        other = "'classification'" if classes else "'binary_data'"
        raise InvalidInput(f"output '{name}': Output can't set both 'shared_memory_region' and "
                           f"{other}")
    return RequestedOutput(name, None if binary is None else bool(binary), classes, ref)


def encode_infer(response: InferResponse, request: InferRequest) -> tuple[bytes, int | None]:
    """Encode a response; returns the body and the JSON header length when binary follows."""
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for out in response.outputs:
        entry: dict[str, Any] = {"name": out.name, "datatype": out.datatype, "shape": out.shape}
        if out.in_shm:
            pass  # the data went to the client's shared memory region
        elif request.wants_binary(out.name):
            raw = to_raw(out.datatype, out.data)
            entry["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        elif out.datatype == "BYTES":
            entry["data"] = [_text(v) for v in out.data.ravel()]
        else:
            entry["data"] = _numbers(np.ascontiguousarray(out.data).ravel())
        outputs.append(entry)
    head: dict[str, Any] = {"model_name": response.model_name,
                            "model_version": response.model_version}
    if response.id:
        head["id"] = response.id
    head["outputs"] = outputs
    header = orjson.dumps(head, option=JSON_OPTIONS)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


_NON_FINITE = {"nan": b"NaN", "inf": b"Infinity", "-inf": b"-Infinity"}


def _numbers(flat: np.ndarray) -> Any:
    """A flat numeric array for the JSON body. orjson writes null for NaN and +/-inf, which
    would lose them; write Triton's NaN / Infinity / -Infinity tokens in their places instead."""
    if flat.dtype.kind != "f" or np.isfinite(flat).all():
        return flat
    text = orjson.dumps(flat, option=JSON_OPTIONS)
    pieces = text.split(b"null")  # a float array's JSON has null exactly where it is not finite
    tokens = [_NON_FINITE[str(v)] for v in flat[~np.isfinite(flat)].astype(np.float64)]
    joined = [part for pair in zip(pieces, [*tokens, b""], strict=True) for part in pair]
    return orjson.Fragment(b"".join(joined))


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _str_field(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key, "")
    if not isinstance(value, str):
        raise InvalidInput(f"'{key}' must be a string")
    return value


def _dict_field(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key) or {}
    if not isinstance(value, dict):
        raise InvalidInput(f"'{key}' must be a JSON object")
    return value


def _list_field(obj: dict[str, Any], key: str) -> list[Any]:
    value = obj.get(key) or []
    if not isinstance(value, list):
        raise InvalidInput(f"'{key}' must be a list")
    return value
