"""The demo repository's place in the user's cache, generated on first use."""

from __future__ import annotations

import os
from pathlib import Path

from modelport.repository.demo.layout import FORMAT_VERSION, is_complete
from modelport.repository.demo.writer import install_demo_repository

CACHE_DIR_ENV = "MODELPORT_CACHE_DIR"
FOLDER = f"demo-repo-v{FORMAT_VERSION}"


def demo_repository_path() -> Path:
    """Where the cached demo repository lives.

    Returns:
        ``$MODELPORT_CACHE_DIR/demo-repo-v1`` if that is set, else
        ``$XDG_CACHE_HOME/modelport/demo-repo-v1`` (when absolute, as the XDG spec asks), else
        ``~/.cache/modelport/demo-repo-v1``.
    """
    own = os.environ.get(CACHE_DIR_ENV)
    if own:
        return Path(own).expanduser() / FOLDER
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "modelport" / FOLDER
    return Path.home() / ".cache" / "modelport" / FOLDER


def ensure_demo_repository() -> Path:
    """The cached demo repository, generated first if it is missing or incomplete.

    Several processes may call this at once: each builds privately and the first to finish
    installs its copy; the others keep it.

    Returns:
        ``demo_repository_path()``.

    Raises:
        RepositoryError: that path holds something other than a demo repository.
    """
    path = demo_repository_path()
    if not is_complete(path):
        install_demo_repository(path, keep_complete=True)
    return path
