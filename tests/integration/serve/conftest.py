"""Fixtures that run real servers: the demo repository, and repositories built per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.server import ServerProcess


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private cache (demo repository, optimized models) for the whole test session."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def demo_server(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory,
                ) -> Iterator[ServerProcess]:
    """The demo repository in explicit mode with every model loaded, shared by read-only tests."""
    log = tmp_path_factory.mktemp("logs") / "demo-server.log"
    server = ServerProcess(None, "--model-control-mode", "explicit", "--load-model", "*",
                           log_path=log, env={"MODELPORT_CACHE_DIR": str(cache_dir)})
    yield server
    assert server.alive(), f"the demo server died during the tests:\n{server.log()}"
    assert server.stop() == 0, server.log()


@pytest.fixture()
def start_server(cache_dir: Path, tmp_path: Path) -> Iterator[object]:
    """A factory: start_server(repo, *flags) -> ServerProcess, stopped after the test."""
    started: list[ServerProcess] = []

    def start(repo: Path | None, *flags: str, env: dict[str, str] | None = None,
              preexec_fn: Callable[[], None] | None = None) -> ServerProcess:
        server = ServerProcess(repo, *flags, log_path=tmp_path / f"server{len(started)}.log",
                               env={"MODELPORT_CACHE_DIR": str(cache_dir), **(env or {})},
                               preexec_fn=preexec_fn)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
