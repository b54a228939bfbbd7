"""Reductions (ReduceMean and friends), ArgMax/ArgMin, CumSum."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelport.bench.onnxfx.lib import torch
from modelport.bench.onnxfx.node import OnnxNode
from modelport.bench.onnxfx.registry import op
from modelport.bench.onnxfx.values import Value, const_ints


def _prod(x: Any, dims: tuple[int, ...], keepdim: bool) -> Any:
    for dim in sorted((d % x.dim() for d in dims), reverse=True):
        x = torch.prod(x, dim, keepdim=keepdim)
    return x


def _l1(x: Any, dims: tuple[int, ...], keepdim: bool) -> Any:
    return torch.sum(torch.abs(x), dims, keepdim=keepdim)


def _l2(x: Any, dims: tuple[int, ...], keepdim: bool) -> Any:
    return torch.sqrt(torch.sum(x * x, dims, keepdim=keepdim))


def _sum_square(x: Any, dims: tuple[int, ...], keepdim: bool) -> Any:
    return torch.sum(x * x, dims, keepdim=keepdim)


def _log_sum(x: Any, dims: tuple[int, ...], keepdim: bool) -> Any:
    return torch.log(torch.sum(x, dims, keepdim=keepdim))


_REDUCE: dict[str, Callable[..., Any]] = {
    "ReduceMean": torch.mean,
    "ReduceSum": torch.sum,
    "ReduceMax": torch.amax,
    "ReduceMin": torch.amin,
    "ReduceProd": _prod,
    "ReduceL1": _l1,
    "ReduceL2": _l2,
    "ReduceSumSquare": _sum_square,
    "ReduceLogSum": _log_sum,
    "ReduceLogSumExp": torch.logsumexp,
}


def reduce_all(fn: Callable[..., Any], x: Any, keepdim: bool) -> Any:
    """A reduction over every axis (rank known only at run time)."""
    return fn(x, tuple(range(x.dim())), keepdim=keepdim)


@op(*_REDUCE)
def reduce(n: OnnxNode) -> list[Value]:
    """Reduce over ``axes`` (an attribute until opset 18, 13 for ReduceSum; an input since)."""
    since = 13 if n.op_type == "ReduceSum" else 18
    if n.opset < since:
        raw = n.attr("axes")
        axes = None if raw is None else [int(a) for a in raw]
    else:
        value = n.input(1)
        axes = None if value is None else const_ints(value, "reduction axes")
    keepdim = bool(n.attr("keepdims", 1))
    fn = _REDUCE[n.op_type]
    if not axes:
        if n.attr("noop_with_empty_axes", 0):
            return [n.x()]
        return [n.b.call(reduce_all, fn, n.x(), keepdim)]
    return [n.b.call(fn, n.x(), tuple(axes), keepdim=keepdim)]


def arg_extreme(x: Any, axis: int, keepdim: bool, largest: bool, last: bool) -> Any:
    """ArgMax/ArgMin, optionally the last index among ties."""
    fn = torch.argmax if largest else torch.argmin
    if not last:
        return fn(x, axis, keepdim=keepdim)
    flipped = fn(torch.flip(x, (axis,)), axis, keepdim=keepdim)
    return x.shape[axis] - 1 - flipped


@op("ArgMax", "ArgMin")
def arg_op(n: OnnxNode) -> list[Value]:
    """ArgMax and ArgMin along ``axis``."""
    axis = int(n.attr("axis", 0))
    keepdim = bool(n.attr("keepdims", 1))
    last = bool(n.attr("select_last_index", 0))
    return [n.b.call(arg_extreme, n.x(), axis, keepdim, n.op_type == "ArgMax", last)]


def cumsum(x: Any, axis: Any, exclusive: bool, reverse: bool) -> Any:
    """ONNX CumSum with its exclusive and reverse modes."""
    axis = int(axis)
    if reverse:
        x = torch.flip(x, (axis,))
    out = torch.cumsum(x, axis)
    if exclusive:
        out = out - x
    return torch.flip(out, (axis,)) if reverse else out


@op("CumSum")
def cumsum_op(n: OnnxNode) -> list[Value]:
    """CumSum along the axis given as input 1."""
    axis = const_ints(n.x(1), "CumSum axis")[0]
    exclusive, reverse = bool(n.attr("exclusive", 0)), bool(n.attr("reverse", 0))
    return [n.b.call(cumsum, n.x(), axis, exclusive, reverse)]
