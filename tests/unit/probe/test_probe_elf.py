"""The ELF reader and the dynamic-section reader on real and broken files."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from probe_helpers import FIXTURES

from modelport.errors import ElfError
from modelport.probe.dynamic import read_dynamic
from modelport.probe.elf import ElfFile, elf_identity, is_elf


def test_sections_of_a_fixture() -> None:
    """A linked library has .dynamic and .nv_fatbin sections at in-file offsets."""
    with ElfFile(FIXTURES / "sass_ptx.so") as elf:
        names = {s.name for s in elf.sections}
        assert {".dynamic", ".nv_fatbin", ".nvFatBinSegment", ".dynstr"} <= names
        assert elf.is64 and elf.endian == "<" and elf.machine == 62
        section = elf.section(".nv_fatbin")
        assert section is not None and section.offset + section.size <= elf.size


def test_dynamic_needs_of_a_fixture() -> None:
    """The -cudart shared fixtures need libcudart.so.13 and libstdc++, with GLIBC versions."""
    info = read_dynamic(FIXTURES / "sass_ptx.so")
    assert info.needed[0] == "libcudart.so.13"
    assert "libstdc++.so.6" in info.needed and "libc.so.6" in info.needed
    assert "GLIBC_2.2.5" in info.version_needs["libc.so.6"]
    assert info.rpath == () and info.runpath == ()


def test_version_definitions_of_the_host_libstdcxx() -> None:
    """The host's libstdc++ defines GLIBCXX_3.4 versions (read from .gnu.version_d)."""
    path = Path("/usr/lib/x86_64-linux-gnu/libstdc++.so.6")
    if not path.exists():
        pytest.skip("no Debian-layout libstdc++ here")
    defs = read_dynamic(path).version_defs
    assert "GLIBCXX_3.4" in defs and "CXXABI_1.3" in defs


def test_not_elf_and_truncated(tmp_path: Path) -> None:
    """Bad magic, a short file and a cut section table raise ElfError."""
    bad = tmp_path / "bad"
    bad.write_bytes(b"MZ" + b"\0" * 100)
    with pytest.raises(ElfError, match="not an ELF"):
        ElfFile(bad)
    short = tmp_path / "short"
    short.write_bytes(b"\x7fELF")
    with pytest.raises(ElfError, match="too small"):
        ElfFile(short)
    cut = tmp_path / "cut.so"
    cut.write_bytes((FIXTURES / "sass_ptx.so").read_bytes()[:4096])
    with pytest.raises(ElfError, match="past the end"):
        ElfFile(cut)


def test_identity_helpers(tmp_path: Path) -> None:
    """is_elf and elf_identity tell ELF files from others without raising."""
    assert is_elf(FIXTURES / "rdc.so")
    assert elf_identity(FIXTURES / "rdc.so") == (2, 62)
    other = tmp_path / "t"
    other.write_text("text")
    assert not is_elf(other) and elf_identity(other) is None
    assert elf_identity(tmp_path / "missing") is None


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=400))
def test_random_bytes_after_elf_magic(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    """Random bytes behind the ELF magic either parse or raise ElfError."""
    path = tmp_path_factory.mktemp("elf") / "x.so"
    path.write_bytes(b"\x7fELF\x02\x01\x01" + data)
    try:
        with ElfFile(path) as elf:
            for section in elf.sections:
                elf.read(section)
        read_dynamic(path)
    except ElfError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_mutated_headers_never_crash(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """Corrupting the ELF and section headers of a real library never escapes ElfError."""
    raw = bytearray((FIXTURES / "sass_ptx.so").read_bytes())
    with ElfFile(FIXTURES / "sass_ptx.so") as elf:
        table = elf._shoff  # the section header table is the interesting target
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.one_of(st.integers(0, 63), st.integers(table, len(raw) - 1)))
        raw[at] = data.draw(st.integers(0, 255))
    path = tmp_path_factory.mktemp("elf") / "m.so"
    path.write_bytes(bytes(raw))
    with contextlib.suppress(ElfError):
        read_dynamic(path)
