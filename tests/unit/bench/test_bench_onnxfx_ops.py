"""Each operator family of the ONNX-to-torch converter against ONNX Runtime on small graphs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
from onnx import TensorProto, helper
from onnxfx_helpers import assert_matches, make_model

rng = np.random.default_rng(0)
n = helper.make_node


def f32(*shape: int) -> np.ndarray[Any, Any]:
    """Seeded float32 values in [-2, 2)."""
    return (rng.random(shape, dtype=np.float32) * 4 - 2).astype(np.float32)


def i64(*values: int) -> np.ndarray[Any, Any]:
    """An int64 vector."""
    return np.array(values, dtype=np.int64)


X = {"x": f32(2, 3, 4, 5)}
# (id, nodes, inputs, initializers, opset)
CASES: list[tuple[str, list[Any], dict[str, Any], dict[str, Any], int]] = [
    ("add-broadcast", [n("Add", ["x", "b"], ["y"])], X, {"b": f32(5)}, 17),
    ("sub-scalar-first", [n("Sub", ["s", "x"], ["y"])], X, {"s": np.array(1.5, np.float32)}, 17),
    (
        "div-int-truncates",
        [n("Div", ["a", "b"], ["y"])],
        {"a": i64(-7, 7, 9), "b": i64(2, -2, 4)},
        {},
        17,
    ),
    (
        "pow-max-min-mean",
        [
            n("Pow", ["x", "e"], ["p"]),
            n("Max", ["x", "p"], ["m"]),
            n("Mean", ["m", "x", "p"], ["y"]),
        ],
        X,
        {"e": np.array(2.0, np.float32)},
        17,
    ),
    (
        "compare-where",
        [n("Greater", ["x", "z"], ["c"]), n("Where", ["c", "x", "z"], ["y"])],
        X,
        {"z": np.zeros(1, np.float32)},
        17,
    ),
    (
        "mod-fmod",
        [n("Mod", ["a", "b"], ["y"], fmod=1)],
        {"a": f32(6)},
        {"b": np.full(6, 0.7, np.float32)},
        17,
    ),
    (
        "unary-chain",
        [
            n("Abs", ["x"], ["a"]),
            n("Sqrt", ["a"], ["b"]),
            n("Erf", ["b"], ["c"]),
            n("Tanh", ["c"], ["d"]),
            n("Sigmoid", ["d"], ["y"]),
        ],
        X,
        {},
        17,
    ),
    (
        "activations",
        [
            n("LeakyRelu", ["x"], ["a"], alpha=0.2),
            n("HardSigmoid", ["a"], ["b"]),
            n("Elu", ["x"], ["c"], alpha=0.5),
            n("Add", ["b", "c"], ["y"]),
        ],
        X,
        {},
        17,
    ),
    ("gelu-tanh-opset20", [n("Gelu", ["x"], ["y"], approximate="tanh")], X, {}, 20),
    ("prelu-broadcast", [n("PRelu", ["x", "s"], ["y"])], X, {"s": f32(3, 1, 1)}, 17),
    (
        "clip-inputs",
        [n("Clip", ["x", "lo", "hi"], ["y"])],
        X,
        {"lo": np.array(-0.5, np.float32), "hi": np.array(0.5, np.float32)},
        17,
    ),
    ("clip-attrs-opset6", [n("Clip", ["x"], ["y"], min=-0.5, max=0.25)], X, {}, 6),
    ("softmax-opset13-axis1", [n("Softmax", ["x"], ["y"], axis=1)], X, {}, 13),
    ("softmax-legacy-flattens", [n("Softmax", ["x"], ["y"], axis=1)], X, {}, 11),
    ("logsoftmax", [n("LogSoftmax", ["x"], ["y"], axis=-1)], X, {}, 17),
    ("reshape-zero-copies", [n("Reshape", ["x", "s"], ["y"])], X, {"s": i64(0, -1, 5)}, 17),
    (
        "reshape-allowzero",
        [n("Reshape", ["x", "s"], ["y"], allowzero=1)],
        X,
        {"s": i64(6, 4, 5)},
        17,
    ),
    ("flatten-axis2", [n("Flatten", ["x"], ["y"], axis=2)], X, {}, 17),
    ("flatten-axis0", [n("Flatten", ["x"], ["y"], axis=0)], X, {}, 17),
    ("transpose-default", [n("Transpose", ["x"], ["y"])], X, {}, 17),
    (
        "squeeze-unsqueeze-opset11",
        [n("Unsqueeze", ["x"], ["u"], axes=[0, -1]), n("Squeeze", ["u"], ["y"], axes=[0])],
        X,
        {},
        11,
    ),
    ("unsqueeze-many", [n("Unsqueeze", ["x", "a"], ["y"])], X, {"a": i64(1, -1, 0)}, 17),
    (
        "concat-split-sizes",
        [n("Concat", ["x", "x"], ["c"], axis=-1), n("Split", ["c", "s"], ["y1", "y2"], axis=3)],
        X,
        {"s": i64(3, 7)},
        17,
    ),
    ("split-num-outputs", [n("Split", ["x"], ["y1", "y2"], axis=3, num_outputs=2)], X, {}, 18),
    ("split-even-opset11", [n("Split", ["x"], ["y1", "y2"], axis=2)], X, {}, 11),
    (
        "slice-negative-step",
        [n("Slice", ["x", "st", "en", "ax", "sp"], ["y"])],
        X,
        {
            "st": i64(-1, 1),
            "en": i64(-9_223_372_036_854_775_807, 5),
            "ax": i64(3, 2),
            "sp": i64(-2, 2),
        },
        17,
    ),
    ("slice-opset9-attrs", [n("Slice", ["x"], ["y"], starts=[1], ends=[100], axes=[1])], X, {}, 9),
    (
        "gather-negative-indices",
        [n("Gather", ["x", "i"], ["y"], axis=1)],
        X,
        {"i": np.array([[0, -1], [2, 1]], np.int64)},
        17,
    ),
    (
        "gather-scalar-select",
        [n("Gather", ["x", "i"], ["y"], axis=-1)],
        X,
        {"i": np.array(-2, np.int64)},
        17,
    ),
    (
        "gather-elements",
        [n("GatherElements", ["x", "i"], ["y"], axis=2)],
        X,
        {"i": rng.integers(-4, 4, (2, 3, 4, 5)).astype(np.int64)},
        17,
    ),
    (
        "expand-bidirectional",
        [n("Expand", ["v", "s"], ["y"])],
        {"v": f32(3, 1)},
        {"s": i64(2, 1, 4)},
        17,
    ),
    ("tile", [n("Tile", ["x", "r"], ["y"])], X, {"r": i64(1, 2, 1, 3)}, 17),
    (
        "reduce-mean-opset18-input",
        [n("ReduceMean", ["x", "a"], ["y"], keepdims=0)],
        X,
        {"a": i64(-1, 1)},
        18,
    ),
    (
        "reduce-attrs-opset13",
        [
            n("ReduceMax", ["x"], ["m"], axes=[2]),
            n("ReduceL2", ["x"], ["l"], axes=[1, 3], keepdims=0),
            n("ReduceProd", ["x"], ["p"], axes=[3, 1]),
        ],
        X,
        {},
        13,
    ),
    (
        "reduce-all-and-noop",
        [
            n("ReduceSum", ["x"], ["s"], keepdims=0),
            n("ReduceLogSumExp", ["x"], ["e"]),
            n("ReduceSum", ["x", "empty"], ["y"], noop_with_empty_axes=1),
        ],
        X,
        {"empty": i64()},
        18,
    ),
    (
        "argmax-last-index",
        [n("ArgMax", ["r"], ["y"], axis=1, select_last_index=1)],
        {"r": np.array([[1, 3, 3], [2, 2, 0]], np.float32)},
        {},
        17,
    ),
    (
        "cumsum-exclusive-reverse",
        [n("CumSum", ["x", "a"], ["y"], exclusive=1, reverse=1)],
        X,
        {"a": np.array(2, np.int64)},
        17,
    ),
    ("topk", [n("TopK", ["x", "k"], ["v", "i"], axis=2)], X, {"k": i64(2)}, 17),
    (
        "cast-constantofshape-range",
        [
            n("Shape", ["x"], ["s"]),
            n(
                "ConstantOfShape",
                ["s"],
                ["z"],
                value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5]),
            ),
            n("Add", ["z", "x"], ["a"]),
            n("Gather", ["s", "three"], ["d"]),
            n("Range", ["zero", "d", "one"], ["r"]),
            n("Cast", ["r"], ["rf"], to=TensorProto.FLOAT),
            n("Add", ["a", "rf"], ["y"]),
        ],
        X,
        {
            "three": np.array(3, np.int64),
            "zero": np.array(0, np.int64),
            "one": np.array(1, np.int64),
        },
        17,
    ),
    ("trilu-lower", [n("Trilu", ["x", "k"], ["y"], upper=0)], X, {"k": np.array(1, np.int64)}, 17),
    (
        "einsum",
        [n("Einsum", ["x", "w"], ["y"], equation="bchw, wk -> bchk")],
        X,
        {"w": f32(5, 2)},
        17,
    ),
    ("matmul-batched", [n("MatMul", ["x", "w"], ["y"])], X, {"w": f32(5, 6)}, 17),
    (
        "gemm-transposes-alpha-beta",
        [n("Gemm", ["a", "w", "c"], ["y"], alpha=0.5, beta=2.0, transA=1)],
        {"a": f32(4, 3)},
        {"w": f32(4, 6), "c": f32(3, 6)},
        17,
    ),
    (
        "gemm-linear-row-bias",
        [n("Gemm", ["a", "w", "c"], ["y"], transB=1)],
        {"a": f32(4, 3)},
        {"w": f32(6, 3), "c": f32(1, 6)},
        17,
    ),
    (
        "conv-groups-dilation-uneven-pads",
        [
            n(
                "Conv",
                ["x", "w", "b"],
                ["y"],
                group=3,
                dilations=[2, 1],
                pads=[1, 0, 0, 2],
                strides=[1, 2],
            )
        ],
        {"x": f32(2, 3, 9, 8)},
        {"w": f32(6, 1, 3, 3), "b": f32(6)},
        17,
    ),
    (
        "conv-same-upper",
        [n("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2])],
        {"x": f32(1, 2, 7, 6)},
        {"w": f32(4, 2, 3, 3)},
        17,
    ),
    (
        "conv1d",
        [n("Conv", ["x", "w"], ["y"], pads=[2, 2])],
        {"x": f32(2, 3, 10)},
        {"w": f32(4, 3, 5)},
        17,
    ),
    (
        "conv-transpose",
        [
            n(
                "ConvTranspose",
                ["x", "w", "b"],
                ["y"],
                strides=[2, 2],
                pads=[1, 1, 1, 1],
                output_padding=[1, 1],
            )
        ],
        {"x": f32(1, 4, 5, 5)},
        {"w": f32(4, 2, 3, 3), "b": f32(2)},
        17,
    ),
    (
        "maxpool-ceil-uneven",
        [
            n(
                "MaxPool",
                ["x"],
                ["y"],
                kernel_shape=[3, 3],
                strides=[2, 2],
                pads=[0, 0, 1, 1],
                ceil_mode=1,
            )
        ],
        {"x": f32(1, 2, 8, 8)},
        {},
        17,
    ),
    (
        "averagepool-exclude-pad",
        [n("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
        {"x": f32(1, 2, 6, 6)},
        {},
        17,
    ),
    (
        "global-pools",
        [
            n("GlobalAveragePool", ["x"], ["a"]),
            n("GlobalMaxPool", ["x"], ["b"]),
            n("Add", ["a", "b"], ["y"]),
        ],
        X,
        {},
        17,
    ),
    (
        "batchnorm",
        [n("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3)],
        X,
        {"s": f32(3), "b": f32(3), "m": f32(3), "v": np.abs(f32(3)) + 0.5},
        17,
    ),
    (
        "instancenorm",
        [n("InstanceNormalization", ["x", "s", "b"], ["y"])],
        X,
        {"s": f32(3), "b": f32(3)},
        17,
    ),
    (
        "layernorm-axis-2",
        [n("LayerNormalization", ["x", "s", "b"], ["y"], axis=2)],
        X,
        {"s": f32(4, 5), "b": f32(4, 5)},
        17,
    ),
    (
        "pad-reflect-and-constant",
        [n("Pad", ["x", "p"], ["r"], mode="reflect"), n("Pad", ["r", "p", "v"], ["y"])],
        X,
        {"p": i64(0, 0, 1, 2, 0, 0, 2, 1), "v": np.array(3.0, np.float32)},
        17,
    ),
    (
        "pad-axes-edge-opset18",
        [n("Pad", ["x", "p", "", "a"], ["y"], mode="edge")],
        X,
        {"p": i64(1, 0, 2, 1), "a": i64(-1, 2)},
        18,
    ),
    (
        "pad-negative-crops",
        [n("Pad", ["x", "p"], ["y"])],
        X,
        {"p": i64(0, 0, -1, 0, 0, 0, 0, -2)},
        17,
    ),
    (
        "constant-forms",
        [
            n("Constant", [], ["c"], value_floats=[1.0, 2.0, 3.0, 4.0, 5.0]),
            n("Constant", [], ["k"], value_int=2),
            n("Cast", ["k"], ["kf"], to=1),
            n("Mul", ["x", "c"], ["m"]),
            n("Mul", ["m", "kf"], ["y"]),
        ],
        X,
        {},
        17,
    ),
    ("identity-dropout", [n("Identity", ["x"], ["i"]), n("Dropout", ["i"], ["y"])], X, {}, 17),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_operator_matches_onnxruntime(
    case: tuple[str, list[Any], dict[str, Any], dict[str, Any], int],
) -> None:
    """The converted graph gives ONNX Runtime's dtypes, shapes and values (to 1e-5)."""
    _, nodes, inputs, initializers, opset = case
    outputs = [o for node in nodes[-1:] for o in node.output]
    assert_matches(make_model(nodes, inputs, outputs, initializers, opset), inputs)


def test_shape_arithmetic_stays_python_ints() -> None:
    """Shape -> Gather -> Mul -> Concat -> Reshape becomes x.size() arithmetic, no tensor trip."""
    nodes = [
        n("Shape", ["x"], ["s"]), n("Gather", ["s", "zero"], ["b"]),
        n("Gather", ["s", "one"], ["c"]),
        n("Mul", ["b", "c"], ["bc"]), n("Unsqueeze", ["bc", "axis0"], ["bc1"]),
        n("Slice", ["s", "two", "big"], ["rest"]), n("Concat", ["bc1", "rest"], ["shape"], axis=0),
        n("Reshape", ["x", "shape"], ["y"]),
    ]  # fmt: skip
    init = {"zero": np.array(0, np.int64), "one": np.array(1, np.int64), "axis0": i64(0),
            "two": i64(2), "big": i64(2**63 - 1)}  # fmt: skip
    module = assert_matches(make_model(nodes, X, ["y"], init), X)
    code = module.code
    assert ".size(0)" in code and ".size(1)" in code and " * " in code
    assert "dims_tensor" not in code and "tolist" not in code


def test_constant_subgraphs_are_folded() -> None:
    """Work on initializers alone is done while converting: the module only holds the result."""
    nodes = [n("Transpose", ["w"], ["wt"]), n("Mul", ["wt", "two"], ["w2"]),
             n("MatMul", ["x", "w2"], ["y"])]  # fmt: skip
    inputs = {"x": f32(3, 4)}
    module = assert_matches(
        make_model(nodes, inputs, ["y"], {"w": f32(5, 4), "two": np.array(2.0, np.float32)}), inputs
    )
    calls = [node.target for node in module.graph.nodes if node.op == "call_function"]
    assert [getattr(c, "__name__", "") for c in calls] == ["matmul"]
    assert [tuple(b.shape) for b in module.buffers()] == [(4, 5)]
