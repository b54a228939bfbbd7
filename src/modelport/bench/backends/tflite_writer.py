"""Convert a small ONNX CNN or MLP to a TFLite flatbuffer, with the same weights.

Covers what the demo models use (Conv, Relu, Add, MaxPool, GlobalAveragePool, Flatten, Gemm,
MatMul with constant weights). Activations run channels-last inside the model: a TRANSPOSE
turns the NCHW input into NHWC, so callers feed exactly what ONNX Runtime gets. ONNX's explicit
pads become PAD/PADV2 before a VALID convolution or pool, because TFLite's SAME padding puts the
odd pixel on the other side. The batch dimension stays dynamic (shape signature -1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelport.bench.backends.tflite_graph import Shape, TfliteGraph
from modelport.errors import RuntimeUnavailable


class OnnxToTflite:
    """Walks an ONNX graph in order, emitting TFLite operators."""

    def __init__(self, model: Any) -> None:
        from onnx import numpy_helper

        self.g = TfliteGraph()
        self.s = self.g.s
        self.graph = model.graph
        self.consts = {i.name: numpy_helper.to_array(i) for i in self.graph.initializer}
        self.ids: dict[str, int] = {}
        self.layout: dict[str, str] = {}  # "nhwc" for 4-D activations
        self.consumers: dict[str, int] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers[name] = self.consumers.get(name, 0) + 1
        self.fused: set[str] = set()  # Relu nodes folded into the op before them

    def convert(self) -> bytes:
        """Convert the whole graph."""
        inputs = [self._graph_input(v) for v in self.graph.input if v.name not in self.consts]
        nodes = list(self.graph.node)
        for i, node in enumerate(nodes):
            if node.output[0] in self.fused:
                continue
            relu = self._fusable_relu(node, nodes[i + 1] if i + 1 < len(nodes) else None)
            handler = getattr(self, f"_op_{node.op_type}", None)
            if handler is None:
                raise RuntimeUnavailable(f"LiteRT conversion does not support ONNX {node.op_type}")
            handler(node, relu)
        outputs = [self._graph_output(v.name) for v in self.graph.output]
        return self.g.serialize(inputs, outputs)

    def _fusable_relu(self, node: Any, nxt: Any) -> str | None:
        if node.op_type not in ("Conv", "Add", "Gemm") or nxt is None or nxt.op_type != "Relu":
            return None
        if nxt.input[0] != node.output[0] or self.consumers.get(node.output[0]) != 1:
            return None
        self.fused.add(nxt.output[0])
        return str(nxt.output[0])

    def _dims(self, value: Any) -> Shape:
        dims = value.type.tensor_type.shape.dim
        return tuple(d.dim_value if d.HasField("dim_value") else 1 for d in dims)

    def _graph_input(self, value: Any) -> int:
        shape = self._dims(value)
        idx = self.g.tensor(value.name, shape)
        self.ids[value.name] = idx
        if len(shape) == 4:
            n, c, h, w = shape
            out = self.g.tensor(f"{value.name}_nhwc", (n, h, w, c))
            perm = self.g.tensor(f"{value.name}_perm", (4,), np.array([0, 2, 3, 1]))
            self._transpose(idx, perm, out)
            self.ids[value.name], self.layout[value.name] = out, "nhwc"
        return idx

    def _graph_output(self, name: str) -> int:
        idx = self.ids[name]
        if self.layout.get(name) == "nhwc":
            n, h, w, c = self.g.shapes[idx]
            out = self.g.tensor(f"{name}_nchw", (n, c, h, w))
            perm = self.g.tensor(f"{name}_perm", (4,), np.array([0, 3, 1, 2]))
            self._transpose(idx, perm, out)
            idx = out
        self.g.tensors[idx].name = name
        return idx

    def _transpose(self, x: int, perm: int, out: int) -> None:
        options = self.s.TransposeOptionsT()
        kind = self.s.BuiltinOptions.TransposeOptions
        self.g.op(self.s.BuiltinOperator.TRANSPOSE, [x, perm], [out], kind, options)

    def _attrs(self, node: Any) -> dict[str, Any]:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def _act(self, relu: str | None) -> int:
        kind = self.s.ActivationFunctionType
        return int(kind.RELU if relu else kind.NONE)

    def _emit_out(self, node: Any, relu: str | None, shape: Shape, layout: str = "") -> int:
        name = relu or node.output[0]
        idx = self.g.tensor(name, shape)
        for alias in {node.output[0], name}:
            self.ids[alias] = idx
            if layout:
                self.layout[alias] = layout
        return idx

    def _pad(self, x: int, pads: list[int], value: float | None) -> int:
        top, left, bottom, right = pads
        n, h, w, c = self.g.shapes[x]
        out = self.g.tensor(f"pad_{len(self.g.ops)}", (n, h + top + bottom, w + left + right, c))
        table = np.array([[0, 0], [top, bottom], [left, right], [0, 0]])
        paddings = self.g.tensor(f"paddings_{len(self.g.ops)}", (4, 2), table)
        if value is None:
            self.g.op(self.s.BuiltinOperator.PAD, [x, paddings], [out],
                      self.s.BuiltinOptions.PadOptions, self.s.PadOptionsT())  # fmt: skip
        else:
            const = self.g.tensor(f"padvalue_{len(self.g.ops)}", (1,), np.array([value]))
            self.g.tensors[const].shape = []
            self.g.op(self.s.BuiltinOperator.PADV2, [x, paddings, const], [out],
                      self.s.BuiltinOptions.PadV2Options, self.s.PadV2OptionsT())  # fmt: skip
        return out

    def _op_Conv(self, node: Any, relu: str | None) -> None:
        a = self._attrs(node)
        if a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])):
            raise RuntimeUnavailable("LiteRT conversion supports plain (group=1) Conv only")
        x = self.ids[node.input[0]]
        weight = self.consts[node.input[1]]  # [O, I, kh, kw]
        bias = self.consts[node.input[2]] if len(node.input) > 2 else np.zeros(weight.shape[0])
        pads = list(a.get("pads", [0, 0, 0, 0]))
        if any(pads):
            x = self._pad(x, pads, None)
        sh, sw = a.get("strides", [1, 1])
        n, h, w, _ = self.g.shapes[x]
        kh, kw = weight.shape[2:]
        out_shape = (n, (h - kh) // sh + 1, (w - kw) // sw + 1, weight.shape[0])
        wt = self.g.tensor(f"{node.input[1]}_ohwi", tuple(np.transpose(weight, (0, 2, 3, 1)).shape),
                           np.transpose(weight, (0, 2, 3, 1)))  # fmt: skip
        b = self.g.tensor(f"{node.output[0]}_bias", (weight.shape[0],), bias.astype(np.float32))
        out = self._emit_out(node, relu, out_shape, "nhwc")
        opts = self.s.Conv2DOptionsT()
        opts.padding, opts.strideH, opts.strideW = self.s.Padding.VALID, sh, sw
        opts.dilationHFactor = opts.dilationWFactor = 1
        opts.fusedActivationFunction = self._act(relu)
        self.g.op(self.s.BuiltinOperator.CONV_2D, [x, wt, b], [out],
                  self.s.BuiltinOptions.Conv2DOptions, opts)  # fmt: skip

    def _op_Relu(self, node: Any, relu: str | None) -> None:
        x = self.ids[node.input[0]]
        out = self._emit_out(node, None, self.g.shapes[x], self.layout.get(node.input[0], ""))
        self.g.op(self.s.BuiltinOperator.RELU, [x], [out])

    def _op_Add(self, node: Any, relu: str | None) -> None:
        if any(i in self.consts for i in node.input):
            raise RuntimeUnavailable("LiteRT conversion supports Add of two activations only")
        x, y = (self.ids[i] for i in node.input)
        out = self._emit_out(node, relu, self.g.shapes[x], self.layout.get(node.input[0], ""))
        opts = self.s.AddOptionsT()
        opts.fusedActivationFunction = self._act(relu)
        self.g.op(self.s.BuiltinOperator.ADD, [x, y], [out],
                  self.s.BuiltinOptions.AddOptions, opts)  # fmt: skip

    def _op_MaxPool(self, node: Any, relu: str | None) -> None:
        a = self._attrs(node)
        x = self.ids[node.input[0]]
        pads = list(a.get("pads", [0, 0, 0, 0]))
        if any(pads):
            x = self._pad(x, pads, float(np.finfo(np.float32).min))
        kh, kw = a["kernel_shape"]
        sh, sw = a.get("strides", [1, 1])
        n, h, w, c = self.g.shapes[x]
        out = self._emit_out(node, None, (n, (h - kh) // sh + 1, (w - kw) // sw + 1, c), "nhwc")
        opts = self.s.Pool2DOptionsT()
        opts.padding, opts.strideH, opts.strideW = self.s.Padding.VALID, sh, sw
        opts.filterHeight, opts.filterWidth = kh, kw
        self.g.op(self.s.BuiltinOperator.MAX_POOL_2D, [x], [out],
                  self.s.BuiltinOptions.Pool2DOptions, opts)  # fmt: skip

    def _op_GlobalAveragePool(self, node: Any, relu: str | None) -> None:
        x = self.ids[node.input[0]]
        n, _, _, c = self.g.shapes[x]
        axes = self.g.tensor(f"{node.output[0]}_axes", (2,), np.array([1, 2]))
        out = self._emit_out(node, None, (n, 1, 1, c), "nhwc")
        opts = self.s.ReducerOptionsT()
        opts.keepDims = True
        self.g.op(self.s.BuiltinOperator.MEAN, [x, axes], [out],
                  self.s.BuiltinOptions.ReducerOptions, opts)  # fmt: skip

    def _op_Flatten(self, node: Any, relu: str | None) -> None:
        if self._attrs(node).get("axis", 1) != 1:
            raise RuntimeUnavailable("LiteRT conversion supports Flatten(axis=1) only")
        x = self.ids[node.input[0]]
        shape = self.g.shapes[x]
        if self.layout.get(node.input[0]) == "nhwc" and shape[1:3] != (1, 1):
            raise RuntimeUnavailable("LiteRT conversion flattens only 1x1 feature maps")
        size = int(np.prod(shape[1:]))
        new_shape = self.g.tensor(f"{node.output[0]}_shape", (2,), np.array([-1, size]))
        out = self._emit_out(node, None, (shape[0], size))
        opts = self.s.ReshapeOptionsT()
        opts.newShape = [-1, size]
        self.g.op(self.s.BuiltinOperator.RESHAPE, [x, new_shape], [out],
                  self.s.BuiltinOptions.ReshapeOptions, opts)  # fmt: skip

    def _op_Gemm(self, node: Any, relu: str | None) -> None:
        a = self._attrs(node)
        if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
            raise RuntimeUnavailable("LiteRT conversion supports Gemm without transA/alpha/beta")
        weight = self.consts.get(node.input[1])
        if weight is None:
            raise RuntimeUnavailable("LiteRT conversion needs constant Gemm/MatMul weights")
        weight = weight if a.get("transB", 0) else weight.T  # FULLY_CONNECTED wants [out, in]
        bias = self.consts[node.input[2]] if len(node.input) > 2 else np.zeros(weight.shape[0])
        self._fully_connected(node, relu, weight, bias)

    def _op_MatMul(self, node: Any, relu: str | None) -> None:
        weight = self.consts.get(node.input[1])
        if weight is None or weight.ndim != 2:
            raise RuntimeUnavailable("LiteRT conversion needs constant 2-D MatMul weights")
        self._fully_connected(node, relu, weight.T, np.zeros(weight.shape[1]))

    def _fully_connected(self, node: Any, relu: str | None, weight: Any, bias: Any) -> None:
        x = self.ids[node.input[0]]
        wt = self.g.tensor(f"{node.input[1]}_fc", tuple(weight.shape), weight)
        b = self.g.tensor(f"{node.output[0]}_bias", (weight.shape[0],), bias.astype(np.float32))
        out = self._emit_out(node, relu, (self.g.shapes[x][0], weight.shape[0]))
        opts = self.s.FullyConnectedOptionsT()
        opts.fusedActivationFunction = self._act(relu)
        self.g.op(self.s.BuiltinOperator.FULLY_CONNECTED, [x, wt, b], [out],
                  self.s.BuiltinOptions.FullyConnectedOptions, opts)  # fmt: skip


def convert_onnx_to_tflite(onnx_path: Path, tflite_path: Path) -> Path:
    """Write the TFLite version of an ONNX model and return its path.

    Raises:
        RuntimeUnavailable: the graph uses an operator this converter does not handle.
    """
    import onnx

    model = onnx.load(str(onnx_path))
    tflite_path.write_bytes(OnnxToTflite(model).convert())
    return tflite_path
