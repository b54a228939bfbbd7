"""Models whose weights live in model.onnx.data (what torch.onnx.export and
``onnx.save(..., save_as_external_data=True)`` write), served through everything that used to
break them: restarts, copies, poll reloads, explicit and config-override loads, uploads."""

from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from onnx import TensorProto, helper, numpy_helper
from tritonclient.utils import InferenceServerException

MODEL = "ext"
WIDTH, OUT = 16, 64  # W is 4 KiB: large enough to be written as external data


def weights(seed: int) -> np.ndarray:
    """The weights of a version trained with ``seed``."""
    return np.random.default_rng(seed).standard_normal((WIDTH, OUT)).astype(np.float32)


def write_external(folder: Path, seed: int) -> None:
    """folder/model.onnx + folder/model.onnx.data computing y = x @ weights(seed)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", WIDTH])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", OUT])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "ext", [x], [y],
                              initializer=[numpy_helper.from_array(weights(seed), "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx.data").unlink(missing_ok=True)  # onnx.save appends otherwise
    onnx.save(model, str(folder / "model.onnx"), save_as_external_data=True,
              location="model.onnx.data", size_threshold=0)


def infer(url: str, model: str = MODEL) -> np.ndarray:
    """One request over tritonclient's HTTP client."""
    client = httpclient.InferenceServerClient(url)
    x = np.arange(2 * WIDTH, dtype=np.float32).reshape(2, WIDTH) / 10
    inp = httpclient.InferInput("x", [2, WIDTH], "FP32")
    inp.set_data_from_numpy(x)
    out: np.ndarray = client.infer(model, [inp]).as_numpy("y")
    return out


def expected(seed: int) -> np.ndarray:
    """What version ``seed`` must answer."""
    return (np.arange(2 * WIDTH, dtype=np.float32).reshape(2, WIDTH) / 10) @ weights(seed)


def wait_for(check: object, what: str, timeout_s: float = 20.0) -> None:
    """Poll ``check()`` until it is true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:  # the server may answer errors while it catches up
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A repository with version 1 of the external-data model."""
    write_external(tmp_path / "models" / MODEL / "1", seed=1)
    return tmp_path / "models"


def test_restart_and_copied_repository(start_server, repo: Path, tmp_path: Path) -> None:
    """First start, a restart on the same cache, and a copy of the repository elsewhere all
    serve the right outputs (a restart used to fail on the cached graph's data path)."""
    for attempt in range(2):
        server = start_server(repo)
        np.testing.assert_allclose(infer(server.http_url), expected(1), rtol=1e-5,
                                   err_msg=f"start {attempt + 1}")
        assert server.stop() == 0
    copy = tmp_path / "copied"
    shutil.copytree(repo, copy)
    shutil.rmtree(repo)
    server = start_server(copy)
    np.testing.assert_allclose(infer(server.http_url), expected(1), rtol=1e-5)


def test_poll_reload_follows_new_weights(start_server, repo: Path, tmp_path: Path) -> None:
    """A version 2 with the same graph and new weights (poll mode) answers with the new
    weights; so does a retrain written over version 2 in place."""
    server = start_server(repo, "--model-control-mode", "poll", "--repository-poll-secs", "0.2")
    staging = tmp_path / "staging"
    write_external(staging, seed=2)
    staging.rename(repo / MODEL / "2")
    wait_for(lambda: np.allclose(infer(server.http_url), expected(2), rtol=1e-5), "version 2")
    write_external(repo / MODEL / "2", seed=3)
    wait_for(lambda: np.allclose(infer(server.http_url), expected(3), rtol=1e-5),
             "the retrained version 2")


def test_explicit_override_and_uploaded_loads(start_server, repo: Path) -> None:
    """Explicit load, a load with a config override (HTTP and gRPC), and a load that uploads
    both files all serve; outputs follow the uploaded weights."""
    server = start_server(repo, "--model-control-mode", "explicit")
    http = httpclient.InferenceServerClient(server.http_url)
    grpc = grpcclient.InferenceServerClient(server.grpc_url)
    http.load_model(MODEL)
    np.testing.assert_allclose(infer(server.http_url), expected(1), rtol=1e-5)
    override = json.dumps({"max_batch_size": 4, "dynamic_batching": {}})
    http.load_model(MODEL, config=override)
    assert http.get_model_config(MODEL)["max_batch_size"] == 4
    grpc.load_model(MODEL, config=json.dumps({"max_batch_size": 2}))
    assert http.get_model_config(MODEL)["max_batch_size"] == 2
    np.testing.assert_allclose(infer(server.http_url), expected(1), rtol=1e-5)
    upload = repo.parent / "upload"
    write_external(upload, seed=5)
    files = {f"file:1/{name}": (upload / name).read_bytes()
             for name in ("model.onnx", "model.onnx.data")}
    http.load_model(MODEL, config=json.dumps({"max_batch_size": 4}), files=files)
    np.testing.assert_allclose(infer(server.http_url), expected(5), rtol=1e-5)
    with pytest.raises(InferenceServerException, match=r"ext/1/model\.onnx\.data is missing"):
        grpc.load_model(MODEL, config=json.dumps({"max_batch_size": 4}), files={
            "file:1/model.onnx": files["file:1/model.onnx"]})  # the weights file left out
    (row,) = [r for r in http.get_model_repository_index() if r.get("version") == "1"]
    assert row["state"] == "READY"  # the failed upload left the last good one serving


def test_missing_weights_file_is_named(start_server, repo: Path) -> None:
    """Without model.onnx.data the index and the error name that file in its version folder,
    and no path of the server's machine."""
    (repo / MODEL / "1" / "model.onnx.data").unlink()
    server = start_server(repo)
    client = httpclient.InferenceServerClient(server.http_url)
    (row,) = [r for r in client.get_model_repository_index() if r.get("version") == "1"]
    assert row["state"] == "UNAVAILABLE"
    assert row["reason"].startswith("ext/1/model.onnx.data is missing")
    assert str(repo) not in row["reason"]


def test_model_cache_off(start_server, repo: Path, tmp_path: Path) -> None:
    """--model-cache off serves the model and writes no cache entry."""
    cache = tmp_path / "cache"
    server = start_server(repo, "--model-cache", "off",
                          env={"MODELPORT_CACHE_DIR": str(cache)})
    np.testing.assert_allclose(infer(server.http_url), expected(1), rtol=1e-5)
    assert not (cache / "ort").exists()


def test_torch_exported_model_through_restart_and_reload(start_server, tmp_path: Path) -> None:
    """A model from torch.onnx.export (weights in model.onnx.data, as torch 2.13 writes them)
    serves, survives a restart, and a retrained version is picked up in poll mode."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")  # torch.onnx.export needs it

    def export(folder: Path, seed: int) -> object:
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(WIDTH, 128), torch.nn.ReLU(),
                                  torch.nn.Linear(128, OUT)).eval()
        folder.mkdir(parents=True)
        with warnings.catch_warnings():  # torch's exporter warns about its own internals
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (torch.zeros(2, WIDTH),), str(folder / "model.onnx"),
                              input_names=["x"], output_names=["y"],
                              dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=64)},))
        return net

    repo = tmp_path / "models"
    net = export(repo / "torchnet" / "1", seed=0)
    assert (repo / "torchnet" / "1" / "model.onnx.data").exists()
    x = np.arange(2 * WIDTH, dtype=np.float32).reshape(2, WIDTH) / 10
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()  # type: ignore[operator]
    for _ in range(2):
        server = start_server(repo, "--model-control-mode", "poll",
                              "--repository-poll-secs", "0.2")
        np.testing.assert_allclose(infer(server.http_url, "torchnet"), want, rtol=1e-4,
                                   atol=1e-5)
        server.stop()
    server = start_server(repo, "--model-control-mode", "poll", "--repository-poll-secs", "0.2")
    net2 = export(tmp_path / "staging", seed=1)
    (tmp_path / "staging").rename(repo / "torchnet" / "2")
    with torch.no_grad():
        want2 = net2(torch.from_numpy(x)).numpy()  # type: ignore[operator]
    wait_for(lambda: np.allclose(infer(server.http_url, "torchnet"), want2, rtol=1e-4,
                                 atol=1e-5), "the retrained torch model")
