"""Batch-norm folding, on its own and as the demo ResNet's stem uses it."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from modelport.repository.demo import BatchNorm, fold_batch_norm
from modelport.repository.demo.graph import IR_VERSION, OPSET
from modelport.repository.demo.resnet import SEED, build_resnet18, conv_bn_parameters


def _run(nodes: list[onnx.NodeProto], weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    graph = helper.make_graph(
        nodes,
        "check",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    options = ort.SessionOptions()
    # Without this ORT would fold the BatchNormalization itself and test nothing of ours.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    (y,) = session.run(None, {"x": x})
    return np.asarray(y)


def _stem_conv(inputs: list[str], output: str) -> onnx.NodeProto:
    return helper.make_node(
        "Conv", inputs, [output], kernel_shape=[7, 7], strides=[2, 2], pads=[3, 3, 3, 3]
    )


def test_folded_stem_conv_equals_conv_then_batchnorm() -> None:
    """The resnet's folded first conv computes Conv followed by BatchNormalization, within 1e-4."""
    weight, bn = conv_bn_parameters(np.random.RandomState(SEED), 3, 64, 7)
    folded_weight, folded_bias = fold_batch_norm(weight, None, bn)
    shipped = {t.name: numpy_helper.to_array(t) for t in build_resnet18().graph.initializer}
    np.testing.assert_array_equal(shipped["conv1.weight"], folded_weight)
    np.testing.assert_array_equal(shipped["conv1.bias"], folded_bias)

    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64), dtype=np.float32)
    unfolded = _run(
        [
            _stem_conv(["x", "w"], "c"),
            helper.make_node(
                "BatchNormalization",
                ["c", "gamma", "beta", "mean", "var"],
                ["y"],
                epsilon=bn.epsilon,
            ),
        ],
        {"w": weight, "gamma": bn.gamma, "beta": bn.beta, "mean": bn.mean, "var": bn.var},
        x,
    )
    folded = _run(
        [_stem_conv(["x", "w", "b"], "y")],
        {"w": folded_weight, "b": folded_bias},
        x,
    )
    assert unfolded.shape == (2, 64, 32, 32)
    assert np.abs(unfolded).max() > 1.0
    np.testing.assert_allclose(folded, unfolded, rtol=1e-4, atol=1e-4)


def test_folding_keeps_an_existing_bias() -> None:
    """A layer's own bias is shifted and scaled with the norm (checked on a linear layer)."""
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((5, 3)).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32)
    bn = BatchNorm(
        gamma=np.array([0.5, 1, 2, 1, 1], np.float32),
        beta=np.array([0, 1, 0, -1, 0], np.float32),
        mean=np.array([1, 0, 0, 2, 0], np.float32),
        var=np.array([4, 1, 0.25, 1, 9], np.float32),
        epsilon=0.0,
    )
    x = rng.standard_normal((7, 3)).astype(np.float32)
    expected = bn.gamma * (x @ weight.T + bias - bn.mean) / np.sqrt(bn.var) + bn.beta
    folded_weight, folded_bias = fold_batch_norm(weight, bias, bn)
    assert folded_weight.dtype == folded_bias.dtype == np.float32
    np.testing.assert_allclose(x @ folded_weight.T + folded_bias, expected, rtol=1e-5, atol=1e-5)
