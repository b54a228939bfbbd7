"""modelport.pyz: built by deploy/zipapp/build.py (what ``make dist`` runs), copied alone into
an empty folder, started by Pythons that have no packages at all, serves the demo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_support import REPO_ROOT, Launched, bare_python, check_demo_inference, figure

from modelport.repository.demo.cache import FOLDER

pytestmark = pytest.mark.dist

sys.path.insert(0, str(REPO_ROOT / "deploy" / "zipapp"))
from build import build  # noqa: E402
from platforms import PYTHONS  # noqa: E402


def _base_interpreter() -> str:
    """The interpreter this virtualenv was made from."""
    return str(getattr(sys, "_base_executable", sys.executable))


def _candidates(version: str) -> list[str]:
    """Where a CPython of that version may be: PATH, then pyenv's versions folder."""
    on_path = shutil.which(f"python{version}")
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    return [*([on_path] if on_path else []),
            *sorted(str(p) for p in pyenv.glob(f"{version}.*/bin/python{version}"))]


def _other_interpreters() -> dict[str, str]:
    """Other CPython versions the file is built for that this machine has: version -> path."""
    found = {}
    for version in PYTHONS:
        for path in _candidates(version):
            done = subprocess.run([path, "-c", "import sys; print(*sys.version_info[:2])"],
                                  capture_output=True, text=True, timeout=30)
            if done.returncode == 0 and done.stdout.split() == version.split("."):
                found[version] = path
                break
    found.pop(f"{sys.version_info.major}.{sys.version_info.minor}", None)
    return found


@pytest.fixture(scope="module")
def pyz_alone(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """modelport.pyz for this CPython and every other one found here, alone in a new folder."""
    mine = f"{sys.version_info.major}.{sys.version_info.minor}"
    pythons = sorted({mine, *_other_interpreters()})
    built = build(wheel, tmp_path_factory.mktemp("build") / "modelport.pyz", pythons)
    alone = tmp_path_factory.mktemp("empty") / "modelport.pyz"
    shutil.copy2(built, alone)
    figure(f"modelport.pyz for CPython {' '.join(pythons)}: "
           f"{alone.stat().st_size / 2**20:.0f} MiB")
    return alone


def _bare_env(home: Path) -> dict[str, str]:
    """No PYTHONPATH, no virtualenv, an empty home and pex cache: a host that has nothing."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "PEX_ROOT": str(home / "pex"),
            "MODELPORT_CACHE_DIR": str(home / "cache"), "LANG": "C.UTF-8"}


@pytest.mark.timeout(900)
def test_pyz_alone_serves_the_demo_with_a_bare_python(pyz_alone: Path, tmp_path: Path) -> None:
    """A Python with no packages runs ./modelport.pyz serve; tritonclient infers over HTTP and
    gRPC, also with --http-fronts; the build's site-packages are invisible; SIGTERM ends it
    cleanly."""
    python = bare_python(tmp_path / "bare", _base_interpreter())
    env = _bare_env(tmp_path / "home")
    server = Launched([str(python), str(pyz_alone), "serve", "--http-port", "0",
                       "--grpc-port", "0", "--metrics-port", "0"], tmp_path / "first.log",
                      env=env)
    try:
        check_demo_inference(server.http_url, server.grpc_url, tmp_path / "home/cache" / FOLDER)
    finally:
        assert server.stop() == 0, server.log()
    # again, with HTTP in a front process (multiprocessing's spawn must find modelport
    # inside the file too)
    again = Launched([str(python), str(pyz_alone), "serve", "--http-port", "0",
                      "--grpc-port", "0", "--metrics-port", "-1", "--http-fronts", "1"],
                     tmp_path / "again.log", env=env)
    try:
        assert "front process(es)" in again.log()
        check_demo_inference(again.http_url, again.grpc_url, tmp_path / "home/cache" / FOLDER)
    finally:
        assert again.stop() == 0, again.log()
    # started by this test's own Python, whose site-packages hold pytest: pex hides them
    probe = "import importlib.util as u; print(u.find_spec('pytest') is None)"
    isolated = subprocess.run([sys.executable, str(pyz_alone), "-c", probe], text=True,
                              capture_output=True, env={**env, "PEX_INTERPRETER": "1"},
                              timeout=300)
    assert isolated.stdout.strip() == "True", isolated.stdout + isolated.stderr
    figure(f"modelport.pyz serve -> ready: first start on a host {server.ready_s:.1f} s "
           f"(unpacks, generates the demo), then {again.ready_s:.1f} s")


@pytest.mark.timeout(900)
def test_pyz_runs_on_every_other_python_found(pyz_alone: Path, tmp_path: Path) -> None:
    """Each other CPython 3.10+ on this machine, bare, runs the same file (its own wheels)."""
    others = _other_interpreters()
    if not others:
        pytest.skip("no other CPython 3.10-3.13 on PATH (python3.X) to run the file with")
    env = _bare_env(tmp_path / "home")  # one pex cache: the first run unpacks for all
    for version, path in others.items():
        python = bare_python(tmp_path / f"bare{version}", path)
        done = subprocess.run([str(python), str(pyz_alone), "run", "mlp"], capture_output=True,
                              text=True, env=env, timeout=600)
        assert done.returncode == 0, (version, done.stdout, done.stderr)
        assert "mlp" in done.stdout, done.stdout
