"""Binary compatibility of one library with this host: missing libraries and symbol versions.

For every shared library a package installed, resolve its DT_NEEDED entries the way ld.so would
(transitively), check each GLIBC_/GLIBCXX_/CXXABI_ version it needs against what the resolved
provider defines, and name the cuDNN and cuBLAS files that would actually load.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from modelport.probe.cudacompat import parse_version
from modelport.probe.dynamic import DynamicInfo
from modelport.probe.loader import Loader, Resolved

DRIVER_SONAMES = re.compile(r"^lib(cuda|nvidia-[a-z-]+|nvcuvid|nvidia-ml)\.so(\.\d+)*$")
_TRACKED = {"cudnn": re.compile(r"^libcudnn\.so"), "cublas": re.compile(r"^libcublas\.so")}
_FAMILY = re.compile(r"^([A-Z]+)_(\d[\d.]*)$")


@dataclass(frozen=True)
class VersionProblem:
    """A symbol version a file needs that its resolved provider does not define."""

    requester: str
    provider: str
    version: str

    @property
    def family(self) -> str:
        """``GLIBC``, ``GLIBCXX``, ``CXXABI`` or another prefix."""
        match = _FAMILY.match(self.version)
        return match.group(1) if match else "OTHER"


@dataclass(frozen=True)
class LoadedLibrary:
    """A CUDA math library (cuDNN, cuBLAS) and the file the loader would pick for it."""

    role: str
    soname: str
    path: str | None
    via: str
    version: str | None = None
    shadows: str | None = None


@dataclass(frozen=True)
class AbiFacts:
    """The result of checking one library's files against the host."""

    files: int = 0
    resolved: tuple[Resolved, ...] = ()
    direct: tuple[Resolved, ...] = ()
    missing: tuple[Resolved, ...] = ()
    env_only: tuple[Resolved, ...] = ()
    driver_libs: tuple[str, ...] = ()
    version_problems: tuple[VersionProblem, ...] = ()
    requires: tuple[tuple[str, str], ...] = ()
    loaded: tuple[LoadedLibrary, ...] = ()


def check_abi(
    files: Sequence[str],
    loader: Loader,
    env_lib_dirs: Sequence[str] = (),
    dlopened: Sequence[str] = (),
) -> AbiFacts:
    """Check a library's shared objects.

    Args:
        files: the shared libraries the package installed.
        loader: the resolver (LD_LIBRARY_PATH and system folders are set on it).
        env_lib_dirs: folders of NVIDIA wheels in the environment; a library the loader cannot
            find but that sits there is reported as ``env_only`` (it loads only when preloaded).
        dlopened: sonames the library opens with dlopen rather than DT_NEEDED (``libcudnn.so.9``),
            resolved from the package's own search paths to name the file that would load.

    Returns:
        The facts; nothing raises for unreadable files, they are skipped.
    """
    closure = loader.closure(list(files))
    missing, env_only, driver = [], [], set()
    for item in _unique(closure):
        if item.path:
            continue
        if DRIVER_SONAMES.match(item.soname):
            driver.add(item.soname)
        elif any(os.path.isfile(os.path.join(d, item.soname)) for d in env_lib_dirs):
            env_only.append(item)
        else:
            missing.append(item)
    providers = {(r.requester, r.soname): r.path for r in closure if r.path}
    problems, requires = _version_checks(files, loader, providers)
    loaded = _loaded(closure, files, loader, env_lib_dirs, dlopened)
    return AbiFacts(
        files=len(files),
        resolved=tuple(closure),
        direct=tuple(_unique([r for r in closure if r.requester in set(files)])),
        missing=tuple(missing),
        env_only=tuple(env_only),
        driver_libs=tuple(sorted(driver)),
        version_problems=tuple(problems),
        requires=tuple(sorted(requires.items())),
        loaded=tuple(loaded),
    )


def _unique(items: Sequence[Resolved]) -> list[Resolved]:
    seen: dict[str, Resolved] = {}
    for item in items:
        if item.soname not in seen or (item.path and not seen[item.soname].path):
            seen[item.soname] = item
    return list(seen.values())


def _version_checks(
    files: Sequence[str], loader: Loader, providers: dict[tuple[str, str], str]
) -> tuple[list[VersionProblem], dict[str, str]]:
    problems: list[VersionProblem] = []
    requires: dict[str, str] = {}
    for path in files:
        info = loader.info(path)
        if info is None:
            continue
        for soname, versions in info.version_needs.items():
            provider_path = providers.get((info.path, soname))
            provider = loader.info(provider_path) if provider_path else None
            defined = set(provider.version_defs) if provider else set()
            for version in versions:
                _track_max(requires, version)
                if provider is not None and defined and version not in defined:
                    problems.append(VersionProblem(path, provider.path, version))
    return problems, requires


def _track_max(requires: dict[str, str], version: str) -> None:
    match = _FAMILY.match(version)
    if not match or match.group(1) not in ("GLIBC", "GLIBCXX", "CXXABI"):
        return
    family, number = match.group(1), parse_version(match.group(2)) or ()
    current = parse_version(requires.get(family, "")) or ()
    if number > current:
        requires[family] = match.group(2)


def _loaded(
    closure: Sequence[Resolved],
    files: Sequence[str],
    loader: Loader,
    env_lib_dirs: Sequence[str],
    dlopened: Sequence[str],
) -> list[LoadedLibrary]:
    picked: dict[str, LoadedLibrary] = {}
    for item in closure:
        for role, pattern in _TRACKED.items():
            if pattern.match(item.soname) and role not in picked:
                picked[role] = _describe(role, item, env_lib_dirs)
    for soname in dlopened:
        wanted = next((r for r, p in _TRACKED.items() if p.match(soname)), None)
        if wanted is None or wanted in picked:
            continue
        picked[wanted] = _describe(wanted, _resolve_dlopen(soname, files, loader), env_lib_dirs)
    return list(picked.values())


def _resolve_dlopen(soname: str, files: Sequence[str], loader: Loader) -> Resolved:
    """dlopen from the package: try each of its files that has its own search path first."""
    infos = [i for i in (loader.info(f) for f in files) if i is not None]
    for info in sorted(infos, key=lambda i: not (i.rpath or i.runpath)):
        found = loader.resolve(soname, info)
        if found.path:
            return found
    return loader.resolve(soname, infos[0] if infos else DynamicInfo("", 2, 62))


def _describe(role: str, item: Resolved, env_lib_dirs: Sequence[str]) -> LoadedLibrary:
    shadows: str | None = None
    if item.path and item.via == "LD_LIBRARY_PATH":
        copies = [os.path.join(d, item.soname) for d in env_lib_dirs]
        other = [c for c in copies if os.path.isfile(c) and not os.path.samefile(c, item.path)]
        shadows = other[0] if other else None
    if item.path is None:  # not on the loader's path: loads only if the library preloads it
        copies = [os.path.join(d, item.soname) for d in env_lib_dirs]
        found = next((c for c in copies if os.path.isfile(c)), None)
        if found:
            item = Resolved(item.soname, item.requester, found, "environment (preloaded)")
    version = library_version(item.path) if item.path else None
    return LoadedLibrary(role, item.soname, item.path, item.via, version, shadows)


def library_version(path: str) -> str | None:
    """Version of a cuDNN/cuBLAS file: its real file name, or cudnn_version.h beside its lib/."""
    real = os.path.basename(os.path.realpath(path))
    match = re.search(r"\.so\.(\d+\.\d+(?:\.\d+)*)$", real)
    if match:
        return match.group(1)
    header = os.path.join(os.path.dirname(os.path.dirname(path)), "include", "cudnn_version.h")
    return cudnn_header_version(header) if os.path.basename(path).startswith("libcudnn") else None


def cudnn_header_version(header: str) -> str | None:
    """Read CUDNN_MAJOR/MINOR/PATCHLEVEL from a ``cudnn_version.h``."""
    try:
        text = Path(header).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    parts = [
        re.search(rf"#define\s+CUDNN_{n}\s+(\d+)", text) for n in ("MAJOR", "MINOR", "PATCHLEVEL")
    ]
    return ".".join(p.group(1) for p in parts if p) or None
