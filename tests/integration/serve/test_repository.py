"""Serving user repositories: completion from ONNX, version policies, failures, model control."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from support.models import add_model, identity_model, write_model
from tritonclient.utils import InferenceServerException


def _infer_add(
    client: httpclient.InferenceServerClient, model: str, version: str = ""
) -> tuple[np.ndarray, str]:
    a = np.ones((1, 4), np.float32)
    b = np.full((1, 4), 2.0, np.float32)
    inputs = [
        httpclient.InferInput("a", [1, 4], "FP32"),
        httpclient.InferInput("b", [1, 4], "FP32"),
    ]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(b)
    result = client.infer(model, inputs, model_version=version)
    return result.as_numpy("out"), result.get_response()["model_version"]


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    write_model(root, "plain", add_model(1.0))  # no config.pbtxt at all
    write_model(
        root,
        "fixed",
        identity_model("INT32", batch=False),
        config=(
            'name: "fixed" max_batch_size: 0 '
            'input [{ name: "x" data_type: TYPE_INT32 dims: [ 2, 3 ] }] '
            'output [{ name: "y" data_type: TYPE_INT32 dims: [ 2, 3 ] }]'
        ),
    )
    for version, scale in ((1, 1.0), (2, 10.0), (3, 100.0)):
        write_model(root, "versioned", add_model(scale), version=version)
    (root / "versioned" / "config.pbtxt").write_text(
        "version_policy: { specific: { versions: [1, 3] } }"
    )
    write_model(root, "broken", b"this is not an onnx file")
    write_model(
        root,
        "wrongcfg",
        add_model(),
        config=('input [{ name: "nope" data_type: TYPE_FP32 dims: [ 4 ] }]'),
    )
    return root


def test_config_completed_from_onnx_graph(start_server, repo: Path) -> None:
    """A model without config.pbtxt is served with inputs, types, dims and batching from ONNX."""
    server = start_server(repo)
    client = httpclient.InferenceServerClient(server.http_url)
    config = client.get_model_config("plain")
    assert config["max_batch_size"] == 8 and "dynamic_batching" in config
    assert [(i["name"], i["data_type"], i["dims"]) for i in config["input"]] == [
        ("a", "TYPE_FP32", [4]),
        ("b", "TYPE_FP32", [4]),
    ]
    out, version = _infer_add(client, "plain")
    np.testing.assert_allclose(out, np.full((1, 4), 3.0))
    assert version == "1"


def test_failed_models_reported_and_others_served(start_server, repo: Path) -> None:
    """Broken models are UNAVAILABLE with a reason in the index; the rest serve normally."""
    server = start_server(repo)
    client = httpclient.InferenceServerClient(server.http_url)
    rows = {r["name"]: r for r in client.get_model_repository_index()}
    assert rows["broken"]["state"] == "UNAVAILABLE"
    assert "not a readable ONNX model" in rows["broken"]["reason"]
    assert "'nope' is not in the ONNX graph" in rows["wrongcfg"]["reason"]
    assert rows["plain"]["state"] == "READY" and client.is_model_ready("fixed")
    assert not client.is_model_ready("broken")
    assert "broken" in server.log() and "not a readable ONNX model" in server.log()


def test_specific_version_policy(start_server, repo: Path) -> None:
    """version_policy specific serves exactly versions 1 and 3; latest is 3."""
    server = start_server(repo)
    client = httpclient.InferenceServerClient(server.http_url)
    assert client.get_model_metadata("versioned")["versions"] == ["1", "3"]
    assert _infer_add(client, "versioned")[1] == "3"
    np.testing.assert_allclose(_infer_add(client, "versioned", "1")[0], np.full((1, 4), 3.0))
    np.testing.assert_allclose(_infer_add(client, "versioned", "3")[0], np.full((1, 4), 102.0))
    with pytest.raises(InferenceServerException, match="version 2"):
        _infer_add(client, "versioned", "2")


def test_explicit_mode_load_and_unload(start_server, repo: Path) -> None:
    """Explicit mode loads only what is asked; load and unload work over HTTP and gRPC."""
    server = start_server(repo, "--model-control-mode", "explicit", "--load-model", "plain")
    http = httpclient.InferenceServerClient(server.http_url)
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    assert http.is_model_ready("plain") and not http.is_model_ready("fixed")
    http.load_model("fixed")
    assert http.is_model_ready("fixed")
    grpc.unload_model("fixed")
    assert not http.is_model_ready("fixed")
    rows = {r["name"]: r for r in http.get_model_repository_index()}
    assert rows["fixed"]["state"] == "UNAVAILABLE" and rows["fixed"]["reason"] == "unloaded"
    with pytest.raises(InferenceServerException) as info:
        x = httpclient.InferInput("x", [2, 3], "INT32")
        x.set_data_from_numpy(np.zeros((2, 3), np.int32))
        http.infer("fixed", [x])
    assert info.value.status() == "404"
    grpc.load_model("fixed")
    assert grpc.is_model_ready("fixed")


def test_load_with_config_override(start_server, repo: Path) -> None:
    """A load request's config parameter replaces config.pbtxt (here: version policy all)."""
    server = start_server(repo, "--model-control-mode", "explicit")
    http = httpclient.InferenceServerClient(server.http_url)
    http.load_model("versioned", config=json.dumps({"version_policy": {"all": {}}}))
    assert http.get_model_metadata("versioned")["versions"] == ["1", "2", "3"]
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    grpc.load_model(
        "versioned", config=json.dumps({"version_policy": {"latest": {"num_versions": 1}}})
    )
    assert http.get_model_metadata("versioned")["versions"] == ["3"]


def test_failed_load_answers_with_reason(start_server, repo: Path) -> None:
    """Loading a broken or missing model fails with the reason; the server keeps serving."""
    server = start_server(repo, "--model-control-mode", "explicit")
    http = httpclient.InferenceServerClient(server.http_url)
    with pytest.raises(InferenceServerException, match="not a readable ONNX model"):
        http.load_model("broken")
    with pytest.raises(InferenceServerException, match="not in the repository"):
        http.load_model("missing")
    with pytest.raises(InferenceServerException):
        http.load_model("versioned", config="{not json")
    http.load_model("plain")
    assert http.is_model_ready("plain") and server.alive()


def test_load_refused_outside_explicit_mode(start_server, repo: Path) -> None:
    """In mode none, load/unload are refused as Triton refuses them (503 / UNAVAILABLE, its
    words) with a message naming the flag to use."""
    server = start_server(repo)
    http = httpclient.InferenceServerClient(server.http_url)
    with pytest.raises(InferenceServerException, match="--model-control-mode explicit") as info:
        http.unload_model("plain")
    assert info.value.status() == "503"
    assert "explicit model load / unload is not allowed" in str(info.value)
    with pytest.raises(InferenceServerException) as grpc_info:
        grpcclient.InferenceServerClient(server.grpc_url).load_model("plain")
    assert grpc_info.value.status() == "StatusCode.UNAVAILABLE"
    assert http.is_model_ready("plain")


def test_control_token_guards_load_and_unload(start_server, repo: Path) -> None:
    """With --control-token, load/unload need the bearer token; inference does not."""
    server = start_server(
        repo,
        "--model-control-mode",
        "explicit",
        "--load-model",
        "plain",
        "--control-token",
        "s3cret",
    )
    http = httpclient.InferenceServerClient(server.http_url)
    with pytest.raises(InferenceServerException) as info:
        http.load_model("fixed")
    assert info.value.status() == "403"
    http.load_model("fixed", headers={"Authorization": "Bearer s3cret"})
    assert http.is_model_ready("fixed")
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    with pytest.raises(InferenceServerException) as info:
        grpc.unload_model("fixed")
    assert info.value.status() == "StatusCode.PERMISSION_DENIED"
    grpc.unload_model("fixed", headers={"authorization": "Bearer s3cret"})
    assert not http.is_model_ready("fixed")
    assert _infer_add(http, "plain")[1] == "1"


def test_model_names_cannot_escape_repository(start_server, repo: Path, tmp_path: Path) -> None:
    """Load requests naming paths outside the repository are refused without touching them."""
    outside = tmp_path / "outside"
    write_model(outside, "secret", add_model())
    server = start_server(repo, "--model-control-mode", "explicit")
    http = httpclient.InferenceServerClient(server.http_url)
    for name in ("..", "../outside/secret", "%2e%2e", "..%2Foutside%2Fsecret"):
        with pytest.raises(InferenceServerException) as info:
            http.load_model(name)
        assert info.value.status() in ("400", "404")
    assert "secret" not in json.dumps(http.get_model_repository_index())


def test_gpu_instance_group_without_gpu_runs_on_cpu(start_server, tmp_path: Path) -> None:
    """KIND_GPU on a machine without onnxruntime-gpu says so in the log and serves on CPU."""
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has the CUDA execution provider")
    root = tmp_path / "gpu"
    write_model(root, "ongpu", add_model(2.0),
                config="instance_group [{ count: 1, kind: KIND_GPU }]")
    server = start_server(root)
    client = httpclient.InferenceServerClient(server.http_url)
    out, _ = _infer_add(client, "ongpu")
    np.testing.assert_allclose(out, np.full((1, 4), 4.0))
    assert "asks for a GPU but onnxruntime has no CUDA provider" in server.log()
    assert client.get_model_config("ongpu")["instance_group"][0]["kind"] == "KIND_GPU"


def test_non_ascii_digits_are_not_numbers(start_server, repo: Path) -> None:
    """Unicode digits in a version, header or timeout get 4xx answers, never a 500."""
    import http.client

    (repo / "plain" / "²").mkdir()  # a version folder no one can parse: ignored, not fatal
    server = start_server(repo)
    conn = http.client.HTTPConnection(*server.http_url.split(":"))
    body = (b'{"inputs":[{"name":"a","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]},'
            b'{"name":"b","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],'
            b'"parameters":{"timeout":"\\u00b2"}}')
    for path, headers in (("/v2/models/plain/versions/%C2%B2/infer", {}),
                          ("/v2/models/plain/infer", {"Inference-Header-Content-Length": "²"}),
                          ("/v2/models/plain/infer", {})):
        conn.request("POST", path, body, headers={k: v.encode() for k, v in headers.items()})
        response = conn.getresponse()
        response.read()
        assert 400 <= response.status < 500, (path, headers, response.status)
    assert server.alive()


def test_plain_reload_drops_an_earlier_config_override(start_server, repo: Path) -> None:
    """After a load with a config override, a plain load goes back to config.pbtxt."""
    server = start_server(repo, "--model-control-mode", "explicit", "--load-model", "versioned")
    http = httpclient.InferenceServerClient(server.http_url)
    assert http.get_model_metadata("versioned")["versions"] == ["1", "3"]
    http.load_model("versioned", config=json.dumps({"version_policy": {"all": {}}}))
    assert http.get_model_metadata("versioned")["versions"] == ["1", "2", "3"]
    http.load_model("versioned")
    assert http.get_model_metadata("versioned")["versions"] == ["1", "3"]
