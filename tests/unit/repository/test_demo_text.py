"""The text models' semantics: attention masking in text_encoder, case mapping in text_upper."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from modelport.repository.demo.strings import build_text_upper
from modelport.repository.demo.transformer import build_text_encoder


@pytest.fixture(scope="module")
def encoder() -> ort.InferenceSession:
    model = build_text_encoder().SerializeToString()
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def upper() -> ort.InferenceSession:
    model = build_text_upper().SerializeToString()
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"])


def _batch() -> tuple[np.ndarray, np.ndarray]:
    ids = np.random.default_rng(0).integers(0, 1000, (3, 10), dtype=np.int64)
    mask = np.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    return ids, mask


def _encode(session: ort.InferenceSession, ids: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(o) for o in session.run(None, {"input_ids": ids, "attention_mask": mask})]


def test_masked_tokens_do_not_change_the_result(encoder: ort.InferenceSession) -> None:
    """Changing token ids at masked positions leaves pooler_output and unmasked states alone."""
    ids, mask = _batch()
    states, pooled = _encode(encoder, ids, mask)
    changed = np.where(mask == 0, (ids + 17) % 1000, ids)
    new_states, new_pooled = _encode(encoder, changed, mask)
    np.testing.assert_allclose(new_pooled, pooled, atol=1e-6)
    keep = mask.astype(bool)
    np.testing.assert_allclose(new_states[keep], states[keep], atol=1e-6)
    assert np.abs(new_states[~keep] - states[~keep]).max() > 0.1  # the change did reach the model


def test_unmasked_tokens_do_change_the_result(encoder: ort.InferenceSession) -> None:
    """Changing one attended token changes the pooled vector (the test above can fail)."""
    ids, mask = _batch()
    _, pooled = _encode(encoder, ids, mask)
    ids[2, 0] = (ids[2, 0] + 1) % 1000
    _, new_pooled = _encode(encoder, ids, mask)
    assert np.abs(new_pooled[2] - pooled[2]).max() > 1e-2
    np.testing.assert_array_equal(new_pooled[:2], pooled[:2])


def test_padding_equals_truncation(encoder: ort.InferenceSession) -> None:
    """A padded, masked row pools to the same vector as the unpadded sequence alone."""
    ids, mask = _batch()
    _, pooled = _encode(encoder, ids, mask)
    _, short = _encode(encoder, ids[2:3, :3], mask[2:3, :3])
    np.testing.assert_allclose(short[0], pooled[2], atol=1e-5)


def test_batch_rows_are_independent(encoder: ort.InferenceSession) -> None:
    """Each row of a batch gets the same outputs as when it is sent alone."""
    ids, mask = _batch()
    states, pooled = _encode(encoder, ids, mask)
    for row in range(3):
        one_states, one_pooled = _encode(encoder, ids[row : row + 1], mask[row : row + 1])
        np.testing.assert_allclose(one_states[0], states[row], atol=1e-5)
        np.testing.assert_allclose(one_pooled[0], pooled[row], atol=1e-5)


def test_fully_masked_row_pools_to_zeros(encoder: ort.InferenceSession) -> None:
    """A row with no attended token pools to zeros instead of NaN."""
    ids, mask = _batch()
    mask[0] = 0
    states, pooled = _encode(encoder, ids, mask)
    assert np.isfinite(states).all()
    np.testing.assert_array_equal(pooled[0], np.zeros(64, np.float32))


def test_upper_cases_utf8_one_code_point_at_a_time(upper: ort.InferenceSession) -> None:
    """Non-ASCII letters are upper-cased, but "ß" stays "ß" (no expansion to "SS")."""
    text = ["hello", "straße", "é", "Grüße, 123!", "ωμέγα", "日本語", ""]
    (result,) = upper.run(None, {"text": np.array(text, dtype=object)})
    assert list(result) == ["HELLO", "STRAßE", "É", "GRÜßE, 123!", "ΩΜΈΓΑ", "日本語", ""]
    assert "straße".upper() == "STRASSE"  # what Python would have done instead


def test_upper_rejects_an_empty_tensor(upper: ort.InferenceSession) -> None:
    """ONNX Runtime's StringNormalizer fails on a tensor of zero strings (pinned behaviour)."""
    with pytest.raises(Exception, match="greater than 0"):
        upper.run(None, {"text": np.array([], dtype=object)})
