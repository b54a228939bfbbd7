"""Truncated, corrupt and hostile fat binaries give an error for that file, never a crash."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from probe_helpers import FIXTURES

from modelport.errors import FatbinError
from modelport.probe.elf import ElfFile
from modelport.probe.fatbin import CONTAINER_MAGIC, parse_containers, read_fatbin


def section_bytes(name: str = "sass_ptx.so") -> bytes:
    """The .nv_fatbin section of a fixture."""
    with ElfFile(FIXTURES / name) as elf:
        section = elf.section(".nv_fatbin")
        assert section is not None
        return elf.read(section)


def container(entries: bytes, size: int | None = None, header: int = 16) -> bytes:
    """A container header followed by ``entries``."""
    return struct.pack("<IHHQ", CONTAINER_MAGIC, 1, header, len(entries) if size is None else size)


def entry(kind: int = 2, header: int = 64, payload: int = 0, arch: int = 80) -> bytes:
    """An entry header with ``payload`` zero bytes after it."""
    head = struct.pack("<HHIQIIHHIIIQ", kind, 0x101, header, payload, 0, 0, 8, 1, arch, 0, 0, 0x11)
    return head.ljust(header, b"\0") + b"\0" * payload


def test_real_section_parses() -> None:
    """The untouched section of a fixture parses into two containers."""
    assert len(parse_containers(section_bytes())) == 2


def test_wrong_magic() -> None:
    """A container that does not start with 0xBA55ED50 is rejected."""
    data = bytearray(section_bytes())
    data[0] ^= 0xFF
    with pytest.raises(FatbinError, match="bad fatbin magic"):
        parse_containers(bytes(data))


def test_zero_container_header_size() -> None:
    """A header size of 0 is rejected instead of looping on the same offset."""
    with pytest.raises(FatbinError, match="header size 0"):
        parse_containers(container(b"", size=0, header=0))


def test_zero_entry_header_size() -> None:
    """An entry header size of 0 (or anything under 64) is rejected."""
    body = entry(header=64)
    body = body[:4] + struct.pack("<I", 0) + body[8:]
    with pytest.raises(FatbinError, match="header size 0"):
        parse_containers(container(body) + body)


def test_container_size_past_the_end() -> None:
    """A container claiming more bytes than the section holds is rejected."""
    body = entry()
    with pytest.raises(FatbinError, match="past the end"):
        parse_containers(container(body, size=len(body) + 1) + body)


def test_entry_payload_past_the_end() -> None:
    """An entry whose payload size points past its container is rejected."""
    body = entry(payload=8)
    body = body[:8] + struct.pack("<Q", 1 << 40) + body[16:]
    with pytest.raises(FatbinError, match="past the end"):
        parse_containers(container(body) + body)


def test_huge_sizes_do_not_allocate() -> None:
    """A 2**64-1 size is an error, not a memory blow-up."""
    with pytest.raises(FatbinError):
        parse_containers(container(b"", size=(1 << 64) - 1))


def test_padding_between_containers_is_skipped() -> None:
    """Zero padding between and after containers is allowed."""
    one = container(entry()) + entry()
    assert len(parse_containers(one + b"\0" * 8 + one + b"\0" * 3)) == 2


@pytest.mark.parametrize("cut", [1, 15, 16, 17, 63, 64, 100, 1000])
def test_truncated_section(cut: int) -> None:
    """A section cut anywhere inside a container raises FatbinError."""
    data = section_bytes()
    with pytest.raises(FatbinError):
        parse_containers(data[:cut])


def test_truncated_file_is_an_error_for_that_file(tmp_path: Path) -> None:
    """read_fatbin on a cut-off library returns an error instead of raising."""
    data = (FIXTURES / "sass_ptx.so").read_bytes()
    for cut in (0, 10, 64, 2000, 8200, len(data) // 2, len(data) - 100):
        path = tmp_path / f"cut{cut}.so"
        path.write_bytes(data[:cut])
        result = read_fatbin(path)
        assert result.error is not None, cut
        assert result.containers == ()


def test_not_an_elf_file(tmp_path: Path) -> None:
    """A text file is reported as not ELF."""
    path = tmp_path / "x.so"
    path.write_text("hello")
    assert "not an ELF" in (read_fatbin(path).error or "") or "too small" in (
        read_fatbin(path).error or ""
    )


def test_missing_file(tmp_path: Path) -> None:
    """A missing file is an error result, not an exception."""
    assert "cannot read" in (read_fatbin(tmp_path / "nope.so").error or "")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_crash(data: bytes) -> None:
    """Arbitrary bytes either parse or raise FatbinError."""
    with contextlib.suppress(FatbinError):
        parse_containers(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_real_sections_never_crash(data: st.DataObject) -> None:
    """Flipping bytes of a real section either parses or raises FatbinError."""
    raw = bytearray(section_bytes("arch_family.so"))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        containers = parse_containers(bytes(raw[:cut]))
    except FatbinError:
        return
    total = sum(e.header_size + e.payload_size for c in containers for e in c.entries)
    assert total <= cut


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([1, 2, 8]),
            st.integers(64, 128),
            st.integers(0, 64),
            st.integers(50, 121),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_well_formed_containers_round_trip(specs: list[tuple[int, int, int, int]]) -> None:
    """Containers built from random valid entries parse back to the same kinds and archs."""
    body = b"".join(entry(kind, header, payload, arch) for kind, header, payload, arch in specs)
    parsed = parse_containers(container(body) + body)
    assert [(e.arch, e.header_size, e.payload_size) for e in parsed[0].entries] == [
        (arch, header, payload) for _, header, payload, arch in specs
    ]
