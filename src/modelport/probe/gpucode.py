"""The GPU code a library ships, summed over its files, and which GPUs can run it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from modelport.probe.cudacompat import CUDA_PTX_ISA, DRIVER_BRANCH_CUDA
from modelport.probe.fatbin import FatbinFile

Cc = tuple[int, int]


@dataclass(frozen=True, order=True)
class Sass:
    """A cubin target ``sm_<arch><variant>``; variant '', 'a' (arch-specific) or 'f' (family)."""

    arch: int
    variant: str = ""

    def __str__(self) -> str:
        return f"sm_{self.arch}{self.variant}"


@dataclass(frozen=True, order=True)
class Ptx:
    """A PTX target ``compute_<arch><variant>`` with its PTX ISA version."""

    arch: int
    variant: str = ""
    isa: tuple[int, int] = (0, 0)

    def __str__(self) -> str:
        return f"compute_{self.arch}{self.variant}"


def cc_of(arch: int) -> Cc:
    """Compute capability of an SM number (86 → (8, 6), 120 → (12, 0))."""
    return arch // 10, arch % 10


def cc_str(cc: Cc) -> str:
    """Format a compute capability as ``8.6``."""
    return f"{cc[0]}.{cc[1]}"


def sass_runs_on(sass: Sass, cc: Cc) -> bool:
    """Tell whether a cubin runs on a GPU of compute capability ``cc``.

    Same major and a minor not above the GPU's; an ``a`` target only on exactly its own CC.
    """
    major, minor = cc_of(sass.arch)
    if sass.variant == "a":
        return (major, minor) == cc
    return major == cc[0] and minor <= cc[1]


def ptx_jits_for(ptx: Ptx, cc: Cc) -> bool:
    """Tell whether PTX can be JIT-compiled for ``cc`` (ignoring the driver's ISA level)."""
    target = cc_of(ptx.arch)
    if ptx.variant == "a":
        return target == cc
    if ptx.variant == "f":
        return target[0] == cc[0] and target <= cc
    return target <= cc


def min_cuda_for_isa(isa: tuple[int, int]) -> tuple[int, int] | None:
    """Oldest CUDA level whose driver understands PTX ISA ``isa``."""
    levels = [cuda for cuda, level in CUDA_PTX_ISA.items() if level >= isa]
    return min(levels) if levels else None


def min_branch_for_cuda(cuda: tuple[int, int]) -> int | None:
    """Oldest driver branch supporting CUDA ``cuda``."""
    branches = [b for b, c in DRIVER_BRANCH_CUDA.items() if c >= cuda]
    return min(branches) if branches else None


@dataclass(frozen=True)
class GpuCode:
    """SASS and PTX targets found in a set of files (only code the CUDA runtime would load)."""

    sass: frozenset[Sass] = frozenset()
    ptx: frozenset[Ptx] = frozenset()
    files: tuple[str, ...] = ()
    containers: int = 0
    compression: frozenset[str] = frozenset()
    relocatable: frozenset[str] = frozenset()
    errors: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        """True when no runnable GPU code was found."""
        return not self.sass and not self.ptx

    @classmethod
    def from_fatbins(cls, fatbins: Iterable[FatbinFile]) -> GpuCode:
        """Sum the linked code of several parsed files; relocatable-only code is listed apart."""
        sass: set[Sass] = set()
        ptx: set[Ptx] = set()
        files, errors, relocatable, compression = [], [], set(), set()
        containers = 0
        for fatbin in fatbins:
            if fatbin.error:
                errors.append(f"{fatbin.path}: {fatbin.error}")
                continue
            if not fatbin.containers:
                continue
            files.append(fatbin.path)
            containers += len(fatbin.containers)
            for entry in fatbin.linked_entries():
                compression.add(entry.compression)
                if entry.kind == "sass":
                    sass.add(Sass(entry.arch, entry.variant))
                elif entry.kind == "ptx":
                    ptx.add(Ptx(entry.arch, entry.variant, entry.version))
            linked = set(fatbin.linked_entries())
            relocatable |= {e.target for e in fatbin.entries if e not in linked}
        return cls(
            frozenset(sass),
            frozenset(ptx),
            tuple(files),
            containers,
            frozenset(compression),
            frozenset(relocatable),
            tuple(errors),
        )

    def describe(self) -> str:
        """Summarise which compute capabilities the code covers, for a machine with no GPU."""
        if self.empty:
            return "no GPU code"
        parts = []
        if self.sass:
            ccs = sorted(cc_of(s.arch) for s in self.sass)
            plain = ", ".join(str(s) for s in sorted(self.sass))
            parts.append(f"SASS {cc_str(ccs[0])}-{cc_str(ccs[-1])} ({plain})")
        for ptx in sorted(self.ptx):
            parts.append(f"PTX {ptx} ISA {ptx.isa[0]}.{ptx.isa[1]} → {self._ptx_reach(ptx)}")
        return "; ".join(parts)

    @staticmethod
    def _ptx_reach(ptx: Ptx) -> str:
        cc = cc_str(cc_of(ptx.arch))
        reach = f"only CC {cc}" if ptx.variant == "a" else f"any CC ≥ {cc}"
        cuda = min_cuda_for_isa(ptx.isa)
        branch = min_branch_for_cuda(cuda) if cuda else None
        driver = f" with driver ≥ {branch}" if branch else " with a driver newer than known"
        return f"{reach} via JIT{driver}"
