"""Which ONNX file a bench model name means, and what a name that has none gets told."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.bench.model_source import resolve_model
from modelport.errors import BenchError


def test_demo_model_name_gives_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A demo model name resolves to its newest version's model.onnx."""
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path))
    path = resolve_model("mlp")
    assert path.name == "model.onnx" and path.parent.parent.name == "mlp"


def test_ensemble_points_to_serving_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ensemble has no file: the error says how to bench it served instead."""
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path))
    with pytest.raises(BenchError, match=r"'classify_image' is an ensemble.*--url"):
        resolve_model("classify_image")


def test_unknown_name_lists_benchable_models(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown name lists the models that have a file (not the ensemble)."""
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path))
    with pytest.raises(BenchError, match="choose from image_preprocess, mlp") as err:
        resolve_model("nope")
    assert "classify_image" not in str(err.value)
