"""Triton Python-backend models (model.py + config.pbtxt) written into test repositories."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_python_model(repo: Path, name: str, config: str, source: str,
                       version: int = 1) -> Path:
    """Write REPO/name/config.pbtxt and REPO/name/version/model.py; returns the model folder."""
    folder = repo / name
    (folder / str(version)).mkdir(parents=True, exist_ok=True)
    (folder / "config.pbtxt").write_text(textwrap.dedent(config))
    (folder / str(version) / "model.py").write_text(textwrap.dedent(source))
    return folder


# Triton's examples/add_sub: OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1.
ADD_SUB_CONFIG = """
name: "add_sub"
backend: "python"
input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]
input [ { name: "INPUT1" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "OUTPUT1" data_type: TYPE_FP32 dims: [ 4 ] } ]
instance_group [{ kind: KIND_CPU }]
"""
ADD_SUB = """
import json

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.model_config = model_config = json.loads(args["model_config"])
        out0 = pb_utils.get_output_config_by_name(model_config, "OUTPUT0")
        out1 = pb_utils.get_output_config_by_name(model_config, "OUTPUT1")
        self.output0_dtype = pb_utils.triton_string_to_numpy(out0["data_type"])
        self.output1_dtype = pb_utils.triton_string_to_numpy(out1["data_type"])

    def execute(self, requests):
        responses = []
        for request in requests:
            in_0 = pb_utils.get_input_tensor_by_name(request, "INPUT0")
            in_1 = pb_utils.get_input_tensor_by_name(request, "INPUT1")
            out_0 = in_0.as_numpy() + in_1.as_numpy()
            out_1 = in_0.as_numpy() - in_1.as_numpy()
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("OUTPUT0", out_0.astype(self.output0_dtype)),
                pb_utils.Tensor("OUTPUT1", out_1.astype(self.output1_dtype))]))
        return responses

    def finalize(self):
        print("Cleaning up...")
"""

# BYTES in, BYTES out: each element reversed; also its length (raw bytes, not text).
BYTES_CONFIG = """
name: "bytes_rev"
backend: "python"
max_batch_size: 8
input [ { name: "TEXT" data_type: TYPE_STRING dims: [ -1 ] } ]
output [ { name: "REVERSED" data_type: TYPE_STRING dims: [ -1 ] } ]
output [ { name: "LENGTH" data_type: TYPE_INT32 dims: [ -1 ] } ]
"""
BYTES_MODEL = """
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            text = pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy()
            assert all(type(v) is bytes for v in text.ravel()), "BYTES arrive as bytes"
            flipped = np.array([v[::-1] for v in text.ravel()], dtype=np.object_)
            lengths = np.array([len(v) for v in text.ravel()], dtype=np.int32)
            responses.append(pb_utils.InferenceResponse([
                pb_utils.Tensor("REVERSED", flipped.reshape(text.shape)),
                pb_utils.Tensor("LENGTH", lengths.reshape(text.shape))]))
        return responses
"""

# Echo of X; X == -1 ends the process in execute (os._exit), X == -2 hangs it.
FRAGILE_CONFIG = """
name: "{name}"
backend: "python"
input [ { name: "X" data_type: TYPE_INT32 dims: [ 1 ] } ]
output [ { name: "Y" data_type: TYPE_INT32 dims: [ 1 ] } ]
parameters { key: "execute_timeout_s" value { string_value: "1.5" } }
"""
FRAGILE_MODEL = """
import os
import time

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.pid = os.getpid()

    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "X").as_numpy()
            if x[0] == -1:
                os._exit(3)
            if x[0] == -2:
                time.sleep(60)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("Y", x.copy())]))
        return responses
"""

# Triton's examples/decoupled repeat model: one response per element of IN, each after its
# DELAY (ms); execute returns after WAIT (ms) while a thread goes on sending.
REPEAT_CONFIG = """
name: "repeat_int32"
backend: "python"
max_batch_size: 0
model_transaction_policy { decoupled: True }
input [ { name: "IN" data_type: TYPE_INT32 dims: [ -1 ] },
        { name: "DELAY" data_type: TYPE_UINT32 dims: [ -1 ] },
        { name: "WAIT" data_type: TYPE_UINT32 dims: [ 1 ] } ]
output [ { name: "OUT" data_type: TYPE_INT32 dims: [ 1 ] },
         { name: "IDX" data_type: TYPE_UINT32 dims: [ 1 ] } ]
instance_group [{ kind: KIND_CPU }]
"""
REPEAT_MODEL = """
import json
import threading
import time

import numpy
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.model_config = json.loads(args["model_config"])
        if not pb_utils.using_decoupled_model_transaction_policy(self.model_config):
            raise pb_utils.TritonModelException("enable the decoupled transaction policy")
        self.out_dtype = pb_utils.triton_string_to_numpy(
            pb_utils.get_output_config_by_name(self.model_config, "OUT")["data_type"])
        self.idx_dtype = pb_utils.triton_string_to_numpy(
            pb_utils.get_output_config_by_name(self.model_config, "IDX")["data_type"])
        self.inflight = 0
        self.lock = threading.Lock()

    def execute(self, requests):
        if len(requests) != 1:
            raise pb_utils.TritonModelException("unsupported batch size " + str(len(requests)))
        in_input = pb_utils.get_input_tensor_by_name(requests[0], "IN").as_numpy()
        delay = pb_utils.get_input_tensor_by_name(requests[0], "DELAY").as_numpy()
        if in_input.shape != delay.shape:
            raise pb_utils.TritonModelException("IN and DELAY shapes differ")
        thread = threading.Thread(target=self.response_thread, daemon=True,
                                  args=(requests[0].get_response_sender(), in_input, delay))
        with self.lock:
            self.inflight += 1
        thread.start()
        wait = pb_utils.get_input_tensor_by_name(requests[0], "WAIT").as_numpy()
        time.sleep(wait[0] / 1000)
        return None

    def response_thread(self, response_sender, in_input, delay):
        for idx in range(in_input.size):
            time.sleep(delay[idx] / 1000)
            response_sender.send(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("IDX", numpy.array([idx], self.idx_dtype)),
                pb_utils.Tensor("OUT", numpy.array([in_input[idx]], self.out_dtype))]))
        response_sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        with self.lock:
            self.inflight -= 1

    def finalize(self):
        while True:
            with self.lock:
                if self.inflight == 0:
                    return
            time.sleep(0.05)
"""

# BLS: runs its inputs through the model MODEL_NAME names (an ONNX model in the tests).
BLS_CONFIG = """
name: "{name}"
backend: "python"
input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] },
        { name: "INPUT1" data_type: TYPE_FP32 dims: [ 4 ] },
        { name: "MODEL_NAME" data_type: TYPE_STRING dims: [ 1 ] } ]
output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] },
         { name: "OUTPUT1" data_type: TYPE_FP32 dims: [ 4 ] } ]
"""
BLS_SYNC = """
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            in_0 = pb_utils.get_input_tensor_by_name(request, "INPUT0")
            in_1 = pb_utils.get_input_tensor_by_name(request, "INPUT1")
            target = pb_utils.get_input_tensor_by_name(request, "MODEL_NAME").as_numpy()[0]
            infer_request = pb_utils.InferenceRequest(
                model_name=target.decode(), requested_output_names=["OUTPUT0", "OUTPUT1"],
                inputs=[in_0, in_1])
            infer_response = infer_request.exec()
            if infer_response.has_error():
                raise pb_utils.TritonModelException(infer_response.error().message())
            responses.append(pb_utils.InferenceResponse(
                output_tensors=infer_response.output_tensors()))
        return responses
"""
# The same with async execute: two async_exec calls at once, OUTPUT0 of the first and
# OUTPUT1 of the second.
BLS_ASYNC = """
import asyncio

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    async def execute(self, requests):
        responses = []
        for request in requests:
            in_0 = pb_utils.get_input_tensor_by_name(request, "INPUT0")
            in_1 = pb_utils.get_input_tensor_by_name(request, "INPUT1")
            target = pb_utils.get_input_tensor_by_name(request, "MODEL_NAME").as_numpy()[0]
            calls = [pb_utils.InferenceRequest(
                model_name=target.decode(), requested_output_names=["OUTPUT0", "OUTPUT1"],
                inputs=[in_0, in_1]).async_exec() for _ in range(2)]
            first, second = await asyncio.gather(*calls)
            for response in (first, second):
                if response.has_error():
                    raise pb_utils.TritonModelException(response.error().message())
            responses.append(pb_utils.InferenceResponse([
                pb_utils.get_output_tensor_by_name(first, "OUTPUT0"),
                pb_utils.get_output_tensor_by_name(second, "OUTPUT1")]))
        return responses
"""

# No inputs or outputs in config.pbtxt: auto_complete_config adds them (and batching).
AUTO_CONFIG = """
name: "auto"
backend: "python"
"""
AUTO_MODEL = """
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    @staticmethod
    def auto_complete_config(auto_complete_model_config):
        auto_complete_model_config.add_input(
            {"name": "X", "data_type": "TYPE_INT64", "dims": [2]})
        auto_complete_model_config.add_output(
            {"name": "DOUBLED", "data_type": "TYPE_INT64", "dims": [2]})
        auto_complete_model_config.set_max_batch_size(4)
        auto_complete_model_config.set_dynamic_batching()
        return auto_complete_model_config

    def execute(self, requests):
        return [pb_utils.InferenceResponse([pb_utils.Tensor(
            "DOUBLED", pb_utils.get_input_tensor_by_name(r, "X").as_numpy() * 2)])
            for r in requests]
"""

# Imports a package that only its EXECUTION_ENV_PATH holds.
ENV_CONFIG = """
name: "with_env"
backend: "python"
input [ { name: "X" data_type: TYPE_INT32 dims: [ 1 ] } ]
output [ { name: "Y" data_type: TYPE_INT32 dims: [ 1 ] } ]
parameters { key: "EXECUTION_ENV_PATH"
             value { string_value: "$$TRITON_MODEL_DIRECTORY/env" } }
"""
ENV_MODEL = """
import mp_tiny_dependency
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [pb_utils.InferenceResponse([pb_utils.Tensor(
            "Y", mp_tiny_dependency.shift(pb_utils.get_input_tensor_by_name(r, "X").as_numpy()))])
            for r in requests]
"""

# Tells how many requests each execute() call received (dynamic batching hands several).
COUNT_CONFIG = """
name: "count"
backend: "python"
max_batch_size: 8
dynamic_batching { }
input [ { name: "X" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "REQUESTS" data_type: TYPE_INT32 dims: [ 1 ] } ]
"""
COUNT_MODEL = """
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        time.sleep(0.2)
        return [pb_utils.InferenceResponse([pb_utils.Tensor(
            "REQUESTS", np.full((r.inputs()[0].shape()[0], 1), len(requests), np.int32))])
            for r in requests]
"""
