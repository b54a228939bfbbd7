"""Compare pex and shiv for modelport's one-file build, side by side in one run.

Builds both from the same wheel for this interpreter's CPython version (shiv can hold one ABI
per file), and pex's every-version file as ``make dist`` does, then for each file, with an
empty cache (a host's first run) and again warm: ``--version`` time, and the time from
``serve`` to ``/v2/health/ready`` on the demo repository, run by a Python that has no packages.

    pip install shiv 'modelport[deploy]'
    python deploy/zipapp/compare.py dist/modelport-*.whl
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build import SHEBANG, pex_command
from platforms import PYTHONS, write_platforms

PY = f"{sys.version_info.major}.{sys.version_info.minor}"


def shiv_command(wheel: Path, out: Path) -> list[str]:
    """shiv for one CPython ABI (its site-packages folder can hold only one)."""
    abi = "cp" + PY.replace(".", "")
    cmd = [str(Path(sys.executable).parent / "shiv"), "-c", "modelport", "-o", str(out), "-p",
           SHEBANG, "--compressed", str(wheel), "--only-binary=:all:", "--python-version", PY,
           "--implementation", "cp", "--abi", abi]
    for tag in ("manylinux_2_28", "manylinux_2_27", "manylinux_2_17", "manylinux2014"):
        cmd += ["--platform", f"{tag}_x86_64"]
    return cmd


def timed(cmd: list[str], **kw: object) -> float:
    """Run a command to completion; seconds taken."""
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, **kw)  # type: ignore[call-overload]
    return time.perf_counter() - start


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_to_ready(python: Path, pyz: Path, env: dict[str, str]) -> float:
    """Seconds from launching ``serve`` to a 200 on /v2/health/ready."""
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([str(python), str(pyz), "serve", "--http-port", str(port),
                             "--grpc-port", "-1", "--metrics-port", "-1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < 300:
            if proc.poll() is not None:
                raise RuntimeError(f"{pyz.name} serve exited with {proc.returncode}")
            try:
                url = f"http://127.0.0.1:{port}/v2/health/ready"
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - start
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{pyz.name} serve not ready after 300 s")
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def measure(name: str, pyz: Path, work: Path, demo_cache: Path) -> None:
    """Print size, then first-run and warm figures for one file."""
    bare = work / "bare"
    if not bare.exists():
        subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(bare)],  # type: ignore[attr-defined]
                       check=True)
    python = bare / "bin" / "python"
    roots = work / f"roots-{name}"
    shutil.rmtree(roots, ignore_errors=True)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "PEX_ROOT": str(roots / "pex"),
           "SHIV_ROOT": str(roots / "shiv"), "MODELPORT_CACHE_DIR": str(demo_cache)}
    first = timed([str(python), str(pyz), "--version"], env=env)
    warm = timed([str(python), str(pyz), "--version"], env=env)
    shutil.rmtree(roots)
    serve_first = serve_to_ready(python, pyz, env)
    serve_warm = serve_to_ready(python, pyz, env)
    size = pyz.stat().st_size / 2**20
    print(f"{name:<16} {size:8.1f} MiB  --version first {first:6.2f} s  warm {warm:5.2f} s"
          f"  serve->ready first {serve_first:6.2f} s  warm {serve_warm:5.2f} s", flush=True)


def main() -> None:
    """Build each candidate, then measure them one after the other."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zipapp-compare-") as tmp:
        work = Path(tmp)
        mine = write_platforms(work / "mine", [PY], "2.28")
        every = write_platforms(work / "every", list(PYTHONS), "2.28")
        demo_cache = work / "cache"
        env = {**os.environ, "MODELPORT_CACHE_DIR": str(demo_cache)}
        # generated once up front, so every run measures packaging, not model generation
        subprocess.run([sys.executable, "-c", "from modelport.repository.demo.cache import "
                        "ensure_demo_repository as e; e()"], check=True, env=env)
        builds = {
            f"shiv cp{PY}": (shiv_command(args.wheel, work / "shiv.pyz"), work / "shiv.pyz"),
            f"pex cp{PY}": (pex_command(args.wheel, work / "pex.pyz", mine), work / "pex.pyz"),
            "pex cp3.10-3.13": (pex_command(args.wheel, work / "all.pyz", every),
                                work / "all.pyz"),
        }
        for name, (cmd, _) in builds.items():
            print(f"{name:<16} built in {timed(cmd):6.1f} s", flush=True)
        for name, (_, pyz) in builds.items():
            measure(name.replace(" ", "-"), pyz, work, demo_cache)


if __name__ == "__main__":
    main()
