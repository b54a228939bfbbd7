"""The sequence batcher's parts: request parameters, control tensors, implicit state, the slot
table."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support.sequence_models import DYNA_CONFIG, STRING_CONFIG, simple_sequence_config

from modelport.errors import InvalidInput, ModelLoadError, QueueFull
from modelport.repository.pbtxt import parse_text, to_view
from modelport.repository.sequence import InitialState, SequenceBatching, StateSpec
from modelport.serve.sequences.controls import NOT_READY, RowSignals, check_corrid, control_feed
from modelport.serve.sequences.params import SequenceParams, sequence_params
from modelport.serve.sequences.request import SequencePending
from modelport.serve.sequences.slots import SlotTable
from modelport.serve.sequences.states import initial_states, next_state, state_feed
from modelport.serve.validate import Checked


def _sb(text: str) -> SequenceBatching:
    sb = to_view(parse_text(text)).sequence_batching
    assert sb is not None
    return sb


# --- parameters -------------------------------------------------------------------------------

def test_sequence_params_read_integer_and_string_ids() -> None:
    """sequence_id as integer or string, flags as booleans; none of them: no sequence."""
    assert sequence_params({}) is None
    assert sequence_params({"sequence_id": 7, "sequence_start": True}) == SequenceParams(7, True)
    assert sequence_params({"sequence_id": "a-b", "sequence_end": True}) == SequenceParams(
        "a-b", end=True)
    assert sequence_params({"sequence_id": 2**64 - 1}) == SequenceParams(2**64 - 1)
    assert not SequenceParams(0).named and not SequenceParams("").named


@pytest.mark.parametrize("parameters", [
    {"sequence_id": -1}, {"sequence_id": 2**64}, {"sequence_id": 1.5}, {"sequence_id": True},
    {"sequence_id": 1, "sequence_start": 1}, {"sequence_id": 1, "sequence_end": "yes"},
])
def test_sequence_params_refuse_wrong_types(parameters: dict[str, object]) -> None:
    """An id that is not an unsigned 64-bit integer or string, or a flag that is not a
    boolean, is the client's error."""
    with pytest.raises(InvalidInput, match="parameter 'sequence_"):
        sequence_params(parameters)


# --- controls ---------------------------------------------------------------------------------

def test_control_tensors_follow_each_rows_flags() -> None:
    """START/END/READY take the config's values per row; a not-ready row is all false with
    correlation ID 0; tensors are [batch, 1]."""
    sb = _sb(DYNA_CONFIG)
    rows = [RowSignals(True, start=True, corrid=5), NOT_READY, RowSignals(True, end=True,
                                                                          corrid=9)]
    feed = control_feed(sb, rows, batched=True)
    assert feed["START"].dtype == np.float32 and feed["START"].shape == (3, 1)
    assert feed["START"].ravel().tolist() == [1.0, 0.0, 0.0]
    assert feed["END"].ravel().tolist() == [0.0, 0.0, 1.0]
    assert feed["READY"].ravel().tolist() == [1.0, 0.0, 1.0]
    assert feed["CORRID"].dtype == np.uint64 and feed["CORRID"].ravel().tolist() == [5, 0, 9]


def test_control_tensors_of_bool_and_string_controls_without_batching() -> None:
    """BOOL flags and TYPE_STRING correlation IDs (integers written as text); shape [1]
    without a batch dimension."""
    sb = _sb(STRING_CONFIG)
    feed = control_feed(sb, [RowSignals(True, start=True, corrid=42)], batched=False)
    assert feed["START"].dtype == np.bool_ and feed["START"].tolist() == [True]
    assert feed["END"].tolist() == [False]
    assert feed["CORRID"].dtype == object and feed["CORRID"].tolist() == ["42"]


def test_int32_controls_use_the_configured_values() -> None:
    """int32_false_true values are used as given, not as 0/1."""
    sb = _sb(simple_sequence_config().replace("int32_false_true: [ 0, 1 ]",
                                              "int32_false_true: [ 5, 7 ]"))
    feed = control_feed(sb, [RowSignals(True), NOT_READY], batched=True)
    assert feed["READY"].ravel().tolist() == [7, 5] and feed["START"].dtype == np.int32


def test_correlation_ids_the_corrid_tensor_cannot_carry_are_refused() -> None:
    """A string id for an integer CORRID, or an id out of its range, is the client's error."""
    sb = _sb(DYNA_CONFIG)
    check_corrid(sb, "m", 2**64 - 1)
    with pytest.raises(InvalidInput, match=r"takes integer correlation IDs .* is a string"):
        check_corrid(sb, "m", "abc")
    int32 = _sb(DYNA_CONFIG.replace("TYPE_UINT64", "TYPE_INT32"))
    with pytest.raises(InvalidInput, match=r"outside -2147483648..2147483647"):
        check_corrid(int32, "m", 2**31)
    check_corrid(_sb(STRING_CONFIG), "m", 12)  # any id is text


# --- states -----------------------------------------------------------------------------------

def test_initial_states_zero_variable_dims_and_data_file(tmp_path: Path) -> None:
    """No initial_state: zeros with variable dims at 1; zero_data; a raw file of the
    initial_state folder (longer files are cut, as in Triton)."""
    sb = _sb(simple_sequence_config(state=(
        'state [{ input_name: "A" output_name: "B" data_type: TYPE_FP32 dims: [ -1, 2 ] }, '
        '{ input_name: "C" output_name: "D" data_type: TYPE_INT32 dims: [ 2 ] initial_state {'
        ' data_type: TYPE_INT32 dims: [ 2 ] data_file: "init" name: "i" } }]')))
    (tmp_path / "initial_state").mkdir()
    (tmp_path / "initial_state" / "init").write_bytes(
        np.array([3, 4, 5], dtype="<i4").tobytes())
    states = initial_states(sb.states, tmp_path)
    assert states["A"].shape == (1, 2) and not states["A"].any()
    assert states["C"].tolist() == [3, 4]


def test_initial_state_file_errors_name_the_file(tmp_path: Path) -> None:
    """A missing or short initial-state file fails the load, naming it."""
    spec = StateSpec("S", "T", "INT32", (4,), InitialState("i", (4,), zero_data=False,
                                                        data_file="f"))
    with pytest.raises(ModelLoadError, match="initial_state/f cannot be read"):
        initial_states([spec], tmp_path)
    (tmp_path / "initial_state").mkdir()
    (tmp_path / "initial_state" / "f").write_bytes(b"\0" * 8)
    with pytest.raises(ModelLoadError, match="expects 16 bytes, but the data provided from "):
        initial_states([spec], tmp_path)


def test_state_feed_and_next_state_move_rows() -> None:
    """Rows are stacked into the batch, and each row's output becomes its own next state."""
    sb = _sb(simple_sequence_config())
    rows = [{"INPUT_STATE": np.array([1], np.int32)}, {"INPUT_STATE": np.array([2], np.int32)}]
    assert state_feed(rows, batched=True)["INPUT_STATE"].tolist() == [[1], [2]]
    results = {"OUTPUT_STATE": np.array([[10], [20]], np.int32)}
    assert next_state(sb.states, results, 1, batched=True)["INPUT_STATE"].tolist() == [20]


# --- slot table -------------------------------------------------------------------------------

_LOOP = asyncio.new_event_loop()  # futures of requests that are routed, never awaited


@pytest.fixture(scope="module", autouse=True)
def _close_loop() -> Iterator[None]:
    yield
    _LOOP.close()


def _request(corrid: int | str, start: bool = False, end: bool = False) -> SequencePending:
    checked = Checked({}, 1, ("OUTPUT",), ())
    future: asyncio.Future[list[np.ndarray]] = _LOOP.create_future()
    return SequencePending(checked, SequenceParams(corrid, start, end), future, None)


def test_starts_take_the_lowest_free_slot_across_instances() -> None:
    """Slot 0 of every instance fills before slot 1 of any."""
    table = SlotTable("m", instances=2, per_instance=2)
    slots = [table.route(_request(i, start=True), 0) for i in (1, 2, 3)]
    assert [(s.instance, s.index) for s in slots if s] == [(0, 0), (1, 0), (0, 1)]


def test_unknown_sequences_without_start_are_refused() -> None:
    """A request for a sequence never started gets Triton's words."""
    table = SlotTable("m", 1, 1)
    with pytest.raises(InvalidInput, match=r"^inference request for sequence 4 to model 'm' "
                                           "must specify the START flag on the first request"):
        table.route(_request(4), 0)


def test_end_frees_the_slot_once_drained_and_hands_it_to_the_backlog() -> None:
    """With every slot taken a START waits in the backlog; the END's slot goes to it once the
    END has run; later requests of the new sequence follow it to the slot."""
    table = SlotTable("m", 1, 1)
    slot = table.route(_request("a", start=True, end=False), 0)
    assert slot is not None
    assert table.route(_request("b", start=True), 0) is None
    assert table.route(_request("b"), 0) is None  # follows b into the backlog
    table.route(_request("a", end=True), 0)
    assert table.settle(slot, 0) and slot.owner == "a"  # a's requests still to run
    slot.queue.clear()
    assert table.settle(slot, 5) and slot.owner == "b" and len(slot.queue) == 2
    assert table.active == {"b": slot} and not table.waiting


def test_backlog_limit_refuses_more_waiting_sequences() -> None:
    """Beyond max_sequence_backlog waiting sequences a START is refused with the limits."""
    table = SlotTable("m", 1, 1, backlog_limit=1)
    table.route(_request(1, start=True), 0)
    table.route(_request(2, start=True), 0)
    with pytest.raises(QueueFull, match="all 1 sequence slots are taken and 1 sequences "
                                        "already wait for one"):
        table.route(_request(3, start=True), 0)


def test_idle_sequences_expire_and_explain_later_requests() -> None:
    """An idle sequence loses its slot; its next request is told why it needs START."""
    table = SlotTable("m", 1, 1)
    slot = table.route(_request(9, start=True), 0)
    assert slot is not None
    slot.queue.clear()
    assert table.next_idle_check_ns(100) == 100
    assert table.expire(50, 100) == []
    assert table.expire(200, 100) == [slot]
    assert not table.settle(slot, 200) and slot.owner is None
    with pytest.raises(InvalidInput, match="sequence 9 was ended after 0 us without a request"):
        table.route(_request(9), 300)


def test_a_second_start_restarts_the_sequence_in_its_slot() -> None:
    """START for a sequence in flight stays in its slot (Triton ends the old one early)."""
    table = SlotTable("m", 1, 2)
    first = table.route(_request(1, start=True), 0)
    again = table.route(_request(1, start=True), 0)
    assert first is again and len(table.active) == 1
