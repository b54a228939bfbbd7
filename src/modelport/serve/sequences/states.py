"""Implicit state: what a sequence carries from one request to the next.

A sequence's state is one array per ``state`` entry, without the batch dimension. Its first
value comes from ``initial_state`` (zeros, or a raw row-major file in the model's
``initial_state/`` folder), or, without one, zeros with each variable dimension set to 1 (where
Triton leaves the memory uninitialized: a model that reads it on START gets zeros here). After
each request the model's state output becomes the sequence's next state input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath

import numpy as np

from modelport.datatypes import BY_NAME
from modelport.errors import InvalidInput, ModelLoadError
from modelport.repository.sequence import StateSpec
from modelport.serve.tensors import element_count, from_raw

INITIAL_STATE_FOLDER = "initial_state"
State = dict[str, np.ndarray]  # state input name -> array without the batch dimension


def initial_states(specs: Sequence[StateSpec], model_dir: Path) -> State:
    """Each state's first value, read once when the model loads.

    Raises:
        ModelLoadError: an initial-state file is missing, outside the folder, or too short.
    """
    return {s.input_name: _initial(s, model_dir) for s in specs}


def _initial(spec: StateSpec, model_dir: Path) -> np.ndarray:
    init = spec.initial
    if init is None:
        return _zeros(spec.datatype, [max(d, 1) for d in spec.dims])
    if init.zero_data:
        return _zeros(spec.datatype, list(init.dims))
    return _from_file(spec, list(init.dims), model_dir, init.data_file)


def _zeros(datatype: str, dims: list[int]) -> np.ndarray:
    if datatype == "BYTES":
        return np.full(dims, "", dtype=object)
    return np.zeros(dims, dtype=BY_NAME[datatype].numpy)


def _from_file(spec: StateSpec, dims: list[int], model_dir: Path, file: str) -> np.ndarray:
    shown = f"{model_dir.name}/{INITIAL_STATE_FOLDER}/{file}"
    where = f"model '{model_dir.name}': initial_state of state '{spec.input_name}'"
    if PurePath(file).name != file or file in ("", ".", ".."):
        raise ModelLoadError(f"{where}: data_file '{file}' must be a file name in the model's "
                             f"{INITIAL_STATE_FOLDER}/ folder")
    try:
        raw = (model_dir / INITIAL_STATE_FOLDER / file).read_bytes()
    except OSError:
        raise ModelLoadError(f"{where}: {shown} cannot be read") from None
    if spec.datatype != "BYTES":
        needed = element_count(dims) * BY_NAME[spec.datatype].numpy.itemsize
        if len(raw) < needed:
            raise ModelLoadError(f"initial_state setting expects {needed} bytes, but the data "
                                 f"provided from {shown} only has {len(raw)} bytes.")
        raw = raw[:needed]
    try:
        data = from_raw(spec.input_name, spec.datatype, dims, raw)
    except InvalidInput as exc:
        raise ModelLoadError(f"{where}: {shown}: {exc}") from None
    if spec.datatype == "BYTES":
        flat = [bytes(v).decode("utf-8", errors="replace") for v in data.ravel()]
        return np.array(flat, dtype=object).reshape(dims)
    copied: np.ndarray = data.copy()
    return copied


def shapes(state: State) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The shapes of a state, for deciding which rows can share a batch."""
    return tuple(sorted((name, tuple(a.shape)) for name, a in state.items()))


def state_feed(rows: Sequence[State], batched: bool) -> dict[str, np.ndarray]:
    """The state inputs of a batch: rows stacked along a new first dimension when batched."""
    if not rows:
        return {}
    if not batched:
        return dict(rows[0])
    return {name: np.stack([row[name] for row in rows]) for name in rows[0]}


def next_state(specs: Sequence[StateSpec], results: Mapping[str, np.ndarray], row: int,
               batched: bool) -> State:
    """The state outputs of batch row ``row``, as the sequence's next state (copied, so the
    batch's arrays are not kept alive)."""
    return {s.input_name: np.array(results[s.output_name][row] if batched
                                   else results[s.output_name], copy=True)
            for s in specs}
