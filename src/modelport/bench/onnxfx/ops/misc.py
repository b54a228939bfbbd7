"""Constants and casts, ConstantOfShape, Range, Trilu, TopK, Identity and Dropout."""

from __future__ import annotations

from typing import Any

from modelport.bench.onnxfx.dtypes import tensor_of, torch_dtype
from modelport.bench.onnxfx.lib import torch
from modelport.bench.onnxfx.node import OnnxNode
from modelport.bench.onnxfx.registry import op
from modelport.bench.onnxfx.values import Const, Dims, Value, int_items


@op("Constant")
def constant(n: OnnxNode) -> list[Value]:
    """Constant from any of its attribute forms (tensor, float(s), int(s))."""
    b = n.b
    if "value" in n.attrs:
        return [Const(tensor_of(n.attrs["value"], b.float_dtype))]
    for name, dtype in (("value_float", b.float_dtype), ("value_floats", b.float_dtype),
                        ("value_int", torch.int64), ("value_ints", torch.int64)):  # fmt: skip
        if name in n.attrs:
            return [Const(torch.tensor(n.attrs[name], dtype=dtype))]
    raise NotImplementedError(f"Constant with attributes {sorted(n.attrs)}")


@op("Identity")
def identity(n: OnnxNode) -> list[Value]:
    """Identity passes its input on, constants and shape vectors included."""
    return [n.x()]


@op("Dropout")
def dropout(n: OnnxNode) -> list[Value]:
    """Dropout at inference: the input unchanged (the mask output is not supported)."""
    n.single_output()
    return [n.x()]


def cast(x: Any, dtype: Any) -> Any:
    """Cast to ``dtype`` (float to int truncates toward zero, as in ONNX)."""
    return x.to(dtype)


def cast_like(x: Any, like: Any) -> Any:
    """CastLike: the dtype of another run-time tensor."""
    return x.to(like.dtype)


@op("Cast")
def cast_op(n: OnnxNode) -> list[Value]:
    """Cast; every float type becomes the precision of the run."""
    x, dtype = n.x(), torch_dtype(int(n.attr("to")), n.b.float_dtype)
    if isinstance(x, Dims) and dtype in (torch.int64, torch.int32):
        return [x]
    return [n.b.call(cast, x, dtype)]


@op("CastLike")
def cast_like_op(n: OnnxNode) -> list[Value]:
    """CastLike: the dtype of the second input."""
    like = n.x(1)
    if isinstance(like, Const):
        return [n.b.call(cast, n.x(0), like.tensor.dtype)]
    return [n.b.call(cast_like, n.x(0), like)]


@op("ConstantOfShape")
def constant_of_shape(n: OnnxNode) -> list[Value]:
    """A tensor of the given shape filled with ``value`` (float 0 by default)."""
    proto = n.attr("value")
    fill = tensor_of(proto, n.b.float_dtype) if proto is not None else None
    dtype = n.b.float_dtype if fill is None else fill.dtype
    value = 0.0 if fill is None else fill.reshape(-1)[0].item()
    items = int_items(n.x())
    if items is None:
        raise NotImplementedError("a shape computed as a run-time tensor")
    return [n.b.call(torch.full, items, value, dtype=dtype)]


def _scalar(value: Value) -> Any:
    if isinstance(value, Dims) and value.scalar:
        return value.items[0]
    if isinstance(value, Const) and value.tensor.numel() == 1:
        return value.tensor.reshape(-1)[0].item()
    raise NotImplementedError("Range bounds computed as run-time tensors")


@op("Range")
def range_op(n: OnnxNode) -> list[Value]:
    """Range(start, limit, delta) with the dtype of ``start``."""
    start = n.x(0)
    dtype = start.tensor.dtype if isinstance(start, Const) else torch.int64
    bounds = [_scalar(n.x(i)) for i in range(3)]
    return [n.b.call(torch.arange, *bounds, dtype=dtype)]


@op("Trilu")
def trilu(n: OnnxNode) -> list[Value]:
    """Trilu: the upper (default) or lower triangle, offset by input k."""
    k_value = n.input(1)
    k = 0 if k_value is None else _scalar(k_value)
    fn = torch.triu if n.attr("upper", 1) else torch.tril
    return [n.b.call(fn, n.x(), k)]


@op("TopK")
def topk(n: OnnxNode) -> list[Value]:
    """TopK: values and int64 indices of the k largest (or smallest) along ``axis``."""
    k = _scalar(n.x(1))
    axis = int(n.attr("axis", -1))
    largest, ordered = bool(n.attr("largest", 1)), bool(n.attr("sorted", 1))
    return n.b.unpack(n.b.call(torch.topk, n.x(), k, axis, largest, ordered), 2)
