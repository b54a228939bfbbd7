"""Every demo model is valid ONNX, loads in ONNX Runtime and computes sensible outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from modelport.repository.demo import DEMO_MODELS, write_demo_repository
from modelport.repository.demo.graph import IR_VERSION, OPSET


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_repository(tmp_path_factory.mktemp("demo") / "models")


@pytest.fixture(scope="module")
def sessions(repo: Path) -> dict[str, ort.InferenceSession]:
    return {
        name: ort.InferenceSession(
            str(repo / name / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
        )
        for name in DEMO_MODELS
    }


def _inputs(name: str, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    if name == "resnet18":
        return {"input": rng.standard_normal((batch, 3, 224, 224), dtype=np.float32)}
    if name == "text_encoder":
        ids = rng.integers(0, 1000, (batch, 12), dtype=np.int64)
        return {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    if name == "mlp":
        return {"input": rng.standard_normal((batch, 64), dtype=np.float32)}
    if name == "image_preprocess":
        return {"pixels": rng.integers(0, 256, (batch, 224, 224, 3), dtype=np.uint8)}
    return {"text": np.array(["abc", "Déjà vu", "x"][:batch], dtype=object)}


EXPECTED: dict[str, dict[str, tuple[type[np.generic], tuple[int, ...]]]] = {
    "resnet18": {"logits": (np.float32, (1000,))},
    "text_encoder": {
        "last_hidden_state": (np.float32, (12, 64)),
        "pooler_output": (np.float32, (64,)),
    },
    "mlp": {"output": (np.float32, (10,))},
    "image_preprocess": {"image": (np.float32, (3, 224, 224))},
}


@pytest.mark.parametrize("name", DEMO_MODELS)
def test_passes_the_full_onnx_check(repo: Path, name: str) -> None:
    """onnx.checker accepts the model with full shape inference; opset 17 and IR version 8."""
    path = repo / name / "1" / "model.onnx"
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    assert model.ir_version == IR_VERSION == 8
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("name", [n for n in DEMO_MODELS if n != "text_upper"])
def test_output_shapes_dtypes_and_finiteness(
    sessions: dict[str, ort.InferenceSession], name: str, batch: int
) -> None:
    """Batched models return [batch, ...] float32 outputs that are all finite."""
    session = sessions[name]
    names = [o.name for o in session.get_outputs()]
    assert names == list(EXPECTED[name])
    for out_name, value in zip(names, session.run(None, _inputs(name, batch)), strict=True):
        dtype, item_shape = EXPECTED[name][out_name]
        assert value.dtype == dtype
        assert value.shape == (batch, *item_shape)
        assert np.isfinite(value).all()


@pytest.mark.parametrize("count", [1, 3])
def test_text_upper_shapes(sessions: dict[str, ort.InferenceSession], count: int) -> None:
    """text_upper returns one string per input string."""
    (upper,) = sessions["text_upper"].run(None, _inputs("text_upper", count))
    assert upper.shape == (count,)
    assert upper.dtype == object


def test_resnet_logits_vary_and_stay_moderate(sessions: dict[str, ort.InferenceSession]) -> None:
    """Logits differ across classes and across inputs, with magnitudes of order 1 to 20."""
    rng = np.random.default_rng(5)
    images = np.stack(
        [
            rng.standard_normal((3, 224, 224)),
            rng.uniform(0.0, 1.0, (3, 224, 224)),
            np.zeros((3, 224, 224)),
        ]
    ).astype(np.float32)
    (logits,) = sessions["resnet18"].run(None, {"input": images})
    assert logits.std(axis=1).min() > 0.1
    assert 1.0 < np.abs(logits).max() < 50.0
    assert np.abs(logits[0] - logits[1]).max() > 0.1
    assert np.abs(logits[1] - logits[2]).max() > 0.1


def test_batched_rows_match_single_rows(sessions: dict[str, ort.InferenceSession]) -> None:
    """The mlp and resnet give each row of a batch the result it gets alone."""
    for name in ("mlp", "resnet18"):
        feed = _inputs(name, 3)
        (batched,) = sessions[name].run(None, feed)
        for row in range(3):
            (single,) = sessions[name].run(None, {k: v[row : row + 1] for k, v in feed.items()})
            np.testing.assert_allclose(single[0], batched[row], rtol=1e-4, atol=1e-4)


def test_image_preprocess_normalizes_like_torchvision(
    sessions: dict[str, ort.InferenceSession],
) -> None:
    """HWC UINT8 -> CHW, x / 255 then ImageNet mean/std, as torchvision's Normalize does."""
    pixels = _inputs("image_preprocess", 2)["pixels"]
    (image,) = sessions["image_preprocess"].run(None, {"pixels": pixels})
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    reference = (pixels.transpose(0, 3, 1, 2).astype(np.float32) / 255.0 - mean) / std
    np.testing.assert_allclose(image, reference, rtol=1e-5, atol=1e-5)
