"""The demo model repository that ``modelport serve`` serves when given none.

Five small models with random but fixed weights, generated locally with ``onnx.helper`` and numpy
(no downloads, no torch) in Triton's repository layout, and one ensemble of two of them:

    resnet18          FP32 image [batch, 3, 224, 224] -> logits [batch, 1000]
    text_encoder      INT64 input_ids, attention_mask [batch, seq] -> hidden states, pooled vector
    mlp               FP32 [batch, 64] -> [batch, 10]
    text_upper        BYTES [count] -> the same strings upper-cased
    image_preprocess  UINT8 pixels [batch, 224, 224, 3] -> resnet18's normalized input
    classify_image    ensemble: image_preprocess then resnet18, with class labels

Generation is deterministic: the files are byte-identical from one run to the next.
"""

from __future__ import annotations

from modelport.repository.demo.batchnorm import BatchNorm, fold_batch_norm
from modelport.repository.demo.cache import demo_repository_path, ensure_demo_repository
from modelport.repository.demo.layout import DEMO_ENSEMBLES, DEMO_MODELS
from modelport.repository.demo.writer import write_demo_repository

__all__ = [
    "DEMO_ENSEMBLES",
    "DEMO_MODELS",
    "BatchNorm",
    "demo_repository_path",
    "ensure_demo_repository",
    "fold_batch_norm",
    "write_demo_repository",
]
