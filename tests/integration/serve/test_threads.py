"""ONNX Runtime thread settings through the real server: both pool modes serve the same
answers; a bad spinning parameter fails that model's load with its name."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mlp twice: as generated, and with a spinning parameter ONNX Runtime cannot take."""
    from modelport.repository.demo import write_demo_repository

    demo = write_demo_repository(tmp_path_factory.mktemp("demo") / "models")
    repo = tmp_path_factory.mktemp("threads") / "models"
    shutil.copytree(demo / "mlp", repo / "mlp")
    shutil.copytree(demo / "mlp", repo / "badspin")
    config = repo / "badspin" / "config.pbtxt"
    config.write_text(config.read_text().replace('name: "mlp"', 'name: "badspin"') +
                      'parameters { key: "session.intra_op.allow_spinning" '
                      'value { string_value: "sometimes" } }\n')
    return repo


@pytest.mark.parametrize("spinning", ["off", "on"])
def test_both_pool_modes_answer_like_onnx_runtime(start_server, repo: Path,
                                                  spinning: str) -> None:
    """Own sleeping pools (the default) and the shared spinning pool give ONNX Runtime's
    answers for a batch big enough to run on the pool; the bad model is UNAVAILABLE, named."""
    server = start_server(repo, "--intra-op-spinning", spinning, "--strict-readiness", "false")
    client = httpclient.InferenceServerClient(server.http_url)
    x = np.random.default_rng(1).standard_normal((32, 64)).astype(np.float32)
    data = httpclient.InferInput("input", list(x.shape), "FP32")
    data.set_data_from_numpy(x, binary_data=True)
    served = client.infer("mlp", [data]).as_numpy("output")
    session = ort.InferenceSession(str(repo / "mlp" / "1" / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    assert np.allclose(served, session.run(["output"], {"input": x})[0], atol=1e-5)
    rows = {r["name"]: r for r in client.get_model_repository_index()}
    assert rows["badspin"]["state"] == "UNAVAILABLE"
    assert "session.intra_op.allow_spinning" in rows["badspin"]["reason"]
    client.close()
