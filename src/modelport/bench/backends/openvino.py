"""OpenVINO on CPU, with the inference precision chosen or recorded.

OpenVINO silently runs fp32 models in bf16 on CPUs with AVX-512 bf16 or AMX; the effective
precision is read back from the compiled model, never assumed.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelport.bench.backends.base import Array, Backend, BackendInfo, BackendOptions
from modelport.errors import RuntimeUnavailable

_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
_NAMES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16", "bfloat16": "bf16", "float32": "fp32"}


def precision_name(hint: object) -> str:
    """Our name for an OpenVINO precision hint such as ``<Type: 'bfloat16'>``."""
    text = str(hint).lower()
    for key, name in _NAMES.items():
        if f"'{key}'" in text or text == key:
            return name
    return text


class OpenVinoBackend(Backend):
    """OpenVINO CPU plugin; one compiled model per input shape (static shapes run fastest)."""

    name = "openvino"

    def __init__(self) -> None:
        self.core: Any = None
        self.model: Any = None
        self.config: dict[str, str] = {}
        self.compiled: dict[tuple[tuple[int, ...], ...], tuple[Any, Any]] = {}
        self.output_names: list[str] = []

    def load(self, model: Path, options: BackendOptions) -> BackendInfo:
        """Read the ONNX model and compile it once to learn the effective precision."""
        ov: Any = importlib.import_module("openvino")

        self.core = ov.Core()
        try:
            self.model = self.core.read_model(str(model))
        except RuntimeError as exc:
            raise RuntimeUnavailable(f"OpenVINO cannot read this model: {exc}") from exc
        self.output_names = [o.get_any_name() for o in self.model.outputs]
        self.config = {"INFERENCE_NUM_THREADS": str(options.threads)}
        if options.precision != "auto":
            self.config["INFERENCE_PRECISION_HINT"] = _HINTS[options.precision]
        try:
            probe = self.core.compile_model(self.model, "CPU", self.config)
        except RuntimeError as exc:
            raise RuntimeUnavailable(f"OpenVINO cannot compile this model: {exc}") from exc
        effective = precision_name(probe.get_property("INFERENCE_PRECISION_HINT"))
        threads = int(probe.get_property("INFERENCE_NUM_THREADS"))
        device = str(self.core.get_property("CPU", "FULL_DEVICE_NAME"))
        chosen = "precision chosen by OpenVINO" if options.precision == "auto" else "precision set"
        note = f"{chosen}; CPU plugin on {device}"
        return BackendInfo(self.name, ov.__version__, "cpu", effective, threads, note)

    def _request(self, inputs: Mapping[str, Array]) -> Any:
        key = tuple(tuple(a.shape) for a in inputs.values())
        if key not in self.compiled:
            shaped = self.model.clone()
            shaped.reshape({name: list(a.shape) for name, a in inputs.items()})
            compiled = self.core.compile_model(shaped, "CPU", self.config)
            self.compiled[key] = (compiled, compiled.create_infer_request())
        return self.compiled[key][1]

    def run(self, inputs: Mapping[str, Array]) -> dict[str, Array]:
        """Run one batch on the compiled model for these input shapes."""
        request = self._request(inputs)
        request.infer(dict(inputs))
        return {
            name: np.array(request.get_output_tensor(i).data, copy=True)
            for i, name in enumerate(self.output_names)
        }
