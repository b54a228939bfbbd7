"""NVIDIA's compatibility tables: driver branch → CUDA version → PTX ISA, and version parsing."""

from __future__ import annotations

import re

Version = tuple[int, ...]

# Linux driver branch → highest CUDA version it supports.
DRIVER_BRANCH_CUDA: dict[int, tuple[int, int]] = {
    450: (11, 0), 455: (11, 1), 460: (11, 2), 465: (11, 3), 470: (11, 4), 495: (11, 5),
    510: (11, 6), 515: (11, 7), 520: (11, 8), 525: (12, 0), 530: (12, 1), 535: (12, 2),
    545: (12, 3), 550: (12, 4), 555: (12, 5), 560: (12, 6), 565: (12, 7), 570: (12, 8),
    575: (12, 9), 580: (13, 0), 590: (13, 1),
}  # fmt: skip

# CUDA toolkit → the PTX ISA version it emits (and so the newest a driver of that level can JIT).
CUDA_PTX_ISA: dict[tuple[int, int], tuple[int, int]] = {
    (11, 0): (7, 0), (11, 1): (7, 1), (11, 2): (7, 2), (11, 3): (7, 3), (11, 4): (7, 4),
    (11, 5): (7, 5), (11, 6): (7, 6), (11, 7): (7, 7), (11, 8): (7, 8), (12, 0): (8, 0),
    (12, 1): (8, 1), (12, 2): (8, 2), (12, 3): (8, 3), (12, 4): (8, 4), (12, 5): (8, 5),
    (12, 6): (8, 5), (12, 7): (8, 6), (12, 8): (8, 7), (12, 9): (8, 8), (13, 0): (9, 0),
    (13, 1): (9, 1),
}  # fmt: skip

# CUDA toolkit → minimum Linux driver of its release notes.
CUDA_MIN_DRIVER: dict[tuple[int, int], str] = {
    (11, 8): "520.61.05", (12, 0): "525.60.13", (12, 1): "530.30.02", (12, 2): "535.54.03",
    (12, 3): "545.23.06", (12, 4): "550.54.14", (12, 5): "555.42.02", (12, 6): "560.28.03",
    (12, 8): "570.26", (12, 9): "575.51.03", (13, 0): "580.65.06",
}  # fmt: skip

# CUDA major → the oldest driver that runs any build of that major (minor-version compatibility).
MINOR_COMPAT_FLOOR: dict[int, str] = {11: "450.80.02", 12: "525.60.13", 13: "580.65.06"}

_NUMBERS = re.compile(r"\d+(?:\.\d+)*")


def parse_version(text: str | None) -> Version | None:
    """Return the leading dotted number of ``text`` as a tuple (``"12.4.1+x"`` → (12, 4, 1))."""
    if not text:
        return None
    match = _NUMBERS.search(text)
    return tuple(int(p) for p in match.group().split(".")) if match else None


def version_str(version: Version | None) -> str:
    """Format a version tuple back to dotted text ('' for None)."""
    return ".".join(str(p) for p in version) if version else ""


def cuda_for_driver(driver: str) -> tuple[int, int] | None:
    """Return the highest CUDA version a Linux driver version supports, from its branch.

    Args:
        driver: a driver version such as ``550.54.14`` or ``550.54``.

    Returns:
        (major, minor), or None for a text without a number or older than r450.
    """
    parsed = parse_version(driver)
    if not parsed:
        return None
    branches = [b for b in DRIVER_BRANCH_CUDA if b <= parsed[0]]
    return DRIVER_BRANCH_CUDA[max(branches)] if branches else None


def max_ptx_isa(cuda: tuple[int, int]) -> tuple[int, int]:
    """Return the newest PTX ISA a driver supporting CUDA ``cuda`` can JIT-compile."""
    known = [c for c in CUDA_PTX_ISA if c <= cuda]
    if not known:
        return (cuda[0] - 4, cuda[1])  # pre-11 toolkits followed ISA = CUDA major - 4
    if cuda > max(CUDA_PTX_ISA):
        return (cuda[0] - 4, cuda[1])  # newer than the table: 13.x → 9.x has held so far
    return CUDA_PTX_ISA[max(known)]


def cuda_from_api(value: int) -> tuple[int, int]:
    """Decode cuDriverGetVersion's 1000*major + 10*minor (12040 → (12, 4))."""
    return value // 1000, (value % 1000) // 10


def driver_meets(driver: str, floor: str) -> bool:
    """Tell whether driver version ``driver`` is at least ``floor``."""
    have, need = parse_version(driver), parse_version(floor)
    return bool(have and need and have >= need)
