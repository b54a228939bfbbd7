"""SIGKILL while a reload is under way, then a restart: the server comes back serving the
last complete versions, whatever the killed process left behind (its optimized-model cache
included), and a version folder still half-written at restart does not take the model down."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import tritonclient.http as httpclient
from support.chaos import heavy_adder, loading, wait_until
from support.server import ServerProcess

MODEL = "m"
POLL = ("--model-control-mode", "poll", "--repository-poll-secs", "0.2")


def place(repo: Path, version: int) -> None:
    """Build a version folder aside and rename it into place."""
    staging = repo.parent / f"staging-{version}"
    staging.mkdir()
    (staging / "model.onnx").write_bytes(heavy_adder(version))
    os.rename(staging, repo / MODEL / str(version))


def served(server: ServerProcess) -> int:
    """The version answering a request without a version (its output agrees)."""
    client = httpclient.InferenceServerClient(server.http_url)
    try:
        inputs = [httpclient.InferInput(n, [1, 4], "FP32") for n in ("a", "b")]
        inputs[0].set_data_from_numpy(np.ones((1, 4), np.float32))
        inputs[1].set_data_from_numpy(np.zeros((1, 4), np.float32))
        result = client.infer(MODEL, inputs)
        version = int(result.get_response()["model_version"])
        np.testing.assert_allclose(result.as_numpy("out"), np.full((1, 4), float(version)))
        return version
    finally:
        client.close()


def kill_mid_load(server: ServerProcess, version: int, cache: Path) -> bool:
    """SIGKILL as soon as the server writes an optimized copy into the cache (it is loading
    ``version``); whether the kill came before that version was loaded."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not loading(cache):
        time.sleep(0.001)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
    return f"loaded model '{MODEL}' version {version}" not in server.log()


def test_sigkill_during_reload_then_restart_serves_the_last_complete_versions(
        start_server, tmp_path: Path) -> None:
    """Kill -9 while version 2 loads: the restart serves version 2. Kill -9 while version 3
    is still being copied: the restart serves version 2, says why version 3 is unavailable,
    and loads version 3 once its copy is complete."""
    repo = tmp_path / "models"
    (repo / MODEL / "1").mkdir(parents=True)
    (repo / MODEL / "1" / "model.onnx").write_bytes(heavy_adder(1))
    cache = tmp_path / "cache"
    env = {"MODELPORT_CACHE_DIR": str(cache)}
    server = start_server(repo, *POLL, env=env)
    assert served(server) == 1
    place(repo, 2)
    assert kill_mid_load(server, 2, cache), "version 2 loaded before the kill"
    left = list((cache / "ort").glob("*.tmp"))
    assert left, "the kill left no half-written cache entry: it missed the load"

    server = start_server(repo, *POLL, env=env)
    assert served(server) == 2
    assert not [p for p in left if p.exists()], "the restart left the dead writer's files"

    whole = heavy_adder(3)
    (repo / MODEL / "3").mkdir()
    with (repo / MODEL / "3" / "model.onnx").open("wb") as f:
        f.write(whole[: len(whole) // 2])
        f.flush()
        wait_until(lambda: "version 3 failed to load" in server.log(), "the half file seen")
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
        server = start_server(repo, *POLL, env=env)
        assert served(server) == 2
        index = httpclient.InferenceServerClient(server.http_url).get_model_repository_index()
        row = next(r for r in index if r.get("version") == "3")
        assert row["state"] == "UNAVAILABLE" and "not a readable ONNX model" in row["reason"]
        f.write(whole[len(whole) // 2:])
    wait_until(lambda: served(server) == 3, "version 3 once complete", 30)
