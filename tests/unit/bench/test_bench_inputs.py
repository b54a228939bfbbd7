"""Model signatures and seeded random batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelport.bench.inputs import TensorSpec, make_batch, read_signature


def test_read_signature(tiny_mlp: Path) -> None:
    """Initializers are not inputs; dynamic dimensions read as None."""
    assert read_signature(tiny_mlp) == [TensorSpec("input", "FP32", (None, 8))]


def test_batches_have_the_batch_size_and_are_reproducible() -> None:
    """The same seed gives the same batch; dynamic later dimensions take seq_len."""
    specs = [
        TensorSpec("input_ids", "INT64", (None, None)),
        TensorSpec("attention_mask", "INT64", (None, None)),
        TensorSpec("x", "FP32", (None, 4)),
        TensorSpec("s", "BYTES", (None,)),
    ]
    a = make_batch(specs, 3, seq_len=7, seed=1)
    b = make_batch(specs, 3, seq_len=7, seed=1)
    assert a["input_ids"].shape == (3, 7) and a["input_ids"].dtype == np.int64
    assert np.all(a["attention_mask"] == 1)
    assert a["x"].shape == (3, 4) and a["x"].dtype == np.float32
    assert a["s"].dtype == np.object_ and a["s"].shape == (3,)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(make_batch(specs, 3, 7, seed=2)["x"], a["x"])


def test_static_first_dimension_is_kept() -> None:
    """A model without a batch dimension keeps its static shape."""
    batch = make_batch([TensorSpec("x", "FP32", (2, 3))], batch_size=8)
    assert batch["x"].shape == (2, 3)
