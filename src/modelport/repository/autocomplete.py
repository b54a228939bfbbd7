"""Complete a model's config from its ONNX graph, the way Triton's ONNX Runtime backend does.

Missing inputs, outputs, datatypes and dims are read from the graph; when the config lists no
tensors and every graph tensor has a dynamic first dimension (followed by at least one more),
batching is turned on with DEFAULT_MAX_BATCH_SIZE and an empty dynamic_batching block. Tensors
the config does list are checked against the graph.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from modelport.backends import BUILTINS, BackendCatalog
from modelport.datatypes import BY_ONNX
from modelport.errors import ModelConfigError
from modelport.repository import model_config_pb2, sequence

DEFAULT_MAX_BATCH_SIZE = 8


@dataclass(frozen=True)
class GraphTensor:
    """A graph input or output: name, Triton config type and dims (-1 for dynamic)."""

    name: str
    config_type: str
    dims: tuple[int, ...]
    symbols: tuple[str, ...] = ()  # each dim's symbolic name ("" when fixed or unnamed)


def read_signature(path: Path) -> tuple[list[GraphTensor], list[GraphTensor]]:
    """Read the inputs and outputs of an ONNX file without loading external weights.

    Cached by path, size and modification time: a reload of an unchanged 45 MB model does not
    parse it again.

    Raises:
        ModelConfigError: the file is not a readable ONNX model or uses an unsupported type.
    """
    shown = "/".join(path.parts[-3:])  # <model>/<version>/<file>: no server paths in answers
    try:
        stat = path.stat()
    except OSError as exc:
        raise ModelConfigError(f"{shown}: cannot read ({exc.strerror})") from None
    try:
        inputs, outputs = _signature(str(path), stat.st_size, stat.st_mtime_ns)
    except ModelConfigError as exc:
        raise ModelConfigError(str(exc).replace(str(path), shown)) from None
    return list(inputs), list(outputs)


@lru_cache(maxsize=128)
def _signature(path_text: str, size: int, mtime_ns: int,
               ) -> tuple[tuple[GraphTensor, ...], tuple[GraphTensor, ...]]:
    path = Path(path_text)
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError, ValueError...
        raise ModelConfigError(f"{path}: not a readable ONNX model ({exc})") from None
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    inputs = tuple(_tensor(path, v) for v in graph.input if v.name not in initializers)
    outputs = tuple(_tensor(path, v) for v in graph.output)
    return inputs, outputs


def _tensor(path: Path, value: Any) -> GraphTensor:
    if not isinstance(value.name, str):  # protobuf hands invalid UTF-8 back as bytes
        raise ModelConfigError(f"{path}: a graph tensor name is not valid UTF-8")
    tensor_type = value.type.tensor_type
    dt = BY_ONNX.get(tensor_type.elem_type)
    if dt is None:
        raise ModelConfigError(
            f"{path}: tensor '{value.name}' has ONNX element type {tensor_type.elem_type}, "
            "which the protocol cannot carry"
        )
    shape = tensor_type.shape.dim
    dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in shape)
    symbols = tuple(d.dim_param if d.HasField("dim_param") and isinstance(d.dim_param, str)
                    else "" for d in shape)
    return GraphTensor(value.name, dt.config, dims, symbols)


def complete(msg: Any, model_name: str, model_path: Path,
             backends: BackendCatalog = BUILTINS) -> Any:
    """Fill in what the config leaves out, from the ONNX graph at ``model_path``.

    Args:
        msg: ModelConfig message from config.pbtxt (possibly empty); modified in place.
        model_name: the folder name, which the config's ``name`` must match.
        model_path: the ONNX file of one version (a backend with its own completer, such as
            Python models, gets the version folder: ``model_path.parent``).
        backends: the backends the server knows (which exist, which read ONNX files).

    Returns:
        The same message, complete.

    Raises:
        ModelConfigError: the config contradicts the graph.
    """
    if msg.name and msg.name != model_name:
        raise ModelConfigError(
            f"config name '{msg.name}' does not match the model folder '{model_name}'"
        )
    msg.name = model_name
    if msg.platform == "ensemble":
        return _complete_ensemble(msg, model_name)
    if not msg.platform and not msg.backend:
        msg.platform = "onnxruntime_onnx"
    if not msg.backend and msg.platform == "onnxruntime_onnx":
        msg.backend = "onnxruntime"
    completer = backends.completer(msg.backend)
    if (not backends.is_known(msg.backend) or msg.platform not in ("", "onnxruntime_onnx")
            or (completer is not None and msg.platform)):
        raise ModelConfigError(
            f"model '{model_name}': platform '{msg.platform}' / backend '{msg.backend}' is not "
            "supported; modelport serves ONNX models (platform: \"onnxruntime_onnx\") and "
            "Python models (backend: \"python\", no platform)"
        )
    if not msg.HasField("version_policy"):
        msg.version_policy.latest.num_versions = 1
    if not msg.instance_group:
        group = msg.instance_group.add()
        group.name, group.count = f"{model_name}_0", 1
        group.kind = model_config_pb2.ModelInstanceGroup.Kind.Value("KIND_CPU")
    if not msg.HasField("model_transaction_policy"):
        msg.model_transaction_policy.decoupled = False
        msg.model_transaction_policy.SetInParent()
    sequence.normalize(msg)
    if completer is not None:
        return _import(completer)(msg, model_name, model_path.parent)
    if not backends.reads_onnx(msg.backend):
        return msg
    if not msg.default_model_filename:
        msg.default_model_filename = model_path.name
    inputs, outputs = read_signature(model_path)
    if not msg.input and not msg.output and msg.max_batch_size == 0 and _all_batchable(
        inputs + outputs
    ):
        msg.max_batch_size = DEFAULT_MAX_BATCH_SIZE
        if msg.WhichOneof("scheduling_choice") is None:
            msg.dynamic_batching.SetInParent()
    batching = msg.max_batch_size > 0
    fed, read = sequence.graph_extras(msg)  # the sequence batcher's tensors, not the client's
    sequence.check_graph(msg, {t.name: t.config_type for t in inputs},
                         {t.name: t.config_type for t in outputs})
    _merge(model_name, msg.input, inputs, batching, "input", skip=fed)
    _merge(model_name, msg.output, outputs, batching, "output", skip=read)
    return msg


def _complete_ensemble(msg: Any, model_name: str) -> Any:
    """An ensemble has no graph of its own: its config must list its tensors and steps."""
    if not msg.ensemble_scheduling.step:
        raise ModelConfigError(f"ensemble '{model_name}' must have at least one step in "
                               "ensemble_scheduling")
    if not msg.input or not msg.output:
        raise ModelConfigError(f"ensemble '{model_name}' must list its inputs and outputs")
    if not msg.HasField("version_policy"):
        msg.version_policy.latest.num_versions = 1
    return msg


def _all_batchable(tensors: list[GraphTensor]) -> bool:
    return bool(tensors) and all(_batchable(t) for t in tensors)


def _batchable(t: GraphTensor) -> bool:
    # A [batch]-only tensor would need Triton's `reshape: { shape: [] }` (config dims [1] over a
    # rank-1 graph tensor), which modelport does not implement: ONNX Runtime rejects the rank.
    return len(t.dims) >= 2 and t.dims[0] == -1


def _not_batchable(model: str, kind: str, t: GraphTensor) -> ModelConfigError:
    return ModelConfigError(
        f"model '{model}': max_batch_size > 0 but {kind} '{t.name}' has graph dims "
        f"{list(t.dims)}; batching needs a dynamic first dimension followed by at least one "
        "more (set max_batch_size: 0 to serve it unbatched)"
    )


def _merge(model: str, listed: Any, graph: list[GraphTensor], batching: bool, kind: str,
           skip: set[str] | frozenset[str] = frozenset()) -> None:
    by_name = {t.name: t for t in graph}
    for entry in listed:
        found = by_name.get(entry.name)
        if found is None:
            names = ", ".join(by_name) or "none"
            raise ModelConfigError(
                f"model '{model}': config {kind} '{entry.name}' is not in the ONNX graph "
                f"(graph {kind}s: {names})"
            )
        _check(model, entry, found, batching, kind)
    if not listed:
        for t in graph:
            if t.name in skip:
                continue
            if batching and not _batchable(t):
                raise _not_batchable(model, kind, t)
            item = listed.add()
            item.name = t.name
            item.data_type = model_config_pb2.DataType.Value(t.config_type)
            item.dims.extend(list(t.dims[1:] if batching else t.dims) or [1])


def _check(model: str, entry: Any, found: GraphTensor, batching: bool, kind: str) -> None:
    reshaped = entry.HasField("reshape")
    if batching and not (_batchable(found) or (reshaped and found.dims[:1] == (-1,))):
        raise _not_batchable(model, kind, found)
    config_type = model_config_pb2.DataType.Name(entry.data_type)
    if entry.data_type == 0:
        entry.data_type = model_config_pb2.DataType.Value(found.config_type)
    elif config_type != found.config_type:
        raise ModelConfigError(
            f"model '{model}': {kind} '{entry.name}' is {config_type} in the config but "
            f"{found.config_type} in the ONNX graph"
        )
    graph_dims = found.dims[1:] if batching else found.dims
    if not entry.dims:
        entry.dims.extend(list(graph_dims) or [1])
        return
    # With a reshape the graph holds the reshaped tensor: compare that with the graph.
    dims = list(entry.reshape.shape) if reshaped else list(entry.dims)
    compatible = len(dims) == len(graph_dims) and all(
        a == -1 or b == -1 or a == b for a, b in zip(dims, graph_dims, strict=False)
    )
    scalar_ok = dims == [1] and not graph_dims
    if not (compatible or scalar_ok):
        what = "reshape" if reshaped else "dims"
        raise ModelConfigError(
            f"model '{model}': {kind} '{entry.name}' {what} {dims} do not match the ONNX graph "
            f"dims {list(graph_dims)}" + (" (batch dimension removed)" if batching else "")
        )


def _import(target: str) -> Callable[[Any, str, Path], Any]:
    """The function an import string ("module:function") names."""
    module, _, attr = target.partition(":")
    function: Callable[[Any, str, Path], Any] = getattr(importlib.import_module(module), attr)
    return function
