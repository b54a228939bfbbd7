"""Train -> export -> a live server: poll mode under a request stream, and --serve-url."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as httpclient
from support.server import ServerProcess
from support.training import reference_state

POLL = ("--model-control-mode", "poll", "--repository-poll-secs", "0.2")
pytestmark = pytest.mark.usefixtures("local_ray")
INPUT = np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32)


def _own_cache(tmp_path: Path) -> tuple[str, str]:
    # Each server gets its own optimized-model cache: the shared one in ~/.cache keeps entries
    # of other runs, and (at the time of writing) a cached entry of a model with external
    # weights points at a model.onnx.data that is not in the cache folder.
    return ("--cache-dir", str(tmp_path / "ort-cache"))


def _train(spec: Path, steps: int, export: Path, serve_url: str | None = None) -> None:
    """Train in this process on the module's Ray (as `modelport train` does) and export."""
    from modelport.train.config import ExportTarget, TrainConfig
    from modelport.train.job import train

    summary = train(TrainConfig(spec=spec, steps=steps, export=ExportTarget.parse(str(export)),
                                serve_url=serve_url))
    assert summary.steps == steps and summary.exported


def _torch_outputs(spec: Path, steps: int) -> np.ndarray:
    """What the trained torch model answers: one worker x batch 8, the same steps."""
    import torch

    from modelport.train.flat import FlatModel
    from modelport.train.spec import load_spec

    torch.manual_seed(0)
    flat = FlatModel(load_spec(spec).model())
    flat.load(reference_state(spec, workers=1, batch=8, steps=steps))
    with torch.no_grad():
        out: np.ndarray = flat.module(torch.from_numpy(INPUT)).numpy()
    return out


def _infer(client: Any, version: str = "") -> np.ndarray:
    inp = httpclient.InferInput("input", list(INPUT.shape), "FP32")
    inp.set_data_from_numpy(INPUT)
    out: np.ndarray = client.infer("tiny", [inp], model_version=version).as_numpy("output")
    return out


def _ready(url: str, version: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{url}/v2/models/tiny/versions/{version}/ready") as r:
            return bool(r.status == 200)
    except OSError:
        return False


def test_poll_server_picks_up_the_new_version_with_no_failed_request(
        tiny_spec: Path, tmp_path: Path) -> None:
    """Version 2 trained while a client streams requests at version 1: it serves, nothing
    fails, and its outputs are those of the trained torch model."""
    repo = tmp_path / "repo"
    _train(tiny_spec, 5, repo / "tiny")
    server = ServerProcess(repo, *POLL, *_own_cache(tmp_path), log_path=tmp_path / "server.log")
    counts = {"ok": 0, "failed": 0}
    errors: list[str] = []
    stop = threading.Event()

    def stream() -> None:
        client = httpclient.InferenceServerClient(server.http_url)
        deadline = time.monotonic() + 240
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                _infer(client)
                counts["ok"] += 1
            except Exception as exc:
                counts["failed"] += 1
                errors.append(str(exc))
        client.close()

    try:
        np.testing.assert_allclose(_infer(httpclient.InferenceServerClient(server.http_url)),
                                   _torch_outputs(tiny_spec, 5), atol=1e-4)
        thread = threading.Thread(target=stream)
        thread.start()
        _train(tiny_spec, 15, repo / "tiny")
        deadline = time.monotonic() + 60
        while not _ready(server.http_url, 2) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        stop.set()
        thread.join(timeout=30)
        assert _ready(server.http_url, 2), server.log()
        client = httpclient.InferenceServerClient(server.http_url)
        np.testing.assert_allclose(_infer(client, "2"), _torch_outputs(tiny_spec, 15),
                                   atol=1e-4)
        np.testing.assert_allclose(_infer(client), _torch_outputs(tiny_spec, 15), atol=1e-4)
        assert counts["failed"] == 0, errors[:3]
        assert counts["ok"] > 10
    finally:
        stop.set()
        server.stop()


def test_serve_url_loads_through_the_explicit_api(tiny_spec: Path, tmp_path: Path) -> None:
    """--serve-url asks an explicit-mode server to load the exported model."""
    repo = tmp_path / "repo"
    repo.mkdir()
    server = ServerProcess(repo, "--model-control-mode", "explicit", *_own_cache(tmp_path),
                           log_path=tmp_path / "server.log")
    try:
        _train(tiny_spec, 5, repo / "tiny", serve_url=f"http://{server.http_url}")
        client = httpclient.InferenceServerClient(server.http_url)
        np.testing.assert_allclose(_infer(client), _torch_outputs(tiny_spec, 5), atol=1e-4)
    finally:
        server.stop()
