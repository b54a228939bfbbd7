"""Tensor datatypes across the protocol, numpy, ONNX and Triton's model config.

One table, one row per Open Inference Protocol datatype; the lookups below are derived from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelport.errors import InvalidInput


@dataclass(frozen=True)
class DataType:
    """One protocol datatype and its names elsewhere."""

    name: str  # Open Inference Protocol name, e.g. "FP32"
    numpy: np.dtype[np.generic]  # numpy dtype; object for BYTES
    config: str  # Triton model config name, e.g. "TYPE_FP32"
    onnx: int  # onnx.TensorProto element type
    ort: str  # ONNX Runtime type string, e.g. "tensor(float)"


_TABLE = (
    DataType("BOOL", np.dtype(np.bool_), "TYPE_BOOL", 9, "tensor(bool)"),
    DataType("UINT8", np.dtype(np.uint8), "TYPE_UINT8", 2, "tensor(uint8)"),
    DataType("UINT16", np.dtype(np.uint16), "TYPE_UINT16", 4, "tensor(uint16)"),
    DataType("UINT32", np.dtype(np.uint32), "TYPE_UINT32", 12, "tensor(uint32)"),
    DataType("UINT64", np.dtype(np.uint64), "TYPE_UINT64", 13, "tensor(uint64)"),
    DataType("INT8", np.dtype(np.int8), "TYPE_INT8", 3, "tensor(int8)"),
    DataType("INT16", np.dtype(np.int16), "TYPE_INT16", 5, "tensor(int16)"),
    DataType("INT32", np.dtype(np.int32), "TYPE_INT32", 6, "tensor(int32)"),
    DataType("INT64", np.dtype(np.int64), "TYPE_INT64", 7, "tensor(int64)"),
    DataType("FP16", np.dtype(np.float16), "TYPE_FP16", 10, "tensor(float16)"),
    DataType("FP32", np.dtype(np.float32), "TYPE_FP32", 1, "tensor(float)"),
    DataType("FP64", np.dtype(np.float64), "TYPE_FP64", 11, "tensor(double)"),
    DataType("BYTES", np.dtype(np.object_), "TYPE_STRING", 8, "tensor(string)"),
)

BY_NAME = {d.name: d for d in _TABLE}
BY_CONFIG = {d.config: d for d in _TABLE}
BY_ONNX = {d.onnx: d for d in _TABLE}
BY_ORT = {d.ort: d for d in _TABLE}
_BY_NUMPY = {d.numpy: d for d in _TABLE}


def by_name(name: str) -> DataType:
    """Look up a protocol datatype name, raising InvalidInput for unknown ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        known = ", ".join(BY_NAME)
        raise InvalidInput(f"unknown datatype '{name}'; expected one of {known}") from None


def from_numpy(dtype: np.dtype[np.generic]) -> DataType:
    """The protocol datatype of a numpy dtype (str/bytes/object arrays are BYTES)."""
    if dtype.kind in "OSU":
        return BY_NAME["BYTES"]
    try:
        return _BY_NUMPY[dtype.newbyteorder("=")]
    except KeyError:
        raise InvalidInput(f"numpy dtype {dtype} has no protocol datatype") from None
