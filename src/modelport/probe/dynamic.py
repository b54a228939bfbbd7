"""What an ELF shared library tells the dynamic loader: its needs, search paths and versions.

Reads ``.dynamic`` (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH) and the GNU symbol-version
sections: ``.gnu.version_r`` (GLIBC_2.34 from libc.so.6, GLIBCXX_3.4.30 from libstdc++.so.6, …) and
``.gnu.version_d`` (the versions a library itself provides).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from modelport.errors import ElfError
from modelport.probe.elf import (
    SHT_DYNAMIC,
    SHT_GNU_VERDEF,
    SHT_GNU_VERNEED,
    ElfFile,
    Section,
    string_at,
)

DT_NULL, DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH = 0, 1, 14, 15, 29
_MAX_RECORDS = 100_000


@dataclass(frozen=True)
class DynamicInfo:
    """The loader-relevant facts of one ELF file."""

    path: str
    elf_class: int = 2
    machine: int = 0
    soname: str | None = None
    needed: tuple[str, ...] = ()
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()
    version_needs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    version_defs: tuple[str, ...] = ()


def read_dynamic(path: str | os.PathLike[str]) -> DynamicInfo:
    """Read the dynamic section and symbol versions of ``path``.

    Args:
        path: an ELF shared library, executable or Python extension module.

    Returns:
        The facts; empty tuples for a static or relocatable object.

    Raises:
        ElfError: the file is not a readable ELF object.
    """
    with ElfFile(path) as elf:
        return dynamic_of(elf)


def dynamic_of(elf: ElfFile) -> DynamicInfo:
    """Return the :class:`DynamicInfo` of an open ELF file."""
    dyn = next((s for s in elf.sections if s.type == SHT_DYNAMIC), None)
    needed: list[str] = []
    soname: str | None = None
    rpath: list[str] = []
    runpath: list[str] = []
    if dyn is not None:
        strtab = _linked_strings(elf, dyn)
        for tag, value in _dynamic_entries(elf, dyn):
            if tag == DT_NEEDED:
                needed.append(string_at(strtab, value))
            elif tag == DT_SONAME:
                soname = string_at(strtab, value)
            elif tag == DT_RPATH:
                rpath += [p for p in string_at(strtab, value).split(":") if p]
            elif tag == DT_RUNPATH:
                runpath += [p for p in string_at(strtab, value).split(":") if p]
    return DynamicInfo(
        path=elf.path,
        elf_class=2 if elf.is64 else 1,
        machine=elf.machine,
        soname=soname,
        needed=tuple(needed),
        rpath=tuple(rpath),
        runpath=tuple(runpath),
        version_needs=_version_needs(elf),
        version_defs=_version_defs(elf),
    )


def _linked_strings(elf: ElfFile, section: Section) -> bytes:
    if 0 < section.link < len(elf.sections):
        return elf.read(elf.sections[section.link])
    return b""


def _dynamic_entries(elf: ElfFile, dyn: Section) -> list[tuple[int, int]]:
    size = 16 if elf.is64 else 8
    fmt = "qQ" if elf.is64 else "iI"
    entries = []
    for at in range(dyn.offset, dyn.offset + dyn.size - size + 1, size):
        tag, value = elf.unpack(fmt, at)
        if tag == DT_NULL:
            break
        entries.append((tag, value))
    return entries


def _walk(elf: ElfFile, section: Section, next_at: int) -> list[int]:
    """Offsets of a linked list of version records; stops on loops and out-of-range links."""
    offsets: list[int] = []
    at, end = section.offset, section.offset + section.size
    seen: set[int] = set()
    while section.offset <= at < end and at not in seen and len(offsets) < _MAX_RECORDS:
        seen.add(at)
        offsets.append(at)
        step = elf.unpack("I", at + next_at)[0]
        if step == 0:
            break
        at += step
    return offsets


def _version_needs(elf: ElfFile) -> dict[str, tuple[str, ...]]:
    section = next((s for s in elf.sections if s.type == SHT_GNU_VERNEED), None)
    if section is None:
        return {}
    strtab = _linked_strings(elf, section)
    needs: dict[str, tuple[str, ...]] = {}
    try:
        for at in _walk(elf, section, 12):
            _, count, file_name, aux = elf.unpack("HHII", at)[:4]
            names = []
            aux_at = at + aux
            for _ in range(min(count, _MAX_RECORDS)):
                name, step = elf.unpack("IHHII", aux_at)[3:5]
                names.append(string_at(strtab, name))
                if step == 0:
                    break
                aux_at += step
            key = string_at(strtab, file_name)
            needs[key] = needs.get(key, ()) + tuple(names)
    except ElfError:
        return needs
    return needs


def _version_defs(elf: ElfFile) -> tuple[str, ...]:
    section = next((s for s in elf.sections if s.type == SHT_GNU_VERDEF), None)
    if section is None:
        return ()
    strtab = _linked_strings(elf, section)
    names: list[str] = []
    try:
        for at in _walk(elf, section, 16):
            flags, _, count, _, aux = elf.unpack("HHHHII", at)[1:6]
            if count and not flags & 1:  # VER_FLG_BASE names the file itself, not a version
                names.append(string_at(strtab, elf.unpack("I", at + aux)[0]))
    except ElfError:
        return tuple(names)
    return tuple(names)
