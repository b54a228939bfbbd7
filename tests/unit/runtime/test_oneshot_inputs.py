"""Inputs generated for `modelport run` around the ones the user gives."""

from __future__ import annotations

import numpy as np

from modelport.repository.config import ModelConfig, TensorSpec
from modelport.runtime.oneshot import make_inputs

ENCODER = ModelConfig(
    name="enc", max_batch_size=8,
    inputs=(TensorSpec("input_ids", "INT64", (-1,)), TensorSpec("attention_mask", "INT64", (-1,)),
            TensorSpec("pixels", "FP32", (3, -1))),
    outputs=(TensorSpec("y", "FP32", (-1,)),),
)
SYMBOLS = {"input_ids": ("batch", "seq"), "attention_mask": ("batch", "seq"),
           "pixels": ("batch", "", "width")}


def test_generated_inputs_follow_a_given_inputs_symbolic_dims() -> None:
    """A given input_ids [2, 13] makes the generated attention_mask [2, 13]; dims with other
    names keep the default."""
    feed = make_inputs(ENCODER, {"input_ids": np.ones((2, 13), np.int64)}, batch=1, dims={},
                       symbols=SYMBOLS)
    assert feed["attention_mask"].shape == (2, 13)
    assert feed["pixels"].shape == (2, 3, 8)


def test_without_symbols_the_defaults_apply() -> None:
    """No graph names: variable dims default to 8 and the batch to --batch."""
    feed = make_inputs(ENCODER, {"input_ids": np.ones((2, 13), np.int64)}, batch=1, dims={})
    assert feed["attention_mask"].shape == (1, 8)


def test_explicit_shape_wins_over_symbols() -> None:
    """--shape for an input overrides what the symbols would give it."""
    feed = make_inputs(ENCODER, {"input_ids": np.ones((2, 13), np.int64)}, batch=1,
                       dims={"attention_mask": [5]}, symbols=SYMBOLS)
    assert feed["attention_mask"].shape == (2, 5)
