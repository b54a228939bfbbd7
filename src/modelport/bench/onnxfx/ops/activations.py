"""Unary maths, activation functions, Clip and the softmax family."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from modelport.bench.onnxfx.lib import F, torch
from modelport.bench.onnxfx.node import OnnxNode
from modelport.bench.onnxfx.registry import op
from modelport.bench.onnxfx.values import Const, Value

_UNARY: dict[str, Callable[..., Any]] = {
    "Abs": torch.abs, "Neg": torch.neg, "Exp": torch.exp, "Log": torch.log,
    "Sqrt": torch.sqrt, "Reciprocal": torch.reciprocal, "Floor": torch.floor,
    "Ceil": torch.ceil, "Round": torch.round, "Sign": torch.sign, "Sin": torch.sin,
    "Cos": torch.cos, "Tan": torch.tan, "Asin": torch.asin, "Acos": torch.acos,
    "Atan": torch.atan, "Sinh": torch.sinh, "Cosh": torch.cosh, "Asinh": torch.asinh,
    "Acosh": torch.acosh, "Atanh": torch.atanh, "Tanh": torch.tanh, "Sigmoid": torch.sigmoid,
    "Relu": torch.relu, "Erf": torch.erf, "Not": torch.logical_not, "IsNaN": torch.isnan,
    "Softplus": F.softplus, "Softsign": F.softsign, "HardSwish": F.hardswish, "Mish": F.mish,
    "BitwiseNot": torch.bitwise_not,
}  # fmt: skip


@op(*_UNARY)
def unary(n: OnnxNode) -> list[Value]:
    """One-input element-wise functions without attributes."""
    return [n.b.call(_UNARY[n.op_type], n.x())]


def hard_sigmoid(x: Any, alpha: float, beta: float) -> Any:
    """ONNX HardSigmoid: max(0, min(1, alpha * x + beta))."""
    return torch.clamp(x * alpha + beta, 0.0, 1.0)


def thresholded_relu(x: Any, alpha: float) -> Any:
    """ONNX ThresholdedRelu: x where x > alpha, else 0."""
    return torch.where(x > alpha, x, torch.zeros_like(x))


_SELU_ALPHA, _SELU_GAMMA = 1.67326319217681884765625, 1.05070102214813232421875


def selu(x: Any, alpha: float, gamma: float) -> Any:
    """ONNX Selu with its own alpha and gamma."""
    return gamma * torch.where(x > 0, x, alpha * (torch.exp(x) - 1))


def prelu(x: Any, slope: Any) -> Any:
    """ONNX PRelu: the slope broadcasts like any binary operator (torch's wants channels)."""
    return torch.where(x >= 0, x, x * slope)


@op("LeakyRelu", "Elu", "Celu", "Selu", "HardSigmoid", "ThresholdedRelu", "Gelu", "PRelu")
def parametric(n: OnnxNode) -> list[Value]:
    """Activations with attributes."""
    x, kind, b = n.x(), n.op_type, n.b
    if kind == "LeakyRelu":
        return [b.call(F.leaky_relu, x, float(n.attr("alpha", 0.01)))]
    if kind == "Elu":
        return [b.call(F.elu, x, float(n.attr("alpha", 1.0)))]
    if kind == "Celu":
        return [b.call(F.celu, x, float(n.attr("alpha", 1.0)))]
    if kind == "Selu":
        alpha, gamma = float(n.attr("alpha", _SELU_ALPHA)), float(n.attr("gamma", _SELU_GAMMA))
        return [b.call(selu, x, alpha, gamma)]
    if kind == "HardSigmoid":
        alpha, beta = float(n.attr("alpha", 0.2)), float(n.attr("beta", 0.5))
        return [b.call(hard_sigmoid, x, alpha, beta)]
    if kind == "ThresholdedRelu":
        return [b.call(thresholded_relu, x, float(n.attr("alpha", 1.0)))]
    if kind == "Gelu":
        approximate = n.attr("approximate", b"none")
        text = approximate.decode() if isinstance(approximate, bytes) else str(approximate)
        return [b.call(F.gelu, x, approximate=text)]
    return [b.call(prelu, x, n.x(1))]


def _bound(value: Value | None) -> Any:
    if isinstance(value, Const):
        return value.tensor.item()
    return value


@op("Clip")
def clip(n: OnnxNode) -> list[Value]:
    """Clip: bounds are attributes before opset 11 and optional inputs since."""
    if n.opset < 11:
        low, high = n.attr("min", -math.inf), n.attr("max", math.inf)
    else:
        low, high = _bound(n.input(1)), _bound(n.input(2))
    if low is None and high is None:
        return [n.x()]
    return [n.b.call(torch.clamp, n.x(), low, high)]


def softmax_2d(x: Any, axis: int, log: bool) -> Any:
    """Softmax before opset 13: the input is flattened to 2-D at ``axis``, then restored."""
    axis = axis + x.dim() if axis < 0 else axis
    flat = x.reshape(math.prod(x.shape[:axis]), -1)
    out = torch.log_softmax(flat, 1) if log else torch.softmax(flat, 1)
    return out.reshape(x.shape)


@op("Softmax", "LogSoftmax")
def softmax(n: OnnxNode) -> list[Value]:
    """Softmax and LogSoftmax over one axis (opset 13+), or over the flattened tail before."""
    log = n.op_type == "LogSoftmax"
    default = -1 if n.opset >= 13 else 1
    axis = int(n.attr("axis", default))
    rank = n.rank()
    last = axis == -1 or (rank is not None and axis == rank - 1)
    if n.opset >= 13 or last:
        return [n.b.call(torch.log_softmax if log else torch.softmax, n.x(), axis)]
    return [n.b.call(softmax_2d, n.x(), axis, log)]
