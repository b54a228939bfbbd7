"""Operators by ONNX name: each turns an :class:`OnnxNode` into the values of its outputs."""

from __future__ import annotations

from collections.abc import Callable

from modelport.bench.onnxfx.node import OnnxNode
from modelport.bench.onnxfx.values import Value

Converter = Callable[[OnnxNode], list[Value]]

OPS: dict[str, Converter] = {}


def op(*names: str) -> Callable[[Converter], Converter]:
    """Register the decorated function as the converter of the ONNX operators ``names``."""

    def register(fn: Converter) -> Converter:
        for name in names:
            OPS[name] = fn
        return fn

    return register
