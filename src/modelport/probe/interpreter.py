"""The Python environment a probe inspects: this interpreter's, or the one that owns the
``--path`` folders (found from the folder layout and ``pyvenv.cfg``, never by running it)."""

from __future__ import annotations

import os
import platform
import re
import site
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_LIB = re.compile(r"^(?:lib|lib64)$")
_PYDIR = re.compile(r"^python(\d+(?:\.\d+)?)t?$")  # python3.11, python3.13t, Debian's python3


@dataclass(frozen=True)
class InspectedPython:
    """Which interpreter's packages the report describes.

    Attributes:
        python: ``CPython 3.11.7``, or ``Python 3.11`` when only the folder name tells.
        executable: the interpreter's path; empty when no interpreter was found.
        site_packages: the folders whose packages were read.
        source: ``this interpreter`` or ``--path``.
    """

    python: str
    executable: str
    site_packages: tuple[str, ...]
    source: str


def this_python() -> InspectedPython:
    """The interpreter running the probe, with its site-packages folders."""
    folders = [*site.getsitepackages(), site.getusersitepackages()]
    existing = tuple(dict.fromkeys(f for f in folders if os.path.isdir(f)))
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return InspectedPython(python, sys.executable, existing, "this interpreter")


def _pyvenv(prefix: Path) -> dict[str, str]:
    try:
        text = (prefix / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key.strip().lower(): value.strip() for key, value in pairs}


def _interpreter(prefix: Path, short: str) -> str:
    for name in (f"python{short}", "python3", "python"):
        candidate = prefix / "bin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return ""


def python_of(folder: str) -> tuple[str, str] | None:
    """``(python, executable)`` of the environment owning a site-packages folder, if its layout
    (``PREFIX/lib/pythonX.Y/site-packages``) says; None when it does not."""
    path = Path(folder).resolve()
    if path.name not in ("site-packages", "dist-packages"):
        return None
    pydir, lib = path.parent, path.parent.parent
    match = _PYDIR.match(pydir.name)
    if not match or not _LIB.match(lib.name):
        return None
    prefix, short = lib.parent, match.group(1)
    cfg = _pyvenv(prefix)
    version = cfg.get("version_info") or cfg.get("version") or short
    version = ".".join(version.split(".")[:3])
    implementation = cfg.get("implementation", "CPython" if cfg else "Python")
    return f"{implementation} {version}", _interpreter(prefix, short)


def inspected(paths: Sequence[str] | None) -> InspectedPython:
    """What the probe inspects: ``paths`` (the ``--path`` folders) or this interpreter."""
    if paths is None:
        return this_python()
    found = [f for f in (python_of(p) for p in paths) if f is not None]
    python, executable = found[0] if found else ("unknown", "")
    return InspectedPython(python, executable, tuple(paths), "--path")
