"""Model execution backends, imported only when a model asks for one.

Which backends exist is the business of ``modelport.backends`` (a catalog of import strings);
this package loads the one a model's config names, so ``import modelport`` never imports
onnxruntime.
"""

from __future__ import annotations

import importlib

from modelport.backends import BUILTINS, BackendCatalog
from modelport.errors import ModelConfigError
from modelport.runtime.base import Backend, Instance, RuntimeSettings

__all__ = ["Backend", "Instance", "RuntimeSettings", "get_backend"]


def get_backend(name: str, catalog: BackendCatalog = BUILTINS) -> Backend:
    """Import and instantiate the backend registered as ``name``.

    Raises:
        ModelConfigError: no backend has that name.
    """
    target = catalog.target(name)
    if target is None:
        raise ModelConfigError(f"unknown backend '{name}'; known: {', '.join(catalog.names())}")
    module_name, _, attr = target.partition(":")
    backend: Backend = getattr(importlib.import_module(module_name), attr)()
    return backend
