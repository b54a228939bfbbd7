"""Start a real ``modelport serve`` process on free loopback ports and wait until it is ready."""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

_HTTP = re.compile(r"HTTP\s+(https?)://127\.0\.0\.1:(\d+)/v2")
_GRPC = re.compile(r"gRPC\s+127\.0\.0\.1:(\d+)")


class ServerProcess:
    """A ``python -m modelport serve`` subprocess; ``http_url`` / ``grpc_url`` once started."""

    def __init__(self, repository: Path | None, *args: str, log_path: Path,
                 env: dict[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None,
                 live_headers: dict[str, str] | None = None,
                 preexec_fn: Callable[[], None] | None = None) -> None:
        self.log_path = log_path
        # for the live check: an HTTPS front's client context, a restricted health group's header
        self.ssl_context = ssl_context
        self.live_headers = live_headers or {}
        command = [sys.executable, "-m", "modelport", "serve"]
        if repository is not None:
            command.append(str(repository))
        command += ["--http-port", "0", "--grpc-port", "0", "--metrics-port", "-1", *args]
        fronts = os.environ.get("MODELPORT_TEST_HTTP_FRONTS")  # make test's later passes
        if fronts and "--http-fronts" not in args:
            command += ["--http-fronts", fronts]
            if os.environ.get("MODELPORT_TEST_HTTP_FRONTS_DECODE"):  # and its third pass
                command.append("--http-fronts-decode")
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, preexec_fn=preexec_fn)
        self.http_port, self.grpc_port = self._wait_ready(timeout_s=90)

    @property
    def http_url(self) -> str:
        """host:port for tritonclient.http."""
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        """host:port for tritonclient.grpc."""
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def _wait_ready(self, timeout_s: float) -> tuple[int, int]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            text = self.log()
            http, grpc = _HTTP.search(text), _GRPC.search(text)
            if http and grpc and "(Ctrl+C to stop)" in text:
                scheme, port = http.group(1), int(http.group(2))
                # live, not ready: with strict readiness a repository with a broken model
                # serves the rest but never reports ready, and tests look at such servers too
                url = f"{scheme}://127.0.0.1:{port}/v2/health/live"
                request = urllib.request.Request(url, headers=self.live_headers)
                try:
                    with urllib.request.urlopen(request, context=self.ssl_context) as r:
                        assert r.status == 200
                except BaseException:
                    self.stop()
                    raise
                return port, int(grpc.group(1))
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"server not ready after {timeout_s}s:\n{self.log()}")

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def stop(self) -> int:
        """SIGTERM, wait for a graceful exit, return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode
