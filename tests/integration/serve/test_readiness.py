"""Strict readiness (Triton's --strict-readiness) and answers that tell a missing model from a
broken, unloaded or loading one, over HTTP and gRPC with tritonclient."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from support.models import add_model, write_model
from tritonclient.utils import InferenceServerException


def _ready_status(url: str) -> int:
    try:
        with urllib.request.urlopen(f"http://{url}/v2/health/ready", timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _grpc_health(url: str) -> str:
    """The standard grpc.health.v1 Check answer, as a Kubernetes gRPC probe reads it (the
    reply is one enum field: 1 SERVING, 2 NOT_SERVING)."""
    with grpc.insecure_channel(url) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda _: b"",
                                    response_deserializer=lambda raw: raw)
        reply = check(None, timeout=5)
    return {b"\x08\x01": "SERVING", b"\x08\x02": "NOT_SERVING"}.get(reply, repr(reply))


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """One good model and one that cannot load."""
    root = tmp_path / "models"
    write_model(root, "good", add_model(1.0))
    write_model(root, "broken", b"this is not an onnx file")
    return root


def _infer(client: httpclient.InferenceServerClient, model: str) -> None:
    inputs = [httpclient.InferInput(n, [1, 4], "FP32") for n in ("a", "b")]
    for i in inputs:
        i.set_data_from_numpy(np.ones((1, 4), np.float32))
    client.infer(model, inputs)


def test_a_model_that_failed_to_load_makes_the_server_not_ready(start_server, repo: Path) -> None:
    """With a broken model the server serves the good one but answers not ready on HTTP,
    on gRPC ServerReady and on the standard gRPC health check."""
    server = start_server(repo)
    http = httpclient.InferenceServerClient(server.http_url)
    gc = grpcclient.InferenceServerClient(server.grpc_url)
    assert _ready_status(server.http_url) == 503
    assert not http.is_server_ready() and not gc.is_server_ready()
    assert http.is_server_live() and gc.is_server_live()
    _infer(http, "good")
    assert "NOT READY: no version of broken is serving" in server.log()


def test_strict_readiness_false_keeps_the_old_answer(start_server, repo: Path) -> None:
    """--strict-readiness false reports ready once start-up is done, broken model or not."""
    server = start_server(repo, "--strict-readiness", "false")
    assert _ready_status(server.http_url) == 200
    assert grpcclient.InferenceServerClient(server.grpc_url).is_server_ready()


def test_readiness_follows_explicit_loads_and_unloads(start_server, repo: Path) -> None:
    """Explicit mode: ready with what was asked; a failed load makes it not ready; unloading
    the broken model (the operator's fix) makes it ready again."""
    server = start_server(repo, "--model-control-mode", "explicit", "--load-model", "good")
    http = httpclient.InferenceServerClient(server.http_url)
    assert http.is_server_ready()
    with pytest.raises(InferenceServerException):
        http.load_model("broken")
    assert not http.is_server_ready()
    assert _grpc_health(server.grpc_url) == "NOT_SERVING"
    http.unload_model("broken")
    assert http.is_server_ready()
    assert _grpc_health(server.grpc_url) == "SERVING"
    http.unload_model("good")
    assert http.is_server_ready()  # an unloaded model is not waited for (Triton's rule)


def test_unknown_and_unavailable_models_answer_differently(start_server, repo: Path) -> None:
    """A typo is 'not found'; a model that failed to load says it has no available versions
    and why; an unloaded one says it was unloaded; one not loaded says how to load it."""
    server = start_server(repo, "--model-control-mode", "explicit", "--load-model", "good",
                          "--load-model", "broken")
    http = httpclient.InferenceServerClient(server.http_url)
    gc = grpcclient.InferenceServerClient(server.grpc_url)
    for client in (http, gc):
        with pytest.raises(InferenceServerException) as typo:
            client.get_model_metadata("gdoo")
        assert "Request for unknown model: 'gdoo' is not found" in str(typo.value)
        assert "has no available versions" not in str(typo.value)
        with pytest.raises(InferenceServerException) as broken:
            client.get_model_metadata("broken")
        text = str(broken.value)
        assert "Request for unknown model: 'broken' has no available versions" in text
        assert "failed to load" in text and "not a readable ONNX model" in text
    with pytest.raises(InferenceServerException) as ready:
        http.is_model_ready("broken") or _raise_ready(server.http_url, "broken")
    assert "not a readable ONNX model" in str(ready.value)
    http.unload_model("good")
    with pytest.raises(InferenceServerException, match="has no available versions: it was "
                                                         "unloaded") as gone:
        _infer(http, "good")
    assert gone.value.status() == "404"
    http.unload_model("broken")
    with pytest.raises(InferenceServerException, match="it was unloaded"):
        gc.get_model_metadata("broken")


def _raise_ready(url: str, model: str) -> None:
    """GET .../ready and raise its error text (tritonclient's is_model_ready drops it)."""
    try:
        urllib.request.urlopen(f"http://{url}/v2/models/{model}/ready", timeout=10)
    except urllib.error.HTTPError as exc:
        raise InferenceServerException(exc.read().decode()) from None


def test_model_not_loaded_in_explicit_mode_says_how_to_load_it(start_server,
                                                                  repo: Path) -> None:
    """A repository model that was never loaded is unknown, with the load call to make."""
    server = start_server(repo, "--model-control-mode", "explicit")
    http = httpclient.InferenceServerClient(server.http_url)
    with pytest.raises(InferenceServerException, match=r"not loaded \(load it with POST "
                                                         r"/v2/repository/models/good/load\)"):
        _infer(http, "good")
