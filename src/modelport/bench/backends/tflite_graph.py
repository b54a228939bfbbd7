"""A TFLite flatbuffer under construction: tensors, constant buffers and builtin operators.

Uses the flatbuffer object API that ai-edge-litert ships (``schema_py_generated``).
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

Shape = tuple[int, ...]


class TfliteGraph:
    """Builds tensors, buffers and operators with the flatbuffer object API."""

    def __init__(self) -> None:
        self.s: Any = importlib.import_module("ai_edge_litert.schema_py_generated")
        self.tensors: list[Any] = []
        self.buffers: list[Any] = [self.s.BufferT()]  # buffer 0 is the empty sentinel
        self.ops: list[Any] = []
        self.codes: list[int] = []
        self.shapes: list[Shape] = []

    def tensor(self, name: str, shape: Shape, data: np.ndarray[Any, Any] | None = None) -> int:
        """Add a float32 (or int32 for int data) tensor; constant when data is given."""
        t = self.s.TensorT()
        t.name = name
        t.shape = list(shape)
        is_int = data is not None and data.dtype.kind == "i"
        t.type = self.s.TensorType.INT32 if is_int else self.s.TensorType.FLOAT32
        if data is None:
            t.buffer = 0
            t.shapeSignature = [-1, *shape[1:]]  # activations: dynamic batch
        else:
            buf = self.s.BufferT()
            raw = np.ascontiguousarray(data.astype(np.int32 if is_int else np.float32))
            buf.data = np.frombuffer(raw.tobytes(), dtype=np.uint8)
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        self.shapes.append(tuple(shape))
        return len(self.tensors) - 1

    def op(
        self,
        code: int,
        inputs: list[int],
        outputs: list[int],
        options_type: int = 0,
        options: Any = None,
    ) -> None:
        """Add an operator of builtin ``code``."""
        if code not in self.codes:
            self.codes.append(code)
        o = self.s.OperatorT()
        o.opcodeIndex = self.codes.index(code)
        o.inputs, o.outputs = inputs, outputs
        o.builtinOptionsType = options_type
        o.builtinOptions = options
        self.ops.append(o)

    def serialize(self, inputs: list[int], outputs: list[int]) -> bytes:
        """The finished model as flatbuffer bytes."""
        flatbuffers: Any = importlib.import_module("flatbuffers")
        sub = self.s.SubGraphT()
        sub.tensors, sub.operators = self.tensors, self.ops
        sub.inputs, sub.outputs, sub.name = inputs, outputs, "main"
        model = self.s.ModelT()
        model.version = 3
        model.description = "modelport ONNX to TFLite"
        model.subgraphs = [sub]
        model.buffers = self.buffers
        model.operatorCodes = []
        for code in self.codes:
            oc = self.s.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
            model.operatorCodes.append(oc)
        builder = flatbuffers.Builder(1 << 20)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())
