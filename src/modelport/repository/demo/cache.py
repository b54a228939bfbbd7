"""The demo repository's place in the user's cache, generated on first use."""

from __future__ import annotations

from pathlib import Path

from modelport.environment import Environment
from modelport.repository.demo.layout import FORMAT_VERSION, is_complete
from modelport.repository.demo.writer import install_demo_repository

FOLDER = f"demo-repo-v{FORMAT_VERSION}"


def demo_repository_path(cache_dir: Path | None = None) -> Path:
    """Where the cached demo repository lives: ``<cache_dir>/demo-repo-v2``.

    Args:
        cache_dir: the cache folder; None takes the environment's (``$MODELPORT_CACHE_DIR``,
            else ``$XDG_CACHE_HOME/modelport`` when absolute, else ``~/.cache/modelport``).
    """
    return (cache_dir if cache_dir is not None else Environment.read().cache_dir) / FOLDER


def ensure_demo_repository(cache_dir: Path | None = None) -> Path:
    """The cached demo repository, generated first if it is missing or incomplete.

    Several processes may call this at once: each builds privately and the first to finish
    installs its copy; the others keep it.

    Returns:
        ``demo_repository_path(cache_dir)``.

    Raises:
        RepositoryError: that path holds something other than a demo repository.
    """
    path = demo_repository_path(cache_dir)
    if not is_complete(path):
        install_demo_repository(path, keep_complete=True)
    return path
