"""modelport's triton_python_backend_utils: what model.py calls, without a server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from modelport.errors import ModelConfigError
from modelport.runtime.python import pb_utils
from modelport.runtime.python.execenv import site_dirs
from modelport.runtime.python.pb_messages import InferenceResponseSender


def test_tensor_types_and_bytes() -> None:
    """Tensors keep numeric arrays; str and fixed-width bytes become object arrays of bytes;
    Triton's length-prefixed layout round-trips."""
    t = pb_utils.Tensor("x", np.arange(3, dtype=np.int16))
    assert (t.name(), t.shape(), t.triton_dtype()) == ("x", [3], 7)
    words = pb_utils.Tensor("w", np.array(["a\u00e9", "b"]))
    assert words.as_numpy().tolist() == ["a\u00e9".encode(), b"b"]
    assert words.triton_dtype() == 13
    raw = pb_utils.serialize_byte_tensor(words.as_numpy())
    assert raw == b"\x03\x00\x00\x00a\xc3\xa9\x01\x00\x00\x00b"
    assert pb_utils.deserialize_bytes_tensor(raw).tolist() == ["a\u00e9".encode(), b"b"]
    assert pb_utils.triton_string_to_numpy("TYPE_FP16") is np.float16
    assert pb_utils.numpy_to_triton_type(np.float64) == 12
    back = pb_utils.Tensor.from_dlpack("d", t.to_dlpack())
    assert back.as_numpy().tolist() == [0, 1, 2]
    with pytest.raises(TypeError, match="complex64 has no Triton datatype"):
        pb_utils.Tensor("c", np.zeros(2, np.complex64))


def test_requests_responses_and_lookups() -> None:
    """The helpers find tensors and config entries by name; parameters are JSON text."""
    x = pb_utils.Tensor("x", np.ones(2, np.float32))
    request = pb_utils.InferenceRequest(model_name="m", requested_output_names=["y"],
                                        inputs=[x], parameters={"k": 1, "on": True})
    assert pb_utils.get_input_tensor_by_name(request, "x") is x
    assert pb_utils.get_input_tensor_by_name(request, "z") is None
    assert json.loads(request.parameters()) == {"k": 1, "on": True}
    response = pb_utils.InferenceResponse([x], parameters={"p": "v"})
    assert pb_utils.get_output_tensor_by_name(response, "x") is x
    failed = pb_utils.InferenceResponse(error=pb_utils.TritonError("no", pb_utils.TritonError
                                                                   .INVALID_ARG))
    assert failed.has_error() and failed.error().code() == 3  # type: ignore[union-attr]
    config = {"input": [{"name": "x"}], "output": [{"name": "y", "data_type": "TYPE_FP32"}],
              "model_transaction_policy": {"decoupled": True}}
    assert pb_utils.get_output_config_by_name(config, "y") == config["output"][0]
    assert pb_utils.get_input_config_by_name(config, "q") is None
    assert pb_utils.using_decoupled_model_transaction_policy(config)
    with pytest.raises(pb_utils.TritonModelException, match="response sender"):
        request.get_response_sender()


def test_sender_rules_for_non_decoupled_models() -> None:
    """A non-decoupled request takes exactly one response; a closed sender refuses more."""
    sender = InferenceResponseSender(0, decoupled=False)
    with pytest.raises(pb_utils.TritonModelException, match="complete final before"):
        sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
    response = pb_utils.InferenceResponse()
    sender.send(response, flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
    assert sender.kept is response and sender.closed
    with pytest.raises(pb_utils.TritonModelException, match="more than one response"):
        sender.send(pb_utils.InferenceResponse())


def test_auto_complete_config_object() -> None:
    """add_input fills a config entry that lacks its type and dims, refuses a contradiction,
    and the transaction policy cannot be flipped."""
    config = pb_utils.ModelConfig(json.dumps({
        "name": "m", "max_batch_size": 0,
        "input": [{"name": "x", "data_type": "TYPE_INVALID", "dims": []}], "output": []}))
    config.add_input({"name": "x", "data_type": "TYPE_FP32", "dims": [4]})
    config.add_output({"name": "y", "data_type": "TYPE_FP32", "dims": [4]})
    assert config.as_dict()["input"] == [{"name": "x", "data_type": "TYPE_FP32", "dims": [4]}]
    with pytest.raises(ValueError, match="configuration expects datatype TYPE_FP32"):
        config.add_input({"name": "x", "data_type": "TYPE_INT8", "dims": [4]})
    with pytest.raises(ValueError, match="contains property other than"):
        config.add_output({"name": "z", "data_type": "TYPE_FP32", "dims": [1], "x": 1})
    config.set_max_batch_size(8)
    with pytest.raises(ValueError, match="specified max_batch_size 8"):
        config.set_max_batch_size(4)
    config.set_model_transaction_policy({"decoupled": True})
    with pytest.raises(ValueError, match="trying to change decoupled"):
        config.set_model_transaction_policy({"decoupled": False})


def test_execution_env_path(tmp_path: Path) -> None:
    """A venv layout gives its site-packages, a plain folder itself, $$TRITON_MODEL_DIRECTORY
    is the model folder; archives, missing folders and other Pythons are refused."""
    ours = f"python{sys.version_info.major}.{sys.version_info.minor}"
    venv = tmp_path / "env" / "lib" / ours / "site-packages"
    venv.mkdir(parents=True)
    assert site_dirs({"EXECUTION_ENV_PATH": "$$TRITON_MODEL_DIRECTORY/env"}, "m",
                     tmp_path) == [str(venv)]
    (tmp_path / "plain").mkdir()
    assert site_dirs({"EXECUTION_ENV_PATH": str(tmp_path / "plain")}, "m", tmp_path) == [
        str(tmp_path / "plain")]
    assert site_dirs({}, "m", tmp_path) == []
    with pytest.raises(ModelConfigError, match="is an archive; unpack it"):
        site_dirs({"EXECUTION_ENV_PATH": "$$TRITON_MODEL_DIRECTORY/py.tar.gz"}, "m", tmp_path)
    with pytest.raises(ModelConfigError, match="is not a folder"):
        site_dirs({"EXECUTION_ENV_PATH": str(tmp_path / "nope")}, "m", tmp_path)
    (tmp_path / "old" / "lib" / "python2.7" / "site-packages").mkdir(parents=True)
    with pytest.raises(ModelConfigError, match=f"packages for python2.7, but the server runs "
                                               f"{ours}"):
        site_dirs({"EXECUTION_ENV_PATH": str(tmp_path / "old")}, "m", tmp_path)
