"""Parser for NVIDIA fat binaries: the GPU code (SASS and PTX) inside a CUDA shared library.

A fatbin section (``.nv_fatbin`` for linked code, ``__nv_relfatbin`` for relocatable device code)
holds one or more containers back to back, each a 16-byte header followed by entries. Every entry
has its own header naming the kind of code, the SM architecture, the PTX ISA version and whether
the payload is compressed. Only headers are read: payloads are skipped, so compressed entries need
no decompression and a 1 GB section costs a few thousand small reads.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from modelport.errors import ElfError, FatbinError
from modelport.probe.elf import SHT_PROGBITS, ElfFile

CONTAINER_MAGIC = 0xBA55ED50
CONTAINER_HEADER = struct.Struct("<IHHQ")
ENTRY_HEADER = struct.Struct("<HHIQIIHHIIIQ")
MIN_ENTRY_HEADER = 64
FATBIN_SECTIONS = (".nv_fatbin", "__nv_relfatbin")

KIND_PTX, KIND_ELF, KIND_LTO = 1, 2, 8
FLAG_DEBUG = 0x2
FLAG_LZ4 = 0x2000
FLAG_ZSTD = 0x8000
FLAG_ARCH_SPECIFIC = 0x100000
FLAG_FAMILY = 0x200000
_KIND_NAMES = {KIND_PTX: "ptx", KIND_ELF: "sass", KIND_LTO: "lto"}
_MAGIC_BYTES = struct.pack("<I", CONTAINER_MAGIC)


@dataclass(frozen=True)
class FatbinEntry:
    """One piece of GPU code: a cubin (SASS), PTX text or LTO IR for one architecture."""

    kind: str
    arch: int
    variant: str
    version: tuple[int, int]
    compression: str
    debug: bool
    flags: int
    header_size: int
    payload_size: int
    uncompressed_size: int
    object_name: str
    offset: int

    @property
    def target(self) -> str:
        """``sm_90a`` for SASS, ``compute_90`` for PTX, ``lto_90`` for LTO IR."""
        prefix = {"sass": "sm", "ptx": "compute"}.get(self.kind, self.kind)
        return f"{prefix}_{self.arch}{self.variant}"

    @property
    def ptx_isa(self) -> tuple[int, int] | None:
        """The PTX ISA version (major, minor) of a PTX entry, else None."""
        return self.version if self.kind == "ptx" else None


@dataclass(frozen=True)
class Container:
    """One fatbin container: a header and its entries."""

    section: str
    offset: int
    size: int
    entries: tuple[FatbinEntry, ...]


@dataclass(frozen=True)
class FatbinFile:
    """All fatbin containers of one file, or the error that stopped the parse."""

    path: str
    containers: tuple[Container, ...] = ()
    error: str | None = None
    sections: tuple[str, ...] = field(default=())

    @property
    def entries(self) -> tuple[FatbinEntry, ...]:
        """Every entry of every container, in file order."""
        return tuple(e for c in self.containers for e in c.entries)

    def linked_entries(self) -> tuple[FatbinEntry, ...]:
        """Entries the CUDA runtime loads: ``.nv_fatbin`` (or any non-relocatable section)."""
        linked = [c for c in self.containers if c.section != "__nv_relfatbin"]
        chosen = linked or [c for c in self.containers if c.section == ""]
        return tuple(e for c in chosen for e in c.entries)


def parse_entry(buf: memoryview | bytes, at: int, end: int) -> FatbinEntry:
    """Parse the entry header at ``at``; the entry must end at or before ``end``.

    Raises:
        FatbinError: the header is too small, or the entry runs past ``end``.
    """
    if at + MIN_ENTRY_HEADER > end:
        raise FatbinError(f"entry header at {at:#x} is truncated")
    (
        kind,
        _,
        header_size,
        payload_size,
        compressed,
        _,
        minor,
        major,
        arch,
        name_at,
        name_len,
        flags,
    ) = ENTRY_HEADER.unpack_from(buf, at)
    if header_size < MIN_ENTRY_HEADER:
        raise FatbinError(f"entry at {at:#x} has header size {header_size} (< 64)")
    if header_size + payload_size > end - at:
        raise FatbinError(
            f"entry at {at:#x} claims {header_size + payload_size} bytes past the end"
        )
    uncompressed = struct.unpack_from("<Q", buf, at + 0x38)[0] if compressed else payload_size
    return FatbinEntry(
        kind=_KIND_NAMES.get(kind, f"kind{kind}"),
        arch=arch,
        variant=_variant(flags),
        version=(major, minor),
        compression=_compression(flags, compressed),
        debug=bool(flags & FLAG_DEBUG),
        flags=flags,
        header_size=header_size,
        payload_size=payload_size,
        uncompressed_size=uncompressed,
        object_name=_object_name(buf, at, header_size + payload_size, name_at, name_len),
        offset=at,
    )


def parse_containers(buf: memoryview | bytes, section: str = "", base: int = 0) -> list[Container]:
    """Parse every container in ``buf``, a fatbin section's bytes.

    Args:
        buf: the section contents.
        section: the section's name, recorded in each container.
        base: file offset of ``buf``, so reported offsets are file offsets.

    Returns:
        The containers in order; zero padding between and after them is skipped.

    Raises:
        FatbinError: wrong magic, a zero or short header size, or sizes pointing past the end.
    """
    containers: list[Container] = []
    at, end = 0, len(buf)
    while True:
        at = _skip_padding(buf, at, end)
        if at >= end:
            return containers
        containers.append(_parse_container(buf, at, end, section, base))
        at += CONTAINER_HEADER.size + containers[-1].size


def _parse_container(
    buf: memoryview | bytes, at: int, end: int, section: str, base: int
) -> Container:
    if at + CONTAINER_HEADER.size > end:
        raise FatbinError(f"container header at {base + at:#x} is truncated")
    magic, _, header_size, size = CONTAINER_HEADER.unpack_from(buf, at)
    if magic != CONTAINER_MAGIC:
        raise FatbinError(f"bad fatbin magic {magic:#010x} at {base + at:#x}")
    if header_size < CONTAINER_HEADER.size:
        raise FatbinError(f"container at {base + at:#x} has header size {header_size} (< 16)")
    body, stop = at + header_size, at + header_size + size
    if stop > end:
        raise FatbinError(f"container at {base + at:#x} claims {size} bytes past the end")
    entries = []
    cursor = body
    while cursor < stop:
        entry = parse_entry(buf, cursor, stop)
        entries.append(_rebase(entry, base))
        cursor += entry.header_size + entry.payload_size
    return Container(section, base + at, header_size - CONTAINER_HEADER.size + size, tuple(entries))


def _skip_padding(buf: memoryview | bytes, at: int, end: int) -> int:
    """Skip the zero bytes that pad containers to 8-byte boundaries (and any trailing zeros)."""
    while at < end and buf[at] == 0:
        chunk = bytes(buf[at : min(end, at + 4096)])
        at += len(chunk) - len(chunk.lstrip(b"\0"))
    return at


def _rebase(entry: FatbinEntry, base: int) -> FatbinEntry:
    return replace(entry, offset=entry.offset + base) if base else entry


def _variant(flags: int) -> str:
    if flags & FLAG_ARCH_SPECIFIC:
        return "a"
    return "f" if flags & FLAG_FAMILY else ""


def _compression(flags: int, compressed: int) -> str:
    if flags & FLAG_ZSTD:
        return "zstd"
    if flags & FLAG_LZ4:
        return "lz4"
    return "unknown" if compressed else "none"


def _object_name(buf: memoryview | bytes, at: int, limit: int, name_at: int, length: int) -> str:
    if not name_at or not length or name_at + length > limit or length > 4096:
        return ""
    raw = bytes(buf[at + name_at : at + name_at + length])
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


def find_magic(buf: memoryview | bytes) -> Iterator[int]:
    """Yield 8-byte aligned offsets in ``buf`` where a container header starts."""
    data = bytes(buf)
    at = data.find(_MAGIC_BYTES)
    while at >= 0:
        if at % 8 == 0 and at + CONTAINER_HEADER.size <= len(data):
            yield at
        at = data.find(_MAGIC_BYTES, at + 1)


def read_fatbin(path: str | os.PathLike[str], scan: bool = False) -> FatbinFile:
    """List the GPU code in one ELF file; never raises for a bad file.

    Args:
        path: a shared library, object file or executable.
        scan: also search every PROGBITS section for container magic, for files whose fatbin
            section was renamed. Without it, the search runs only when the file has a
            ``.nvFatBinSegment`` but no fatbin section.

    Returns:
        The containers found, or an empty result with ``error`` set when the file is not a
        readable ELF object or its fatbin is truncated or corrupt.
    """
    name = os.fspath(path)
    try:
        with ElfFile(name) as elf:
            sections = [s for s in elf.sections if s.name in FATBIN_SECTIONS]
            containers: list[Container] = []
            for section in sections:
                with elf.view(section) as view:
                    containers += parse_containers(view, section.name, section.offset)
            if scan or (not sections and elf.section(".nvFatBinSegment") is not None):
                containers += _scan(elf, {s.index for s in sections})
            return FatbinFile(name, tuple(containers), None, tuple(s.name for s in sections))
    except (ElfError, FatbinError) as exc:
        return FatbinFile(name, error=str(exc))


def _scan(elf: ElfFile, skip: set[int]) -> list[Container]:
    found: list[Container] = []
    for section in elf.sections:
        if section.type != SHT_PROGBITS or section.index in skip:
            continue
        with elf.view(section) as view:
            found += _scan_view(view, section.offset)
    return found


def _scan_view(view: memoryview, base: int) -> list[Container]:
    found: list[Container] = []
    next_free = 0
    for at in find_magic(view):
        if at < next_free:
            continue
        try:
            container = _parse_container(view, at, len(view), "", base)
        except FatbinError:
            continue
        found.append(container)
        next_free = at + CONTAINER_HEADER.size + container.size
    return found


def has_fatbin(elf: ElfFile) -> bool:
    """Tell whether an open ELF file has a fatbin section or a fatbin wrapper segment."""
    names = {s.name for s in elf.sections}
    return bool(names & {*FATBIN_SECTIONS, ".nvFatBinSegment"})
