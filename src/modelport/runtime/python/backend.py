"""The ``python`` backend: each instance of a model is a stub process running its model.py.

Config parameters (``parameters { key: ... value { string_value: ... } }``):
``EXECUTION_ENV_PATH`` (Triton's: the model's own packages, see execenv.py),
``execute_timeout_s`` (how long one ``execute`` may run before its instance is stopped and
started again; 300 by default) and ``initialize_timeout_s`` (loading model.py and
``initialize``; 600 by default).
"""

from __future__ import annotations

import json
from pathlib import Path

from modelport.errors import ModelConfigError, ModelLoadError
from modelport.repository.config import DEFAULT_MODEL_FILENAME, ModelConfig
from modelport.runtime.base import Instance, RuntimeSettings
from modelport.runtime.python.execenv import site_dirs
from modelport.runtime.python.stubspec import EXECUTE_TIMEOUT_S, INITIALIZE_TIMEOUT_S, StubSpec

MODEL_FILE = "model.py"


def model_file(config: ModelConfig, version_dir: Path) -> Path:
    """The model.py of a version (``default_model_filename`` when the config sets one)."""
    name = config.default_model_filename
    return version_dir / (MODEL_FILE if name == DEFAULT_MODEL_FILENAME else name)


def config_json(config: ModelConfig) -> str:
    """The complete config in Triton's JSON form, as ``args['model_config']`` carries it."""
    if config.message is None:
        return json.dumps({"name": config.name, "backend": "python"})
    from modelport.repository.pbtxt import to_json

    return json.dumps(to_json(config.message))


def seconds(config: ModelConfig, key: str, default: float) -> float:
    """A positive number of seconds from the config's parameters.

    Raises:
        ModelConfigError: the value is not a positive number.
    """
    raw = config.parameters.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ModelConfigError(f"model '{config.name}': parameter {key} must be a positive "
                               f"number of seconds, got '{raw}'")
    return value


def instance_kind(config: ModelConfig, index: int) -> str:
    """"CPU" or "GPU": the kind of the instance group that instance ``index`` belongs to."""
    for group in config.instance_groups:
        if index < group.count:
            return "GPU" if group.kind == "KIND_GPU" else "CPU"
        index -= group.count
    return "CPU"


class PythonBackend:
    """Creates PythonInstance objects (one stub process each)."""

    def load(self, path: Path, config: ModelConfig, index: int,
             settings: RuntimeSettings) -> Instance:
        """Start a stub for instance ``index`` and run the model's ``initialize``.

        Raises:
            ModelLoadError: model.py is missing, or loading or initializing it failed.
        """
        from modelport.runtime.python.instance import PythonInstance

        version_dir = path.parent
        file = model_file(config, version_dir)
        if not file.is_file():
            raise ModelLoadError(f"{config.name}/{version_dir.name}/{file.name} is missing")
        spec = StubSpec(
            name=config.name, version=int(version_dir.name) if version_dir.name.isdigit() else 1,
            index=index, model_file=file,
            config_json=config_json(config), decoupled=config.decoupled,
            site_dirs=site_dirs(config.parameters, config.name, version_dir.parent),
            execute_timeout_s=seconds(config, "execute_timeout_s", EXECUTE_TIMEOUT_S),
            initialize_timeout_s=seconds(config, "initialize_timeout_s", INITIALIZE_TIMEOUT_S),
            kind=instance_kind(config, index), models=settings.models)
        return PythonInstance(spec)
