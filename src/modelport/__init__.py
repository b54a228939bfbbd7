"""modelport: take trained deep-learning models into production.

The objects users touch::

    from modelport import Server, ServerConfig
    Server(ServerConfig(model_repository=None)).run()      # the demo repository on :8000/:8001

``import modelport`` stays light: it never imports onnxruntime, torch, ray, grpc or uvicorn;
``Server`` and ``ServerConfig`` are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from modelport.errors import (
    InferenceError,
    InvalidInput,
    MissingExtra,
    ModelNotFound,
    ModelportError,
)

__version__ = "0.1.0"

_LAZY = {
    "Server": "modelport.serve.server",
    "ServerConfig": "modelport.serve.config",
}

__all__ = [
    "InferenceError",
    "InvalidInput",
    "MissingExtra",
    "ModelNotFound",
    "ModelportError",
    "Server",
    "ServerConfig",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """Import ``Server`` and ``ServerConfig`` only when asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelport' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)
