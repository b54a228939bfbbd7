"""Fixtures for bench integration tests: the demo repository and a real server on loopback."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_mlp() -> Path:
    """The demo repository's mlp model file."""
    demo = pytest.importorskip("modelport.repository.demo")
    repo = Path(demo.ensure_demo_repository())
    return repo / "mlp" / "1" / "model.onnx"


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    """A running ``modelport serve`` on loopback."""

    http: str
    grpc: str
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``python -m modelport serve`` on free loopback ports, ready before the tests start."""
    if importlib.util.find_spec("modelport.serve.cli") is None:
        pytest.skip("modelport serve is not available yet")
    http, grpc, metrics = free_port(), free_port(), free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    cmd = [
        sys.executable, "-m", "modelport", "serve", "--http-port", str(http),
        "--grpc-port", str(grpc), "--metrics-port", str(metrics),
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                url = f"http://127.0.0.1:{http}/v2/health/ready"
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready in 60 s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield Server(f"http://127.0.0.1:{http}", f"grpc://127.0.0.1:{grpc}", proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
