"""modelport: take trained deep-learning models into production.

``import modelport`` stays light: it never imports onnxruntime, torch or ray.
"""

from __future__ import annotations

from modelport.errors import (
    InferenceError,
    InvalidInput,
    MissingExtra,
    ModelNotFound,
    ModelportError,
)

__version__ = "0.1.0"

__all__ = [
    "InferenceError",
    "InvalidInput",
    "MissingExtra",
    "ModelNotFound",
    "ModelportError",
    "__version__",
]
