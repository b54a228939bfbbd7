"""Open Inference Protocol request bodies: JSON, or JSON header plus binary tensor data."""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modelport.bench.backends.base import Array
from modelport.bench.inputs import TensorSpec
from modelport.datatypes import from_numpy


def specs_from_metadata(metadata: Mapping[str, Any]) -> list[TensorSpec]:
    """Input specs from ``GET /v2/models/{m}`` metadata (-1 is a dynamic dimension)."""
    return [
        TensorSpec(
            i["name"], i["datatype"], tuple(None if int(d) < 0 else int(d) for d in i["shape"])
        )
        for i in metadata["inputs"]
    ]


def raw_bytes(array: Array) -> bytes:
    """A tensor's bytes as the binary extension lays them out (BYTES: 4-byte length prefixes)."""
    if array.dtype == np.object_:
        parts = []
        for item in array.ravel():
            data = item if isinstance(item, bytes) else str(item).encode()
            parts.append(struct.pack("<I", len(data)) + data)
        return b"".join(parts)
    return np.ascontiguousarray(array).tobytes()


def json_body(inputs: Mapping[str, Array], outputs: Sequence[str]) -> bytes:
    """An all-JSON infer request."""
    tensors = []
    for name, array in inputs.items():
        if array.dtype == np.object_:
            data: list[Any] = [
                x.decode() if isinstance(x, bytes) else str(x) for x in array.ravel()
            ]
        else:
            data = array.ravel().tolist()
        tensors.append(
            {
                "name": name,
                "shape": list(array.shape),
                "datatype": from_numpy(array.dtype).name,
                "data": data,
            }
        )
    request = {"inputs": tensors, "outputs": [{"name": o} for o in outputs]}
    return json.dumps(request).encode()


def binary_body(inputs: Mapping[str, Array], outputs: Sequence[str]) -> tuple[bytes, int]:
    """A binary-extension infer request and the length of its JSON header."""
    tensors, blobs = [], []
    for name, array in inputs.items():
        blob = raw_bytes(array)
        blobs.append(blob)
        tensors.append(
            {
                "name": name,
                "shape": list(array.shape),
                "datatype": from_numpy(array.dtype).name,
                "parameters": {"binary_data_size": len(blob)},
            }
        )
    header = json.dumps(
        {
            "inputs": tensors,
            "outputs": [{"name": o, "parameters": {"binary_data": True}} for o in outputs],
        }
    ).encode()
    return header + b"".join(blobs), len(header)
