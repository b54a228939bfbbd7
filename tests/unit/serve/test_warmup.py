"""Warm-up samples as Triton builds them: only when configured; zero, random, file data."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from modelport.errors import ModelLoadError
from modelport.repository import pbtxt
from modelport.repository.config import ModelConfig
from modelport.serve.warmup import warmup_feeds

BASE = """
name: "m"
max_batch_size: 4
input [{ name: "x" data_type: TYPE_FP32 dims: [ 3 ] },
       { name: "s" data_type: TYPE_STRING dims: [ 2 ] },
       { name: "r" data_type: TYPE_FP32 dims: [ 4 ] reshape { shape: [ 2, 2 ] } }]
output [{ name: "y" data_type: TYPE_FP32 dims: [ 3 ] }]
"""


def _config(warmup: str = "", base: str = BASE) -> ModelConfig:
    return pbtxt.to_view(pbtxt.parse_text(base + warmup))


def _sample(inputs: str, batch: int = 2, count: int = 0) -> str:
    return (f'model_warmup [{{ name: "w" batch_size: {batch} count: {count} '
            f"{inputs} }}]")


def test_no_model_warmup_means_no_warm_up(tmp_path: Path) -> None:
    """Like Triton: without model_warmup entries nothing runs before traffic."""
    assert warmup_feeds(_config(), tmp_path) == []


def test_zero_random_and_count(tmp_path: Path) -> None:
    """zero_data is zeros (empty strings for BYTES), random_data is random (BYTES falls back to
    zero data), the batch dimension repeats the sample, count repeats the feed."""
    inputs = ('inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 3 ] random_data: true } } '
              'inputs { key: "s" value { data_type: TYPE_STRING dims: [ 2 ] random_data: true } }'
              ' inputs { key: "r" value { data_type: TYPE_FP32 dims: [ 4 ] zero_data: true } }')
    feeds = warmup_feeds(_config(_sample(inputs, batch=2, count=3)), tmp_path)
    assert len(feeds) == 3
    feed = feeds[0]
    assert feed["x"].shape == (2, 3) and np.array_equal(feed["x"][0], feed["x"][1])
    assert np.any(feed["x"] != 0)
    assert feed["s"].tolist() == [["", ""], ["", ""]]
    assert feed["r"].shape == (2, 2, 2) and not feed["r"].any()  # reshaped as the model takes it


def test_input_data_file_from_the_warmup_folder(tmp_path: Path) -> None:
    """input_data_file reads raw row-major data from <model>/warmup/, BYTES length-prefixed."""
    (tmp_path / "warmup").mkdir()
    (tmp_path / "warmup" / "x.bin").write_bytes(np.array([1, 2, 3], np.float32).tobytes())
    strings = b"".join(struct.pack("<I", len(w)) + w for w in (b"hi", b"there"))
    (tmp_path / "warmup" / "s.bin").write_bytes(strings)
    inputs = ('inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 3 ] '
              'input_data_file: "x.bin" } } '
              'inputs { key: "s" value { data_type: TYPE_STRING dims: [ 2 ] '
              'input_data_file: "s.bin" } }')
    (feed,) = warmup_feeds(_config(_sample(inputs, batch=1)), tmp_path)
    assert feed["x"].tolist() == [[1.0, 2.0, 3.0]]
    assert feed["s"].tolist() == [["hi", "there"]]


@pytest.mark.parametrize(("inputs", "message"), [
    ('inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 3 ] input_data_file: "no.bin" } }',
     "m/warmup/no.bin cannot be read"),
    ('inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 3 ] '
     'input_data_file: "../x.bin" } }', "must be a file name"),
    ('inputs { key: "x" value { data_type: TYPE_FP32 dims: [ -1 ] zero_data: true } }',
     "variable dims"),
])
def test_bad_samples_are_clear_load_errors(tmp_path: Path, inputs: str, message: str) -> None:
    """A sample that cannot be built fails the load with a message saying which and why."""
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    with pytest.raises(ModelLoadError, match=message):
        warmup_feeds(_config(_sample(inputs, batch=1)), model_dir)


def test_file_of_the_wrong_size_says_so(tmp_path: Path) -> None:
    """A data file whose size does not fit the dims names the file and both sizes."""
    (tmp_path / "warmup").mkdir()
    (tmp_path / "warmup" / "x.bin").write_bytes(b"\0" * 8)
    inputs = ('inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 3 ] '
              'input_data_file: "x.bin" } }')
    with pytest.raises(ModelLoadError, match=r"warmup/x.bin: .*got 8 bytes"):
        warmup_feeds(_config(_sample(inputs, batch=1)), tmp_path)


def test_unbatched_model_needs_batch_size_one(tmp_path: Path) -> None:
    """Triton's rule: a model without batching warms up with batch_size 1."""
    base = BASE.replace("max_batch_size: 4", "max_batch_size: 0")
    inputs = 'inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 3 ] zero_data: true } }'
    with pytest.raises(ModelLoadError, match="needs 1"):
        warmup_feeds(_config(_sample(inputs, batch=2), base), tmp_path)
    (feed,) = warmup_feeds(_config(_sample(inputs, batch=1), base), tmp_path)
    assert feed["x"].shape == (3,)
