"""ONNX Runtime run errors told apart and worded, against real sessions on real graphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from modelport.errors import BackendError, ComputeFailed, InvalidInput
from modelport.runtime.orterrors import feeding_inputs, run_error


def _embedding_and_add(path: Path) -> Path:
    """ids -> Gather(table[10, 4]) -> emb; emb + other -> sum: two inputs, two failure kinds."""
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, ["b", "s"])
    other = helper.make_tensor_value_info("other", TensorProto.FLOAT, ["b", "t", 4])
    out = helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["b", "s", 4])
    table = helper.make_tensor("table", TensorProto.FLOAT, [10, 4],
                               np.arange(40, dtype=np.float32).tolist())
    nodes = [helper.make_node("Gather", ["table", "ids"], ["emb"], name="embed/Gather"),
             helper.make_node("Add", ["emb", "other"], ["sum"], name="mix/Add")]
    graph = helper.make_graph(nodes, "g", [ids, other], [out], initializer=[table])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _fail(path: Path, feed: dict[str, np.ndarray]) -> Exception:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    try:
        session.run(None, feed)
    except Exception as exc:
        return run_error(exc, "toy", path, feed)
    raise AssertionError("the session did not fail")


def test_feeding_inputs_follow_the_graph(tmp_path: Path) -> None:
    """A node depends on the graph inputs upstream of it, initializers excluded."""
    path = _embedding_and_add(tmp_path / "m.onnx")
    assert feeding_inputs(path, "embed/Gather") == ("ids",)
    assert feeding_inputs(path, "mix/Add") == ("ids", "other")
    assert feeding_inputs(path, "no such node") == ()


def test_index_out_of_range_names_the_model_and_the_input(tmp_path: Path) -> None:
    """An out-of-range id is a compute failure whose first sentence names model and input."""
    path = _embedding_and_add(tmp_path / "m.onnx")
    error = _fail(path, {"ids": np.array([[1, 50]], dtype=np.int64),
                         "other": np.zeros((1, 2, 4), np.float32)})
    assert isinstance(error, ComputeFailed)
    text = str(error)
    assert text.startswith("model 'toy' cannot compute this request: input 'ids' [1, 2] made "
                           "node 'embed/Gather' (Gather) fail: ")
    assert "[ONNXRuntimeError]" not in text


def test_shapes_that_disagree_name_both_inputs(tmp_path: Path) -> None:
    """Inputs whose lengths disagree fail in the node that combines them; both are named,
    with their shapes, and no source-file location of ONNX Runtime survives."""
    path = _embedding_and_add(tmp_path / "m.onnx")
    error = _fail(path, {"ids": np.array([[1, 2, 3]], dtype=np.int64),
                         "other": np.zeros((1, 2, 4), np.float32)})
    assert isinstance(error, ComputeFailed)
    assert "inputs 'ids' [1, 3] and 'other' [1, 2, 4] made node 'mix/Add' (Add) fail" in str(error)
    assert ".cc:" not in str(error) and ".h:" not in str(error)


def test_rejected_input_before_running_is_invalid_input(tmp_path: Path) -> None:
    """A wrong rank is refused by ONNX Runtime before any node runs: the request's fault."""
    path = _embedding_and_add(tmp_path / "m.onnx")
    error = _fail(path, {"ids": np.array([1, 2], dtype=np.int64),
                         "other": np.zeros((1, 2, 4), np.float32)})
    assert isinstance(error, InvalidInput)
    assert str(error).startswith("model 'toy' rejected the request: ")


@pytest.mark.parametrize("text", [
    "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running "
    "MatMul node. Name:'m' Status Message: std::bad_alloc",
    "[ONNXRuntimeError] : 1 : FAIL : Failed to allocate memory for requested buffer of size 8",
])
def test_resource_failures_are_the_servers(text: str) -> None:
    """Allocation failures are BackendError (500), never blamed on the request."""
    error = run_error(RuntimeError(text), "toy", None, {})
    assert type(error) is BackendError
