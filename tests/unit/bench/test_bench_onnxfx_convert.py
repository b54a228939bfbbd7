"""The converter as a whole: what it refuses and why, external weights, precision, names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnxfx_helpers import assert_matches, fx_run, make_model, ort_run  # noqa: E402

from modelport.bench.onnxfx import convert, convert_file, unsupported_ops  # noqa: E402
from modelport.errors import RuntimeUnavailable  # noqa: E402

n = helper.make_node
rng = np.random.default_rng(1)


def test_unsupported_operators_are_all_named_in_one_line() -> None:
    """Every operator without a rule is listed at once, with the way out."""
    nodes = [n("Relu", ["x"], ["r"]), n("NonZero", ["r"], ["z"]),
             n("FusedGemm", ["r", "r"], ["y"], domain="com.microsoft")]  # fmt: skip
    model = make_model(nodes, {"x": np.zeros((2, 2), np.float32)}, ["y"])
    assert unsupported_ops(model) == ["NonZero", "com.microsoft.FusedGemm"]
    with pytest.raises(RuntimeUnavailable) as err:
        convert(model)
    message = str(err.value)
    assert "does not support NonZero, com.microsoft.FusedGemm" in message
    assert "\n" not in message and "other runtimes" in message


def test_a_node_that_cannot_be_converted_is_named() -> None:
    """An unsupported use of a known operator names the node and the reason."""
    node = n("MaxPool", ["x"], ["y", "idx"], kernel_shape=[2, 2], name="pool1")
    model = make_model([node, n("Identity", ["idx"], ["out"])],
                       {"x": np.zeros((1, 1, 4, 4), np.float32)}, ["out"])  # fmt: skip
    with pytest.raises(RuntimeUnavailable, match="MaxPool node 'pool1': only the first output"):
        convert(model)


def test_opset_19_shape_with_start_and_end() -> None:
    """Shape(start, end) at opset 19, as torch.onnx.export writes it, feeds a Reshape."""
    nodes = [n("Shape", ["x"], ["head"], start=0, end=1), n("Shape", ["x"], ["tail"], start=-1),
             n("Concat", ["head", "minus1", "tail"], ["s"], axis=0),
             n("Reshape", ["x", "s"], ["y"], allowzero=1)]  # fmt: skip
    inputs = {"x": rng.random((2, 3, 4, 5), dtype=np.float32)}
    model = make_model(nodes, inputs, ["y"], {"minus1": np.array([-1], np.int64)}, opset=19)
    module = assert_matches(model, inputs)
    assert "tolist" not in module.code


def test_unknown_rank_falls_back_to_run_time_shapes() -> None:
    """Without shape information the shape is read as a tensor at run time, still correct."""
    graph = helper.make_graph(
        [n("Shape", ["x"], ["s"]), n("Reshape", ["x", "s"], ["r"]), n("Relu", ["r"], ["y"])],
        "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
        [helper.make_empty_tensor_value_info("y")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    module = assert_matches(model, {"x": rng.random((2, 5), dtype=np.float32) - 0.5})
    assert "shape_tensor" in module.code


def _mlp(with_cast: bool) -> Any:
    w = numpy_helper.from_array(rng.standard_normal((8, 4)).astype(np.float32), "w")
    nodes = [n("MatMul", ["x", "w"], ["h"])]
    if with_cast:
        nodes += [
            n("Cast", ["ids"], ["idsf"], to=TensorProto.FLOAT),
            n("Add", ["h", "idsf"], ["y"]),
        ]
    else:
        nodes += [n("Relu", ["h"], ["y"])]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])]
    if with_cast:
        inputs.append(helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 4]))
    graph = helper.make_graph(nodes, "mlp", inputs, [helper.make_empty_tensor_value_info("y")], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    return model


def test_external_weights_are_loaded_from_beside_the_file(tmp_path: Path) -> None:
    """A model saved with external data (as torch.onnx.export does) converts from its file."""
    model = _mlp(with_cast=False)
    feeds = {"x": rng.random((3, 8), dtype=np.float32)}
    expected = ort_run(model, feeds)[0]
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="model.onnx.data", size_threshold=0)  # fmt: skip
    assert (tmp_path / "model.onnx.data").stat().st_size == 8 * 4 * 4
    converted = convert_file(path)
    assert converted.inputs == ("x",) and converted.outputs == ("y",)
    np.testing.assert_allclose(fx_run(converted.module, feeds)[0], expected, atol=1e-5)


def test_every_float_runs_in_the_requested_precision() -> None:
    """At bf16, weights and Cast-to-float both become bf16, so mixed graphs still run."""
    model = _mlp(with_cast=True)
    module = convert(model, torch.bfloat16)
    assert {b.dtype for b in module.buffers()} == {torch.bfloat16}
    x = torch.from_numpy(rng.random((2, 8), dtype=np.float32)).to(torch.bfloat16)
    ids = torch.arange(8, dtype=torch.int64).reshape(2, 4)
    with torch.inference_mode():
        out = module(x, ids)
    reference = ort_run(model, {"x": x.float().numpy(), "ids": ids.numpy()})[0]
    assert out.dtype == torch.bfloat16
    np.testing.assert_allclose(out.float().numpy(), reference, atol=0.25, rtol=2e-2)


def test_odd_input_names_and_initializers_listed_as_inputs(tmp_path: Path) -> None:
    """Names like 'input.1' are fine, and initializers in graph.input are not inputs."""
    w = numpy_helper.from_array(np.eye(3, dtype=np.float32), "0")
    graph = helper.make_graph(
        [n("MatMul", ["input.1", "0"], ["out:0"])],
        "legacy",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3]),
         helper.make_tensor_value_info("0", TensorProto.FLOAT, [3, 3])],
        [helper.make_tensor_value_info("out:0", TensorProto.FLOAT, [1, 3])],
        [w],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    path = tmp_path / "legacy.onnx"
    onnx.save(model, str(path))
    converted = convert_file(path)
    assert converted.inputs == ("input.1",) and converted.outputs == ("out:0",)
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    np.testing.assert_array_equal(fx_run(converted.module, {"input.1": x})[0], x)


def test_a_shape_can_be_a_graph_output() -> None:
    """Values known while converting (a shape, a constant) come out as tensors too."""
    nodes = [n("Shape", ["x"], ["s"]), n("Relu", ["x"], ["r"])]
    inputs = {"x": rng.random((2, 3), dtype=np.float32)}
    assert_matches(make_model(nodes, inputs, ["s", "r"]), inputs)
