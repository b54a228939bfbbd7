"""ONNX Runtime: the reference runtime (CPU), and its CUDA and TensorRT execution providers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelport.bench.backends.base import Array, Backend, BackendInfo, BackendOptions
from modelport.errors import RuntimeUnavailable


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime with full graph optimisation and a fixed intra-op thread count."""

    name = "onnxruntime"
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    device = "cpu"

    def __init__(self) -> None:
        self.session: Any = None
        self.output_names: list[str] = []

    def load(self, model: Path, options: BackendOptions) -> BackendInfo:
        """Create an InferenceSession; fp32 is the only precision ONNX Runtime runs as given."""
        import onnxruntime as ort

        if options.precision not in ("auto", "fp32"):
            raise RuntimeUnavailable(f"{self.name} runs the model in its own precision (fp32)")
        missing = [p for p in self.providers if p not in ort.get_available_providers()]
        if missing:
            raise RuntimeUnavailable(f"{', '.join(missing)} is not available in onnxruntime")
        so = ort.SessionOptions()
        so.intra_op_num_threads = options.threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        self.session = ort.InferenceSession(str(model), so, providers=list(self.providers))
        self.output_names = [o.name for o in self.session.get_outputs()]
        return BackendInfo(self.name, ort.__version__, self.device, "fp32", options.threads)

    def run(self, inputs: Mapping[str, Array]) -> dict[str, Array]:
        """Run one batch through the session."""
        values = self.session.run(self.output_names, dict(inputs))
        return dict(zip(self.output_names, values, strict=True))


class OnnxRuntimeCudaBackend(OnnxRuntimeBackend):
    """ONNX Runtime on the CUDA execution provider (onnxruntime-gpu)."""

    name = "onnxruntime-cuda"
    providers = ("CUDAExecutionProvider", "CPUExecutionProvider")
    device = "cuda"


class OnnxRuntimeTensorrtBackend(OnnxRuntimeBackend):
    """ONNX Runtime on the TensorRT execution provider, CUDA as fallback."""

    name = "onnxruntime-tensorrt"
    providers = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
    device = "cuda"
