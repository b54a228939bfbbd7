"""Model execution backends, imported only when a model asks for one.

A backend is named by the ``backend`` field of a model's config and registered here by import
string, so ``import modelport`` never imports onnxruntime.
"""

from __future__ import annotations

import importlib

from modelport.errors import ModelConfigError
from modelport.runtime.base import Backend, Instance, RuntimeSettings

BACKENDS = {
    "onnxruntime": "modelport.runtime.onnxruntime:OnnxRuntimeBackend",
    "fake": "modelport.runtime.fake:FakeBackend",
}

__all__ = ["BACKENDS", "Backend", "Instance", "RuntimeSettings", "get_backend"]


def get_backend(name: str) -> Backend:
    """Import and instantiate the backend registered as ``name``.

    Raises:
        ModelConfigError: no backend has that name.
    """
    target = BACKENDS.get(name)
    if target is None:
        raise ModelConfigError(f"unknown backend '{name}'; known: {', '.join(BACKENDS)}")
    module_name, _, attr = target.partition(":")
    backend: Backend = getattr(importlib.import_module(module_name), attr)()
    return backend
