"""``sequence_batching`` in config.pbtxt: the typed view, Triton's defaults and its refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.sequence_models import DYNA_CONFIG, STRING_CONFIG, accumulator, simple_sequence_config

from modelport.errors import ModelConfigError
from modelport.repository.autocomplete import complete
from modelport.repository.pbtxt import parse_text, to_view
from modelport.repository.sequence import SEQUENCE_IDLE_DEFAULT_US, Control
from modelport.repository.support import ignored_fields

BASE = """
name: "m"
max_batch_size: 4
input [{ name: "INPUT" data_type: TYPE_INT32 dims: [ 1 ] }]
output [{ name: "OUTPUT" data_type: TYPE_INT32 dims: [ 1 ] }]
"""


def _view(sequence_batching: str, base: str = BASE) -> object:
    return to_view(parse_text(base + f"sequence_batching {{ {sequence_batching} }}"))


def _error(sequence_batching: str) -> str:
    with pytest.raises(ModelConfigError) as info:
        _view(sequence_batching)
    return str(info.value)


def test_direct_is_the_default_strategy_with_triton_idle_default() -> None:
    """An empty block is Direct, idle limit 1 s, one slot per batch entry."""
    sb = to_view(parse_text(BASE + "sequence_batching { }")).sequence_batching
    assert sb is not None
    assert sb.strategy == "direct" and sb.max_idle_us == SEQUENCE_IDLE_DEFAULT_US
    assert sb.slots_per_instance(4) == 4 and sb.slots_per_instance(0) == 1


def test_controls_are_read_with_their_types_and_values() -> None:
    """int32, fp32 and bool false/true pairs and the CORRID datatype become typed controls."""
    sb = to_view(parse_text(DYNA_CONFIG)).sequence_batching
    assert sb is not None
    assert sb.control("START") == Control("START", "START", "FP32", (0.0, 1.0))
    assert sb.control("CORRID") == Control("CORRID", "CORRID", "UINT64")
    string = to_view(parse_text(STRING_CONFIG)).sequence_batching
    assert string is not None
    assert string.control("END") == Control("END", "END", "BOOL", (False, True))
    assert string.control("READY") is None
    assert string.control("CORRID") == Control("CORRID", "CORRID", "BYTES")


def test_oldest_settings_and_candidate_slots() -> None:
    """Oldest reads its candidates, preferred sizes and delay; candidates are the slots."""
    sb = to_view(parse_text(STRING_CONFIG)).sequence_batching
    assert sb is not None
    assert (sb.strategy, sb.max_candidate_sequences, sb.preferred_batch_size,
            sb.max_queue_delay_us, sb.max_idle_us) == ("oldest", 8, (4,), 20000, 5_000_000)
    assert sb.slots_per_instance(4) == 8


def test_states_with_and_without_initial_state() -> None:
    """A state keeps its names, type and dims; initial_state zero_data or data_file."""
    sb = to_view(parse_text(simple_sequence_config())).sequence_batching
    assert sb is not None
    (state,) = sb.states
    assert (state.input_name, state.output_name, state.datatype, state.dims) == (
        "INPUT_STATE", "OUTPUT_STATE", "INT32", (1,))
    assert state.initial is not None and state.initial.zero_data
    filed = _view('state [{ input_name: "I" output_name: "O" data_type: TYPE_FP32 dims: [ -1 ] '
                  'initial_state { data_type: TYPE_FP32 dims: [ 3 ] data_file: "f" name: "x" } '
                  '}]').sequence_batching  # type: ignore[attr-defined]
    assert filed.states[0].initial.data_file == "f"
    assert filed.states[0].initial.dims == (3,)


@pytest.mark.parametrize(("block", "words"), [
    ('control_input [{ control [{ kind: CONTROL_SEQUENCE_START int32_false_true: [0, 1] }] }]',
     "sequence batching control tensor must have a name for m"),
    ('control_input [{ name: "S" control [{ kind: CONTROL_SEQUENCE_START }] }]',
     "sequence batching must specify either 'int32_false_true', 'fp32_false_true' or "
     "'bool_false_true' for CONTROL_SEQUENCE_START for m"),
    ('control_input [{ name: "S" control [{ kind: CONTROL_SEQUENCE_END int32_false_true: [0, 1]'
     ' fp32_false_true: [0, 1] }] }]',
     "sequence batching specifies more than one from 'int32_false_true', 'fp32_false_true' and "
     "'bool_false_true' for CONTROL_SEQUENCE_END for m"),
    ('control_input [{ name: "S" control [{ kind: CONTROL_SEQUENCE_READY '
     'int32_false_true: [0, 1, 2] }] }]',
     "sequence batching control 'int32_false_true' must have exactly 2 entries for "
     "CONTROL_SEQUENCE_READY for m"),
    ('control_input [{ name: "A" control [{ kind: CONTROL_SEQUENCE_START bool_false_true: '
     '[false, true] }] }, { name: "B" control [{ kind: CONTROL_SEQUENCE_START '
     'bool_false_true: [false, true] }] }]',
     "sequence batching specifies multiple CONTROL_SEQUENCE_START tensors for m"),
    ('control_input [{ name: "A" control [{ kind: CONTROL_SEQUENCE_START bool_false_true: '
     '[false, true] }] }, { name: "A" control [{ kind: CONTROL_SEQUENCE_END '
     'bool_false_true: [false, true] }] }]',
     "sequence batching control tensor 'A' is specified for multiple control kinds for m"),
    ('control_input [{ name: "C" control [{ kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_FP32'
     ' }] }]',
     "unexpected data type for control CONTROL_SEQUENCE_CORRID for m. Allowed data types are "
     "TYPE_UINT64, TYPE_INT64, TYPE_UINT32, TYPE_INT32 and TYPE_STRING"),
    ('control_input [{ name: "C" control [{ kind: CONTROL_SEQUENCE_CORRID data_type: '
     'TYPE_UINT64 int32_false_true: [0, 1] }] }]',
     "sequence batching must not specify either 'int32_false_true', 'fp32_false_true' or "
     "'bool_false_true' for CONTROL_SEQUENCE_CORRID for m"),
    ("oldest { preferred_batch_size: [ 0 ] }",
     "sequence batching preferred batch size must be positive for m"),
    ("oldest { preferred_batch_size: [ 8 ] }",
     "sequence batching preferred batch size must be <= max batch size for m"),
    ("direct { minimum_slot_utilization: 1.5 }",
     "sequence batching minimum slot utilization must be in range (0.0, 1.0] for m"),
])
def test_control_and_strategy_errors_use_tritons_words(block: str, words: str) -> None:
    """Each malformed setting is refused with the message Triton gives for it."""
    assert _error(block) == words


@pytest.mark.parametrize(("state", "words"), [
    ('initial_state [{ data_type: TYPE_INT32 dims: [1] zero_data: true name: "a" }, '
     '{ data_type: TYPE_INT32 dims: [1] zero_data: true name: "b" }]',
     "initial_state field for state input 'I' must contain exactly one or zero element. "
     "Found '2' elements."),
    ('initial_state { data_type: TYPE_FP32 dims: [1] zero_data: true name: "a" }',
     "The data type used for 'initial_state' field of state 'I' does not match the state "
     "data type."),
    ("initial_state { data_type: TYPE_INT32 dims: [1] zero_data: true }",
     "Field 'name' must be set when using initial_state for state input 'I'."),
    ('initial_state { data_type: TYPE_INT32 dims: [1, 1] zero_data: true name: "a" }',
     "Number of dimensions in 'initial_state' doesn't match the size of 'state' dimensions "
     "for state input 'I'. 2 != 1"),
    ('initial_state { data_type: TYPE_INT32 dims: [-1] zero_data: true name: "a" }',
     "'initial_state' field for state input name 'I' contains variable dimensions."),
    ('initial_state { data_type: TYPE_INT32 dims: [3] zero_data: true name: "a" }',
     "'initial_state' dim for input name 'I' doesn't match 'state' dim description. 3 != 2"),
    ('initial_state { data_type: TYPE_INT32 dims: [2] name: "a" }',
     "initial_state setting expects state'I' to have state_data set"),
])
def test_initial_state_errors_use_tritons_words(state: str, words: str) -> None:
    """Each malformed initial_state is refused with the message Triton gives for it."""
    block = ('state [{ input_name: "I" output_name: "O" data_type: TYPE_INT32 dims: [ 2 ] '
             f"{state} }}]")
    assert _error(block) == words


def test_a_control_cannot_also_be_a_client_input() -> None:
    """A tensor the batcher feeds is not also an input the client sends."""
    words = _error('control_input [{ name: "INPUT" control [{ kind: CONTROL_SEQUENCE_START '
                   'int32_false_true: [0, 1] }] }]')
    assert "'INPUT' is a sequence_batching control or state input" in words


def test_backlog_parameter_is_validated() -> None:
    """max_sequence_backlog must be a non-negative integer."""
    base = BASE + 'parameters { key: "max_sequence_backlog" value { string_value: "%s" } }\n'
    assert _view("", base % "3").sequence_batching.max_backlog == 3  # type: ignore[attr-defined]
    with pytest.raises(ModelConfigError, match="max_sequence_backlog must be a non-negative"):
        _view("", base % "-1")


def test_sequence_batching_is_no_longer_an_ignored_field() -> None:
    """The fields acted on drop out of the load warning; the unsupported ones stay."""
    msg = parse_text(BASE + "sequence_batching { max_sequence_idle_microseconds: 5 "
                            "iterative_sequence: true oldest { preserve_ordering: true } }")
    assert ignored_fields(msg) == ["sequence_batching.iterative_sequence",
                                   "sequence_batching.oldest.preserve_ordering"]


def test_autocomplete_leaves_controls_and_states_to_the_batcher(tmp_path: Path) -> None:
    """A config without tensors gets the graph's client inputs and outputs only; the idle
    default is filled in as Triton does."""
    path = tmp_path / "model.onnx"
    path.write_bytes(accumulator().SerializeToString())
    msg = parse_text(simple_sequence_config().replace(
        'input [{ name: "INPUT" data_type: TYPE_INT32 dims: [ 1 ] }]', "").replace(
        'output [{ name: "OUTPUT" data_type: TYPE_INT32 dims: [ 1 ] }]', ""))
    complete(msg, "simple_sequence", path)
    assert [t.name for t in msg.input] == ["INPUT"]
    assert [t.name for t in msg.output] == ["OUTPUT"]
    assert msg.sequence_batching.max_sequence_idle_microseconds == SEQUENCE_IDLE_DEFAULT_US
    assert msg.WhichOneof("scheduling_choice") == "sequence_batching"


def test_autocomplete_refuses_controls_the_graph_lacks(tmp_path: Path) -> None:
    """A control input that is not a graph input, or of another type, fails at load."""
    path = tmp_path / "model.onnx"
    path.write_bytes(accumulator().SerializeToString())
    missing = parse_text(simple_sequence_config().replace('name: "READY"', 'name: "READ"'))
    with pytest.raises(ModelConfigError, match="control input 'READ' is not in the ONNX graph"):
        complete(missing, "simple_sequence", path)
    typed = parse_text(simple_sequence_config().replace(
        'name: "READY" control [{ kind: CONTROL_SEQUENCE_READY int32_false_true: [ 0, 1 ]',
        'name: "READY" control [{ kind: CONTROL_SEQUENCE_READY fp32_false_true: [ 0, 1 ]'))
    with pytest.raises(ModelConfigError, match="control input 'READY' is TYPE_FP32 in the "
                                               "config but TYPE_INT32 in the ONNX graph"):
        complete(typed, "simple_sequence", path)
