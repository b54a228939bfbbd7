"""Operators that read or change shapes: Shape, Reshape, Flatten, Transpose, (Un)Squeeze,
Concat, Split, Expand, Tile.

Where a shape vector is known item by item (:class:`~modelport.bench.onnxfx.values.Dims`), these
work on the items; a shape only known as a run-time tensor falls back to ``tolist()``, which is
correct but makes ``torch.compile`` break its graph there.
"""

from __future__ import annotations

import math
from typing import Any

from modelport.bench.onnxfx.lib import torch
from modelport.bench.onnxfx.node import OnnxNode
from modelport.bench.onnxfx.registry import op
from modelport.bench.onnxfx.values import Const, Dims, Value, const_ints, int_items, make_dims


def shape_tensor(x: Any, start: int, end: int | None) -> Any:
    """ONNX Shape of a tensor whose rank was unknown while converting."""
    return torch.tensor(x.shape[start:end], dtype=torch.int64)


@op("Shape")
def shape(n: OnnxNode) -> list[Value]:
    """Shape, sliced by ``start``/``end``: sizes read at run time, ints where known."""
    x, start, end = n.x(), int(n.attr("start", 0)), n.attr("end")
    if isinstance(x, Const):
        return [Const(torch.tensor(list(x.tensor.shape)[start:end], dtype=torch.int64))]
    if isinstance(x, Dims):
        dims = [] if x.scalar else [len(x.items)]
        return [Const(torch.tensor(dims[start:end], dtype=torch.int64))]
    rank = n.rank()
    if rank is None:
        return [n.b.call(shape_tensor, x, start, end)]
    return [make_dims([n.b.size(x, i) for i in range(rank)][start:end])]


@op("Size")
def size(n: OnnxNode) -> list[Value]:
    """Size: the number of elements, as a scalar."""
    x = n.x()
    if isinstance(x, Const):
        return [Const(torch.tensor(x.tensor.numel(), dtype=torch.int64))]
    if isinstance(x, Dims):
        return [Const(torch.tensor(1 if x.scalar else len(x.items), dtype=torch.int64))]
    return [Dims((n.b.graph.call_method("numel", (x,)),), scalar=True)]


def reshape_tensor(x: Any, shape: Any, allowzero: int) -> Any:
    """Reshape to a shape known only as a run-time tensor."""
    dims = [int(d) for d in shape.tolist()]
    if not allowzero:
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


def _source_size(n: OnnxNode, x: Value, axis: int) -> Any:
    if isinstance(x, Const):
        return int(x.tensor.shape[axis])
    return n.b.size(x, axis)


@op("Reshape")
def reshape(n: OnnxNode) -> list[Value]:
    """Reshape; a 0 copies the input's size unless ``allowzero=1``, -1 is inferred."""
    x, target = n.x(0), n.x(1)
    items = int_items(target)
    allowzero = int(n.attr("allowzero", 0))
    if items is None:
        return [n.b.call(reshape_tensor, x, target, allowzero)]
    if isinstance(x, Dims):
        length = 1 if x.scalar else len(x.items)
        if items == [] and length == 1:
            return [Dims(x.items, scalar=True)]
        if items in ([-1], [length]):
            return [Dims(x.items)]
    if not allowzero:
        items = [_source_size(n, x, i) if d == 0 else d for i, d in enumerate(items)]
    return [n.b.call(torch.reshape, x, items)]


def flatten_2d(x: Any, axis: int) -> Any:
    """ONNX Flatten: always 2-D, the dimensions before ``axis`` form the first."""
    axis = axis + x.dim() if axis < 0 else axis
    return x.reshape(math.prod(x.shape[:axis]), -1)


@op("Flatten")
def flatten(n: OnnxNode) -> list[Value]:
    """Flatten to 2-D at ``axis`` (1 by default)."""
    axis, rank = int(n.attr("axis", 1)), n.rank()
    if axis == 1 and rank is not None and rank >= 2:
        return [n.b.call(torch.flatten, n.x(), 1)]
    return [n.b.call(flatten_2d, n.x(), axis)]


def reverse_axes(x: Any) -> Any:
    """Transpose without ``perm``: the axes in reverse order."""
    return x.permute(*reversed(range(x.dim())))


@op("Transpose")
def transpose(n: OnnxNode) -> list[Value]:
    """Transpose by ``perm`` (reversed axes when absent)."""
    x, perm = n.x(), n.attr("perm")
    if isinstance(x, Dims):
        return [x]  # a vector or scalar transposes to itself
    if perm is None:
        return [n.b.call(reverse_axes, x)]
    return [n.b.call(torch.permute, x, [int(p) for p in perm])]


def _axes(n: OnnxNode, since: int) -> list[int] | None:
    if n.opset < since:
        axes = n.attr("axes")
        return None if axes is None else [int(a) for a in axes]
    value = n.input(1)
    return None if value is None else const_ints(value, "axes")


@op("Squeeze")
def squeeze(n: OnnxNode) -> list[Value]:
    """Squeeze the given axes (every size-1 axis when none are given)."""
    x, axes = n.x(), _axes(n, 13)
    if isinstance(x, Dims):
        if x.scalar or len(x.items) != 1:
            raise NotImplementedError("squeeze of a shape vector longer than 1")
        return [Dims(x.items, scalar=True)]
    if axes is None:
        return [n.b.call(torch.squeeze, x)]
    return [n.b.call(torch.squeeze, x, tuple(axes))]


def unsqueeze_many(x: Any, axes: list[int]) -> Any:
    """Unsqueeze several axes, each counted in the output's rank."""
    rank = x.dim() + len(axes)
    for axis in sorted(a + rank if a < 0 else a for a in axes):
        x = x.unsqueeze(axis)
    return x


@op("Unsqueeze")
def unsqueeze(n: OnnxNode) -> list[Value]:
    """Unsqueeze at ``axes`` (an attribute before opset 13, an input since)."""
    x, axes = n.x(), _axes(n, 13)
    if axes is None:
        raise NotImplementedError("Unsqueeze without axes")
    if isinstance(x, Dims) and x.scalar and axes in ([0], [-1]):
        return [Dims(x.items)]
    if len(axes) == 1:
        return [n.b.call(torch.unsqueeze, x, axes[0])]
    return [n.b.call(unsqueeze_many, x, axes)]


@op("Concat")
def concat(n: OnnxNode) -> list[Value]:
    """Concat along ``axis``; shape vectors are joined item by item."""
    values = [v for v in n.inputs if v is not None]
    axis = int(n.attr("axis"))
    lists = [int_items(v) for v in values]
    vectors = all(not (isinstance(v, Const) and v.tensor.dim() != 1) for v in values)
    symbolic = any(isinstance(v, Dims) for v in values)
    if axis in (0, -1) and vectors and symbolic and all(i is not None for i in lists):
        return [make_dims([i for items in lists if items is not None for i in items])]
    return [n.b.call(torch.cat, values, axis)]


def split_even(x: Any, parts: int, axis: int) -> Any:
    """Split into ``parts`` chunks of ceil(size / parts), the last one smaller."""
    return torch.split(x, math.ceil(x.shape[axis] / parts), axis)


@op("Split")
def split(n: OnnxNode) -> list[Value]:
    """Split by explicit sizes, or evenly into the number of outputs."""
    x, axis = n.x(), int(n.attr("axis", 0))
    sizes = n.attr("split") if n.opset < 13 else n.input(1)
    if sizes is not None and not isinstance(sizes, list):
        sizes = const_ints(sizes, "split sizes")
    parts = int(n.attr("num_outputs", n.declared))
    if sizes:
        result = n.b.call(torch.split, x, [int(s) for s in sizes], axis)
    else:
        result = n.b.call(split_even, x, parts, axis)
    return n.b.unpack(result, n.declared)


def expand_to(x: Any, shape: list[Any]) -> Any:
    """ONNX Expand: broadcast both ways (a 1 in ``shape`` keeps the input's size)."""
    return x.expand(torch.broadcast_shapes(x.shape, tuple(shape)))


def expand_tensor(x: Any, shape: Any) -> Any:
    """Expand to a shape known only as a run-time tensor."""
    return expand_to(x, [int(d) for d in shape.tolist()])


@op("Expand")
def expand(n: OnnxNode) -> list[Value]:
    """Expand with bidirectional broadcasting."""
    items = int_items(n.x(1))
    if items is None:
        return [n.b.call(expand_tensor, n.x(0), n.x(1))]
    return [n.b.call(expand_to, n.x(0), items)]


def tile_tensor(x: Any, repeats: Any) -> Any:
    """Tile by repeats known only as a run-time tensor."""
    return x.repeat([int(r) for r in repeats.tolist()])


@op("Tile")
def tile(n: OnnxNode) -> list[Value]:
    """Tile: repeat the input along each axis."""
    items = int_items(n.x(1))
    if items is None:
        return [n.b.call(tile_tensor, n.x(0), n.x(1))]
    return [n.b.call(torch.Tensor.repeat, n.x(0), items)]
