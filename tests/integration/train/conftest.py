"""Ray on loopback for the train tests: one short temp folder per session, a tiny spec."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before Ray is imported: Ray's socket paths have a length limit, so its folder is short, one
# per test session; and Ray reads the variable that keeps it on 127.0.0.1 when imported.
RAY_TMP = tempfile.mkdtemp(prefix="mpr", dir="/tmp")
os.environ["RAY_TMPDIR"] = RAY_TMP
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

pytest.importorskip("torch")
ray = pytest.importorskip("ray")

from support.training import TINY_SPEC  # noqa: E402


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the session's Ray folder."""
    shutil.rmtree(RAY_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spec file that trains in milliseconds per step."""
    path = tmp_path_factory.mktemp("spec") / "tiny.py"
    path.write_text(TINY_SPEC)
    return path


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One embedded Ray per test module, on loopback."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=4, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()
