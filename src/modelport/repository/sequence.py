"""Triton's ``sequence_batching`` block: its typed view, validated with Triton's words.

The sequence batcher feeds a stateful model its control tensors (START, END, READY, CORRID)
and, with implicit state, the state a sequence's previous request produced. The controls and
state inputs are graph inputs the client never sends, and state outputs are graph outputs the
client sees only when the config also lists them as outputs; ``graph_extras`` names them so
auto-completion leaves them out of the client's inputs and outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from modelport.datatypes import BY_CONFIG
from modelport.errors import ModelConfigError
from modelport.repository import model_config_pb2

ControlKind = Literal["START", "END", "READY", "CORRID"]
Strategy = Literal["direct", "oldest"]

SEQUENCE_IDLE_DEFAULT_US = 1_000_000  # Triton's default max_sequence_idle_microseconds
BACKLOG_PARAMETER = "max_sequence_backlog"
_KINDS: dict[str, ControlKind] = {
    "CONTROL_SEQUENCE_START": "START", "CONTROL_SEQUENCE_END": "END",
    "CONTROL_SEQUENCE_READY": "READY", "CONTROL_SEQUENCE_CORRID": "CORRID",
}
_FLAGS = ("int32_false_true", "fp32_false_true", "bool_false_true")
_FLAG_TYPES = {"int32_false_true": "INT32", "fp32_false_true": "FP32", "bool_false_true": "BOOL"}
_CORRID_TYPES = ("TYPE_UINT64", "TYPE_INT64", "TYPE_UINT32", "TYPE_INT32", "TYPE_STRING")


@dataclass(frozen=True)
class Control:
    """One control tensor: which signal, the graph input it feeds, its protocol datatype and,
    for START/END/READY, the values meaning false and true."""

    kind: ControlKind
    input: str
    datatype: str
    false_true: tuple[float, float] | tuple[int, int] | tuple[bool, bool] = (0, 1)


@dataclass(frozen=True)
class InitialState:
    """Where a sequence's first state comes from: zeros or a raw file in ``initial_state/``."""

    name: str
    dims: tuple[int, ...]
    zero_data: bool = True
    data_file: str = ""


@dataclass(frozen=True)
class StateSpec:
    """An implicit state: ``output_name`` of one request feeds ``input_name`` of the next."""

    input_name: str
    output_name: str
    datatype: str
    dims: tuple[int, ...]
    initial: InitialState | None = None


@dataclass(frozen=True)
class SequenceBatching:
    """The sequence batcher's settings (Direct or Oldest strategy)."""

    strategy: Strategy = "direct"
    max_idle_us: int = SEQUENCE_IDLE_DEFAULT_US
    controls: tuple[Control, ...] = ()
    states: tuple[StateSpec, ...] = ()
    max_queue_delay_us: int = 0
    minimum_slot_utilization: float = 0.0  # direct
    max_candidate_sequences: int = 0  # oldest; 0: max(max_batch_size, 1)
    preferred_batch_size: tuple[int, ...] = ()  # oldest
    # modelport's parameter max_sequence_backlog: sequences that may wait for a slot (0: no
    # limit, as in Triton)
    max_backlog: int = 0

    def control(self, kind: ControlKind) -> Control | None:
        """The control of ``kind``, if the model takes it."""
        return next((c for c in self.controls if c.kind == kind), None)

    def slots_per_instance(self, max_batch_size: int) -> int:
        """How many sequences one instance holds at a time (Triton's sequence slots)."""
        if self.strategy == "oldest" and self.max_candidate_sequences > 0:
            return self.max_candidate_sequences
        return max(max_batch_size, 1)


def graph_extras(msg: Any) -> tuple[set[str], set[str]]:
    """Graph inputs and outputs the sequence batcher feeds and reads (not the client's)."""
    if not msg.HasField("sequence_batching"):
        return set(), set()
    sb = msg.sequence_batching
    inputs = {ci.name for ci in sb.control_input} | {s.input_name for s in sb.state}
    return inputs, {s.output_name for s in sb.state}


def normalize(msg: Any) -> None:
    """Fill Triton's defaults into the message the config routes return."""
    if not msg.HasField("sequence_batching"):
        return
    if not msg.sequence_batching.max_sequence_idle_microseconds:
        msg.sequence_batching.max_sequence_idle_microseconds = SEQUENCE_IDLE_DEFAULT_US


def sequence_batching(msg: Any) -> SequenceBatching | None:
    """The typed view of ``msg.sequence_batching`` (None without one).

    Raises:
        ModelConfigError: a control, state or strategy setting Triton would refuse.
    """
    if not msg.HasField("sequence_batching"):
        return None
    sb, name = msg.sequence_batching, msg.name
    controls = _controls(sb, name)
    states = tuple(_state(s, name, msg.max_batch_size) for s in sb.state)
    _check_names(name, msg, controls, states)
    view = SequenceBatching(
        strategy="oldest" if sb.HasField("oldest") else "direct",
        max_idle_us=int(sb.max_sequence_idle_microseconds) or SEQUENCE_IDLE_DEFAULT_US,
        controls=controls, states=states, max_backlog=_max_backlog(msg))
    if sb.HasField("oldest"):
        return _oldest(view, sb.oldest, name, msg.max_batch_size)
    return _direct(view, sb.direct, name)


def _max_backlog(msg: Any) -> int:
    entry = msg.parameters.get(BACKLOG_PARAMETER)
    raw = entry.string_value if entry is not None else "0"
    if not (raw.isascii() and raw.isdigit()):
        raise ModelConfigError(f"model '{msg.name}': parameter {BACKLOG_PARAMETER} must be a "
                               f"non-negative integer (sequences that may wait for a slot; 0 "
                               f"for no limit), got '{raw}'")
    return int(raw)


def _direct(view: SequenceBatching, direct: Any, model: str) -> SequenceBatching:
    utilization = float(direct.minimum_slot_utilization)
    if not 0.0 <= utilization <= 1.0:
        raise ModelConfigError("sequence batching minimum slot utilization must be in range "
                               f"(0.0, 1.0] for {model}")
    return replace(view, max_queue_delay_us=int(direct.max_queue_delay_microseconds),
                    minimum_slot_utilization=utilization)


def _oldest(view: SequenceBatching, oldest: Any, model: str,
            max_batch_size: int) -> SequenceBatching:
    preferred = tuple(sorted(int(b) for b in oldest.preferred_batch_size))
    if any(b <= 0 for b in preferred):
        raise ModelConfigError(f"sequence batching preferred batch size must be positive for "
                               f"{model}")
    if any(b > max_batch_size for b in preferred):
        raise ModelConfigError(f"sequence batching preferred batch size must be <= max batch "
                               f"size for {model}")
    return replace(view, max_queue_delay_us=int(oldest.max_queue_delay_microseconds),
                    max_candidate_sequences=max(int(oldest.max_candidate_sequences), 0),
                    preferred_batch_size=preferred)


def _controls(sb: Any, model: str) -> tuple[Control, ...]:
    controls: list[Control] = []
    seen: set[str] = set()
    for ci in sb.control_input:
        if not ci.name:
            raise ModelConfigError(f"sequence batching control tensor must have a name for "
                                   f"{model}")
        if ci.name in seen or len(ci.control) > 1:
            raise ModelConfigError(f"sequence batching control tensor '{ci.name}' is specified "
                                   f"for multiple control kinds for {model}")
        seen.add(ci.name)
        controls.extend(_control(ci.name, c, model) for c in ci.control)
    for kind_name, kind in _KINDS.items():
        if sum(c.kind == kind for c in controls) > 1:
            raise ModelConfigError(f"sequence batching specifies multiple {kind_name} tensors "
                                   f"for {model}")
    return tuple(controls)


def _control(tensor: str, c: Any, model: str) -> Control:
    kind_name = model_config_pb2.ModelSequenceBatching.Control.Kind.Name(c.kind)
    given = [f for f in _FLAGS if len(getattr(c, f))]
    where = f"for {kind_name} for {model}"
    if _KINDS[kind_name] == "CORRID":
        return _corrid(tensor, c, given, where, model)
    if not given:
        raise ModelConfigError("sequence batching must specify either 'int32_false_true', "
                               f"'fp32_false_true' or 'bool_false_true' {where}")
    if len(given) > 1:
        raise ModelConfigError("sequence batching specifies more than one from "
                               "'int32_false_true', 'fp32_false_true' and 'bool_false_true' "
                               f"{where}")
    values = list(getattr(c, given[0]))
    if len(values) != 2:
        raise ModelConfigError(f"sequence batching control '{given[0]}' must have exactly 2 "
                               f"entries {where}")
    pair = (values[0], values[1])
    return Control(_KINDS[kind_name], tensor, _FLAG_TYPES[given[0]], pair)


def _corrid(tensor: str, c: Any, given: list[str], where: str, model: str) -> Control:
    if given:
        raise ModelConfigError("sequence batching must not specify either 'int32_false_true', "
                               f"'fp32_false_true' or 'bool_false_true' {where}")
    type_name = model_config_pb2.DataType.Name(c.data_type)
    if type_name not in _CORRID_TYPES:
        raise ModelConfigError(
            f"unexpected data type for control CONTROL_SEQUENCE_CORRID for {model}. Allowed "
            "data types are TYPE_UINT64, TYPE_INT64, TYPE_UINT32, TYPE_INT32 and TYPE_STRING")
    return Control("CORRID", tensor, BY_CONFIG[type_name].name)


def _state(s: Any, model: str, max_batch_size: int) -> StateSpec:
    type_name = model_config_pb2.DataType.Name(s.data_type)
    dt = BY_CONFIG.get(type_name)
    if not s.input_name or not s.output_name or dt is None:
        raise ModelConfigError(f"model '{model}': each sequence_batching state needs "
                               "input_name, output_name and a data_type")
    if any(d < -1 or d == 0 for d in s.dims):
        raise ModelConfigError(f"model '{model}': state '{s.input_name}' has invalid dims "
                               f"{list(s.dims)}")
    if len(s.initial_state) > 1:
        raise ModelConfigError(
            f"initial_state field for state input '{s.input_name}' must contain exactly one "
            f"or zero element. Found '{len(s.initial_state)}' elements.")
    initial = _initial(s, s.initial_state[0]) if s.initial_state else None
    return StateSpec(s.input_name, s.output_name, dt.name, tuple(int(d) for d in s.dims),
                     initial)


def _initial(s: Any, init: Any) -> InitialState:
    name = s.input_name
    if init.data_type != s.data_type:
        raise ModelConfigError(f"The data type used for 'initial_state' field of state '{name}' "
                               "does not match the state data type.")
    if not init.name:
        raise ModelConfigError(f"Field 'name' must be set when using initial_state for state "
                               f"input '{name}'.")
    if len(init.dims) != len(s.dims):
        raise ModelConfigError(
            "Number of dimensions in 'initial_state' doesn't match the size of 'state' "
            f"dimensions for state input '{name}'. {len(init.dims)} != {len(s.dims)}")
    for given, declared in zip(init.dims, s.dims, strict=True):
        if given == -1:
            raise ModelConfigError(f"'initial_state' field for state input name '{name}' "
                                   "contains variable dimensions.")
        if declared != -1 and given != declared:
            raise ModelConfigError(f"'initial_state' dim for input name '{name}' doesn't match "
                                   f"'state' dim description. {given} != {declared}")
    choice = init.WhichOneof("state_data")
    if choice is None:
        raise ModelConfigError(f"initial_state setting expects state'{name}' to have "
                               "state_data set")
    return InitialState(init.name, tuple(int(d) for d in init.dims),
                        zero_data=choice == "zero_data", data_file=init.data_file)


def _check_names(model: str, msg: Any, controls: tuple[Control, ...],
                 states: tuple[StateSpec, ...]) -> None:
    """Controls and state inputs are fed by the batcher: no client input may share a name."""
    fed = [c.input for c in controls] + [s.input_name for s in states]
    listed = {t.name for t in msg.input}
    for name in fed:
        if name in listed:
            raise ModelConfigError(f"model '{model}': '{name}' is a sequence_batching control "
                                   "or state input, so it cannot also be listed under input")
        if fed.count(name) > 1:
            raise ModelConfigError(f"State input name '{name}' specified more than once.")


def check_graph(msg: Any, graph_inputs: dict[str, str], graph_outputs: dict[str, str]) -> None:
    """The controls and states the config names must be graph tensors of the same type
    (``graph_*``: name -> config type name, e.g. TYPE_INT32).

    Raises:
        ModelConfigError: one is missing from the graph or has another datatype.
    """
    view = sequence_batching(msg)
    if view is None:
        return
    wanted = [(c.input, c.datatype, f"control input '{c.input}'", graph_inputs)
              for c in view.controls]
    for s in view.states:
        wanted.append((s.input_name, s.datatype, f"state input '{s.input_name}'", graph_inputs))
        wanted.append((s.output_name, s.datatype, f"state output '{s.output_name}'",
                       graph_outputs))
    for name, datatype, what, graph in wanted:
        _check_in_graph(msg.name, name, datatype, what, graph)


def _check_in_graph(model: str, name: str, datatype: str, what: str,
                    graph: dict[str, str]) -> None:
    found = graph.get(name)
    if found is None:
        names = ", ".join(graph) or "none"
        raise ModelConfigError(f"model '{model}': sequence_batching {what} is not in the ONNX "
                               f"graph (graph tensors: {names})")
    expected = next(d.config for d in BY_CONFIG.values() if d.name == datatype)
    if found != expected:
        raise ModelConfigError(f"model '{model}': sequence_batching {what} is {expected} in "
                               f"the config but {found} in the ONNX graph")
