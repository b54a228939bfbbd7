"""ONNX Runtime's run-time errors, told apart: the request's values, or the server.

ONNX Runtime reports a kernel that failed on the values it was given ("Non-zero status code
returned while running Gather node. Name:'...' Status Message: indices element out of data
bounds ...") much as it reports a failed allocation. This module reads the node out of the
message, finds which graph inputs feed that node, and words the error so its first sentence
names the model and those inputs; ONNX Runtime's own detail follows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np

from modelport.errors import BackendError, ComputeFailed, InvalidInput

_NODE = re.compile(r"running (\w+) node\. Name:'([^']*)' Status Message: (.*)", re.DOTALL)
_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")
_SOURCE = re.compile(r"\S*/[\w.]+\.(?:h|cc|cpp):\d+ ")
# Failures of the machine, not of the request: never the client's fault.
_RESOURCE = ("bad_alloc", "Failed to allocate", "out of memory", "CUDA", "cuDNN", "cudnn",
             "CUBLAS", "TensorRT")


def run_error(exc: Exception, model: str, graph: Path | None,
              feed: Mapping[str, np.ndarray]) -> Exception:
    """The modelport error for an exception raised by ``InferenceSession.run``.

    Returns:
        ComputeFailed when a node failed on the values (the scheduler decides whose fault),
        InvalidInput when ONNX Runtime refused the inputs before running, else BackendError.
    """
    text = _PREFIX.sub("", str(exc)).strip()
    if any(marker in text for marker in _RESOURCE):
        return BackendError(f"model '{model}' failed: onnxruntime: {text}")
    node = _NODE.search(text)
    if node is None:
        if type(exc).__name__ == "InvalidArgument":
            return InvalidInput(f"model '{model}' rejected the request: {_clean(text)}")
        return BackendError(f"model '{model}' failed: onnxruntime: {text}")
    op, name, detail = node.groups()
    culprits = [n for n in feeding_inputs(graph, name) if n in feed] if graph else []
    head = f"model '{model}' cannot compute this request: "
    if culprits:
        shown = " and ".join(f"'{n}' {list(feed[n].shape)}" for n in culprits)
        head += f"input{'s' if len(culprits) > 1 else ''} {shown} made node '{name}' ({op}) fail"
    else:
        head += f"node '{name}' ({op}) failed"
    return ComputeFailed(f"{head}: {_clean(detail)}")


def _clean(text: str) -> str:
    """ONNX Runtime's message without source-file locations."""
    return _SOURCE.sub("", text).strip()


def feeding_inputs(graph: Path, node_name: str) -> tuple[str, ...]:
    """The graph inputs that node ``node_name`` depends on, in the graph's input order."""
    try:
        stat = graph.stat()
    except OSError:
        return ()
    return _ancestry(str(graph), stat.st_size, stat.st_mtime_ns).get(node_name, ())


@lru_cache(maxsize=32)
def _ancestry(path: str, size: int, mtime_ns: int) -> dict[str, tuple[str, ...]]:
    """Node name -> graph inputs it depends on (top-level nodes, in topological order)."""
    import onnx

    try:
        model = onnx.load(path, load_external_data=False)
    except Exception:  # an unreadable graph only costs the input names in messages
        return {}
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    order = [v.name for v in graph.input if v.name not in initializers]
    depends: dict[str, frozenset[str]] = {name: frozenset([name]) for name in order}
    found: dict[str, tuple[str, ...]] = {}
    for node in graph.node:
        deps = frozenset().union(*(depends.get(i, frozenset()) for i in node.input))
        for out in node.output:
            depends[out] = deps
        if node.name:
            found[node.name] = tuple(n for n in order if n in deps)
    return found
