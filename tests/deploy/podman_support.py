"""podman for the container tests: find out whether it can run here, make a local base image
(no registry is reachable from CI machines), build the Containerfile, run on the host network.

The recipe that works on these machines (rootful podman 4.3): runc instead of crun and explicit
ulimits (tests/deploy/podman/containers.conf, passed as CONTAINERS_CONF); a Debian bookworm
base made by mmdebstrap and ``podman import``; ``--network host`` for the build (pip, apt) and
the run, the server bound to 127.0.0.1; never a bridge network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from deploy_support import REPO_ROOT

CONTAINERS_CONF = Path(__file__).resolve().parent / "podman" / "containers.conf"
LOCAL_BASE = "localhost/modelport-test-base:bookworm"
BASE_PACKAGES = "python3,python3-venv,python3-pip,ca-certificates"
APT_SOURCES = ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list")
CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


def env() -> dict[str, str]:
    """This process's environment with the podman settings of this machine kind."""
    return {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF",
                                                             str(CONTAINERS_CONF))}


def podman(*args: str, timeout: float = 120, check: bool = True,
           ) -> subprocess.CompletedProcess[str]:
    """Run one podman command; its output as text."""
    return subprocess.run(["podman", *args], capture_output=True, text=True, env=env(),
                          timeout=timeout, check=check)


def unusable_reason() -> str | None:
    """Why podman cannot run containers here, or None when it can."""
    if shutil.which("podman") is None:
        return "podman is not installed (apt-get install -y podman runc mmdebstrap)"
    info = podman("info", timeout=60, check=False)
    if info.returncode != 0:
        return f"podman cannot run here: {info.stderr.strip().splitlines()[-1:]}"
    if os.environ.get("MODELPORT_TEST_BASE") is None and shutil.which("mmdebstrap") is None \
            and podman("image", "exists", LOCAL_BASE, check=False).returncode != 0:
        return ("no base image: install mmdebstrap (a local Debian base is built with it) "
                "or set MODELPORT_TEST_BASE to an image podman can pull")
    return None


def base_image(work: Path) -> str:
    """$MODELPORT_TEST_BASE, else a local Debian bookworm with Python (built once, ~40 s)."""
    chosen = os.environ.get("MODELPORT_TEST_BASE")
    if chosen:
        return chosen
    if podman("image", "exists", LOCAL_BASE, check=False).returncode == 0:
        return LOCAL_BASE
    sources = next(s for s in APT_SOURCES if Path(s).exists())
    rootfs = work / "rootfs.tar"
    subprocess.run(["mmdebstrap", "--variant=minbase", f"--include={BASE_PACKAGES}",
                    "bookworm", str(rootfs), sources], check=True, capture_output=True,
                   timeout=900)
    podman("import", str(rootfs), LOCAL_BASE, timeout=300)
    rootfs.unlink()
    return LOCAL_BASE


def build_image(tag: str, base: str, containerfile: str = "Containerfile") -> None:
    """Build the repository's Containerfile; the host CA bundle goes in as a build secret."""
    args = ["build", "--format", "docker", "--network", "host", "--layers=false",
            "--build-arg", f"BASE={base}", "-f", str(REPO_ROOT / containerfile), "-t", tag]
    ca = os.environ.get("PIP_CERT") or next((c for c in CA_BUNDLES if Path(c).exists()), None)
    if ca:
        args += ["--secret", f"id=pip-cert,src={ca}"]
    done = podman(*args, str(REPO_ROOT), timeout=1200, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
