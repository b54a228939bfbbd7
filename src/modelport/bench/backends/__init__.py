"""Benchmark runtimes, registered by import string and imported only when chosen.

``RUNTIMES`` maps a runtime name to its backend class and what it needs; ``why_unavailable``
answers without importing the runtime where a package check is enough.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from modelport.bench.backends.base import Backend, BackendInfo, BackendOptions
from modelport.errors import BenchError


@dataclass(frozen=True)
class RuntimeSpec:
    """A registered runtime: where its backend lives and which packages it needs."""

    name: str
    target: str  # "module:Class"
    modules: tuple[str, ...]
    hint: str
    provider: str = ""  # ONNX Runtime execution provider that must be present
    listed: bool = True  # the fake is registered but not run by default


RUNTIMES: dict[str, RuntimeSpec] = {
    spec.name: spec
    for spec in (
        RuntimeSpec(
            "onnxruntime",
            "modelport.bench.backends.onnxruntime:OnnxRuntimeBackend",
            ("onnxruntime",),
            "pip install onnxruntime",
        ),
        RuntimeSpec(
            "onnxruntime-cuda",
            "modelport.bench.backends.onnxruntime:OnnxRuntimeCudaBackend",
            ("onnxruntime",),
            "needs an NVIDIA GPU and onnxruntime-gpu: pip install 'modelport[gpu]'",
            provider="CUDAExecutionProvider",
        ),
        RuntimeSpec(
            "onnxruntime-tensorrt",
            "modelport.bench.backends.onnxruntime:OnnxRuntimeTensorrtBackend",
            ("onnxruntime",),
            "needs an NVIDIA GPU, TensorRT and onnxruntime-gpu: pip install 'modelport[gpu]'",
            provider="TensorrtExecutionProvider",
        ),
        RuntimeSpec(
            "openvino",
            "modelport.bench.backends.openvino:OpenVinoBackend",
            ("openvino",),
            "pip install 'modelport[bench]'",
        ),
        RuntimeSpec(
            "torch",
            "modelport.bench.backends.torch:TorchEagerBackend",
            ("torch",),
            "pip install 'modelport[torch]'",
        ),
        RuntimeSpec(
            "torch-compile",
            "modelport.bench.backends.torch:TorchCompileBackend",
            ("torch",),
            "pip install 'modelport[torch]'",
        ),
        RuntimeSpec(
            "litert",
            "modelport.bench.backends.litert:LiteRtBackend",
            ("ai_edge_litert", "flatbuffers"),
            "pip install 'modelport[litert]'",
        ),
        RuntimeSpec(
            "fake",
            "modelport.bench.backends.fake:FakeBackend",
            (),
            "",
            listed=False,
        ),
    )
}


def spec_of(name: str) -> RuntimeSpec:
    """The registered runtime called name.

    Raises:
        BenchError: no runtime has that name.
    """
    try:
        return RUNTIMES[name]
    except KeyError:
        known = ", ".join(n for n, s in RUNTIMES.items() if s.listed)
        raise BenchError(f"unknown runtime '{name}'; choose from {known}") from None


def why_unavailable(name: str) -> str | None:
    """None when the runtime can run here, else a one-line reason with the fix."""
    spec = spec_of(name)
    missing = [m for m in spec.modules if importlib.util.find_spec(m) is None]
    if missing:
        return f"{', '.join(missing)} not installed: {spec.hint}"
    if spec.provider:
        import onnxruntime

        if spec.provider not in onnxruntime.get_available_providers():
            return f"{spec.provider} not present in onnxruntime: {spec.hint}"
    return None


def create(name: str) -> Backend:
    """Import and instantiate the backend of a registered runtime."""
    module_name, _, class_name = spec_of(name).target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    backend: Backend = cls()
    return backend


__all__ = [
    "RUNTIMES",
    "Backend",
    "BackendInfo",
    "BackendOptions",
    "RuntimeSpec",
    "create",
    "spec_of",
    "why_unavailable",
]
