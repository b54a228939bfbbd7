"""Host facts that decide whether a binary wheel can load: OS, glibc, libstdc++, and the Python
whose packages are inspected (this one, or the one owning the ``--path`` folders)."""

from __future__ import annotations

import os
import platform
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from modelport.probe.cudacompat import parse_version
from modelport.probe.dynamic import DynamicInfo
from modelport.probe.elf import elf_identity
from modelport.probe.interpreter import inspected
from modelport.probe.loader import Loader


@dataclass(frozen=True)
class HostFacts:
    """What the host provides to native extension modules."""

    os_name: str
    kernel: str
    machine: str
    glibc: str | None
    libstdcxx_path: str | None
    glibcxx: str | None
    cxxabi: str | None
    python: str
    python_executable: str
    ld_library_path: str
    site_packages: tuple[str, ...] = ()
    python_source: str = "this interpreter"  # or "--path"


def newest(versions: tuple[str, ...] | list[str], prefix: str) -> str | None:
    """Return the highest ``PREFIX_x.y.z`` among ``versions`` (e.g. GLIBCXX_3.4.30)."""
    pattern = re.compile(rf"^{prefix}_(\d+(?:\.\d+)*)$")
    found = [v for v in versions if pattern.match(v)]
    return max(found, key=lambda v: parse_version(v[len(prefix) :]) or ()) if found else None


def os_name(release_file: str = "/etc/os-release") -> str:
    """The distribution's PRETTY_NAME, or the platform's name when it has none."""
    try:
        for line in Path(release_file).read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def glibc_version() -> str | None:
    """The C library's version as ``2.36``, or None for a non-glibc host (musl)."""
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError, AttributeError):
        return None
    return text.split()[-1] if text and text.startswith("glibc") else None


def find_libstdcxx(loader: Loader, executable: str = "") -> DynamicInfo | None:
    """Return the libstdc++.so.6 the loader would give ``executable`` (this Python by default),
    with its versions; a conda interpreter's RPATH, for one, finds the environment's own."""
    executable = os.path.realpath(executable or sys.executable)
    ident = elf_identity(executable) or (2, 62)
    requester = DynamicInfo(path=executable, elf_class=ident[0], machine=ident[1])
    found = loader.resolve("libstdc++.so.6", requester)
    return loader.info(found.path) if found.path else None


def read_host(loader: Loader, paths: Sequence[str] | None = None) -> HostFacts:
    """Collect the host facts.

    Args:
        loader: resolves libstdc++.so.6 the way the dynamic loader would.
        paths: the ``--path`` folders; their Python is reported instead of this one.

    Returns:
        The facts; fields are None where the host lacks the component.
    """
    python = inspected(paths)
    libstdcxx = find_libstdcxx(loader, python.executable)
    defs = libstdcxx.version_defs if libstdcxx else ()
    return HostFacts(
        os_name=os_name(),
        kernel=platform.release(),
        machine=platform.machine(),
        glibc=glibc_version(),
        libstdcxx_path=os.path.realpath(libstdcxx.path) if libstdcxx else None,
        glibcxx=newest(defs, "GLIBCXX"),
        cxxabi=newest(defs, "CXXABI"),
        python=python.python,
        python_executable=python.executable,
        ld_library_path=":".join(loader.ld_library_path),
        site_packages=python.site_packages,
        python_source=python.source,
    )
