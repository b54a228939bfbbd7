"""The training spec: one Python file that says what to train.

A spec defines, at module level::

    def model() -> torch.nn.Module                  # required
    def dataset() -> Dataset                        # required: map-style, items (input, target)
    def loss(output, target) -> torch.Tensor        # required: a scalar, mean over the batch
    def optimizer(parameters) -> torch.optim.Optimizer   # optional; default SGD(lr=0.01)
    def example_input() -> torch.Tensor             # optional; a batch used for export
    def evaluate(model) -> dict[str, float]         # optional; held-out metrics at the end
    batch_size = 32                                 # optional; samples per worker per step

The file travels to the workers as text, so a spec runs the same on every node of a cluster.
Loading a spec imports whatever the spec imports (torch, usually) and nothing else.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelport.errors import SpecError

REQUIRED = ("model", "dataset", "loss")
OPTIONAL = ("optimizer", "example_input", "evaluate")
DEFAULT_BATCH_SIZE = 32


@dataclass(frozen=True)
class SpecSource:
    """A spec file's path and text: what workers need to load the same spec."""

    path: str
    text: str

    @classmethod
    def read(cls, path: Path) -> SpecSource:
        """Read a spec file.

        Raises:
            SpecError: the file is missing or unreadable.
        """
        if not path.is_file():
            raise SpecError(f"training spec '{path}' is not a file: pass the path of a .py file "
                            "that defines model(), dataset() and loss()")
        try:
            return cls(str(path.resolve()), path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"cannot read training spec '{path}': {exc}") from None


class Spec:
    """A loaded spec module with typed access to its functions."""

    def __init__(self, source: SpecSource) -> None:
        self.source = source
        self.module = _execute(source)
        missing = [name for name in REQUIRED if not callable(getattr(self.module, name, None))]
        if missing:
            raise SpecError(
                f"training spec '{source.path}' does not define {_names(missing)}: "
                f"a spec needs model(), dataset() and loss(output, target) (see docs/train.md)"
            )
        for name in OPTIONAL:
            value = getattr(self.module, name, None)
            if value is not None and not callable(value):
                raise SpecError(f"training spec '{source.path}': '{name}' must be a function")

    def _call(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self.module, name)(*args)
        except Exception as exc:
            raise SpecError(f"{name}() in training spec '{self.source.path}' failed: "
                            f"{type(exc).__name__}: {exc}") from exc

    def model(self) -> Any:
        """A new model from the spec's ``model()``."""
        return self._call("model")

    def dataset(self) -> Any:
        """The spec's map-style data set, checked for ``len`` and indexing.

        Raises:
            SpecError: ``dataset()`` failed or returned something that is not map-style.
        """
        data = self._call("dataset")
        if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
            raise SpecError(
                f"dataset() in training spec '{self.source.path}' returned "
                f"{type(data).__name__}, which is not map-style: return an object with "
                "__len__ and __getitem__ (a torch Dataset, a TensorDataset, a list of pairs)"
            )
        return data

    @property
    def loss(self) -> Callable[[Any, Any], Any]:
        """The spec's loss function."""
        fn: Callable[[Any, Any], Any] = self.module.loss
        return fn

    def optimizer(self, parameters: Any) -> Any:
        """The spec's optimizer over ``parameters``, or SGD with lr=0.01."""
        if getattr(self.module, "optimizer", None) is None:
            import torch

            return torch.optim.SGD(parameters, lr=0.01)
        return self._call("optimizer", parameters)

    def example_input(self) -> Any | None:
        """The spec's example batch, or None when it defines none."""
        if getattr(self.module, "example_input", None) is None:
            return None
        return self._call("example_input")

    def evaluate(self, model: Any) -> dict[str, float]:
        """The spec's metrics for ``model``, or ``{}`` when it defines no ``evaluate``."""
        if getattr(self.module, "evaluate", None) is None:
            return {}
        metrics = self._call("evaluate", model)
        if not isinstance(metrics, dict):
            raise SpecError(f"evaluate() in training spec '{self.source.path}' must return a "
                            f"dict of metric names to numbers, got {type(metrics).__name__}")
        return {str(k): float(v) for k, v in metrics.items()}

    @property
    def batch_size(self) -> int:
        """The spec's ``batch_size``, or 32.

        Raises:
            SpecError: ``batch_size`` is not a positive integer.
        """
        value = getattr(self.module, "batch_size", DEFAULT_BATCH_SIZE)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SpecError(f"batch_size in training spec '{self.source.path}' must be a "
                            f"positive integer, got {value!r}")
        return value


def load_spec(path: Path) -> Spec:
    """Read and execute the spec file at ``path``.

    Raises:
        SpecError: the file is missing, fails to import, or lacks a required function.
    """
    return Spec(SpecSource.read(path))


def _execute(source: SpecSource) -> types.ModuleType:
    name = f"modelport_spec_{Path(source.path).stem}".replace("-", "_")
    module = types.ModuleType(name)
    module.__file__ = source.path
    sys.modules[name] = module  # classes defined in the spec must be importable by pickle
    try:
        code = compile(source.text, source.path, "exec")
        exec(code, module.__dict__)
    except ImportError as exc:
        sys.modules.pop(name, None)
        raise SpecError(f"training spec '{source.path}' imports a missing package: {exc} "
                        "(install it where the workers run)") from None
    except Exception as exc:
        sys.modules.pop(name, None)
        line = getattr(exc, "lineno", None) or _line_of(exc, source.path)
        where = f" (line {line})" if line else ""
        raise SpecError(f"training spec '{source.path}' fails to load{where}: "
                        f"{type(exc).__name__}: {exc}") from None
    return module


def _line_of(exc: BaseException, path: str) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _names(names: list[str]) -> str:
    calls = [f"{n}()" for n in names]
    return calls[0] if len(calls) == 1 else ", ".join(calls[:-1]) + " and " + calls[-1]
