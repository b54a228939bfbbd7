"""Stateful ONNX models for the sequence batcher, in Triton's example layout, built with
onnx.helper. Each keeps its running sum in implicit state (ONNX Runtime has no state of its
own): OUTPUT_STATE of one request comes back as INPUT_STATE of the next.

- ``simple_sequence``: Triton's accumulator. INPUT INT32 [1]; START and READY (INT32 0/1);
  OUTPUT = READY * (INPUT + (1 - START) * INPUT_STATE). Direct strategy.
- ``string_sequence``: CORRID TYPE_STRING, START and END as BOOL, Oldest strategy. OUTPUT is
  the running sum, CORRID_OUT echoes the correlation ID, END_OUT the END flag (INT32).
- ``dyna_sequence``: Triton's simple_dyna_sequence: START/END/READY as FP32, CORRID UINT64,
  Oldest. OUTPUT is the running sum, plus the correlation ID on the END request.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

from support.models import _finish, write_model

INT32 = TensorProto.INT32


def _io(name: str, elem: int, batch: bool) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, ["batch", 1] if batch else [1])


def accumulator(batch: bool = True) -> onnx.ModelProto:
    """``simple_sequence``: the running sum of INPUT within a sequence, via implicit state."""
    inputs = [_io(n, INT32, batch) for n in ("INPUT", "START", "READY", "INPUT_STATE")]
    outputs = [_io(n, INT32, batch) for n in ("OUTPUT", "OUTPUT_STATE")]
    one = helper.make_tensor("one", INT32, [], [1])
    nodes = [helper.make_node("Sub", ["one", "START"], ["carry"]),
             helper.make_node("Mul", ["carry", "INPUT_STATE"], ["kept"]),
             helper.make_node("Add", ["INPUT", "kept"], ["sum"]),
             helper.make_node("Mul", ["sum", "READY"], ["OUTPUT"]),
             helper.make_node("Identity", ["OUTPUT"], ["OUTPUT_STATE"])]
    return _finish(helper.make_graph(nodes, "simple_sequence", inputs, outputs,
                                     initializer=[one]))


def string_corrid() -> onnx.ModelProto:
    """``string_sequence``: running sum, and the CORRID and END it was fed, per row."""
    inputs = [_io("INPUT", INT32, True), _io("START", TensorProto.BOOL, True),
              _io("END", TensorProto.BOOL, True), _io("CORRID", TensorProto.STRING, True),
              _io("INPUT_STATE", INT32, True)]
    outputs = [_io("OUTPUT", INT32, True), _io("OUTPUT_STATE", INT32, True),
               _io("CORRID_OUT", TensorProto.STRING, True), _io("END_OUT", INT32, True)]
    nodes = [helper.make_node("Not", ["START"], ["going"]),
             helper.make_node("Cast", ["going"], ["carry"], to=INT32),
             helper.make_node("Mul", ["carry", "INPUT_STATE"], ["kept"]),
             helper.make_node("Add", ["INPUT", "kept"], ["OUTPUT"]),
             helper.make_node("Identity", ["OUTPUT"], ["OUTPUT_STATE"]),
             helper.make_node("Identity", ["CORRID"], ["CORRID_OUT"]),
             helper.make_node("Cast", ["END"], ["END_OUT"], to=INT32)]
    return _finish(helper.make_graph(nodes, "string_sequence", inputs, outputs))


def dyna() -> onnx.ModelProto:
    """``dyna_sequence``: running sum; the END request adds its correlation ID."""
    flt = TensorProto.FLOAT
    inputs = [_io("INPUT", INT32, True), _io("START", flt, True), _io("END", flt, True),
              _io("READY", flt, True), _io("CORRID", TensorProto.UINT64, True),
              _io("INPUT_STATE", INT32, True)]
    outputs = [_io("OUTPUT", INT32, True), _io("OUTPUT_STATE", INT32, True)]
    one = helper.make_tensor("one", flt, [], [1.0])
    nodes = [helper.make_node("Sub", ["one", "START"], ["carry_f"]),
             helper.make_node("Cast", ["carry_f"], ["carry"], to=INT32),
             helper.make_node("Mul", ["carry", "INPUT_STATE"], ["kept"]),
             helper.make_node("Add", ["INPUT", "kept"], ["sum"]),
             helper.make_node("Cast", ["END"], ["end_i"], to=INT32),
             helper.make_node("Cast", ["CORRID"], ["corrid_i"], to=INT32),
             helper.make_node("Mul", ["end_i", "corrid_i"], ["bonus"]),
             helper.make_node("Add", ["sum", "bonus"], ["total"]),
             helper.make_node("Cast", ["READY"], ["ready_i"], to=INT32),
             helper.make_node("Mul", ["total", "ready_i"], ["OUTPUT"]),
             helper.make_node("Identity", ["sum"], ["OUTPUT_STATE"])]
    return _finish(helper.make_graph(nodes, "dyna_sequence", inputs, outputs,
                                     initializer=[one]))


def _control(name: str, kind: str, values: str) -> str:
    return f'{{ name: "{name}" control [{{ kind: {kind} {values} }}] }}'


STATE = ('state [{ input_name: "INPUT_STATE" output_name: "OUTPUT_STATE" '
         'data_type: TYPE_INT32 dims: [ 1 ] %s }]')
ZERO_STATE = STATE % ('initial_state: { data_type: TYPE_INT32 dims: [ 1 ] zero_data: true '
                      'name: "zero" }')
INT_FLAGS = "int32_false_true: [ 0, 1 ]"


def simple_sequence_config(name: str = "simple_sequence", max_batch_size: int = 8,
                           instances: int = 1, extra: str = "", state: str = ZERO_STATE,
                           parameters: str = "") -> str:
    """config.pbtxt of the accumulator (Direct); ``extra`` goes into sequence_batching."""
    controls = ", ".join([_control("START", "CONTROL_SEQUENCE_START", INT_FLAGS),
                          _control("READY", "CONTROL_SEQUENCE_READY", INT_FLAGS)])
    return f"""
name: "{name}"
platform: "onnxruntime_onnx"
max_batch_size: {max_batch_size}
sequence_batching {{
  {extra}
  control_input [ {controls} ]
  {state}
}}
input [{{ name: "INPUT" data_type: TYPE_INT32 dims: [ 1 ] }}]
output [{{ name: "OUTPUT" data_type: TYPE_INT32 dims: [ 1 ] }}]
instance_group [{{ count: {instances} kind: KIND_CPU }}]
{parameters}
"""


STRING_CONFIG = f"""
name: "string_sequence"
max_batch_size: 4
sequence_batching {{
  max_sequence_idle_microseconds: 5000000
  oldest {{ max_candidate_sequences: 8 preferred_batch_size: [ 4 ]
            max_queue_delay_microseconds: 20000 }}
  control_input [
    {_control("START", "CONTROL_SEQUENCE_START", "bool_false_true: [ false, true ]")},
    {_control("END", "CONTROL_SEQUENCE_END", "bool_false_true: [ false, true ]")},
    {_control("CORRID", "CONTROL_SEQUENCE_CORRID", "data_type: TYPE_STRING")}
  ]
  {ZERO_STATE}
}}
input [{{ name: "INPUT" data_type: TYPE_INT32 dims: [ 1 ] }}]
output [
  {{ name: "OUTPUT" data_type: TYPE_INT32 dims: [ 1 ] }},
  {{ name: "CORRID_OUT" data_type: TYPE_STRING dims: [ 1 ] }},
  {{ name: "END_OUT" data_type: TYPE_INT32 dims: [ 1 ] }}
]
"""

FP_FLAGS = "fp32_false_true: [ 0, 1 ]"
DYNA_CONFIG = f"""
name: "dyna_sequence"
platform: "onnxruntime_onnx"
max_batch_size: 8
sequence_batching {{
  max_sequence_idle_microseconds: 10000000
  oldest {{ max_candidate_sequences: 1024 max_queue_delay_microseconds: 10000 }}
  control_input [
    {_control("START", "CONTROL_SEQUENCE_START", FP_FLAGS)},
    {_control("END", "CONTROL_SEQUENCE_END", FP_FLAGS)},
    {_control("READY", "CONTROL_SEQUENCE_READY", FP_FLAGS)},
    {_control("CORRID", "CONTROL_SEQUENCE_CORRID", "data_type: TYPE_UINT64")}
  ]
  {STATE % ""}
}}
input [{{ name: "INPUT" data_type: TYPE_INT32 dims: [ 1 ] }}]
output [{{ name: "OUTPUT" data_type: TYPE_INT32 dims: [ 1 ] }}]
instance_group [{{ count: 2 kind: KIND_CPU }}]
"""


def write_sequence_models(repo: Path) -> Path:
    """simple_sequence (and its unbatched twin), string_sequence and dyna_sequence."""
    write_model(repo, "simple_sequence", accumulator(), config=simple_sequence_config(
        instances=2))
    write_model(repo, "simple_sequence_nobatch", accumulator(batch=False),
                config=simple_sequence_config("simple_sequence_nobatch", max_batch_size=0))
    write_model(repo, "string_sequence", string_corrid(), config=STRING_CONFIG)
    write_model(repo, "dyna_sequence", dyna(), config=DYNA_CONFIG)
    return repo
