"""Fixtures of the deploy tests: the built distributions, and figures printed at the end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from deploy_support import FIGURES, REPO_ROOT


@pytest.fixture(scope="session")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An sdist and a wheel built from this checkout by ``python -m build``."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO_ROOT)],
                   check=True, capture_output=True, timeout=600)
    return out


@pytest.fixture(scope="session")
def wheel(dist_dir: Path) -> Path:
    """The one wheel in ``dist_dir``."""
    (path,) = dist_dir.glob("modelport-*-py3-none-any.whl")
    return path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the sizes and times the deploy tests measured."""
    if FIGURES:
        terminalreporter.section("deploy figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
