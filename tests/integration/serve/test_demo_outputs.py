"""The demo models served over HTTP (binary and JSON) and gRPC compute what ONNX Runtime computes
in-process on the same files and inputs: FP32 within 1e-5, strings exactly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from support.server import ServerProcess

from modelport.repository.demo.cache import FOLDER

WORDS = ["hello world", "straße", "héllo wörld", "中文 Mixed Case", "", "ǅemo 123"]


def _resnet18(batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"input": rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)}


def _text_encoder(batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    length = 7
    ids = rng.integers(0, 1000, size=(batch, length), dtype=np.int64)
    mask = np.zeros((batch, length), dtype=np.int64)
    for row in range(batch):
        mask[row, : length - 2 * row] = 1  # each row padded differently
    return {"input_ids": ids, "attention_mask": mask}


def _mlp(batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"input": rng.standard_normal((batch, 64)).astype(np.float32)}


def _text_upper(batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    picked = [WORDS[i] for i in rng.permutation(len(WORDS))[:batch]]
    return {"text": np.array([w.encode() for w in picked], dtype=object)}


MODELS: dict[str, Callable[[int, np.random.Generator], dict[str, np.ndarray]]] = {
    "resnet18": _resnet18,
    "text_encoder": _text_encoder,
    "mlp": _mlp,
    "text_upper": _text_upper,
}
DATATYPE = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64",
            np.dtype(np.object_): "BYTES", np.dtype(np.uint8): "UINT8"}


@pytest.fixture(scope="module")
def sessions(demo_server: ServerProcess, cache_dir: Path) -> dict[str, Any]:
    """In-process ONNX Runtime sessions over the very files the demo server serves."""
    repo = cache_dir / FOLDER
    return {name: ort.InferenceSession(str(repo / name / "1" / "model.onnx"),
                                       providers=["CPUExecutionProvider"])
            for name in MODELS}


def reference(session: Any, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What ONNX Runtime computes in-process; strings cross as str and come back as bytes."""
    ort_feed = {k: np.array([v.decode() for v in a.ravel()], dtype=object).reshape(a.shape)
                if a.dtype == np.object_ else a for k, a in feed.items()}
    names = [o.name for o in session.get_outputs()]
    results = session.run(names, ort_feed)
    return {n: np.array([v.encode() for v in r.ravel()], dtype=object).reshape(r.shape)
            if r.dtype == np.object_ else r for n, r in zip(names, results, strict=True)}


@pytest.fixture(scope="module")
def http_client(demo_server: ServerProcess) -> Iterator[httpclient.InferenceServerClient]:
    """A tritonclient.http client of the demo server."""
    client = httpclient.InferenceServerClient(demo_server.http_url, network_timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="module")
def grpc_client(demo_server: ServerProcess) -> Iterator[grpcclient.InferenceServerClient]:
    """A tritonclient.grpc client of the demo server."""
    client = grpcclient.InferenceServerClient(demo_server.grpc_url)
    yield client
    client.close()


def _served(transport: str, http_client: httpclient.InferenceServerClient,
            grpc_client: grpcclient.InferenceServerClient, model: str,
            feed: dict[str, np.ndarray], outputs: list[str]) -> tuple[dict[str, np.ndarray],
                                                                      dict[str, str]]:
    """Run ``feed`` through the server; returns output arrays and their reported datatypes."""
    if transport == "grpc":
        inputs = [grpcclient.InferInput(n, list(a.shape), DATATYPE[a.dtype])
                  for n, a in feed.items()]
        for inp, arr in zip(inputs, feed.values(), strict=True):
            inp.set_data_from_numpy(arr)
        result = grpc_client.infer(model, inputs)
        types = {o.name: o.datatype for o in result.get_response().outputs}
        return {n: result.as_numpy(n) for n in outputs}, types
    binary = transport == "http-binary"
    inputs = [httpclient.InferInput(n, list(a.shape), DATATYPE[a.dtype])
              for n, a in feed.items()]
    for inp, arr in zip(inputs, feed.values(), strict=True):
        inp.set_data_from_numpy(arr, binary_data=binary)
    wanted = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in outputs]
    result = http_client.infer(model, inputs, outputs=wanted)
    types = {o["name"]: o["datatype"] for o in result.get_response()["outputs"]}
    return {n: result.as_numpy(n) for n in outputs}, types


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("transport", ["http-binary", "http-json", "grpc"])
@pytest.mark.parametrize("model", list(MODELS))
def test_served_outputs_match_onnxruntime(
    sessions: dict[str, Any], http_client: httpclient.InferenceServerClient,
    grpc_client: grpcclient.InferenceServerClient, model: str, transport: str, batch: int,
) -> None:
    """Every output of every demo model equals in-process ONNX Runtime on the same inputs."""
    feed = MODELS[model](batch, np.random.default_rng(batch))
    expected = reference(sessions[model], feed)
    got, types = _served(transport, http_client, grpc_client, model, feed, list(expected))
    for name, want in expected.items():
        have = got[name]
        assert have.shape == want.shape, name
        assert have.shape[0] == batch, name
        assert types[name] == DATATYPE[want.dtype], name
        if want.dtype == np.object_:
            assert [v.encode() if isinstance(v, str) else v for v in have.ravel()] == list(
                want.ravel()), name
        else:
            assert have.dtype == want.dtype, name
            np.testing.assert_allclose(have, want, rtol=0, atol=1e-5, err_msg=name)


def test_text_upper_really_upper_cases(http_client: httpclient.InferenceServerClient) -> None:
    """The reference is not vacuous: served text_upper changes ASCII letters to upper case."""
    inp = httpclient.InferInput("text", [2], "BYTES")
    inp.set_data_from_numpy(np.array([b"abc xyz", b"Q1"], dtype=object))
    result = http_client.infer("text_upper", [inp])
    assert list(result.as_numpy("upper")) == [b"ABC XYZ", b"Q1"]


@pytest.mark.parametrize("transport", ["http-binary", "grpc"])
def test_classify_image_ensemble_matches_its_two_steps(
    demo_server: ServerProcess, cache_dir: Path, http_client: httpclient.InferenceServerClient,
    grpc_client: grpcclient.InferenceServerClient, transport: str,
) -> None:
    """The demo ensemble equals image_preprocess then resnet18 run in-process, and its
    classification output names the top class from its labels."""
    repo = cache_dir / FOLDER
    pre, net = (ort.InferenceSession(str(repo / name / "1" / "model.onnx"),
                                     providers=["CPUExecutionProvider"])
                for name in ("image_preprocess", "resnet18"))
    pixels = np.random.default_rng(5).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    (image,) = pre.run(None, {"pixels": pixels})
    (logits,) = net.run(None, {"input": image})
    got, _ = _served(transport, http_client, grpc_client, "classify_image",
                     {"pixels": pixels}, ["logits"])
    np.testing.assert_allclose(got["logits"], logits, rtol=0, atol=1e-4)
    inp = httpclient.InferInput("pixels", [2, 224, 224, 3], "UINT8")
    inp.set_data_from_numpy(pixels)
    top = httpclient.InferRequestedOutput("logits", class_count=1)
    rows = http_client.infer("classify_image", [inp], outputs=[top]).as_numpy("logits")
    assert [r[0].decode().split(":", 2)[2] for r in rows] == [
        f"class_{i:03d}" for i in logits.argmax(axis=1)]
