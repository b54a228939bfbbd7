"""Model inputs: read the ONNX signature and make seeded random batches for it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelport.bench.backends.base import Array
from modelport.datatypes import BY_ONNX
from modelport.errors import BenchError


@dataclass(frozen=True)
class TensorSpec:
    """One model input: name, protocol datatype and shape (None for a dynamic dimension)."""

    name: str
    datatype: str
    shape: tuple[int | None, ...]


def read_signature(model: Path) -> list[TensorSpec]:
    """The non-initializer inputs of an ONNX model.

    Raises:
        BenchError: the file cannot be read as ONNX.
    """
    import onnx

    try:
        graph = onnx.load(str(model), load_external_data=False).graph
    except Exception as exc:  # onnx raises DecodeError, OSError, ...
        raise BenchError(f"cannot read ONNX model {model}: {exc}") from exc
    initializers = {i.name for i in graph.initializer}
    specs = []
    for value in graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
        specs.append(TensorSpec(value.name, BY_ONNX[tensor.elem_type].name, dims))
    return specs


def make_batch(
    specs: list[TensorSpec], batch_size: int, seq_len: int = 16, seed: int = 0
) -> dict[str, Array]:
    """Random inputs for one batch: a dynamic first dimension is the batch, later ones seq_len.

    Floats are standard normal; integer inputs are token ids in [1, 100) except masks (ones);
    BYTES inputs are short ASCII strings. The same seed gives the same batch everywhere.
    """
    rng = np.random.default_rng(seed)
    batch: dict[str, Array] = {}
    for spec in specs:
        dims = [d if d is not None else seq_len for d in spec.shape]
        if spec.shape and spec.shape[0] is None:
            dims[0] = batch_size
        if spec.datatype == "BYTES":
            words = [f"sample {i}".encode() for i in range(int(np.prod(dims)))]
            batch[spec.name] = np.array(words, dtype=np.object_).reshape(dims)
        elif spec.datatype.startswith("FP"):
            dtype = {"FP16": np.float16, "FP32": np.float32, "FP64": np.float64}[spec.datatype]
            batch[spec.name] = rng.standard_normal(dims).astype(dtype)
        elif spec.datatype == "BOOL":
            batch[spec.name] = rng.integers(0, 2, dims).astype(np.bool_)
        elif "mask" in spec.name.lower():
            batch[spec.name] = np.ones(dims, dtype=_numpy(spec.datatype))
        else:
            batch[spec.name] = rng.integers(1, 100, dims).astype(_numpy(spec.datatype))
    return batch


def _numpy(datatype: str) -> type[np.generic]:
    table: dict[str, type[np.generic]] = {
        "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
        "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    }  # fmt: skip
    return table[datatype]
