"""Reads a Triton-layout model repository: REPO/<model>/[config.pbtxt] and REPO/<model>/<v>/."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from modelport.errors import InvalidInput, ModelConfigError, ModelNotFound, RepositoryError
from modelport.repository import pbtxt

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}$")
CONFIG_FILE = "config.pbtxt"


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a safe single path component, else raise ModelNotFound."""
    if not _NAME.match(name) or name in (".", ".."):
        raise ModelNotFound(f"invalid model name '{name[:80]}'")
    return name


@dataclass(frozen=True)
class ModelSource:
    """What the repository holds for one model."""

    name: str
    path: Path
    versions: dict[int, Path]

    @property
    def config_path(self) -> Path:
        """Where config.pbtxt would be."""
        return self.path / CONFIG_FILE

    def fingerprint(self, version: int) -> tuple[tuple[str, int, int], ...]:
        """Names, sizes and mtimes of a version's files and the config: changes mean reload."""
        files = [self.config_path] if self.config_path.exists() else []
        files += sorted(p for p in self.versions[version].rglob("*") if p.is_file())
        out = []
        for f in files:
            st = f.stat()
            out.append((str(f.relative_to(self.path)), st.st_size, st.st_mtime_ns))
        return tuple(out)


class Repository:
    """A folder of models; every path it hands out stays inside the folder."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        if not self.root.is_dir():
            raise RepositoryError(f"model repository '{root}' is not a folder")

    def model_names(self) -> list[str]:
        """Names of the model folders, sorted (symlinks out of the repository are not models)."""
        return sorted(
            p.name
            for p in self.root.iterdir()
            if _NAME.match(p.name)
            and not p.name.startswith(".")
            and p.resolve().parent == self.root
            and p.is_dir()
        )

    def source(self, name: str) -> ModelSource:
        """The model folder called ``name`` and its numeric version folders.

        Raises:
            ModelNotFound: no such folder, or the name tries to leave the repository.
        """
        path = (self.root / check_model_name(name)).resolve()
        if path.parent != self.root or not path.is_dir():
            raise ModelNotFound(f"model '{name}' is not in the repository")
        versions = {
            int(p.name): p
            for p in path.iterdir()
            if p.is_dir() and p.name.isascii() and p.name.isdigit()
        }
        return ModelSource(name=name, path=path, versions=versions)

    def read_config(self, source: ModelSource) -> Any:
        """The model's config.pbtxt as a message (empty when there is no file)."""
        if not source.config_path.exists():
            return pbtxt.Message()
        try:
            text = source.config_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelConfigError(f"{source.name}/{CONFIG_FILE}: cannot read "
                                   f"({type(exc).__name__})") from None
        return pbtxt.parse_text(text, f"{source.name}/{CONFIG_FILE}")


def write_model_files(root: Path, name: str, files: dict[str, bytes]) -> Path:
    """Lay out files sent with a load request (``"<version>/<file>"`` keys) as root/name/...

    Raises:
        InvalidInput: a key is not a relative path below a numeric version folder.
    """
    folder = root / check_model_name(name)
    for key, data in files.items():
        parts = PurePosixPath(key).parts
        if (
            len(parts) < 2
            or not (parts[0].isascii() and parts[0].isdigit())
            or any(p in ("", ".", "..") for p in parts)
            or PurePosixPath(key).is_absolute()
        ):
            raise InvalidInput(
                f"load file '{key}' must look like '<version>/<file>' with no "
                "'..' or absolute parts"
            )
        target = folder.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder
