"""Ensembles through tritonclient: an ONNX preprocessing step feeding a classifier, a step
that runs beside it, classification of the ensemble's output, graph checks at load, a member
reload under load, a member unloaded and loaded again, and each member's own statistics."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.http.aio as httpaio
from onnx import TensorProto, helper, numpy_helper
from support.models import write_model
from support.server import ServerProcess
from tritonclient.utils import InferenceServerException

FEATURES, CLASSES = 12, 4
MEAN, SCALE = 127.5, 1 / 64.0
RNG = np.random.default_rng(7)
WEIGHTS = RNG.standard_normal((FEATURES, CLASSES)).astype(np.float32)
LABELS = ["ant", "bee", "cat", "dog"]


def _graph_model(name: str, nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto],
                 outputs: list[onnx.ValueInfoProto],
                 initializers: list[onnx.TensorProto]) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def preprocess_model() -> onnx.ModelProto:
    """UINT8 pixels [batch, 12] -> FP32 (x - 127.5) / 64."""
    return _graph_model(
        "preprocess",
        [helper.make_node("Cast", ["pixels"], ["f"], to=TensorProto.FLOAT),
         helper.make_node("Sub", ["f", "mean"], ["c"]),
         helper.make_node("Mul", ["c", "scale"], ["features"])],
        [helper.make_tensor_value_info("pixels", TensorProto.UINT8, ["batch", FEATURES])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", FEATURES])],
        [numpy_helper.from_array(np.array(MEAN, np.float32), "mean"),
         numpy_helper.from_array(np.array(SCALE, np.float32), "scale")])


def classifier_model(weights: np.ndarray) -> onnx.ModelProto:
    """FP32 [batch, 12] -> softmax(x @ W) [batch, 4]."""
    return _graph_model(
        "classifier",
        [helper.make_node("MatMul", ["features", "w"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", FEATURES])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", CLASSES])],
        [numpy_helper.from_array(weights, "w")])


def norm_model() -> onnx.ModelProto:
    """FP32 [batch, 12] -> its L2 norm [batch, 1] (a step beside the classifier)."""
    return _graph_model(
        "norm",
        [helper.make_node("ReduceL2", ["v"], ["n"], axes=[1], keepdims=1)],
        [helper.make_tensor_value_info("v", TensorProto.FLOAT, ["batch", FEATURES])],
        [helper.make_tensor_value_info("n", TensorProto.FLOAT, ["batch", 1])], [])


PIPELINE = """
name: "pipeline"
platform: "ensemble"
max_batch_size: 8
input [{ name: "IMAGE" data_type: TYPE_UINT8 dims: [ 12 ] }]
output [
  { name: "SCORES" data_type: TYPE_FP32 dims: [ 4 ] label_filename: "labels.txt" },
  { name: "NORM" data_type: TYPE_FP32 dims: [ 1 ] }
]
ensemble_scheduling {
  step [
    { model_name: "preprocess" model_version: -1
      input_map { key: "pixels" value: "IMAGE" }
      output_map { key: "features" value: "prepared" } },
    { model_name: "classifier" model_version: -1
      input_map { key: "features" value: "prepared" }
      output_map { key: "probs" value: "SCORES" } },
    { model_name: "norm" model_version: 1
      input_map { key: "v" value: "prepared" }
      output_map { key: "n" value: "NORM" } }
  ]
}
"""


def _ensemble(name: str, steps: str, input_type: str = "TYPE_UINT8", max_batch: int = 8) -> str:
    return f"""
name: "{name}"
platform: "ensemble"
max_batch_size: {max_batch}
input [{{ name: "IMAGE" data_type: {input_type} dims: [ 12 ] }}]
output [{{ name: "SCORES" data_type: TYPE_FP32 dims: [ 4 ] }}]
ensemble_scheduling {{ step [ {steps} ] }}
"""


def _step(model: str, inputs: dict[str, str], outputs: dict[str, str]) -> str:
    maps = [f'input_map {{ key: "{k}" value: "{v}" }}' for k, v in inputs.items()]
    maps += [f'output_map {{ key: "{k}" value: "{v}" }}' for k, v in outputs.items()]
    return f'{{ model_name: "{model}" model_version: -1 {" ".join(maps)} }}'


PRE = _step("preprocess", {"pixels": "IMAGE"}, {"features": "prepared"})
CLS = _step("classifier", {"features": "prepared"}, {"probs": "SCORES"})
BAD = {
    "bad_unknown": _ensemble("bad_unknown", PRE + ", " + _step(
        "nowhere", {"features": "prepared"}, {"probs": "SCORES"})),
    "bad_dtype": _ensemble("bad_dtype", CLS.replace('"prepared"', '"IMAGE"'), "TYPE_UINT8"),
    "bad_unmapped": _ensemble("bad_unmapped", PRE + ", " + _step(
        "classifier", {}, {"probs": "SCORES"})),
    "bad_output": _ensemble("bad_output", PRE + ", " + _step(
        "classifier", {"features": "prepared"}, {"nope": "SCORES"})),
    "bad_batch": _ensemble("bad_batch", PRE + ", " + CLS, max_batch=64),
    "bad_cycle_a": _ensemble("bad_cycle_a", _step("bad_cycle_b", {"IMAGE": "IMAGE"},
                                                  {"SCORES": "SCORES"})),
    "bad_cycle_b": _ensemble("bad_cycle_b", _step("bad_cycle_a", {"IMAGE": "IMAGE"},
                                                  {"SCORES": "SCORES"})),
}


def _member_config(name: str, inp: tuple[str, str, int], out: tuple[str, str, int],
                   delay_us: int = 500) -> str:
    return f"""
max_batch_size: 16
input [{{ name: "{inp[0]}" data_type: {inp[1]} dims: [ {inp[2]} ] }}]
output [{{ name: "{out[0]}" data_type: {out[1]} dims: [ {out[2]} ] }}]
dynamic_batching {{ max_queue_delay_microseconds: {delay_us} }}
"""


def build_repository(root: Path, bad: bool = False) -> Path:
    """The three members and the ``pipeline`` ensemble (and the broken ensembles)."""
    write_model(root, "preprocess", preprocess_model(), config=_member_config(
        "preprocess", ("pixels", "TYPE_UINT8", FEATURES), ("features", "TYPE_FP32", FEATURES)))
    write_model(root, "classifier", classifier_model(WEIGHTS), config=_member_config(
        "classifier", ("features", "TYPE_FP32", FEATURES), ("probs", "TYPE_FP32", CLASSES)))
    write_model(root, "norm", norm_model(), config=_member_config(
        "norm", ("v", "TYPE_FP32", FEATURES), ("n", "TYPE_FP32", 1)))
    for name, text in {"pipeline": PIPELINE, **(BAD if bad else {})}.items():
        (root / name / "1").mkdir(parents=True)  # Triton's layout: an empty version folder
        (root / name / "config.pbtxt").write_text(text)
    (root / "pipeline" / "labels.txt").write_text("\n".join(LABELS) + "\n")
    return root


def expected(pixels: np.ndarray, weights: np.ndarray = WEIGHTS) -> tuple[np.ndarray, np.ndarray]:
    """What the pipeline should answer, computed with numpy."""
    features = (pixels.astype(np.float32) - np.float32(MEAN)) * np.float32(SCALE)
    logits = features @ weights
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True), np.linalg.norm(features, axis=1, keepdims=True)


def _pixels(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (batch, FEATURES), dtype=np.uint8)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    """A server in explicit mode told to load only the ensemble: its members come with it."""
    root = build_repository(tmp_path_factory.mktemp("models"), bad=True)
    proc = ServerProcess(root, "--model-control-mode", "explicit", "--load-model", "pipeline",
                         log_path=tmp_path_factory.mktemp("log") / "server.log")
    yield proc
    proc.stop()


def test_loading_the_ensemble_loads_its_members(server: ServerProcess) -> None:
    """Asked to load only the ensemble, the server loads the three models its steps name."""
    client = httpclient.InferenceServerClient(server.http_url)
    ready = {(m["name"], m.get("state")) for m in client.get_model_repository_index()}
    for name in ("pipeline", "preprocess", "classifier", "norm"):
        assert (name, "READY") in ready
        assert client.is_model_ready(name)
    assert client.get_model_metadata("pipeline")["platform"] == "ensemble"
    config = client.get_model_config("pipeline")
    assert [s["model_name"] for s in config["ensemble_scheduling"]["step"]] == [
        "preprocess", "classifier", "norm"]


def test_http_sync_runs_every_step(server: ServerProcess) -> None:
    """tritonclient HTTP: both outputs match numpy for a batch of 3."""
    client = httpclient.InferenceServerClient(server.http_url)
    pixels = _pixels(3)
    inp = httpclient.InferInput("IMAGE", [3, FEATURES], "UINT8")
    inp.set_data_from_numpy(pixels, binary_data=True)
    result = client.infer("pipeline", [inp])
    scores, norm = expected(pixels)
    np.testing.assert_allclose(result.as_numpy("SCORES"), scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.as_numpy("NORM"), norm, rtol=1e-5)
    assert result.get_response()["model_name"] == "pipeline"


def test_classification_of_the_ensemble_output(server: ServerProcess) -> None:
    """class_count on an ensemble output uses the ensemble's own label file."""
    client = httpclient.InferenceServerClient(server.http_url)
    pixels = _pixels(2, seed=1)
    inp = httpclient.InferInput("IMAGE", [2, FEATURES], "UINT8")
    inp.set_data_from_numpy(pixels)
    out = httpclient.InferRequestedOutput("SCORES", class_count=1)
    result = client.infer("pipeline", [inp], outputs=[out])
    scores, _ = expected(pixels)
    top = [row[0].decode().split(":") for row in result.as_numpy("SCORES")]
    assert [LABELS[int(t[1])] for t in top] == [t[2] for t in top]
    assert [int(t[1]) for t in top] == list(scores.argmax(axis=1))


def test_grpc_and_streaming(server: ServerProcess) -> None:
    """tritonclient gRPC, unary and streaming, reach the same answer."""
    client = grpcclient.InferenceServerClient(server.grpc_url)
    pixels = _pixels(4, seed=2)
    inp = grpcclient.InferInput("IMAGE", [4, FEATURES], "UINT8")
    inp.set_data_from_numpy(pixels)
    scores, norm = expected(pixels)
    result = client.infer("pipeline", [inp])
    np.testing.assert_allclose(result.as_numpy("SCORES"), scores, rtol=1e-5, atol=1e-6)
    answers: list[object] = []
    done = threading.Event()

    def callback(result: object, error: object) -> None:
        answers.append(error or result)
        done.set()

    client.start_stream(callback=callback)
    client.async_stream_infer("pipeline", [inp], request_id="s1")
    assert done.wait(30)
    client.stop_stream()
    assert isinstance(answers[0], grpcclient.InferResult), answers[0]
    np.testing.assert_allclose(answers[0].as_numpy("NORM"), norm, rtol=1e-5)


def test_asyncio_concurrent_requests_batch_in_members(server: ServerProcess) -> None:
    """40 concurrent asyncio requests all succeed; members batch them (fewer executions than
    requests), and each member counts every request the ensemble sent it."""
    sync = httpclient.InferenceServerClient(server.http_url)
    before = _counts(sync)

    async def run() -> list[np.ndarray]:
        client = httpaio.InferenceServerClient(server.http_url)
        try:
            calls = []
            for i in range(40):
                inp = httpaio.InferInput("IMAGE", [1, FEATURES], "UINT8")
                inp.set_data_from_numpy(_pixels(1, seed=100 + i))
                calls.append(client.infer("pipeline", [inp]))
            return [r.as_numpy("SCORES") for r in await asyncio.gather(*calls)]
        finally:
            await client.close()

    results = asyncio.run(run())
    for i, got in enumerate(results):
        np.testing.assert_allclose(got, expected(_pixels(1, seed=100 + i))[0], rtol=1e-5,
                                   atol=1e-6)
    after = _counts(sync)
    for name in ("pipeline", "preprocess", "classifier", "norm"):
        assert after[name][0] - before[name][0] == 40, name
    assert after["classifier"][1] - before["classifier"][1] < 40


def _counts(client: httpclient.InferenceServerClient) -> dict[str, tuple[int, int]]:
    stats = client.get_inference_statistics()["model_stats"]
    return {s["name"]: (s["inference_count"], s["execution_count"]) for s in stats}


@pytest.mark.parametrize(("name", "words"), [
    ("bad_unknown", "step model 'nowhere' is not available"),
    ("bad_dtype", "tensor 'IMAGE' is UINT8 from ensemble input but step 0 (classifier) takes "
                  "FP32"),
    ("bad_unmapped", "step 1 (classifier) leaves input 'features' unmapped"),
    ("bad_output", "maps 'nope', which 'classifier' does not have as an output"),
    ("bad_batch", "allows batches of 64 but step 0 (preprocess) takes at most 16"),
    ("bad_cycle_a", "circular dependency between ensembles"),
])
def test_graph_errors_at_load(server: ServerProcess, name: str, words: str) -> None:
    """A broken ensemble fails to load with a message that says what is wrong, and the index
    says why; the good ensemble keeps serving."""
    client = httpclient.InferenceServerClient(server.http_url)
    with pytest.raises(InferenceServerException) as err:
        client.load_model(name)
    assert words in str(err.value)
    row = next(m for m in client.get_model_repository_index() if m["name"] == name)
    assert row["state"] == "UNAVAILABLE" and words in row["reason"]
    assert client.is_model_ready("pipeline")


def test_member_reload_under_load_keeps_serving(tmp_path: Path) -> None:
    """A new classifier version swaps in while requests stream through the ensemble: none
    fails, and the ensemble answers with the new weights afterwards."""
    root = build_repository(tmp_path / "models")
    proc = ServerProcess(root, "--model-control-mode", "poll", "--repository-poll-secs", "0.2",
                         log_path=tmp_path / "server.log")
    try:
        client = httpclient.InferenceServerClient(proc.http_url, concurrency=4)
        errors: list[str] = []
        stop = threading.Event()

        def hammer() -> None:
            local = httpclient.InferenceServerClient(proc.http_url)
            while not stop.is_set():
                inp = httpclient.InferInput("IMAGE", [2, FEATURES], "UINT8")
                inp.set_data_from_numpy(_pixels(2))
                try:
                    local.infer("pipeline", [inp])
                except InferenceServerException as exc:
                    errors.append(str(exc))

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        new_weights = WEIGHTS[:, ::-1].copy()
        write_model(root, "classifier", classifier_model(new_weights), version=2)
        deadline = time.monotonic() + 30
        while client.get_model_metadata("classifier")["versions"] != ["2"]:
            assert time.monotonic() < deadline, "version 2 never replaced version 1"
            time.sleep(0.1)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(30)
        assert errors == []
        inp = httpclient.InferInput("IMAGE", [2, FEATURES], "UINT8")
        inp.set_data_from_numpy(_pixels(2))
        got = client.infer("pipeline", [inp]).as_numpy("SCORES")
        np.testing.assert_allclose(got, expected(_pixels(2), new_weights)[0], rtol=1e-5,
                                   atol=1e-6)
    finally:
        proc.stop()


def test_member_unloaded_then_loaded_again(tmp_path: Path) -> None:
    """Unloading a member makes the ensemble not ready, with an error naming the member;
    loading the member again brings the ensemble back without reloading it."""
    root = build_repository(tmp_path / "models")
    proc = ServerProcess(root, "--model-control-mode", "explicit", "--load-model", "*",
                         "--strict-readiness", "true", log_path=tmp_path / "server.log")
    try:
        client = httpclient.InferenceServerClient(proc.http_url)
        client.unload_model("norm")
        deadline = time.monotonic() + 10
        while client.is_model_ready("norm"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert not client.is_model_ready("pipeline")
        assert not client.is_server_ready()
        inp = httpclient.InferInput("IMAGE", [1, FEATURES], "UINT8")
        inp.set_data_from_numpy(_pixels(1))
        with pytest.raises(InferenceServerException) as err:
            client.infer("pipeline", [inp])
        assert "cannot run step 'norm'" in str(err.value)
        row = next(m for m in client.get_model_repository_index() if m["name"] == "pipeline")
        assert row["state"] == "UNAVAILABLE" and "'norm'" in row["reason"]
        client.load_model("norm")
        assert client.is_model_ready("pipeline") and client.is_server_ready()
        scores, _ = expected(_pixels(1))
        np.testing.assert_allclose(client.infer("pipeline", [inp]).as_numpy("SCORES"), scores,
                                   rtol=1e-5, atol=1e-6)
    finally:
        proc.stop()


PY_PREPROCESS = '''
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """Raw bytes of 12 pixels per row -> the classifier's features, as numpy does it."""

    def execute(self, requests):
        responses = []
        for request in requests:
            raw = pb_utils.get_input_tensor_by_name(request, "RAW").as_numpy()
            pixels = np.stack([np.frombuffer(row[0], dtype=np.uint8) for row in raw])
            features = (pixels.astype(np.float32) - np.float32(127.5)) * np.float32(1 / 64.0)
            responses.append(pb_utils.InferenceResponse(
                [pb_utils.Tensor("FEATURES", features.astype(np.float32))]))
        return responses
'''


def test_python_preprocessing_feeds_an_onnx_classifier(tmp_path: Path) -> None:
    """The issue's pipeline: a Python model decodes raw bytes, the ONNX classifier scores
    them, the ensemble answers with labelled classes; over HTTP and gRPC."""
    root = build_repository(tmp_path / "models")
    (root / "py_pre" / "1").mkdir(parents=True)
    (root / "py_pre" / "1" / "model.py").write_text(PY_PREPROCESS)
    (root / "py_pre" / "config.pbtxt").write_text("""
backend: "python"
max_batch_size: 8
input [{ name: "RAW" data_type: TYPE_STRING dims: [ 1 ] }]
output [{ name: "FEATURES" data_type: TYPE_FP32 dims: [ 12 ] }]
dynamic_batching { }
""")
    (root / "bytes_pipeline" / "1").mkdir(parents=True)
    (root / "bytes_pipeline" / "labels.txt").write_text("\n".join(LABELS) + "\n")
    (root / "bytes_pipeline" / "config.pbtxt").write_text("""
platform: "ensemble"
max_batch_size: 8
input [{ name: "RAW" data_type: TYPE_STRING dims: [ 1 ] }]
output [{ name: "SCORES" data_type: TYPE_FP32 dims: [ 4 ] label_filename: "labels.txt" }]
ensemble_scheduling { step [
  { model_name: "py_pre" model_version: -1
    input_map { key: "RAW" value: "RAW" } output_map { key: "FEATURES" value: "f" } },
  { model_name: "classifier" model_version: -1
    input_map { key: "features" value: "f" } output_map { key: "probs" value: "SCORES" } }
] }
""")
    proc = ServerProcess(root, "--model-control-mode", "explicit", "--load-model",
                         "bytes_pipeline", log_path=tmp_path / "server.log")
    try:
        pixels = _pixels(3, seed=9)
        raw = np.array([[row.tobytes()] for row in pixels], dtype=np.object_)
        scores, _ = expected(pixels)
        http = httpclient.InferenceServerClient(proc.http_url)
        inp = httpclient.InferInput("RAW", [3, 1], "BYTES")
        inp.set_data_from_numpy(raw)
        top = httpclient.InferRequestedOutput("SCORES", class_count=2)
        rows = http.infer("bytes_pipeline", [inp], outputs=[top]).as_numpy("SCORES")
        want = np.argsort(-scores, axis=1)[:, :2]
        for row, best in zip(rows, want, strict=True):
            got = [cell.decode().split(":") for cell in row]
            assert [int(g[1]) for g in got] == list(best)
            assert [g[2] for g in got] == [LABELS[i] for i in best]
        grpc = grpcclient.InferenceServerClient(proc.grpc_url)
        ginp = grpcclient.InferInput("RAW", [3, 1], "BYTES")
        ginp.set_data_from_numpy(raw)
        got = grpc.infer("bytes_pipeline", [ginp]).as_numpy("SCORES")
        np.testing.assert_allclose(got, scores, rtol=1e-5, atol=1e-6)
        assert http.is_model_ready("py_pre") and http.is_model_ready("classifier")
    finally:
        proc.stop()
