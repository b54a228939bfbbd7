"""ResNet-18 (He et al., 2015) with random weights and its batch norms folded into the convs.

The topology is the standard one an ImageNet export has: a 7x7/2 stem conv and a 3x3/2 max pool,
four stages of two BasicBlocks (64, 128, 256, 512 channels; stages 2-4 start with stride 2 and a
1x1 downsample conv), global average pooling and a 512 -> 1000 Gemm. Weights are He-initialised
and every conv is followed by a random batch norm that is folded into it, as an exporter would.
"""

from __future__ import annotations

import numpy as np
import onnx

from modelport.repository.demo.batchnorm import (
    BatchNorm,
    Float32Array,
    fold_batch_norm,
    random_batch_norm,
)
from modelport.repository.demo.config import (
    DemoConfig,
    DynamicBatching,
    InstanceGroup,
    TensorSpec,
)
from modelport.repository.demo.graph import GraphBuilder

SEED = 18
"""The seed of the RandomState that draws every weight, in graph order."""

STAGE_CHANNELS = (64, 128, 256, 512)
NUM_CLASSES = 1000

# The last batch norm of each residual branch starts small (as zero-init-residual training does)
# so the residual stream does not double in variance at every block.
RESIDUAL_GAMMA = 0.25

CONFIG = DemoConfig(
    name="resnet18",
    max_batch_size=16,
    inputs=(TensorSpec("input", "FP32", (3, 224, 224)),),
    outputs=(TensorSpec("logits", "FP32", (NUM_CLASSES,)),),
    dynamic_batching=DynamicBatching(
        preferred_batch_size=(4, 8), max_queue_delay_microseconds=2000
    ),
    instance_groups=(InstanceGroup(count=1, kind="KIND_CPU"),),
)


def conv_bn_parameters(
    rng: np.random.RandomState, c_in: int, c_out: int, kernel: int, gamma_scale: float = 1.0
) -> tuple[Float32Array, BatchNorm]:
    """Draw one conv's He-initialised weight, then its batch norm's statistics.

    The stem conv is the first draw from ``RandomState(SEED)``: ``conv_bn_parameters(rng, 3, 64,
    7)`` reproduces it before folding.
    """
    fan_in = c_in * kernel * kernel
    weight = rng.standard_normal((c_out, c_in, kernel, kernel)) * np.sqrt(2.0 / fan_in)
    return weight.astype(np.float32), random_batch_norm(rng, c_out, gamma_scale)


def build_resnet18() -> onnx.ModelProto:
    """The resnet18 demo model: ``input`` FP32 [batch, 3, 224, 224] -> ``logits`` [batch, 1000]."""
    rng = np.random.RandomState(SEED)
    g = GraphBuilder(CONFIG)
    x = g.op("Relu", _conv_bn(g, rng, "input", "conv1", 3, 64, kernel=7, stride=2))
    x = g.op("MaxPool", x, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    c_in = STAGE_CHANNELS[0]
    for stage, c_out in enumerate(STAGE_CHANNELS, start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            x = _basic_block(g, rng, x, f"layer{stage}.{block}", c_in, c_out, stride)
            c_in = c_out
    x = g.op("Flatten", g.op("GlobalAveragePool", x), axis=1)
    fc_weight = rng.standard_normal((NUM_CLASSES, c_in)) * np.sqrt(1.0 / c_in)
    fc_bias = rng.normal(0.0, 0.1, NUM_CLASSES)
    weight, bias = g.weight("fc.weight", fc_weight), g.weight("fc.bias", fc_bias)
    g.op("Gemm", x, weight, bias, out="logits", transB=1)
    return g.build("ResNet-18 with random weights and folded batch norms (modelport demo).")


def _basic_block(
    g: GraphBuilder,
    rng: np.random.RandomState,
    x: str,
    name: str,
    c_in: int,
    c_out: int,
    stride: int,
) -> str:
    y = g.op("Relu", _conv_bn(g, rng, x, f"{name}.conv1", c_in, c_out, 3, stride))
    y = _conv_bn(g, rng, y, f"{name}.conv2", c_out, c_out, 3, 1, RESIDUAL_GAMMA)
    identity = x
    if stride != 1 or c_in != c_out:
        identity = _conv_bn(g, rng, x, f"{name}.downsample", c_in, c_out, 1, stride)
    return g.op("Relu", g.op("Add", y, identity))


def _conv_bn(
    g: GraphBuilder,
    rng: np.random.RandomState,
    x: str,
    name: str,
    c_in: int,
    c_out: int,
    kernel: int,
    stride: int,
    gamma_scale: float = 1.0,
) -> str:
    raw_weight, bn = conv_bn_parameters(rng, c_in, c_out, kernel, gamma_scale)
    weight, bias = fold_batch_norm(raw_weight, None, bn)
    return g.op(
        "Conv",
        x,
        g.weight(f"{name}.weight", weight),
        g.weight(f"{name}.bias", bias),
        kernel_shape=[kernel, kernel],
        strides=[stride, stride],
        pads=[kernel // 2] * 4,
    )
