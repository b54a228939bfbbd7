"""A small BERT-style transformer encoder with random weights.

Vocabulary 1000, hidden size 64, 2 post-LN layers of 4-head self-attention and a 256-wide GELU
feed-forward, learned position embeddings for up to 128 tokens. Masked keys get -1e4 added to their
attention scores (their weight underflows to exactly 0); ``pooler_output`` is the mean of the
unmasked positions' final states.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto

from modelport.repository.demo.config import DemoConfig, DynamicBatching, TensorSpec
from modelport.repository.demo.graph import GraphBuilder

SEED = 64
VOCAB_SIZE = 1000
HIDDEN = 64
LAYERS = 2
HEADS = 4
FFN = 256
MAX_LENGTH = 128
MASKED_SCORE = -1e4  # added to a masked key's score; exp() of it is 0 in float32
LN_EPSILON = 1e-5

CONFIG = DemoConfig(
    name="text_encoder",
    max_batch_size=8,
    inputs=(
        TensorSpec("input_ids", "INT64", ("sequence",)),
        TensorSpec("attention_mask", "INT64", ("sequence",)),
    ),
    outputs=(
        TensorSpec("last_hidden_state", "FP32", ("sequence", HIDDEN)),
        TensorSpec("pooler_output", "FP32", (HIDDEN,)),
    ),
    dynamic_batching=DynamicBatching(),
)


def build_text_encoder() -> onnx.ModelProto:
    """The text_encoder demo model.

    Inputs ``input_ids`` and ``attention_mask``, INT64 [batch, sequence]; outputs
    ``last_hidden_state`` FP32 [batch, sequence, 64] and ``pooler_output`` FP32 [batch, 64].
    A nonzero mask entry means "attend"; token ids must be below 1000 and sequences at most 128.
    """
    rng = np.random.RandomState(SEED)
    g = GraphBuilder(CONFIG)
    mask = g.op("Cast", g.op("Cast", "attention_mask", to=TensorProto.BOOL), to=TensorProto.FLOAT)
    x = _embeddings(g, rng)
    bias = _attention_bias(g, mask)
    for layer in range(LAYERS):
        x = _encoder_layer(g, rng, x, bias, f"layer{layer}")
    g.op("Identity", x, out="last_hidden_state")
    _masked_mean(g, x, mask)
    return g.build("A 2-layer transformer encoder with random weights (modelport demo).")


def _embeddings(g: GraphBuilder, rng: np.random.RandomState) -> str:
    words = g.weight("embeddings.word", rng.standard_normal((VOCAB_SIZE, HIDDEN)))
    positions = g.weight("embeddings.position", rng.standard_normal((MAX_LENGTH, HIDDEN)))
    length = g.op("Shape", "input_ids", start=1, end=2)
    zero, axis = g.constant("zero", [0], np.int64), g.constant("axis0", [0], np.int64)
    position_states = g.op("Slice", positions, zero, length, axis)
    x = g.op("Add", g.op("Gather", words, "input_ids"), position_states)
    return _layer_norm(g, rng, x, "embeddings.norm")


def _attention_bias(g: GraphBuilder, mask: str) -> str:
    """[batch, 1, 1, sequence]: 0 for keys to attend to, MASKED_SCORE for masked ones."""
    one, masked = g.constant("one", 1.0), g.constant("masked_score", -MASKED_SCORE)
    bias = g.op("Mul", g.op("Sub", mask, one), masked)
    return g.op("Unsqueeze", bias, g.constant("axes12", [1, 2], np.int64))


def _encoder_layer(
    g: GraphBuilder, rng: np.random.RandomState, x: str, bias: str, name: str
) -> str:
    x = _layer_norm(g, rng, g.op("Add", x, _self_attention(g, rng, x, bias, name)), f"{name}.ln1")
    hidden = _gelu(g, _linear(g, rng, x, f"{name}.ffn.in", HIDDEN, FFN))
    ffn = _linear(g, rng, hidden, f"{name}.ffn.out", FFN, HIDDEN)
    return _layer_norm(g, rng, g.op("Add", x, ffn), f"{name}.ln2")


def _self_attention(
    g: GraphBuilder, rng: np.random.RandomState, x: str, bias: str, name: str
) -> str:
    head_dim = HIDDEN // HEADS
    split = g.constant("heads_shape", [0, 0, HEADS, head_dim], np.int64)
    heads = {}
    for part in ("query", "key", "value"):
        projected = _linear(g, rng, x, f"{name}.attention.{part}", HIDDEN, HIDDEN)
        heads[part] = g.op("Reshape", projected, split)  # [batch, sequence, heads, head_dim]
    scale = g.constant("attention_scale", 1.0 / math.sqrt(head_dim))
    query = g.op("Transpose", g.op("Mul", heads["query"], scale), perm=[0, 2, 1, 3])
    key = g.op("Transpose", heads["key"], perm=[0, 2, 3, 1])
    value = g.op("Transpose", heads["value"], perm=[0, 2, 1, 3])
    weights = g.op("Softmax", g.op("Add", g.op("MatMul", query, key), bias), axis=-1)
    context = g.op("Transpose", g.op("MatMul", weights, value), perm=[0, 2, 1, 3])
    merged = g.op("Reshape", context, g.constant("merge_shape", [0, 0, HIDDEN], np.int64))
    return _linear(g, rng, merged, f"{name}.attention.output", HIDDEN, HIDDEN)


def _linear(
    g: GraphBuilder, rng: np.random.RandomState, x: str, name: str, n_in: int, n_out: int
) -> str:
    weight = rng.standard_normal((n_in, n_out)) * np.sqrt(1.0 / n_in)
    bias = rng.normal(0.0, 0.02, n_out)
    product = g.op("MatMul", x, g.weight(f"{name}.weight", weight))
    return g.op("Add", product, g.weight(f"{name}.bias", bias))


def _layer_norm(g: GraphBuilder, rng: np.random.RandomState, x: str, name: str) -> str:
    scale = g.weight(f"{name}.weight", rng.uniform(0.9, 1.1, HIDDEN))
    shift = g.weight(f"{name}.bias", rng.normal(0.0, 0.02, HIDDEN))
    return g.op("LayerNormalization", x, scale, shift, axis=-1, epsilon=LN_EPSILON)


def _gelu(g: GraphBuilder, x: str) -> str:
    """The exact GELU, ``0.5 * x * (1 + erf(x / sqrt(2)))``."""
    erf = g.op("Erf", g.op("Div", x, g.constant("sqrt2", math.sqrt(2.0))))
    half = g.constant("half", 0.5)
    return g.op("Mul", g.op("Mul", x, half), g.op("Add", erf, g.constant("one", 1.0)))


def _masked_mean(g: GraphBuilder, x: str, mask: str) -> str:
    """pooler_output: the mean over unmasked positions (zeros for a fully masked row)."""
    axis1 = g.constant("axis1", [1], np.int64)
    weights = g.op("Unsqueeze", mask, g.constant("axis2", [2], np.int64))  # [batch, sequence, 1]
    total = g.op("ReduceSum", g.op("Mul", x, weights), axis1, keepdims=0)
    count = g.op("ReduceSum", mask, axis1, keepdims=1)
    count = g.op("Max", count, g.constant("one", 1.0))
    return g.op("Div", total, count, out="pooler_output")
