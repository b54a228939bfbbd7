"""Checking a decoded request against its model's config before it is queued."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from modelport.errors import InvalidInput
from modelport.repository.config import ModelConfig, TensorSpec
from modelport.serve.types import InferRequest, InputTensor, RequestedOutput
from modelport.serve.validate import check

BATCHED = ModelConfig(
    name="pair",
    max_batch_size=4,
    inputs=(TensorSpec("a", "FP32", (3,)), TensorSpec("b", "INT64", (-1,))),
    outputs=(TensorSpec("sum", "FP32", (3,)), TensorSpec("ids", "INT64", (-1,))),
)
UNBATCHED = ModelConfig(
    name="grid",
    inputs=(TensorSpec("x", "FP32", (2, -1)),),
    outputs=(TensorSpec("y", "FP32", (2, -1)),),
)
TEXT = ModelConfig(
    name="text",
    max_batch_size=2,
    inputs=(TensorSpec("s", "BYTES", (-1,)),),
    outputs=(TensorSpec("t", "BYTES", (-1,)),),
)


def _input(name: str, datatype: str, shape: list[int], data: np.ndarray | None = None
           ) -> InputTensor:
    if data is None:
        dtype = {"FP32": np.float32, "INT64": np.int64, "INT32": np.int32}[datatype]
        data = np.zeros(shape, dtype=dtype)
    return InputTensor(name, datatype, shape, data)


def _pair(batch_a: int = 2, batch_b: int = 2, width: int = 5) -> list[InputTensor]:
    return [_input("a", "FP32", [batch_a, 3]), _input("b", "INT64", [batch_b, width])]


def _request(inputs: list[InputTensor], outputs: tuple[str, ...] = ()) -> InferRequest:
    return InferRequest("m", inputs=inputs, outputs=[RequestedOutput(n) for n in outputs])


def _error(config: ModelConfig, inputs: list[InputTensor], outputs: tuple[str, ...] = ()) -> str:
    with pytest.raises(InvalidInput) as exc:
        check(config, _request(inputs, outputs))
    return str(exc.value)


# --- accepted requests ---------------------------------------------------------------------------


def test_valid_batched_request() -> None:
    """A fitting request yields its feed, batch size, all outputs and a shape signature."""
    inputs = _pair()
    checked = check(BATCHED, _request(inputs))
    assert checked.feed["a"] is inputs[0].data and checked.feed["b"] is inputs[1].data
    assert checked.batch_size == 2
    assert checked.outputs == ("sum", "ids")
    assert checked.signature == (("a", (3,)), ("b", (5,)))


def test_requested_outputs_keep_their_order() -> None:
    """Named outputs are returned in the order the client asked for them."""
    assert check(BATCHED, _request(_pair(), ("ids", "sum"))).outputs == ("ids", "sum")


def test_input_order_does_not_matter() -> None:
    """Inputs may come in any order; the signature is sorted by name."""
    a, b = _pair()
    assert check(BATCHED, _request([b, a])).signature == (("a", (3,)), ("b", (5,)))


def test_signature_differs_with_non_batch_shape() -> None:
    """Requests whose variable dims differ get different signatures, so they never merge."""
    one = check(BATCHED, _request(_pair(width=5))).signature
    other = check(BATCHED, _request(_pair(width=6))).signature
    assert one != other


def test_batch_at_max_is_accepted() -> None:
    """A batch of exactly max_batch_size is fine."""
    assert check(BATCHED, _request(_pair(4, 4))).batch_size == 4


def test_unbatched_request_counts_as_one() -> None:
    """Without batching the full shape is checked (-1 matches anything) and the batch is 1."""
    checked = check(UNBATCHED, _request([_input("x", "FP32", [2, 7])]))
    assert checked.batch_size == 1


def test_optional_input_may_be_left_out() -> None:
    """An input marked optional is not required."""
    config = ModelConfig(name="opt", inputs=(TensorSpec("x", "FP32", (1,)),
                                             TensorSpec("mask", "FP32", (1,), optional=True)),
                         outputs=(TensorSpec("y", "FP32", (1,)),))
    assert set(check(config, _request([_input("x", "FP32", [1])])).feed) == {"x"}


def test_bytes_inputs_become_text() -> None:
    """Valid UTF-8 BYTES elements are decoded to str for the ONNX string tensor."""
    data = np.array([[b"caf\xc3\xa9", b""]], dtype=object)
    checked = check(TEXT, _request([_input("s", "BYTES", [1, 2], data)]))
    assert checked.feed["s"].tolist() == [["caf\u00e9", ""]]
    assert checked.feed["s"].shape == (1, 2)


# --- rejected requests ---------------------------------------------------------------------------


def test_unknown_input_is_named_with_the_known_ones() -> None:
    """An input the model lacks is named, and the model's inputs are listed."""
    message = _error(BATCHED, [*_pair(), _input("c", "FP32", [2, 3])])
    assert "unexpected inference input 'c' for model 'pair'" in message
    assert "its inputs are: a, b" in message


def test_duplicate_input_is_named() -> None:
    """The same input given twice is rejected by name."""
    a, b = _pair()
    assert _error(BATCHED, [a, b, a]) == "input 'a' is given more than once"


def test_wrong_datatype_names_input_and_both_types() -> None:
    """A datatype other than the config's names the input, what was sent and what is expected."""
    message = _error(BATCHED, [_input("a", "INT32", [2, 3]), _input("b", "INT64", [2, 5])])
    assert "input 'a' data-type is 'INT32'" in message
    assert "expects 'FP32'" in message


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ([2, 4], "Expected [-1, 3], got [2, 4]"),
        ([2, 3, 1], "Expected [-1, 3], got [2, 3, 1]"),
        ([2], "Expected [-1, 3], got [2]"),
    ],
)
def test_wrong_shape_names_input_and_both_shapes(shape: list[int], expected: str) -> None:
    """A non-batch dim or rank that differs from the config names the input and both shapes."""
    message = _error(BATCHED, [_input("a", "FP32", shape), _input("b", "INT64", [2, 5])])
    assert "unexpected shape for input 'a' for model 'pair'" in message
    assert expected in message


@pytest.mark.parametrize(
    ("shape", "expected"),
    [([3, 7], "Expected [2, -1], got [3, 7]"), ([2], "Expected [2, -1], got [2]"),
     ([1, 2, 7], "Expected [2, -1], got [1, 2, 7]")],
)
def test_unbatched_shape_has_no_batch_dim(shape: list[int], expected: str) -> None:
    """Without batching there is no leading batch dim: the shape must equal the dims."""
    assert expected in _error(UNBATCHED, [_input("x", "FP32", shape)])


@pytest.mark.parametrize(("shape", "shown"), [([5, 3], "5"), ([0, 3], "0"), ([], "missing")])
def test_batch_outside_range_is_rejected(shape: list[int], shown: str) -> None:
    """A batch dim above max_batch_size, zero, or absent names the input and the limit."""
    message = _error(BATCHED, [_input("a", "FP32", shape), _input("b", "INT64", [2, 5])])
    assert f"input 'a' batch size {shown} is outside 1..4" in message
    assert "max_batch_size of 'pair'" in message


def test_missing_input_is_named() -> None:
    """A required input that is absent is named, with the counts."""
    message = _error(BATCHED, [_input("a", "FP32", [2, 3])])
    assert "expected 2 inputs but got 1 inputs for model 'pair'; missing: b" in message


def test_inconsistent_batch_sizes_name_each_input() -> None:
    """Inputs whose batch dims differ are rejected, naming each input's batch size."""
    message = _error(BATCHED, _pair(batch_a=2, batch_b=3))
    assert "disagree on the batch size" in message
    assert "'a' has 2" in message and "'b' has 3" in message


def test_unknown_output_is_named_with_the_known_ones() -> None:
    """An output the model lacks is named and the model's outputs listed."""
    message = _error(BATCHED, _pair(), ("sum", "logits"))
    assert "unexpected inference output 'logits' for model 'pair'" in message
    assert "its outputs are: sum, ids" in message


def test_duplicate_output_is_named() -> None:
    """Asking for one output twice is rejected by name."""
    assert _error(BATCHED, _pair(), ("ids", "sum", "ids")) == (
        "output 'ids' already exists in request: it is requested more than once")


@pytest.mark.parametrize("bad", [b"\xff", b"ok\xc3", b"\xed\xa0\x80"])
def test_invalid_utf8_bytes_names_the_input(bad: bytes) -> None:
    """A BYTES element that is not UTF-8 is rejected naming the input and the byte offset."""
    data = np.array([[b"fine", bad]], dtype=object)
    message = _error(TEXT, [InputTensor("s", "BYTES", [1, 2], data)])
    assert "BYTES input 's' holds an element that is not valid UTF-8" in message
    assert "at byte" in message


def test_first_problem_wins_in_input_order() -> None:
    """Checks run input by input: an unknown input is reported before a later bad shape."""
    message = _error(BATCHED, [_input("zzz", "FP32", [1]), _input("a", "FP32", [9, 9])])
    assert "'zzz'" in message


def test_batch_over_a_completed_max_batch_size_says_how_to_raise_it() -> None:
    """When max_batch_size came from the graph, the error names config.pbtxt and a value."""
    completed = dataclasses.replace(BATCHED, max_batch_size_completed=True)
    request = InferRequest("pair", inputs=_pair(batch_a=6, batch_b=6))
    with pytest.raises(InvalidInput) as exc:
        check(completed, request)
    assert ("4 was chosen from the ONNX graph because pair/config.pbtxt does not set it: add "
            "'max_batch_size: 8' there") in str(exc.value)
    with pytest.raises(InvalidInput) as plain:
        check(BATCHED, request)
    assert "config.pbtxt" not in str(plain.value)


# --- the per-version checker (remembers accepted shapes) ------------------------------------------


def test_checker_answers_a_repeated_shape_as_the_full_check_does() -> None:
    """A second request of an accepted shape gets the same verdict as check(), with its own
    data, id and parameters."""
    from modelport.serve import validate

    checker = validate.Checker(BATCHED)
    first = _request(_pair(), ("ids",))
    assert checker(first) == check(BATCHED, first)
    second = _request([_input("a", "FP32", [2, 3], np.ones((2, 3), np.float32)),
                       _input("b", "INT64", [2, 5])], ("ids",))
    second.id, second.parameters = "r2", {"p": 1}
    got = checker(second)
    assert got == check(BATCHED, second)
    assert got.feed["a"] is second.inputs[0].data and got.request_id == "r2"


def test_checker_never_remembers_a_refusal() -> None:
    """A refused shape is refused again with the same words; an accepted one stays
    accepted, and the memory is bounded."""
    from modelport.serve import validate

    checker = validate.Checker(BATCHED)
    bad = _pair(batch_a=2, batch_b=3)
    for _ in range(2):
        with pytest.raises(InvalidInput, match="disagree on the batch size"):
            checker(_request(bad))
    for width in range(validate.MEMO_SIZE + 10):
        assert checker(_request(_pair(width=width + 1))).batch_size == 2
    assert len(checker._memo) <= validate.MEMO_SIZE


def test_checker_converts_bytes_every_time() -> None:
    """BYTES inputs are decoded to text on every request (never a remembered shortcut)."""
    from modelport.serve import validate

    checker = validate.Checker(TEXT)
    for word in (b"one", b"two"):
        data = np.array([[word]], dtype=object)
        got = checker(_request([_input("s", "BYTES", [1, 1], data)]))
        assert got.feed["s"][0, 0] == word.decode()
    with pytest.raises(InvalidInput, match="not valid UTF-8"):
        checker(_request([_input("s", "BYTES", [1, 1], np.array([[b"\xff"]], dtype=object))]))
