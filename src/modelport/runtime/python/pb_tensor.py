"""``pb_utils.Tensor`` and the datatype tables of Triton's ``triton_python_backend_utils``.

A Tensor is a name and a numpy array; BYTES tensors are object arrays of ``bytes``. Inputs the
server sent through shared memory are arrays over that memory, valid while ``execute`` runs.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

# Triton's DataType numbers (model_config.proto) and their numpy types.
_TYPES: tuple[tuple[int, str, Any], ...] = (
    (1, "TYPE_BOOL", np.bool_),
    (2, "TYPE_UINT8", np.uint8),
    (3, "TYPE_UINT16", np.uint16),
    (4, "TYPE_UINT32", np.uint32),
    (5, "TYPE_UINT64", np.uint64),
    (6, "TYPE_INT8", np.int8),
    (7, "TYPE_INT16", np.int16),
    (8, "TYPE_INT32", np.int32),
    (9, "TYPE_INT64", np.int64),
    (10, "TYPE_FP16", np.float16),
    (11, "TYPE_FP32", np.float32),
    (12, "TYPE_FP64", np.float64),
    (13, "TYPE_STRING", np.object_),
)
TRITON_STRING_TO_NUMPY: dict[str, Any] = {name: (bool if code == 1 else np_type)
                                          for code, name, np_type in _TYPES}
_CODE_TO_NUMPY = {code: np_type for code, _, np_type in _TYPES}
_NUMPY_TO_CODE = {np.dtype(np_type): code for code, _, np_type in _TYPES}
_LEN = struct.Struct("<I")


def triton_string_to_numpy(triton_type_string: str) -> Any:
    """The numpy type of a config datatype name ("TYPE_FP32" -> np.float32)."""
    return TRITON_STRING_TO_NUMPY[triton_type_string]


def triton_to_numpy_type(data_type: int) -> Any:
    """The numpy type of a Triton DataType number (None for an unknown one)."""
    return _CODE_TO_NUMPY.get(data_type)


def numpy_to_triton_type(data_type: Any) -> int | None:
    """The Triton DataType number of a numpy type (bytes and str are TYPE_STRING)."""
    dtype = np.dtype(data_type)
    if dtype.kind in "OSU":
        return 13
    return _NUMPY_TO_CODE.get(dtype)


def serialize_byte_tensor(input_tensor: np.ndarray) -> Any:
    """BYTES elements in Triton's layout (4-byte little-endian length, then the bytes), in C
    order; () for an empty tensor, None for a tensor that is not BYTES."""
    if input_tensor.size == 0:
        return ()
    if input_tensor.dtype.kind not in "OS":
        return None
    parts: list[bytes] = []
    for item in input_tensor.ravel(order="C"):
        data = item if isinstance(item, bytes) else str(item).encode("utf-8")
        parts += (_LEN.pack(len(data)), data)
    return b"".join(parts)


def deserialize_bytes_tensor(encoded_tensor: bytes) -> np.ndarray:
    """Length-prefixed BYTES elements back into a 1-D object array of bytes."""
    view, items, offset = memoryview(encoded_tensor), [], 0
    while offset < len(view):
        (length,) = _LEN.unpack_from(view, offset)
        items.append(bytes(view[offset + 4:offset + 4 + length]))
        offset += 4 + length
    return np.array(items, dtype=np.object_)


def as_bytes_array(array: np.ndarray) -> np.ndarray:
    """A str/bytes array as an object array of bytes (what BYTES tensors hold)."""
    flat = [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in array.ravel()]
    out = np.empty(len(flat), dtype=np.object_)
    out[:] = flat
    return out.reshape(array.shape)


class _Capsule:
    """Lets numpy read a DLPack capsule (as other frameworks' ``to_dlpack`` return)."""

    def __init__(self, capsule: Any) -> None:
        self.capsule = capsule

    def __dlpack__(self, **_: Any) -> Any:
        return self.capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)  # CPU


class Tensor:
    """A named tensor: ``Tensor(name, numpy_array)``."""

    def __init__(self, name: str, data: Any) -> None:
        if not isinstance(name, str):
            raise TypeError("Tensor name must be a string")
        array = np.asarray(data)
        if array.dtype.kind in "SU":
            array = as_bytes_array(array)
        elif array.dtype.kind == "O":
            pass
        elif numpy_to_triton_type(array.dtype) is None:
            raise TypeError(f"Tensor '{name}': numpy dtype {array.dtype} has no Triton datatype")
        self._name = name
        self._array = array

    def name(self) -> str:
        """The tensor's name."""
        return self._name

    def as_numpy(self) -> np.ndarray:
        """The data as a numpy array (BYTES: an object array of bytes)."""
        return self._array

    def triton_dtype(self) -> int:
        """The Triton DataType number."""
        code = numpy_to_triton_type(self._array.dtype)
        return 13 if code is None else code

    def shape(self) -> list[int]:
        """The dims."""
        return list(self._array.shape)

    def is_cpu(self) -> bool:
        """Always True: modelport's Python models hold tensors in CPU memory."""
        return True

    def to_dlpack(self) -> Any:
        """A DLPack capsule over the data (numeric tensors)."""
        return self._array.__dlpack__()

    def __dlpack__(self, stream: Any = None) -> Any:
        return self._array.__dlpack__()

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)

    @staticmethod
    def from_dlpack(name: str, capsule: Any) -> Tensor:
        """A Tensor over a DLPack capsule or any object with ``__dlpack__`` (CPU only)."""
        source = capsule if hasattr(capsule, "__dlpack__") else _Capsule(capsule)
        return Tensor(name, np.from_dlpack(source))

    def __repr__(self) -> str:
        return f"Tensor({self._name!r}, shape={self.shape()}, dtype={self._array.dtype})"
