"""Triton's classification extension: an output returned as its top-K classes.

A request asks for it per output (``parameters {"classification": K}``); the output then comes
back as BYTES of shape [batch, K] (or [K] without batching), each element
``"<value>:<index>"`` or ``"<value>:<index>:<label>"`` with labels from the file the output's
``label_filename`` names in the model folder (one label per line). Values are written as C++'s
``std::to_string`` writes them (six decimals for floats), as Triton does.
"""

from __future__ import annotations

import numpy as np

from modelport.errors import InvalidInput

MAX_ELEMENTS = 1_000_000  # Triton's bound against pathological classification outputs


def classify(name: str, data: np.ndarray, k: int, batched: bool,
             labels: list[str] | None) -> np.ndarray:
    """The top ``k`` classes of output ``name`` (per batch item when ``batched``).

    Raises:
        InvalidInput: the output is not numeric, or too large to classify.
    """
    if data.dtype.kind not in "biuf" or data.dtype.kind == "b":
        raise InvalidInput(f"class result not available for output '{name}' due to "
                           f"unsupported type '{data.dtype}'")
    if data.size > MAX_ELEMENTS:
        raise InvalidInput(f"classification output '{name}' is too large "
                           f"({data.size} elements)")
    rows = data.reshape(data.shape[0], -1) if batched and data.ndim else data.reshape(1, -1)
    count = min(k, rows.shape[1])
    result = np.empty((rows.shape[0], count), dtype=object)
    for r, row in enumerate(rows):
        order = np.argsort(-row.astype(np.float64), kind="stable")[:count]
        for c, index in enumerate(order):
            result[r, c] = _entry(row[index], int(index), labels)
    return result if batched else result.reshape(count)


def _entry(value: np.generic, index: int, labels: list[str] | None) -> str:
    text = f"{float(value):f}" if value.dtype.kind == "f" else str(int(value))
    if labels is not None and index < len(labels):
        return f"{text}:{index}:{labels[index]}"
    return f"{text}:{index}"


def parse_count(output: str, raw: object) -> int:
    """The ``classification`` parameter of a requested output as a class count.

    Raises:
        InvalidInput: it is not a positive integer.
    """
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise InvalidInput(f"output '{output}': parameter 'classification' must be a positive "
                           f"integer, got {raw!r}")
    return raw
