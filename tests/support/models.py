"""Small ONNX models and repositories built in tests with onnx.helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from modelport.datatypes import BY_NAME


def identity_model(datatype: str, batch: bool = True, dims: int = 1) -> onnx.ModelProto:
    """``y = Identity(x)`` for one protocol datatype; dims are all dynamic."""
    elem = BY_NAME[datatype].onnx
    shape = ["batch" if batch else "n"] + [f"d{i}" for i in range(dims)]
    x = helper.make_tensor_value_info("x", elem, shape)
    y = helper.make_tensor_value_info("y", elem, shape)
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    return _finish(graph)


def add_model(scale: float = 1.0) -> onnx.ModelProto:
    """``out = a * scale + b`` over FP32 [batch, 4]: two inputs, one output."""
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 4])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 4])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 4])
    diff = helper.make_tensor_value_info("diff", TensorProto.FLOAT, ["batch", 4])
    k = helper.make_tensor("k", TensorProto.FLOAT, [], [scale])
    nodes = [helper.make_node("Mul", ["a", "k"], ["as"]),
             helper.make_node("Add", ["as", "b"], ["out"]),
             helper.make_node("Sub", ["a", "b"], ["diff"])]
    return _finish(helper.make_graph(nodes, "add", [a, b], [out, diff], initializer=[k]))


def _finish(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_model(repo: Path, name: str, model: onnx.ModelProto | bytes, version: int = 1,
                config: str | None = None) -> Path:
    """Write REPO/name/version/model.onnx (and config.pbtxt when given)."""
    folder = repo / name / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    data = model if isinstance(model, bytes) else model.SerializeToString()
    (folder / "model.onnx").write_bytes(data)
    if config is not None:
        (repo / name / "config.pbtxt").write_text(config)
    return folder / "model.onnx"


def random_like(datatype: str, shape: list[int], seed: int = 0) -> np.ndarray:
    """Random data of a protocol datatype (BYTES: short byte strings, some non-ASCII)."""
    rng = np.random.default_rng(seed)
    dtype = BY_NAME[datatype].numpy
    if datatype == "BYTES":
        words = [b"alpha", "b\xe9ta".encode(), b"", "\u4e2d\u6587 \U0001f600".encode()]
        flat = [words[i % len(words)] for i in range(int(np.prod(shape)))]
        return np.array(flat, dtype=object).reshape(shape)
    if datatype == "BOOL":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    return rng.standard_normal(shape).astype(dtype)


def simple_model() -> onnx.ModelProto:
    """Triton's example ``simple``: INT32 [batch, 16] inputs INPUT0/INPUT1, OUTPUT0 = their
    sum, OUTPUT1 = their difference."""
    spec = [helper.make_tensor_value_info(n, TensorProto.INT32, ["batch", 16])
            for n in ("INPUT0", "INPUT1", "OUTPUT0", "OUTPUT1")]
    nodes = [helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"]),
             helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"])]
    return _finish(helper.make_graph(nodes, "simple", spec[:2], spec[2:]))
