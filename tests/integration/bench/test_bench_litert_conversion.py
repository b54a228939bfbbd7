"""The ONNX-to-TFLite conversion on a small CNN with every supported operator and odd padding."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from modelport.bench.backends.base import BackendOptions
from modelport.bench.backends.litert import LiteRtBackend
from modelport.bench.backends.onnxruntime import OnnxRuntimeBackend
from modelport.errors import RuntimeUnavailable

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ai_edge_litert") is None, reason="not installed: ai-edge-litert"
)


def tiny_cnn(path: Path, op: str = "Conv") -> Path:
    """Conv(7x7,s2,p3)+Relu, MaxPool(3x3,s2,p1), residual Conv+Add+Relu, GAP, Flatten, Gemm."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)

    def const(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.2, name)

    inits = [
        const("w0", 8, 3, 7, 7), const("b0", 8), const("w1", 8, 8, 3, 3), const("b1", 8),
        const("fc", 5, 8), const("fcb", 5),
    ]  # fmt: skip
    nodes = [
        helper.make_node(op, ["x", "w0", "b0"], ["c0"], kernel_shape=[7, 7], strides=[2, 2],
                         pads=[3, 3, 3, 3]),
        helper.make_node("Relu", ["c0"], ["r0"]),
        helper.make_node("MaxPool", ["r0"], ["p0"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p0", "w1", "b1"], ["c1"], kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c1", "p0"], ["a1"]),
        helper.make_node("Relu", ["a1"], ["r1"]),
        helper.make_node("GlobalAveragePool", ["r1"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"], transB=1),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes, "tiny_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 30, 30])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_cnn_matches_onnxruntime_at_two_batch_sizes(tmp_path: Path) -> None:
    """Asymmetric-looking stride-2 padding, pooling pads and residuals match ONNX Runtime."""
    model = tiny_cnn(tmp_path / "cnn.onnx")
    options = BackendOptions(threads=1, workdir=tmp_path)
    ort, lite = OnnxRuntimeBackend(), LiteRtBackend()
    ort.load(model, options)
    info = lite.load(model, options)
    assert info.precision == "fp32"
    for batch in (1, 3, 1):
        x = {"x": np.random.default_rng(batch).standard_normal((batch, 3, 30, 30), np.float32)}
        expected, got = ort.run(x)["y"], lite.run(x)["y"]
        assert got.shape == (batch, 5)
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)


def test_unsupported_operator_is_reported(tmp_path: Path) -> None:
    """An operator outside the converter's set makes the runtime unavailable, with its name."""
    model = tiny_cnn(tmp_path / "bad.onnx", op="ConvTranspose")
    with pytest.raises(RuntimeUnavailable, match="ConvTranspose"):
        LiteRtBackend().load(model, BackendOptions(threads=1, workdir=tmp_path))
