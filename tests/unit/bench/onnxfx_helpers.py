"""Build small ONNX graphs, convert them with onnxfx and compare with ONNX Runtime."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

Arrays = dict[str, np.ndarray[Any, Any]]


def make_model(
    nodes: Sequence[Any],
    inputs: Arrays,
    outputs: Sequence[str],
    initializers: Arrays | None = None,
    opset: int = 17,
    dynamic: bool = True,
) -> Any:
    """A model of ``nodes`` whose graph inputs have the dtypes (and, unless ``dynamic``, the
    shapes) of ``inputs``; dynamic inputs get symbolic dims of the right rank."""
    from onnx import helper, numpy_helper

    def info(name: str, array: np.ndarray[Any, Any]) -> Any:
        elem = helper.np_dtype_to_tensor_dtype(array.dtype)
        dims = [f"{name}_d{i}" for i in range(array.ndim)] if dynamic else list(array.shape)
        return helper.make_tensor_value_info(name, elem, dims)

    graph = helper.make_graph(
        list(nodes),
        "t",
        [info(name, value) for name, value in inputs.items()],
        [helper.make_empty_tensor_value_info(name) for name in outputs],
        [numpy_helper.from_array(v, k) for k, v in (initializers or {}).items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def ort_run(model: Any, inputs: Arrays) -> list[np.ndarray[Any, Any]]:
    """The reference: ONNX Runtime without graph optimisations."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options)
    return list(session.run(None, inputs))


def fx_run(module: Any, inputs: Arrays) -> list[np.ndarray[Any, Any]]:
    """Run a converted module on numpy inputs; outputs as numpy."""
    import torch

    with torch.inference_mode():
        out = module(*[torch.from_numpy(np.ascontiguousarray(v)) for v in inputs.values()])
    values = out if isinstance(out, tuple) else (out,)
    return [v.numpy() for v in values]


def assert_matches(model: Any, inputs: Arrays, atol: float = 1e-5) -> Any:
    """Convert ``model``; its outputs equal ONNX Runtime's in dtype, shape and value."""
    from modelport.bench.onnxfx import convert

    module = convert(model)
    expected, got = ort_run(model, inputs), fx_run(module, inputs)
    assert len(got) == len(expected)
    for e, g in zip(expected, got, strict=True):
        assert g.dtype == e.dtype, (g.dtype, e.dtype)
        assert g.shape == e.shape, (g.shape, e.shape)
        np.testing.assert_allclose(g, e, atol=atol, rtol=1e-5)
    return module


def save(model: Any, path: Path) -> Path:
    """Write ``model`` to ``path``."""
    import onnx

    onnx.save(model, str(path))
    return path
