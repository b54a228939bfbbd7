"""Which model execution backends exist, by name, and what each needs of a version folder.

A catalog names backends by import string ("module:Class"); nothing is imported until a model
asks for one (``modelport.runtime.get_backend``), so ``import modelport`` never imports
onnxruntime. Built-in backends are always there; an operator can add more through the server's
settings (``MODELPORT_EXTRA_BACKENDS`` on the command line), never through a request or a model
config. Both the repository (to complete configs and find loadable versions) and the runtime (to
load) read the same catalog, so neither needs the other for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

BUILTIN = {
    "onnxruntime": "modelport.runtime.onnxruntime:OnnxRuntimeBackend",
    "fake": "modelport.runtime.fake:FakeBackend",
    "python": "modelport.runtime.python.backend:PythonBackend",
}
# Backends that execute an ONNX file: their configs are completed from the graph, and a version
# folder is loadable only when it holds the file. Others need a complete config, or a completer.
ONNX_READERS = frozenset({"onnxruntime"})
# Backends that complete a config their own way: "module:function" taking (message, model name,
# version folder) and returning the message, filled in (Triton's Python models ask model.py).
COMPLETERS = {"python": "modelport.runtime.python.autocomplete:complete"}
# Backends whose BYTES inputs stay bytes as they came (ONNX strings are text: decoded once).
RAW_BYTES = frozenset({"python"})


@dataclass(frozen=True)
class BackendCatalog:
    """The built-in backends plus ``extra`` ones (name -> "module:Class")."""

    extra: Mapping[str, str] = field(default_factory=dict)

    def target(self, name: str) -> str | None:
        """The import string of backend ``name``, or None."""
        return BUILTIN.get(name) or self.extra.get(name)

    def is_known(self, name: str) -> bool:
        """Whether ``name`` is a built-in or registered backend."""
        return self.target(name) is not None

    @staticmethod
    def reads_onnx(name: str) -> bool:
        """Whether backend ``name`` executes an ONNX file."""
        return name in ONNX_READERS

    @staticmethod
    def completer(name: str) -> str | None:
        """The import string of backend ``name``'s config completer, if it has one."""
        return COMPLETERS.get(name)

    def names(self) -> list[str]:
        """Every known backend name."""
        return [*BUILTIN, *(n for n in self.extra if n not in BUILTIN)]


BUILTINS = BackendCatalog()
