"""Arithmetic, comparison and logic operators with numpy broadcasting, and shape arithmetic.

Add, Sub, Mul and Div of shape vectors (``batch * heads``) stay Python arithmetic on their
items, so the result can feed ``reshape`` without a tensor round trip.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

from modelport.bench.onnxfx.lib import torch
from modelport.bench.onnxfx.node import OnnxNode
from modelport.bench.onnxfx.registry import op
from modelport.bench.onnxfx.values import Const, Dims, Value, int_items, is_scalar, make_dims


def div(a: Any, b: Any) -> Any:
    """ONNX Div: true division for floats, truncation toward zero for integers."""
    if a.is_floating_point():
        return a / b
    return torch.div(a, b, rounding_mode="trunc")


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "Add": operator.add,
    "Sub": operator.sub,
    "Mul": operator.mul,
    "Div": div,
    "Pow": operator.pow,
}
_ITEM_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "Add": operator.add,
    "Sub": operator.sub,
    "Mul": operator.mul,
    "Div": operator.floordiv,  # sizes are non-negative, where floor and truncation agree
}
_LOGIC: dict[str, Callable[..., Any]] = {
    "Equal": torch.eq,
    "Less": torch.lt,
    "LessOrEqual": torch.le,
    "Greater": torch.gt,
    "GreaterOrEqual": torch.ge,
    "And": torch.logical_and,
    "Or": torch.logical_or,
    "Xor": torch.logical_xor,
    "BitwiseAnd": torch.bitwise_and,
    "BitwiseOr": torch.bitwise_or,
    "BitwiseXor": torch.bitwise_xor,
}


def _item_arithmetic(n: OnnxNode, fn: Callable[[Any, Any], Any]) -> Value | None:
    a, b = n.x(0), n.x(1)
    if not isinstance(a, Dims) and not isinstance(b, Dims):
        return None
    ia, ib = int_items(a), int_items(b)
    if ia is None or ib is None or (len(ia) != len(ib) and 1 not in (len(ia), len(ib))):
        return None
    length = max(len(ia), len(ib))
    ia, ib = ia * length if len(ia) == 1 else ia, ib * length if len(ib) == 1 else ib
    items = [n.b.item_op(fn, x, y) for x, y in zip(ia, ib, strict=True)]
    return make_dims(items, scalar=is_scalar(a) and is_scalar(b))


def _operand(value: Value) -> Any:
    """A 0-D constant as a Python number (keeps the other operand's dtype, saves a buffer)."""
    if isinstance(value, Const) and value.tensor.dim() == 0:
        return value.tensor.item()
    return value


@op(*_ARITHMETIC)
def arithmetic(n: OnnxNode) -> list[Value]:
    """Add, Sub, Mul, Div, Pow; shape arithmetic stays on Python items."""
    item_fn = _ITEM_ARITHMETIC.get(n.op_type)
    folded = _item_arithmetic(n, item_fn) if item_fn else None
    if folded is not None:
        return [folded]
    a, b = n.x(0), n.x(1)
    if isinstance(a, Const) and isinstance(b, Const):
        return [n.b.call(_ARITHMETIC[n.op_type], a, b)]
    first = a if n.op_type == "Div" else _operand(a)  # div() needs a tensor first
    return [n.b.call(_ARITHMETIC[n.op_type], first, _operand(b))]


@op(*_LOGIC)
def logic(n: OnnxNode) -> list[Value]:
    """Comparisons and boolean/bitwise logic."""
    return [n.b.call(_LOGIC[n.op_type], n.x(0), n.x(1))]


@op("Mod")
def mod(n: OnnxNode) -> list[Value]:
    """Mod: C's fmod when ``fmod=1``, else Python's sign-of-divisor remainder."""
    fn = torch.fmod if n.attr("fmod", 0) else torch.remainder
    return [n.b.call(fn, n.x(0), n.x(1))]


_VARIADIC: dict[str, Callable[[Any, Any], Any]] = {
    "Max": torch.maximum,
    "Min": torch.minimum,
    "Sum": torch.add,
    "Mean": torch.add,
}


@op(*_VARIADIC)
def variadic(n: OnnxNode) -> list[Value]:
    """Max, Min, Sum and Mean of any number of broadcast inputs."""
    values = [v for v in n.inputs if v is not None]
    fn = _VARIADIC[n.op_type]
    out = functools.reduce(lambda acc, v: n.b.call(fn, acc, v), values[1:], values[0])
    if n.op_type == "Mean" and len(values) > 1:
        out = n.b.call(operator.truediv, out, float(len(values)))
    return [out]


@op("Where")
def where(n: OnnxNode) -> list[Value]:
    """Where(condition, X, Y)."""
    return [n.b.call(torch.where, n.x(0), n.x(1), n.x(2))]
