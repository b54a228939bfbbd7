"""Poll mode and a version folder copied in file by file: a half-written file gets a warning
that says a copy may be in progress; a failure that persists once the files have settled is an
error; the finished copy loads."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import tritonclient.http as httpclient
from support.models import add_model, write_model
from support.server import ServerProcess


def _wait_log(server: ServerProcess, text: str, timeout_s: float = 20.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        log = server.log()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"'{text}' never appeared in the log:\n{server.log()}")


def _served_scale(client: httpclient.InferenceServerClient) -> float:
    inputs = [httpclient.InferInput(n, [1, 4], "FP32") for n in ("a", "b")]
    inputs[0].set_data_from_numpy(np.ones((1, 4), np.float32))
    inputs[1].set_data_from_numpy(np.zeros((1, 4), np.float32))
    return float(client.infer("adder", inputs).as_numpy("out")[0, 0])


def test_half_copied_version_warns_first_and_errs_once_settled(start_server,
                                                                 tmp_path: Path) -> None:
    """Warning on the first failed attempt (no error yet), an error when the same files fail
    again at the next poll, and the completed file serves."""
    repo = tmp_path / "models"
    write_model(repo, "adder", add_model(1.0))
    server = start_server(repo, "--model-control-mode", "poll", "--repository-poll-secs", "1")
    client = httpclient.InferenceServerClient(server.http_url)
    whole = add_model(2.0).SerializeToString()
    (repo / "adder" / "2").mkdir()
    (repo / "adder" / "2" / "model.onnx").write_bytes(whole[: len(whole) // 2])
    log = _wait_log(server, "if its files are still being copied, this is expected")
    assert "WARNING modelport.serve: model 'adder' version 2 failed to load" in log
    assert "ERROR" not in log
    log = _wait_log(server, "ERROR")
    assert "ERROR   modelport.serve: model 'adder' version 2 failed to load" in log
    assert _served_scale(client) == 1.0  # version 1 kept serving throughout
    (repo / "adder" / "2" / "model.onnx").write_bytes(whole)
    _wait_log(server, "loaded model 'adder' version 2")
    assert _served_scale(client) == 2.0
