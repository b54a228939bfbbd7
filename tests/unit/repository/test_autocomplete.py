"""Completing a model's config from its ONNX graph, and rejecting configs that contradict it."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper
from support.models import add_model, identity_model

from modelport.datatypes import BY_NAME
from modelport.errors import ModelConfigError
from modelport.repository import pbtxt
from modelport.repository.autocomplete import DEFAULT_MAX_BATCH_SIZE, complete, read_signature


def _graph(inputs: dict[str, list[int | str]], outputs: dict[str, list[int | str]],
           elem: int = TensorProto.FLOAT) -> onnx.ModelProto:
    """Identity from each input to the output at the same position (names are free)."""
    ins = [helper.make_tensor_value_info(n, elem, s) for n, s in inputs.items()]
    outs = [helper.make_tensor_value_info(n, elem, s) for n, s in outputs.items()]
    pairs = zip(ins, outs, strict=False)
    nodes = [helper.make_node("Identity", [i.name], [o.name]) for i, o in pairs]
    model = helper.make_model(helper.make_graph(nodes, "g", ins, outs),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _save(tmp_path: Path, model: onnx.ModelProto | bytes) -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    return path


def _complete(tmp_path: Path, model: onnx.ModelProto | bytes, config: str = "",
              name: str = "m") -> object:
    return complete(pbtxt.parse_text(config), name, _save(tmp_path, model))


def _tensors(listed: object) -> list[tuple[str, str, list[int]]]:
    return [(t.name, pbtxt.model_config_pb2.DataType.Name(t.data_type), list(t.dims))
            for t in listed]  # type: ignore[attr-defined]


# --- no config -----------------------------------------------------------------------------------


def test_no_config_reads_tensors_and_turns_batching_on(tmp_path: Path) -> None:
    """Every tensor [batch, 4]: tensors filled without the batch dim, batching at the default."""
    msg = _complete(tmp_path, add_model())
    assert _tensors(msg.input) == [("a", "TYPE_FP32", [4]), ("b", "TYPE_FP32", [4])]
    assert _tensors(msg.output) == [("out", "TYPE_FP32", [4]), ("diff", "TYPE_FP32", [4])]
    assert msg.max_batch_size == DEFAULT_MAX_BATCH_SIZE
    assert msg.HasField("dynamic_batching")
    assert pbtxt.to_view(msg).dynamic_batching is not None


def test_no_config_fills_name_platform_policy_and_instance_group(tmp_path: Path) -> None:
    """The folder name, ONNX platform/backend, latest-1 policy and one CPU instance are filled."""
    msg = _complete(tmp_path, add_model(), name="adder")
    assert msg.name == "adder"
    assert (msg.platform, msg.backend) == ("onnxruntime_onnx", "onnxruntime")
    assert msg.version_policy.latest.num_versions == 1
    assert len(msg.instance_group) == 1
    group = msg.instance_group[0]
    assert (group.name, group.count) == ("adder_0", 1)
    assert pbtxt.model_config_pb2.ModelInstanceGroup.Kind.Name(group.kind) == "KIND_CPU"


def test_no_config_result_is_a_valid_view(tmp_path: Path) -> None:
    """The completed message passes to_view with the shapes the graph has."""
    view = pbtxt.to_view(_complete(tmp_path, identity_model("INT64", dims=2)))
    assert view.batching
    assert view.inputs[0].dims == (-1, -1)
    assert view.full_shape(view.inputs[0]) == [-1, -1, -1]


def test_fixed_first_dim_leaves_batching_off(tmp_path: Path) -> None:
    """A graph with a fixed first dimension gets max_batch_size 0 and its full dims."""
    msg = _complete(tmp_path, _graph({"x": [2, 3]}, {"y": [2, 3]}))
    assert msg.max_batch_size == 0
    assert not msg.HasField("dynamic_batching")
    assert _tensors(msg.input) == [("x", "TYPE_FP32", [2, 3])]


def test_one_fixed_tensor_leaves_batching_off(tmp_path: Path) -> None:
    """Batching needs every tensor batchable: one fixed output keeps the -1 dims unbatched."""
    msg = _complete(tmp_path, _graph({"x": ["n", 3], "z": ["n", 3]}, {"y": ["n", 3], "w": [1, 3]}))
    assert msg.max_batch_size == 0
    assert _tensors(msg.input) == [("x", "TYPE_FP32", [-1, 3]), ("z", "TYPE_FP32", [-1, 3])]
    assert _tensors(msg.output)[1] == ("w", "TYPE_FP32", [1, 3])


def test_rank_one_tensors_are_served_unbatched(tmp_path: Path) -> None:
    """A [batch]-only graph is served unbatched with dims [-1], since it cannot batch unreshaped."""
    msg = _complete(tmp_path, identity_model("FP32", dims=0))
    assert msg.max_batch_size == 0
    assert _tensors(msg.input) == [("x", "TYPE_FP32", [-1])]
    assert _tensors(msg.output) == [("y", "TYPE_FP32", [-1])]


def test_scalar_tensor_gets_dims_one(tmp_path: Path) -> None:
    """A rank-0 graph tensor is listed with dims [1] and no batching."""
    msg = _complete(tmp_path, _graph({"x": []}, {"y": []}))
    assert msg.max_batch_size == 0
    assert _tensors(msg.input) == [("x", "TYPE_FP32", [1])]


@pytest.mark.parametrize("datatype", sorted(BY_NAME))
def test_every_protocol_type_maps_to_its_config_type(tmp_path: Path, datatype: str) -> None:
    """Each ONNX element type the protocol carries becomes its Triton TYPE_*."""
    msg = _complete(tmp_path, identity_model(datatype))
    assert _tensors(msg.input) == [("x", BY_NAME[datatype].config, [-1])]
    assert _tensors(msg.output) == [("y", BY_NAME[datatype].config, [-1])]


def test_initializers_listed_as_inputs_are_not_inputs(tmp_path: Path) -> None:
    """Old-style graphs list weights in graph.input; those are not model inputs."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 2])
    w = helper.make_tensor_value_info("w", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 2])
    init = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x, w], [y],
                              initializer=[init])
    inputs, outputs = read_signature(_save(tmp_path, helper.make_model(graph)))
    assert [t.name for t in inputs] == ["x"]
    assert [(t.name, t.dims) for t in outputs] == [("y", (-1, 2))]


@pytest.mark.parametrize("elem", [TensorProto.BFLOAT16, TensorProto.COMPLEX64])
def test_unsupported_onnx_type_names_the_tensor(tmp_path: Path, elem: int) -> None:
    """An element type the protocol cannot carry is a ModelConfigError naming the tensor."""
    with pytest.raises(ModelConfigError, match="tensor 'x' has ONNX element type"):
        _complete(tmp_path, _graph({"x": ["b", 2]}, {"y": ["b", 2]}, elem=elem))


# --- partial config ------------------------------------------------------------------------------


def test_only_dynamic_batching_is_completed_and_kept(tmp_path: Path) -> None:
    """A config holding only dynamic_batching gets tensors and max_batch_size; its block stays."""
    msg = _complete(tmp_path, add_model(),
                    "dynamic_batching { preferred_batch_size: [2, 4] "
                    "max_queue_delay_microseconds: 300 }")
    assert msg.max_batch_size == DEFAULT_MAX_BATCH_SIZE
    assert [t.name for t in msg.input] == ["a", "b"]
    view = pbtxt.to_view(msg)
    assert view.dynamic_batching is not None
    assert view.dynamic_batching.preferred_batch_size == (2, 4)
    assert view.dynamic_batching.max_queue_delay_us == 300


def test_explicit_max_batch_size_is_kept(tmp_path: Path) -> None:
    """max_batch_size from the config wins and no dynamic_batching block is invented."""
    msg = _complete(tmp_path, add_model(), "max_batch_size: 2")
    assert msg.max_batch_size == 2
    assert not msg.HasField("dynamic_batching")
    assert _tensors(msg.input) == [("a", "TYPE_FP32", [4]), ("b", "TYPE_FP32", [4])]


def test_listed_input_without_type_or_dims_is_filled(tmp_path: Path) -> None:
    """A listed tensor with only a name gets its type and dims from the graph."""
    msg = _complete(tmp_path, add_model(), 'max_batch_size: 4 input [ { name: "b" } ]')
    assert _tensors(msg.input) == [("b", "TYPE_FP32", [4])]
    assert [t.name for t in msg.output] == ["out", "diff"]


def test_listed_variable_dim_matches_fixed_graph_dim(tmp_path: Path) -> None:
    """-1 in the config is compatible with a fixed graph dim, and the config's dims are kept."""
    msg = _complete(tmp_path, add_model(),
                    'max_batch_size: 4 input [ { name: "a" data_type: TYPE_FP32 dims: [-1] } ]')
    assert _tensors(msg.input) == [("a", "TYPE_FP32", [-1])]


def test_unbatched_config_keeps_batch_dim_in_dims(tmp_path: Path) -> None:
    """With max_batch_size 0 listed dims include the graph's first dimension."""
    config = ('input [ { name: "a" data_type: TYPE_FP32 dims: [-1, 4] } ] '
              'output [ { name: "out" data_type: TYPE_FP32 dims: [-1, 4] } ]')
    msg = _complete(tmp_path, add_model(), config)
    assert msg.max_batch_size == 0
    assert _tensors(msg.output) == [("out", "TYPE_FP32", [-1, 4])]


def test_fake_backend_does_not_read_the_graph(tmp_path: Path) -> None:
    """backend: "fake" completes name and defaults without touching a model file."""
    msg = complete(pbtxt.parse_text('backend: "fake"'), "echo", tmp_path / "absent.onnx")
    assert msg.name == "echo" and msg.backend == "fake"
    assert len(msg.instance_group) == 1


# --- contradictions ------------------------------------------------------------------------------


def test_wrong_type_is_named(tmp_path: Path) -> None:
    """A listed type that differs from the graph names tensor and both types."""
    config = 'max_batch_size: 4 input [ { name: "a" data_type: TYPE_INT32 dims: [4] } ]'
    with pytest.raises(ModelConfigError, match=r"input 'a' is TYPE_INT32 in the config but "
                                               r"TYPE_FP32 in the ONNX graph"):
        _complete(tmp_path, add_model(), config)


@pytest.mark.parametrize("dims", ["[5]", "[4, 1]", "[-1, 4]"])
def test_wrong_dims_are_named(tmp_path: Path, dims: str) -> None:
    """Listed dims of another size or rank than the graph's (batch removed) are rejected."""
    config = f'max_batch_size: 4 output [ {{ name: "out" data_type: TYPE_FP32 dims: {dims} }} ]'
    with pytest.raises(ModelConfigError, match=r"output 'out' dims .* do not match the ONNX graph "
                                               r"dims \[4\] \(batch dimension removed\)"):
        _complete(tmp_path, add_model(), config)


def test_unknown_input_lists_graph_inputs(tmp_path: Path) -> None:
    """An input the graph lacks is named, with the graph's inputs as a hint."""
    config = 'max_batch_size: 4 input [ { name: "c" data_type: TYPE_FP32 dims: [4] } ]'
    with pytest.raises(ModelConfigError, match=r"config input 'c' is not in the ONNX graph "
                                               r"\(graph inputs: a, b\)"):
        _complete(tmp_path, add_model(), config)


def test_unknown_output_is_named(tmp_path: Path) -> None:
    """An output the graph lacks is named."""
    config = 'max_batch_size: 4 output [ { name: "logits" } ]'
    with pytest.raises(ModelConfigError, match="config output 'logits' is not in the ONNX graph"):
        _complete(tmp_path, add_model(), config)


def test_name_must_match_folder(tmp_path: Path) -> None:
    """A config name other than the folder's is an error naming both."""
    with pytest.raises(ModelConfigError, match="config name 'other' does not match the model "
                                               "folder 'm'"):
        _complete(tmp_path, add_model(), 'name: "other"')


def test_batching_on_fixed_first_dim_is_rejected(tmp_path: Path) -> None:
    """max_batch_size > 0 over a graph whose first dim is fixed is an error."""
    with pytest.raises(ModelConfigError, match="max_batch_size > 0 but input 'x'"):
        _complete(tmp_path, _graph({"x": [2, 3]}, {"y": [2, 3]}), "max_batch_size: 4")


def test_batching_on_fixed_first_dim_of_listed_tensor_is_rejected(tmp_path: Path) -> None:
    """A listed tensor whose graph first dim is fixed cannot batch, whatever its dims say."""
    config = 'max_batch_size: 4 input [ { name: "x" data_type: TYPE_FP32 dims: [3] } ]'
    with pytest.raises(ModelConfigError, match=r"input 'x' has graph dims \[1, 3\]"):
        _complete(tmp_path, _graph({"x": [1, 3]}, {"y": ["b", 3]}), config)


def test_batching_on_rank_one_graph_is_rejected(tmp_path: Path) -> None:
    """A [batch]-only tensor listed as dims [1] under batching would fail in the runtime."""
    config = 'max_batch_size: 4 input [ { name: "x" data_type: TYPE_FP32 dims: [1] } ]'
    with pytest.raises(ModelConfigError, match="max_batch_size: 0"):
        _complete(tmp_path, identity_model("FP32", dims=0), config)


@pytest.mark.parametrize(
    "config",
    [
        'platform: "tensorflow_savedmodel"',
        'backend: "pytorch"',
        'platform: "tensorrt_plan" backend: "onnxruntime"',
        'platform: "onnxruntime_onnx" backend: "python"',
    ],
)
def test_unsupported_platform_is_rejected(tmp_path: Path, config: str) -> None:
    """Platforms and backends other than ONNX Runtime (or fake) are refused with a hint."""
    with pytest.raises(ModelConfigError, match="is not supported; modelport serves ONNX"):
        _complete(tmp_path, add_model(), config)


@pytest.mark.parametrize("data", [b"\xff" * 64, b"not an onnx model at all", b"\x0a\xff\xff"])
def test_corrupt_onnx_file_is_a_config_error(tmp_path: Path, data: bytes) -> None:
    """Bytes that are not an ONNX model raise ModelConfigError naming the file."""
    with pytest.raises(ModelConfigError, match="not a readable ONNX model"):
        _complete(tmp_path, data)


def test_missing_onnx_file_is_a_config_error(tmp_path: Path) -> None:
    """A model path that does not exist is a ModelConfigError, not an OSError."""
    with pytest.raises(ModelConfigError, match=r"absent\.onnx"):
        complete(pbtxt.Message(), "m", tmp_path / "absent.onnx")
