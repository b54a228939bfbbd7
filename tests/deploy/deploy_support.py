"""What the deploy tests share: start a packaged modelport (wheel, zipapp, container) on loopback,
read its ports from its log, check that it serves the demo models right."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import onnxruntime as ort
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

REPO_ROOT = Path(__file__).resolve().parents[2]
_PORTS = {
    "http": re.compile(r"HTTP\s+http://127\.0\.0\.1:(\d+)/v2"),
    "grpc": re.compile(r"gRPC\s+127\.0\.0\.1:(\d+)"),
    "metrics": re.compile(r"metrics\s+http://127\.0\.0\.1:(\d+)/metrics"),
}
WORDS = ["hello world", "straße", "中文 Mixed Case"]
FIGURES: list[str] = []  # sizes and times measured by the tests, printed at the end of the run


def figure(line: str) -> None:
    """Keep one measured figure for the end-of-run summary."""
    FIGURES.append(line)


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bare_python(where: Path, base: str) -> Path:
    """A fresh virtualenv without pip or any package, made from the interpreter ``base``."""
    subprocess.run([base, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    return where / "bin" / "python"


class Launched:
    """A modelport started by any command; ports read from what it prints."""

    def __init__(self, command: list[str], log_path: Path, env: dict[str, str] | None = None,
                 timeout_s: float = 240) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env if env is not None else dict(os.environ))
        try:
            self.ports = self._wait_listening(timeout_s)
            self.ready_s = self._wait_ready(timeout_s)
        except BaseException:
            self.stop(signal.SIGKILL)  # closes the log too, so a failed start leaks nothing
            raise

    @property
    def http_url(self) -> str:
        """host:port for tritonclient.http."""
        return f"127.0.0.1:{self.ports['http']}"

    @property
    def grpc_url(self) -> str:
        """host:port for tritonclient.grpc."""
        return f"127.0.0.1:{self.ports['grpc']}"

    @property
    def metrics_url(self) -> str:
        """The /metrics address."""
        return f"http://127.0.0.1:{self.ports['metrics']}/metrics"

    def log(self) -> str:
        """Everything printed so far."""
        return self.log_path.read_text(errors="replace")

    def _wait_listening(self, timeout_s: float) -> dict[str, int]:
        deadline = self.started + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with {self.proc.returncode}:\n{self.log()}")
            text = self.log()
            found = {name: rx.search(text) for name, rx in _PORTS.items()}
            if "(Ctrl+C to stop)" in text:
                return {name: int(m.group(1)) for name, m in found.items() if m}
            time.sleep(0.1)
        self.stop(signal.SIGKILL)
        raise TimeoutError(f"not listening after {timeout_s}s:\n{self.log()}")

    def _wait_ready(self, timeout_s: float) -> float:
        deadline = self.started + timeout_s
        url = f"http://{self.http_url}/v2/health/ready"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return time.monotonic() - self.started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"not ready after {timeout_s}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60) -> int:
        """Send ``sig``, wait for the exit, return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def check_demo_inference(http_url: str, grpc_url: str, repository: Path) -> None:
    """mlp (FP32) and text_upper (BYTES) over HTTP and gRPC answer what ONNX Runtime computes
    in-process on the very files served."""
    x = np.random.default_rng(7).standard_normal((3, 64)).astype(np.float32)
    words = np.array([w.encode() for w in WORDS], dtype=object)
    cases = [("mlp", "input", "FP32", x, "output"), ("text_upper", "text", "BYTES", words, "upper")]
    http = httpclient.InferenceServerClient(http_url)
    grpc = grpcclient.InferenceServerClient(grpc_url)
    try:
        for model, name, datatype, value, output in cases:
            session = ort.InferenceSession(str(repository / model / "1" / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
            plain = np.array(WORDS, dtype=object) if datatype == "BYTES" else value
            expected = session.run(None, {name: plain})[0]  # ORT takes str, not bytes
            for module, client in ((httpclient, http), (grpcclient, grpc)):
                tensor = module.InferInput(name, list(value.shape), datatype)
                tensor.set_data_from_numpy(value)
                got = client.infer(model, [tensor]).as_numpy(output)
                if datatype == "BYTES":
                    assert [g.decode() for g in got] == [str(e) for e in expected], model
                else:
                    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    finally:
        http.close()
        grpc.close()
