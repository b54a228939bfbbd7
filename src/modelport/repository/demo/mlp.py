"""A two-layer perceptron: the smallest batched demo model, for quick requests and tests."""

from __future__ import annotations

import numpy as np
import onnx

from modelport.repository.demo.config import DemoConfig, DynamicBatching, TensorSpec
from modelport.repository.demo.graph import GraphBuilder

SEED = 10
FEATURES = 64
HIDDEN = 128
CLASSES = 10

CONFIG = DemoConfig(
    name="mlp",
    max_batch_size=64,
    inputs=(TensorSpec("input", "FP32", (FEATURES,)),),
    outputs=(TensorSpec("output", "FP32", (CLASSES,)),),
    dynamic_batching=DynamicBatching(),
)


def build_mlp() -> onnx.ModelProto:
    """The mlp demo model: ``input`` FP32 [batch, 64] -> ``output`` FP32 [batch, 10]."""
    rng = np.random.RandomState(SEED)
    g = GraphBuilder(CONFIG)
    hidden = g.op("Relu", _dense(g, rng, "input", "fc1", FEATURES, HIDDEN))
    _dense(g, rng, hidden, "fc2", HIDDEN, CLASSES, out="output")
    return g.build("A 64 -> 128 -> 10 perceptron with random weights (modelport demo).")


def _dense(
    g: GraphBuilder,
    rng: np.random.RandomState,
    x: str,
    name: str,
    n_in: int,
    n_out: int,
    out: str | None = None,
) -> str:
    weight = rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)  # He init, [out, in]
    bias = rng.normal(0.0, 0.1, n_out)
    w, b = g.weight(f"{name}.weight", weight), g.weight(f"{name}.bias", bias)
    return g.op("Gemm", x, w, b, out=out, transB=1)
