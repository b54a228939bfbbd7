"""LiteRT (ai-edge-litert, XNNPACK on CPU) on a TFLite file converted from the same ONNX weights."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from modelport.bench.backends.base import Array, Backend, BackendInfo, BackendOptions
from modelport.bench.backends.tflite_writer import convert_onnx_to_tflite
from modelport.errors import RuntimeUnavailable


class LiteRtBackend(Backend):
    """The LiteRT interpreter; input tensors are resized when the batch size changes."""

    name = "litert"

    def __init__(self) -> None:
        self.interpreter: Any = None
        self.inputs: dict[str, int] = {}
        self.outputs: dict[str, int] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}

    def load(self, model: Path, options: BackendOptions) -> BackendInfo:
        """Convert the ONNX model to TFLite in the work folder and create an interpreter."""
        if options.precision not in ("auto", "fp32"):
            raise RuntimeUnavailable("litert runs this conversion in fp32 only")
        interpreter_module: Any = importlib.import_module("ai_edge_litert.interpreter")
        tflite = convert_onnx_to_tflite(model, Path(options.workdir) / f"{model.stem}.tflite")
        self.interpreter = interpreter_module.Interpreter(
            model_path=str(tflite), num_threads=options.threads
        )
        self.interpreter.allocate_tensors()
        self.inputs = {d["name"]: d["index"] for d in self.interpreter.get_input_details()}
        self.outputs = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}
        version = metadata.version("ai-edge-litert")
        return BackendInfo(
            self.name,
            version,
            "cpu",
            "fp32",
            options.threads,
            "XNNPACK, ONNX converted by modelport",
        )

    def run(self, inputs: Mapping[str, Array]) -> dict[str, Array]:
        """Resize if the shapes changed, then invoke."""
        shapes = {name: tuple(a.shape) for name, a in inputs.items()}
        if shapes != self.shapes:
            for name, shape in shapes.items():
                self.interpreter.resize_tensor_input(self.inputs[name], list(shape))
            self.interpreter.allocate_tensors()
            self.shapes = shapes
        for name, array in inputs.items():
            self.interpreter.set_tensor(self.inputs[name], np.ascontiguousarray(array))
        self.interpreter.invoke()
        return {name: np.array(self.interpreter.get_tensor(i)) for name, i in self.outputs.items()}
