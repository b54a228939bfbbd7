"""Gather, GatherElements and Slice, on tensors and on shape vectors."""

from __future__ import annotations

import operator
from typing import Any

from modelport.bench.onnxfx.lib import torch
from modelport.bench.onnxfx.node import OnnxNode
from modelport.bench.onnxfx.registry import op
from modelport.bench.onnxfx.values import Const, Dims, Value, const_ints, int_items, make_dims

_HUGE = 2**62  # exporters write INT64_MAX / INT64_MIN for "to the end"


def gather_axis(x: Any, indices: Any, axis: int) -> Any:
    """ONNX Gather: indices of any shape, negative ones counted from the end."""
    axis = axis + x.dim() if axis < 0 else axis
    indices = torch.where(indices < 0, indices + x.shape[axis], indices)
    picked = torch.index_select(x, axis, indices.reshape(-1))
    return picked.reshape((*x.shape[:axis], *indices.shape, *x.shape[axis + 1 :]))


def _gather_items(x: Dims, indices: Const) -> Value:
    items = list(x.items)
    picked = [items[int(i)] for i in indices.tensor.reshape(-1).tolist()]
    return make_dims(picked, scalar=indices.tensor.dim() == 0)


@op("Gather")
def gather(n: OnnxNode) -> list[Value]:
    """Gather along ``axis``: picks items of shape vectors, ``select`` for one index."""
    x, indices, axis = n.x(0), n.x(1), int(n.attr("axis", 0))
    if isinstance(x, Dims) and not x.scalar and isinstance(indices, Const):
        return [_gather_items(x, indices)]
    if isinstance(indices, Const) and indices.tensor.dim() == 0 and not isinstance(x, Dims):
        return [n.b.call(torch.select, x, axis, int(indices.tensor))]
    return [n.b.call(gather_axis, x, indices, axis)]


def gather_elements(x: Any, indices: Any, axis: int) -> Any:
    """ONNX GatherElements (torch.gather with negative indices allowed)."""
    indices = torch.where(indices < 0, indices + x.shape[axis], indices)
    return torch.gather(x, axis, indices)


@op("GatherElements")
def gather_elements_op(n: OnnxNode) -> list[Value]:
    """GatherElements along ``axis``."""
    return [n.b.call(gather_elements, n.x(0), n.x(1), int(n.attr("axis", 0)))]


def slice_backwards(x: Any, axis: int, start: int, end: int, step: int) -> Any:
    """One axis sliced with a negative step, clamped the way ONNX specifies."""
    size = x.shape[axis]
    start = start + size if start < 0 else start
    end = end + size if end < 0 else end
    start, end = max(0, min(start, size - 1)), max(-1, min(end, size - 1))
    index = torch.arange(start, end, step, device=x.device)
    return torch.index_select(x, axis, index)


def slice_one(x: Any, axis: int, start: int, end: int, step: int) -> Any:
    """One axis sliced, any sign of axis and step."""
    axis = axis + x.dim() if axis < 0 else axis
    if step < 0:
        return slice_backwards(x, axis, start, end, step)
    index = (*([slice(None)] * axis), slice(_bound(start), _bound(end), step))
    return x[index]


def slice_tensor(x: Any, starts: Any, ends: Any, axes: Any, steps: Any) -> Any:
    """Slice with bounds known only as run-time tensors."""
    starts, ends = starts.tolist(), ends.tolist()
    axes = list(range(len(starts))) if axes is None else axes.tolist()
    steps = [1] * len(starts) if steps is None else steps.tolist()
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        x = slice_one(x, axis, start, end, step)
    return x


def _bound(item: Any) -> Any:
    if isinstance(item, int) and abs(item) >= _HUGE:
        return None
    return item


def _slice_params(n: OnnxNode) -> tuple[list[Any], list[Any], list[int], list[int]] | None:
    if n.opset < 10:
        first, last = list(n.attr("starts")), list(n.attr("ends"))
        axes = n.attr("axes")
        return first, last, list(axes or range(len(first))), [1] * len(first)
    starts, ends = int_items(n.x(1)), int_items(n.x(2))
    if starts is None or ends is None:
        return None
    axes_in, steps_in = n.input(3), n.input(4)
    axes = list(range(len(starts))) if axes_in is None else const_ints(axes_in, "Slice axes")
    steps = [1] * len(starts) if steps_in is None else const_ints(steps_in, "Slice steps")
    return starts, ends, axes, steps


def _slice_items(x: Dims, start: Any, end: Any, step: int) -> Value | None:
    if not isinstance(start, int) or not isinstance(end, int) or step <= 0:
        return None
    return make_dims(list(x.items)[_bound(start) : _bound(end) : step])


@op("Slice")
def slice_op(n: OnnxNode) -> list[Value]:
    """Slice: Python slicing on shape vectors and tensors; negative steps through index_select."""
    x, params = n.x(0), _slice_params(n)
    if params is None:
        args = [n.input(i) for i in range(1, 5)]
        return [n.b.call(slice_tensor, x, *args)]
    starts, ends, axes, steps = params
    if isinstance(x, Dims) and len(axes) == 1 and axes[0] in (0, -1):
        sliced = _slice_items(x, starts[0], ends[0], steps[0])
        if sliced is not None:
            return [sliced]
    rank = n.rank()
    if rank is not None:
        axes = [a + rank if a < 0 else a for a in axes]
    index: list[Any] = []
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        if step < 0 or axis < 0:
            x = n.b.call(slice_one, x, axis, start, end, step)
            continue
        index += [slice(None)] * (axis + 1 - len(index))
        index[axis] = slice(_bound(start), _bound(end), step)
    if not index:
        return [x]
    return [n.b.call(operator.getitem, x, tuple(index))]
