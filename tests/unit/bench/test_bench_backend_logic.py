"""Backend logic that does not need the runtime itself: fakes stand in for the libraries."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from modelport.bench.backends.base import BackendOptions
from modelport.bench.backends.onnxruntime import OnnxRuntimeBackend, OnnxRuntimeCudaBackend
from modelport.bench.backends.openvino import OpenVinoBackend, precision_name
from modelport.errors import RuntimeUnavailable


class FakeCompiled:
    """A compiled model that reports the precision OpenVINO would pick."""

    def __init__(self, config: dict[str, str]) -> None:
        self.config = config

    def get_property(self, name: str) -> object:
        if name == "INFERENCE_PRECISION_HINT":
            hint = self.config.get(name, "bf16")  # what a bf16-capable CPU picks by itself
            return f"<Type: '{ {'f32': 'float32', 'bf16': 'bfloat16'}.get(hint, hint) }'>"
        return self.config.get(name, "1")


class FakeCore:
    """Records every compile_model call."""

    compiled: list[dict[str, str]] = []

    def read_model(self, path: str) -> Any:
        model = types.SimpleNamespace(outputs=[types.SimpleNamespace(get_any_name=lambda: "y")])
        return model

    def compile_model(self, model: Any, device: str, config: dict[str, str]) -> FakeCompiled:
        FakeCore.compiled.append(dict(config))
        return FakeCompiled(config)

    def get_property(self, device: str, name: str) -> str:
        return "Fake CPU"


@pytest.fixture
def fake_openvino(monkeypatch: pytest.MonkeyPatch) -> None:
    """Install a fake ``openvino`` module for the duration of a test."""
    module = types.ModuleType("openvino")
    module.Core = FakeCore  # type: ignore[attr-defined]
    module.__version__ = "0.0-fake"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "openvino", module)
    FakeCore.compiled = []


@pytest.mark.usefixtures("fake_openvino")
def test_openvino_default_records_what_openvino_picked(tmp_path: Path) -> None:
    """Without a requested precision no hint is sent, and the picked one (bf16) is reported."""
    info = OpenVinoBackend().load(tmp_path / "m.onnx", BackendOptions(threads=2))
    assert "INFERENCE_PRECISION_HINT" not in FakeCore.compiled[0]
    assert FakeCore.compiled[0]["INFERENCE_NUM_THREADS"] == "2"
    assert info.precision == "bf16" and "chosen by OpenVINO" in info.notes


@pytest.mark.usefixtures("fake_openvino")
def test_openvino_fp32_request_sets_the_hint(tmp_path: Path) -> None:
    """Asking for fp32 sends INFERENCE_PRECISION_HINT=f32 and reports fp32 back."""
    info = OpenVinoBackend().load(tmp_path / "m.onnx", BackendOptions(1, precision="fp32"))
    assert FakeCore.compiled[0]["INFERENCE_PRECISION_HINT"] == "f32"
    assert info.precision == "fp32"


def test_precision_names() -> None:
    """OpenVINO's element type strings map to our precision names."""
    assert precision_name("<Type: 'bfloat16'>") == "bf16"
    assert precision_name("<Type: 'float32'>") == "fp32"
    assert precision_name("f16") == "fp16"


def test_onnxruntime_refuses_reduced_precision(tmp_path: Path) -> None:
    """ONNX Runtime runs the graph as given: asking for bf16 is 'unavailable', not ignored."""
    with pytest.raises(RuntimeUnavailable, match="fp32"):
        OnnxRuntimeBackend().load(tmp_path / "m.onnx", BackendOptions(1, precision="bf16"))


def test_onnxruntime_cuda_without_provider(tiny_mlp: Path) -> None:
    """Without CUDAExecutionProvider the CUDA backend says so instead of falling back to CPU."""
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeUnavailable, match="CUDAExecutionProvider"):
        OnnxRuntimeCudaBackend().load(tiny_mlp, BackendOptions(1))
