"""Build modelport.pyz: one executable file for CPython 3.10+ on Linux x86_64 (glibc 2.28+).

pex, not shiv: a pex file can carry the platform wheels (onnxruntime, grpcio, numpy, ...) of
several CPython versions and picks the right ones when it starts; shiv installs into one
site-packages folder, so one file serves one ABI. ``--venv``: on first start pex builds a
virtualenv under ``~/.cache/pex`` (``PEX_ROOT``) and every later start runs straight from it.
``deploy/zipapp/compare.py`` measures both tools side by side (figures in docs/deploy.md).

    python deploy/zipapp/build.py dist/modelport-X-py3-none-any.whl dist/modelport.pyz \
        [--python 3.10 3.11 3.12 3.13] [--glibc 2.28]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from platforms import GLIBC_FLOOR, PYTHONS, write_platforms

# pex's own pip is too old for today's wheel tags; pin one that is published
PIP_VERSION = "25.3"
SHEBANG = "/usr/bin/env python3"


def pex_command(wheel: Path, out: Path, platform_files: list[Path]) -> list[str]:
    """The pex invocation: the wheel, its dependencies as wheels only, one file out."""
    pex = Path(sys.executable).parent / "pex"
    command = [str(pex) if pex.exists() else "pex", str(wheel), "--entry-point", "modelport",
               "--output-file", str(out), "--venv", "--no-pre-install-wheels", "--no-build",
               "--pip-version", PIP_VERSION, "--python-shebang", SHEBANG]
    for path in platform_files:
        command += ["--complete-platform", str(path)]
    return command


def build(wheel: Path, out: Path, pythons: list[str], glibc: str = GLIBC_FLOOR) -> Path:
    """Build ``out`` from ``wheel`` for the given CPython versions; returns ``out``."""
    with tempfile.TemporaryDirectory(prefix="modelport-pyz-") as tmp:
        files = write_platforms(Path(tmp), pythons, glibc)
        subprocess.run(pex_command(wheel, out, files), check=True)
    return out


def main() -> None:
    """Parse the command line and build."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--python", nargs="+", default=list(PYTHONS))
    parser.add_argument("--glibc", default=GLIBC_FLOOR)
    args = parser.parse_args()
    path = build(args.wheel, args.out, args.python, args.glibc)
    print(f"{path}: {path.stat().st_size / 2**20:.1f} MiB, CPython {' '.join(args.python)}")


if __name__ == "__main__":
    main()
