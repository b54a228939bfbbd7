"""Raw tensor bytes: round trips for every datatype, and hostile bytes rejected as InvalidInput."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from modelport.datatypes import BY_NAME
from modelport.errors import InvalidInput
from modelport.serve.tensors import element_count, from_raw, split_bytes, to_raw

NUMERIC = sorted(n for n in BY_NAME if n != "BYTES")
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


def _prefixed(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(i)) + i for i in items)


@st.composite
def numeric_tensors(draw: st.DrawFn) -> tuple[str, np.ndarray]:
    datatype = draw(st.sampled_from(NUMERIC))
    arr = draw(hnp.arrays(BY_NAME[datatype].numpy, SHAPES))
    return datatype, arr


@st.composite
def bytes_tensors(draw: st.DrawFn) -> np.ndarray:
    shape = draw(SHAPES)
    items = draw(st.lists(st.binary(max_size=12), min_size=int(np.prod(shape)),
                          max_size=int(np.prod(shape))))
    arr = np.empty(len(items), dtype=object)
    arr[:] = items
    return arr.reshape(shape)


# --- round trips ---------------------------------------------------------------------------------


@settings(deadline=None)
@given(numeric_tensors())
def test_numeric_round_trip(tensor: tuple[str, np.ndarray]) -> None:
    """from_raw(to_raw(a)) gives back a's shape, dtype and exact bytes for every numeric type."""
    datatype, arr = tensor
    raw = to_raw(datatype, arr)
    assert len(raw) == arr.size * BY_NAME[datatype].numpy.itemsize
    back = from_raw("x", datatype, list(arr.shape), raw)
    assert back.shape == arr.shape
    assert back.dtype.newbyteorder("=") == arr.dtype
    assert back.tobytes() == arr.astype(arr.dtype.newbyteorder("<")).tobytes()


@settings(deadline=None)
@given(bytes_tensors())
def test_bytes_round_trip(arr: np.ndarray) -> None:
    """BYTES elements survive to_raw/from_raw with their order, shape and content."""
    raw = to_raw("BYTES", arr)
    back = from_raw("s", "BYTES", list(arr.shape), raw)
    assert back.shape == arr.shape and back.dtype == object
    assert back.ravel().tolist() == arr.ravel().tolist()


@settings(deadline=None)
@given(st.lists(st.text(max_size=8), min_size=1, max_size=6))
def test_bytes_to_raw_encodes_text_as_utf8(items: list[str]) -> None:
    """str elements are written as their UTF-8 bytes."""
    raw = to_raw("BYTES", np.array(items, dtype=object))
    assert raw == _prefixed(*(s.encode("utf-8") for s in items))


@pytest.mark.parametrize("datatype", [d for d in NUMERIC if BY_NAME[d].numpy.itemsize > 1])
def test_to_raw_writes_little_endian(datatype: str) -> None:
    """A big-endian array is serialized little-endian, as the protocol requires."""
    native = np.arange(3).astype(BY_NAME[datatype].numpy)
    big = native.astype(native.dtype.newbyteorder(">"))
    assert to_raw(datatype, big) == native.astype(native.dtype.newbyteorder("<")).tobytes()


def test_to_raw_casts_to_the_datatype() -> None:
    """An array of another dtype is cast to the named datatype before writing."""
    assert to_raw("INT32", np.array([1, 2], dtype=np.int64)) == struct.pack("<2i", 1, 2)


def test_to_raw_of_non_contiguous_view_is_row_major() -> None:
    """A transposed view is written in its logical row-major order."""
    arr = np.arange(6, dtype=np.float32).reshape(2, 3).T
    assert to_raw("FP32", arr) == np.ascontiguousarray(arr).tobytes()


def test_bool_is_one_byte_per_element() -> None:
    """BOOL travels as one byte per element."""
    assert to_raw("BOOL", np.array([True, False, True])) == b"\x01\x00\x01"
    assert from_raw("b", "BOOL", [3], b"\x01\x00\x01").tolist() == [True, False, True]


def test_from_raw_of_numeric_is_a_view() -> None:
    """Numeric tensors are read without copying the body."""
    body = bytearray(struct.pack("<4f", 1, 2, 3, 4))
    arr = from_raw("x", "FP32", [2, 2], memoryview(body))
    body[0:4] = struct.pack("<f", 9.0)
    assert arr[0, 0] == 9.0


def test_empty_bytes_elements_and_empty_tensor() -> None:
    """Zero-length elements and zero-element shapes are valid."""
    assert from_raw("s", "BYTES", [2], _prefixed(b"", b"")).tolist() == [b"", b""]
    assert from_raw("s", "BYTES", [0, 3], b"").shape == (0, 3)
    assert from_raw("x", "FP32", [0], b"").shape == (0,)


def test_scalar_shape_holds_one_element() -> None:
    """Shape [] is a scalar: one element."""
    assert from_raw("x", "INT16", [], b"\x07\x00").tolist() == 7
    assert from_raw("s", "BYTES", [], _prefixed(b"hi")).tolist() == b"hi"


# --- hostile inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("datatype", "shape", "raw"),
    [
        ("FP32", [2], b"\x00" * 7),
        ("FP32", [2], b"\x00" * 9),
        ("INT64", [1, 3], b"\x00" * 16),
        ("UINT8", [4], b""),
        ("FP16", [2], b"\x00" * 2),
        ("BOOL", [2], b"\x01"),
        ("FP64", [2**20, 2**20], b"\x00" * 8),
    ],
)
def test_wrong_size_is_invalid_input(datatype: str, shape: list[int], raw: bytes) -> None:
    """A byte count that does not match shape x itemsize names the input and both sizes."""
    with pytest.raises(InvalidInput, match=rf"input 'x': got {len(raw)} bytes"):
        from_raw("x", datatype, shape, raw)


def test_truncated_bytes_length_is_invalid_input() -> None:
    """Data that ends inside a 4-byte length prefix is rejected."""
    with pytest.raises(InvalidInput, match="ends inside an element length"):
        from_raw("s", "BYTES", [2], _prefixed(b"ab") + b"\x01\x00")


def test_bytes_length_past_end_is_invalid_input() -> None:
    """A length prefix larger than the remaining data is rejected."""
    with pytest.raises(InvalidInput, match="element of 5 bytes runs past the end"):
        from_raw("s", "BYTES", [1], struct.pack("<I", 5) + b"ab")


def test_huge_bytes_length_is_invalid_input() -> None:
    """A 4 GiB length claim is rejected without allocating."""
    with pytest.raises(InvalidInput, match="runs past the end"):
        split_bytes("s", b"\xff\xff\xff\xff" + b"x" * 10, 1)


@pytest.mark.parametrize(("shape", "items"), [([1], 2), ([3], 2), ([2, 2], 3), ([], 0)])
def test_bytes_element_count_mismatch_is_invalid_input(shape: list[int], items: int) -> None:
    """More or fewer BYTES elements than the shape holds names both counts."""
    raw = _prefixed(*[b"x"] * items)
    with pytest.raises(InvalidInput, match=f"got {items} BYTES elements, shape needs"):
        from_raw("s", "BYTES", shape, raw)


@pytest.mark.parametrize("shape", [[-1], [2, -3], [1.5], ["2"], [True], [None]])
def test_bad_shape_is_invalid_input(shape: list[object]) -> None:
    """Negative, fractional, string, bool or null dims are rejected."""
    with pytest.raises(InvalidInput, match="non-negative integers"):
        element_count(shape)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        from_raw("x", "FP32", shape, b"")  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", [[0, 2**63 - 1], [2**40, 0, 2**40], [0, 2**64], [2**70]])
@pytest.mark.parametrize("datatype", ["FP32", "BYTES"])
def test_absurd_shape_is_invalid_input(shape: list[int], datatype: str) -> None:
    """Dims numpy cannot represent are InvalidInput even when another dim makes the tensor empty."""
    with pytest.raises(InvalidInput, match="larger than any tensor"):
        element_count(shape)
    with pytest.raises(InvalidInput):
        from_raw("x", datatype, shape, b"")


def test_unknown_datatype_is_invalid_input() -> None:
    """A datatype outside the protocol's list is rejected with the known ones."""
    with pytest.raises(InvalidInput, match="unknown datatype 'FLOAT'; expected one of BOOL"):
        from_raw("x", "FLOAT", [1], b"\x00" * 4)


@settings(deadline=None)
@given(
    datatype=st.sampled_from([*sorted(BY_NAME), "BF16", "STRING", ""]),
    shape=st.lists(st.integers(min_value=-2, max_value=2**33)
                   | st.sampled_from([0, 2**31, 2**62, 2**63 - 1, 2**64]), max_size=3),
    raw=st.binary(max_size=64),
)
def test_arbitrary_bytes_give_a_tensor_or_invalid_input(datatype: str, shape: list[int],
                                                        raw: bytes) -> None:
    """Any body, shape and datatype yields a tensor of that shape or InvalidInput, nothing else."""
    try:
        arr = from_raw("x", datatype, shape, raw)
    except InvalidInput:
        return
    assert list(arr.shape) == shape


@settings(deadline=None)
@given(st.binary(max_size=64), st.integers(min_value=0, max_value=20))
def test_split_bytes_fuzz(raw: bytes, count: int) -> None:
    """split_bytes returns exactly count elements re-encoding to raw, or raises InvalidInput."""
    try:
        items = split_bytes("s", raw, count)
    except InvalidInput:
        return
    assert len(items) == count
    assert _prefixed(*items) == raw
