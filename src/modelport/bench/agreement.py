"""Numerical agreement of a runtime's outputs with the reference outputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from modelport.bench.backends.base import Array

# (atol, rtol) per effective precision: |out - ref| <= atol + rtol * |ref| everywhere.
TOLERANCES: dict[str, tuple[float, float]] = {
    "fp32": (1e-4, 1e-4),
    "fp16": (5e-2, 1e-2),
    "bf16": (2.5e-1, 2e-2),
}


@dataclass(frozen=True)
class Agreement:
    """How far outputs are from the reference, and whether that is within tolerance.

    ``max_rel`` is the largest difference relative to the largest reference magnitude of its
    output, which stays meaningful for outputs that cross zero.
    """

    max_abs: float
    max_rel: float
    atol: float
    rtol: float
    within: bool


def tolerance_for(precision: str) -> tuple[float, float]:
    """The (atol, rtol) that results in this precision must meet (fp32's when unknown)."""
    return TOLERANCES.get(precision, TOLERANCES["fp32"])


def compare_outputs(
    outputs: Mapping[str, Array], reference: Mapping[str, Array], precision: str
) -> Agreement:
    """Compare every reference output; a missing output or shape mismatch is out of tolerance."""
    atol, rtol = tolerance_for(precision)
    max_abs = max_rel = 0.0
    within = True
    for name, ref in reference.items():
        got = outputs.get(name)
        if got is None or np.shape(got) != np.shape(ref):
            return Agreement(float("inf"), float("inf"), atol, rtol, False)
        if ref.dtype == np.object_:
            same = bool(np.all(got == ref))
            within &= same
            max_abs = max(max_abs, 0.0 if same else float("inf"))
            continue
        r = np.asarray(ref, dtype=np.float64)
        diff = np.abs(np.asarray(got, dtype=np.float64) - r)
        if diff.size:
            max_abs = max(max_abs, float(diff.max()))
            scale = max(float(np.abs(r).max()), 1e-12)
            max_rel = max(max_rel, float(diff.max()) / scale)
            within &= bool(np.all(diff <= atol + rtol * np.abs(r)))
    return Agreement(max_abs, max_rel, atol, rtol, within)
