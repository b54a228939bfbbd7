"""The sdist and wheel: built by ``python -m build``, clean for PyPI, the package and nothing
else, one version, and a wheel that serves the demo from a fresh virtualenv."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from deploy_support import Launched, check_demo_inference, figure

import modelport
from modelport.repository.demo.cache import FOLDER

pytestmark = pytest.mark.dist

# Run inside the fresh virtualenv: every installed distribution, and those reachable from
# modelport through requirements that apply without extras.
_CLOSURE = """
import importlib.metadata as md, json, re
from packaging.requirements import Requirement
def norm(n): return re.sub(r"[-_.]+", "-", n).lower()
seen, todo = set(), ["modelport"]
while todo:
    name = todo.pop()
    if name in seen: continue
    seen.add(name)
    for line in md.requires(name) or []:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            todo.append(norm(req.name))
print(json.dumps({"installed": sorted(norm(d.metadata["Name"]) for d in md.distributions()),
                  "reachable": sorted(seen)}))
"""


def test_twine_check_passes(dist_dir: Path) -> None:
    """twine check --strict accepts both files (metadata and README render on PyPI)."""
    files = sorted(str(p) for p in dist_dir.iterdir())
    assert len(files) == 2, files
    done = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *files],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_wheel_holds_the_package_and_nothing_else(wheel: Path) -> None:
    """Only modelport/ and its dist-info; no tests, fixtures or conftest; protos and py.typed in."""
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"modelport", f"modelport-{modelport.__version__}.dist-info"}, tops
    parts = {part for n in names for part in n.split("/")}
    assert not {p for p in parts if p in {"tests", "fixtures", "conftest.py"}
                or p.startswith("test_")}, sorted(parts)
    for needed in ("modelport/py.typed", "modelport/serve/grpc/proto/grpc_service.proto",
                   "modelport/serve/grpc/proto/grpc_service_pb2.py"):
        assert needed in names
    figure(f"wheel {wheel.name}: {wheel.stat().st_size / 1024:.0f} KiB, {len(names)} files")


def test_version_is_single_sourced(wheel: Path, dist_dir: Path) -> None:
    """The wheel's and the sdist's Version are modelport.__version__; pyproject has none."""
    version = modelport.__version__
    meta = zipfile.ZipFile(wheel).read(f"modelport-{version}.dist-info/METADATA").decode()
    assert f"\nVersion: {version}\n" in meta
    (sdist,) = dist_dir.glob("modelport-*.tar.gz")
    with tarfile.open(sdist) as tar:
        pkg_info = tar.extractfile(f"modelport-{version}/PKG-INFO")
        assert pkg_info is not None
        assert f"\nVersion: {version}\n" in pkg_info.read().decode()
        pyproject = tar.extractfile(f"modelport-{version}/pyproject.toml")
        assert pyproject is not None
        text = pyproject.read().decode()
    project = text.split("\n[project]\n", 1)[1].split("\n[", 1)[0]
    assert 'dynamic = ["version"]' in project and "\nversion =" not in project
    assert 'version = { attr = "modelport.__version__" }' in text


def test_base_requirements_are_the_dependencies_alone(wheel: Path) -> None:
    """The wheel requires without extras exactly what the checkout's metadata does."""
    meta = zipfile.ZipFile(wheel).read(
        f"modelport-{modelport.__version__}.dist-info/METADATA").decode()
    wheel_base = sorted(line.split(": ", 1)[1] for line in meta.splitlines()
                        if line.startswith("Requires-Dist:") and "extra ==" not in line)
    checkout_base = sorted(r for r in importlib.metadata.requires("modelport") or []
                           if "extra ==" not in r)
    assert wheel_base == checkout_base and len(wheel_base) >= 5


@pytest.mark.timeout(900)
def test_wheel_in_a_fresh_venv_serves_the_demo(wheel: Path, tmp_path: Path) -> None:
    """pip install of the wheel pulls only the base dependencies (pip check clean), and its
    modelport command serves the demo repository to tritonclient over HTTP and gRPC."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    str(wheel)], check=True, timeout=600)
    subprocess.run([python, "-m", "pip", "check"], check=True, timeout=120)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "packaging"], check=True, timeout=300)  # for the closure walk only
    seen = json.loads(subprocess.run([python, "-c", _CLOSURE], check=True, capture_output=True,
                                     text=True, timeout=60).stdout)
    tooling = {"pip", "setuptools", "wheel", "packaging"}
    assert set(seen["installed"]) - tooling <= set(seen["reachable"]), seen
    cache = tmp_path / "cache"
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
           "MODELPORT_CACHE_DIR": str(cache)}
    server = Launched([str(venv / "bin" / "modelport"), "serve", "--http-port", "0",
                       "--grpc-port", "0", "--metrics-port", "0"], tmp_path / "serve.log", env=env)
    try:
        check_demo_inference(server.http_url, server.grpc_url, cache / FOLDER)
    finally:
        assert server.stop() == 0, server.log()
    figure(f"wheel venv: demo generated and ready in {server.ready_s:.1f} s")
    assert os.path.isdir(cache / FOLDER)
