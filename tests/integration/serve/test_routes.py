"""Every HTTP route and gRPC RPC of the protocol, driven by unmodified tritonclient."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from support.server import ServerProcess
from tritonclient.utils import InferenceServerException

DEMO = ["classify_image", "image_preprocess", "mlp", "resnet18", "text_encoder", "text_upper"]


@pytest.fixture(scope="module")
def http(demo_server: ServerProcess) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(demo_server.http_url)


@pytest.fixture(scope="module")
def grpc(demo_server: ServerProcess) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(demo_server.grpc_url)


def _mlp_input(client: object, batch: int = 2) -> tuple[object, np.ndarray]:
    x = np.random.default_rng(1).standard_normal((batch, 64)).astype(np.float32)
    mod = httpclient if client is httpclient else grpcclient
    inp = mod.InferInput("input", [batch, 64], "FP32")
    inp.set_data_from_numpy(x)
    return inp, x


def test_http_health_live_and_ready(http: httpclient.InferenceServerClient) -> None:
    """/v2/health/live and /v2/health/ready answer 200 once models are loaded."""
    assert http.is_server_live()
    assert http.is_server_ready()


def test_http_server_metadata_lists_extensions(http: httpclient.InferenceServerClient) -> None:
    """GET /v2 names the server and the extensions it implements."""
    meta = http.get_server_metadata()
    assert meta["name"] == "modelport"
    assert {"binary_tensor_data", "model_repository", "statistics"} <= set(meta["extensions"])


def test_http_model_metadata_marks_batch_dim(http: httpclient.InferenceServerClient) -> None:
    """Model metadata puts -1 first for batching models, and for variable dims."""
    meta = http.get_model_metadata("text_encoder")
    assert meta["versions"] == ["1"] and meta["platform"] == "onnxruntime_onnx"
    shapes = {t["name"]: (t["datatype"], t["shape"]) for t in meta["inputs"] + meta["outputs"]}
    assert shapes["input_ids"] == ("INT64", [-1, -1])
    assert shapes["last_hidden_state"] == ("FP32", [-1, -1, 64])
    assert http.get_model_metadata("text_upper")["inputs"][0]["shape"] == [-1]


def test_http_version_routes(http: httpclient.InferenceServerClient) -> None:
    """Version-specific metadata, ready and config routes answer for version 1 only."""
    assert http.get_model_metadata("mlp", "1")["name"] == "mlp"
    assert http.is_model_ready("mlp", "1")
    assert not http.is_model_ready("mlp", "7")
    assert http.get_model_config("mlp", "1")["max_batch_size"] == 64
    with pytest.raises(InferenceServerException, match="version 7"):
        http.get_model_metadata("mlp", "7")


def test_http_model_config_is_tritons_json(http: httpclient.InferenceServerClient) -> None:
    """GET .../config returns Triton's JSON: proto field names, numeric dims, TYPE_ names, and
    every primitive field even at its default (as Triton prints them)."""
    config = http.get_model_config("resnet18")
    assert config["name"] == "resnet18" and config["max_batch_size"] == 16
    assert config["input"][0] == {"name": "input", "data_type": "TYPE_FP32", "dims": [3, 224, 224],
                                  "format": "FORMAT_NONE", "is_shape_tensor": False,
                                  "allow_ragged_batch": False, "optional": False,
                                  "is_non_linear_format_io": False}
    assert config["default_model_filename"] == "model.onnx" and config["batch_input"] == []
    assert config["model_transaction_policy"] == {"decoupled": False}
    assert config["dynamic_batching"]["preferred_batch_size"] == [4, 8]
    assert config["instance_group"][0]["kind"] == "KIND_CPU"


def test_http_infer_binary_and_json_agree(http: httpclient.InferenceServerClient) -> None:
    """The same input gives the same output as binary and as JSON."""
    inp, x = _mlp_input(httpclient)
    binary = http.infer("mlp", [inp]).as_numpy("output")
    inp_json = httpclient.InferInput("input", [2, 64], "FP32")
    inp_json.set_data_from_numpy(x, binary_data=False)
    out = httpclient.InferRequestedOutput("output", binary_data=False)
    as_json = http.infer("mlp", [inp_json], outputs=[out])
    assert as_json.get_response()["outputs"][0].get("data") is not None
    np.testing.assert_array_equal(binary, as_json.as_numpy("output"))


def test_http_repository_index_lists_every_model(http: httpclient.InferenceServerClient) -> None:
    """The index (posted with an empty body by tritonclient) lists every demo model READY."""
    rows = http.get_model_repository_index()
    assert sorted(r["name"] for r in rows) == DEMO
    assert all(r["state"] == "READY" and r["version"] == "1" for r in rows)


def test_http_statistics_count_requests(demo_server: ServerProcess,
                                        http: httpclient.InferenceServerClient) -> None:
    """Statistics for a model count each request and its batch size."""
    before = http.get_inference_statistics("text_upper")["model_stats"][0]
    text = httpclient.InferInput("text", [3], "BYTES")
    text.set_data_from_numpy(np.array([b"a", b"b", b"c"], dtype=object))
    for _ in range(3):
        http.infer("text_upper", [text])
    after = http.get_inference_statistics("text_upper")["model_stats"][0]
    assert after["inference_stats"]["success"]["count"] == before["inference_stats"]["success"][
        "count"] + 3
    assert after["execution_count"] == before["execution_count"] + 3
    every = http.get_inference_statistics()["model_stats"]
    assert sorted(s["name"] for s in every) == DEMO


def test_http_unknown_route_is_json_404(demo_server: ServerProcess) -> None:
    """An unknown path answers 404 with an {"error"} body."""
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://{demo_server.http_url}/v2/nothing/here")
    assert info.value.code == 404
    assert "error" in json.loads(info.value.read())


def test_grpc_health_metadata_and_ready(grpc: grpcclient.InferenceServerClient) -> None:
    """ServerLive, ServerReady, ServerMetadata, ModelReady over gRPC."""
    assert grpc.is_server_live() and grpc.is_server_ready()
    assert grpc.get_server_metadata(as_json=True)["name"] == "modelport"
    assert grpc.is_model_ready("resnet18") and not grpc.is_model_ready("resnet18", "9")


def test_grpc_model_metadata_and_config(grpc: grpcclient.InferenceServerClient) -> None:
    """ModelMetadata and ModelConfig decode with tritonclient's own messages."""
    meta = grpc.get_model_metadata("mlp", as_json=True)
    assert meta["inputs"][0] == {"name": "input", "datatype": "FP32", "shape": ["-1", "64"]}
    config = grpc.get_model_config("resnet18").config
    assert config.max_batch_size == 16 and list(config.input[0].dims) == [3, 224, 224]
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]


def test_grpc_infer_matches_http(grpc: grpcclient.InferenceServerClient,
                                 http: httpclient.InferenceServerClient) -> None:
    """ModelInfer returns raw_output_contents that equal the HTTP answer."""
    inp, _x = _mlp_input(grpcclient)
    got = grpc.infer("mlp", [inp], request_id="req-7")
    assert got.get_response().id == "req-7"
    h_inp, _ = _mlp_input(httpclient)
    np.testing.assert_array_equal(got.as_numpy("output"), http.infer("mlp", [h_inp]).as_numpy(
        "output"))
    assert got.get_response().raw_output_contents


def test_grpc_repository_index_and_statistics(grpc: grpcclient.InferenceServerClient) -> None:
    """RepositoryIndex and ModelStatistics over gRPC."""
    index = grpc.get_model_repository_index(as_json=True)["models"]
    assert sorted(m["name"] for m in index) == DEMO
    stats = grpc.get_inference_statistics("mlp", as_json=True)["model_stats"][0]
    assert stats["name"] == "mlp" and stats["version"] == "1"


def test_grpc_cuda_shared_memory_is_refused_clearly(grpc: grpcclient.InferenceServerClient,
                                                    ) -> None:
    """CUDA shared memory answers INVALID_ARGUMENT (no GPU), not UNIMPLEMENTED; trace and log
    settings answer; the server keeps serving."""
    with pytest.raises(InferenceServerException, match="no GPU") as cuda:
        grpc.get_cuda_shared_memory_status()
    assert cuda.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert grpc.get_trace_settings(as_json=True)["settings"]["trace_mode"]["value"] == [
        "opentelemetry"]
    assert "log_info" in grpc.get_log_settings(as_json=True)["settings"]
    assert grpc.is_server_ready()


def test_grpc_standard_health_service(demo_server: ServerProcess) -> None:
    """grpc.health.v1.Health/Check answers SERVING (what Kubernetes gRPC probes call)."""
    import grpc as grpclib

    channel = grpclib.insecure_channel(demo_server.grpc_url)
    check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                request_serializer=lambda _: b"",
                                response_deserializer=lambda raw: raw)
    assert check(None, timeout=5) == b"\x08\x01"  # field 1 (status) = SERVING
    channel.close()
