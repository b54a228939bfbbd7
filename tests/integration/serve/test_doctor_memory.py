"""modelport doctor memory finds a deliberate leak by file:line and clears healthy models."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from support import leaky
from support.models import add_model, write_model

pytestmark = pytest.mark.slow

LEAK_LINE = next(i for i, line in enumerate(Path(leaky.__file__).read_text().splitlines(), 1)
                 if "the leak doctor must find" in line)


@pytest.fixture()
def server(start_server, tmp_path: Path):
    repo = tmp_path / "models"
    write_model(repo, "healthy", add_model())
    (repo / "leaky" / "1").mkdir(parents=True)
    (repo / "leaky" / "config.pbtxt").write_text(
        'backend: "leaky" max_batch_size: 0 '
        'input [{ name: "a" data_type: TYPE_FP32 dims: [ 1, 4 ] }] '
        'output [{ name: "out" data_type: TYPE_FP32 dims: [ 1, 4 ] }]')
    tests_dir = str(Path(leaky.__file__).parent.parent)
    return start_server(repo, "--debug-endpoints", env={
        "MODELPORT_EXTRA_BACKENDS": "leaky=support.leaky:LeakyBackend",
        "PYTHONPATH": tests_dir})


def _doctor_under_load(server, model: str, inputs: list[str]) -> tuple[int, dict]:
    """Run doctor memory --json for 4 samples 1 s apart while one client sends requests."""
    stop = threading.Event()

    def load() -> None:
        client = httpclient.InferenceServerClient(server.http_url)
        tensors = []
        for name in inputs:
            t = httpclient.InferInput(name, [1, 4], "FP32")
            t.set_data_from_numpy(np.ones((1, 4), np.float32))
            tensors.append(t)
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            client.infer(model, tensors)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "modelport", "doctor", "memory",
             f"http://{server.http_url}", "--interval", "1", "--samples", "4", "--json"],
            capture_output=True, text=True, timeout=60)
    finally:
        stop.set()
        worker.join()
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_doctor_names_the_leaking_line(server) -> None:
    """Against a model that leaks per batch, doctor reports growth and names leaky.py's line."""
    code, report = _doctor_under_load(server, "leaky", ["a"])
    assert code == 1 and report["growing"]
    top = report["sites"][0]
    assert top["file"].endswith("support/leaky.py") and top["line"] == LEAK_LINE
    assert report["traced_rate_bytes_per_s"] > 0


def test_doctor_reports_no_growth_for_a_healthy_model(server) -> None:
    """Against an ONNX model under the same load, doctor reports no growth and exits 0."""
    code, report = _doctor_under_load(server, "healthy", ["a", "b"])
    assert code == 0 and not report["growing"], report["traced_growth_bytes"]


def _doctor(server, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "modelport", "doctor", "memory",
                           f"http://{server.http_url}", *flags],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture()
def plain_server(start_server, tmp_path: Path):
    """The same models on a server started without --debug-endpoints."""
    repo = tmp_path / "plain"
    write_model(repo, "healthy", add_model())
    (repo / "leaky" / "1").mkdir(parents=True)
    (repo / "leaky" / "config.pbtxt").write_text(
        'backend: "leaky" max_batch_size: 0 '
        'input [{ name: "a" data_type: TYPE_FP32 dims: [ 1, 4 ] }] '
        'output [{ name: "out" data_type: TYPE_FP32 dims: [ 1, 4 ] }]')
    return start_server(repo, env={
        "MODELPORT_EXTRA_BACKENDS": "leaky=support.leaky:LeakyBackend",
        "PYTHONPATH": str(Path(leaky.__file__).parent.parent)})


def test_without_debug_endpoints_rss_growth_is_reported(plain_server) -> None:
    """Without --debug-endpoints, a leak shows as RSS growth read from /metrics: exit 1."""
    code, report = _doctor_under_load(plain_server, "leaky", ["a"])
    assert code == 1 and report["growing"] and report["source"] == "metrics"
    assert len(report["samples"]) == 4 and report["sites"] == []
    assert report["rss_growth_bytes"] > 2 * 1024 * 1024 and report["rss_rate_bytes_per_s"] > 0
    assert "--debug-endpoints" in report["note"]


def test_without_debug_endpoints_a_steady_server_is_cleared(plain_server) -> None:
    """Without --debug-endpoints, a healthy model under load: no growth, exit 0, and one line
    says that allocation sites need --debug-endpoints."""
    code, report = _doctor_under_load(plain_server, "healthy", ["a", "b"])
    assert code == 0 and not report["growing"], report["rss_growth_bytes"]
    done = _doctor(plain_server, "--samples", "2", "--interval", "0.2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "no growth" in lines[0] and "2 samples" in lines[0]
    assert [line for line in lines if "process RSS" in line and "MiB/min" in line]
    assert len([line for line in lines if "--debug-endpoints" in line]) == 1
    assert "allocation sites need --debug-endpoints" in done.stdout


def test_without_debug_endpoints_or_metrics_doctor_explains(start_server, tmp_path: Path) -> None:
    """With neither the debug routes nor /metrics, doctor fails with one line that says why."""
    write_model(tmp_path / "m", "healthy", add_model())
    server = start_server(tmp_path / "m", "--allow-metrics", "false")
    done = _doctor(server, "--samples", "2", "--interval", "0.1")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "--debug-endpoints" in done.stderr and "/metrics" in done.stderr
