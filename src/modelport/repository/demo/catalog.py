"""The demo models, in repository order: each one's config and the function that builds it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import onnx

from modelport.repository.demo import mlp, preprocess, resnet, strings, transformer
from modelport.repository.demo.config import DemoConfig


@dataclass(frozen=True)
class DemoModel:
    """One demo model: what config.pbtxt says, and how to build its ONNX graph."""

    config: DemoConfig
    build: Callable[[], onnx.ModelProto]

    @property
    def name(self) -> str:
        """The model's name, which is also its folder in the repository."""
        return self.config.name


MODELS = (
    DemoModel(resnet.CONFIG, resnet.build_resnet18),
    DemoModel(transformer.CONFIG, transformer.build_text_encoder),
    DemoModel(mlp.CONFIG, mlp.build_mlp),
    DemoModel(strings.CONFIG, strings.build_text_upper),
    DemoModel(preprocess.CONFIG, preprocess.build_image_preprocess),
)
