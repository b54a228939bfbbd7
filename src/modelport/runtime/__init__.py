"""Model execution backends, imported only when a model asks for one.

A backend is named by the ``backend`` field of a model's config and registered here by import
string, so ``import modelport`` never imports onnxruntime.
"""

from __future__ import annotations

import importlib
import os

from modelport.errors import ModelConfigError
from modelport.runtime.base import Backend, Instance, RuntimeSettings

BACKENDS = {
    "onnxruntime": "modelport.runtime.onnxruntime:OnnxRuntimeBackend",
    "fake": "modelport.runtime.fake:FakeBackend",
}

__all__ = ["BACKENDS", "Backend", "Instance", "RuntimeSettings", "get_backend", "is_known",
           "reads_onnx"]


def reads_onnx(name: str) -> bool:
    """Whether a backend executes an ONNX file (so its config can be completed from the
    graph and a version folder needs the file). Other backends need a complete config."""
    return name == "onnxruntime"


def is_known(name: str) -> bool:
    """Whether ``name`` is a built-in or operator-registered backend."""
    return name in BACKENDS or name in _extra_backends()


def get_backend(name: str) -> Backend:
    """Import and instantiate the backend registered as ``name``.

    Raises:
        ModelConfigError: no backend has that name.
    """
    target = BACKENDS.get(name) or _extra_backends().get(name)
    if target is None:
        raise ModelConfigError(f"unknown backend '{name}'; known: {', '.join(BACKENDS)}")
    module_name, _, attr = target.partition(":")
    backend: Backend = getattr(importlib.import_module(module_name), attr)()
    return backend


def _extra_backends() -> dict[str, str]:
    """Operator-registered backends: MODELPORT_EXTRA_BACKENDS="name=module:Class,...".

    Only the process environment can add them, never a request or a model config.
    """
    raw = os.environ.get("MODELPORT_EXTRA_BACKENDS", "")
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {name.strip(): target.strip() for name, target in pairs}
