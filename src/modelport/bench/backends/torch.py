"""PyTorch eager and torch.compile on the same ONNX weights, converted with onnx2torch."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelport.bench.backends.base import Array, Backend, BackendInfo, BackendOptions
from modelport.errors import RuntimeUnavailable

_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def _missing_torchvision_op(*args: object, **kwargs: object) -> object:
    raise RuntimeUnavailable(
        "this model needs torchvision ops (NMS, RoiAlign): install torchvision"
    )


def install_torchvision_shim() -> None:
    """Let onnx2torch import without torchvision, which it needs only for NMS and RoiAlign.

    torchvision's wheel pulls a CUDA build of torch, so it is not installed with the torch
    extra; a model that really uses those ops fails with a clear message instead. Runs only
    in the runtime's own process.
    """
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is not None:
        return
    vision = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    for name in ("nms", "roi_align", "box_convert"):
        setattr(ops, name, _missing_torchvision_op)
    vision.ops = ops  # type: ignore[attr-defined]
    sys.modules["torchvision"] = vision
    sys.modules["torchvision.ops"] = ops


class TorchEagerBackend(Backend):
    """The ONNX graph as a torch.fx module (onnx2torch), run eagerly under inference_mode."""

    name = "torch"

    def __init__(self) -> None:
        self.module: Any = None
        self.torch: Any = None
        self.input_names: list[str] = []
        self.output_names: list[str] = []
        self.dtype: Any = None

    def _convert(self, model: Path, options: BackendOptions) -> str:
        import onnx

        torch: Any = importlib.import_module("torch")
        install_torchvision_shim()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            convert = importlib.import_module("onnx2torch").convert

        self.torch = torch
        torch.set_num_threads(options.threads)
        graph = onnx.load(str(model))
        initializers = {i.name for i in graph.graph.initializer}
        self.input_names = [i.name for i in graph.graph.input if i.name not in initializers]
        self.output_names = [o.name for o in graph.graph.output]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = convert(graph).eval()
        except (NotImplementedError, RuntimeError, KeyError) as exc:
            raise RuntimeUnavailable(f"onnx2torch cannot convert this model: {exc}") from exc
        precision = "fp32" if options.precision == "auto" else options.precision
        self.dtype = getattr(torch, _DTYPES[precision])
        self.module = module.to(self.dtype)
        return precision

    def load(self, model: Path, options: BackendOptions) -> BackendInfo:
        """Convert the ONNX model to a torch module."""
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
