"""Where the dynamic loader would find each DT_NEEDED library, following ld.so's search order.

For a bare soname ld.so tries: DT_RPATH of the requesting object (only if it has no DT_RUNPATH)
and then of the objects that loaded it; LD_LIBRARY_PATH; the requester's own DT_RUNPATH; the
ld.so cache (rebuilt here from /etc/ld.so.conf); and the default directories. ``$ORIGIN`` is the
requesting object's folder. A candidate of the wrong ELF class or machine is skipped, as ld.so does.
"""

from __future__ import annotations

import glob
import os
import platform
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelport.errors import ElfError
from modelport.probe.dynamic import DynamicInfo, read_dynamic
from modelport.probe.elf import elf_identity

_MULTIARCH = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}
_MAX_CONF_FILES = 256


@dataclass(frozen=True)
class Resolved:
    """One DT_NEEDED entry and where it would load from (``path`` None when not found)."""

    soname: str
    requester: str
    path: str | None
    via: str


def default_dirs() -> list[str]:
    """The loader's built-in directories for this machine."""
    triplet = _MULTIARCH.get(platform.machine(), "")
    dirs = [f"/lib/{triplet}", f"/usr/lib/{triplet}"] if triplet else []
    return [*dirs, "/lib64", "/usr/lib64", "/lib", "/usr/lib"]


def conf_dirs(conf: str = "/etc/ld.so.conf") -> list[str]:
    """Directories listed by ``ld.so.conf`` and the files it includes, in order."""
    dirs: list[str] = []
    seen: set[str] = set()

    def read(path: str) -> None:
        if path in seen or len(seen) >= _MAX_CONF_FILES:
            return
        seen.add(path)
        try:
            lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return
        for raw in lines:
            line = raw.split("#", 1)[0].strip()
            if line.startswith("include "):
                pattern = line.split(None, 1)[1]
                if not os.path.isabs(pattern):
                    pattern = os.path.join(os.path.dirname(path), pattern)
                for included in sorted(glob.glob(pattern)):
                    read(included)
            elif line.startswith("/"):
                dirs.append(line.split("=", 1)[0])

    read(conf)
    return dirs


class Loader:
    """Resolves sonames the way ld.so would for a given LD_LIBRARY_PATH and system setup."""

    def __init__(
        self,
        ld_library_path: str | None = None,
        system_dirs: Sequence[str] | None = None,
    ) -> None:
        """Set up the search.

        Args:
            ld_library_path: colon-separated folders; None reads the environment variable.
            system_dirs: folders standing for the ld.so cache and defaults; None reads
                /etc/ld.so.conf and appends the loader's default folders.
        """
        if ld_library_path is None:
            ld_library_path = os.environ.get("LD_LIBRARY_PATH", "")
        self.ld_library_path = [p for p in ld_library_path.split(":") if p]
        if system_dirs is None:
            system_dirs = [*conf_dirs(), *default_dirs()]
        self.system_dirs = list(dict.fromkeys(system_dirs))
        self._infos: dict[str, DynamicInfo | None] = {}
        self._ident: dict[str, tuple[int, int] | None] = {}

    def info(self, path: str) -> DynamicInfo | None:
        """Read (once) the dynamic facts of ``path``; None when it is not a readable ELF file."""
        if path not in self._infos:
            try:
                self._infos[path] = read_dynamic(path)
            except ElfError:
                self._infos[path] = None
        return self._infos[path]

    def search_order(
        self, requester: DynamicInfo, chain: Sequence[DynamicInfo] = ()
    ) -> Iterator[tuple[str, str]]:
        """Yield (folder, how) pairs in the order ld.so tries them for ``requester``."""
        if not requester.runpath:
            for obj in (requester, *chain):
                if obj is requester or not obj.runpath:
                    for folder in obj.rpath:
                        yield _expand(folder, obj.path), "rpath"
        for folder in self.ld_library_path:
            yield folder, "LD_LIBRARY_PATH"
        for folder in requester.runpath:
            yield _expand(folder, requester.path), "runpath"
        for folder in self.system_dirs:
            yield folder, "system"

    def resolve(
        self, soname: str, requester: DynamicInfo, chain: Sequence[DynamicInfo] = ()
    ) -> Resolved:
        """Find ``soname`` as ld.so would when ``requester`` (loaded by ``chain``) needs it."""
        if "/" in soname:
            path = _expand(soname, requester.path)
            found = path if self._fits(path, requester) else None
            return Resolved(soname, requester.path, found, "path" if found else "missing")
        for folder, how in self.search_order(requester, chain):
            candidate = os.path.join(folder, soname)
            if self._fits(candidate, requester):
                return Resolved(soname, requester.path, os.path.normpath(candidate), how)
        return Resolved(soname, requester.path, None, "missing")

    def closure(self, roots: Sequence[str], limit: int = 4000) -> list[Resolved]:
        """Resolve the needs of ``roots`` and, transitively, of everything they load."""
        results: list[Resolved] = []
        visited: set[str] = set()
        stack: list[tuple[str, tuple[DynamicInfo, ...]]] = [(r, ()) for r in reversed(roots)]
        while stack and len(visited) < limit:
            path, chain = stack.pop()
            real = os.path.realpath(path)
            info = self.info(path)
            if real in visited or info is None:
                continue
            visited.add(real)
            for soname in info.needed:
                found = self.resolve(soname, info, chain)
                results.append(found)
                if found.path:
                    stack.append((found.path, (info, *chain)[:16]))
        return results

    def _fits(self, path: str, requester: DynamicInfo) -> bool:
        if path not in self._ident:
            self._ident[path] = elf_identity(path) if os.path.isfile(path) else None
        ident = self._ident[path]
        return ident is not None and ident == (requester.elf_class, requester.machine)


def _expand(folder: str, origin_of: str) -> str:
    origin = os.path.dirname(os.path.abspath(origin_of))
    for token in ("${ORIGIN}", "$ORIGIN"):
        folder = folder.replace(token, origin)
    triplet = _MULTIARCH.get(platform.machine(), "")
    lib = f"lib/{triplet}" if triplet else "lib64"
    for token, value in (("${LIB}", lib), ("$LIB", lib)):
        folder = folder.replace(token, value)
    for token in ("${PLATFORM}", "$PLATFORM"):
        folder = folder.replace(token, platform.machine())
    return folder
