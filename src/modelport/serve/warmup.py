"""Inputs for warming a model version up before it takes traffic.

From the config's ``model_warmup`` entries when present (zero_data / random_data, batch_size,
count); otherwise one generated batch of size 1 with every variable dimension set to 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.datatypes import BY_CONFIG, BY_NAME
from modelport.repository.config import ModelConfig


def warmup_feeds(config: ModelConfig) -> list[dict[str, np.ndarray]]:
    """The feeds to run once each, in order."""
    if not config.warmup:
        return [{s.name: _generated(s.datatype, _shape(config, s.dims, 1), True)
                 for s in config.inputs}]
    feeds: list[dict[str, np.ndarray]] = []
    for entry in config.warmup:
        batch = int(entry.get("batch_size", 1) or 1)
        feed = {
            name: _generated(
                BY_CONFIG[spec.get("data_type", "TYPE_FP32")].name,
                _shape(config, tuple(int(d) for d in spec.get("dims", [])), batch),
                not spec.get("random_data", False),
            )
            for name, spec in entry.get("inputs", {}).items()
        }
        feeds.extend([feed] * max(int(entry.get("count", 1) or 1), 1))
    return feeds


def _shape(config: ModelConfig, dims: tuple[int, ...], batch: int) -> tuple[int, ...]:
    fixed = tuple(1 if d == -1 else d for d in dims)
    return (batch, *fixed) if config.batching else fixed


def _generated(datatype: str, shape: tuple[int, ...], zeros: bool) -> Any:
    dtype = BY_NAME[datatype].numpy
    if datatype == "BYTES":
        return np.full(shape, "warmup", dtype=object)
    if zeros or dtype.kind in "biu":
        return np.zeros(shape, dtype=dtype)
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)
