"""ONNX element types as torch dtypes, with every float type mapped to the precision of the run."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.bench.onnxfx.lib import torch

_NAMES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
    9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16",
}  # fmt: skip
_WORKING_FLOATS = {1, 10, 16}  # float32, float16, bfloat16 run in the precision asked for


def torch_dtype(elem_type: int, float_dtype: Any) -> Any:
    """The torch dtype of an ONNX element type.

    Raises:
        NotImplementedError: strings, complex numbers and 8-bit or 4-bit floats.
    """
    if elem_type in _WORKING_FLOATS:
        return float_dtype
    name = _NAMES.get(elem_type)
    if name is None:
        raise NotImplementedError(f"ONNX element type {elem_type} has no torch equivalent here")
    return getattr(torch, name)


def tensor_of(proto: Any, float_dtype: Any) -> Any:
    """An ONNX TensorProto (with its data loaded) as a torch tensor.

    Raises:
        NotImplementedError: the element type has no torch equivalent here.
    """
    from onnx import numpy_helper

    dtype = torch_dtype(proto.data_type, float_dtype)
    array = numpy_helper.to_array(proto)
    if proto.data_type in _WORKING_FLOATS:
        array = array.astype(np.float32)  # bfloat16 arrives as ml_dtypes, which torch cannot read
    return torch.from_numpy(np.array(array, copy=True)).to(dtype)
