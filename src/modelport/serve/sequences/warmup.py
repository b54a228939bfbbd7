"""What a sequence model needs at load: its initial states, and warm-up samples completed
with the controls and states the sequence batcher would feed (each sample a one-request
sequence: START, END and READY true)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelport.repository.config import ModelConfig
from modelport.serve.sequences.controls import RowSignals, control_feed
from modelport.serve.sequences.states import State, initial_states, state_feed


def sequence_initial_states(config: ModelConfig, model_dir: Path) -> State:
    """The model's initial states ({} without sequence batching).

    Raises:
        ModelLoadError: an initial-state file cannot be read or is too short.
    """
    sb = config.sequence_batching
    return initial_states(sb.states, model_dir) if sb is not None else {}


def sequence_warmup(config: ModelConfig, model_dir: Path,
                    feeds: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """``feeds`` with control and state inputs added (unchanged without sequence batching)."""
    sb = config.sequence_batching
    if sb is None or not feeds:
        return feeds
    initial = initial_states(sb.states, model_dir)
    completed = []
    for feed in feeds:
        first = next(iter(feed.values()))
        rows = int(first.shape[0]) if config.batching else 1
        signals = [RowSignals(True, True, True, "1" if _string_corrid(config) else 1)] * rows
        extra = control_feed(sb, signals, config.batching)
        extra.update(state_feed([initial] * rows, config.batching))
        completed.append({**feed, **extra})
    return completed


def _string_corrid(config: ModelConfig) -> bool:
    sb = config.sequence_batching
    control = sb.control("CORRID") if sb is not None else None
    return control is not None and control.datatype == "BYTES"
