"""Batch normalization parameters, and folding them into the convolution before them.

The demo ResNet draws real (random) batch-norm statistics and folds them, so the weights it ships
have the shape and scale of an exported, inference-mode network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Float32Array = NDArray[np.float32]


@dataclass(frozen=True)
class BatchNorm:
    """Inference-mode batch norm over channels: ``gamma * (x - mean) / sqrt(var + eps) + beta``."""

    gamma: Float32Array
    beta: Float32Array
    mean: Float32Array
    var: Float32Array
    epsilon: float = 1e-5


def random_batch_norm(
    rng: np.random.RandomState, channels: int, gamma_scale: float = 1.0
) -> BatchNorm:
    """Plausible trained statistics: gamma near ``gamma_scale``, small shifts, variance near 1.

    Args:
        rng: the generator to draw from (four draws, in a fixed order).
        channels: the number of channels.
        gamma_scale: the typical gamma; small values damp a residual branch.
    """
    gamma = gamma_scale * rng.uniform(0.8, 1.2, channels)
    beta = rng.normal(0.0, 0.1, channels)
    mean = rng.normal(0.0, 0.1, channels)
    var = rng.uniform(0.8, 1.25, channels)
    return BatchNorm(
        gamma=gamma.astype(np.float32),
        beta=beta.astype(np.float32),
        mean=mean.astype(np.float32),
        var=var.astype(np.float32),
    )


def fold_batch_norm(
    weight: Float32Array, bias: Float32Array | None, bn: BatchNorm
) -> tuple[Float32Array, Float32Array]:
    """Fold a batch norm into the convolution (or linear layer) that feeds it.

    Args:
        weight: the convolution weight, output channels first, e.g. ``[C_out, C_in, kH, kW]``.
        bias: the convolution bias ``[C_out]``, or None when it has none.
        bn: the batch norm over the ``C_out`` channels.

    Returns:
        The weight and bias of one convolution equal to the convolution followed by the norm.
    """
    scale = bn.gamma.astype(np.float64) / np.sqrt(bn.var.astype(np.float64) + bn.epsilon)
    conv_bias = np.zeros_like(scale) if bias is None else bias.astype(np.float64)
    broadcast = scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    folded_weight = (weight.astype(np.float64) * broadcast).astype(np.float32)
    folded_bias = ((conv_bias - bn.mean) * scale + bn.beta).astype(np.float32)
    return folded_weight, folded_bias
