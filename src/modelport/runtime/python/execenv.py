"""A Python model's own packages: Triton's ``EXECUTION_ENV_PATH`` parameter.

The value names a folder (``$$TRITON_MODEL_DIRECTORY`` stands for the model's folder): a
virtual environment or unpacked conda environment (its ``lib/pythonX.Y/site-packages`` is
used) or a plain folder of packages (``pip install --target``). The stub puts it first on
``sys.path``, so the model's versions win over the server's. The stub runs the server's
interpreter: an environment built for another Python version is refused. Triton's packed
archives (``.tar.gz``) must be unpacked first.
"""

from __future__ import annotations

import sys
from pathlib import Path

from modelport.errors import ModelConfigError

PARAMETER = "EXECUTION_ENV_PATH"
MODEL_DIRECTORY = "$$TRITON_MODEL_DIRECTORY"


def site_dirs(parameters: dict[str, str], model: str, model_dir: Path) -> list[str]:
    """The folders to put first on the stub's ``sys.path`` ([] without the parameter).

    Raises:
        ModelConfigError: the path is not a folder, is an archive, or holds another Python's
            packages.
    """
    value = parameters.get(PARAMETER, "").strip()
    if not value:
        return []
    path = Path(value.replace(MODEL_DIRECTORY, str(model_dir)))
    where = f"model '{model}': {PARAMETER} '{value}'"
    if path.name.endswith((".tar.gz", ".tgz", ".tar")):
        raise ModelConfigError(f"{where} is an archive; unpack it (mkdir env && tar -xzf "
                               f"{path.name} -C env) and point {PARAMETER} at the folder")
    if not path.is_dir():
        raise ModelConfigError(f"{where} is not a folder")
    ours = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = path / "lib" / ours / "site-packages"
    if site.is_dir():
        return [str(site)]
    others = sorted(p.parent.name for p in path.glob("lib/python*/site-packages"))
    if others:
        raise ModelConfigError(f"{where} holds packages for {', '.join(others)}, but the server "
                               f"runs {ours}; build the environment with {ours}")
    return [str(path)]
