"""Which Python a --path folder belongs to, read from its layout and pyvenv.cfg."""

from __future__ import annotations

import os
from pathlib import Path

from modelport.probe.interpreter import inspected, python_of


def make_env(root: Path, lib: str, cfg: str | None, python: str | None) -> Path:
    """An environment folder: ``root/lib/<lib>/site-packages``, pyvenv.cfg, ``bin/<python>``."""
    site = root / "lib" / lib / "site-packages"
    site.mkdir(parents=True)
    if cfg is not None:
        (root / "pyvenv.cfg").write_text(cfg)
    if python is not None:
        (root / "bin").mkdir()
        exe = root / "bin" / python
        exe.write_text("#!/bin/sh\n")
        os.chmod(exe, 0o755)
    return site


def test_a_venv_names_its_version_and_interpreter(tmp_path: Path) -> None:
    """pyvenv.cfg gives the full version; bin/pythonX.Y is the interpreter."""
    site = make_env(tmp_path / "venv", "python3.12", "home = /usr/bin\nversion = 3.12.4\n",
                    "python3.12")  # fmt: skip
    assert python_of(str(site)) == ("CPython 3.12.4", str(tmp_path / "venv/bin/python3.12"))


def test_uv_writes_implementation_and_version_info(tmp_path: Path) -> None:
    """uv's pyvenv.cfg keys (implementation, version_info) are read too."""
    cfg = "implementation = PyPy\nversion_info = 3.10.14.final.0\n"
    site = make_env(tmp_path / "env", "python3.10", cfg, "python3")
    assert python_of(str(site)) == ("PyPy 3.10.14", str(tmp_path / "env/bin/python3"))


def test_without_pyvenv_cfg_the_folder_name_tells_the_version(tmp_path: Path) -> None:
    """A conda-style prefix: version from lib/pythonX.Y, no interpreter when bin/ lacks one."""
    site = make_env(tmp_path / "conda", "python3.11", None, None)
    assert python_of(str(site)) == ("Python 3.11", "")


def test_a_plain_folder_is_not_guessed(tmp_path: Path) -> None:
    """A folder outside any Python layout is reported as unknown, and still inspected."""
    assert python_of(str(tmp_path)) is None
    found = inspected([str(tmp_path)])
    assert (found.python, found.executable, found.source) == ("unknown", "", "--path")
    assert found.site_packages == (str(tmp_path),)


def test_without_path_it_is_this_interpreter() -> None:
    """No --path: this interpreter and its existing site-packages folders."""
    import sys

    found = inspected(None)
    assert found.executable == sys.executable and found.source == "this interpreter"
    assert all(Path(f).is_dir() for f in found.site_packages)
