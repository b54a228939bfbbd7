"""A small, bounds-checked reader for ELF section headers.

Only what the probe needs: the file's class, byte order and machine, and its sections by name, each
readable as a slice of the file. Every offset is checked against the file size, so a truncated or
hostile file raises :class:`~modelport.errors.ElfError` instead of reading past the end.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from types import TracebackType

from modelport.errors import ElfError

ELF_MAGIC = b"\x7fELF"
SHT_NOBITS = 8
SHT_PROGBITS = 1
SHT_DYNAMIC = 6
SHT_GNU_VERDEF = 0x6FFFFFFD
SHT_GNU_VERNEED = 0x6FFFFFFE
_SHN_XINDEX = 0xFFFF
_MAX_SECTIONS = 1 << 16


@dataclass(frozen=True)
class Section:
    """One section header of an ELF file."""

    index: int
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int


class ElfFile:
    """An open ELF file whose sections can be read without loading the whole file.

    Use it as a context manager; the file is memory-mapped, so reading a few headers of a
    1 GB library touches only a few pages.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open and parse the ELF header and section table of ``path``.

        Args:
            path: the file to read.

        Raises:
            ElfError: the file cannot be opened or is not a well-formed ELF object.
        """
        self.path = os.fspath(path)
        self._map: mmap.mmap | None = None
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < 16:
                    raise ElfError(f"{self.path}: {size} bytes is too small for an ELF header")
                self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise ElfError(f"{self.path}: cannot read: {exc.strerror or exc}") from exc
        self.data: bytes | mmap.mmap = self._map
        try:
            self._parse_header()
            self.sections = self._parse_sections()
        except ElfError:
            self.close()
            raise

    def __enter__(self) -> ElfFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the memory map."""
        if self._map is not None:
            self._map.close()
            self._map = None

    @property
    def size(self) -> int:
        """Size of the file in bytes."""
        return len(self.data)

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        """Unpack ``fmt`` (without byte-order prefix) at ``offset`` in the file's byte order.

        Raises:
            ElfError: the field lies (partly) outside the file.
        """
        full = self.endian + fmt
        if offset < 0 or offset + struct.calcsize(full) > self.size:
            raise ElfError(f"{self.path}: field at offset {offset:#x} lies past the end of file")
        return struct.unpack_from(full, self.data, offset)

    def section(self, name: str) -> Section | None:
        """Return the first section called ``name``, or None."""
        return next((s for s in self.sections if s.name == name), None)

    def read(self, section: Section) -> bytes:
        """Return the bytes of ``section`` (empty for NOBITS sections)."""
        if section.type == SHT_NOBITS:
            return b""
        return bytes(self.data[section.offset : section.offset + section.size])

    def view(self, section: Section) -> memoryview:
        """Return a zero-copy view of ``section``; valid until :meth:`close`."""
        if section.type == SHT_NOBITS:
            return memoryview(b"")
        return memoryview(self.data)[section.offset : section.offset + section.size]

    def _parse_header(self) -> None:
        ident = bytes(self.data[:16])
        if ident[:4] != ELF_MAGIC:
            raise ElfError(f"{self.path}: not an ELF file (bad magic)")
        if ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise ElfError(f"{self.path}: unknown ELF class or byte order")
        self.is64 = ident[4] == 2
        self.endian = "<" if ident[5] == 1 else ">"
        fields = self.unpack("HHIQQQIHHHHHH" if self.is64 else "HHIIIIIHHHHHH", 16)
        self.type, self.machine = fields[0], fields[1]
        self._shoff, self._shentsize = fields[5], fields[10]
        self._shnum, self._shstrndx = fields[11], fields[12]

    def _parse_sections(self) -> list[Section]:
        if self._shoff == 0:
            return []
        want = 64 if self.is64 else 40
        if self._shentsize < want:
            raise ElfError(f"{self.path}: section header size {self._shentsize} is too small")
        raw = [self._raw_section(0)]
        count = self._shnum or raw[0][5]
        if count > _MAX_SECTIONS or self._shoff + count * self._shentsize > self.size:
            raise ElfError(f"{self.path}: section table lies past the end of file")
        raw += [self._raw_section(i) for i in range(1, count)]
        strndx = raw[0][6] if self._shstrndx == _SHN_XINDEX else self._shstrndx
        names = self._names(raw[strndx] if strndx < count else None)
        sections = []
        for index, (name, typ, flags, addr, offset, size, link) in enumerate(raw):
            if typ != SHT_NOBITS and (offset > self.size or size > self.size - offset):
                raise ElfError(f"{self.path}: section {index} lies past the end of file")
            sections.append(Section(index, names(name), typ, flags, addr, offset, size, link))
        return sections

    def _raw_section(self, index: int) -> tuple[int, int, int, int, int, int, int]:
        at = self._shoff + index * self._shentsize
        if self.is64:
            name, typ, flags, addr, offset, size, link = self.unpack("IIQQQQI", at)
        else:
            name, typ, flags, addr, offset, size, link = self.unpack("IIIIIII", at)
        return name, typ, flags, addr, offset, size, link

    def _names(self, strtab: tuple[int, ...] | None) -> _StringTable:
        if strtab is None or strtab[1] == SHT_NOBITS:
            return _StringTable(b"")
        offset, size = strtab[4], strtab[5]
        return _StringTable(bytes(self.data[offset : offset + size]))


class _StringTable:
    """NUL-terminated strings looked up by offset; bad offsets give an empty name."""

    def __init__(self, blob: bytes) -> None:
        self.blob = blob

    def __call__(self, offset: int) -> str:
        if offset >= len(self.blob):
            return ""
        end = self.blob.find(b"\0", offset)
        return self.blob[offset : end if end >= 0 else len(self.blob)].decode("utf-8", "replace")


def string_at(blob: bytes, offset: int) -> str:
    """Return the NUL-terminated string at ``offset`` of ``blob`` ('' when out of range)."""
    return _StringTable(blob)(offset)


def is_elf(path: str | os.PathLike[str]) -> bool:
    """Tell whether ``path`` is a regular file starting with the ELF magic."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == ELF_MAGIC
    except OSError:
        return False


def elf_identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """Return (ELF class, machine) of ``path``, or None if it is not a readable ELF file."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != ELF_MAGIC or head[5] not in (1, 2):
        return None
    machine: int = struct.unpack_from("<H" if head[5] == 1 else ">H", head, 18)[0]
    return head[4], machine
