"""Writing a demo repository atomically.

Everything is built in a hidden folder next to the target and renamed into place in one step, so
readers see either no repository or a whole one, even if the writer dies half way. When the target
already holds a demo repository, it is moved aside first; an unrelated non-empty folder is never
touched.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from pathlib import Path

from modelport.errors import RepositoryError
from modelport.repository.demo.layout import (
    MARKER,
    MODEL_VERSION,
    config_path,
    is_complete,
    is_demo_like,
    marker_text,
    model_path,
)

_INSTALL_ATTEMPTS = 5  # each lost race against another writer costs one


def write_demo_repository(path: Path) -> Path:
    """Generate the demo model repository at ``path``, replacing a demo repository there.

    Args:
        path: the repository folder; its parent is created if missing.

    Returns:
        ``path``, now holding ``<model>/config.pbtxt`` and ``<model>/1/model.onnx`` per demo model.

    Raises:
        RepositoryError: ``path`` is a file, or a non-empty folder that is not a demo repository.
    """
    install_demo_repository(path, keep_complete=False)
    return path


def install_demo_repository(path: Path, *, keep_complete: bool) -> None:
    """Build the repository next to ``path`` and rename it into place.

    Args:
        path: the repository folder.
        keep_complete: keep a complete repository that another process installs meanwhile
            instead of replacing it.
    """
    path = Path(os.path.abspath(path))  # siblings need a real name, even for "." or ".."
    _check_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(path, "tmp")
    os.mkdir(staging)  # not tempfile.mkdtemp: that makes it 0700, and the umask should decide
    try:
        _write_models(staging)
        _install(staging, path, keep_complete)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # already gone once installed


def _write_models(root: Path) -> None:
    # Imported here so that checking for a cached repository does not import onnx.
    from modelport.repository.demo.catalog import MODELS
    from modelport.repository.demo.config import render_config
    from modelport.repository.demo.ensemble import ENSEMBLES

    for model in MODELS:
        model_path(root, model.name).parent.mkdir(parents=True)
        _write_file(model_path(root, model.name), model.build().SerializeToString())
        _write_file(config_path(root, model.name), render_config(model.config).encode())
    for ensemble in ENSEMBLES:
        (root / ensemble.name / MODEL_VERSION).mkdir(parents=True)  # Triton's empty version
        _write_file(config_path(root, ensemble.name), ensemble.config_text.encode())
        _write_file(root / ensemble.name / ensemble.labels_file,
                    "".join(f"{label}\n" for label in ensemble.labels).encode())
    _write_file(root / MARKER, marker_text().encode())


def _install(staging: Path, path: Path, keep_complete: bool) -> None:
    for _ in range(_INSTALL_ATTEMPTS):
        if _rename_if_free(staging, path):
            return
        if keep_complete and is_complete(path):
            return
        _check_target(path)
        _remove_aside(path)
    raise RepositoryError(
        f"could not install the demo repository at {path}: other processes keep replacing it; "
        "retry when they are done"
    )


def _rename_if_free(source: Path, target: Path) -> bool:
    """Rename, unless ``target`` is a non-empty folder (an empty one is replaced)."""
    try:
        os.rename(source, target)
    except OSError as error:
        if isinstance(error, FileExistsError) or error.errno in (errno.EEXIST, errno.ENOTEMPTY):
            return False
        raise
    return True


def _remove_aside(path: Path) -> None:
    """Move the old repository out of the way in one step, then delete it at leisure."""
    aside = _sibling(path, "old")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return  # another process moved it already
    shutil.rmtree(aside, ignore_errors=True)


def _check_target(path: Path) -> None:
    if not path.exists():
        return
    if not path.is_dir():
        raise RepositoryError(
            f"cannot write the demo repository to {path}: it is not a folder; "
            "remove it or choose another path"
        )
    if not is_demo_like(path):
        raise RepositoryError(
            f"refusing to write the demo repository to {path}: it is a non-empty folder that is "
            "not a modelport demo repository; empty it or choose another path"
        )


def _sibling(path: Path, kind: str) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.{kind}")


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())  # the rename must not publish files whose data is not on disk
