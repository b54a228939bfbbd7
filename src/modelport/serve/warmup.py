"""Warming a model version up before it takes traffic, as Triton does it.

Only a config's ``model_warmup`` entries cause warm-up (no entries: no warm-up, as in Triton).
Each entry names a batch size, a count and, per input, a datatype, dims (without the batch
dimension) and where the data comes from: ``zero_data``, ``random_data`` (BYTES falls back to
zero data, i.e. empty strings) or ``input_data_file``, a file in the model's ``warmup/`` folder
holding the raw row-major tensor (BYTES: each element a 4-byte little-endian length, then its
bytes). With a batch size above 1 the sample is repeated along the batch dimension.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any

import numpy as np

from modelport.datatypes import BY_CONFIG, BY_NAME
from modelport.errors import InvalidInput, ModelLoadError
from modelport.repository.config import ModelConfig
from modelport.serve.tensors import from_raw
from modelport.serve.validate import to_model_shape

WARMUP_FOLDER = "warmup"


def warmup_feeds(config: ModelConfig, model_dir: Path) -> list[dict[str, np.ndarray]]:
    """The feeds to run once each, in order ([] when the config asks for no warm-up).

    Raises:
        ModelLoadError: an entry names a datatype, dims, batch size or file that cannot work.
    """
    feeds: list[dict[str, np.ndarray]] = []
    rng = np.random.default_rng(0)
    for entry in config.warmup:
        name = entry.get("name", "")
        batch = int(entry.get("batch_size", 1) or 1)
        if not config.batching and batch != 1:
            raise ModelLoadError(f"model '{config.name}': warm-up sample '{name}' has "
                                 f"batch_size {batch}; a model without batching needs 1")
        feed = {inp: _model_shaped(config, inp, _input(config, name, inp, spec, batch,
                                                       model_dir, rng))
                for inp, spec in entry.get("inputs", {}).items()}
        feeds.extend([feed] * max(int(entry.get("count", 0) or 0), 1))
    return feeds


def _model_shaped(config: ModelConfig, name: str, data: np.ndarray) -> np.ndarray:
    spec = config.input(name)
    return to_model_shape(config, spec, data) if spec is not None else data


def _input(config: ModelConfig, sample: str, name: str, spec: dict[str, Any], batch: int,
           model_dir: Path, rng: np.random.Generator) -> np.ndarray:
    datatype = BY_CONFIG[spec.get("data_type", "TYPE_FP32")].name
    dims = [int(d) for d in spec.get("dims", [])]
    where = f"model '{config.name}': warm-up sample '{sample}' input '{name}'"
    if any(d < 0 for d in dims):
        raise ModelLoadError(f"{where} has variable dims {dims}; warm-up needs fixed ones")
    if "input_data_file" in spec:
        one = _from_file(where, name, datatype, dims, model_dir, spec["input_data_file"])
    elif "random_data" in spec and datatype != "BYTES":
        one = _random(datatype, dims, rng)
    else:
        one = _zeros(datatype, dims)
    if not config.batching:
        return one
    return np.repeat(one[np.newaxis, ...], batch, axis=0)


def _zeros(datatype: str, dims: list[int]) -> np.ndarray:
    if datatype == "BYTES":
        return np.full(dims, "", dtype=object)
    return np.zeros(dims, dtype=BY_NAME[datatype].numpy)


def _random(datatype: str, dims: list[int], rng: np.random.Generator) -> np.ndarray:
    dtype = BY_NAME[datatype].numpy
    if dtype.kind == "b":
        return rng.integers(0, 2, size=dims).astype(bool)
    if dtype.kind in "iu":  # every integer type holds 0..127, and the signed ones -128..
        low = 0 if dtype.kind == "u" else -128
        return rng.integers(low, 127, size=dims, endpoint=True).astype(dtype)
    return rng.standard_normal(dims).astype(dtype)


def _from_file(where: str, name: str, datatype: str, dims: list[int], model_dir: Path,
               file: str) -> np.ndarray:
    if PurePath(file).name != file or file in ("", ".", ".."):
        raise ModelLoadError(f"{where}: input_data_file '{file}' must be a file name in the "
                             f"model's {WARMUP_FOLDER}/ folder")
    path = model_dir / WARMUP_FOLDER / file
    try:
        raw = path.read_bytes()
    except OSError:
        raise ModelLoadError(f"{where}: {model_dir.name}/{WARMUP_FOLDER}/{file} cannot be "
                             "read") from None
    try:
        data = from_raw(name, datatype, dims, raw)
    except InvalidInput as exc:
        raise ModelLoadError(f"{where}: {model_dir.name}/{WARMUP_FOLDER}/{file}: {exc}") from None
    if datatype == "BYTES":
        flat = [bytes(v).decode("utf-8", errors="replace") for v in data.ravel()]
        data = np.array(flat, dtype=object).reshape(dims)
    return data

