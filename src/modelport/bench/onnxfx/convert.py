"""Walk an ONNX graph node by node and build the equivalent torch.fx GraphModule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelport.bench.onnxfx import ops
from modelport.bench.onnxfx.builder import Builder
from modelport.bench.onnxfx.dtypes import tensor_of
from modelport.bench.onnxfx.lib import torch
from modelport.bench.onnxfx.node import OnnxNode
from modelport.bench.onnxfx.registry import OPS
from modelport.bench.onnxfx.values import Const, Value
from modelport.errors import RuntimeUnavailable

_DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass(frozen=True)
class Converted:
    """A converted model: the module and the ONNX names of what it takes and returns."""

    module: Any
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def unsupported_ops(model: Any) -> list[str]:
    """The operators of ``model`` this converter has no rule for, sorted (domain-qualified)."""
    ops.load_all()
    missing = set()
    for node in model.graph.node:
        if node.domain not in _DEFAULT_DOMAINS:
            missing.add(f"{node.domain}.{node.op_type}")
        elif node.op_type not in OPS:
            missing.add(node.op_type)
    return sorted(missing)


def ranks_of(model: Any) -> dict[str, int]:
    """The rank of every value shape inference can tell (empty when inference fails)."""
    from onnx import shape_inference

    try:
        graph = shape_inference.infer_shapes(model).graph
    except Exception:  # ranks only sharpen the conversion; go on without them
        graph = model.graph
    ranks = {}
    for info in (*graph.input, *graph.value_info, *graph.output):
        tensor = info.type.tensor_type
        if tensor.HasField("shape"):
            ranks[info.name] = len(tensor.shape.dim)
    return ranks


def _consumed(graph: Any) -> set[str]:
    names = {o.name for o in graph.output}
    for node in graph.node:
        names.update(node.input)
    return names


def _outputs_used(node: Any, consumed: set[str]) -> int:
    used = [i for i, name in enumerate(node.output) if name and name in consumed]
    return used[-1] + 1 if used else 1


def _attributes(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def convert(model: Any, float_dtype: Any = None, ranks: dict[str, int] | None = None) -> Any:
    """Convert an ONNX ModelProto (external data loaded) to a torch.fx GraphModule.

    Args:
        model: the ONNX model.
        float_dtype: the torch dtype every float32/float16/bfloat16 tensor runs in (float32).
        ranks: ranks of the graph's values (from :func:`ranks_of`); computed when omitted.

    Returns:
        A module called with the graph's inputs (initializers excluded) in order.

    Raises:
        RuntimeUnavailable: an operator, attribute or element type has no rule here; the
            message names every unsupported operator, or the node that failed.
    """
    missing = unsupported_ops(model)
    if missing:
        raise RuntimeUnavailable(
            f"modelport's ONNX-to-torch converter does not support {', '.join(missing)}; "
            "benchmark this model on the other runtimes"
        )
    ranks = ranks_of(model) if ranks is None else ranks
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in _DEFAULT_DOMAINS), 1)
    b = Builder(torch.float32 if float_dtype is None else float_dtype)
    env: dict[str, Value] = {}
    for init in graph.initializer:
        with _explained(f"initializer '{init.name}'"):
            env[init.name] = Const(tensor_of(init, b.float_dtype))
    for value in graph.input:
        if value.name not in env:
            env[value.name] = b.placeholder(value.name)
    consumed = _consumed(graph)
    for node in graph.node:
        onnx_node = OnnxNode(
            node.op_type,
            [env[name] if name else None for name in node.input],
            _attributes(node),
            _outputs_used(node, consumed),
            len(node.output),
            opset,
            b,
            [ranks.get(name) for name in node.input],
        )
        label = node.name or (node.output[0] if node.output else "")
        with _explained(f"{node.op_type} node '{label}'"):
            results = OPS[node.op_type](onnx_node)
        for name, result in zip(node.output, results, strict=False):
            if name:
                env[name] = result
    return b.module([env[o.name] for o in graph.output])


@contextmanager
def _explained(what: str) -> Iterator[None]:
    """Turn a failure to convert one part of the graph into a one-line reason naming it."""
    try:
        yield
    except (NotImplementedError, RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise RuntimeUnavailable(
            f"modelport's ONNX-to-torch converter cannot convert {what}: {exc}"
        ) from exc


def convert_file(path: Path, float_dtype: Any = None) -> Converted:
    """Load the ONNX file at ``path`` (with its external data) and convert it.

    Shape inference runs before the weights are read, so models with large external weights
    are inferred from their small graph file.
    """
    import onnx
    from onnx.external_data_helper import load_external_data_for_model, uses_external_data

    model = onnx.load(str(path), load_external_data=False)
    ranks = ranks_of(model)
    if any(uses_external_data(t) for t in model.graph.initializer):
        load_external_data_for_model(model, str(path.parent))
    initializers = {i.name for i in model.graph.initializer}
    inputs = tuple(i.name for i in model.graph.input if i.name not in initializers)
    outputs = tuple(o.name for o in model.graph.output)
    return Converted(convert(model, float_dtype, ranks), inputs, outputs)
