"""config.pbtxt parsing, the JSON form of ModelConfig, and the validated typed view."""

from __future__ import annotations

import contextlib
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelport.errors import ModelConfigError
from modelport.repository import pbtxt
from modelport.repository.config import (
    DynamicBatching,
    InstanceGroup,
    QueuePolicy,
    TensorSpec,
    VersionPolicy,
)

FULL = """
name: "full"
max_batch_size: 8
input [
  { name: "x" data_type: TYPE_FP32 dims: [ 3, -1 ] },
  { name: "ids" data_type: TYPE_INT64 dims: [ 16 ] }
]
output [ { name: "y" data_type: TYPE_STRING dims: [ 1 ] } ]
version_policy { specific { versions: [ 1, 3 ] } }
dynamic_batching {
  preferred_batch_size: [ 4, 2 ]
  max_queue_delay_microseconds: 100
  default_queue_policy {
    max_queue_size: 5
    default_timeout_microseconds: 7000
    timeout_action: DELAY
  }
}
instance_group [ { count: 2 kind: KIND_GPU }, { kind: KIND_CPU } ]
parameters { key: "delay_ms" value { string_value: "5" } }
parameters { key: "fail_on" value { string_value: "-1" } }
model_warmup [
  {
    name: "w"
    batch_size: 2
    count: 3
    inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 3, 1 ] zero_data: true } }
  }
]
"""

MINIMAL = """
name: "m"
input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 4 ] } ]
"""

LINE_COL = re.compile(r"\b(\d+):(\d+)\b")


def _line_of(exc: pytest.ExceptionInfo[ModelConfigError]) -> int:
    found = LINE_COL.search(str(exc.value))
    assert found, f"no line:column in {exc.value}"
    return int(found.group(1))


def _config(**fields: object) -> str:
    body = dict(
        name='"m"',
        input='[ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]',
        output='[ { name: "y" data_type: TYPE_FP32 dims: [ 4 ] } ]',
    )
    body.update({k: str(v) for k, v in fields.items()})
    return "\n".join(f"{k}: {v}" if not v.startswith("{") else f"{k} {v}"
                     for k, v in body.items() if v != "None")


# --- parse_text and to_view: what the view reads ------------------------------------------------


def test_view_of_full_config_carries_every_field() -> None:
    """Every field the server acts on reaches the typed view with its value."""
    view = pbtxt.to_view(pbtxt.parse_text(FULL))
    assert view.name == "full"
    assert view.max_batch_size == 8 and view.batching
    assert view.inputs == (TensorSpec("x", "FP32", (3, -1)), TensorSpec("ids", "INT64", (16,)))
    assert view.outputs == (TensorSpec("y", "BYTES", (1,)),)
    assert view.version_policy == VersionPolicy(kind="specific", versions=(1, 3))
    assert view.dynamic_batching == DynamicBatching(
        preferred_batch_size=(2, 4),
        max_queue_delay_us=100,
        queue=QueuePolicy(max_queue_size=5, default_timeout_us=7000, timeout_action="DELAY",
                          allow_timeout_override=False),
    )
    assert view.instance_groups == (InstanceGroup(2, "KIND_GPU"), InstanceGroup(1, "KIND_CPU"))
    assert view.instance_count == 3
    assert view.parameters == {"delay_ms": "5", "fail_on": "-1"}
    assert len(view.warmup) == 1
    warm = view.warmup[0]
    assert warm["name"] == "w" and warm["batch_size"] == 2 and warm["count"] == 3
    assert [int(d) for d in warm["inputs"]["x"]["dims"]] == [3, 1]
    assert warm["inputs"]["x"]["zero_data"] is True


def test_view_defaults_of_minimal_config() -> None:
    """Without the optional blocks the view has no batching, latest-1 policy, one CPU instance."""
    view = pbtxt.to_view(pbtxt.parse_text(MINIMAL))
    assert view.max_batch_size == 0 and not view.batching
    assert view.dynamic_batching is None
    assert view.version_policy == VersionPolicy(kind="latest", num_versions=1)
    assert view.instance_groups == (InstanceGroup(),)
    assert view.parameters == {}
    assert view.warmup == ()
    assert view.platform == "onnxruntime_onnx" and view.backend == "onnxruntime"
    assert view.default_model_filename == "model.onnx"
    assert view.full_shape(view.inputs[0]) == [4]


def test_full_shape_puts_batch_dimension_first_when_batching() -> None:
    """The protocol shape of a batched tensor starts with -1."""
    view = pbtxt.to_view(pbtxt.parse_text(FULL))
    assert view.full_shape(view.inputs[0]) == [-1, 3, -1]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("{ latest { num_versions: 2 } }", VersionPolicy(kind="latest", num_versions=2)),
        ("{ latest { } }", VersionPolicy(kind="latest", num_versions=1)),
        ("{ all { } }", VersionPolicy(kind="all")),
        ("{ specific { versions: 7 } }", VersionPolicy(kind="specific", versions=(7,))),
    ],
)
def test_version_policy_kinds(policy: str, expected: VersionPolicy) -> None:
    """latest (num_versions, at least 1), all and specific policies parse to the view."""
    view = pbtxt.to_view(pbtxt.parse_text(_config(version_policy=policy)))
    assert view.version_policy == expected


@pytest.mark.parametrize(
    ("policy", "selected"),
    [
        (VersionPolicy(kind="latest", num_versions=2), [3, 10]),
        (VersionPolicy(kind="latest", num_versions=9), [1, 2, 3, 10]),
        (VersionPolicy(kind="all"), [1, 2, 3, 10]),
        (VersionPolicy(kind="specific", versions=(2, 5)), [2]),
    ],
)
def test_version_policy_select(policy: VersionPolicy, selected: list[int]) -> None:
    """select() orders numerically (10 after 3) and applies the policy."""
    assert policy.select([10, 2, 1, 3]) == selected


def test_dynamic_batching_empty_block_uses_defaults() -> None:
    """An empty dynamic_batching block turns batching on with no delay and an unbounded queue."""
    view = pbtxt.to_view(pbtxt.parse_text(_config(max_batch_size=4, dynamic_batching="{ }")))
    assert view.dynamic_batching == DynamicBatching()
    assert view.dynamic_batching.queue.timeout_action == "REJECT"


def test_instance_group_count_zero_means_one() -> None:
    """An instance group without a count creates one instance, as in Triton."""
    view = pbtxt.to_view(pbtxt.parse_text(_config(instance_group="[ { kind: KIND_CPU } ]")))
    assert view.instance_groups == (InstanceGroup(1, "KIND_CPU"),)


def test_backend_and_platform_are_kept() -> None:
    """backend: "fake" and a custom default_model_filename reach the view."""
    view = pbtxt.to_view(pbtxt.parse_text(
        _config(backend='"fake"', default_model_filename='"net.onnx"')))
    assert view.backend == "fake"
    assert view.default_model_filename == "net.onnx"


# --- syntax errors -------------------------------------------------------------------------------


def test_syntax_error_names_the_line() -> None:
    """A missing brace is reported as ModelConfigError with the line it was found on."""
    text = 'name: "m"\nmax_batch_size: 8\ninput [ { name: "x" \n'
    with pytest.raises(ModelConfigError) as exc:
        pbtxt.parse_text(text, "models/m/config.pbtxt")
    assert str(exc.value).startswith("models/m/config.pbtxt: ")
    assert _line_of(exc) >= 3


def test_unknown_field_names_field_and_line() -> None:
    """A misspelt field is rejected with its name and its line."""
    text = 'name: "m"\nmax_batch_size: 8\nmax_batch_sise: 4\n'
    with pytest.raises(ModelConfigError, match="max_batch_sise") as exc:
        pbtxt.parse_text(text)
    assert _line_of(exc) == 3


def test_wrong_value_type_names_the_line() -> None:
    """A string where an integer belongs fails on its line."""
    with pytest.raises(ModelConfigError) as exc:
        pbtxt.parse_text('name: "m"\n\nmax_batch_size: "eight"\n')
    assert _line_of(exc) == 3


def test_unknown_enum_value_is_rejected() -> None:
    """A data_type that is not a Triton DataType is a parse error naming it."""
    with pytest.raises(ModelConfigError, match="TYPE_FLOAT32"):
        pbtxt.parse_text('input [ { name: "x" data_type: TYPE_FLOAT32 dims: [1] } ]')


def test_out_of_range_integer_is_rejected() -> None:
    """max_batch_size beyond int32 is a ModelConfigError, not an overflow."""
    with pytest.raises(ModelConfigError, match=r"1:"):
        pbtxt.parse_text("max_batch_size: 99999999999")


def test_two_version_policies_are_rejected() -> None:
    """latest and all together break the oneof and are reported."""
    with pytest.raises(ModelConfigError, match=r"latest|all"):
        pbtxt.parse_text("version_policy { latest { } all { } }")


@settings(deadline=None)
@given(st.text(max_size=200))
def test_parse_text_raises_only_model_config_error(text: str) -> None:
    """Arbitrary text either parses or raises ModelConfigError, never anything else."""
    with contextlib.suppress(ModelConfigError):
        pbtxt.parse_text(text)


# --- JSON form -----------------------------------------------------------------------------------


def test_to_json_gives_64_bit_integers_as_numbers() -> None:
    """dims, versions and microsecond fields are JSON numbers, not proto3 JSON strings."""
    data = pbtxt.to_json(pbtxt.parse_text(FULL))
    assert data["input"][0]["dims"] == [3, -1]
    assert data["version_policy"]["specific"]["versions"] == [1, 3]
    assert data["dynamic_batching"]["max_queue_delay_microseconds"] == 100
    queue = data["dynamic_batching"]["default_queue_policy"]
    assert queue["default_timeout_microseconds"] == 7000
    assert queue["max_queue_size"] == 5
    assert data["model_warmup"][0]["inputs"]["x"]["dims"] == [3, 1]
    assert data["max_batch_size"] == 8
    assert data["parameters"] == {"delay_ms": {"string_value": "5"},
                                  "fail_on": {"string_value": "-1"}}


def test_to_json_uses_proto_field_names_and_enum_names() -> None:
    """Keys are snake_case proto names and enums are their names, as Triton serves them."""
    data = pbtxt.to_json(pbtxt.parse_text(FULL))
    assert "max_batch_size" in data and "maxBatchSize" not in data
    assert data["input"][0]["data_type"] == "TYPE_FP32"
    assert data["instance_group"][0]["kind"] == "KIND_GPU"
    assert data["dynamic_batching"]["default_queue_policy"]["timeout_action"] == "DELAY"


def test_to_json_converts_int64_inside_maps_and_nested_messages() -> None:
    """64-bit values nested in map values (priority queues, cuda graph shapes) become numbers."""
    text = """
    dynamic_batching {
      priority_levels: 2
      priority_queue_policy { key: 1 value { default_timeout_microseconds: 9007199254740993 } }
    }
    optimization { cuda { graph_spec [
      { batch_size: 2 input { key: "x" value { dim: [3, 4] } } }
    ] } }
    """
    data = pbtxt.to_json(pbtxt.parse_text(text))
    db = data["dynamic_batching"]
    assert db["priority_levels"] == 2
    assert db["priority_queue_policy"]["1"]["default_timeout_microseconds"] == 9007199254740993
    assert data["optimization"]["cuda"]["graph_spec"][0]["input"]["x"]["dim"] == [3, 4]


def test_to_json_is_json_serializable_and_round_trips_through_text() -> None:
    """json.dumps accepts to_json's output and parse_json reads it back to the same message."""
    msg = pbtxt.parse_text(FULL)
    assert pbtxt.parse_json(json.dumps(pbtxt.to_json(msg))) == msg
    assert pbtxt.parse_json(pbtxt.to_json(msg)) == msg


def test_to_text_round_trips() -> None:
    """parse_text(to_text(msg)) gives the message back."""
    msg = pbtxt.parse_text(FULL)
    assert pbtxt.parse_text(pbtxt.to_text(msg)) == msg


def test_parse_json_accepts_camel_case_names() -> None:
    """Protobuf's JSON parser also takes lowerCamelCase keys, as tritonclient may send."""
    msg = pbtxt.parse_json({"name": "m", "maxBatchSize": 4})
    assert msg.max_batch_size == 4


@pytest.mark.parametrize(
    "data",
    [
        {"bogus": 1},
        {"name": 1},
        {"max_batch_size": "abc"},
        {"input": 5},
        {"input": [{"dims": ["x"]}]},
        '{"max_batch_size": 1e30}',
        "{not json",
        "[1]",
        "null",
    ],
)
def test_parse_json_rejects_bad_config_with_model_config_error(data: object) -> None:
    """Malformed or mistyped JSON configs raise ModelConfigError naming the source."""
    with pytest.raises(ModelConfigError, match=r"^load request: "):
        pbtxt.parse_json(data, "load request")  # type: ignore[arg-type]


INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
UINT64 = st.integers(min_value=0, max_value=2**64 - 1)
INT32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)


@settings(deadline=None)
@given(
    dims=st.lists(INT64, max_size=6),
    max_batch=INT32,
    preferred=st.lists(INT32, max_size=4),
    delay=UINT64,
    timeout=UINT64,
    versions=st.lists(INT64, max_size=4),
)
def test_json_round_trip(dims: list[int], max_batch: int, preferred: list[int], delay: int,
                         timeout: int, versions: list[int]) -> None:
    """parse_json(to_json(msg)) == msg, with every integer a JSON number equal to the original."""
    msg = pbtxt.Message(name="m", max_batch_size=max_batch)
    msg.input.add(name="x", data_type=11, dims=dims)
    msg.dynamic_batching.preferred_batch_size.extend(preferred)
    msg.dynamic_batching.max_queue_delay_microseconds = delay
    msg.dynamic_batching.default_queue_policy.default_timeout_microseconds = timeout
    msg.version_policy.specific.versions.extend(versions)
    data = pbtxt.to_json(msg)
    assert data["input"][0].get("dims", []) == dims
    assert data["dynamic_batching"].get("preferred_batch_size", []) == preferred
    assert data["version_policy"]["specific"].get("versions", []) == versions
    assert pbtxt.parse_json(data) == msg
    assert pbtxt.parse_json(json.dumps(data)) == msg


# --- to_view validation --------------------------------------------------------------------------


def _view_error(text: str) -> str:
    with pytest.raises(ModelConfigError) as exc:
        pbtxt.to_view(pbtxt.parse_text(text))
    return str(exc.value)


def test_duplicate_input_names_are_rejected() -> None:
    """Two inputs with one name are named in the error."""
    message = _view_error(_config(input='[ { name: "x" data_type: TYPE_FP32 dims: [1] }, '
                                        '{ name: "x" data_type: TYPE_FP32 dims: [2] } ]'))
    assert "duplicate input" in message and "'x'" in message


def test_duplicate_output_names_are_rejected() -> None:
    """Two outputs with one name are named in the error."""
    message = _view_error(_config(output='[ { name: "y" data_type: TYPE_FP32 dims: [1] }, '
                                         '{ name: "y" data_type: TYPE_FP32 dims: [1] } ]'))
    assert "duplicate output" in message and "'y'" in message


@pytest.mark.parametrize("missing", ["input", "output"])
def test_config_without_inputs_or_outputs_is_rejected(missing: str) -> None:
    """A model needs at least one input and one output."""
    message = _view_error(_config(**{missing: "None"}))
    assert "at least one input and one output" in message


@pytest.mark.parametrize("preferred", ["[ 16 ]", "[ 0 ]", "[ 2, -1 ]"])
def test_preferred_batch_size_outside_range_is_rejected(preferred: str) -> None:
    """Preferred batch sizes must lie in 1..max_batch_size."""
    message = _view_error(_config(max_batch_size=8,
                                  dynamic_batching=f"{{ preferred_batch_size: {preferred} }}"))
    assert "preferred_batch_size" in message and "max_batch_size (8)" in message


def test_negative_max_batch_size_is_rejected() -> None:
    """max_batch_size below zero is an error."""
    assert "max_batch_size must be >= 0" in _view_error(_config(max_batch_size=-1))


@pytest.mark.parametrize("data_type", ["TYPE_BF16", "TYPE_INVALID"])
def test_unsupported_data_type_is_rejected(data_type: str) -> None:
    """A data_type the protocol mapping lacks (or none at all) names tensor and type."""
    message = _view_error(_config(input=f'[ {{ name: "x" data_type: {data_type} dims: [1] }} ]'))
    assert "input 'x'" in message and data_type in message


@pytest.mark.parametrize("dims", ["[ 0, 3 ]", "[ -2 ]", "[ 4, 0 ]"])
def test_invalid_dims_are_rejected(dims: str) -> None:
    """Zero-size and below -1 dims are errors naming the tensor."""
    message = _view_error(_config(output=f'[ {{ name: "y" data_type: TYPE_FP32 dims: {dims} }} ]'))
    assert "output 'y'" in message and "invalid dims" in message


@pytest.mark.parametrize("counts", ["[ { count: -3 } ]", "[ { count: -3 }, { count: 1 } ]",
                                    "[ { count: 0 } ]"])
def test_instance_counts_below_one_mean_one(counts: str) -> None:
    """An instance group count below 1 is one instance, as Triton normalizes it (found by
    fuzzing: -3 made no instance at all, and requests waited on a queue nobody served)."""
    view = pbtxt.to_view(pbtxt.parse_text(_config(instance_group=counts)))
    assert view.instance_count >= 1 and all(g.count == 1 for g in view.instance_groups[:1])


@pytest.mark.parametrize("field", ['input [ { name: "x" data_type: 32 dims: [1] } ]',
                                   "instance_group [ { kind: 9 } ]",
                                   'input [ { name: "x" data_type: 2147483648 } ]',
                                   "dynamic_batching { default_queue_policy "
                                   "{ timeout_action: 7 } }"])
def test_enum_numbers_the_schema_lacks_are_refused(field: str) -> None:
    """Enum numbers without a name are refused at parse time, naming the field."""
    key, _, value = field.partition(" ")
    with pytest.raises(ModelConfigError, match=r"does not name|out of range"):
        pbtxt.parse_text(f"{key} {value}" if value.startswith("{") else field)


def test_error_names_the_model() -> None:
    """Validation errors start with the model's name."""
    assert _view_error(_config(name='"resnet"', max_batch_size=-3)).startswith("model 'resnet'")


@pytest.mark.parametrize(("policy", "requested", "expected"), [
    ("", 5_000, 5_000),  # no queue policy block: the request's own timeout (modelport's rule)
    ("default_queue_policy { default_timeout_microseconds: 100000 }", 5_000, 100_000),
    ("default_queue_policy { default_timeout_microseconds: 100000 "
     "allow_timeout_override: true }", 5_000, 5_000),
    ("default_queue_policy { default_timeout_microseconds: 100000 "
     "allow_timeout_override: true }", 500_000, 100_000),  # may shorten, never lengthen
    ("default_queue_policy { default_timeout_microseconds: 100000 "
     "allow_timeout_override: true }", 0, 100_000),
])
def test_request_timeout_follows_tritons_override_rule(policy: str, requested: int,
                                                       expected: int) -> None:
    """allow_timeout_override as Triton reads it: off by default in a queue policy block; a
    request may only shorten the default."""
    view = pbtxt.to_view(pbtxt.parse_text(
        'name: "m" max_batch_size: 4 input [{ name: "x" data_type: TYPE_FP32 dims: [ 1 ] }] '
        'output [{ name: "y" data_type: TYPE_FP32 dims: [ 1 ] }] '
        f'dynamic_batching {{ {policy} }}'))
    assert view.dynamic_batching is not None
    assert view.dynamic_batching.queue.timeout_for(requested) == expected
