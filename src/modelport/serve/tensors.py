"""Tensor bytes: the binary extension's raw layout and BYTES' length-prefixed elements.

Numeric tensors become zero-copy numpy views over the request body; only BYTES needs a loop,
since each element carries its own length.
"""

from __future__ import annotations

import struct

import numpy as np

from modelport.datatypes import by_name
from modelport.errors import InvalidInput

_LEN = struct.Struct("<I")
# numpy refuses any shape whose non-zero dims multiply past this (times the itemsize), even
# when another dim is 0 and the tensor is empty.
_MAX_ELEMENTS = np.iinfo(np.intp).max // 8


def element_count(shape: list[int]) -> int:
    """Number of elements in ``shape``; raises InvalidInput for negative or absurd dims.
    (One plain loop: this runs for every tensor of every request.)"""
    count = nonzero = 1
    for d in shape:
        if (not isinstance(d, int)) or isinstance(d, bool) or d < 0:
            raise InvalidInput(f"shape {shape} must be a list of non-negative integers")
        if d:
            nonzero *= d
            if nonzero > _MAX_ELEMENTS:
                raise InvalidInput(f"shape {shape} is larger than any tensor can be")
        count *= d
    return count


def from_raw(name: str, datatype: str, shape: list[int], raw: bytes | memoryview) -> np.ndarray:
    """Interpret raw little-endian bytes as a tensor of ``shape``.

    Raises:
        InvalidInput: the byte count does not match the shape and datatype.
    """
    dt = by_name(datatype)
    count = element_count(shape)
    if datatype == "BYTES":
        return np.array(split_bytes(name, raw, count), dtype=object).reshape(shape)
    expected = count * dt.numpy.itemsize
    if len(raw) != expected:
        raise InvalidInput(
            f"input '{name}': got {len(raw)} bytes of data but shape {shape} of {datatype} "
            f"needs {expected}"
        )
    dtype = dt.numpy.newbyteorder("<") if dt.numpy.itemsize > 1 else dt.numpy
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def split_bytes(name: str, raw: bytes | memoryview, count: int) -> list[bytes]:
    """Split length-prefixed BYTES elements; exactly ``count`` of them must fill ``raw``."""
    view = memoryview(raw)
    items: list[bytes] = []
    offset, end = 0, len(view)
    while offset < end:
        if offset + 4 > end:
            raise InvalidInput(f"input '{name}': BYTES data ends inside an element length")
        (length,) = _LEN.unpack_from(view, offset)
        offset += 4
        if offset + length > end:
            raise InvalidInput(
                f"input '{name}': BYTES element of {length} bytes runs past the end of the data"
            )
        items.append(bytes(view[offset:offset + length]))
        offset += length
    if len(items) != count:
        raise InvalidInput(f"input '{name}': got {len(items)} BYTES elements, shape needs {count}")
    return items


def to_raw(datatype: str, arr: np.ndarray) -> bytes:
    """Serialize a tensor the way the binary extension and raw_output_contents carry it."""
    if datatype == "BYTES":
        parts: list[bytes] = []
        for item in arr.ravel():
            data = item if isinstance(item, bytes) else str(item).encode("utf-8")
            parts.append(_LEN.pack(len(data)))
            parts.append(data)
        return b"".join(parts)
    dtype = by_name(datatype).numpy
    if arr.dtype != dtype:
        arr = arr.astype(dtype)
    if arr.dtype.byteorder == ">":
        arr = arr.byteswap().view(arr.dtype.newbyteorder("<"))
    return np.ascontiguousarray(arr).tobytes()
