"""modelport's ``triton_python_backend_utils``: what Triton Python models import.

The stub registers this module under Triton's name, so ``import triton_python_backend_utils
as pb_utils`` in model.py finds it. It covers the API real models use: tensors, requests and
responses, errors, the response sender, BLS (``InferenceRequest(...).exec()``), auto-complete
(``ModelConfig``), the config helpers, ``Logger``. Custom metrics, the model loading API and GPU
tensors are not offered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelport.runtime.python.pb_config import ModelConfig
from modelport.runtime.python.pb_messages import (
    TRITONSERVER_REQUEST_FLAG_SEQUENCE_END,
    TRITONSERVER_REQUEST_FLAG_SEQUENCE_START,
    TRITONSERVER_REQUEST_RELEASE_ALL,
    TRITONSERVER_REQUEST_RELEASE_RESCHEDULE,
    TRITONSERVER_RESPONSE_COMPLETE_FINAL,
    InferenceRequest,
    InferenceResponse,
    InferenceResponseSender,
    ResponseIterator,
    TritonError,
    TritonModelException,
)
from modelport.runtime.python.pb_tensor import (
    TRITON_STRING_TO_NUMPY,
    Tensor,
    deserialize_bytes_tensor,
    numpy_to_triton_type,
    serialize_byte_tensor,
    triton_string_to_numpy,
    triton_to_numpy_type,
)

__all__ = [
    "TRITONSERVER_MEMORY_CPU",
    "TRITONSERVER_MEMORY_GPU",
    "TRITONSERVER_REQUEST_FLAG_SEQUENCE_END",
    "TRITONSERVER_REQUEST_FLAG_SEQUENCE_START",
    "TRITONSERVER_REQUEST_RELEASE_ALL",
    "TRITONSERVER_REQUEST_RELEASE_RESCHEDULE",
    "TRITONSERVER_RESPONSE_COMPLETE_FINAL",
    "TRITON_STRING_TO_NUMPY",
    "InferenceRequest",
    "InferenceResponse",
    "InferenceResponseSender",
    "Logger",
    "ModelConfig",
    "PreferredMemory",
    "ResponseIterator",
    "Tensor",
    "TritonError",
    "TritonModelException",
    "deserialize_bytes_tensor",
    "get_input_config_by_name",
    "get_input_tensor_by_name",
    "get_model_dir",
    "get_output_config_by_name",
    "get_output_tensor_by_name",
    "numpy_to_triton_type",
    "serialize_byte_tensor",
    "triton_string_to_numpy",
    "triton_to_numpy_type",
    "using_decoupled_model_transaction_policy",
]

TRITONSERVER_MEMORY_GPU = 0
TRITONSERVER_MEMORY_CPU = 1
_model_dir = ""


def _print(level: int, message: str) -> None:
    print(message, flush=True)


# Where Logger lines go: the stub sets it to forward them to the server's log.
log_sink: Callable[[int, str], None] = _print


def get_input_tensor_by_name(inference_request: InferenceRequest, name: str) -> Tensor | None:
    """The request's input called ``name``, or None."""
    return next((t for t in inference_request.inputs() if t.name() == name), None)


def get_output_tensor_by_name(inference_response: InferenceResponse, name: str,
                              ) -> Tensor | None:
    """The response's output called ``name``, or None."""
    return next((t for t in inference_response.output_tensors() if t.name() == name), None)


def get_input_config_by_name(model_config: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The config entry (a dict) of input ``name``, or None."""
    return next((t for t in model_config.get("input", []) if t["name"] == name), None)


def get_output_config_by_name(model_config: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The config entry (a dict) of output ``name``, or None."""
    return next((t for t in model_config.get("output", []) if t["name"] == name), None)


def using_decoupled_model_transaction_policy(model_config: dict[str, Any]) -> bool:
    """Whether the config sets ``model_transaction_policy { decoupled: true }``."""
    return bool(model_config.get("model_transaction_policy", {}).get("decoupled", False))


def get_model_dir() -> str:
    """The folder of the model's version (where model.py is)."""
    return _model_dir


class PreferredMemory:
    """Accepted for compatibility: BLS outputs always arrive in CPU memory."""

    def __init__(self, preferred_memory_type: int, preferred_device_id: int = 0) -> None:
        self.preferred_memory_type = preferred_memory_type
        self.preferred_device_id = preferred_device_id


class Logger:
    """Lines for the server's log: ``pb_utils.Logger.log_info("...")``."""

    class LogLevel:
        """The levels (also Logger.INFO and so on)."""

        INFO, WARNING, ERROR, VERBOSE = 0, 1, 2, 3

    INFO, WARNING, ERROR, VERBOSE = 0, 1, 2, 3

    @staticmethod
    def log(message: str, level: int = 0) -> None:
        """Log ``message`` at ``level`` (Logger.INFO by default)."""
        log_sink(level, str(message))

    @staticmethod
    def log_info(message: str) -> None:
        """Log at INFO."""
        log_sink(Logger.INFO, str(message))

    @staticmethod
    def log_warn(message: str) -> None:
        """Log at WARNING."""
        log_sink(Logger.WARNING, str(message))

    @staticmethod
    def log_error(message: str) -> None:
        """Log at ERROR."""
        log_sink(Logger.ERROR, str(message))

    @staticmethod
    def log_verbose(message: str) -> None:
        """Log at VERBOSE (the server's debug level)."""
        log_sink(Logger.VERBOSE, str(message))
