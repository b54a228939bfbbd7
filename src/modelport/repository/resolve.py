"""From a model folder to a complete config and the versions its policy selects.

Two steps, because a caller that fails in the second still needs the first's answer: ``select``
reads the config (or takes an override) and picks version folders by policy; ``complete`` fills
the config in from the newest selected graph and validates it.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from modelport.backends import BUILTINS, BackendCatalog
from modelport.errors import ModelConfigError, ModelLoadError
from modelport.repository import autocomplete, pbtxt
from modelport.repository.config import DEFAULT_MODEL_FILENAME, ModelConfig
from modelport.repository.layout import ModelSource, Repository


@dataclass(frozen=True)
class Selection:
    """A model's folder, its (not yet completed) config message and the versions selected."""

    source: ModelSource
    message: Any
    versions: list[int]


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to load: the complete config (its message inside) and chosen versions."""

    source: ModelSource
    config: ModelConfig
    versions: list[int]

    @property
    def message(self) -> Any:
        """The complete ModelConfig message."""
        return self.config.message


def resolve(repository: Repository, name: str, override: Any = None,
            backends: BackendCatalog = BUILTINS) -> ResolvedModel:
    """Read (or take) the config, pick versions by policy, complete the config from the graph.

    Raises:
        ModelNotFound: no such model folder.
        ModelConfigError: the config is invalid or contradicts the graph.
        ModelLoadError: no version folder holds a model file.
    """
    return complete(select(repository, name, override, backends), backends)


def select(repository: Repository, name: str, override: Any = None,
           backends: BackendCatalog = BUILTINS, exclude: frozenset[int] = frozenset(),
           ) -> Selection:
    """The config message (a copy of ``override``, else config.pbtxt) and the versions its
    policy selects among the loadable folders (less ``exclude``).

    Raises:
        ModelNotFound: no such model folder.
        ModelConfigError: config.pbtxt cannot be read or names an unsafe model file.
    """
    source = repository.source(name)
    msg = copy.deepcopy(override) if override is not None else repository.read_config(source)
    filename = model_filename(msg)
    if PurePath(filename).name != filename or filename in (".", "..") or "\\" in filename:
        raise ModelConfigError(
            f"model '{name}': default_model_filename '{filename}' must be a plain file name "
            "inside the version folder"
        )
    loadable = [v for v in loadable_versions(source, msg, backends) if v not in exclude]
    selected = pbtxt.version_policy(msg).select(loadable)
    return Selection(source, msg, selected)


def complete(selection: Selection, backends: BackendCatalog = BUILTINS) -> ResolvedModel:
    """Complete the selection's config from its newest version's graph and validate it.

    Raises:
        ModelConfigError: the config is invalid or contradicts the graph.
        ModelLoadError: no version was selected.
    """
    source, msg = selection.source, selection.message
    filename = model_filename(msg)
    if not selection.versions:
        raise ModelLoadError(
            f"no loadable version of '{source.name}': expected {source.name}/<version>/"
            f"{filename} (version policy: {pbtxt.version_policy(msg).kind})"
        )
    had_batch_size = msg.max_batch_size > 0
    newest = source.versions[max(selection.versions)] / filename
    autocomplete.complete(msg, source.name, newest, backends)
    view = pbtxt.to_view(msg)
    if msg.max_batch_size > 0 and not had_batch_size:
        view = dataclasses.replace(view, max_batch_size_completed=True)
    return ResolvedModel(source, view, selection.versions)


def model_filename(msg: Any) -> str:
    """The file each version folder holds for this config."""
    return str(msg.default_model_filename or DEFAULT_MODEL_FILENAME)


def loadable_versions(source: ModelSource, msg: Any,
                      backends: BackendCatalog = BUILTINS) -> list[int]:
    """Version folders that hold the model file (any folder, for backends without one)."""
    filename = model_filename(msg)
    needs_file = msg.platform != "ensemble" and backends.reads_onnx(msg.backend or "onnxruntime")
    return [v for v, path in source.versions.items()
            if not needs_file or (path / filename).exists()]
