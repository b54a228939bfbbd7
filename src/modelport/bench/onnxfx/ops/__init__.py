"""The operator rules, one module per family; importing a module registers its rules."""

from __future__ import annotations

import importlib

_FAMILIES = (
    "elementwise", "activations", "shape", "indexing", "reduce", "nn", "norm", "linalg", "misc",
)  # fmt: skip


def load_all() -> None:
    """Import every family so that :data:`modelport.bench.onnxfx.registry.OPS` is complete."""
    for family in _FAMILIES:
        importlib.import_module(f"{__name__}.{family}")
