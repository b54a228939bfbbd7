"""Normalisation layers: BatchNormalization (inference), InstanceNormalization,
LayerNormalization."""

from __future__ import annotations

from typing import Any

from modelport.bench.onnxfx.lib import F, torch
from modelport.bench.onnxfx.node import OnnxNode
from modelport.bench.onnxfx.registry import op
from modelport.bench.onnxfx.values import Const, Value


@op("BatchNormalization")
def batch_norm(n: OnnxNode) -> list[Value]:
    """BatchNormalization with the running statistics (inference mode only)."""
    n.single_output()
    if n.attr("training_mode", 0):
        raise NotImplementedError("training_mode=1")
    x, scale, bias, mean, var = (n.x(i) for i in range(5))
    eps = float(n.attr("epsilon", 1e-5))
    return [n.b.call(F.batch_norm, x, mean, var, scale, bias, False, 0.0, eps)]


@op("InstanceNormalization")
def instance_norm(n: OnnxNode) -> list[Value]:
    """InstanceNormalization with per-channel scale and bias."""
    eps = float(n.attr("epsilon", 1e-5))
    return [n.b.call(F.instance_norm, n.x(0), weight=n.x(1), bias=n.x(2), eps=eps)]


def layer_norm(x: Any, weight: Any, bias: Any, axis: int, eps: float) -> Any:
    """ONNX LayerNormalization over the axes from ``axis`` on; scale and bias broadcast."""
    axis = axis + x.dim() if axis < 0 else axis
    shape = x.shape[axis:]
    if weight.shape == shape and (bias is None or bias.shape == shape):
        return F.layer_norm(x, shape, weight, bias, eps)
    dims = tuple(range(axis, x.dim()))
    mean = x.mean(dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dims, keepdim=True)
    y = (x - mean) * torch.rsqrt(var + eps) * weight
    return y if bias is None else y + bias


def _vector(value: Value | None) -> int | None:
    if isinstance(value, Const) and value.tensor.dim() == 1:
        return int(value.tensor.shape[0])
    return None


@op("LayerNormalization")
def layer_norm_op(n: OnnxNode) -> list[Value]:
    """LayerNormalization (the mean and inverse deviation outputs are not supported)."""
    n.single_output()
    axis, eps = int(n.attr("axis", -1)), float(n.attr("epsilon", 1e-5))
    scale, bias, rank = n.x(1), n.input(2), n.rank()
    width = _vector(scale)
    last = axis == -1 or (rank is not None and axis == rank - 1)
    if last and width is not None and (bias is None or _vector(bias) == width):
        return [n.b.call(F.layer_norm, n.x(0), (width,), scale, bias, eps)]
    return [n.b.call(layer_norm, n.x(0), scale, bias, axis, eps)]
