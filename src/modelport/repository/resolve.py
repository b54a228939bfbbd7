"""From a model folder to a complete config and the versions its policy selects."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from modelport.errors import ModelConfigError, ModelLoadError
from modelport.repository import autocomplete, pbtxt
from modelport.repository.config import DEFAULT_MODEL_FILENAME, ModelConfig
from modelport.repository.layout import ModelSource, Repository
from modelport.runtime import reads_onnx


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to load: full config message, typed view, chosen versions."""

    source: ModelSource
    message: Any
    config: ModelConfig
    versions: list[int]


def resolve(repository: Repository, name: str, override: Any = None) -> ResolvedModel:
    """Read (or take) the config, pick versions by policy, complete the config from the graph.

    Raises:
        ModelNotFound: no such model folder.
        ModelConfigError: the config is invalid or contradicts the graph.
        ModelLoadError: no version folder holds a model file.
    """
    source = repository.source(name)
    msg = copy.deepcopy(override) if override is not None else repository.read_config(source)
    filename = model_filename(msg)
    if PurePath(filename).name != filename or filename in (".", "..") or "\\" in filename:
        raise ModelConfigError(
            f"model '{name}': default_model_filename '{filename}' must be a plain file name "
            "inside the version folder"
        )
    policy = pbtxt.version_policy(msg)
    selected = policy.select(loadable_versions(source, msg))
    if not selected:
        raise ModelLoadError(
            f"no loadable version in {source.path}: expected {source.path}/<version>/{filename}"
            f" (version policy: {policy.kind})"
        )
    had_batch_size = msg.max_batch_size > 0
    autocomplete.complete(msg, name, source.versions[max(selected)] / filename)
    view = pbtxt.to_view(msg)
    if msg.max_batch_size > 0 and not had_batch_size:
        view = dataclasses.replace(view, max_batch_size_completed=True)
    return ResolvedModel(source, msg, view, selected)


def model_filename(msg: Any) -> str:
    """The file each version folder holds for this config."""
    return str(msg.default_model_filename or DEFAULT_MODEL_FILENAME)


def loadable_versions(source: ModelSource, msg: Any) -> list[int]:
    """Version folders that hold the model file (any folder, for backends without one)."""
    filename = model_filename(msg)
    needs_file = reads_onnx(msg.backend or "onnxruntime")
    return [v for v, path in source.versions.items()
            if not needs_file or (path / filename).exists()]
