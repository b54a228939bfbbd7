"""PyTorch eager and torch.compile on the same ONNX weights, converted by modelport's own
ONNX-to-torch.fx converter (:mod:`modelport.bench.onnxfx`), which needs torch alone."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelport.bench.backends.base import Array, Backend, BackendInfo, BackendOptions

_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


class TorchEagerBackend(Backend):
    """The ONNX graph as a torch.fx module, run eagerly under inference_mode."""

    name = "torch"

    def __init__(self) -> None:
        self.module: Any = None
        self.torch: Any = None
        self.input_names: tuple[str, ...] = ()
        self.output_names: tuple[str, ...] = ()
        self.dtype: Any = None

    def _convert(self, model: Path, options: BackendOptions) -> str:
        torch: Any = importlib.import_module("torch")
        from modelport.bench.onnxfx import convert_file

        self.torch = torch
        torch.set_num_threads(options.threads)
        precision = "fp32" if options.precision == "auto" else options.precision
        self.dtype = getattr(torch, _DTYPES[precision])
        converted = convert_file(model, self.dtype)
        self.module = converted.module
        self.input_names, self.output_names = converted.inputs, converted.outputs
        return precision

    def load(self, model: Path, options: BackendOptions) -> BackendInfo:
        """Convert the ONNX model to a torch.fx module.

        Raises:
            RuntimeUnavailable: the model uses an operator the converter has no rule for.
        """
        precision = self._convert(model, options)
        return BackendInfo(self.name, self.torch.__version__, "cpu", precision, options.threads)

    def _tensors(self, inputs: Mapping[str, Array]) -> list[Any]:
        tensors = []
        for name in self.input_names:
            t = self.torch.from_numpy(np.ascontiguousarray(inputs[name]))
            tensors.append(t.to(self.dtype) if t.is_floating_point() else t)
        return tensors

    def run(self, inputs: Mapping[str, Array]) -> dict[str, Array]:
        """Run one batch without autograd."""
        with self.torch.inference_mode():
            out = self.module(*self._tensors(inputs))
        values = out if isinstance(out, (tuple, list)) else (out,)
        return {
            name: v.float().numpy() if v.is_floating_point() else v.numpy()
            for name, v in zip(self.output_names, values, strict=True)
        }


class TorchCompileBackend(TorchEagerBackend):
    """The converted module under torch.compile (inductor, frozen weights).

    Each new input shape compiles again, which shows up as that batch size's first-call time.
    """

    name = "torch-compile"

    def load(self, model: Path, options: BackendOptions) -> BackendInfo:
        """Convert, then wrap the module in torch.compile; compilation happens on first call."""
        precision = self._convert(model, options)
        inductor_config: Any = importlib.import_module("torch._inductor.config")
        inductor_config.freezing = True
        self.module = self.torch.compile(self.module, dynamic=False)
        return BackendInfo(
            self.name, self.torch.__version__, "cpu", precision, options.threads, "inductor"
        )

    def late_notes(self) -> str:
        """Graph breaks and recompilations, which make compiled code fall back to eager."""
        counters: Any = importlib.import_module("torch._dynamo.utils").counters
        breaks = sum(counters["graph_break"].values())
        graphs = counters["stats"].get("unique_graphs", 0)
        if not breaks:
            return f"{graphs} compiled graph(s), no graph break"
        return f"{graphs} compiled graphs, {breaks} graph breaks: partly eager"
