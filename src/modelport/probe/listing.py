"""``modelport probe fatbin``'s output: one line per GPU code entry, like cuobjdump's lists."""

from __future__ import annotations

import os
from typing import Any

from modelport.probe.fatbin import FatbinEntry, FatbinFile


def entry_dict(entry: FatbinEntry, container: int, section: str) -> dict[str, Any]:
    """One entry as JSON-ready data."""
    return {
        "container": container,
        "section": section or None,
        "kind": entry.kind,
        "target": entry.target,
        "arch": entry.arch,
        "variant": entry.variant or None,
        "ptx_isa": f"{entry.version[0]}.{entry.version[1]}" if entry.ptx_isa else None,
        "compression": entry.compression,
        "debug": entry.debug,
        "size": entry.payload_size,
        "uncompressed_size": entry.uncompressed_size,
        "object_name": entry.object_name or None,
        "offset": entry.offset,
        "flags": entry.flags,
    }


def fatbin_dict(result: FatbinFile) -> dict[str, Any]:
    """One file's listing as JSON-ready data."""
    entries = [
        entry_dict(entry, index, container.section)
        for index, container in enumerate(result.containers, 1)
        for entry in container.entries
    ]
    return {
        "path": result.path,
        "error": result.error,
        "sections": list(result.sections),
        "containers": len(result.containers),
        "entries": entries,
    }


def fatbin_lines(result: FatbinFile) -> list[str]:
    """Text listing: ``ELF file 1: name.1.sm_80.cubin`` / ``PTX file 1: name.1.sm_90.ptx``."""
    stem = os.path.basename(result.path).split(".so")[0]
    lines = [f"{result.path}: {len(result.containers)} fatbin container(s)"]
    if result.error:
        return [*lines, f"  error: {result.error}"]
    counts = {"sass": 0, "ptx": 0, "lto": 0}
    for index, container in enumerate(result.containers, 1):
        for entry in container.entries:
            counts[entry.kind] = counts.get(entry.kind, 0) + 1
            label, suffix = {"sass": ("ELF", "cubin"), "ptx": ("PTX", "ptx")}.get(
                entry.kind, ("LTO", "nvvm")
            )
            name = f"{stem}.{index}.sm_{entry.arch}{entry.variant}.{suffix}"
            facts = [f"container {index}", container.section or "scanned"]
            if entry.ptx_isa:
                facts.append(f"ISA {entry.version[0]}.{entry.version[1]}")
            if entry.compression != "none":
                facts.append(
                    f"{entry.compression} {entry.payload_size}→{entry.uncompressed_size} B"
                )
            else:
                facts.append(f"{entry.payload_size} B")
            if entry.debug:
                facts.append("debug (-G)")
            if entry.object_name:
                facts.append(entry.object_name)
            lines.append(f"{label} file {counts[entry.kind]:4d}: {name}  [{', '.join(facts)}]")
    return lines
