"""Helpers for probe unit tests: the nvcc-built fixtures, their manifest, fake environments."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fatbin"


def manifest() -> dict[str, Any]:
    """What build.py asked nvcc to embed in each fixture."""
    data: dict[str, Any] = json.loads((FIXTURES / "manifest.json").read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


def fake_dist(
    site: Path,
    name: str,
    version: str,
    files: dict[str, bytes | str | Path],
    requires: tuple[str, ...] = (),
) -> Path:
    """Install a minimal distribution into ``site``: its files, METADATA and RECORD.

    Values of ``files`` are contents, or a Path to copy (e.g. a fatbin fixture).
    """
    records = []
    for relative, content in files.items():
        target = site / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        records.append(f"{relative},,")
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    records += [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    (info / "RECORD").write_text("\n".join(records) + "\n")
    return info
