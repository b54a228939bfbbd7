"""Convolution, pooling and normalisation layers; padding in ONNX's layout converted to torch's."""

from __future__ import annotations

import math
from typing import Any

from modelport.bench.onnxfx.lib import F, torch
from modelport.bench.onnxfx.node import OnnxNode
from modelport.bench.onnxfx.registry import op
from modelport.bench.onnxfx.values import Const, Value, const_ints


def torch_pads(pads: list[int]) -> list[int]:
    """ONNX pads ``[b1, b2, ..., e1, e2, ...]`` as F.pad's ``[b_last, e_last, ...]``."""
    half = len(pads) // 2
    out: list[int] = []
    for i in reversed(range(half)):
        out += [pads[i], pads[i + half]]
    return out


def same_pad(x: Any, kernel: list[int], strides: list[int], dilations: list[int], upper: bool,
             value: float) -> Any:  # fmt: skip
    """auto_pad SAME_UPPER / SAME_LOWER: pad so that the output size is ceil(input / stride)."""
    pads: list[tuple[int, int]] = []
    for i, (k, s, d) in enumerate(zip(kernel, strides, dilations, strict=True)):
        size = x.shape[2 + i]
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small = total // 2
        pads.append((total - small, small) if not upper else (small, total - small))
    flat = [p for pair in reversed(pads) for p in pair]
    return F.pad(x, flat, value=value)


class _Window:
    """The window attributes shared by Conv and the pools, with ONNX's defaults."""

    def __init__(self, n: OnnxNode, spatial: int) -> None:
        self.kernel = [int(k) for k in n.attr("kernel_shape", [])]
        self.strides = [int(s) for s in n.attr("strides", [1] * spatial)]
        self.dilations = [int(d) for d in n.attr("dilations", [1] * spatial)]
        self.pads = [int(p) for p in n.attr("pads", [0] * (2 * spatial))]
        auto = n.attr("auto_pad", b"NOTSET")
        self.auto_pad = auto.decode() if isinstance(auto, bytes) else str(auto)
        if self.auto_pad == "VALID":
            self.pads = [0] * (2 * spatial)

    @property
    def symmetric(self) -> bool:
        half = len(self.pads) // 2
        return self.pads[:half] == self.pads[half:]

    def prepad(self, n: OnnxNode, x: Value, value: float) -> tuple[Value, list[int]]:
        """Pad explicitly where torch cannot (SAME_*, uneven pads); returns x and torch's pads."""
        half = len(self.pads) // 2
        if self.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            upper = self.auto_pad == "SAME_UPPER"
            args = (self.kernel, self.strides, self.dilations, upper, value)
            return n.b.call(same_pad, x, *args), [0] * half
        if self.symmetric:
            return x, self.pads[:half]
        return n.b.call(F.pad, x, torch_pads(self.pads), value=value), [0] * half


def _spatial(n: OnnxNode, weight: Value | None = None) -> int:
    kernel = n.attr("kernel_shape")
    if kernel:
        return len(kernel)
    if isinstance(weight, Const):
        return int(weight.tensor.dim()) - 2
    rank = n.rank()
    if rank is None:
        raise NotImplementedError("cannot tell the number of spatial dimensions")
    return rank - 2


def _pick(spatial: int, fns: tuple[Any, Any, Any]) -> Any:
    if not 1 <= spatial <= 3:
        raise NotImplementedError(f"{spatial} spatial dimensions")
    return fns[spatial - 1]


@op("Conv")
def conv(n: OnnxNode) -> list[Value]:
    """Conv with groups, dilations, strides and any padding."""
    weight = n.x(1)
    spatial = _spatial(n, weight)
    window = _Window(n, spatial)
    if not window.kernel and isinstance(weight, Const):
        window.kernel = list(weight.tensor.shape[2:])
    if window.auto_pad.startswith("SAME") and not window.kernel:
        raise NotImplementedError("auto_pad SAME with a run-time kernel")
    x, padding = window.prepad(n, n.x(0), 0.0)
    fn = _pick(spatial, (F.conv1d, F.conv2d, F.conv3d))
    group = int(n.attr("group", 1))
    args = (window.strides, padding, window.dilations, group)
    return [n.b.call(fn, x, weight, n.input(2), *args)]


@op("ConvTranspose")
def conv_transpose(n: OnnxNode) -> list[Value]:
    """ConvTranspose with symmetric explicit padding and output_padding."""
    weight = n.x(1)
    spatial = _spatial(n, weight)
    window = _Window(n, spatial)
    if n.attr("output_shape") is not None or window.auto_pad != "NOTSET" or not window.symmetric:
        raise NotImplementedError("output_shape, auto_pad or uneven pads")
    output_padding = [int(p) for p in n.attr("output_padding", [0] * spatial)]
    fn = _pick(spatial, (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d))
    group = int(n.attr("group", 1))
    padding = window.pads[:spatial]
    args = (window.strides, padding, output_padding, group, window.dilations)
    return [n.b.call(fn, n.x(0), weight, n.input(2), *args)]


@op("MaxPool")
def max_pool(n: OnnxNode) -> list[Value]:
    """MaxPool (the Indices output is not supported)."""
    n.single_output()
    spatial = _spatial(n)
    window = _Window(n, spatial)
    x, padding = window.prepad(n, n.x(), -math.inf)
    effective = [(k - 1) * d + 1 for k, d in zip(window.kernel, window.dilations, strict=True)]
    if any(2 * p > k for p, k in zip(padding, effective, strict=True)):  # more than torch allows
        x, padding = n.b.call(F.pad, x, torch_pads(window.pads), value=-math.inf), [0] * spatial
    fn = _pick(spatial, (F.max_pool1d, F.max_pool2d, F.max_pool3d))
    ceil = bool(n.attr("ceil_mode", 0))
    args = (window.kernel, window.strides, padding, window.dilations)
    return [n.b.call(fn, x, *args, ceil_mode=ceil)]


@op("AveragePool")
def average_pool(n: OnnxNode) -> list[Value]:
    """AveragePool; uneven pads only when padding counts in the average."""
    spatial = _spatial(n)
    window = _Window(n, spatial)
    if any(d != 1 for d in window.dilations):
        raise NotImplementedError("dilated AveragePool")
    include = bool(n.attr("count_include_pad", 0))
    if not include and (window.auto_pad.startswith("SAME") or not window.symmetric):
        raise NotImplementedError("uneven padding that does not count in the average")
    x, padding = window.prepad(n, n.x(), 0.0)
    fn = _pick(spatial, (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d))
    ceil = bool(n.attr("ceil_mode", 0))
    return [n.b.call(fn, x, window.kernel, window.strides, padding, ceil, include)]


def global_pool(x: Any, largest: bool) -> Any:
    """GlobalAveragePool / GlobalMaxPool over every spatial axis, kept as size 1."""
    dims = tuple(range(2, x.dim()))
    return torch.amax(x, dims, keepdim=True) if largest else torch.mean(x, dims, keepdim=True)


@op("GlobalAveragePool", "GlobalMaxPool")
def global_pool_op(n: OnnxNode) -> list[Value]:
    """Pool each channel to one value."""
    rank, largest = n.rank(), n.op_type == "GlobalMaxPool"
    if rank is None:
        return [n.b.call(global_pool, n.x(), largest)]
    dims = tuple(range(2, rank))
    return [n.b.call(torch.amax if largest else torch.mean, n.x(), dims, keepdim=True)]


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


def _pad_value(value: Value | None) -> float:
    if value is None:
        return 0.0
    if isinstance(value, Const):
        return float(value.tensor.item())
    raise NotImplementedError("a padding value computed at run time")


@op("Pad")
def pad(n: OnnxNode) -> list[Value]:
    """Pad in constant, reflect, edge or wrap mode; negative pads crop."""
    raw = n.attr("mode", b"constant")
    mode = raw.decode() if isinstance(raw, bytes) else str(raw)
    if n.opset < 11:
        pads, value, axes = [int(p) for p in n.attr("pads")], float(n.attr("value", 0.0)), None
    else:
        pads = const_ints(n.x(1), "pads")
        value = _pad_value(n.input(2))
        axes = None if n.input(3) is None else const_ints(n.x(3), "Pad axes")
    if axes is not None:
        rank = n.rank()
        if rank is None:
            raise NotImplementedError("Pad axes on an input of unknown rank")
        full = [0] * (2 * rank)
        for j, axis in enumerate(axes):
            full[axis % rank], full[axis % rank + rank] = pads[j], pads[j + len(axes)]
        pads = full
    flat = torch_pads(pads)
    while len(flat) > 2 and flat[-2:] == [0, 0]:  # torch pads the last axes; drop untouched ones
        flat = flat[:-2]
    if mode == "constant":
        return [n.b.call(F.pad, n.x(), flat, "constant", value)]
    return [n.b.call(F.pad, n.x(), flat, _PAD_MODES[mode])]
