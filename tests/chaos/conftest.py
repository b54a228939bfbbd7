"""Fixtures of the chaos suite: real ``modelport serve`` processes on loopback ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.server import ServerProcess


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private optimized-model cache for the whole chaos session."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture()
def start_server(cache_dir: Path, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """A factory: start_server(repo, *flags, env=..., preexec_fn=...) -> ServerProcess,
    stopped (or killed, if it will not stop) after the test."""
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
