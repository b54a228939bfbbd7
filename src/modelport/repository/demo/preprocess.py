"""Image preprocessing for resnet18, as an ONNX model: the first step of the demo ensemble.

Clients send what a camera or an image decoder gives, UINT8 pixels in height-width-channel
order; the model turns them into what resnet18 takes: FP32 channel-height-width, scaled to
[0, 1] and normalized with the ImageNet mean and standard deviation.
"""

from __future__ import annotations

import numpy as np
import onnx

from modelport.repository.demo.config import DemoConfig, DynamicBatching, TensorSpec
from modelport.repository.demo.graph import GraphBuilder

SIZE = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

CONFIG = DemoConfig(
    name="image_preprocess",
    max_batch_size=16,
    inputs=(TensorSpec("pixels", "UINT8", (SIZE, SIZE, 3)),),
    outputs=(TensorSpec("image", "FP32", (3, SIZE, SIZE)),),
    dynamic_batching=DynamicBatching(max_queue_delay_microseconds=2000),
)


def build_image_preprocess() -> onnx.ModelProto:
    """``pixels`` UINT8 [batch, 224, 224, 3] -> ``image`` FP32 [batch, 3, 224, 224]."""
    g = GraphBuilder(CONFIG)
    scaled = g.op("Cast", "pixels", to=onnx.TensorProto.FLOAT)
    mean = g.constant("mean", np.array(MEAN, np.float32) * 255.0)
    inv_std = g.constant("inv_std", 1.0 / (np.array(STD, np.float32) * 255.0))
    normalized = g.op("Mul", g.op("Sub", scaled, mean), inv_std)
    g.op("Transpose", normalized, out="image", perm=[0, 3, 1, 2])
    return g.build("UINT8 HWC pixels to resnet18's normalized FP32 CHW input (modelport demo).")
