"""ONNX Runtime thread settings: config parameters and server settings reach the real
SessionOptions of the sessions the backend builds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from modelport.cpus import usable_cores
from modelport.errors import ModelLoadError
from modelport.repository.config import InstanceGroup, ModelConfig, TensorSpec
from modelport.runtime import RuntimeSettings
from modelport.runtime.onnxruntime import OnnxRuntimeBackend, OnnxRuntimeInstance
from modelport.runtime.ortthreads import session_threads

SPIN = "session.intra_op.allow_spinning"
INTER_SPIN = "session.inter_op.allow_spinning"


def _config(instances: int = 1, **parameters: str) -> ModelConfig:
    return ModelConfig(name="lin", max_batch_size=4, inputs=(TensorSpec("x", "FP32", (8,)),),
                       outputs=(TensorSpec("y", "FP32", (4,)),),
                       instance_groups=(InstanceGroup(count=instances),),
                       parameters=dict(parameters))


def _model(folder: Path) -> Path:
    w = np.ones((8, 4), dtype=np.float32)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "lin", [x], [y],
                              initializer=[numpy_helper.from_array(w, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    return folder / "model.onnx"


def _options(tmp_path: Path, config: ModelConfig, settings: RuntimeSettings) -> object:
    instance = OnnxRuntimeBackend().load(_model(tmp_path / "lin" / "1"), config, 0, settings)
    assert isinstance(instance, OnnxRuntimeInstance)
    (y,) = instance.run({"x": np.ones((2, 8), dtype=np.float32)}, ["y"])
    assert y.tolist() == [[8.0] * 4] * 2
    return instance.session.get_session_options()


def test_triton_thread_parameters_reach_the_session(tmp_path: Path) -> None:
    """intra_op_thread_count, inter_op_thread_count and execution_mode (Triton's names) and
    ORT's spinning keys from config.pbtxt are what the session runs with."""
    import onnxruntime as ort

    config = _config(intra_op_thread_count="1", inter_op_thread_count="2", execution_mode="1",
                     **{SPIN: "0", INTER_SPIN: "0"})
    options = _options(tmp_path, config, RuntimeSettings(cache_dir=None))
    assert options.intra_op_num_threads == 1
    assert options.inter_op_num_threads == 2
    assert options.execution_mode == ort.ExecutionMode.ORT_PARALLEL
    assert options.get_session_config_entry(SPIN) == "0"
    assert options.get_session_config_entry(INTER_SPIN) == "0"


def test_spinning_off_server_wide(tmp_path: Path) -> None:
    """--intra-op-spinning off: the session's own pool sleeps; threads are the cores shared out
    among the instances; one node at a time."""
    import onnxruntime as ort

    options = _options(tmp_path, _config(instances=2),
                       RuntimeSettings(cache_dir=None, intra_op_spinning=False))
    assert options.get_session_config_entry(SPIN) == "0"
    assert options.get_session_config_entry(INTER_SPIN) == "0"
    assert options.intra_op_num_threads == max(1, usable_cores() // 2)
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL


def test_a_model_may_spin_when_the_server_does_not(tmp_path: Path) -> None:
    """A model's own spinning parameter wins over the server-wide setting."""
    options = _options(tmp_path, _config(**{SPIN: "1"}),
                       RuntimeSettings(cache_dir=None, intra_op_spinning=False))
    assert options.get_session_config_entry(SPIN) == "1"


def test_defaults_keep_onnx_runtime_spinning(tmp_path: Path) -> None:
    """Without settings a session with its own pool spins as ONNX Runtime does by default."""
    options = _options(tmp_path, _config(), RuntimeSettings(cache_dir=None))
    assert options.get_session_config_entry(SPIN) == "1"
    assert options.intra_op_num_threads == usable_cores()


@pytest.mark.parametrize("key", [SPIN, "execution_mode"])
def test_a_bad_switch_value_fails_the_load_with_its_name(tmp_path: Path, key: str) -> None:
    """A value other than "0"/"1" fails the load and names the parameter."""
    with pytest.raises(ModelLoadError, match=key):
        _options(tmp_path, _config(**{key: "yes"}), RuntimeSettings(cache_dir=None))


def test_only_an_untuned_spinning_session_shares_the_pool() -> None:
    """The process-wide pool spins, so a session joins it only when nothing asks otherwise."""
    on, off = RuntimeSettings(), RuntimeSettings(intra_op_spinning=False)
    assert session_threads(_config(), on, may_share=True).shared
    assert not session_threads(_config(), on, may_share=False).shared
    assert not session_threads(_config(), off, may_share=True).shared
    assert not session_threads(_config(intra_op_thread_count="1"), on, may_share=True).shared
    assert not session_threads(_config(**{SPIN: "1"}), on, may_share=True).shared


def test_a_one_thread_session_starts_no_pool_threads() -> None:
    """One intra-op thread, sequential: no pool threads (so it may be built at low priority)."""
    one = session_threads(_config(intra_op_thread_count="1"), RuntimeSettings(), False)
    assert not one.spawns_threads
    two = session_threads(_config(intra_op_thread_count="2"), RuntimeSettings(), False)
    assert two.spawns_threads


def test_a_pooled_session_is_optimized_aside_then_loaded_from_the_cache(tmp_path: Path) -> None:
    """A session with pool threads of its own gets its optimized graph from a quiet one-thread
    build (written to the cache) and keeps its own thread count."""
    config = _config(intra_op_thread_count="2")
    path = _model(tmp_path / "lin" / "1")
    instance = OnnxRuntimeBackend().load(path, config, 0,
                                         RuntimeSettings(cache_dir=tmp_path / "cache"))
    assert isinstance(instance, OnnxRuntimeInstance)
    assert instance.graph is not None and (tmp_path / "cache") in instance.graph.parents
    assert instance.session.get_session_options().intra_op_num_threads == 2
    (y,) = instance.run({"x": np.ones((1, 8), dtype=np.float32)}, ["y"])
    assert y.tolist() == [[8.0] * 4]
