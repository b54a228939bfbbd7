"""Numerical agreement with the reference outputs."""

from __future__ import annotations

import numpy as np

from modelport.bench.agreement import compare_outputs, tolerance_for

REF = {"y": np.array([[10.0, -2.0, 0.0]], dtype=np.float32)}


def test_identical_outputs_agree() -> None:
    """Equal outputs have zero difference and agree."""
    a = compare_outputs(REF, REF, "fp32")
    assert (a.max_abs, a.max_rel, a.within) == (0.0, 0.0, True)


def test_fp32_difference_beyond_tolerance_is_flagged() -> None:
    """A 1e-2 error fails fp32's tolerance; max_rel is relative to the largest magnitude."""
    out = {"y": REF["y"] + np.array([[0.0, 0.0, 1e-2]], dtype=np.float32)}
    a = compare_outputs(out, REF, "fp32")
    assert not a.within
    assert abs(a.max_abs - 1e-2) < 1e-6
    assert abs(a.max_rel - 1e-3) < 1e-6


def test_bf16_tolerance_accepts_bf16_sized_errors() -> None:
    """The same 1e-2 error is within bf16's looser tolerance."""
    out = {"y": REF["y"] + np.float32(1e-2)}
    assert compare_outputs(out, REF, "bf16").within
    assert tolerance_for("bf16")[0] > tolerance_for("fp32")[0]


def test_missing_output_or_wrong_shape_disagrees() -> None:
    """A missing output or a different shape is out of tolerance."""
    assert not compare_outputs({}, REF, "fp32").within
    assert not compare_outputs({"y": np.zeros((3,), np.float32)}, REF, "fp32").within
