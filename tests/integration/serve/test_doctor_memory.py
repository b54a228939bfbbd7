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


def test_debug_routes_off_by_default(start_server, tmp_path: Path) -> None:
    """Without --debug-endpoints the debug routes do not exist and doctor explains why."""
    write_model(tmp_path / "m", "healthy", add_model())
    server = start_server(tmp_path / "m")
    done = subprocess.run([sys.executable, "-m", "modelport", "doctor", "memory",
                           f"http://{server.http_url}", "--samples", "2", "--interval", "0.1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--debug-endpoints" in done.stderr
