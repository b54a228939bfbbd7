"""Write pex "complete platform" files: CPython 3.10+ on Linux x86_64 with glibc 2.28 or newer.

pex picks one wheel per target from the tags listed here, so the one-file build carries the
platform wheels (onnxruntime, grpcio, numpy, ...) of every listed CPython, and runs on any host
whose glibc is at least the floor. The tags are computed with ``packaging.tags`` exactly as pip
would compute them on such a host, so no interpreter of each version is needed to build.

    python deploy/zipapp/platforms.py OUT_DIR [--python 3.10 3.11 ...] [--glibc 2.28]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from packaging import tags

PYTHONS = ("3.10", "3.11", "3.12", "3.13")
GLIBC_FLOOR = "2.28"
ARCH = "x86_64"


def linux_platforms(glibc: str) -> list[str]:
    """manylinux tags from the floor down to manylinux1, newest first, then plain linux."""
    major, minor = (int(p) for p in glibc.split("."))
    names = [f"manylinux_{major}_{m}_{ARCH}" for m in range(minor, 4, -1)]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    for m, name in legacy.items():
        if m <= minor:
            names.insert(names.index(f"manylinux_{major}_{m}_{ARCH}") + 1, f"{name}_{ARCH}")
    return [*names, f"linux_{ARCH}"]


def complete_platform(python: str, glibc: str) -> dict[str, object]:
    """One target: the tags a CPython of that version accepts, and its marker environment."""
    version = tuple(int(p) for p in python.split("."))
    platforms = linux_platforms(glibc)
    accepted = [*tags.cpython_tags(version, platforms=platforms),
                *tags.compatible_tags(version, "cp" + python.replace(".", ""), platforms)]
    markers = {
        "implementation_name": "cpython", "implementation_version": f"{python}.0",
        "os_name": "posix", "platform_machine": ARCH,
        "platform_python_implementation": "CPython", "platform_release": "",
        "platform_system": "Linux", "platform_version": "",
        "python_full_version": f"{python}.0", "python_version": python, "sys_platform": "linux",
    }
    return {"compatible_tags": [str(t) for t in accepted], "marker_environment": markers}


def write_platforms(out_dir: Path, pythons: list[str], glibc: str) -> list[Path]:
    """One JSON file per Python version in ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for python in pythons:
        path = out_dir / f"cp{python.replace('.', '')}-manylinux_{glibc}.json"
        path.write_text(json.dumps(complete_platform(python, glibc), indent=1) + "\n")
        paths.append(path)
    return paths


def main() -> None:
    """Write one JSON file per Python version into OUT_DIR and print their paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--python", nargs="+", default=list(PYTHONS))
    parser.add_argument("--glibc", default=GLIBC_FLOOR)
    args = parser.parse_args()
    for path in write_platforms(args.out_dir, args.python, args.glibc):
        print(path)


if __name__ == "__main__":
    main()
