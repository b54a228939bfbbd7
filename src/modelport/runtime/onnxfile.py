"""An ONNX model on disk: the graph file and the external-data files it names.

``torch.onnx.export`` (torch 2.x) and ``onnx.save(..., save_as_external_data=True)`` write the
weights beside the graph (``model.onnx.data``), and every model over 2 GB must. Whatever reads
or caches such a model has to treat the graph and those files as one unit: this module lists
them, checks they are all there (naming the user's file when one is missing), and digests them
together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from modelport.errors import ModelLoadError

_EXTERNAL = 1  # onnx.TensorProto.EXTERNAL


@dataclass(frozen=True)
class OnnxFiles:
    """A graph file and the external-data files it refers to (relative to its folder)."""

    graph: Path
    external: tuple[str, ...]

    def paths(self) -> list[Path]:
        """Every file the model consists of, graph first."""
        return [self.graph, *(self.graph.parent / name for name in self.external)]

    def digest(self) -> str:
        """sha256 over the graph and every external file (name and content)."""
        h = hashlib.sha256()
        for path in self.paths():
            h.update(path.name.encode())
            h.update(bytes.fromhex(file_digest(path)))
        return h.hexdigest()


def onnx_files(graph: Path, shown_as: str = "") -> OnnxFiles:
    """The files of the ONNX model at ``graph``, checked to exist.

    Args:
        graph: the model file.
        shown_as: how to name the model file in errors (e.g. relative to the repository);
            defaults to the file name.

    Raises:
        ModelLoadError: the graph cannot be read, an external location leaves its folder, or an
            external file is missing.
    """
    label = shown_as or graph.name
    try:
        stat = graph.stat()
    except OSError as exc:
        raise ModelLoadError(f"{label}: cannot read ({exc.strerror})") from None
    external = _external_locations(str(graph), stat.st_size, stat.st_mtime_ns)
    folder = str(PurePosixPath(label).parent)
    for name in external:
        if not (graph.parent / name).is_file():
            where = f"{folder}/{name}" if folder not in ("", ".") else name
            raise ModelLoadError(
                f"{where} is missing: {label} keeps its weights in that file (ONNX external "
                "data); copy it into the same version folder"
            )
    return OnnxFiles(graph, external)


def file_digest(path: Path) -> str:
    """sha256 of one file, remembered by path, size and modification time."""
    stat = path.stat()
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=256)
def _digest(path_text: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path_text, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@lru_cache(maxsize=128)
def _external_locations(path_text: str, size: int, mtime_ns: int) -> tuple[str, ...]:
    import onnx

    try:
        model = onnx.load(path_text, load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError, ValueError...
        raise ModelLoadError(f"{Path(path_text).name}: not a readable ONNX model ({exc})") from None
    found: list[str] = []
    for tensor in _tensors(model.graph):
        if tensor.data_location != _EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        parts = PurePosixPath(location).parts
        if not location or PurePosixPath(location).is_absolute() or ".." in parts:
            raise ModelLoadError(
                f"{Path(path_text).name}: initializer '{tensor.name}' keeps its data at "
                f"'{location}', which is not a file beside the model"
            )
        if location not in found:
            found.append(location)
    return tuple(found)


def _tensors(graph: Any) -> Iterator[Any]:
    """Every TensorProto of a graph and its subgraphs (initializers and attribute values)."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)
