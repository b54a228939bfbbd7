"""Every runtime installed here honours the backend contract on a real model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelport.bench import backends
from modelport.bench.backends.base import PRECISIONS, BackendOptions

INSTALLED = [
    name
    for name, spec in backends.RUNTIMES.items()
    if spec.listed and name != "torch-compile" and backends.why_unavailable(name) is None
]


@pytest.mark.parametrize("name", INSTALLED)
def test_backend_contract(name: str, demo_mlp: Path, tmp_path: Path) -> None:
    """load() reports version, precision and threads; run() returns every ONNX output per batch."""
    import onnxruntime as ort

    reference = ort.InferenceSession(str(demo_mlp), providers=["CPUExecutionProvider"])
    backend = backends.create(name)
    info = backend.load(demo_mlp, BackendOptions(threads=1, precision="fp32", workdir=tmp_path))
    assert info.runtime == name and info.version and info.threads == 1
    assert info.precision in PRECISIONS
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 64)).astype(np.float32)
        out = backend.run({"input": x})
        (expected,) = reference.run(None, {"input": x})
        assert list(out) == ["output"]
        np.testing.assert_allclose(out["output"], expected, atol=1e-4, rtol=1e-4)
    backend.close()
